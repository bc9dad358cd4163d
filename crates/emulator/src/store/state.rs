//! The in-memory index and the records it mirrors on disk.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use super::types::{BucketInfo, ObjectInfo, PartInfo, UploadInfo};

/// `objects/<sha256(key)>.json`: the object's metadata and which data files hold its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRecord {
    pub info: ObjectInfo,
    /// `<random>.data` in the same `objects/` folder (the first of `segments` if there are any).
    pub data_file: String,
    /// Empty for an object held in one file. An object completed from several parts keeps the
    /// parts' files (hard-linked into `objects/`) instead of a concatenated copy, so Complete
    /// costs a link per part, not a rewrite of every byte: then these are its files in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<Segment>,
    /// Set on objects made by CompleteMultipartUpload, so recovery can drop the upload folder if
    /// a crash came between the object's commit and the folder's removal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_id: Option<String>,
}

/// One file of a segmented object and how many of the object's bytes it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    pub file: String,
    pub size: u64,
}

impl ObjectRecord {
    /// The object's bytes as `(data file, length)` runs in order: one run unless segmented.
    pub fn extents(&self) -> Vec<Segment> {
        if self.segments.is_empty() {
            vec![Segment {
                file: self.data_file.clone(),
                size: self.info.size,
            }]
        } else {
            self.segments.clone()
        }
    }

    /// Every data file the record refers to.
    pub fn data_files(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.data_file.as_str()).chain(
            self.segments
                .iter()
                .map(|s| s.file.as_str())
                .filter(move |f| *f != self.data_file),
        )
    }
}

/// `uploads/<id>/part-<n>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartRecord {
    pub info: PartInfo,
    /// `<random>.data` in the same upload folder.
    pub data_file: String,
}

#[derive(Debug, Clone)]
pub struct UploadState {
    pub info: UploadInfo,
    pub parts: BTreeMap<u32, PartRecord>,
}

#[derive(Debug)]
pub struct BucketState {
    pub info: BucketInfo,
    /// Sorted by key bytes, which is the listing order.
    pub objects: BTreeMap<String, ObjectRecord>,
    pub uploads: HashMap<String, UploadState>,
    /// Set when the bucket is deleted, so writers still holding this bucket fail their commit.
    pub removed: bool,
}

/// One bucket: its index behind a mutex that is only held for in-memory work and single
/// `rename`/`unlink`/`open` calls, never across an fsync or an `.await`.
#[derive(Debug)]
pub struct Bucket {
    pub name: String,
    state: Mutex<BucketState>,
    /// Serialises read-modify-write of `bucket.json` (ACL, CORS, logging).
    pub config_lock: tokio::sync::Mutex<()>,
}

impl Bucket {
    pub fn new(state: BucketState) -> Self {
        Self {
            name: state.info.name.clone(),
            state: Mutex::new(state),
            config_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// Locks the index. A panic elsewhere cannot leave it half-updated (updates are single
    /// inserts/removes after the disk change), so a poisoned lock is still usable.
    pub fn lock(&self) -> MutexGuard<'_, BucketState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}
