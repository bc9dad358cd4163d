//! The cache handle: lookups, removal, TTL clean-up, statistics. Fills are in `fill.rs`, reads of
//! a hit in `hit.rs`, opening in `recover.rs`.
//!
//! Consistency rule: a metadata file is renamed in or unlinked only while holding the state lock,
//! together with the matching index change, so the index always equals the metadata on disk.
//! Body files are immutable: renamed in before their metadata, unlinked after it is gone.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use crate::clock::{Clock, SystemClock};
use crate::fsutil::{remove_quiet, rename, sync_dir, write_new};
use crate::hit::Hit;
use crate::index::{Index, Slot};
use crate::layout::{key_hash, Hash, Layout};
use crate::meta::DiskMeta;
use crate::recover;
use crate::stats::Counters;
use crate::{CacheConfig, CacheError, CacheStats, EntryMeta, RecoveryReport};

/// A persistent, size-bounded object cache in one directory. Cheap to clone (an `Arc`); share it
/// between threads. Blocking file I/O: from async code call [`crate::Filler::commit`] (it fsyncs)
/// and [`Cache::open`] from `spawn_blocking`; lookups touch only small files and the page cache.
#[derive(Clone)]
pub struct Cache {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub layout: Layout,
    pub config: CacheConfig,
    pub clock: Arc<dyn Clock>,
    pub state: Mutex<State>,
    pub counters: Counters,
    recovery: RecoveryReport,
}

