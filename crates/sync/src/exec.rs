//! The I/O around the planner: opens both listings, runs copies and checks on at most `jobs`
//! tasks as the plan is read, and deletes only once every copy succeeded.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use ossguard::{Client, TransferOptions};
use ossguard_proto::crc64::Crc64;
use tokio::task::JoinSet;

use crate::list::{self, Listed, Listing};
use crate::model::{
    Entry, Event, EventFn, Location, Op, Summary, SyncError, SyncOptions, MTIME_META,
};
use crate::pending::PendingDeletes;
use crate::plan::{
    self, Action, CheckBy, Compare, DeleteGate, Gate, MtimeRule, PlanOptions, Reason, Verdict,
};

/// Keys per DeleteMultipleObjects request (the most OSS takes).
const DELETE_BATCH: usize = 1000;

/// Which way the bytes go.
#[derive(Debug, Clone)]
enum Pair {
    Upload {
        root: PathBuf,
        bucket: String,
        prefix: String,
    },
    Download {
        bucket: String,
        prefix: String,
        root: PathBuf,
    },
    Copy {
        src_bucket: String,
        src_prefix: String,
        bucket: String,
        prefix: String,
    },
}

impl Pair {
    fn new(src: &Location, dst: &Location) -> Result<Self, SyncError> {
        Ok(match (src, dst) {
            (Location::Local(_), Location::Local(_)) => {
                return Err(SyncError::Usage(
                    "both sides are local directories: one of them must be an oss:// URL".into(),
                ))
            }
            (Location::Local(root), Location::Oss { bucket, prefix }) => Pair::Upload {
                root: root.clone(),
                bucket: bucket.clone(),
                prefix: prefix.clone(),
            },
            (Location::Oss { bucket, prefix }, Location::Local(root)) => Pair::Download {
                bucket: bucket.clone(),
                prefix: prefix.clone(),
                root: root.clone(),
            },
            (
                Location::Oss {
                    bucket: sb,
                    prefix: sp,
                },
                Location::Oss {
                    bucket: db,
                    prefix: dp,
                },
            ) => {
                if sb == db && (sp.starts_with(dp.as_str()) || dp.starts_with(sp.as_str())) {
                    return Err(SyncError::Usage(format!(
                        "oss://{sb}/{sp} and oss://{db}/{dp} overlap: sync into a separate prefix"
                    )));
                }
                Pair::Copy {
                    src_bucket: sb.clone(),
                    src_prefix: sp.clone(),
                    bucket: db.clone(),
                    prefix: dp.clone(),
                }
            }
        })
    }

    fn op(&self) -> Op {
        match self {
            Pair::Upload { .. } => Op::Upload,
            Pair::Download { .. } => Op::Download,
            Pair::Copy { .. } => Op::Copy,
        }
    }

    /// The destination's time is when it was written (OSS), or set from the source's (local).
    fn mtime_rule(&self) -> MtimeRule {
        match self {
            Pair::Download { .. } => MtimeRule::Differ,
            _ => MtimeRule::SourceNewer,
        }
    }
}

/// `rel` as a path under `root`, refusing what could leave it (`..`, empty segments).
fn local_path(root: &Path, rel: &str) -> Result<PathBuf, String> {
    let mut p = root.to_path_buf();
    for seg in rel.split('/') {
        if seg.is_empty()
            || seg == "."
            || seg == ".."
            || (cfg!(windows) && seg.contains(['\\', ':']))
        {
            return Err(
                "this key cannot be a local path (empty, '.' or '..' segments): exclude it or download it with cp"
                    .into(),
            );
        }
        p.push(seg);
    }
    Ok(p)
}

/// The modification time as rclone records it: seconds with a fraction.
fn mtime_meta(t: SystemTime) -> Option<String> {
    let d = t.duration_since(UNIX_EPOCH).ok()?;
    Some(format!("{}.{:09}", d.as_secs(), d.subsec_nanos()))
}

