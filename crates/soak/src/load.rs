//! The client side of the soak: workers, each owning its keys, doing a bounded mix of PUT, GET,
//! ranged GET, HEAD, LIST and DELETE until the stop time, checking every answer against the
//! model; then a final read of every key with the faults off.

use std::collections::BTreeMap;
use std::time::Duration;

use ossguard::{Client, GetObjectOptions, ListOptions};
use ossguard_proto::range::ByteRange;
use serde::Serialize;

use crate::model::{content, Expect, State};

pub const KEYS_PER_WORKER: u32 = 24;

/// What the load saw.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Tally {
    /// Operations by name: (succeeded, failed).
    pub ops: BTreeMap<&'static str, (u64, u64)>,
    /// Failed operations by error class.
    pub failures: BTreeMap<String, u64>,
    /// Wrong bytes or metadata returned as success: must be 0.
    pub corrupted: u64,
    /// An object the model says must exist answered 404 (or vanished in the final check).
    pub lost: u64,
    /// An object the model says was deleted is there.
    pub resurrected: u64,
    /// First few problems, for the report.
    pub problems: Vec<String>,
}

impl Tally {
    fn count(&mut self, op: &'static str, ok: bool) {
        let e = self.ops.entry(op).or_default();
        if ok {
            e.0 += 1
        } else {
            e.1 += 1
        }
    }

    fn failed(&mut self, op: &'static str, e: &ossguard::Error) {
        self.count(op, false);
        *self.failures.entry(format!("{:?}", e.class())).or_default() += 1;
    }

    fn problem(&mut self, p: String) {
        if self.problems.len() < 20 {
            self.problems.push(p);
        }
    }

    pub fn total(&self) -> (u64, u64) {
        self.ops
            .values()
            .fold((0, 0), |(a, b), (ok, bad)| (a + ok, b + bad))
    }

