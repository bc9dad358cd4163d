//! Filling an entry: stream the body to a temp file, verify, fsync, rename, then publish the
//! metadata (the commit point) and evict down to the byte limit.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use ossguard_proto::crc64::Crc64;

use crate::cache::Inner;
use crate::fsutil::{create_dir, remove_quiet, rename, sync_dir, write_new};
use crate::layout::{key_hash, Hash};
use crate::meta::DiskMeta;
use crate::stats::Counters;
use crate::{Cache, CacheError, EntryMeta, FillMeta};

/// Write buffer: network chunks are often small; fewer syscalls per MiB.
const BUFFER: usize = 64 << 10;

impl Cache {
    /// Starts filling `bucket/key` from a GET whose headers said `meta`. `Ok(None)` when another
    /// fill of the same key is running (single flight: that one will store it) or when
    /// `meta.size` exceeds `max_entry_bytes` (not cached). `stored_at` is taken now.
    pub fn fill(
        &self,
        bucket: &str,
        key: &str,
        meta: FillMeta,
    ) -> Result<Option<Filler>, CacheError> {
        if meta.size > self.inner.config.entry_limit() {
            return Ok(None);
        }
        let hash = key_hash(bucket, key);
        {
            let mut st = self.inner.lock();
            if st.in_flight.contains_key(&hash) {
                return Ok(None);
            }
            st.in_flight.insert(hash, false);
        }
        let mut filler = Filler {
            cache: self.inner.clone(),
            hash,
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            stored_at: self.now(),
            meta,
            temp: self.inner.layout.temp(&hash),
            file: None,
            crc: Crc64::new(),
            written: 0,
            leftover: None,
        };
        // From here on `Drop` releases the key and removes what was created.
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&filler.temp)
            .map_err(|e| CacheError::io("create", &filler.temp, e))?;
        filler.leftover = Some(filler.temp.clone());
        filler.file = Some(BufWriter::with_capacity(BUFFER, file));
        Ok(Some(filler))
    }

    /// Stores a body held in memory (a small object, tests). `Ok(None)` as for [`Cache::fill`].
    pub fn insert(
        &self,
        bucket: &str,
        key: &str,
        meta: FillMeta,
        body: &[u8],
    ) -> Result<Option<EntryMeta>, CacheError> {
        let Some(mut filler) = self.fill(bucket, key, meta)? else {
            return Ok(None);
        };
        filler.write(body)?;
        filler.commit().map(Some)
    }
}

/// A fill in progress (see [`Cache::fill`]). Feed it with [`Filler::write`], finish with
/// [`Filler::commit`]; dropping it without commit aborts and deletes the temp file.
pub struct Filler {
    cache: Arc<Inner>,
    hash: Hash,
    bucket: String,
    key: String,
    meta: FillMeta,
    stored_at: SystemTime,
    temp: PathBuf,
    file: Option<BufWriter<File>>,
    crc: Crc64,
    written: u64,
    /// A file to delete if the fill ends without a commit.
    leftover: Option<PathBuf>,
}

impl std::fmt::Debug for Filler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filler")
            .field("bucket", &self.bucket)
            .field("key", &self.key)
            .field("size", &self.meta.size)
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

