//! The audit log (the seed's 操作审计): one JSON line per logical operation — never per
//! attempt — written by a background thread so that a slow disk never holds an operation up.
//!
//! Operations hand their record to a bounded queue ([`AuditConfig::queue`], default 8,192
//! records). When the queue is full the record is **dropped and counted**
//! ([`AuditLog::dropped`], and `ossguard_audit_dropped_total`): an audit log that blocks
//! operations turns a slow disk into an outage, which is worse than a counted gap. The file is
//! rotated by size like logrotate's `size` + `rotate N`: `FILE` → `FILE.1` → … → `FILE.N`.
//!
//! Secrets never reach a record: the principal is the access key *id*; no signature, token or
//! query string is recorded.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;

use prometheus_client::metrics::counter::Counter;
use serde::Serialize;

/// Where and how much to keep.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// Rotate when the current file would exceed this many bytes (default 64 MiB).
    pub max_bytes: u64,
    /// Rotated files kept besides the current one (default 5).
    pub keep: u32,
    /// Records waiting for the writer thread before new ones are dropped (default 8,192).
    pub queue: usize,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            max_bytes: 64 << 20,
            keep: 5,
            queue: 8192,
        }
    }
}

/// One logical operation, as written (a JSON object per line).
#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord {
    /// RFC 3339, UTC, when the operation ended.
    pub time: String,
    /// The access key id that signed it (never the secret).
    pub principal: Option<String>,
    /// The OSS operation (`GetObject`, `PutObject`, …).
    pub op: &'static str,
    /// The bucket, when the operation has one.
    pub bucket: Option<String>,
    /// The object key, when the operation has one.
    pub key: Option<String>,
    /// `ok` or the outcome class (`observability/METRICS.md`).
    pub outcome: &'static str,
    /// HTTP status of the last answer, if any.
    pub status: Option<u16>,
    /// OSS error code of the last answer, if any.
    pub code: Option<String>,
    /// `x-oss-request-id` of the last answer, if any (what Alibaba Cloud support asks for).
    pub request_id: Option<String>,
    /// HTTP attempts made (retries, hedges and body resumes included).
    pub attempts: u32,
    /// Start to end of the operation, every attempt and backoff included, in milliseconds.
    pub duration_ms: f64,
    /// Request body bytes sent, every attempt.
    pub bytes_sent: u64,
    /// Response body bytes received, every attempt.
    pub bytes_received: u64,
}

/// A handle on the audit log; cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    tx: SyncSender<AuditRecord>,
    dropped: Counter,
    accepted: Arc<AtomicU64>,
    /// Records the writer finished with (written, or lost to a failing disk).
    processed: Arc<AtomicU64>,
    written: Arc<AtomicU64>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

impl AuditLog {
    /// Appends to `path` (created with its parent directories), rotating by size.
    pub fn to_file(path: impl Into<PathBuf>, config: AuditConfig) -> io::Result<Self> {
        let path = path.into();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let sink = Rotating::open(path, config.max_bytes, config.keep)?;
        Ok(Self::spawn(sink, config.queue))
    }

    /// Writes to any `Write` (tests: a writer that blocks, to fill the queue).
    #[doc(hidden)]
    pub fn to_writer(w: Box<dyn Write + Send>, queue: usize) -> Self {
        Self::spawn(Plain(w), queue)
    }

    fn spawn(mut sink: impl Sink + Send + 'static, queue: usize) -> Self {
        let (tx, rx) = sync_channel(queue.max(1));
        let written = Arc::new(AtomicU64::new(0));
        let processed = Arc::new(AtomicU64::new(0));
        let (w, p) = (written.clone(), processed.clone());
        // A thread, not a task: file writes block, and the log must drain without a runtime.
        std::thread::Builder::new()
            .name("ossguard-audit".into())
            .spawn(move || drain(rx, &mut sink, &w, &p))
            .expect("spawning the audit thread");
        Self {
            tx,
            dropped: Counter::default(),
            accepted: Arc::new(AtomicU64::new(0)),
            processed,
            written,
        }
    }

    /// Queues a record; never blocks (a full queue drops it and counts it).
    pub fn record(&self, r: AuditRecord) -> bool {
        match self.tx.try_send(r) {
            Ok(()) => {
                self.accepted.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.inc();
                false
            }
        }
    }

    /// Records dropped because the queue was full (or the writer died).
    pub fn dropped(&self) -> u64 {
        self.dropped.get()
    }

    /// The dropped-records counter, for `ossguard_audit_dropped_total`.
    pub(crate) fn dropped_counter(&self) -> Counter {
        self.dropped.clone()
    }

