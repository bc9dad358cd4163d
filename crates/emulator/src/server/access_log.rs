//! Bucket access logging (PutBucketLogging): one OSS-format line per request to a bucket with
//! logging enabled, batched and written as objects `<TargetPrefix><Bucket>YYYY-MM-DD-HH-MM-SS-<n>`
//! into the target bucket.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ossguard_proto::{AddressingStyle, Operation, Request};

use super::AppState;
use crate::store::{PutOptions, Store, StoreError};

/// How often buffered lines are written out.
pub const FLUSH_EVERY: Duration = Duration::from_secs(5);
/// Names tried for one batch before it is dropped (each taken name is a delivered log).
const MAX_NAME_TRIES: usize = 10_000;
/// Lines per bucket that force an early write.
const MAX_BUFFERED: usize = 1000;

/// What the router remembers of a request for its log line.
#[derive(Debug, Clone)]
pub struct Entry {
    pub bucket: String,
    pub key: String,
    pub operation: Operation,
    pub request_uri: String,
    pub user_agent: String,
    pub referer: String,
    pub host: String,
    pub request_length: u64,
    pub error_code: String,
}

impl Entry {
    pub fn new(req: &Request, op: Operation) -> Self {
        let h = |n: &str| req.header(n).unwrap_or_default();
        Self {
            bucket: req.bucket.clone().unwrap_or_default(),
            key: req.key.clone().unwrap_or_default(),
            operation: op,
            request_uri: format!(
                "{} {} HTTP/1.1",
                req.method,
                req.path_and_query(AddressingStyle::Path)
            ),
            user_agent: h("user-agent"),
            referer: h("referer"),
            host: h("host"),
            request_length: h("content-length").parse().unwrap_or(0),
            error_code: String::new(),
        }
    }
}

struct Pending {
    target_bucket: String,
    target_prefix: String,
    lines: Vec<String>,
}

#[derive(Clone)]
pub struct AccessLog {
    store: Store,
    pending: Arc<Mutex<HashMap<String, Pending>>>,
    seq: Arc<AtomicU64>,
}

fn q(s: &str) -> String {
    format!(
        "\"{}\"",
        if s.is_empty() { "-" } else { s }.replace('"', "%22")
    )
}

impl AccessLog {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            pending: Arc::default(),
            seq: Arc::default(),
        }
    }

    /// Buffers the line for `e` if its bucket has logging enabled.
    #[allow(clippy::too_many_arguments)]
    pub async fn record(
        &self,
        st: &AppState,
        e: Entry,
        status: u16,
        sent: u64,
        started: Instant,
        remote: &str,
        request_id: &str,
    ) {
        let Ok(info) = self.store.bucket_info(&e.bucket).await else {
            return;
        };
        let Some(cfg) = super::bucket_ops::logging_of(&info).and_then(|l| l.logging_enabled) else {
            return;
        };
        let now = st.now();
        let time = time::OffsetDateTime::from(now);
        let stamp = time
            .format(time::macros::format_description!(
                "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"
            ))
            .unwrap_or_default();
        let ms = started.elapsed().as_millis();
        // Field order of the OSS access log format.
        let line = format!(
            "{remote} - - [{stamp}] {} {} {sent} {ms} {} {} {} {} \"true\" \"-\" {} {} {} {sent} {ms} {} {} \"-\" 0 \"-\" \"standard\" \"-\" \"-\"",
            q(&e.request_uri),
            status,
            q(&e.referer),
            q(&e.user_agent),
            q(&e.host),
            q(request_id),
            q(&format!("{}", e.operation)),
            q(&e.bucket),
            q(&ossguard_proto::encoding::uri_encode_path(&e.key)),
            q(&e.error_code),
            e.request_length,
        );
        let flush_now = {
            let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            let slot = p.entry(e.bucket.clone()).or_insert_with(|| Pending {
                target_bucket: cfg.target_bucket.clone(),
                target_prefix: cfg.target_prefix.clone(),
                lines: Vec::new(),
            });
            slot.target_bucket = cfg.target_bucket;
            slot.target_prefix = cfg.target_prefix;
            slot.lines.push(line);
            slot.lines.len() >= MAX_BUFFERED
        };
        if flush_now {
            self.flush().await;
        }
    }

    /// Writes every buffered batch as one log object.
    pub async fn flush(&self) {
        let batches: Vec<(String, Pending)> = {
            let mut p = self.pending.lock().unwrap_or_else(|e| e.into_inner());
            p.drain().filter(|(_, v)| !v.lines.is_empty()).collect()
        };
        for (source, batch) in batches {
            let now = time::OffsetDateTime::now_utc();
            let stamp = now
                .format(time::macros::format_description!(
                    "[year]-[month]-[day]-[hour]-[minute]-[second]"
                ))
                .unwrap_or_default();
            let mut body = batch.lines.join("\n");
            body.push('\n');
            let body: Arc<[u8]> = body.into_bytes().into();
            // The counter restarts with the process, so a restarted server can meet a name of
            // its predecessor's within the same second: never overwrite a delivered log (OSS
            // ends its log names with a unique string for the same reason); take the next.
            for _ in 0..MAX_NAME_TRIES {
                let n = self.seq.fetch_add(1, Ordering::Relaxed);
                let key = format!("{}{source}{stamp}-{n:04}", batch.target_prefix);
                let options = PutOptions {
                    headers: crate::store::ObjectHeaders {
                        content_type: Some("text/plain".into()),
                        ..Default::default()
                    },
                    forbid_overwrite: true,
                    ..Default::default()
                };
                let put = self
                    .store
                    .put_object(
                        &batch.target_bucket,
                        &key,
                        std::io::Cursor::new(body.clone()),
                        options,
                    )
                    .await;
                // A missing target bucket loses this batch, as OSS drops logs it cannot deliver.
                if !matches!(put, Err(StoreError::FileAlreadyExists(_))) {
                    break;
                }
            }
        }
    }

    /// Flushes every [`FLUSH_EVERY`] until aborted.
    pub async fn run_flusher(self) {
        loop {
            tokio::time::sleep(FLUSH_EVERY).await;
            self.flush().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    fn batch(log: &AccessLog, line: &str) {
        log.pending.lock().unwrap().insert(
            "site".into(),
            Pending {
                target_bucket: "logs".into(),
                target_prefix: "access/".into(),
                lines: vec![line.into()],
            },
        );
    }

    /// A restarted server counts its log names from 0 again: within the same second it meets
    /// its predecessor's names, and must not overwrite those logs.
    #[tokio::test]
    async fn a_restarted_server_never_overwrites_delivered_logs() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).await.unwrap();
        store
            .create_bucket("logs", Default::default())
            .await
            .unwrap();
        let mut lines = Vec::new();
        for process in 0..3 {
            let log = AccessLog::new(store.clone()); // a fresh counter, as after a restart
            batch(&log, &format!("line of process {process}"));
            log.flush().await;
        }
        let listed = store
            .list_objects("logs", &Default::default())
            .await
            .unwrap();
        for o in &listed.objects {
            let mut out = store.get_object("logs", &o.key, None).await.unwrap();
            let mut text = String::new();
            out.body.read_to_string(&mut text).await.unwrap();
            lines.extend(text.lines().map(str::to_owned));
        }
        lines.sort();
        assert_eq!(
            lines,
            [
                "line of process 0",
                "line of process 1",
                "line of process 2"
            ]
        );
    }
}
