//! Checkpoint files: what a transfer has finished, so a rerun can resume it.
//!
//! File format (JSON, format version [`VERSION`]):
//! ```json
//! { "body": { "version": 1, "direction": "upload", "bucket": "b", "key": "k",
//!             "local_path": "/abs/file", "part_size": 8388608, "parts_total": 3,
//!             "upload_id": "…", "temp_path": null,
//!             "source": { "file": { "size": 20000000, "mtime_ns": 1700000000000000000,
//!                                   "sample_crc64": 123 } },
//!             "put_options": "<sha256 of the upload's metadata>",
//!             "parts": [ { "part_number": 1, "etag": "\"…\"", "size": 8388608, "crc64": 42 } ] },
//!   "crc64": 1234 }
//! ```
//! `crc64` is the CRC-64 of the serialised `body`, so a damaged file that still parses is caught.

use std::collections::BTreeSet;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{io_err, TransferOptions};
use crate::error::Error;
use crate::ops::multipart::PartMeta;

/// Checkpoint format version; other versions are discarded.
pub(crate) const VERSION: u32 = 1;

/// How long a transfer waits for another one holding its checkpoint before it gives up: the
/// holder may be what a dropped transfer left running — a checkpoint write on the blocking
/// pool — which a rerun straight after the drop meets.
const LOCK_WAIT: Duration = Duration::from_secs(3);
const LOCK_POLL: Duration = Duration::from_millis(25);
/// The wait for a checkpoint held by a download's last step in this process
/// ([`LastStepCheckpoint`]): that step runs to its end even when its transfer is dropped,
/// fsyncing a possibly large file (about 0.6 s per GiB on a slow disk) before it removes the
/// checkpoint.
const LAST_STEP_LOCK_WAIT: Duration = Duration::from_secs(60);

/// Paths of the checkpoints held as [`LastStepCheckpoint`]s in this process.
static LAST_STEPS: std::sync::Mutex<BTreeSet<PathBuf>> = std::sync::Mutex::new(BTreeSet::new());

fn last_steps() -> std::sync::MutexGuard<'static, BTreeSet<PathBuf>> {
    LAST_STEPS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether a transfer that has waited `waited` for a held checkpoint gives up.
fn gives_up_waiting(waited: Duration, held_by_a_last_step: bool) -> bool {
    waited
        >= match held_by_a_last_step {
            true => LAST_STEP_LOCK_WAIT,
            false => LOCK_WAIT,
        }
}

/// Bytes sampled at the start, middle and end of a file for its fingerprint.
const SAMPLE: u64 = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Direction {
    Upload,
    Download,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Self::Upload => "upload",
            Self::Download => "download",
        }
    }
}

