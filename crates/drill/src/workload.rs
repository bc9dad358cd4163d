//! The open-loop workload: a fixed arrival schedule (same for every arm), the operations, and
//! the content check of every byte read.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use ossguard::spool::Expect;
use ossguard::{Body, Client, GetObjectOptions, ListOptions, TransferOptions};
use ossguard::{Fallback, WriteOutcome};
use ossguard_proto::range::ByteRange;

use crate::content;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpKind {
    Get,
    Put,
    Head,
    List,
    Delete,
    RangeGet,
    Multipart,
}

pub const OP_KINDS: [OpKind; 7] = [
    OpKind::Get,
    OpKind::Put,
    OpKind::Head,
    OpKind::List,
    OpKind::Delete,
    OpKind::RangeGet,
    OpKind::Multipart,
];

impl OpKind {
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Get => "get",
            OpKind::Put => "put",
            OpKind::Head => "head",
            OpKind::List => "list",
            OpKind::Delete => "delete",
            OpKind::RangeGet => "range_get",
            OpKind::Multipart => "multipart",
        }
    }
}

/// Relative weights of the operations.
#[derive(Debug, Clone, PartialEq)]
pub struct Mix(pub Vec<(OpKind, u32)>);

impl Default for Mix {
    fn default() -> Self {
        Mix(vec![
            (OpKind::Get, 40),
            (OpKind::Put, 15),
            (OpKind::Head, 15),
            (OpKind::List, 5),
            (OpKind::Delete, 5),
            (OpKind::RangeGet, 16),
            (OpKind::Multipart, 4),
        ])
    }
}

impl Mix {
    /// `get=40,put=15,...`; unnamed operations get weight 0.
    pub fn parse(s: &str) -> Result<Mix, String> {
        let allowed = OP_KINDS.map(|k| k.name()).join(", ");
        let mut v = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, w) = part
                .split_once('=')
                .ok_or_else(|| format!("mix entry {part:?} is not op=weight (ops: {allowed})"))?;
            let kind = OP_KINDS
                .into_iter()
                .find(|k| k.name() == name.trim())
                .ok_or_else(|| {
                    format!("unknown operation {name:?} in --mix; allowed: {allowed}")
                })?;
            let w: u32 = w
                .trim()
                .parse()
                .map_err(|_| format!("weight of {name} must be a whole number, got {w:?}"))?;
            v.push((kind, w));
        }
        if v.iter().map(|(_, w)| *w as u64).sum::<u64>() == 0 {
            return Err(format!(
                "--mix needs at least one positive weight (ops: {allowed})"
            ));
        }
        Ok(Mix(v))
    }

    fn pick(&self, r: u64) -> OpKind {
        let total: u64 = self.0.iter().map(|(_, w)| *w as u64).sum();
        let mut x = r % total;
        for (k, w) in &self.0 {
            if x < *w as u64 {
                return *k;
            }
            x -= *w as u64;
        }
        self.0[0].0
    }
}

#[derive(Debug, Clone)]
pub struct WorkloadConfig {
    /// Arrivals per second, per arm.
    pub rate: f64,
    /// In-flight operations per arm at most; later arrivals queue (and their queueing counts).
    pub concurrency: usize,
    pub mix: Mix,
    pub seed: u64,
    pub small_objects: u32,
    pub large_objects: u32,
    pub large_size: u64,
    pub range_len: u64,
    pub multipart_size: u64,
    pub part_size: u64,
}

impl WorkloadConfig {
    pub fn new(rate: f64, seed: u64) -> Self {
        Self {
            rate,
            concurrency: 64,
            mix: Mix::default(),
            seed,
            small_objects: 64,
            large_objects: 2,
            large_size: 4 << 20,
            range_len: 256 << 10,
            multipart_size: 600 << 10,
            part_size: 256 << 10,
        }
    }

    pub fn small_key(i: u64) -> String {
        format!("s/{i:04}")
    }

    pub fn small_len(i: u64) -> usize {
        1024 + (i as usize * 977) % 15_360
    }