    pub fn merge(&mut self, o: &Tally) {
        for (k, (a, b)) in &o.ops {
            let e = self.ops.entry(k).or_default();
            e.0 += a;
            e.1 += b;
        }
        for (k, v) in &o.failures {
            *self.failures.entry(k.clone()).or_default() += v;
        }
        self.corrupted += o.corrupted;
        self.lost += o.lost;
        self.resurrected += o.resurrected;
        for p in &o.problems {
            self.problem(p.clone());
        }
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// One worker's keys and what they must hold.
pub struct Worker {
    pub id: u32,
    bucket: String,
    expect: Vec<Expect>,
    next_version: Vec<u32>,
    pub tally: Tally,
}

fn key(worker: u32, k: u32) -> String {
    format!("soak/w{worker:02}/k{k:03}")
}

/// Which allowed state `body` is, if any.
fn identify(
    worker: u32,
    k: u32,
    allowed: &Expect,
    candidates: &[u32],
    body: &[u8],
) -> Option<State> {
    candidates
        .iter()
        .copied()
        .filter(|v| allowed.allows(Some(*v)))
        .find(|v| content(worker, k, *v) == body)
        .map(Some)
}

impl Worker {
    pub fn new(id: u32, bucket: &str) -> Worker {
        Worker {
            id,
            bucket: bucket.to_owned(),
            expect: vec![Expect::exactly(None); KEYS_PER_WORKER as usize],
            next_version: vec![0; KEYS_PER_WORKER as usize],
            tally: Tally::default(),
        }
    }

    fn versions(&self, k: u32) -> Vec<u32> {
        (0..self.next_version[k as usize]).rev().collect()
    }

    /// Checks a whole-object read (`None` = 404) against the model.
    fn check_read(&mut self, k: u32, got: Option<&[u8]>, when: &str) {
        let i = k as usize;
        let allowed = self.expect[i].clone();
        let key = key(self.id, k);
        match got {
            None if allowed.allows(None) => self.expect[i] = allowed.observed(None),
            None => {
                self.tally.lost += 1;
                self.tally
                    .problem(format!("{when}: {key} answered 404, expected {allowed:?}"));
            }
            Some(body) => match identify(self.id, k, &allowed, &self.versions(k), body) {
                Some(s) => self.expect[i] = allowed.observed(s),
                None if allowed.is_certain() && allowed.allows(None) => {
                    self.tally.resurrected += 1;
                    self.tally
                        .problem(format!("{when}: {key} exists after a successful delete"));
                }
                None => {
                    self.tally.corrupted += 1;
                    self.tally.problem(format!(
                        "{when}: {key} returned {} bytes matching no allowed version ({allowed:?})",
                        body.len()
                    ));
                }
            },
        }
    }

    async fn get(&mut self, c: &Client, k: u32) {
        let r = match c
            .get_object(&self.bucket, &key(self.id, k), GetObjectOptions::default())
            .await
        {
            Ok(out) => out.bytes().await.map(Some),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e),
        };
        match r {
            Ok(got) => {
                self.tally.count("GetObject", true);
                self.check_read(k, got.as_deref(), "GET");
            }
            Err(e) => self.tally.failed("GetObject", &e),
        }
    }

    async fn range_get(&mut self, c: &Client, k: u32) {
        let allowed = self.expect[k as usize].clone();
        let Some(Some(v)) = allowed.is_certain().then(|| {
            self.versions(k)
                .into_iter()
                .find(|v| allowed.allows(Some(*v)))
        }) else {
            return self.get(c, k).await;
        };
        let full = content(self.id, k, v);
        let first = (full.len() / 3) as u64;
        // Inside the object: OSS answers a range past the end with the whole object.
        let last = (first + 4095).min(full.len() as u64 - 1);
        let opts = GetObjectOptions {
            range: Some(ByteRange::Closed { first, last }),
            ..Default::default()
        };
        match c.get_object(&self.bucket, &key(self.id, k), opts).await {
            Ok(out) => match out.bytes().await {
                Ok(b) => {
                    self.tally.count("GetObjectRange", true);
                    if b[..] != full[first as usize..=last as usize] {
                        self.tally.corrupted += 1;
                        self.tally
                            .problem(format!("range GET {}: wrong bytes", key(self.id, k)));
                    }
                }
                Err(e) => self.tally.failed("GetObjectRange", &e),
            },
            Err(e) => self.tally.failed("GetObjectRange", &e),
        }
    }

    async fn put(&mut self, c: &Client, k: u32) {
        let i = k as usize;
        let v = self.next_version[i];
        self.next_version[i] += 1;
        let body = content(self.id, k, v);
        let r = c
            .put_object(
                &self.bucket,
                &key(self.id, k),
                body.into(),
                Default::default(),
            )
            .await;
        match &r {
            Ok(_) => self.tally.count("PutObject", true),
            Err(e) => self.tally.failed("PutObject", e),
        }
        self.expect[i] = self.expect[i].after_write(Some(v), r.is_ok());
    }

    async fn delete(&mut self, c: &Client, k: u32) {
        let i = k as usize;
        let r = c.delete_object(&self.bucket, &key(self.id, k)).await;
        match &r {
            Ok(()) => self.tally.count("DeleteObject", true),
            Err(e) => self.tally.failed("DeleteObject", e),
        }
        self.expect[i] = self.expect[i].after_write(None, r.is_ok());
    }

    async fn head(&mut self, c: &Client, k: u32) {
        let allowed = self.expect[k as usize].clone();
        match c.head_object(&self.bucket, &key(self.id, k)).await {
            Ok(meta) => {
                self.tally.count("HeadObject", true);
                let sizes: Vec<u64> = self
                    .versions(k)
                    .into_iter()
                    .filter(|v| allowed.allows(Some(*v)))
                    .map(|v| content(self.id, k, v).len() as u64)
                    .collect();
                if !sizes.contains(&meta.size) && !allowed.allows(None) {
                    self.tally.corrupted += 1;
                    self.tally.problem(format!(
                        "HEAD {}: size {} matches no allowed version",
                        key(self.id, k),
                        meta.size
                    ));
                }
            }
            Err(e) if e.status() == Some(404) => {
                self.tally.count("HeadObject", true);
                if !allowed.allows(None) {
                    self.tally.lost += 1;
                    self.tally.problem(format!(
                        "HEAD {}: 404, expected {allowed:?}",
                        key(self.id, k)
                    ));
                }
            }
            Err(e) => self.tally.failed("HeadObject", &e),
        }
    }

    async fn list(&mut self, c: &Client) {
        let opts = ListOptions {
            prefix: format!("soak/w{:02}/", self.id),
            ..Default::default()
        };
        match c.list_objects_page(&self.bucket, &opts, None).await {
            Ok(page) => {
                self.tally.count("ListObjectsV2", true);
                for (k, e) in self.expect.iter().enumerate() {
                    let listed = page.objects.iter().any(|o| o.key == key(self.id, k as u32));
                    if e.is_certain() && listed == e.allows(None) {
                        self.tally.lost += u64::from(!listed);
                        self.tally.resurrected += u64::from(listed);
                        self.tally.problem(format!(
                            "LIST: {} listed={listed}, expected {e:?}",
                            key(self.id, k as u32)
                        ));
                    }
                }
            }
            Err(e) => self.tally.failed("ListObjectsV2", &e),
        }
    }

    /// Runs the mix until `stop`.
    pub async fn run(&mut self, c: &Client, stop: tokio::time::Instant, seed: u64) {
        let mut rng = Rng(seed | 1);
        // Bounded in time by `stop` and in count (a runaway fast loop still ends).
        for _ in 0..10_000_000u64 {
            if tokio::time::Instant::now() >= stop {
                break;
            }
            let k = (rng.next() % u64::from(KEYS_PER_WORKER)) as u32;
            match rng.next() % 100 {
                0..=29 => self.put(c, k).await,
                30..=64 => self.get(c, k).await,
                65..=72 => self.range_get(c, k).await,
                73..=84 => self.head(c, k).await,
                85..=89 => self.list(c).await,
                _ => self.delete(c, k).await,
            }
        }
    }

    /// With the faults off: every key must hold an allowed state. Reads retry a few times
    /// (bounded) so a leftover slow connection cannot count as a loss.
    pub async fn verify(&mut self, c: &Client) {
        for k in 0..KEYS_PER_WORKER {
            let mut got = None;
            for _ in 0..5 {
                let r = match c
                    .get_object(&self.bucket, &key(self.id, k), GetObjectOptions::default())
                    .await
                {
                    Ok(out) => out.bytes().await.map(Some),
                    Err(e) if e.status() == Some(404) => Ok(None),
                    Err(e) => Err(e),
                };
                if let Ok(b) = r {
                    got = Some(b);
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            match got {
                Some(b) => self.check_read(k, b.as_deref(), "final check"),
                None => {
                    self.tally.lost += 1;
                    self.tally.problem(format!(
                        "final check: {} unreadable after the faults ended",
                        key(self.id, k)
                    ));
                }
            }
        }
    }
}

/// Runs `workers` workers against `client` until `stop`; returns them for the final check.
pub async fn run(client: &Client, bucket: &str, workers: u32, secs: u64, seed: u64) -> Vec<Worker> {
    let stop = tokio::time::Instant::now() + Duration::from_secs(secs);
    let tasks: Vec<_> = (0..workers)
        .map(|w| {
            let c = client.clone();
            let mut worker = Worker::new(w, bucket);
            tokio::spawn(async move {
                worker
                    .run(
                        &c,
                        stop,
                        seed ^ (u64::from(w) + 1).wrapping_mul(0x9E37_79B9),
                    )
                    .await;
                worker
            })
        })
        .collect();
    let mut done = Vec::new();
    for t in tasks {
        match t.await {
            Ok(w) => done.push(w),
            Err(e) => panic!("a soak worker panicked: {e}"),
        }
    }
    done
}