/// What the source looked like when the transfer started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Source {
    File {
        size: u64,
        mtime_ns: Option<u64>,
        sample_crc64: u64,
    },
    Object {
        etag: String,
        size: u64,
        crc64: Option<u64>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Checkpoint {
    pub version: u32,
    pub direction: Direction,
    pub bucket: String,
    pub key: String,
    pub local_path: String,
    pub part_size: u64,
    pub parts_total: u32,
    pub upload_id: Option<String>,
    pub temp_path: Option<String>,
    pub source: Source,
    pub put_options: Option<String>,
    /// Finished parts, by part number. Downloads leave `etag` empty.
    pub parts: Vec<PartMeta>,
}

impl Checkpoint {
    /// This state with `done` as its finished parts, for a write.
    pub fn snapshot(&mut self, done: &std::collections::BTreeMap<u32, PartMeta>) -> Checkpoint {
        self.parts = done.values().cloned().collect();
        self.clone()
    }
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    body: Checkpoint,
    crc64: u64,
}

/// What was found on disk.
#[derive(Debug)]
pub(crate) enum Loaded {
    None,
    /// Unreadable; `upload_id` when one could still be salvaged for an abort.
    Corrupt {
        upload_id: Option<String>,
    },
    Found(Box<Checkpoint>),
}

/// The checkpoint file of one (direction, local path, bucket, key), held exclusively: a second
/// transfer of the same pair (another process, or this one) is refused while this value lives.
#[derive(Debug)]
pub(crate) struct CheckpointFile {
    path: PathBuf,
    /// Shared with the writes of [`writer`](Self::writer): released after the last one ends.
    lock: Arc<CheckpointLock>,
}

impl CheckpointFile {
    /// Resolves the directory (creating it; the home default falls back to the temp dir) and
    /// the file name, and takes the checkpoint's advisory lock.
    pub async fn new(
        opts: &TransferOptions,
        direction: Direction,
        local: &Path,
        bucket: &str,
        key: &str,
    ) -> Result<Self, Error> {
        let path = Self::path_of(opts, direction, local, bucket, key)?;
        let started = tokio::time::Instant::now();
        loop {
            if let Some(lock) = CheckpointLock::try_acquire(&path)? {
                return Ok(Self {
                    path,
                    lock: Arc::new(lock),
                });
            }
            if gives_up_waiting(started.elapsed(), last_steps().contains(&path)) {
                // Once more: the holder may have ended since the first try.
                if let Some(lock) = CheckpointLock::try_acquire(&path)? {
                    return Ok(Self {
                        path,
                        lock: Arc::new(lock),
                    });
                }
                return Err(Error::from(std::io::Error::new(
                    std::io::ErrorKind::WouldBlock,
                    format!(
                        "another transfer is using the checkpoint {} ({} {} {} oss://{bucket}/{key}); \
                         wait for it to finish — two transfers of the same file and object \
                         would overwrite each other's parts",
                        path.display(),
                        direction.as_str(),
                        local.display(),
                        if direction == Direction::Upload { "to" } else { "from" },
                    ),
                )));
            }
            tokio::time::sleep(LOCK_POLL).await;
        }
    }

    /// Hands the checkpoint to a transfer's last step (see `commit_to_end`): while it lives, a
    /// rerun of the same transfer waits for it up to [`LAST_STEP_LOCK_WAIT`], not [`LOCK_WAIT`].
    pub fn into_last_step(self) -> LastStepCheckpoint {
        last_steps().insert(self.path.clone());
        LastStepCheckpoint { file: Some(self) }
    }

    /// [`new`](Self::new) when a checkpoint of this transfer may be on disk; `None` (after one
    /// stat per place, no lock file made) when none is.
    pub async fn open_existing(
        opts: &TransferOptions,
        direction: Direction,
        local: &Path,
        bucket: &str,
        key: &str,
    ) -> Result<Option<Self>, Error> {
        let probe = Self::probe(opts, direction, bucket, key);
        let path = local.to_owned();
        if !blocking(move || Ok(probe.may_exist(&path))).await? {
            return Ok(None);
        }
        Self::new(opts, direction, local, bucket, key)
            .await
            .map(Some)
    }

    /// Looks for checkpoints of (`direction`, some local path, `bucket`, `key`) without
    /// creating the directory or taking a lock (see [`CheckpointProbe`]).
    pub fn probe(
        opts: &TransferOptions,
        direction: Direction,
        bucket: &str,
        key: &str,
    ) -> CheckpointProbe {
        let mut dirs = vec![opts.resolved_checkpoint_dir()];
        if implicit_dir(opts) {
            dirs.push(fallback_dir());
        }
        CheckpointProbe {
            dirs,
            direction,
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        }
    }

    fn path_of(
        opts: &TransferOptions,
        direction: Direction,
        local: &Path,
        bucket: &str,
        key: &str,
    ) -> Result<PathBuf, Error> {
        let dir = checkpoint_dir(opts)?;
        Ok(dir.join(Self::file_name(direction, local, bucket, key)))
    }

    fn file_name(direction: Direction, local: &Path, bucket: &str, key: &str) -> String {
        let mut h = Sha256::new();
        for part in [
            direction.as_str().as_bytes(),
            local.as_os_str().as_encoded_bytes(),
            bucket.as_bytes(),
            key.as_bytes(),
        ] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part);
        }
        let digest = h.finalize();
        let name: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        format!("{}-{name}.json", direction.as_str())
    }

    pub async fn load(&self) -> Result<Loaded, Error> {
        let path = self.path.clone();
        blocking(move || match std::fs::read(&path) {
            Ok(bytes) => Ok(parse(&bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Loaded::None),
            Err(e) => Err(io_err(format!("reading {}", path.display()), e)),
        })
        .await
    }

    /// Atomically replaces the checkpoint: temp file, fsync, rename, fsync of the directory.
    pub async fn save(&self, cp: &Checkpoint) -> Result<(), Error> {
        let (path, cp) = (self.path.clone(), cp.clone());
        blocking(move || write_atomically(&path, &cp)).await
    }

    /// The same write as [`save`](Self::save), for a [`CheckpointWriter`] to run beside the
    /// part pipeline. Its writes hold the lock too: one still running on the blocking pool
    /// after its transfer was dropped keeps a rerun waiting, or the rerun could finish and
    /// remove the checkpoint before the stale write put it back.
    ///
    /// [`CheckpointWriter`]: super::checkpoint_writer::CheckpointWriter
    pub fn writer(&self) -> super::checkpoint_writer::CheckpointWriter {
        let (path, lock) = (self.path.clone(), self.lock.clone());
        super::checkpoint_writer::CheckpointWriter::new(Arc::new(move |cp| {
            let _held = &lock;
            write_atomically(&path, cp)
        }))
    }

    pub async fn remove(&self) {
        let path = self.path.clone();
        let _ = blocking(move || {
            let _ = std::fs::remove_file(&path);
            Ok(())
        })
        .await;
    }
}