/// What one task did.
struct Outcome {
    src: Entry,
    op: Op,
    /// Why it was (or in a dry run would be) copied.
    reason: Reason,
    result: Result<Done, String>,
}

/// What one task does.
#[derive(Debug, Clone, Copy)]
enum Work {
    Copy(Reason),
    /// Fetch what the planner needs, then copy if it says so.
    Check(CheckBy),
}

/// Where one side of a pair lives.
enum Place<'a> {
    File(PathBuf),
    Object { bucket: &'a str, key: String },
}

#[derive(Default)]
struct Done {
    /// Copied (in a dry run: would be).
    copied: bool,
    bytes: u64,
    checked: bool,
}

/// What every task shares.
struct Shared {
    client: Client,
    pair: Pair,
    transfer: TransferOptions,
    events: Option<EventFn>,
    dry_run: bool,
}

impl Shared {
    fn emit(&self, e: Event<'_>) {
        if let Some(f) = &self.events {
            f(&e);
        }
    }

    /// After a file was found in line: a checkpoint an interrupted upload of it left (dropped
    /// while its Complete was in flight, or abandoned and then matched by another writer) would
    /// never be used, so it goes, with the multipart upload it names. Only files large enough
    /// for a multipart upload can have one, and it costs a stat when there is none; best
    /// effort (a transfer of the same file running elsewhere keeps its checkpoint: the lock is
    /// waited for up to 3 s, then left alone). An interrupted `cp` of the same file to the same
    /// key is forgotten too — the object is in line, so there is nothing left to resume.
    async fn forget_upload(&self, src: &Entry) {
        let Pair::Upload {
            root,
            bucket,
            prefix,
        } = &self.pair
        else {
            return;
        };
        if self.dry_run
            || !self.transfer.resumable
            || src.size == 0
            || src.size < self.transfer.multipart_threshold
        {
            return;
        }
        let Ok(path) = local_path(root, &src.rel) else {
            return;
        };
        let key = format!("{prefix}{}", src.rel);
        let _ = self
            .client
            .discard_upload_checkpoint(&path, bucket, &key, &self.transfer)
            .await;
    }

