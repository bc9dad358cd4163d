//! What a replay writes to: OSS, seen through a small trait so that this crate does not depend
//! on the client (the client implements it; tests use an in-memory fake).

use std::future::Future;
use std::path::{Path, PathBuf};

use crate::model::SpoolPut;

/// A failed call to OSS.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}{}", if *.transient { " (transient: the next replay retries)" } else { "" })]
pub struct TargetError {
    /// A retry later may succeed (network, 5xx, throttling, open breaker).
    pub transient: bool,
    pub message: String,
}

impl TargetError {
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            transient: true,
            message: message.into(),
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            transient: false,
            message: message.into(),
        }
    }
}

/// The condition a replayed PUT carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutCondition {
    /// `x-oss-forbid-overwrite: true`: fail (409 `FileAlreadyExists` → [`PutResult::PreconditionFailed`])
    /// when the object exists.
    ForbidOverwrite,
    /// `If-Match: <etag>` (412 → [`PutResult::PreconditionFailed`]). Only sent when
    /// [`crate::SpoolOptions::send_if_match`] is on: OSS documents no If-Match on PutObject.
    IfMatch(String),
    /// A plain PUT.
    None,
}

/// The answer to a replayed PUT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutResult {
    /// OSS stored the object; its new ETag.
    Stored { etag: String },
    /// The condition failed; nothing was written.
    PreconditionFailed,
}

/// A spooled body, verified against its CRC-64 just before the PUT. Stream it from `path`
/// (never whole into memory); it stays there until the replay removes the entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayBody {
    pub path: PathBuf,
    pub len: u64,
    /// CRC-64/XZ: compare with the `x-oss-hash-crc64ecma` of the response.
    pub crc64: u64,
    /// MD5 of the body (for `Content-MD5`: base64 of these bytes).
    pub md5: [u8; 16],
}

impl ReplayBody {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Opens the body for streaming.
    pub async fn open(&self) -> std::io::Result<tokio::fs::File> {
        tokio::fs::File::open(&self.path).await
    }
}

/// Where a replay sends spooled PUTs. Implementations may use `async fn`; the futures must be
/// `Send` so that a replay can run in a spawned task.
pub trait ReplayTarget: Send + Sync {
    /// The object's ETag, or `None` when it does not exist (404).
    fn head_etag(
        &self,
        bucket: &str,
        key: &str,
    ) -> impl Future<Output = Result<Option<String>, TargetError>> + Send;

    /// Writes `body` as `put.bucket`/`put.key` with `put.content_type` and `put.metadata`
    /// under `condition`. `put.expect` is informational: the condition already encodes it.
    fn put(
        &self,
        put: &SpoolPut,
        body: &ReplayBody,
        condition: PutCondition,
    ) -> impl Future<Output = Result<PutResult, TargetError>> + Send;
}
