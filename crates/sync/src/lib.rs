//! `ossguard-sync`: bring a destination tree in line with a source tree, like `rclone sync`.
//!
//! Sources and destinations are a local directory or `oss://bucket/prefix`; local → OSS uploads
//! through [`ossguard::Client::upload_file`] (resumable through its checkpoints), OSS → local
//! downloads through [`ossguard::Client::download_file`], OSS → OSS copies server-side through
//! [`ossguard::Client::copy_large`] (CopyObject, or UploadPartCopy parts for large objects).
//!
//! What "changed" means (rules and their reasons: [`plan`]): sizes differ; or, by default, the
//! source is newer than the object's `Last-Modified` (whole seconds — within that second the
//! `x-oss-meta-mtime` each upload records settles it with one HEAD), or, for local
//! destinations, the file's mtime differs from the object's `Last-Modified` (a download sets
//! it); or with `--checksum` the CRC-64s differ. Deletions run only after every copy succeeded.
//!
//! The engine is split the rustls way:
//! * [`plan`] is pure: a merge-join of two listings sorted by relative path decides
//!   [`plan::Action`]s one entry at a time, so memory does not grow with the number of keys;
//!   [`plan::DeleteGate`] says when deletions may run (only after every copy succeeded).
//! * [`filter`] is pure: the `--include` / `--exclude` glob patterns.
//! * [`sync`] (and the private `list`/`exec` modules) do the I/O: streamed listings (one page of
//!   1000 keys, or one directory, at a time), bounded parallel transfers, batched deletes.
//!
//! ```no_run
//! # async fn demo(client: ossguard::Client) -> Result<(), ossguard_sync::SyncError> {
//! use ossguard_sync::{sync, Location, SyncOptions};
//! let summary = sync(
//!     &client,
//!     &Location::Local("photos".into()),
//!     &Location::oss("backup", "photos"),
//!     &SyncOptions { delete: true, ..Default::default() },
//! )
//! .await?;
//! println!("{} copied, {} failed", summary.copied, summary.failed);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod exec;
pub mod filter;
mod list;
mod model;
mod pending;
pub mod plan;

pub use exec::sync;
pub use filter::{Filter, Glob};
pub use model::{
    Entry, Event, EventFn, Failure, Location, Op, Summary, SyncError, SyncOptions, DEFAULT_JOBS,
    MTIME_META,
};
pub use plan::{Action, CheckBy, Compare, MtimeRule, PlanError, Reason};
