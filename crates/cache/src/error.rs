//! The cache's one error type: what failed and what to do about it.

use std::path::PathBuf;

/// Why a cache operation failed. A cache error never means wrong data: at worst the entry is a
/// miss and the caller goes on down the fallback chain.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// A file operation failed (permissions, disk full, too many open files).
    #[error("cache: could not {action} {path}: {source} (check the cache directory's permissions and free space; deleting the directory only empties the cache)")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The directory holds other files and no cache marker: refusing to manage (and delete) them.
    #[error("cache: {path} is not empty and is not an ossguard cache (no CACHEDIR.TAG of ours); choose an empty or dedicated directory")]
    NotACacheDir { path: PathBuf },
    /// A fill received a different number of bytes than the object's announced size.
    #[error("cache: fill of {bucket}/{key} got {actual} bytes, expected {expected}; the entry was not stored (the download was cut or the size was wrong)")]
    SizeMismatch {
        bucket: String,
        key: String,
        expected: u64,
        actual: u64,
    },
    /// A fill's bytes do not match the object's CRC-64.
    #[error("cache: fill of {bucket}/{key} has CRC-64 {actual}, expected {expected}; the entry was not stored (the body was corrupted in transit)")]
    CrcMismatch {
        bucket: String,
        key: String,
        expected: u64,
        actual: u64,
    },
    /// The entry failed verification on read; it was removed and counted. Treat as a miss.
    #[error("cache: entry {bucket}/{key} failed verification ({reason}); it was discarded, treat it as a miss")]
    Corrupt {
        bucket: String,
        key: String,
        reason: String,
    },
    /// The key was removed or the cache purged while this fill ran: its bytes may predate that.
    #[error("cache: fill of {bucket}/{key} was cancelled by a remove or purge during the fill; nothing was stored")]
    Cancelled { bucket: String, key: String },
}

impl CacheError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// True when the entry was bad and has been discarded (serve something else, never these bytes).
    pub fn is_corrupt(&self) -> bool {
        matches!(self, Self::Corrupt { .. })
    }
}