    async fn copy(&self, src: &Entry) -> Result<u64, String> {
        let sent = Arc::new(AtomicU64::new(0));
        let mut topts = self.transfer.clone();
        let (s, events) = (sent.clone(), self.events.clone());
        topts.progress = Some(Arc::new(move |p: ossguard::Progress| {
            let prev = s.fetch_max(p.bytes_done, Ordering::Relaxed);
            if let (Some(f), true) = (&events, p.bytes_done > prev) {
                f(&Event::Progress(p.bytes_done - prev));
            }
        }));
        let r = match &self.pair {
            Pair::Upload {
                root,
                bucket,
                prefix,
            } => {
                if let Some(m) = src.mtime.and_then(mtime_meta) {
                    topts.put.metadata.insert(MTIME_META.into(), m);
                }
                let path = local_path(root, &src.rel)?;
                self.client
                    .upload_file(&path, bucket, &format!("{prefix}{}", src.rel), &topts)
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
            Pair::Download {
                bucket,
                prefix,
                root,
            } => {
                let path = local_path(root, &src.rel)?;
                let key = format!("{prefix}{}", src.rel);
                topts.download_size_hint = Some(src.size);
                self.client
                    .download_file(bucket, &key, &path, &topts)
                    .await
                    .map_err(|e| e.to_string())?;
                // The listing's Last-Modified, which the next run compares with (MtimeRule::Differ).
                match src.mtime {
                    Some(t) => set_mtime(path, t).await,
                    None => Ok(()),
                }
            }
            Pair::Copy {
                src_bucket,
                src_prefix,
                bucket,
                prefix,
            } => {
                // The listing's size and ETag spare a HEAD per small object.
                topts.copy_hint = src.etag.clone().map(|etag| ossguard::transfer::CopyHint {
                    size: src.size,
                    etag,
                });
                self.client
                    .copy_large(
                        src_bucket,
                        &format!("{src_prefix}{}", src.rel),
                        bucket,
                        &format!("{prefix}{}", src.rel),
                        &topts,
                    )
                    .await
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
        };
        r?;
        let before = sent.swap(src.size, Ordering::Relaxed);
        if src.size > before {
            self.emit(Event::Progress(src.size - before));
        }
        Ok(src.size)
    }

    fn place(&self, source: bool, rel: &str) -> Result<Place<'_>, String> {
        fn object<'b>(bucket: &'b str, prefix: &str, rel: &str) -> Place<'b> {
            Place::Object {
                bucket,
                key: format!("{prefix}{rel}"),
            }
        }
        Ok(match (&self.pair, source) {
            (Pair::Upload { root, .. }, true) | (Pair::Download { root, .. }, false) => {
                Place::File(local_path(root, rel)?)
            }
            (Pair::Upload { bucket, prefix, .. }, false)
            | (Pair::Download { bucket, prefix, .. }, true)
            | (Pair::Copy { bucket, prefix, .. }, false) => object(bucket, prefix, rel),
            (
                Pair::Copy {
                    src_bucket,
                    src_prefix,
                    ..
                },
                true,
            ) => object(src_bucket, src_prefix, rel),
        })
    }

    /// The CRC-64 of one side's entry: computed for a local file, from HEAD for an object.
    async fn crc(&self, source: bool, rel: &str) -> Result<Option<u64>, String> {
        match self.place(source, rel)? {
            Place::File(path) => file_crc(path).await.map(Some),
            Place::Object { bucket, key } => self
                .client
                .head_object(bucket, &key)
                .await
                .map(|m| m.crc64)
                .map_err(|e| e.to_string()),
        }
    }

    /// Fetches what the planner asked for and returns its decision.
    async fn check(&self, src: &Entry, by: CheckBy) -> Result<Verdict, String> {
        Ok(match by {
            CheckBy::Checksum => {
                let (a, b) = tokio::join!(self.crc(true, &src.rel), self.crc(false, &src.rel));
                plan::after_check(a?, b?)
            }
            CheckBy::MtimeMeta => {
                let Place::Object { bucket, key } = self.place(false, &src.rel)? else {
                    return Err("the destination is local: no recorded mtime to read".into());
                };
                let meta = self
                    .client
                    .head_object(bucket, &key)
                    .await
                    .map_err(|e| e.to_string())?;
                let recorded = meta
                    .metadata
                    .get(MTIME_META)
                    .and_then(|v| plan::parse_mtime_meta(v));
                plan::after_mtime_check(src.mtime, recorded)
            }
        })
    }

    async fn run(self: Arc<Self>, src: Entry, work: Work) -> Outcome {
        let mut op = self.pair.op();
        let mut reason = Reason::Missing;
        let result = async {
            let mut done = Done::default();
            match work {
                Work::Copy(r) => reason = r,
                Work::Check(by) => {
                    op = Op::Check;
                    done.checked = true;
                    match self.check(&src, by).await? {
                        Verdict::Copy(r) => reason = r,
                        Verdict::Skip | Verdict::Check(_) => {
                            self.forget_upload(&src).await;
                            return Ok(done);
                        }
                    }
                    op = self.pair.op();
                }
            }
            // A dry run reaches this point only for a check that found a difference.
            done.copied = true;
            done.bytes = match self.dry_run {
                true => src.size,
                false => self.copy(&src).await?,
            };
            Ok(done)
        }
        .await;
        Outcome {
            src,
            op,
            reason,
            result,
        }
    }
}

async fn file_crc(path: PathBuf) -> Result<u64, String> {
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let mut f = ossguard::transfer::open_regular(&path)?;
        let mut crc = Crc64::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                return Ok::<_, std::io::Error>(crc.value());
            }
            crc.update(&buf[..n]);
        }
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("reading for the checksum: {e}"))
}