impl Filler {
    /// Appends body bytes. Fails (and the fill should be dropped) when more than the announced
    /// size arrives or the disk write fails.
    pub fn write(&mut self, data: &[u8]) -> Result<(), CacheError> {
        let after = self.written + data.len() as u64;
        if after > self.meta.size {
            return Err(self.size_mismatch(after));
        }
        let file = self.file.as_mut().expect("file present until commit");
        file.write_all(data)
            .map_err(|e| CacheError::io("write", &self.temp, e))?;
        self.crc.update(data);
        self.written = after;
        Ok(())
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Verifies size and CRC-64, makes the body durable and publishes the entry (replacing an
    /// older one), then evicts least recently used entries down to `max_bytes`. Blocking (fsync).
    pub fn commit(mut self) -> Result<EntryMeta, CacheError> {
        let file = self.file.take().expect("file present until commit");
        let file = file
            .into_inner()
            .map_err(|e| CacheError::io("write", &self.temp, e.into_error()))?;
        if self.written != self.meta.size {
            return Err(self.size_mismatch(self.written));
        }
        let crc = self.crc.value();
        if let Some(expected) = self.meta.crc64.filter(|e| *e != crc) {
            return Err(CacheError::CrcMismatch {
                bucket: self.bucket.clone(),
                key: self.key.clone(),
                expected,
                actual: crc,
            });
        }
        let inner = self.cache.clone();
        let (layout, durable) = (&inner.layout, inner.config.durable);
        if durable {
            file.sync_all()
                .map_err(|e| CacheError::io("fsync", &self.temp, e))?;
        }
        drop(file);

        // A new body file per fill: the current metadata never describes bytes being written.
        let generation = fastrand::u64(..);
        let h = self.hash;
        let shard = layout.shard(&h);
        if !shard.is_dir() {
            create_dir(&shard)?;
            if durable {
                sync_dir(&layout.data)?;
            }
        }
        let body_path = layout.body(&h, generation);
        rename(&self.temp, &body_path)?;
        self.leftover = Some(body_path);

        let entry = EntryMeta {
            bucket: std::mem::take(&mut self.bucket),
            key: std::mem::take(&mut self.key),
            etag: self.meta.etag.take(),
            crc64: crc,
            size: self.written,
            last_modified: self.meta.last_modified,
            content_type: self.meta.content_type.take(),
            user_meta: std::mem::take(&mut self.meta.user_meta),
            stored_at: self.stored_at,
        };
        let doc = DiskMeta {
            entry,
            body: generation,
        };
        let meta_temp = layout.temp(&h);
        let published = write_new(&meta_temp, &doc.encode(), durable)
            .and_then(|()| self.publish(&meta_temp, &doc));
        let _ = remove_quiet(&meta_temp);
        let (replaced, victims) = published?;
        if durable {
            sync_dir(&layout.shard(&h))?;
        }
        Counters::add(&inner.counters.fills, 1);
        Counters::add(&inner.counters.evictions, victims.len() as u64);
        let mut old = victims;
        old.extend(replaced);
        inner.unlink_bodies(&old)?;
        Ok(doc.entry)
    }

    /// The commit point, under the lock: rename the metadata in, update the index, evict.
    /// Returns the replaced body and the evicted bodies, to unlink after the lock.
    fn publish(
        &mut self,
        meta_temp: &Path,
        doc: &DiskMeta,
    ) -> Result<(Option<PathBuf>, Vec<PathBuf>), CacheError> {
        let inner = &self.cache;
        let h = self.hash;
        let mut st = inner.lock();
        if st.in_flight.get(&h).copied().unwrap_or(true) {
            return Err(CacheError::Cancelled {
                bucket: doc.entry.bucket.clone(),
                key: doc.entry.key.clone(),
            });
        }
        rename(meta_temp, &inner.layout.meta(&h))?;
        self.leftover = None;
        let replaced = st
            .index
            .insert(h, doc.entry.clone(), doc.body)
            .map(|old| inner.layout.body(&h, old.body));
        let victims = st.index.evict_to(inner.config.max_bytes, Some(&h));
        Ok((replaced, inner.unlink_victims_locked(victims)))
    }

    fn size_mismatch(&self, actual: u64) -> CacheError {
        CacheError::SizeMismatch {
            bucket: self.bucket.clone(),
            key: self.key.clone(),
            expected: self.meta.size,
            actual,
        }
    }
}

impl Drop for Filler {
    fn drop(&mut self) {
        drop(self.file.take());
        if let Some(path) = self.leftover.take() {
            let _ = remove_quiet(&path);
        }
        self.cache.lock().in_flight.remove(&self.hash);
    }
}