    pub fn large_key(i: u64) -> String {
        format!("big/{i}")
    }
}

#[derive(Debug, Clone, Copy)]
pub struct PlannedOp {
    pub index: u64,
    /// Intended start, from the run's start.
    pub at: Duration,
    pub kind: OpKind,
    /// A random number for the op's choices (key, offset).
    pub pick: u64,
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Arrivals at a fixed rate for `total`, kinds drawn from the mix with the seed.
pub fn schedule(cfg: &WorkloadConfig, total: Duration) -> Vec<PlannedOp> {
    let mut state = cfg.seed;
    let n = (total.as_secs_f64() * cfg.rate).floor() as u64;
    (0..n)
        .map(|index| PlannedOp {
            index,
            at: Duration::from_secs_f64(index as f64 / cfg.rate),
            kind: cfg.mix.pick(splitmix(&mut state)),
            pick: splitmix(&mut state),
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Error,
    /// Success returned with wrong bytes.
    Corrupt,
    /// Still running when the drill stopped waiting.
    Unfinished,
}

impl Outcome {
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::Corrupt => "corrupt",
            Outcome::Unfinished => "unfinished",
        }
    }
}

pub struct OpResult {
    pub outcome: Outcome,
    /// Requests the op needs when nothing fails (a multipart upload of n parts: n + 2).
    pub requests: u64,
    /// Payload bytes sent plus received.
    pub bytes: u64,
    pub error: Option<String>,
    pub integrity_error: bool,
    /// Who answered when it was not the primary (`cache_stale`, `replica`, `default`, …), or
    /// `spooled` for a write journaled locally.
    pub source: Option<&'static str>,
}

fn failed(e: ossguard::Error) -> OpResult {
    OpResult {
        outcome: Outcome::Error,
        requests: 1,
        bytes: 0,
        integrity_error: matches!(e.kind(), ossguard::ErrorKind::Integrity { .. }),
        error: Some(e.to_string()),
        source: None,
    }
}

fn checked(ok: bool, bytes: u64) -> OpResult {
    OpResult {
        outcome: if ok { Outcome::Ok } else { Outcome::Corrupt },
        requests: 1,
        bytes,
        error: None,
        integrity_error: false,
        source: None,
    }
}

/// Keys this arm wrote (key, version), for DELETE to remove.
pub type Written = Mutex<VecDeque<String>>;

/// Runs one operation and checks what it returned.
pub async fn execute(
    c: &Client,
    fb: Option<&Fallback>,
    bucket: &str,
    prefix: &str,
    cfg: &WorkloadConfig,
    op: &PlannedOp,
    written: &Written,
) -> OpResult {
    let mut r = match run(c, fb, bucket, prefix, cfg, op, written).await {
        Ok(r) => r,
        Err(e) => failed(e),
    };
    r.requests = requests_needed(cfg, op.kind);
    r
}

pub fn requests_needed(cfg: &WorkloadConfig, kind: OpKind) -> u64 {
    match kind {
        OpKind::Multipart => cfg.multipart_size.div_ceil(cfg.part_size.max(1)) + 2,
        _ => 1,
    }
}

async fn run(
    c: &Client,
    fb: Option<&Fallback>,
    bucket: &str,
    prefix: &str,
    cfg: &WorkloadConfig,
    op: &PlannedOp,
    written: &Written,
) -> Result<OpResult, ossguard::Error> {
    let small = op.pick % cfg.small_objects.max(1) as u64;
    Ok(match op.kind {
        OpKind::Get if fb.is_some() => {
            let key = format!("{prefix}{}", WorkloadConfig::small_key(small));
            let served = fb.expect("guarded").get(bucket, &key).await?;
            let data = served.bytes;
            let ok = data.len() == WorkloadConfig::small_len(small)
                && content::matches(&key, 0, 0, &data);
            OpResult {
                source: served.source.label(),
                ..checked(ok, data.len() as u64)
            }
        }
        OpKind::Get => {
            let key = format!("{prefix}{}", WorkloadConfig::small_key(small));
            let data = c
                .get_object(bucket, &key, GetObjectOptions::default())
                .await?
                .bytes()
                .await?;
            let ok = data.len() == WorkloadConfig::small_len(small)
                && content::matches(&key, 0, 0, &data);
            checked(ok, data.len() as u64)
        }
        OpKind::Head => {
            let key = format!("{prefix}{}", WorkloadConfig::small_key(small));
            let meta = c.head_object(bucket, &key).await?;
            checked(meta.size == WorkloadConfig::small_len(small) as u64, 0)
        }
        OpKind::List => {
            let opts = ListOptions {
                prefix: format!("{prefix}s/"),
                max_keys: Some(1000),
                ..Default::default()
            };
            let page = c.list_objects_page(bucket, &opts, None).await?;
            checked(page.objects.len() == cfg.small_objects as usize, 0)
        }
        OpKind::Put => {
            let key = format!("{prefix}w/{}", op.index);
            let len = WorkloadConfig::small_len(op.pick % 997);
            let data = content::generate(&key, op.index, len);
            let source = match fb {
                // Each write has a key of its own: replayed with forbid-overwrite.
                Some(fb) => match fb
                    .put(
                        bucket,
                        &key,
                        data.into(),
                        Default::default(),
                        Some(Expect::Absent),
                    )
                    .await?
                {
                    WriteOutcome::Stored(_) => None,
                    WriteOutcome::Spooled(_) => Some("spooled"),
                },
                None => {
                    c.put_object(bucket, &key, Body::from(data), Default::default())
                        .await?;
                    None
                }
            };
            written.lock().unwrap().push_back(key);
            OpResult {
                source,
                ..checked(true, len as u64)
            }
        }
        OpKind::Delete => {
            let key = written.lock().unwrap().pop_front();
            let key = key.unwrap_or_else(|| format!("{prefix}w/absent-{}", op.index));
            c.delete_object(bucket, &key).await?;
            checked(true, 0)
        }
        OpKind::RangeGet => {
            let i = op.pick % cfg.large_objects.max(1) as u64;
            let key = format!("{prefix}{}", WorkloadConfig::large_key(i));
            let span = cfg.large_size.saturating_sub(cfg.range_len).max(1);
            let first = (op.pick >> 16) % span;
            let last = (first + cfg.range_len).min(cfg.large_size) - 1;
            let opts = GetObjectOptions {
                range: Some(ByteRange::Closed { first, last }),
                ..Default::default()
            };
            let data = c.get_object(bucket, &key, opts).await?.bytes().await?;
            let ok =
                data.len() as u64 == last - first + 1 && content::matches(&key, 0, first, &data);
            checked(ok, data.len() as u64)
        }
        OpKind::Multipart => {
            let key = format!("{prefix}mp/{}", op.index);
            let data = content::generate(&key, op.index, cfg.multipart_size as usize);
            let opts = TransferOptions::default()
                .with_part_size(cfg.part_size)
                .with_concurrency(2);
            c.upload_stream(&data[..], bucket, &key, &opts).await?;
            written.lock().unwrap().push_back(key);
            checked(true, cfg.multipart_size)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_is_fixed_by_rate_and_seed() {
        let cfg = WorkloadConfig::new(100.0, 9);
        let a = schedule(&cfg, Duration::from_secs(2));
        let b = schedule(&cfg, Duration::from_secs(2));
        assert_eq!(a.len(), 200);
        assert_eq!(a[150].at, Duration::from_millis(1500));
        assert!(a
            .iter()
            .zip(&b)
            .all(|(x, y)| x.kind == y.kind && x.pick == y.pick));
        let gets = a.iter().filter(|o| o.kind == OpKind::Get).count();
        assert!((50..110).contains(&gets), "{gets}");
    }

    #[test]
    fn mix_parsing_names_what_is_allowed() {
        assert!(Mix::parse("get=1,put=2").is_ok());
        let e = Mix::parse("fetch=1").unwrap_err();
        assert!(e.contains("range_get"), "{e}");
        assert!(Mix::parse("get=0").is_err());
    }
}
