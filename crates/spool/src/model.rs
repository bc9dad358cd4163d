//! The spool's vocabulary: what is spooled, what an entry looks like, what a replay reports.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::error::SpoolError;
use crate::target::TargetError;

/// An entry's identity: its sequence number, unique for the life of the spool directory (never
/// reused, also not after the entry is replayed or dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SpoolId(pub u64);

impl fmt::Display for SpoolId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for SpoolId {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.trim().parse().map(SpoolId)
    }
}

/// What the writer last saw of the object on OSS: the base the replay checks before writing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expect {
    /// The object did not exist: replayed with `x-oss-forbid-overwrite` (atomic on OSS).
    Absent,
    /// The object had this ETag: replayed after a HEAD shows the same ETag (see the crate docs
    /// for the window between HEAD and PUT).
    ETag(String),
    /// Nothing is known: replayed as a plain PUT, which overwrites whatever is there.
    Unknown,
}

/// A PUT to journal. Sizes: `key` 1..=1023 bytes (the OSS limit); the whole record (key,
/// content type, metadata) at most [`crate::MAX_RECORD_BYTES`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpoolPut {
    pub bucket: String,
    pub key: String,
    pub content_type: Option<String>,
    /// `x-oss-meta-*` (names without the prefix).
    pub metadata: BTreeMap<String, String>,
    pub expect: Expect,
}

impl SpoolPut {
    /// A PUT with no content type, no metadata and [`Expect::Unknown`].
    pub fn new(bucket: impl Into<String>, key: impl Into<String>) -> Self {
        Self {
            bucket: bucket.into(),
            key: key.into(),
            content_type: None,
            metadata: BTreeMap::new(),
            expect: Expect::Unknown,
        }
    }

    pub fn expect(mut self, expect: Expect) -> Self {
        self.expect = expect;
        self
    }

    pub fn content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = Some(content_type.into());
        self
    }

    pub fn meta(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(name.into(), value.into());
        self
    }
}

/// Why an entry is in conflict (it will not be replayed; drop it once resolved).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictReason {
    /// The writer saw no object, but one exists now (`etag`, when a HEAD could tell).
    Exists { etag: Option<String> },
    /// The writer saw `expected`; OSS now has `found` (`None`: the object was deleted).
    Changed {
        expected: String,
        found: Option<String>,
    },
    /// An earlier spooled write of the same key is in conflict: landing this one would put a
    /// later write before an earlier one.
    EarlierConflict { seq: u64 },
}

impl fmt::Display for ConflictReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exists { etag: Some(e) } => {
                write!(f, "the object was created meanwhile (ETag {e})")
            }
            Self::Exists { etag: None } => write!(f, "the object was created meanwhile"),
            Self::Changed {
                expected,
                found: Some(found),
            } => write!(
                f,
                "the object changed meanwhile (ETag {expected} -> {found})"
            ),
            Self::Changed {
                expected,
                found: None,
            } => write!(f, "the object (ETag {expected}) was deleted meanwhile"),
            Self::EarlierConflict { seq } => {
                write!(
                    f,
                    "the earlier spooled write {seq} of this key is in conflict"
                )
            }
        }
    }
}

/// Where an entry stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryState {
    /// Waiting for a replay.
    Pending,
    /// Kept on disk, never replayed automatically.
    Conflict { reason: ConflictReason },
}

/// One spooled PUT as [`crate::Spool::pending`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolEntry {
    pub id: SpoolId,
    pub seq: u64,
    pub bucket: String,
    pub key: String,
    pub content_type: Option<String>,
    /// Body bytes.
    pub size: u64,
    /// CRC-64/XZ of the body (what OSS reports as `x-oss-hash-crc64ecma`).
    pub crc64: u64,
    pub enqueued_at: SystemTime,
    /// The expectation the replay will check: the writer's, or the ETag an earlier spooled
    /// write of the same key left on OSS.
    pub expect: Expect,
    pub state: EntryState,
}

/// Counters for metrics. Gauges describe the spool now; `*_total` count since [`crate::Spool::open`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SpoolStats {
    /// Entries waiting for a replay.
    pub pending: u64,
    /// Entries kept in conflict.
    pub conflicted: u64,
    /// Body bytes on disk (pending and conflicted entries).
    pub bytes: u64,
    pub enqueued_total: u64,
    /// Entries OSS confirmed as stored and that were removed.
    pub replayed_total: u64,
    /// Entries that became conflicts.
    pub conflicts_total: u64,
    pub dropped_total: u64,
    /// Entries moved to `quarantine/` (failed checksum, torn record), at open or at replay.
    pub quarantined_total: u64,
}

/// A replayed entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replayed {
    pub id: SpoolId,
    pub bucket: String,
    pub key: String,
    /// The object's ETag after the write.
    pub etag: String,
    /// OSS already held exactly these bytes (ETag = MD5 of the body): an earlier replay landed
    /// but crashed before removing the entry. Nothing was sent again.
    pub already_present: bool,
}

/// An entry that became a conflict in this replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub id: SpoolId,
    pub bucket: String,
    pub key: String,
    pub reason: ConflictReason,
}

/// An entry moved to `quarantine/` instead of being replayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantined {
    /// `None` when the file name carried no usable sequence number.
    pub id: Option<SpoolId>,
    pub reason: String,
}

/// Why a replay stopped before the end.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// OSS failed. Transient or not, the replay stops here so that no later write lands first;
    /// the entry and all after it stay pending.
    #[error("OSS refused the replay: {0}")]
    Target(TargetError),
    /// The spool's own disk failed.
    #[error(transparent)]
    Spool(SpoolError),
    /// Another replay of this spool is running; wait for it.
    #[error("another replay of this spool is running; wait for it to finish")]
    AlreadyRunning,
}

/// Where a replay stopped.
#[derive(Debug)]
pub struct ReplayStop {
    /// The entry being replayed when it stopped (still pending).
    pub id: Option<SpoolId>,
    pub error: ReplayError,
}

/// The outcome of [`crate::Spool::replay`].
#[derive(Debug, Default)]
pub struct ReplayReport {
    /// In replay (= sequence) order.
    pub replayed: Vec<Replayed>,
    pub conflicts: Vec<Conflict>,
    pub quarantined: Vec<Quarantined>,
    /// `None`: every pending entry was handled.
    pub stopped: Option<ReplayStop>,
}

/// What [`crate::Spool::open`] found and repaired.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Entries that verified and are kept.
    pub recovered: usize,
    /// Temporary files of writes that never completed (never acknowledged), removed.
    pub temp_removed: usize,
    /// Bodies without a record (a crash between the two renames, never acknowledged), removed.
    pub orphans_removed: usize,
    /// Entries that failed verification, moved to `quarantine/`, never replayed.
    pub quarantined: Vec<Quarantined>,
    /// Files the spool does not know, left alone.
    pub unknown_files: Vec<String>,
}
