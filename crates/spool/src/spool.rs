//! The spool handle: open (with recovery), enqueue (the durable acknowledgement), list, drop.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use bytes::Bytes;
use tokio::io::AsyncRead;

use crate::error::{IoContext, SpoolError};
use crate::fsio::{self, BodyInfo, PART};
use crate::model::{EntryState, RecoveryReport, SpoolEntry, SpoolId, SpoolPut, SpoolStats};
use crate::record::{self, Record};
use crate::recover;

/// Sequence numbers are reserved on disk this many at a time, so an enqueue rarely pays an
/// extra fsync for the high-water mark; a restart skips the rest of a block.
const SEQ_BLOCK: u64 = 1024;

/// Spool settings.
#[derive(Debug, Clone)]
pub struct SpoolOptions {
    /// Refuse an enqueue that would take the spooled body bytes over this. Default: `None`
    /// (bounded only by the disk).
    pub max_bytes: Option<u64>,
    /// Read every body at open and check its CRC-64 (a damaged entry is quarantined then
    /// rather than at replay). Default: `true`.
    pub verify_on_open: bool,
    /// Send [`crate::PutCondition::IfMatch`] with a replayed PUT whose base is an ETag, on top
    /// of the HEAD check. Default: `false` — OSS documents no If-Match on PutObject; turn it on
    /// only for a target known to honour it.
    pub send_if_match: bool,
}

impl Default for SpoolOptions {
    fn default() -> Self {
        Self {
            max_bytes: None,
            verify_on_open: true,
            send_if_match: false,
        }
    }
}

/// A body to spool. Bytes and files are streamed to disk like readers: memory stays at one
/// 256 KiB chunk whatever the size.
pub enum SpoolBody {
    Bytes(Bytes),
    /// A local file, read once at enqueue (later changes to it do not matter).
    File(PathBuf),
    Reader(Box<dyn AsyncRead + Send + Unpin>),
}

impl SpoolBody {
    pub fn file(path: impl Into<PathBuf>) -> Self {
        Self::File(path.into())
    }

    pub fn reader(reader: impl AsyncRead + Send + Unpin + 'static) -> Self {
        Self::Reader(Box::new(reader))
    }
}

impl From<Bytes> for SpoolBody {
    fn from(b: Bytes) -> Self {
        Self::Bytes(b)
    }
}

impl From<Vec<u8>> for SpoolBody {
    fn from(b: Vec<u8>) -> Self {
        Self::Bytes(b.into())
    }
}

impl From<&'static [u8]> for SpoolBody {
    fn from(b: &'static [u8]) -> Self {
        Self::Bytes(Bytes::from_static(b))
    }
}

impl std::fmt::Debug for SpoolBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bytes(b) => write!(f, "SpoolBody::Bytes({} bytes)", b.len()),
            Self::File(p) => write!(f, "SpoolBody::File({})", p.display()),
            Self::Reader(_) => write!(f, "SpoolBody::Reader"),
        }
    }
}

/// The crash-safe write spool (see the crate docs for the format and the argument). Cheap to
/// clone: clones share one spool. One process at a time per directory (an exclusive lock).
#[derive(Clone)]
pub struct Spool {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool")
            .field("dir", &self.inner.dir)
            .field("stats", &self.stats())
            .finish()
    }
}

pub(crate) struct Inner {
    pub dir: PathBuf,
    pub entries: PathBuf,
    pub quarantine: PathBuf,
    pub opts: SpoolOptions,
    /// Memory mirrors disk: every change to `entries/` happens with this lock held.
    pub state: Mutex<State>,
    pub replaying: AtomicBool,
    tmp_counter: AtomicU64,
    recovery: RecoveryReport,
    // Held for the life of the spool: the directory's exclusive lock.
    _lock: File,
}

#[derive(Default)]
pub(crate) struct State {
    pub records: BTreeMap<u64, Record>,
    pub next_seq: u64,
    /// Every sequence number below this one may have been handed out (durable in `SEQ`).
    pub reserved: u64,
    pub in_flight: Option<u64>,
    pub enqueued: u64,
    pub replayed: u64,
    pub conflicts: u64,
    pub dropped: u64,
    pub quarantined: u64,
}

impl Inner {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave memory and disk apart in a way the next
        // operation could not see: keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Spool {
    /// Opens (creating if needed) the spool in `dir` with default options. Blocking (recovery
    /// reads every body once): inside async code call it from `spawn_blocking`.
    pub fn open(dir: impl AsRef<Path>) -> Result<Spool, SpoolError> {
        Self::open_with(dir, SpoolOptions::default())
    }