#[derive(Default)]
pub(crate) struct State {
    pub index: Index,
    /// Keys being filled → cancelled (a remove or purge ran meanwhile: do not commit).
    pub in_flight: HashMap<Hash, bool>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("dir", &self.inner.layout.root)
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Cache {
    /// Opens (or creates) the cache in `dir` with the system clock. Recovers from a crash: deletes
    /// temp files and orphaned bodies, drops entries whose metadata or body size do not check out,
    /// rebuilds the byte total (see [`Cache::recovery`]). `dir` must be empty, new or a cache.
    pub fn open(dir: impl AsRef<Path>, config: CacheConfig) -> Result<Self, CacheError> {
        Self::open_with_clock(dir, config, Arc::new(SystemClock))
    }

    /// [`Cache::open`] with an injected clock (tests: [`crate::ManualClock`]).
    pub fn open_with_clock(
        dir: impl AsRef<Path>,
        config: CacheConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, CacheError> {
        let layout = Layout::new(dir.as_ref());
        recover::claim(&layout, config.durable)?;
        let mut recovery = RecoveryReport {
            temp_removed: recover::wipe_temp(&layout)?,
            ..Default::default()
        };
        let index = recover::rebuild(&layout, config.max_bytes, &mut recovery)?;
        let counters = Counters::default();
        Counters::add(&counters.corrupt_discarded, recovery.corrupt_discarded);
        Counters::add(&counters.evictions, recovery.evicted);
        Ok(Cache {
            inner: Arc::new(Inner {
                layout,
                config,
                clock,
                state: Mutex::new(State {
                    index,
                    in_flight: HashMap::new(),
                }),
                counters,
                recovery,
            }),
        })
    }

    /// What [`Cache::open`] found and repaired.
    pub fn recovery(&self) -> &RecoveryReport {
        &self.inner.recovery
    }

    /// The configuration the cache was opened with.
    pub fn config(&self) -> &CacheConfig {
        &self.inner.config
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.inner.layout.root
    }

    /// The cache's clock reading (pass it to [`Hit::freshness`]).
    pub fn now(&self) -> SystemTime {
        self.inner.clock.now()
    }

    /// Looks `bucket/key` up. `Some` only when its metadata verifies (checksum, same key, body
    /// file present with the recorded size); a bad entry is removed, counted in
    /// `corrupt_discarded` and reported as a miss. The body's CRC-64 is checked by [`Hit::bytes`].
    pub fn get(&self, bucket: &str, key: &str) -> Result<Option<Hit>, CacheError> {
        let h = key_hash(bucket, key);
        let now = self.now();
        let inner = &self.inner;
        let mut st = inner.lock();
        let Some(slot) = st.index.get(&h).cloned() else {
            Counters::add(&inner.counters.misses, 1);
            return Ok(None);
        };
        match inner.open_entry(&h, &slot)? {
            Ok(file) => {
                st.index.touch(&h);
                drop(st);
                Counters::add(&inner.counters.hits, 1);
                Ok(Some(Hit::new(self.inner.clone(), h, slot, file, now)))
            }
            Err(_reason) => {
                inner.discard_locked(&mut st, &h)?;
                Counters::add(&inner.counters.misses, 1);
                Ok(None)
            }
        }
    }

    /// Marks `bucket/key` as revalidated (OSS answered 304): `stored_at` becomes now, so it is
    /// fresh again. Returns the updated metadata, `None` when the entry is absent (or was
    /// replaced meanwhile, which is fresher anyway).
    pub fn refresh(&self, bucket: &str, key: &str) -> Result<Option<EntryMeta>, CacheError> {
        let inner = &self.inner;
        let h = key_hash(bucket, key);
        let Some(slot) = inner.lock().index.get(&h).cloned() else {
            return Ok(None);
        };
        let mut entry = slot.meta;
        entry.stored_at = self.now();
        let temp = inner.layout.temp(&h);
        let doc = DiskMeta {
            entry: entry.clone(),
            body: slot.body,
        };
        if let Err(e) = write_new(&temp, &doc.encode(), inner.config.durable) {
            let _ = remove_quiet(&temp);
            return Err(e);
        }
        {
            let mut st = inner.lock();
            if st.index.get(&h).map(|s| s.body) != Some(slot.body) {
                drop(st);
                remove_quiet(&temp)?;
                return Ok(None);
            }
            if let Err(e) = rename(&temp, &inner.layout.meta(&h)) {
                let _ = remove_quiet(&temp);
                return Err(e);
            }
            st.index.update_meta(&h, entry.clone());
            st.index.touch(&h);
        }
        if inner.config.durable {
            sync_dir(&inner.layout.shard(&h))?;
        }
        Ok(Some(entry))
    }

    /// Removes `bucket/key` (e.g. its ETag no longer matches OSS). A fill of it running now is
    /// cancelled. Returns whether an entry was removed.
    pub fn remove(&self, bucket: &str, key: &str) -> Result<bool, CacheError> {
        let h = key_hash(bucket, key);
        let body = {
            let mut st = self.inner.lock();
            if let Some(cancelled) = st.in_flight.get_mut(&h) {
                *cancelled = true;
            }
            self.inner.remove_locked(&mut st, &h)?
        };
        match body {
            Some(body) => {
                remove_quiet(&body)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Removes `bucket/key` only while its stored ETag is still `etag`: the periodic check
    /// against OSS must not drop an entry refilled since it listed [`Cache::entries`]. Running
    /// fills are left alone (they started after the listing). Returns whether it was removed.
    pub fn remove_if_etag(
        &self,
        bucket: &str,
        key: &str,
        etag: Option<&str>,
    ) -> Result<bool, CacheError> {
        let h = key_hash(bucket, key);
        let body = {
            let mut st = self.inner.lock();
            match st.index.get(&h) {
                Some(slot) if slot.meta.etag.as_deref() == etag => {
                    self.inner.remove_locked(&mut st, &h)?
                }
                _ => None,
            }
        };
        match body {
            Some(body) => {
                remove_quiet(&body)?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Removes every entry and cancels running fills. Returns how many entries were removed.
    pub fn purge(&self) -> Result<usize, CacheError> {
        let mut st = self.inner.lock();
        st.in_flight.values_mut().for_each(|c| *c = true);
        let all = st.index.hashes();
        let (bodies, failed) = self.inner.remove_all_locked(&mut st, &all);
        drop(st);
        let n = self.inner.unlink_bodies(&bodies)?;
        failed.map_or(Ok(n), Err)
    }

    /// Deletes entries older than the TTL (`stored_at + ttl <= now`). Run it periodically (the
    /// seed: daily). Returns how many were removed; counted in `expired_removed`.
    pub fn clean_expired(&self) -> Result<usize, CacheError> {
        let Some(cutoff) = self.now().checked_sub(self.inner.config.ttl) else {
            return Ok(0);
        };
        let mut st = self.inner.lock();
        let old = st.index.stored_before(cutoff);
        let (bodies, failed) = self.inner.remove_all_locked(&mut st, &old);
        drop(st);
        Counters::add(&self.inner.counters.expired_removed, bodies.len() as u64);
        let n = self.inner.unlink_bodies(&bodies)?;
        failed.map_or(Ok(n), Err)
    }

    /// Every entry's metadata, sorted by bucket then key (for the periodic ETag check).
    pub fn entries(&self) -> Vec<EntryMeta> {
        let mut all: Vec<EntryMeta> = self.inner.lock().index.metas().cloned().collect();
        all.sort_by(|a, b| (&a.bucket, &a.key).cmp(&(&b.bucket, &b.key)));
        all
    }

    /// Entries, bytes and counters now (cheap: one lock, no I/O).
    pub fn stats(&self) -> CacheStats {
        let (entries, bytes, fills_in_flight) = {
            let st = self.inner.lock();
            (
                st.index.len() as u64,
                st.index.bytes(),
                st.in_flight.len() as u64,
            )
        };
        let c = &self.inner.counters;
        CacheStats {
            entries,
            bytes,
            max_bytes: self.inner.config.max_bytes,
            fills_in_flight,
            hits: Counters::get(&c.hits),
            misses: Counters::get(&c.misses),
            fills: Counters::get(&c.fills),
            evictions: Counters::get(&c.evictions),
            corrupt_discarded: Counters::get(&c.corrupt_discarded),
            expired_removed: Counters::get(&c.expired_removed),
        }
    }
}

impl Inner {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere cannot leave the index half-changed in a way that serves wrong bytes
        // (reads verify), so keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Verifies the metadata file against the index and opens the body. Outer `Err`: I/O trouble
    /// (not the entry's fault); inner `Err`: the entry is bad.
    fn open_entry(&self, h: &Hash, slot: &Slot) -> Result<Result<File, String>, CacheError> {
        let meta_path = self.layout.meta(h);
        let bytes = match recover::read_meta(&meta_path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Err("metadata file missing".into()))
            }
            Err(e) => return Err(CacheError::io("read", meta_path, e)),
        };
        match DiskMeta::decode(&bytes) {
            Ok(doc) if doc.entry == slot.meta && doc.body == slot.body => {}
            Ok(_) => return Ok(Err("metadata file differs from the index".into())),
            Err(reason) => return Ok(Err(reason)),
        }
        let body_path = self.layout.body(h, slot.body);
        let file = match File::open(&body_path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Err("body file missing".into()))
            }
            Err(e) => return Err(CacheError::io("open", body_path, e)),
        };
        let len = file
            .metadata()
            .map_err(|e| CacheError::io("inspect", &body_path, e))?
            .len();
        if len != slot.meta.size {
            return Ok(Err(format!(
                "body file is {len} bytes, expected {}",
                slot.meta.size
            )));
        }
        Ok(Ok(file))
    }

    /// Removes a bad entry and counts it.
    pub fn discard_locked(&self, st: &mut State, h: &Hash) -> Result<(), CacheError> {
        if let Some(body) = self.remove_locked(st, h)? {
            Counters::add(&self.counters.corrupt_discarded, 1);
            remove_quiet(&body)?;
        }
        Ok(())
    }

    /// Discards the entry a [`Hit`] read, unless it has been replaced since.
    pub fn discard_if_current(&self, h: &Hash, body: u64) -> Result<(), CacheError> {
        let mut st = self.lock();
        if st.index.get(h).map(|s| s.body) == Some(body) {
            self.discard_locked(&mut st, h)?;
        }
        Ok(())
    }

    /// Unlinks the metadata (the entry is gone from then on) and drops it from the index; returns
    /// the body to unlink once the lock is released. On failure the entry stays, consistently.
    fn remove_locked(&self, st: &mut State, h: &Hash) -> Result<Option<PathBuf>, CacheError> {
        let Some(body) = st.index.get(h).map(|s| s.body) else {
            return Ok(None);
        };
        remove_quiet(&self.layout.meta(h))?;
        st.index.remove(h);
        Ok(Some(self.layout.body(h, body)))
    }

    /// Removes many entries: the bodies to unlink, and the first failure (after trying all).
    fn remove_all_locked(
        &self,
        st: &mut State,
        hashes: &[Hash],
    ) -> (Vec<PathBuf>, Option<CacheError>) {
        let mut bodies = Vec::with_capacity(hashes.len());
        let mut first_err = None;
        for h in hashes {
            match self.remove_locked(st, h) {
                Ok(Some(b)) => bodies.push(b),
                Ok(None) => {}
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        (bodies, first_err)
    }

    /// Entries already out of the index (evicted): unlink their metadata, return their bodies.
    /// One whose metadata cannot be unlinked comes back at the next open, where accounting
    /// evicts it again; its body is kept so that it still verifies.
    pub fn unlink_victims_locked(&self, victims: Vec<(Hash, Slot)>) -> Vec<PathBuf> {
        victims
            .into_iter()
            .filter(|(h, _)| remove_quiet(&self.layout.meta(h)).is_ok())
            .map(|(h, slot)| self.layout.body(&h, slot.body))
            .collect()
    }

    /// Unlinks body files no metadata refers to any more; the first failure after trying all.
    pub fn unlink_bodies(&self, bodies: &[PathBuf]) -> Result<usize, CacheError> {
        let mut first_err = None;
        for b in bodies {
            if let Err(e) = remove_quiet(b) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(bodies.len()), Err)
    }
}