/// A checkpoint held by a transfer's last step ([`CheckpointFile::into_last_step`]).
#[derive(Debug)]
pub(crate) struct LastStepCheckpoint {
    /// `Some` until dropped.
    file: Option<CheckpointFile>,
}

impl LastStepCheckpoint {
    pub async fn remove(&self) {
        if let Some(f) = &self.file {
            f.remove().await;
        }
    }
}

impl Drop for LastStepCheckpoint {
    /// The lock goes first, then the mark: a waiter never sees the mark gone while the lock is
    /// still held by this step.
    fn drop(&mut self) {
        if let Some(f) = self.file.take() {
            let path = f.path.clone();
            drop(f);
            last_steps().remove(&path);
        }
    }
}

/// Temp file, fsync, rename over `path`, fsync of the directory (blocking).
fn write_atomically(path: &Path, cp: &Checkpoint) -> Result<(), Error> {
    let bytes = serialize(cp);
    // Unique per write: a write left running by a dropped transfer must not share it.
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let tmp = path.with_extension(format!("json.tmp-{}-{seq}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        sync_dir(path);
        Ok(())
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io_err(format!("writing checkpoint {}", path.display()), e)
    })
}

/// An advisory lock on `<checkpoint>.lock` (`flock` on Unix, `LockFileEx` on Windows, via
/// std's `File::try_lock`): held by one open file, so it also excludes a second transfer in
/// the same process, and released by the OS when the process dies — a crash never leaves a
/// stale lock. The lock file is deleted while still locked when the transfer ends.
#[derive(Debug)]
struct CheckpointLock {
    path: PathBuf,
    /// `None` where the file system cannot lock (some network mounts): unguarded, as before.
    file: Option<std::fs::File>,
}

impl CheckpointLock {
    /// The lock, or `None` while another transfer holds it.
    fn try_acquire(checkpoint: &Path) -> Result<Option<Self>, Error> {
        let mut path = checkpoint.as_os_str().to_owned();
        path.push(".lock");
        let path = PathBuf::from(path);
        // A holder that finishes deletes the file it locked; if we locked such a file just
        // before it went, open the new one again (bounded: each round needs a finishing holder).
        for _ in 0..8 {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(|e| {
                    io_err(format!("opening the checkpoint lock {}", path.display()), e)
                })?;
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
                Err(std::fs::TryLockError::Error(e))
                    if e.kind() == std::io::ErrorKind::Unsupported =>
                {
                    drop(file);
                    let _ = std::fs::remove_file(&path);
                    return Ok(Some(Self { path, file: None }));
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(io_err(format!("locking {}", path.display()), e))
                }
            }
            if same_file(&file, &path) {
                return Ok(Some(Self {
                    path,
                    file: Some(file),
                }));
            }
        }
        Err(Error::from(std::io::Error::other(format!(
            "could not lock {}: it keeps being replaced",
            path.display()
        ))))
    }
}