    /// [`Spool::open`] with options. What recovery found is in [`Spool::recovery`].
    pub fn open_with(dir: impl AsRef<Path>, opts: SpoolOptions) -> Result<Spool, SpoolError> {
        let dir = dir.as_ref().to_path_buf();
        let entries = fsio::entries_dir(&dir);
        let quarantine = fsio::quarantine_dir(&dir);
        for d in [&dir, &entries, &quarantine] {
            fs::create_dir_all(d).ctx("create directory", d)?;
        }
        let lock_path = dir.join("LOCK");
        let lock = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .ctx("open", &lock_path)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(SpoolError::Locked(dir)),
            Err(fs::TryLockError::Error(e)) => return Err(e).ctx("lock", lock_path),
        }
        let (records, recovery) = recover::recover(&entries, &quarantine, opts.verify_on_open)?;
        let seq_path = dir.join("SEQ");
        let stored = match fs::read(&seq_path) {
            Ok(b) => record::decode_seq(&b).unwrap_or(0),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e).ctx("read", seq_path),
        };
        let after_entries = records.keys().next_back().map_or(1, |s| s + 1);
        let next_seq = stored.max(after_entries).max(1);
        let state = State {
            records,
            next_seq,
            reserved: next_seq,
            quarantined: recovery.quarantined.len() as u64,
            ..State::default()
        };
        Ok(Spool {
            inner: Arc::new(Inner {
                dir,
                entries,
                quarantine,
                opts,
                state: Mutex::new(state),
                replaying: AtomicBool::new(false),
                tmp_counter: AtomicU64::new(0),
                recovery,
                _lock: lock,
            }),
        })
    }

    /// A read-only snapshot of the entries in `dir`, for `ossguard spool list` while another
    /// process holds the spool: takes no lock, repairs nothing, skips records that do not
    /// verify and does not read bodies.
    pub fn inspect(dir: impl AsRef<Path>) -> Result<Vec<SpoolEntry>, SpoolError> {
        let entries = fsio::entries_dir(dir.as_ref());
        let mut out = Vec::new();
        for item in fs::read_dir(&entries).ctx("list", &entries)? {
            let item = item.ctx("list", &entries)?;
            let name = item.file_name();
            let Some((seq, true)) = fsio::parse_name(&name.to_string_lossy()) else {
                continue;
            };
            // A record replayed or dropped meanwhile is simply gone.
            let Ok(bytes) = fs::read(item.path()) else {
                continue;
            };
            if let Some(rec) = Record::decode(&bytes).ok().filter(|r| r.seq == seq) {
                out.push(rec.entry());
            }
        }
        out.sort_by_key(|e| e.seq);
        Ok(out)
    }

    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// What [`Spool::open`] recovered, removed and quarantined.
    pub fn recovery(&self) -> &RecoveryReport {
        &self.inner.recovery
    }

    /// Journals a PUT. When this returns `Ok`, the body and its record are on disk and fsynced
    /// (file and directory): the write is *spooled* — not stored on OSS. Bodies are streamed.
    /// Dropping the future before it returns removes the partial body; once the commit
    /// started, the entry completes (a spooled write nobody was told about, as after a crash).
    pub async fn enqueue(
        &self,
        put: SpoolPut,
        body: impl Into<SpoolBody>,
    ) -> Result<SpoolId, SpoolError> {
        record::validate(&put).map_err(SpoolError::InvalidPut)?;
        let n = self.inner.tmp_counter.fetch_add(1, Ordering::Relaxed);
        let tmp = self.inner.entries.join(format!("incoming-{n}.body{PART}"));
        let guard = TmpGuard(Some(tmp.clone()));
        let info = match body.into() {
            SpoolBody::Bytes(b) => {
                self.check_room(b.len() as u64)?;
                fsio::stream_to_file(&mut &b[..], &tmp).await?
            }
            SpoolBody::File(path) => {
                let mut f = tokio::fs::File::open(&path).await.ctx("open", &path)?;
                let len = f.metadata().await.ctx("stat", &path)?.len();
                self.check_room(len)?;
                fsio::stream_to_file(&mut f, &tmp).await?
            }
            SpoolBody::Reader(mut r) => fsio::stream_to_file(&mut r, &tmp).await?,
        };
        guard.disarm();
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || commit(&inner, put, info, &tmp))
            .await
            .expect("the spool commit does not panic")
    }

    fn check_room(&self, len: u64) -> Result<(), SpoolError> {
        let Some(limit) = self.inner.opts.max_bytes else {
            return Ok(());
        };
        let used = bytes_of(&self.inner.lock());
        match used.saturating_add(len) > limit {
            true => Err(SpoolError::Full { used, len, limit }),
            false => Ok(()),
        }
    }

    /// Every entry on disk (pending and in conflict), in sequence (= replay) order.
    pub fn pending(&self) -> Vec<SpoolEntry> {
        self.inner
            .lock()
            .records
            .values()
            .map(Record::entry)
            .collect()
    }

    /// Counters for metrics.
    pub fn stats(&self) -> SpoolStats {
        let s = self.inner.lock();
        let conflicted = s
            .records
            .values()
            .filter(|r| matches!(r.state, EntryState::Conflict { .. }))
            .count() as u64;
        SpoolStats {
            pending: s.records.len() as u64 - conflicted,
            conflicted,
            bytes: bytes_of(&s),
            enqueued_total: s.enqueued,
            replayed_total: s.replayed,
            conflicts_total: s.conflicts,
            dropped_total: s.dropped,
            quarantined_total: s.quarantined,
        }
    }

    /// Removes an entry (pending or in conflict) without replaying it. Blocking for two
    /// unlinks and a directory fsync.
    pub fn drop_entry(&self, id: SpoolId) -> Result<SpoolEntry, SpoolError> {
        let inner = &self.inner;
        let mut s = inner.lock();
        if s.in_flight == Some(id.0) {
            return Err(SpoolError::Busy(id));
        }
        let entry = s
            .records
            .get(&id.0)
            .ok_or(SpoolError::NotFound(id))?
            .entry();
        remove_entry(inner, id.0)?;
        s.records.remove(&id.0);
        s.dropped += 1;
        Ok(entry)
    }
}

