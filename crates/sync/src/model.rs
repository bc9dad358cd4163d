//! What a sync works on and reports: entries, locations, options, events, the summary.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use ossguard::TransferOptions;

use crate::filter::Filter;
use crate::plan::{Action, PlanError};

/// Files (objects) transferred at once by default.
pub const DEFAULT_JOBS: usize = 8;

/// The `x-oss-meta-*` name under which uploads record the local file's modification time
/// (seconds since the epoch with a fraction, as rclone writes it).
pub const MTIME_META: &str = "mtime";

/// One file or object of a listing, by its path relative to the tree's root (`/`-separated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub rel: String,
    pub size: u64,
    /// Local: the file's modification time; OSS: `Last-Modified` (when it was written).
    pub mtime: Option<SystemTime>,
    /// The CRC-64 when the listing knows it (OSS listings do not; `--checksum` fetches it).
    pub crc64: Option<u64>,
    /// OSS: the ETag from the listing (a CopyObject keeps its source's; an object above the
    /// copy threshold is copied in parts and gets a multipart ETag instead).
    pub etag: Option<String>,
}

/// One side of a sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A local directory (created when it is the destination and does not exist).
    Local(PathBuf),
    /// Every key under `prefix` (empty, or ending with `/`).
    Oss { bucket: String, prefix: String },
}

impl Location {
    /// `oss://bucket/key` as a tree: `key` is taken as a directory (`photos` → `photos/`).
    pub fn oss(bucket: impl Into<String>, key: impl Into<String>) -> Self {
        let mut prefix = key.into();
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        Self::Oss {
            bucket: bucket.into(),
            prefix,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Local(p) => write!(f, "{}", p.display()),
            Self::Oss { bucket, prefix } => write!(f, "oss://{bucket}/{prefix}"),
        }
    }
}

/// How a sync runs.
#[derive(Clone)]
pub struct SyncOptions {
    /// Delete destination entries the source does not have — only after every copy succeeded.
    /// Default false.
    pub delete: bool,
    /// Compare by CRC-64 (size first) instead of size + modification time. Default false.
    pub checksum: bool,
    /// Decide and report, change nothing (`--checksum` still reads CRCs). Default false.
    pub dry_run: bool,
    /// Files transferred at once. Default [`DEFAULT_JOBS`] (0 counts as 1).
    pub jobs: usize,
    /// Which relative paths take part (both sides: excluded destination entries are never
    /// deleted). Default: all.
    pub filter: Filter,
    /// Options of each file's transfer (part size, checkpoints, per-file concurrency). Its
    /// `progress` is replaced by the sync's own.
    pub transfer: TransferOptions,
    /// Called (from the sync's tasks) for every decision and outcome. Default none.
    pub events: Option<EventFn>,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            delete: false,
            checksum: false,
            dry_run: false,
            jobs: DEFAULT_JOBS,
            filter: Filter::default(),
            transfer: TransferOptions::default(),
            events: None,
        }
    }
}

impl fmt::Debug for SyncOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SyncOptions")
            .field("delete", &self.delete)
            .field("checksum", &self.checksum)
            .field("dry_run", &self.dry_run)
            .field("jobs", &self.jobs)
            .field("filter", &self.filter)
            .field("transfer", &self.transfer)
            .field("events", &self.events.as_ref().map(|_| "Fn(&Event)"))
            .finish()
    }
}

/// An event callback.
pub type EventFn = Arc<dyn Fn(&Event<'_>) + Send + Sync>;

/// What an item's work was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Upload,
    Download,
    /// Server-side copy.
    Copy,
    Delete,
    /// Reading CRC-64s for `--checksum`.
    Check,
    /// Listing (an entry of a tree that cannot take part).
    List,
}

impl Op {
    /// The lowercase name for output (`upload`, `download`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Upload => "upload",
            Op::Download => "download",
            Op::Copy => "copy",
            Op::Delete => "delete",
            Op::Check => "check",
            Op::List => "list",
        }
    }
}

/// What happens during a sync, as it happens.
#[derive(Debug)]
pub enum Event<'a> {
    /// A decision of the planner (in `--dry-run`, what would happen).
    Planned(&'a Action),
    /// Bytes moved since the last event (for a progress bar).
    Progress(u64),
    /// An item finished.
    Done { op: Op, rel: &'a str, bytes: u64 },
    /// An item failed (counted in [`Summary::failed`]).
    Failed {
        op: Op,
        rel: &'a str,
        error: &'a str,
    },
    /// A destination entry cannot take part (not counted as a failure).
    Ignored { rel: &'a str, why: &'a str },
    /// Deletions were not run because something failed.
    DeletesWithheld { deletes: u64, failed: u64 },
}

/// One failed item.
#[derive(Debug, Clone)]
pub struct Failure {
    pub op: Op,
    pub rel: String,
    pub error: String,
}

/// What a sync did (in `--dry-run`: would do).
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Files copied (uploaded, downloaded or copied server-side).
    pub copied: u64,
    /// Files already in line.
    pub skipped: u64,
    /// Destination entries deleted.
    pub deleted: u64,
    /// Items that failed (copies, checks, deletes, unusable source entries).
    pub failed: u64,
    /// Bytes of the copied files.
    pub bytes: u64,
    /// Pairs the listings could not settle: CRC-64s compared (`--checksum`), or a HEAD for
    /// the recorded mtime (a file changed within the second its object was written).
    pub checked: u64,
    /// Deletions not run because something failed.
    pub deletes_withheld: u64,
    /// The first [`Summary::MAX_FAILURES`] failures.
    pub failures: Vec<Failure>,
}

impl Summary {
    /// Failures kept in detail (the rest are only counted).
    pub const MAX_FAILURES: usize = 100;

    pub(crate) fn fail(&mut self, op: Op, rel: &str, error: String) {
        self.failed += 1;
        if self.failures.len() < Self::MAX_FAILURES {
            self.failures.push(Failure {
                op,
                rel: rel.to_owned(),
                error,
            });
        }
    }
}

/// Why a sync stopped as a whole (single items failing are counted in [`Summary`] instead).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The arguments cannot work (both sides local, overlapping prefixes, a missing source).
    #[error("{0}")]
    Usage(String),
    /// A listing failed: nothing more was copied and nothing was deleted.
    #[error("listing {location} failed: {source}; nothing was deleted, rerun to continue")]
    List {
        location: String,
        #[source]
        source: ossguard::Error,
    },
    /// A local operation outside any one item failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// A listing came out of order (the merge cannot be trusted): nothing was deleted.
    #[error(transparent)]
    Plan(#[from] PlanError),
}

impl SyncError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}