impl Drop for CheckpointLock {
    fn drop(&mut self) {
        // Deleted while locked, so a waiting opener notices (see `acquire`).
        if let Some(f) = &self.file {
            let _ = std::fs::remove_file(&self.path);
            let _ = f.unlock();
        }
    }
}

/// The open file is still the one at `path` (not deleted or replaced since it was opened).
#[cfg(unix)]
fn same_file(file: &std::fs::File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(_: &std::fs::File, path: &Path) -> bool {
    path.exists()
}

fn checkpoint_dir(opts: &TransferOptions) -> Result<PathBuf, Error> {
    let dir = opts.resolved_checkpoint_dir();
    match std::fs::create_dir_all(&dir) {
        Ok(()) => Ok(dir),
        // Only the implicit home default falls back; an explicit directory must work.
        Err(_) if implicit_dir(opts) => {
            let tmp = fallback_dir();
            std::fs::create_dir_all(&tmp)
                .map_err(|e| io_err(format!("creating {}", tmp.display()), e))?;
            Ok(tmp)
        }
        Err(e) => Err(io_err(
            format!("creating the checkpoint directory {}", dir.display()),
            e,
        )),
    }
}

/// Every place [`CheckpointFile::new`] could put a checkpoint of one transfer, for a cheap
/// "is there one?" before the lock is worth taking.
#[derive(Debug)]
pub(crate) struct CheckpointProbe {
    dirs: Vec<PathBuf>,
    direction: Direction,
    bucket: String,
    key: String,
}

impl CheckpointProbe {
    /// Whether a checkpoint for `local` may be on disk (blocking: one stat per place):
    /// `false` only when none is; an unreadable place counts as "may be".
    pub fn may_exist(&self, local: &Path) -> bool {
        let name = CheckpointFile::file_name(self.direction, local, &self.bucket, &self.key);
        self.dirs
            .iter()
            .any(|d| d.join(&name).try_exists().unwrap_or(true))
    }
}

/// No directory was given (options or environment): the home default, which may fall back.
fn implicit_dir(opts: &TransferOptions) -> bool {
    opts.checkpoint_dir.is_none() && std::env::var_os(super::CHECKPOINT_DIR_ENV).is_none()
}

/// Where checkpoints go when the home default cannot be created.
pub(crate) fn fallback_dir() -> PathBuf {
    std::env::temp_dir().join("ossguard-checkpoints")
}

fn serialize(cp: &Checkpoint) -> Vec<u8> {
    let body = serde_json::to_vec(cp).expect("checkpoints serialise");
    let env = Envelope {
        body: cp.clone(),
        crc64: ossguard_proto::crc64::checksum(&body),
    };
    serde_json::to_vec_pretty(&env).expect("checkpoints serialise")
}

fn parse(bytes: &[u8]) -> Loaded {
    if let Ok(env) = serde_json::from_slice::<Envelope>(bytes) {
        let body = serde_json::to_vec(&env.body).expect("checkpoints serialise");
        if ossguard_proto::crc64::checksum(&body) == env.crc64 && env.body.version == VERSION {
            return Loaded::Found(Box::new(env.body));
        }
    }
    // Damaged or from another version: salvage the upload id if it is still legible, so the
    // caller can abort the upload it names.
    let upload_id = serde_json::from_slice::<serde_json::Value>(bytes)
        .ok()
        .and_then(|v| v.pointer("/body/upload_id")?.as_str().map(str::to_owned));
    Loaded::Corrupt { upload_id }
}

/// Fuzz entry (`fuzz/fuzz_targets/checkpoint.rs`): `bytes` as a whole checkpoint file, and,
/// when they are a checkpoint body, that body sealed with a correct CRC — so mutations reach
/// what a valid-looking hostile file does (the seeds are bodies). Whatever the input: no panic;
/// a sealed checkpoint loads as itself; the parts an upload would resume lie inside the plan,
/// with the plan's sizes.
#[doc(hidden)]
pub fn fuzz_one(bytes: &[u8]) {
    let _ = parse(bytes);
    let Ok(cp) = serde_json::from_slice::<Checkpoint>(bytes) else {
        return;
    };
    match parse(&serialize(&cp)) {
        Loaded::Found(again) => assert_eq!(*again, cp),
        _ => {
            assert_ne!(
                cp.version, VERSION,
                "a sealed current-version checkpoint must load"
            );
            return;
        }
    }
    let size = match &cp.source {
        Source::File { size, .. } | Source::Object { size, .. } => *size,
    };
    let Ok(plan) = super::Plan::new(size, cp.part_size) else {
        return;
    };
    for (n, p) in super::upload::verified_parts(&plan, &cp.parts, &cp.parts) {
        assert!((1..=plan.parts).contains(&n) && p.size == plan.range(n).1);
    }
}

#[cfg(unix)]
pub(crate) fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent() {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

#[cfg(not(unix))]
pub(crate) fn sync_dir(_: &Path) {}

/// Fsyncs the directory holding `path` (after a rename into it); best effort.
pub(crate) async fn sync_parent(path: &Path) {
    let path = path.to_owned();
    let _ = blocking(move || {
        sync_dir(&path);
        Ok(())
    })
    .await;
}

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(Error::from(std::io::Error::other(e.to_string()))))
}