/// Removes a half-written body when `enqueue` fails or is cancelled before its commit.
struct TmpGuard(Option<PathBuf>);

impl TmpGuard {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for TmpGuard {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = fs::remove_file(path);
        }
    }
}

fn bytes_of(s: &State) -> u64 {
    s.records.values().map(|r| r.size).sum()
}

/// Record first (the entry's commit point goes), then body, then the directory.
pub(crate) fn remove_entry(inner: &Inner, seq: u64) -> Result<(), SpoolError> {
    fsio::remove_if_exists(&inner.entries.join(fsio::rec_name(seq)))?;
    fsio::remove_if_exists(&inner.entries.join(fsio::body_name(seq)))?;
    fsio::sync_dir(&inner.entries)
}

/// The acknowledgement: under the state lock (so entries become visible in sequence order),
/// body renamed to its final name, record written + fsynced + renamed, directory fsynced.
fn commit(inner: &Inner, put: SpoolPut, info: BodyInfo, tmp: &Path) -> Result<SpoolId, SpoolError> {
    let mut s = inner.lock();
    if let Some(limit) = inner.opts.max_bytes {
        let used = bytes_of(&s);
        if used.saturating_add(info.len) > limit {
            let _ = fs::remove_file(tmp);
            return Err(SpoolError::Full {
                used,
                len: info.len,
                limit,
            });
        }
    }
    let seq = s.next_seq;
    if seq >= s.reserved {
        let reserve = seq + SEQ_BLOCK;
        let written = fsio::write_replace(&inner.dir, "SEQ", &record::encode_seq(reserve))
            .and_then(|()| fsio::sync_dir(&inner.dir));
        if let Err(e) = written {
            let _ = fs::remove_file(tmp);
            return Err(e);
        }
        s.reserved = reserve;
    }
    // From here on the number is burnt, whatever happens.
    s.next_seq = seq + 1;
    let rec = Record {
        seq,
        put,
        size: info.len,
        crc64: info.crc64,
        md5: record::hex(&info.md5),
        enqueued_at_ms: record::unix_ms(SystemTime::now()),
        state: EntryState::Pending,
        base: None,
    };
    let body = inner.entries.join(fsio::body_name(seq));
    let written = fs::rename(tmp, &body)
        .ctx("rename into place", &body)
        .and_then(|()| fsio::write_replace(&inner.entries, &fsio::rec_name(seq), &rec.encode()))
        .and_then(|()| fsio::sync_dir(&inner.entries));
    if let Err(e) = written {
        let _ = fs::remove_file(tmp);
        let _ = remove_entry(inner, seq);
        return Err(e);
    }
    s.records.insert(seq, rec);
    s.enqueued += 1;
    Ok(SpoolId(seq))
}
