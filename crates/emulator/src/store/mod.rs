//! The emulator's durable object store.
//!
//! One [`Store`] owns one data folder. Every operation is async and streams object bytes; the
//! in-memory index (a sorted map per bucket) is rebuilt from disk by [`Store::open`], which also
//! removes what interrupted writes left behind.
//!
//! ```text
//! <data_dir>/
//!   store.json                      {"format":2} (format 1 stores are upgraded at open)
//!   tmp/                            staging (new buckets, new uploads) and trash; emptied at open
//!   buckets/<bucket>/
//!     bucket.json                   BucketInfo, replaced atomically
//!     objects/
//!       <sha256(key)>.json          object record: ObjectInfo + data file name(s) (commit point)
//!       <random>.data               object bytes, referenced by exactly one record (an object
//!                                   completed from parts: one hard-linked part file each)
//!       <random>.tmp                in-flight record writes
//!     uploads/<upload id>/
//!       upload.json                 key, metadata, initiation time
//!       part-<nnnnn>.json           part record: PartInfo + data file name (commit point)
//!       <random>.data / .tmp        part bytes / in-flight writes
//! ```
//!
//! Guarantees:
//! * A write that returned `Ok` survives `kill -9` and (with `sync`, the default) power loss.
//! * No partially written object, part or bucket is ever visible, also not after a crash: each
//!   becomes visible by one atomic `rename` of a small JSON record written after its data.
//! * Concurrent writers of one key end with exactly one complete version (the last commit).
//! * A read sees the bytes of the version it started on, even if it is overwritten meanwhile.
//! * Keys never become paths; any valid key is safe.
//! * A request dropped mid-way (the client went away) leaves nothing half-done: its new files
//!   are removed, and a commit that already started finishes.
//!
//! Data files are sparse where the bytes allow: aligned 4 KiB blocks of zeros are written as
//! holes (a multi-GiB zero-filled object takes almost no disk; reads return the zeros).
//!
//! One process per data folder: the store does not lock the folder against a second process.

mod append;
mod body;
mod bucket;
mod chunks;
mod clock;
mod commit;
mod durable;
mod error;
mod layout;
mod list;
mod multipart;
mod names;
mod object;
mod read_pins;
mod recovery;
mod state;
mod types;

pub use body::ObjectBody;
pub use chunks::ObjectChunks;
pub use clock::{Clock, SystemClock};
pub use error::{Result, StoreError};
pub use multipart::{MAX_PART_NUMBER, MIN_PART_SIZE};
pub use names::{validate_bucket_name, validate_key, MAX_KEY_LEN};
pub use object::GetObjectOutput;
pub use types::*;

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::{Arc, RwLock};

use layout::Layout;
use read_pins::ReadPins;
use state::Bucket;
use tokio::sync::OwnedMutexGuard;

/// Stripes of per-key locks for read-modify-write of one object (append, ACL change).
const KEY_LOCK_STRIPES: usize = 64;

/// How to open a [`Store`].
#[derive(Clone)]
pub struct StoreConfig {
    pub clock: Arc<dyn Clock>,
    /// `Location` of buckets created without one.
    pub default_location: String,
    /// fsync files and folders. Only turn off for throw-away stores (tests, benchmarks):
    /// writes then survive a killed process but not a power cut.
    pub sync: bool,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            default_location: "oss-cn-hangzhou".to_owned(),
            sync: true,
        }
    }
}

impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreConfig")
            .field("default_location", &self.default_location)
            .field("sync", &self.sync)
            .finish_non_exhaustive()
    }
}

/// Handle to an open store; cheap to clone and share between request handlers.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    layout: Layout,
    clock: Arc<dyn Clock>,
    default_location: String,
    buckets: RwLock<BTreeMap<String, Arc<Bucket>>>,
    key_locks: Vec<Arc<tokio::sync::Mutex<()>>>,
    read_pins: Arc<ReadPins>,
    recovery: RecoveryReport,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("data_dir", &self.inner.layout.root())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating if needed) the store in `data_dir` with the default configuration.
    pub async fn open(data_dir: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(data_dir, StoreConfig::default()).await
    }

    /// Opens the store, rebuilding the index from disk and removing crash leftovers.
    pub async fn open_with(data_dir: impl AsRef<Path>, config: StoreConfig) -> Result<Self> {
        let layout = Layout::new(data_dir.as_ref().to_path_buf(), config.sync);
        let scan_layout = layout.clone();
        let (buckets, recovery) = blocking(move || recovery::recover(&scan_layout)).await?;
        Ok(Self {
            inner: Arc::new(Inner {
                layout,
                clock: config.clock,
                default_location: config.default_location,
                buckets: RwLock::new(buckets),
                key_locks: (0..KEY_LOCK_STRIPES)
                    .map(|_| Arc::new(tokio::sync::Mutex::new(())))
                    .collect(),
                read_pins: Arc::default(),
                recovery,
            }),
        })
    }

    /// The data folder.
    pub fn data_dir(&self) -> &Path {
        self.inner.layout.root()
    }

    /// What [`open`](Self::open) found and cleaned up.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.inner.recovery
    }

    fn layout(&self) -> &Layout {
        &self.inner.layout
    }

    /// Removes a data file no record refers to any more (once its last reader is done).
    fn remove_data(&self, path: &Path) {
        self.inner.read_pins.remove(path);
    }

    fn now_ms(&self) -> u64 {
        clock::unix_millis(self.inner.clock.now())
    }

    /// The live bucket called `name`.
    fn bucket(&self, name: &str) -> Result<Arc<Bucket>> {
        validate_bucket_name(name)?;
        self.inner
            .buckets
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
            .ok_or_else(|| StoreError::NoSuchBucket(name.to_owned()))
    }

    /// Locks the stripe of one object: serialises appends and ACL changes of a key (keys of a
    /// stripe share it; 64 stripes keep that rare). Owned, so a commit can carry it to the end
    /// even if the awaiting future is dropped.
    async fn lock_key(&self, bucket: &str, key: &str) -> OwnedMutexGuard<()> {
        let mut h = std::hash::DefaultHasher::new();
        (bucket, key).hash(&mut h);
        let stripe = &self.inner.key_locks[(h.finish() % KEY_LOCK_STRIPES as u64) as usize];
        stripe.clone().lock_owned().await
    }
}

/// Runs blocking file-system work off the async worker threads.
async fn blocking<T, F>(f: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(StoreError::Io(std::io::Error::other(e))),
    }
}
