//! Shared harness: an in-process emulator on 127.0.0.1 and the real `ossguard` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use ossguard_emulator::server::{Emulator, EmulatorConfig};
use sha2::Digest;

pub const AK: &str = "cli-test-ak";
/// Distinctive, so any leak into any output is caught.
pub const SK: &str = "S3cr3t-NEVER-PRINT-7f3a9c";

pub struct Env {
    pub emu: Emulator,
    pub dir: tempfile::TempDir,
}

pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub raw: Vec<u8>,
}

impl Out {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {}", self.stdout))
    }

    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
            .collect()
    }
}

impl Env {
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = EmulatorConfig::local(dir.path().join("data"), AK, SK);
        cfg.sync = false;
        let emu = Emulator::start(cfg).await.unwrap();
        std::fs::create_dir_all(dir.path().join("home")).unwrap();
        Self { emu, dir }
    }

    pub fn endpoint(&self) -> String {
        self.emu.endpoint()
    }

    /// An admin request (`/-/faults…`), signed with the server's permanent key as the admin
    /// API requires (crates/emulator/ADMIN.md).
    pub async fn admin(&self, method: http::Method, path: &str, body: String) -> reqwest::Response {
        let key = path.trim_start_matches("/-/");
        let mut req = ossguard_proto::Request::new(method.clone(), Some("-"), Some(key));
        req.set_header("content-type", "application/json").unwrap();
        ossguard_proto::auth::v4::sign(
            &mut req,
            &ossguard_proto::Credentials::new(AK, SK),
            "cn-hangzhou",
            std::time::SystemTime::now(),
            &[],
        )
        .unwrap();
        let mut rb = reqwest::Client::new()
            .request(method, format!("{}/-/{key}", self.endpoint()))
            .body(body);
        for (n, v) in &req.headers {
            if n != "host" && n != "content-length" {
                rb = rb.header(n, v);
            }
        }
        rb.send().await.expect("the admin API answers")
    }

    /// Installs fault rules through the (signed) admin API; panics unless they were taken.
    pub async fn install_faults(&self, rules: String) {
        let r = self.admin(http::Method::PUT, "/-/faults", rules).await;
        let status = r.status();
        assert_eq!(
            status,
            200,
            "PUT /-/faults: {}",
            r.text().await.unwrap_or_default()
        );
    }

    /// `GET /-/faults/stats` as JSON.
    pub async fn fault_stats(&self) -> serde_json::Value {
        let r = self
            .admin(http::Method::GET, "/-/faults/stats", String::new())
            .await;
        let text = r.text().await.expect("fault stats");
        serde_json::from_str(&text).expect("fault stats are JSON")
    }

    pub fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// A client of the library for checks behind the CLI's back.
    pub fn client(&self) -> ossguard::Client {
        ossguard::Client::builder()
            .endpoint(self.endpoint())
            .credentials(ossguard::Credentials::new(AK, SK))
            .build()
            .unwrap()
    }

    /// The binary with a clean environment: HOME in the tempdir, no OSS_* variables.
    pub fn bare(&self) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_ossguard"));
        for (k, _) in std::env::vars() {
            if k.starts_with("OSS_") || k.starts_with("ALIBABA_CLOUD_") {
                c.env_remove(k);
            }
        }
        c.env("HOME", self.path("home"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        c
    }

    /// The binary configured for the emulator: endpoint flag, keys in the environment.
    pub fn cmd(&self) -> tokio::process::Command {
        let mut c = self.bare();
        c.arg("--endpoint")
            .arg(self.endpoint())
            .env("OSS_ACCESS_KEY_ID", AK)
            .env("OSS_ACCESS_KEY_SECRET", SK);
        c
    }

    pub async fn run(&self, args: &[&str]) -> Out {
        let mut c = self.cmd();
        c.args(args);
        output(c).await
    }

    /// Runs and asserts the exit code.
    pub async fn ok(&self, args: &[&str]) -> Out {
        let o = self.run(args).await;
        assert_eq!(
            o.code, 0,
            "ossguard {args:?} failed: {}\n{}",
            o.stderr, o.stdout
        );
        o
    }
}

/// Runs to completion (bounded), checking that the secret appears nowhere.
pub async fn output(mut c: tokio::process::Command) -> Out {
    let o = tokio::time::timeout(Duration::from_secs(120), c.output())
        .await
        .expect("ossguard finished within 120 s")
        .expect("ossguard runs");
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        !stdout.contains(SK) && !stderr.contains(SK),
        "the secret leaked:\nstdout: {stdout}\nstderr: {stderr}"
    );
    Out {
        code: o.status.code().unwrap_or(-1),
        stdout,
        stderr,
        raw: o.stdout,
    }
}

/// Deterministic pseudo-random bytes (xorshift64*), fast enough for hundreds of MiB.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut s = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        out.extend_from_slice(&s.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Writes `len` random bytes to `path` in chunks; returns the SHA-256.
pub fn write_random_file(path: &Path, len: usize, seed: u64) -> String {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let chunk = 4 << 20;
    let mut done = 0;
    let mut n = 0u64;
    while done < len {
        let b = random_bytes(chunk.min(len - done), seed.wrapping_add(n));
        f.write_all(&b).unwrap();
        done += b.len();
        n += 1;
    }
    f.flush().unwrap();
    drop(f);
    sha256_file(path)
}

/// SHA-256 of a file: coreutils' `sha256sum` when present (the test profile builds `sha2`
/// without optimisations, ~10x slower), else `sha2`.
pub fn sha256_file(path: &Path) -> String {
    if let Ok(o) = std::process::Command::new("sha256sum").arg(path).output() {
        if o.status.success() {
            if let Some(h) = String::from_utf8_lossy(&o.stdout).split_whitespace().next() {
                return h.to_owned();
            }
        }
    }
    use std::io::Read;
    let mut f = std::fs::File::open(path).unwrap();
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    hex::encode(h.finalize())
}

pub fn sha256(b: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(b))
}

/// Rules that blackhole each `operation` request (`UploadPart`, `GetObject`, `PutObject`) after
/// the first `pass` (read, never answered or executed) until the rules change: a transfer of
/// more parts (or a sync of more files) cannot finish, so stopping it mid-way never races its
/// checkpoint writes. (Ranged GETs may be hedged, a hedge taking a pass: downloads let all
/// parts but the last through.)
pub fn hold_beyond(operation: &str, pass: usize) -> String {
    serde_json::json!({"rules": [{
        "match": {"operations": [operation]},
        "skip_first": pass,
        "fault": {"kind": "outage", "refuse_ms": 0},
    }]})
    .to_string()
}
