//! Public value types: what the store keeps per bucket, object, upload and part.
//!
//! They are also the on-disk JSON (inside small record wrappers), so renaming a field is a format
//! change.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::error::StoreError;

/// Bucket ACL (`x-oss-acl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BucketAcl {
    #[default]
    Private,
    PublicRead,
    PublicReadWrite,
}

/// Object ACL (`x-oss-object-acl`); `Default` inherits the bucket's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ObjectAcl {
    #[default]
    Default,
    Private,
    PublicRead,
    PublicReadWrite,
}

/// `x-oss-storage-class`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum StorageClass {
    #[default]
    Standard,
    #[serde(rename = "IA")]
    InfrequentAccess,
    Archive,
    ColdArchive,
    DeepColdArchive,
}

/// `x-oss-object-type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ObjectType {
    Normal,
    Multipart,
    Appendable,
}

macro_rules! oss_strings {
    ($ty:ty, $what:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        impl $ty {
            /// The value as OSS spells it on the wire.
            pub fn as_str(&self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $ty {
            type Err = StoreError;
            /// Parses the wire spelling, ignoring ASCII case.
            fn from_str(s: &str) -> Result<Self, StoreError> {
                $(if s.eq_ignore_ascii_case($text) { return Ok(Self::$variant); })+
                Err(StoreError::InvalidArgument(format!(concat!("unknown ", $what, " {:?}"), s)))
            }
        }
    };
}

oss_strings!(BucketAcl, "bucket ACL", {
    Private => "private", PublicRead => "public-read", PublicReadWrite => "public-read-write",
});
oss_strings!(ObjectAcl, "object ACL", {
    Default => "default", Private => "private", PublicRead => "public-read",
    PublicReadWrite => "public-read-write",
});
oss_strings!(StorageClass, "storage class", {
    Standard => "Standard", InfrequentAccess => "IA", Archive => "Archive",
    ColdArchive => "ColdArchive", DeepColdArchive => "DeepColdArchive",
});
oss_strings!(ObjectType, "object type", {
    Normal => "Normal", Multipart => "Multipart", Appendable => "Appendable",
});

/// The settable metadata of an object: standard headers, user metadata, ACL, storage class,
/// tags.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ObjectHeaders {
    pub content_type: Option<String>,
    pub content_encoding: Option<String>,
    pub content_disposition: Option<String>,
    pub cache_control: Option<String>,
    pub expires: Option<String>,
    pub content_language: Option<String>,
    /// `x-oss-meta-*` without the prefix. Names are lower-cased when stored.
    pub user_meta: BTreeMap<String, String>,
    pub acl: ObjectAcl,
    pub storage_class: StorageClass,
    /// Object tags (`x-oss-tagging`, PutObjectTagging), at most [`MAX_TAGS`].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Server-side encryption as requested (`AES256`, `KMS`, `SM4`) and, for KMS, the key id.
    /// Recorded and reported; the emulator's files are not encrypted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sse: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sse_key_id: Option<String>,
}

/// OSS's limits on tags: count, key and value length (characters), for objects …
pub const MAX_TAGS: usize = 10;
pub const MAX_TAG_KEY: usize = 128;
pub const MAX_TAG_VALUE: usize = 256;
/// … and for buckets.
pub const MAX_BUCKET_TAGS: usize = 20;
pub const MAX_BUCKET_TAG_KEY: usize = 64;
pub const MAX_BUCKET_TAG_VALUE: usize = 128;

impl ObjectHeaders {
    /// Lower-cases user metadata names (OSS returns them lower-cased).
    pub(crate) fn normalized(mut self) -> Self {
        if self
            .user_meta
            .keys()
            .any(|k| k.chars().any(|c| c.is_uppercase()))
        {
            self.user_meta = std::mem::take(&mut self.user_meta)
                .into_iter()
                .map(|(k, v)| (k.to_lowercase(), v))
                .collect();
        }
        self
    }
}

/// Everything the store knows about one object version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    /// Quoted, as sent in the `ETag` header: `"<MD5 HEX>"`, `"<HEX>-<parts>"` or, for appendable
    /// objects, an opaque quoted value that changes with every append.
    pub etag: String,
    /// Base64 of the body's MD5; simple (Normal) uploads only.
    pub content_md5: Option<String>,
    /// CRC-64/XZ of the whole object (`x-oss-hash-crc64ecma`).
    pub crc64: u64,
    /// Unix milliseconds.
    pub last_modified_ms: u64,
    pub object_type: ObjectType,
    pub headers: ObjectHeaders,
}

impl ObjectInfo {
    /// `x-oss-next-append-position` for appendable objects.
    pub fn next_append_position(&self) -> Option<u64> {
        (self.object_type == ObjectType::Appendable).then_some(self.size)
    }
}

/// Per-bucket configuration and facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketInfo {
    pub name: String,
    pub acl: BucketAcl,
    pub storage_class: StorageClass,
    /// Unix milliseconds.
    pub created_ms: u64,
    /// e.g. `oss-cn-hangzhou`.
    pub location: String,
    /// CORS configuration exactly as the HTTP layer handed it over (opaque to the store).
    pub cors: Option<String>,
    /// Logging configuration, opaque like `cors`.
    pub logging: Option<String>,
    /// Lifecycle configuration as sent (stored and returned; the emulator applies no rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<String>,
    /// Bucket tags (PutBucketTags).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

