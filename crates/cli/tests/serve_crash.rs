//! Crash test of `ossguard serve`: SIGKILL the real binary while ~60 uploads (single PUTs of
//! 0 B to 4 MiB and 3-part multipart uploads) are in flight, restart it on the same data folder,
//! and check that every acknowledged write reads back byte-identical and that nothing visible is
//! torn: every listed object matches its CRC-64, unacknowledged writes are absent or complete.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use http::Method;
use ossguard_proto::xml::{from_xml, InitiateMultipartUploadResult, ListBucketResult};
use ossguard_proto::{AddressingStyle, Credentials, Request};
use sha2::{Digest, Sha256};

const AK: &str = "crash-ak";
const SK: &str = "crash-secret";
const BUCKET: &str = "crash";
const JOBS: usize = 60;
/// Overwrites of keys that already hold an acknowledged first version.
const OVERWRITES: usize = 6;
/// Kill after this many acknowledgements of the concurrent phase.
const KILL_AFTER: usize = 25;
const KIB: usize = 1024;

/// `ossguard serve` as a child process; killed (SIGKILL) on drop so a failing test leaks nothing.
struct Server {
    child: Child,
    endpoint: String,
}

impl Server {
    fn start(data: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ossguard"))
            .args(["serve", "--addr", "127.0.0.1:0", "--data"])
            .arg(data)
            .args(["--access-key-id", AK, "--access-key-secret", SK])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("ossguard starts");
        // Keep draining stdout: the server must never fail writing to a closed pipe.
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let first = rx
            .recv_timeout(Duration::from_secs(15))
            .expect("`listening on ...` within 15 s");
        let endpoint = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_owned();
        assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");
        Self { child, endpoint }
    }

    /// SIGKILL by PID (`Child::kill`), then reap.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

struct Client {
    http: reqwest::Client,
    endpoint: String,
    creds: Credentials,
}

struct Reply {
    status: u16,
    headers: http::HeaderMap,
    body: Vec<u8>,
}

impl Client {
    fn new(endpoint: &str) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .connect_timeout(Duration::from_secs(5))
                .build()
                .unwrap(),
            endpoint: endpoint.to_owned(),
            creds: Credentials::new(AK, SK),
        }
    }

    /// Signs (V4) and sends; `Err` for transport failures (e.g. the server was killed).
    async fn send(&self, mut req: Request, body: Vec<u8>) -> Result<Reply, reqwest::Error> {
        ossguard_proto::auth::v4::sign(
            &mut req,
            &self.creds,
            "cn-hangzhou",
            SystemTime::now(),
            &[],
        )
        .unwrap();
        let url = format!(
            "{}{}",
            self.endpoint,
            req.path_and_query(AddressingStyle::Path)
        );
        let mut rb = self.http.request(req.method.clone(), url).body(body);
        for (n, v) in &req.headers {
            if n != "host" && n != "content-length" {
                rb = rb.header(n, v);
            }
        }
        let resp = rb.send().await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.bytes().await?.to_vec();
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    async fn get(&self, key: &str) -> Reply {
        self.send(Request::new(Method::GET, Some(BUCKET), Some(key)), vec![])
            .await
            .expect("the restarted server answers")
    }
}

/// One write of the concurrent phase.
struct Job {
    key: String,
    /// One body for a PutObject, three for a multipart upload.
    parts: Vec<Vec<u8>>,
}

impl Job {
    fn data(&self) -> Vec<u8> {
        self.parts.concat()
    }
}

fn random_bytes(len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    getrandom::fill(&mut v).unwrap();
    v
}

fn random_below(n: usize) -> usize {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).unwrap();
    (u64::from_le_bytes(b) % n as u64) as usize
}

