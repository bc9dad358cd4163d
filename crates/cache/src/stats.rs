//! Counters and the figures reported by [`crate::Cache::stats`] and [`crate::Cache::recovery`].

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub fills: AtomicU64,
    pub evictions: AtomicU64,
    pub corrupt_discarded: AtomicU64,
    pub expired_removed: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// A snapshot of the cache. Counters count since [`crate::Cache::open`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Entries stored now.
    pub entries: u64,
    /// Body bytes stored now (the sum of the entries' sizes; never above `max_bytes` by more
    /// than one entry).
    pub bytes: u64,
    pub max_bytes: u64,
    /// Fills running now.
    pub fills_in_flight: u64,
    /// Lookups that found an entry whose metadata and body file checked out.
    pub hits: u64,
    /// Lookups that found nothing usable (absent, or discarded as corrupt).
    pub misses: u64,
    /// Fills committed.
    pub fills: u64,
    /// Entries removed to stay within `max_bytes`.
    pub evictions: u64,
    /// Entries that failed verification (metadata checksum, body CRC-64, size, missing file),
    /// removed and never served — at open, on lookup or on read.
    pub corrupt_discarded: u64,
    /// Entries removed by [`crate::Cache::clean_expired`] (older than the TTL).
    pub expired_removed: u64,
}

/// What [`crate::Cache::open`] found and repaired.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Entries kept.
    pub entries: u64,
    /// Their body bytes.
    pub bytes: u64,
    /// Temp files of fills interrupted by a crash, deleted.
    pub temp_removed: u64,
    /// Body files no metadata referred to (a crash between body and metadata), deleted.
    pub orphans_removed: u64,
    /// Entries with bad metadata or a missing/wrong-size body, deleted (also in `corrupt_discarded`).
    pub corrupt_discarded: u64,
    /// Entries evicted because the cache was over `max_bytes` (a smaller limit than last time).
    pub evicted: u64,
}
