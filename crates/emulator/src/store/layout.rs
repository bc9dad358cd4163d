//! Where everything lives under the data folder.
//!
//! (Drawn in the `store` module docs.) Keys only appear inside JSON; bucket names and upload ids
//! are validated `[a-zA-Z0-9-]` text before they become folder names.

use std::path::{Path, PathBuf};

pub const FORMAT_FILE: &str = "store.json";
/// 2: object records may list segments (multipart objects completed without a copy).
pub const FORMAT_VERSION: u32 = 2;
/// The oldest format this build opens (and upgrades in place).
pub const MIN_FORMAT_VERSION: u32 = 1;
pub const BUCKET_FILE: &str = "bucket.json";
pub const UPLOAD_FILE: &str = "upload.json";

#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
    /// fsync files and folders (off only for throw-away stores).
    pub sync: bool,
}

impl Layout {
    pub fn new(root: PathBuf, sync: bool) -> Self {
        Self { root, sync }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    pub fn buckets_dir(&self) -> PathBuf {
        self.root.join("buckets")
    }

    pub fn bucket_dir(&self, bucket: &str) -> PathBuf {
        self.buckets_dir().join(bucket)
    }

    pub fn objects_dir(&self, bucket: &str) -> PathBuf {
        self.bucket_dir(bucket).join("objects")
    }

    pub fn uploads_dir(&self, bucket: &str) -> PathBuf {
        self.bucket_dir(bucket).join("uploads")
    }

    pub fn upload_dir(&self, bucket: &str, upload_id: &str) -> PathBuf {
        self.uploads_dir(bucket).join(upload_id)
    }
}

/// `part-00042.json`: zero-padded so a folder listing sorts by part number.
pub fn part_record_name(part_number: u32) -> String {
    format!("part-{part_number:05}.json")
}

/// Inverse of [`part_record_name`].
pub fn parse_part_record_name(name: &str) -> Option<u32> {
    let digits = name.strip_prefix("part-")?.strip_suffix(".json")?;
    if digits.len() == 5 && digits.bytes().all(|c| c.is_ascii_digit()) {
        digits.parse().ok()
    } else {
        None
    }
}

/// Upload ids we hand out are 32 uppercase hex; anything else is not ours (and must never reach
/// a path).
pub fn is_upload_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(&c))
}