fn sha256(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Every fifth job is a 3-part multipart upload; the rest are PUTs of mixed sizes. The first
/// [`OVERWRITES`] keys already exist.
fn make_jobs() -> Vec<Job> {
    (0..JOBS)
        .map(|i| {
            let key = if i < OVERWRITES {
                format!("over-{i}")
            } else {
                format!("obj-{i:03}")
            };
            let parts = if i % 5 == 4 {
                (0..3)
                    .map(|_| random_bytes(100 * KIB + random_below(200 * KIB)))
                    .collect()
            } else {
                let len = match i % 7 {
                    0 => 0,
                    1 => 1,
                    2 => random_below(4 * KIB),
                    3 => 64 * KIB + random_below(64 * KIB),
                    4 => 512 * KIB + random_below(512 * KIB),
                    5 => 1024 * KIB + random_below(1024 * KIB),
                    _ => 3 * 1024 * KIB + random_below(1024 * KIB),
                };
                vec![random_bytes(len)]
            };
            Job { key, parts }
        })
        .collect()
}

/// Why a job got no acknowledgement.
#[derive(Debug)]
enum Failure {
    /// The connection broke (the kill).
    Transport(String),
    /// The server answered with an error.
    Status(String),
}

impl From<reqwest::Error> for Failure {
    fn from(e: reqwest::Error) -> Self {
        Failure::Transport(e.to_string())
    }
}

/// Runs one job to its acknowledgement: the PUT's 200, or the Complete's 200.
async fn run_job(c: &Client, job: &Job) -> Result<(), Failure> {
    let key = job.key.as_str();
    if job.parts.len() == 1 {
        let r = c
            .send(
                Request::new(Method::PUT, Some(BUCKET), Some(key)),
                job.parts[0].clone(),
            )
            .await?;
        return (r.status == 200)
            .then_some(())
            .ok_or(Failure::Status(format!("PUT {key}: {}", r.status)));
    }
    let r = c
        .send(
            Request::new(Method::POST, Some(BUCKET), Some(key)).with_query("uploads", ""),
            vec![],
        )
        .await?;
    if r.status != 200 {
        return Err(Failure::Status(format!("initiate {key}: {}", r.status)));
    }
    let id = from_xml::<InitiateMultipartUploadResult>(&r.body)
        .map_err(|e| Failure::Status(e.to_string()))?
        .upload_id;
    let mut xml = String::from("<CompleteMultipartUpload>");
    for (i, part) in job.parts.iter().enumerate() {
        let n = (i + 1).to_string();
        let r = c
            .send(
                Request::new(Method::PUT, Some(BUCKET), Some(key))
                    .with_query("partNumber", &n)
                    .with_query("uploadId", &id),
                part.clone(),
            )
            .await?;
        let etag = r.headers.get("etag").and_then(|e| e.to_str().ok());
        let (200, Some(etag)) = (r.status, etag) else {
            return Err(Failure::Status(format!("part {n} of {key}: {}", r.status)));
        };
        xml.push_str(&format!(
            "<Part><PartNumber>{n}</PartNumber><ETag>{etag}</ETag></Part>"
        ));
    }
    xml.push_str("</CompleteMultipartUpload>");
    let r = c
        .send(
            Request::new(Method::POST, Some(BUCKET), Some(key)).with_query("uploadId", &id),
            xml.into_bytes(),
        )
        .await?;
    (r.status == 200)
        .then_some(())
        .ok_or(Failure::Status(format!("complete {key}: {}", r.status)))
}

/// Every key in the bucket (ListObjectsV2, all pages).
async fn list_all(c: &Client) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut req = Request::new(Method::GET, Some(BUCKET), None)
            .with_query("list-type", "2")
            .with_query("max-keys", "17");
        if let Some(t) = &token {
            req = req.with_query("continuation-token", t);
        }
        let r = c.send(req, vec![]).await.expect("listing answers");
        assert_eq!(r.status, 200);
        let l: ListBucketResult = from_xml(&r.body).unwrap();
        out.extend(l.contents.into_iter().map(|o| (o.key, o.size)));
        match l.next_continuation_token.filter(|_| l.is_truncated) {
            Some(t) => token = Some(t),
            None => return out,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill() {
    tokio::time::timeout(Duration::from_secs(55), crash_and_recover())
        .await
        .expect("the crash test finishes within 55 s");
}

async fn crash_and_recover() {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start(&data);
    let client = Arc::new(Client::new(&server.endpoint));
    let r = client
        .send(Request::new(Method::PUT, Some(BUCKET), None), vec![])
        .await
        .unwrap();
    assert_eq!(r.status, 200, "create bucket");

    // First versions of the overwritten keys, acknowledged before the storm.
    let mut first_versions = HashMap::new();
    for i in 0..OVERWRITES {
        let key = format!("over-{i}");
        let v0 = random_bytes(10 * KIB + i);
        let r = client
            .send(
                Request::new(Method::PUT, Some(BUCKET), Some(&key)),
                v0.clone(),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 200);
        first_versions.insert(key, v0);
    }

    let jobs: Arc<Vec<Job>> = Arc::new(make_jobs());
    let acked: Arc<Mutex<Vec<bool>>> = Arc::new(Mutex::new(vec![false; JOBS]));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<usize>();
    let mut handles = Vec::new();
    for i in 0..JOBS {
        let (c, jobs, acked, tx) = (client.clone(), jobs.clone(), acked.clone(), tx.clone());
        handles.push(tokio::spawn(async move {
            let result = run_job(&c, &jobs[i]).await;
            if result.is_ok() {
                acked.lock().unwrap()[i] = true;
                let _ = tx.send(i);
            }
            result
        }));
    }
    drop(tx);

    // Kill once enough writes are acknowledged (or all are done, or 20 s passed).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let mut seen = 0;
    while seen < KILL_AFTER {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(_)) => seen += 1,
            Ok(None) | Err(_) => break,
        }
    }
    server.kill();
    let mut failures = Vec::new();
    for h in handles {
        if let Err(e) = h.await.expect("job task does not panic") {
            failures.push(e);
        }
    }
    let acked: Vec<bool> = acked.lock().unwrap().clone();
    let n_acked = acked.iter().filter(|a| **a).count();
    // All jobs started at once: whatever was not acknowledged was in flight when it died.
    let in_flight = JOBS - n_acked;
    // Only broken connections are expected: before dying the server answered nothing but 200.
    let mut transport_error = None;
    for f in &failures {
        match f {
            Failure::Status(s) => panic!("a write failed with an HTTP error: {s}"),
            Failure::Transport(t) => transport_error = Some(t.as_str()),
        }
    }
    if let Some(t) = transport_error {
        println!("serve_crash: e.g. a write cut off by the kill: {t}");
    }

    // Restart on the same data.
    let server2 = Server::start(&data);
    let c = Client::new(&server2.endpoint);

    // 1. Every acknowledged write reads back byte-identical.
    for (i, job) in jobs.iter().enumerate().filter(|(i, _)| acked[*i]) {
        let r = c.get(&job.key).await;
        assert_eq!(r.status, 200, "acknowledged {} is gone", job.key);
        assert_eq!(
            sha256(&r.body),
            sha256(&job.data()),
            "acknowledged write {i} ({}) differs after the crash",
            job.key
        );
    }

    // 2. Everything visible is complete and is one of the versions written to its key.
    let listed = list_all(&c).await;
    let by_key: HashMap<&str, usize> = jobs
        .iter()
        .enumerate()
        .map(|(i, j)| (j.key.as_str(), i))
        .collect();
    let mut unacked_present = 0;
    for (key, size) in &listed {
        let r = c.get(key).await;
        assert_eq!(r.status, 200, "listed {key} cannot be read");
        assert_eq!(r.body.len() as u64, *size, "{key}: listed size differs");
        let crc = r
            .headers
            .get("x-oss-hash-crc64ecma")
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .expect("a CRC-64 header");
        assert_eq!(
            crc,
            ossguard_proto::crc64::checksum(&r.body),
            "{key}: bytes do not match their CRC-64 (torn object)"
        );
        let i = *by_key
            .get(key.as_str())
            .unwrap_or_else(|| panic!("unknown key {key}"));
        let digest = sha256(&r.body);
        let is_new = digest == sha256(&jobs[i].data());
        let is_old = first_versions
            .get(key)
            .is_some_and(|v0| digest == sha256(v0));
        assert!(
            is_new || is_old,
            "{key}: neither the old nor the new version"
        );
        if !acked[i] && is_new {
            unacked_present += 1;
        }
    }
    // 3. Keys that exist before the storm are never lost; new keys not acknowledged may be.
    for key in first_versions.keys() {
        assert!(listed.iter().any(|(k, _)| k == key), "{key} vanished");
    }
    // 4. The recovered server takes new writes.
    let r = c
        .send(
            Request::new(Method::PUT, Some(BUCKET), Some("after-restart")),
            b"fresh".to_vec(),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(c.get("after-restart").await.body, b"fresh");

    let recovered = listed.len();
    println!(
        "serve_crash: jobs={JOBS} acknowledged={n_acked} in_flight_at_kill={in_flight} \
         recovered={recovered} objects (unacknowledged but complete={unacked_present}) in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    assert!(n_acked >= 1, "nothing was acknowledged before the kill");
    drop(server2);
}
