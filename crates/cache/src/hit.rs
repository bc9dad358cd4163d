//! A cache hit: metadata now, body bytes only after their CRC-64 verified.

use std::fs::File;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;

use crate::cache::Inner;
use crate::fsutil::read_full_at;
use crate::index::Slot;
use crate::layout::Hash;
use crate::{CacheError, EntryMeta, Freshness};

/// An entry found by [`crate::Cache::get`]. Holds its body file open, so a concurrent
/// replacement or eviction does not change what this hit reads.
pub struct Hit {
    /// The entry's metadata (ETag for `If-None-Match`, content type, user metadata, …).
    pub meta: EntryMeta,
    file: File,
    hash: Hash,
    body: u64,
    looked_up_at: SystemTime,
    cache: Arc<Inner>,
}

impl std::fmt::Debug for Hit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hit")
            .field("meta", &self.meta)
            .field("looked_up_at", &self.looked_up_at)
            .finish_non_exhaustive()
    }
}

impl Hit {
    pub(crate) fn new(
        cache: Arc<Inner>,
        hash: Hash,
        slot: Slot,
        file: File,
        now: SystemTime,
    ) -> Self {
        Self {
            meta: slot.meta,
            file,
            hash,
            body: slot.body,
            looked_up_at: now,
            cache,
        }
    }

    /// Age at lookup: time since the entry was stored or last revalidated (zero if the clock
    /// went back).
    pub fn age(&self) -> Duration {
        self.age_at(self.looked_up_at)
    }

    /// Age at `now`.
    pub fn age_at(&self, now: SystemTime) -> Duration {
        now.duration_since(self.meta.stored_at)
            .unwrap_or(Duration::ZERO)
    }

    /// Fresh / Stale / Expired at `now` under the cache's `max_age` and `stale_if_error`.
    pub fn freshness(&self, now: SystemTime) -> Freshness {
        self.cache.config.freshness(self.age_at(now))
    }

    /// The whole body, after checking its length and CRC-64 against the metadata. On a
    /// mismatch the entry is removed, counted in `corrupt_discarded`, and
    /// [`CacheError::Corrupt`] returned: no byte of a bad body is ever handed out. The body is
    /// at most `max_entry_bytes`, so holding it in memory is bounded.
    pub fn bytes(&self) -> Result<Bytes, CacheError> {
        let size = self.meta.size;
        let mut buf = vec![0u8; size as usize];
        let io = |e| CacheError::io("read", self.cache.layout.body(&self.hash, self.body), e);
        let complete = read_full_at(&self.file, &mut buf, 0).map_err(io)?;
        // A longer file is as wrong as a shorter one.
        let longer = complete && read_full_at(&self.file, &mut [0u8; 1], size).map_err(io)?;
        let reason = if !complete {
            Some(format!("body shorter than {size} bytes"))
        } else if longer {
            Some(format!("body longer than {size} bytes"))
        } else {
            let crc = ossguard_proto::crc64::checksum(&buf);
            (crc != self.meta.crc64)
                .then(|| format!("body CRC-64 {crc}, expected {}", self.meta.crc64))
        };
        match reason {
            None => Ok(Bytes::from(buf)),
            Some(reason) => {
                self.cache.discard_if_current(&self.hash, self.body)?;
                Err(CacheError::Corrupt {
                    bucket: self.meta.bucket.clone(),
                    key: self.meta.key.clone(),
                    reason,
                })
            }
        }
    }
}