async fn set_mtime(path: PathBuf, t: SystemTime) -> Result<(), String> {
    tokio::task::spawn_blocking(move || {
        std::fs::File::options()
            .write(true)
            .open(&path)
            .and_then(|f| f.set_modified(t))
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("downloaded, but setting its modification time failed: {e}"))
}

/// A local tree: the source must be a directory; a missing destination is an empty one.
fn open_local(root: &Path, source: bool) -> Result<Listing, SyncError> {
    match std::fs::metadata(root) {
        Ok(m) if m.is_dir() => Ok(list::local(root.to_path_buf())),
        Ok(_) => Err(SyncError::Usage(format!(
            "{} is not a directory: sync works on directories (use cp for one file)",
            root.display()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !source => {
            Ok(Box::pin(futures_util::stream::empty()))
        }
        Err(e) => Err(SyncError::io(format!("cannot read {}", root.display()), e)),
    }
}

fn open(client: &Client, l: &Location, source: bool) -> Result<Listing, SyncError> {
    match l {
        Location::Local(root) => open_local(root, source),
        Location::Oss { bucket, prefix } => Ok(list::oss(client, bucket, prefix)),
    }
}

/// Brings `dst` in line with `src`: copies what is new or changed (size + modification time,
/// or CRC-64 with [`SyncOptions::checksum`]), then with [`SyncOptions::delete`] deletes what
/// the source does not have — only when every copy succeeded.
///
/// Items that fail are counted in the [`Summary`] (the sync goes on); a failed listing or an
/// unusable pair of locations is an error. Dropping the future stops the copies; resumable
/// uploads and downloads keep their checkpoints, so a rerun sends only what is left.
pub async fn sync(
    client: &Client,
    src: &Location,
    dst: &Location,
    opts: &SyncOptions,
) -> Result<Summary, SyncError> {
    let pair = Pair::new(src, dst)?;
    let mut transfer = opts.transfer.clone();
    // Downloads are made durable once, below, not with two fsyncs per file.
    let durable_root = match &pair {
        Pair::Download { root, .. } => {
            transfer.sync_each_file = false;
            Some(root.clone())
        }
        _ => None,
    };
    let compare = match opts.checksum {
        true => Compare::Checksum,
        false => Compare::SizeMtime(pair.mtime_rule()),
    };
    let shared = Arc::new(Shared {
        client: client.clone(),
        pair,
        transfer,
        events: opts.events.clone(),
        dry_run: opts.dry_run,
    });
    // Unusable source entries, noted while the plan reads the listing.
    let unusable: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let filter = opts.filter.clone();
    let noted = unusable.clone();
    let src_entries = open(client, src, true)?.filter_map(move |r| {
        let out = match r {
            Ok(Listed::Entry(e)) => filter.accepts(&e.rel).then_some(Ok(e)),
            Ok(Listed::Unusable { name, why }) => {
                if let Ok(mut v) = noted.lock() {
                    v.push((name, why));
                }
                None
            }
            Err(e) => Some(Err(e)),
        };
        std::future::ready(out)
    });
    let filter = opts.filter.clone();
    let events = opts.events.clone();
    let dst_entries = open(client, dst, false)?.filter_map(move |r| {
        let out = match r {
            Ok(Listed::Entry(e)) => filter.accepts(&e.rel).then_some(Ok(e)),
            Ok(Listed::Unusable { name, why }) => {
                if let Some(f) = &events {
                    f(&Event::Ignored {
                        rel: &name,
                        why: &why,
                    });
                }
                None
            }
            Err(e) => Some(Err(e)),
        };
        std::future::ready(out)
    });
    let plan = plan::plan(
        Box::pin(src_entries),
        Box::pin(dst_entries),
        PlanOptions {
            compare,
            delete: opts.delete,
        },
    );
    futures_util::pin_mut!(plan);

    let jobs = opts.jobs.max(1);
    let mut run = Run {
        shared: shared.clone(),
        summary: Summary::default(),
        gate: DeleteGate::default(),
        tasks: JoinSet::new(),
    };
    let mut pending = PendingDeletes::default();
    let mut fatal = None;
    while let Some(item) = plan.next().await {
        run.note_unusable(&unusable);
        let action = match item {
            Ok(a) => a,
            Err(e) => {
                fatal = Some(e);
                break;
            }
        };
        shared.emit(Event::Planned(&action));
        match action {
            Action::Skip(e) => {
                run.summary.skipped += 1;
                run.shared.forget_upload(&e).await;
            }
            Action::Delete(_) if opts.dry_run => run.summary.deleted += 1,
            Action::Delete(e) => pending
                .push(e.rel)
                .map_err(|e| SyncError::io("keeping the list of deletions", e))?,
            Action::Copy { src, .. } if opts.dry_run => {
                run.summary.copied += 1;
                run.summary.bytes += src.size;
            }
            Action::Copy { src, reason } => run.spawn(src, Work::Copy(reason), jobs).await,
            Action::Check { src, by, .. } => run.spawn(src, Work::Check(by), jobs).await,
        }
    }
    run.note_unusable(&unusable);
    while let Some(r) = run.tasks.join_next().await {
        run.finish(r);
    }
    if let Some(root) = durable_root.filter(|_| run.summary.copied > 0 && !opts.dry_run) {
        ossguard::transfer::sync_filesystem(&root)
            .await
            .map_err(|e| SyncError::io("making the downloads durable", std::io::Error::other(e)))?;
    }
    if let Some(e) = fatal {
        return Err(e);
    }
    run.gate.plan_complete();
    let Run {
        mut summary, gate, ..
    } = run;
    if pending.len() > 0 {
        match gate.state() {
            Gate::Open => delete(&shared, dst, pending, &mut summary).await?,
            Gate::Withheld { failed } => {
                summary.deletes_withheld = pending.len();
                shared.emit(Event::DeletesWithheld {
                    deletes: pending.len(),
                    failed,
                });
            }
            Gate::Wait => unreachable!("every task was joined and the plan is complete"),
        }
    }
    Ok(summary)
}

/// The running part of a sync.
struct Run {
    shared: Arc<Shared>,
    summary: Summary,
    gate: DeleteGate,
    tasks: JoinSet<Outcome>,
}

impl Run {
    fn note_unusable(&mut self, unusable: &Mutex<Vec<(String, String)>>) {
        let taken = match unusable.lock() {
            Ok(mut v) => std::mem::take(&mut *v),
            Err(_) => return,
        };
        for (name, why) in taken {
            self.gate.source_failed();
            self.shared.emit(Event::Failed {
                op: Op::List,
                rel: &name,
                error: &why,
            });
            self.summary.fail(Op::List, &name, why);
        }
    }

    /// Starts a copy (or check), first waiting for a free slot among `jobs`.
    async fn spawn(&mut self, src: Entry, work: Work, jobs: usize) {
        while self.tasks.len() >= jobs {
            match self.tasks.join_next().await {
                Some(r) => self.finish(r),
                None => break,
            }
        }
        self.gate.copy_started();
        self.tasks.spawn(self.shared.clone().run(src, work));
    }

    fn finish(&mut self, r: Result<Outcome, tokio::task::JoinError>) {
        let o = r.unwrap_or_else(|e| Outcome {
            src: Entry {
                rel: "?".into(),
                size: 0,
                mtime: None,
                crc64: None,
                etag: None,
            },
            op: self.shared.pair.op(),
            reason: Reason::Missing,
            result: Err(format!("the task failed: {e}")),
        });
        let rel = o.src.rel.as_str();
        let s = &mut self.summary;
        match o.result {
            Ok(done) => {
                self.gate.copy_finished(true);
                s.checked += u64::from(done.checked);
                if done.copied && self.shared.dry_run {
                    // Only after a check: the plan's final word on this pair.
                    s.copied += 1;
                    s.bytes += done.bytes;
                    let action = Action::Copy {
                        src: o.src.clone(),
                        reason: o.reason,
                    };
                    self.shared.emit(Event::Planned(&action));
                } else if done.copied {
                    s.copied += 1;
                    s.bytes += done.bytes;
                    self.shared.emit(Event::Done {
                        op: o.op,
                        rel,
                        bytes: done.bytes,
                    });
                } else {
                    s.skipped += 1;
                }
            }
            Err(error) => {
                self.gate.copy_finished(false);
                self.shared.emit(Event::Failed {
                    op: o.op,
                    rel,
                    error: &error,
                });
                s.fail(o.op, rel, error);
            }
        }
    }
}

/// Runs the deletions: batched for OSS, one by one locally (a missing file counts as deleted).
async fn delete(
    shared: &Shared,
    dst: &Location,
    pending: PendingDeletes,
    summary: &mut Summary,
) -> Result<(), SyncError> {
    let batches = pending
        .into_batches(DELETE_BATCH)
        .map_err(|e| SyncError::io("reading back the list of deletions", e))?;
    for batch in batches {
        let batch = batch.map_err(|e| SyncError::io("reading back the list of deletions", e))?;
        let fail = |summary: &mut Summary, rel: &str, error: String| {
            shared.emit(Event::Failed {
                op: Op::Delete,
                rel,
                error: &error,
            });
            summary.fail(Op::Delete, rel, error);
        };
        match dst {
            Location::Oss { bucket, prefix } => {
                let keys: Vec<String> = batch.iter().map(|r| format!("{prefix}{r}")).collect();
                match shared.client.delete_objects(bucket, &keys, false).await {
                    Ok(deleted) => {
                        let deleted: HashSet<String> = deleted.into_iter().collect();
                        for (rel, key) in batch.iter().zip(&keys) {
                            if deleted.contains(key) {
                                summary.deleted += 1;
                                shared.emit(Event::Done {
                                    op: Op::Delete,
                                    rel,
                                    bytes: 0,
                                });
                            } else {
                                fail(summary, rel, "the server did not report it deleted".into());
                            }
                        }
                    }
                    Err(e) => {
                        let msg = e.to_string();
                        for rel in &batch {
                            fail(summary, rel, msg.clone());
                        }
                    }
                }
            }
            Location::Local(root) => {
                for rel in &batch {
                    let r = match local_path(root, rel) {
                        Ok(p) => match tokio::fs::remove_file(&p).await {
                            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                                Err(e.to_string())
                            }
                            _ => Ok(()),
                        },
                        Err(e) => Err(e),
                    };
                    match r {
                        Ok(()) => {
                            summary.deleted += 1;
                            shared.emit(Event::Done {
                                op: Op::Delete,
                                rel,
                                bytes: 0,
                            });
                        }
                        Err(e) => fail(summary, rel, e),
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs() {
        let l = Location::Local("x".into());
        assert!(matches!(Pair::new(&l, &l), Err(SyncError::Usage(_))));
        let a = Location::oss("b", "a");
        let ab = Location::oss("b", "a/b");
        let c = Location::oss("b", "c");
        assert!(Pair::new(&a, &ab).is_err() && Pair::new(&ab, &a).is_err());
        assert!(Pair::new(&a, &a).is_err());
        assert!(
            Pair::new(&Location::oss("b", ""), &c).is_err(),
            "the whole bucket contains c/"
        );
        assert!(Pair::new(&a, &c).is_ok());
        assert!(Pair::new(&a, &Location::oss("other", "a")).is_ok());
        assert_eq!(Pair::new(&a, &l).unwrap().mtime_rule(), MtimeRule::Differ);
        assert_eq!(
            Pair::new(&l, &a).unwrap().mtime_rule(),
            MtimeRule::SourceNewer
        );
    }

    #[test]
    fn local_paths_stay_under_the_root() {
        let root = Path::new("/r");
        assert_eq!(
            local_path(root, "a/é.txt").unwrap(),
            Path::new("/r/a/é.txt")
        );
        for bad in ["../x", "a/../b", "a//b", "./a", "/a", ""] {
            assert!(local_path(root, bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn mtime_meta_is_seconds_with_nanos() {
        let t = UNIX_EPOCH + std::time::Duration::new(1_700_000_000, 5);
        assert_eq!(mtime_meta(t).unwrap(), "1700000000.000000005");
    }
}
