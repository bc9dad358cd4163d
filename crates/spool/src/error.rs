//! The spool's error type; every message says what to do next.

use std::path::PathBuf;

use crate::model::SpoolId;

/// A spool operation failed. Nothing was acknowledged when `enqueue` returns one.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The local disk failed.
    #[error("spool: cannot {op} {}: {source}{}", path.display(), hint(source))]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Another process (or another `Spool` in this one) has the directory open.
    #[error(
        "spool directory {} is in use by another process; stop it (or use its `ossguard spool` \
         commands) before opening the spool here",
        .0.display()
    )]
    Locked(PathBuf),
    #[error("spool has no entry {0}; `ossguard spool list` shows the pending ones")]
    NotFound(SpoolId),
    #[error("spool entry {0} is being replayed right now; try again when the replay finishes")]
    Busy(SpoolId),
    /// The PUT cannot be spooled as given; nothing was written.
    #[error("cannot spool this PUT: {0}")]
    InvalidPut(String),
    /// The configured byte limit would be exceeded; nothing was written.
    #[error(
        "spool is full: {used} bytes spooled + {len} would exceed the limit of {limit} bytes; \
         replay or drop entries, or raise the limit"
    )]
    Full { used: u64, len: u64, limit: u64 },
}

fn hint(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
            " (free disk space, or replay or drop spooled entries)"
        }
        std::io::ErrorKind::PermissionDenied => " (check the spool directory's permissions)",
        _ => "",
    }
}

pub(crate) trait IoContext<T> {
    fn ctx(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T, SpoolError>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T, SpoolError> {
        self.map_err(|source| SpoolError::Io {
            op,
            path: path.into(),
            source,
        })
    }
}