/// Size, mtime and the CRC-64 of the first, middle and last 64 KiB of a file.
pub(crate) async fn file_fingerprint(path: &Path) -> Result<Source, Error> {
    let path = path.to_owned();
    blocking(move || {
        let ctx = |e| io_err(format!("reading {}", path.display()), e);
        let mut f = std::fs::File::open(&path).map_err(ctx)?;
        let meta = f.metadata().map_err(ctx)?;
        let size = meta.len();
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .and_then(|d| u64::try_from(d.as_nanos()).ok());
        let mut crc = ossguard_proto::crc64::Crc64::new();
        let mut buf = vec![0u8; SAMPLE as usize];
        let mid = (size / 2).saturating_sub(SAMPLE / 2);
        for off in [0, mid, size.saturating_sub(SAMPLE)] {
            let n = SAMPLE.min(size - off) as usize;
            f.seek(SeekFrom::Start(off)).map_err(ctx)?;
            f.read_exact(&mut buf[..n]).map_err(ctx)?;
            crc.update(&buf[..n]);
        }
        Ok(Source::File {
            size,
            mtime_ns,
            sample_crc64: crc.value(),
        })
    })
    .await
}

/// A stable digest of upload metadata (a resumed upload must not change it): SHA-256 of a
/// versioned, length-prefixed encoding of what [`PutObjectOptions::apply`] sends — not of Rust's
/// `Debug` text, which may change with any compiler or refactoring. Each field is written as
/// `tag, length, bytes` only when set, so a field added later (absent in old uploads) leaves
/// existing digests unchanged; a change of meaning bumps the `v1` prefix.
///
/// [`PutObjectOptions::apply`]: crate::ops::object::PutObjectOptions
pub(crate) fn put_options_digest(put: &crate::ops::object::PutObjectOptions) -> String {
    let mut h = Sha256::new();
    let mut field = |tag: &str, value: &[u8]| {
        for part in [tag.as_bytes(), value] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part);
        }
    };
    field("ossguard-put-options", b"v1");
    for (tag, v) in [
        ("content-type", &put.content_type),
        ("cache-control", &put.cache_control),
        ("content-disposition", &put.content_disposition),
        ("content-encoding", &put.content_encoding),
        ("x-oss-object-acl", &put.acl),
        ("x-oss-storage-class", &put.storage_class),
    ] {
        if let Some(v) = v {
            field(tag, v.as_bytes());
        }
    }
    // Sent lower-cased (sorted here, as a BTreeMap of the originals might not be).
    let mut meta: Vec<(String, &str)> = put
        .metadata
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str()))
        .collect();
    meta.sort();
    for (k, v) in meta {
        field(&format!("x-oss-meta-{k}"), v.as_bytes());
    }
    if put.forbid_overwrite {
        field("x-oss-forbid-overwrite", b"true");
    }
    let d = h.finalize();
    format!(
        "v1:{}",
        d.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fuzz_seeds_reach_the_resume_checks() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/checkpoint");
        let mut n = 0;
        for e in std::fs::read_dir(&dir).unwrap() {
            let bytes = std::fs::read(e.unwrap().path()).unwrap();
            let cp: Checkpoint = serde_json::from_slice(&bytes).unwrap();
            assert!(matches!(parse(&serialize(&cp)), Loaded::Found(_)));
            fuzz_one(&bytes);
            n += 1;
        }
        assert!(n >= 2);
    }

    fn sample() -> Checkpoint {
        Checkpoint {
            version: VERSION,
            direction: Direction::Upload,
            bucket: "b".into(),
            key: "ключ".into(),
            local_path: "/x".into(),
            part_size: 1,
            parts_total: 2,
            upload_id: Some("UPLOAD".into()),
            temp_path: None,
            source: Source::File {
                size: 2,
                mtime_ns: Some(3),
                sample_crc64: 4,
            },
            put_options: None,
            parts: vec![PartMeta {
                part_number: 1,
                etag: "\"E\"".into(),
                size: 1,
                crc64: Some(5),
            }],
        }
    }

    #[test]
    fn round_trip_and_damage() {
        let bytes = serialize(&sample());
        match parse(&bytes) {
            Loaded::Found(cp) => assert_eq!(*cp, sample()),
            other => panic!("{other:?}"),
        }
        // A digit changed: still JSON, but the CRC catches it; the upload id is salvaged.
        let text = String::from_utf8(bytes).unwrap();
        let damaged = text.replace("\"size\": 2", "\"size\": 9");
        assert_ne!(damaged, text);
        match parse(damaged.as_bytes()) {
            Loaded::Corrupt { upload_id } => assert_eq!(upload_id.as_deref(), Some("UPLOAD")),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(b"\x00\xffgarbage"),
            Loaded::Corrupt { upload_id: None }
        ));
        let mut old = sample();
        old.version = 0;
        assert!(matches!(parse(&serialize(&old)), Loaded::Corrupt { .. }));
    }

    #[test]
    fn put_options_digest_is_a_fixed_encoding() {
        use crate::ops::object::PutObjectOptions;
        let mut o = PutObjectOptions {
            content_type: Some("text/plain".into()),
            acl: Some("private".into()),
            ..Default::default()
        };
        o.metadata.insert("Owner".into(), "me".into());
        // Golden values (computed independently with Python's hashlib from the encoding described
        // above): a change here breaks resuming every kept upload; bump `v1` instead.
        assert_eq!(
            put_options_digest(&PutObjectOptions::default()),
            "v1:e52ec81d327d0d40da0ec8b621cf08c4b1392347c2ef9c1bc1a6f48554f67b4a"
        );
        assert_eq!(
            put_options_digest(&o),
            "v1:3c40fe17937bf278a488425a1984191035aff37fe592108fb2e8c447652fd760"
        );
        let base = put_options_digest(&o);
        type Change = Box<dyn Fn(&mut PutObjectOptions)>;
        let variants: Vec<Change> = vec![
            Box::new(|o| o.content_type = Some("text/html".into())),
            Box::new(|o| o.content_type = None),
            Box::new(|o| o.cache_control = Some("no-cache".into())),
            Box::new(|o| o.storage_class = Some("IA".into())),
            Box::new(|o| o.forbid_overwrite = true),
            Box::new(|o| {
                o.metadata.insert("owner".into(), "you".into());
            }),
            // The same bytes under another field must not collide.
            Box::new(|o| {
                o.content_type = None;
                o.cache_control = Some("text/plain".into());
            }),
        ];
        for change in variants {
            let mut v = o.clone();
            change(&mut v);
            assert_ne!(put_options_digest(&v), base, "{v:?}");
        }
    }

    #[test]
    fn the_lock_is_waited_for_longer_while_this_process_finishes_transfers() {
        let ms = Duration::from_millis;
        assert!(!gives_up_waiting(LOCK_WAIT - ms(1), false));
        assert!(gives_up_waiting(LOCK_WAIT, false));
        assert!(!gives_up_waiting(LOCK_WAIT + ms(1), true));
        assert!(!gives_up_waiting(LAST_STEP_LOCK_WAIT - ms(1), true));
        assert!(gives_up_waiting(LAST_STEP_LOCK_WAIT, true));
    }

    #[tokio::test(start_paused = true)]
    async fn a_checkpoint_held_by_a_last_step_is_waited_for_longer() {
        let dir = tempfile::tempdir().unwrap();
        let opts = TransferOptions {
            checkpoint_dir: Some(dir.path().to_owned()),
            ..Default::default()
        };
        let open =
            || CheckpointFile::new(&opts, Direction::Download, Path::new("/data/f"), "b", "k");
        let last_step = open().await.unwrap().into_last_step();
        let started = tokio::time::Instant::now();
        let (second, ()) = tokio::join!(open(), async {
            tokio::time::sleep(LOCK_WAIT * 4).await;
            drop(last_step);
        });
        let second = second.expect("waited for the last step");
        assert!(started.elapsed() >= LOCK_WAIT * 4);
        // The mark went with the step: an ordinary holder is waited for LOCK_WAIT only.
        let started = tokio::time::Instant::now();
        assert!(open().await.is_err());
        assert!(started.elapsed() < LOCK_WAIT * 2, "{:?}", started.elapsed());
        drop(second);
    }

    #[tokio::test(start_paused = true)]
    async fn a_second_holder_of_a_checkpoint_waits_a_while_then_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let opts = TransferOptions {
            checkpoint_dir: Some(dir.path().to_owned()),
            ..Default::default()
        };
        let open = || CheckpointFile::new(&opts, Direction::Upload, Path::new("/data/f"), "b", "k");
        let first = open().await.unwrap();
        let started = tokio::time::Instant::now();
        let e = open().await.unwrap_err();
        assert!(started.elapsed() >= LOCK_WAIT, "{:?}", started.elapsed());
        let msg = e.to_string();
        assert!(
            msg.contains(&first.path.display().to_string()) && msg.contains("another transfer"),
            "{msg}"
        );
        // Another pair is independent.
        CheckpointFile::new(&opts, Direction::Download, Path::new("/data/f"), "b", "k")
            .await
            .unwrap();
        // A holder that ends while the second one waits hands it over.
        let (second, ()) = tokio::join!(open(), async {
            tokio::time::sleep(LOCK_WAIT / 2).await;
            drop(first);
        });
        drop(second.unwrap());
        // Released (and its lock file removed) when the holder ends.
        let again = open().await.unwrap();
        drop(again);
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn checkpoint_writes_hold_the_lock_after_their_transfer_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let opts = TransferOptions {
            checkpoint_dir: Some(dir.path().to_owned()),
            ..Default::default()
        };
        let open = || CheckpointFile::new(&opts, Direction::Upload, Path::new("/data/g"), "b", "k");
        let first = open().await.unwrap();
        // Stands for a write still on the blocking pool when its transfer was dropped.
        let writer = first.writer();
        drop(first);
        let e = open().await.unwrap_err().to_string();
        assert!(e.contains("another transfer"), "{e}");
        drop(writer);
        open().await.unwrap();
    }

    #[test]
    fn names_are_deterministic_and_distinct() {
        let dir = std::env::temp_dir().join("ossguard-cp-name-test");
        let opts = TransferOptions {
            checkpoint_dir: Some(dir.clone()),
            ..Default::default()
        };
        let n = |d, p: &str, b: &str, k: &str| {
            CheckpointFile::path_of(&opts, d, Path::new(p), b, k).unwrap()
        };
        let a = n(Direction::Upload, "/a", "b", "k");
        assert_eq!(a, n(Direction::Upload, "/a", "b", "k"));
        assert!(a.starts_with(&dir));
        for other in [
            n(Direction::Download, "/a", "b", "k"),
            n(Direction::Upload, "/a", "bk", ""),
            n(Direction::Upload, "/a", "b", "k2"),
            n(Direction::Upload, "/b", "b", "k"),
        ] {
            assert_ne!(a, other);
        }
    }
}