/// What GetBucketStat reports of one bucket.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BucketTotals {
    pub bytes: u64,
    pub objects: u64,
    /// Multipart uploads in progress, and their parts.
    pub uploads: u64,
    pub parts: u64,
    /// The newest object's Last-Modified (0 when empty).
    pub last_modified_ms: u64,
    /// (bytes, objects) per storage class, in [`StorageClass::index`] order.
    pub by_class: [(u64, u64); 5],
    /// Billed bytes per storage class: objects below [`MIN_BILLED_SIZE`] count as that much
    /// outside Standard.
    pub billed_by_class: [u64; 5],
}

/// OSS bills an IA or archive object below 64 KiB as 64 KiB.
pub const MIN_BILLED_SIZE: u64 = 64 * 1024;

impl StorageClass {
    /// Standard 0, IA 1, Archive 2, ColdArchive 3, DeepColdArchive 4.
    pub fn index(self) -> usize {
        match self {
            Self::Standard => 0,
            Self::InfrequentAccess => 1,
            Self::Archive => 2,
            Self::ColdArchive => 3,
            Self::DeepColdArchive => 4,
        }
    }
}

/// Options for [`Store::create_bucket`](super::Store::create_bucket).
#[derive(Debug, Clone, Default)]
pub struct CreateBucketOptions {
    pub acl: BucketAcl,
    pub storage_class: StorageClass,
    /// `None` uses the store's default location.
    pub location: Option<String>,
}

/// Options for [`Store::put_object`](super::Store::put_object).
#[derive(Debug, Clone, Default)]
pub struct PutOptions {
    pub headers: ObjectHeaders,
    /// `x-oss-forbid-overwrite: true`: fail with `FileAlreadyExists` if the key exists.
    pub forbid_overwrite: bool,
    /// The decoded `Content-MD5` header: the object is only stored if the body matches.
    pub expected_md5: Option<[u8; 16]>,
}

/// Where a copy takes its metadata from (`x-oss-metadata-directive`).
#[derive(Debug, Clone, Default)]
pub enum MetadataDirective {
    #[default]
    Copy,
    /// Boxed: the headers are large, a Copy directive is nothing.
    Replace(Box<ObjectHeaders>),
}

/// Options for [`Store::copy_object`](super::Store::copy_object).
#[derive(Debug, Clone, Default)]
pub struct CopyOptions {
    pub metadata: MetadataDirective,
    /// Applied after the directive (OSS lets these be set on a copy in either mode).
    pub acl: Option<ObjectAcl>,
    pub storage_class: Option<StorageClass>,
    /// `Some`: the copy's tags (`x-oss-tagging-directive: Replace`); `None`: the source's,
    /// whatever the metadata directive (OSS directs tags separately).
    pub tags: Option<BTreeMap<String, String>>,
    pub forbid_overwrite: bool,
    /// Copy only the source version with this ETag, checked atomically with the copy (the
    /// server checks the copy-source conditions against a HEAD, then pins that version with
    /// this); another version fails with `PreconditionFailed`.
    pub source_etag: Option<String>,
    /// Refuse sources larger than this with `EntityTooLarge` (CopyObject's 1 GiB limit).
    pub max_source_size: Option<u64>,
}

/// One uploaded part of a multipart upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartInfo {
    pub part_number: u32,
    /// Quoted uppercase hex MD5 of the part.
    pub etag: String,
    pub size: u64,
    pub crc64: u64,
    pub last_modified_ms: u64,
}

/// An initiated, not yet completed or aborted multipart upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadInfo {
    pub upload_id: String,
    pub key: String,
    pub initiated_ms: u64,
    /// Metadata the completed object will get.
    pub headers: ObjectHeaders,
}

/// Query of [`Store::list_objects`](super::Store::list_objects) (ListObjects v1 semantics; the v2
/// `start-after`/continuation token map onto `marker`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListObjectsParams {
    pub prefix: String,
    /// Empty: no roll-up.
    pub delimiter: String,
    /// Only keys strictly greater than this are listed.
    pub marker: String,
    /// Entries plus common prefixes returned at most (the HTTP layer caps it at 1000).
    pub max_keys: usize,
}

impl Default for ListObjectsParams {
    fn default() -> Self {
        Self {
            prefix: String::new(),
            delimiter: String::new(),
            marker: String::new(),
            max_keys: 1000,
        }
    }
}

/// Answer of [`Store::list_objects`](super::Store::list_objects), in byte order of keys.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObjectListing {
    pub objects: Vec<ObjectInfo>,
    /// Rolled-up prefixes (each includes the delimiter), each counted once toward `max_keys`.
    pub common_prefixes: Vec<String>,
    pub is_truncated: bool,
    /// When truncated: the last key or common prefix returned; pass it as the next `marker`.
    pub next_marker: Option<String>,
}

/// What [`Store::open`](super::Store::open) cleaned up after a crash.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    pub buckets: usize,
    pub objects: usize,
    pub uploads: usize,
    /// Temp files of writes that never committed.
    pub temp_files_removed: usize,
    /// Data files no metadata record refers to (interrupted writes, deletes, overwrites).
    pub orphan_data_removed: usize,
    /// Upload folders never fully initiated, or already completed into an object.
    pub uploads_removed: usize,
    /// Records whose data file was missing or too short (should not happen; logged as a count).
    pub broken_records_removed: usize,
}