    /// Records written so far.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Waits (blocking, at most `timeout`) until every queued record has been written: call
    /// it before the process exits. Returns whether the queue drained.
    pub fn flush(&self, timeout: std::time::Duration) -> bool {
        let until = std::time::Instant::now() + timeout;
        loop {
            if self.processed.load(Ordering::Acquire) >= self.accepted.load(Ordering::Acquire) {
                return true;
            }
            if std::time::Instant::now() >= until {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }
}

fn drain(rx: Receiver<AuditRecord>, sink: &mut dyn Sink, written: &AtomicU64, done: &AtomicU64) {
    while let Ok(r) = rx.recv() {
        if let Ok(mut line) = serde_json::to_vec(&r) {
            line.push(b'\n');
            // A failing disk loses lines, never operations; the next write tries again.
            if sink.write_line(&line).is_ok() {
                written.fetch_add(1, Ordering::Relaxed);
            }
        }
        done.fetch_add(1, Ordering::Release);
    }
}

trait Sink {
    fn write_line(&mut self, line: &[u8]) -> io::Result<()>;
}

struct Plain(Box<dyn Write + Send>);

impl Sink for Plain {
    fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        self.0.write_all(line)?;
        self.0.flush()
    }
}

/// A file rotated by size: `FILE` → `FILE.1` → … → `FILE.keep` (the oldest is removed).
struct Rotating {
    path: PathBuf,
    file: File,
    size: u64,
    max_bytes: u64,
    keep: u32,
}

impl Rotating {
    fn open(path: PathBuf, max_bytes: u64, keep: u32) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let size = file.metadata()?.len();
        Ok(Self {
            path,
            file,
            size,
            max_bytes: max_bytes.max(1),
            keep,
        })
    }

    fn rotate(&mut self) -> io::Result<()> {
        let name = |i: u32| -> PathBuf { numbered(&self.path, i) };
        if self.keep == 0 {
            self.file.set_len(0)?;
        } else {
            let _ = std::fs::remove_file(name(self.keep));
            for i in (1..self.keep).rev() {
                let _ = std::fs::rename(name(i), name(i + 1));
            }
            std::fs::rename(&self.path, name(1))?;
        }
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

fn numbered(path: &Path, i: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{i}"));
    PathBuf::from(s)
}

impl Sink for Rotating {
    fn write_line(&mut self, line: &[u8]) -> io::Result<()> {
        if self.size > 0 && self.size + line.len() as u64 > self.max_bytes {
            self.rotate()?;
        }
        self.file.write_all(line)?;
        self.size += line.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Condvar, Mutex};
    use std::time::{Duration, Instant};

    fn record(i: u32) -> AuditRecord {
        AuditRecord {
            time: "2026-12-05T00:00:00Z".into(),
            principal: Some("AK".into()),
            op: "GetObject",
            bucket: Some("b".into()),
            key: Some(format!("k{i}")),
            outcome: "ok",
            status: Some(200),
            code: None,
            request_id: None,
            attempts: 1,
            duration_ms: 1.0,
            bytes_sent: 0,
            bytes_received: 10,
        }
    }

    fn wait_for(log: &AuditLog, n: u64) {
        let until = Instant::now() + Duration::from_secs(10);
        while log.written() < n && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn rotates_by_size_and_keeps_n_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let line = serde_json::to_vec(&record(0)).unwrap().len() as u64 + 1;
        let cfg = AuditConfig {
            max_bytes: line * 3,
            keep: 2,
            queue: 1000,
        };
        let log = AuditLog::to_file(&path, cfg).unwrap();
        for i in 0..10 {
            assert!(log.record(record(i)));
        }
        wait_for(&log, 10);
        assert_eq!(log.written(), 10);
        let lines = |p: &Path| -> Vec<String> {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .map(|l| {
                    let v: serde_json::Value = serde_json::from_str(l).unwrap();
                    v["key"].as_str().unwrap().to_owned()
                })
                .collect()
        };
        // 10 lines, 3 a file: k9 current; k6..k8 in .1; k3..k5 in .2; k0..k2 rotated away.
        assert_eq!(lines(&path), ["k9"]);
        assert_eq!(lines(&numbered(&path, 1)), ["k6", "k7", "k8"]);
        assert_eq!(lines(&numbered(&path, 2)), ["k3", "k4", "k5"]);
        assert!(!numbered(&path, 3).exists());
    }

    /// A writer stuck on a slow disk: blocks until released.
    struct Stuck(Arc<(Mutex<bool>, Condvar)>, Arc<Mutex<Vec<u8>>>);

    impl Write for Stuck {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            let (m, c) = &*self.0;
            let mut open = m.lock().unwrap();
            while !*open {
                open = c.wait(open).unwrap();
            }
            self.1.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_blocking() {
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let out = Arc::new(Mutex::new(Vec::new()));
        let log = AuditLog::to_writer(Box::new(Stuck(gate.clone(), out.clone())), 4);
        let start = Instant::now();
        let accepted = (0..20).filter(|i| log.record(record(*i))).count() as u64;
        // Never waited for the disk: 20 records queued or dropped at once.
        assert!(start.elapsed() < Duration::from_secs(5));
        // The writer holds at most one record, the queue 4: at least 15 dropped, all counted.
        assert!((4..=5).contains(&accepted), "accepted {accepted}");
        assert_eq!(log.dropped(), 20 - accepted);
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
        assert!(log.flush(Duration::from_secs(10)));
        assert_eq!(log.written(), accepted);
        let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count() as u64, accepted);
    }
}
