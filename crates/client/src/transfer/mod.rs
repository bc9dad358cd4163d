//! Resumable, parallel transfers between local files and objects.
//!
//! [`Client::upload_file`](crate::Client::upload_file) and
//! [`Client::download_file`](crate::Client::download_file) split large transfers into parts that
//! move in parallel ([`TransferOptions::concurrency`] at first, widening up to
//! [`TransferOptions::max_concurrency`] while that pays) and stream from / to disk: a
//! transfer never holds more than a few network buffers per part in memory, whatever the file size.
//!
//! # Integrity
//! * Uploads: every part's CRC-64 is checked against the server's as it is uploaded, and the
//!   completed object's CRC-64 against the combination of the part CRCs.
//! * Downloads: a HEAD fixes the object's ETag, size and CRC-64; every ranged GET carries
//!   `If-Match: <etag>` (an object replaced mid-download fails with 412 `PreconditionFailed`
//!   instead of mixing versions); the part CRCs are combined in order and compared with the
//!   object's CRC-64 before the temporary file (`<dest>.ossguard-tmp`) is renamed into place.
//!   On a mismatch the parts are re-read one at a time (bounded by the retry policy's attempts)
//!   until they combine right, rather than starting over.
//!
//! # Resuming (`resumable: true`, the default)
//! Each (source, destination, direction) pair has one checkpoint file in the checkpoint directory
//! (see [`TransferOptions::checkpoint_dir`]), named by a hash of direction, absolute local path,
//! bucket and key. It is rewritten atomically (temporary file, fsync, rename) as parts finish — beside the part
//! pipeline, not in it: the next part does not wait for the disk, and parts that finish during a
//! write are recorded together by the next one — and it
//! records the upload id, the finished parts (number, ETag, size, CRC-64), a fingerprint of the
//! source (file: size, mtime, CRC-64 of sampled blocks; object: ETag, size, CRC-64) and the part
//! size. A rerun of the same transfer resumes from it: an upload checks with ListParts that every
//! recorded part is still there with the same ETag and sends only the others; a download re-reads
//! the recorded ranges of its temporary file, checks their CRC-64 and fetches only the rest (the
//! downloaded parts are not fsynced one by one: that check is what makes a recorded part whose
//! bytes a power loss took harmless; the file is fsynced once, before its rename). A
//! checkpoint that is unreadable, belongs to a changed source or used a different part size is
//! discarded (its multipart upload aborted, best effort) and the transfer starts over. The
//! checkpoint is deleted on success. A rerun whose upload is gone but whose object already has
//! the CRC-64 of every recorded part (the earlier run completed, its answer was lost) succeeds
//! without sending anything.
//!
//! A checkpoint is held under an advisory lock (`<checkpoint>.lock`, released by the OS if the
//! process dies): a second transfer of the same file and object — in another process or this
//! one — waits up to 3 s for the first to end (up to 60 s for a download's last step in this
//! process, which runs on after its transfer is dropped and may fsync a large file), then fails
//! with an error naming the checkpoint instead of interleaving parts.
//! The upload metadata is fingerprinted from a versioned byte encoding (`v1:` + SHA-256), not
//! from Rust's `Debug` text; a checkpoint written before this encoding looks stale once and
//! that upload starts over.
//!
//! # Failure and cancellation
//! | mode | a part fails | the future is dropped |
//! |---|---|---|
//! | `resumable: true` | the multipart upload, the temporary download file and the checkpoint are **kept**, so a rerun resumes | **kept** as well (a dropped future looks the same as a killed process; rerun to resume) |
//! | `resumable: false` | the multipart upload is **aborted** / the temporary file deleted before the error is returned | **aborted** by a drop guard (the abort is spawned on the current runtime; wait for it with [`finishing::settled`] before the runtime ends) / temporary file deleted |
//!
//! An upload dropped while its CompleteMultipartUpload is in flight keeps its checkpoint: the
//! rerun completes the upload, or finds it gone and the object exactly what the recorded parts
//! make, and sends nothing again (`ossguard sync`, which skips a file it finds in line, drops
//! such a checkpoint through [`Client::discard_upload_checkpoint`](crate::Client::discard_upload_checkpoint)).
//! A Complete whose answer never came is checked the same way before it is reported failed.
//! A download's last step (the rename into place and the checkpoint's removal) runs to its end
//! on the runtime even when the future is dropped.
//!
//! A source file that changes during an upload, a checkpoint that cannot be written and an object
//! whose assembled CRC-64 does not match are not resumable: those abort and discard in both modes.
//! To give up on a kept transfer, call [`Client::discard_upload_checkpoint`](crate::Client::discard_upload_checkpoint)
//! / [`Client::discard_download_checkpoint`](crate::Client::discard_download_checkpoint).
//!
//! # Server-side copies of any size
//! [`Client::copy_large`](crate::Client::copy_large) copies an object to another key or bucket
//! without its bytes passing through the client: one CopyObject up to
//! [`TransferOptions::copy_threshold`] (OSS's CopyObject copies at most
//! [`MAX_COPY_OBJECT_SIZE`], 1 GiB), else a multipart upload whose parts are UploadPartCopy
//! ranges of the source, in parallel, each pinned to the source's ETag with
//! `x-oss-copy-source-if-match`. The copy's CRC-64 is checked against the source's. Copies are
//! not resumable (they move no local data): on failure or drop the multipart upload is aborted
//! (once Complete is sent, it and the CRC-64 check run to their end; a bad copy is deleted).

mod atomic_file;
mod checkpoint;
#[doc(hidden)]
pub use checkpoint::fuzz_one as fuzz_checkpoint;
mod checkpoint_writer;
mod copy;
mod download;
pub mod finishing;
mod part_writer;
mod stream;
mod upload;
mod write_behind;

pub use crate::file_chunks::open_regular;
pub use copy::CopyOutput;
pub use download::TEMP_SUFFIX;

/// Writes `data` to `path` atomically and durably (blocking): a reader, or a process killed
/// midway, finds the old file or the whole new one, never a part; a temporary file a kill can
/// leave ends in [`TEMP_SUFFIX`] (which listings and sync skip). `path`'s parent is created if
/// missing.
pub fn write_file_atomically(path: &Path, data: &[u8]) -> std::io::Result<()> {
    atomic_file::write_atomically(path, data, true)
}

/// Writes back everything cached for the file system holding `path` (`syncfs(2)`; on other
/// systems `sync(2)`) and reports a write-back error the kernel saw since — the end of a batch
/// downloaded with [`TransferOptions::sync_each_file`] off.
pub async fn sync_filesystem(path: &std::path::Path) -> Result<(), Error> {
    let path = path.to_owned();
    checkpoint::blocking(move || {
        let ctx = |e| io_err(format!("flushing the file system of {}", path.display()), e);
        let dir = std::fs::File::open(&path).map_err(ctx)?;
        #[cfg(target_os = "linux")]
        rustix::fs::syncfs(&dir).map_err(|e| ctx(e.into()))?;
        #[cfg(not(target_os = "linux"))]
        {
            drop(dir);
            rustix::fs::sync();
        }
        Ok(())
    })
    .await
}

use std::path::{Path, PathBuf};
use std::sync::Arc;

use checkpoint::Loaded;
use ossguard_resilience::ramp::Ramp;

use crate::client::Client;
use crate::error::Error;
use crate::ops::object::PutObjectOptions;

/// Smallest part OSS accepts (except the last one).
pub const MIN_PART_SIZE: u64 = 100 * 1024;
/// Largest part OSS accepts.
pub const MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;
/// Most parts one multipart upload may have.
pub const MAX_PARTS: u64 = 10_000;
/// Default part size (and multipart threshold).
pub const DEFAULT_PART_SIZE: u64 = 8 * 1024 * 1024;
/// Default number of parts in flight at the start of a file transfer.
pub const DEFAULT_CONCURRENCY: usize = 4;
/// Default ceiling of the parts in flight a file transfer widens to (see
/// [`TransferOptions::max_concurrency`]).
pub const DEFAULT_MAX_CONCURRENCY: usize = 16;
/// The largest object one CopyObject copies (1 GiB, as OSS documents); larger objects are copied
/// in UploadPartCopy parts.
pub const MAX_COPY_OBJECT_SIZE: u64 = 1024 * 1024 * 1024;
/// Default [`TransferOptions::copy_threshold`]: 100 MiB, ossutil's "big file" threshold.
pub const DEFAULT_COPY_THRESHOLD: u64 = 100 * 1024 * 1024;
/// Environment variable naming the default checkpoint directory.
pub const CHECKPOINT_DIR_ENV: &str = "OSSGUARD_CHECKPOINT_DIR";

/// A progress callback.
pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

/// How a transfer is split, how parallel it runs and whether it can be resumed.
#[derive(Clone)]
pub struct TransferOptions {
    /// Part size in bytes. Default 8 MiB; raised to 100 KiB at least, and so that a transfer has
    /// at most 10 000 parts.
    pub part_size: u64,
    /// Parts in flight at once (at the start, for file transfers that may widen: see
    /// [`max_concurrency`](Self::max_concurrency); [`with_concurrency`](Self::with_concurrency)
    /// fixes the width). Default 4 (0 counts as 1).
    pub concurrency: usize,
    /// [`Client::upload_file`](crate::Client::upload_file) and
    /// [`Client::download_file`](crate::Client::download_file) only: the most parts in flight
    /// the transfer widens to. It measures one wave of parts, doubles the width, and keeps the
    /// wider setting only when throughput grew by at least 1.25× (see
    /// [`resilience::ramp`](crate::resilience::ramp)): where each connection is capped on its
    /// own (a long path, per-connection shaping) the transfer widens; where the server, the
    /// disk or one link binds them all it returns to [`concurrency`](Self::concurrency).
    /// Default 16 (the client's data slots,
    /// [`Policy::data_concurrency`](crate::Policy::data_concurrency)); at or below
    /// `concurrency` the width is fixed. [`with_concurrency`](Self::with_concurrency)
    /// fixes it too.
    pub max_concurrency: usize,
    /// Files (objects) smaller than this move in one PutObject (one GET); larger ones, and those
    /// exactly this size, in parts. Default 8 MiB (the default part size).
    pub multipart_threshold: u64,
    /// Where checkpoints live. `None`: `$OSSGUARD_CHECKPOINT_DIR`, else
    /// `~/.ossguard/checkpoints`, else `<temp dir>/ossguard-checkpoints`.
    pub checkpoint_dir: Option<PathBuf>,
    /// Keep a checkpoint so an interrupted transfer resumes. Default true.
    pub resumable: bool,
    /// Metadata of the uploaded object (ignored by downloads, and by copies, which keep the
    /// source's).
    pub put: PutObjectOptions,
    /// Called (on the transfer's task) once at the start, with what a resumed transfer already
    /// has, and after every finished part.
    pub progress: Option<ProgressFn>,
    /// `upload_stream` only: the stream's length, when known (see
    /// [`Client::upload_stream`](crate::Client::upload_stream)). Default `None`.
    pub stream_len: Option<u64>,
    /// [`Client::copy_large`](crate::Client::copy_large) only: objects of at most this many
    /// bytes are copied with one CopyObject, larger ones in parallel UploadPartCopy parts of
    /// [`part_size`](Self::part_size). Default [`DEFAULT_COPY_THRESHOLD`] (100 MiB, like
    /// ossutil): a CopyObject is one silent server-side operation — the client sees no
    /// progress, a timeout or failure repeats all of it, and its time grows with the size —
    /// while parts copy in parallel and a failure costs one part. Values above
    /// [`MAX_COPY_OBJECT_SIZE`] (1 GiB, the most CopyObject copies) count as that.
    pub copy_threshold: u64,
    /// [`Client::copy_large`](crate::Client::copy_large) only: the source's size and ETag when
    /// the caller already knows them from a listing. A source at or below
    /// [`copy_threshold`](Self::copy_threshold) is then copied with one CopyObject pinned to
    /// that ETag without a HEAD first (one request per object instead of two; the copy's CRC-64
    /// cannot be compared with the source's then). Default `None`.
    pub copy_hint: Option<CopyHint>,
    /// The object's size as a listing gave it, for [`Client::download_file`]: below
    /// [`multipart_threshold`](Self::multipart_threshold) the download skips its HEAD and
    /// streams one GET, whose own headers give the metadata and the CRC-64 it is checked
    /// against (one request per object instead of two). A stale hint costs only parallelism:
    /// the GET returns whatever version the object is now, whole. Default `None`.
    ///
    /// [`Client::download_file`]: crate::Client::download_file
    pub download_size_hint: Option<u64>,
    /// Downloads in one GET (below [`multipart_threshold`](Self::multipart_threshold)): fsync
    /// the file and its directory before returning. Default true. `false` only renames the
    /// finished file into place: a killed process still never leaves a partial file under the
    /// destination's name (the rename is atomic), but a power cut can lose what the kernel had
    /// not yet written back. For batches of small files that make themselves durable once, at
    /// the end, with [`sync_filesystem`] — two fsyncs per 4 KiB file halved `ossguard cp -r`.
    pub sync_each_file: bool,
}

/// What a listing already says about a copy source (see [`TransferOptions::copy_hint`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyHint {
    /// The source's size in bytes.
    pub size: u64,
    /// The source's ETag as listed; the copy is pinned to it with
    /// `x-oss-copy-source-if-match`. If the source changed since, copy_large falls back to a
    /// HEAD and copies the current version.
    pub etag: String,
}

impl Default for TransferOptions {
    fn default() -> Self {
        Self {
            part_size: DEFAULT_PART_SIZE,
            concurrency: DEFAULT_CONCURRENCY,
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            multipart_threshold: DEFAULT_PART_SIZE,
            checkpoint_dir: None,
            resumable: true,
            put: PutObjectOptions::default(),
            progress: None,
            stream_len: None,
            copy_threshold: DEFAULT_COPY_THRESHOLD,
            copy_hint: None,
            download_size_hint: None,
            sync_each_file: true,
        }
    }
}

impl std::fmt::Debug for TransferOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransferOptions")
            .field("part_size", &self.part_size)
            .field("concurrency", &self.concurrency)
            .field("max_concurrency", &self.max_concurrency)
            .field("multipart_threshold", &self.multipart_threshold)
            .field("checkpoint_dir", &self.checkpoint_dir)
            .field("resumable", &self.resumable)
            .field("put", &self.put)
            .field("progress", &self.progress.as_ref().map(|_| "Fn(Progress)"))
            .field("stream_len", &self.stream_len)
            .field("copy_threshold", &self.copy_threshold)
            .field("copy_hint", &self.copy_hint)
            .field("download_size_hint", &self.download_size_hint)
            .finish()
    }
}

impl TransferOptions {
    /// Sets the part size and the multipart threshold together.
    pub fn with_part_size(mut self, part_size: u64) -> Self {
        self.part_size = part_size;
        self.multipart_threshold = part_size;
        self
    }

    /// Fixes the parts in flight at `n`: sets [`concurrency`](Self::concurrency) and
    /// [`max_concurrency`](Self::max_concurrency) both.
    pub fn with_concurrency(mut self, n: usize) -> Self {
        self.concurrency = n;
        self.max_concurrency = n;
        self
    }

    /// Sets [`max_concurrency`](Self::max_concurrency), the width a file transfer may widen to.
    pub fn with_max_concurrency(mut self, n: usize) -> Self {
        self.max_concurrency = n;
        self
    }

    /// Calls `f` with the transfer's [`Progress`] (see [`progress`](Self::progress)).
    pub fn with_progress(mut self, f: impl Fn(Progress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(f));
        self
    }

    /// The checkpoint directory this transfer uses (see [`TransferOptions::checkpoint_dir`]).
    pub fn resolved_checkpoint_dir(&self) -> PathBuf {
        if let Some(d) = &self.checkpoint_dir {
            return d.clone();
        }
        if let Some(d) = std::env::var_os(CHECKPOINT_DIR_ENV).filter(|d| !d.is_empty()) {
            return PathBuf::from(d);
        }
        let home = std::env::var_os("HOME")
            .or_else(|| std::env::var_os("USERPROFILE"))
            .filter(|h| !h.is_empty());
        match home {
            Some(h) => PathBuf::from(h).join(".ossguard").join("checkpoints"),
            None => checkpoint::fallback_dir(),
        }
    }

    fn parallelism(&self) -> usize {
        self.concurrency.max(1)
    }
}

/// How far a transfer is. Built by the transfers only (fields may be added).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// Bytes moved so far (in finished parts, counted as `parts_done` is), those a resumed
    /// transfer already had included.
    pub bytes_done: u64,
    /// The file's or object's size.
    pub bytes_total: u64,
    /// Parts finished so far, those a resumed transfer already had included. A resumable
    /// transfer counts a part once its checkpoint records it, so a rerun after a crash resumes
    /// at least this many.
    pub parts_done: u32,
    /// Parts in all (1 for a transfer below the multipart threshold).
    pub parts_total: u32,
    /// Parts the transfer keeps in flight now (it may widen: see
    /// [`TransferOptions::max_concurrency`]).
    pub width: u32,
}

/// The part layout of a transfer of `size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Plan {
    pub part_size: u64,
    pub parts: u32,
    pub size: u64,
}

impl Plan {
    /// `part_size` raised to [`MIN_PART_SIZE`] and so that there are at most [`MAX_PARTS`].
    pub fn new(size: u64, part_size: u64) -> Result<Self, Error> {
        let mut ps = part_size.max(MIN_PART_SIZE);
        if size.div_ceil(ps) > MAX_PARTS {
            // Round up to a multiple of 64 KiB for tidy offsets.
            ps = size.div_ceil(MAX_PARTS).next_multiple_of(64 * 1024);
        }
        if ps > MAX_PART_SIZE {
            return Err(Error::invalid_input(format!(
                "{size} bytes do not fit in {MAX_PARTS} parts of at most {MAX_PART_SIZE} bytes"
            )));
        }
        Ok(Self {
            part_size: ps,
            parts: size.div_ceil(ps) as u32,
            size,
        })
    }

    /// `(offset, len)` of part `n` (1-based).
    pub fn range(&self, n: u32) -> (u64, u64) {
        let off = (n as u64 - 1) * self.part_size;
        (off, self.part_size.min(self.size - off))
    }
}

/// Reports progress; counts what is done.
pub(crate) struct Tracker {
    f: Option<ProgressFn>,
    p: Progress,
}

impl Tracker {
    /// Reports to `opts.progress`; the width starts at `opts`' parallelism, or the parts there
    /// are when fewer (`parts_total` 0: not known yet).
    fn new(opts: &TransferOptions, bytes_total: u64, parts_total: u32) -> Self {
        let width = match parts_total {
            0 => opts.parallelism(),
            n => opts.parallelism().min(n as usize),
        };
        Self {
            f: opts.progress.clone(),
            p: Progress {
                bytes_done: 0,
                bytes_total,
                parts_done: 0,
                parts_total,
                width: u32::try_from(width).unwrap_or(u32::MAX),
            },
        }
    }

    /// Counts without reporting (resumed parts).
    fn add_silently(&mut self, bytes: u64) {
        self.p.bytes_done += bytes;
        self.p.parts_done += 1;
    }

    fn report(&self) {
        if let Some(f) = &self.f {
            f(self.p);
        }
    }

    fn part_done(&mut self, bytes: u64) {
        self.add_silently(bytes);
        self.report();
    }

    /// [`part_done`](Self::part_done) for each size, in order.
    fn parts_done(&mut self, sizes: Vec<u64>) {
        sizes.into_iter().for_each(|bytes| self.part_done(bytes));
    }
}

/// The parts a file transfer keeps in flight: its [`Ramp`] on the transfer's own clock (tokio's,
/// so paused-time tests drive it), reported through the [`Tracker`].
pub(crate) struct Widening {
    ramp: Ramp,
    started: tokio::time::Instant,
}

impl Widening {
    /// Starts now, at `opts.concurrency`, widening up to `opts.max_concurrency`.
    fn new(opts: &TransferOptions) -> Self {
        Self {
            ramp: Ramp::new(opts.parallelism(), opts.max_concurrency),
            started: tokio::time::Instant::now(),
        }
    }

    /// Parts to keep in flight now.
    fn width(&self) -> usize {
        self.ramp.width()
    }

    /// Tag for a part launched now.
    fn epoch(&self) -> u32 {
        self.ramp.epoch()
    }

    /// A part launched in `epoch` finished, having moved `bytes`; the tracker reports the
    /// width from now on.
    fn part_done(&mut self, epoch: u32, bytes: u64, tracker: &mut Tracker) {
        self.ramp.part_done(self.started.elapsed(), epoch, bytes);
        tracker.p.width = u32::try_from(self.ramp.width()).unwrap_or(u32::MAX);
    }
}

/// A local I/O error with context.
pub(crate) fn io_err(what: impl std::fmt::Display, e: std::io::Error) -> Error {
    Error::from(std::io::Error::new(e.kind(), format!("{what}: {e}")))
}

/// Etags compare without quotes and case.
pub(crate) fn same_etag(a: &str, b: &str) -> bool {
    let n = |s: &str| s.trim().trim_matches('"').to_ascii_uppercase();
    n(a) == n(b)
}

/// Aborts a multipart upload, ignoring failures (it may already be gone).
pub(crate) async fn abort_quietly(client: &Client, bucket: &str, key: &str, upload_id: &str) {
    let _ = client.abort_multipart_upload(bucket, key, upload_id).await;
}

/// Deletes a checkpoint, aborting the upload it names and removing its temporary download file
/// (only when that is `expected_temp`, never a path read from a damaged file). Returns whether
/// there was a checkpoint.
pub(crate) async fn discard(
    client: &Client,
    file: &checkpoint::CheckpointFile,
    bucket: &str,
    key: &str,
    expected_temp: Option<&Path>,
) -> Result<bool, Error> {
    match file.load().await? {
        Loaded::None => return Ok(false),
        Loaded::Corrupt { upload_id } => {
            if let Some(id) = upload_id {
                abort_quietly(client, bucket, key, &id).await;
            }
        }
        Loaded::Found(cp) => {
            if let Some(id) = &cp.upload_id {
                abort_quietly(client, &cp.bucket, &cp.key, id).await;
            }
            if let (Some(t), Some(exp)) = (&cp.temp_path, expected_temp) {
                if Path::new(t) == exp {
                    let _ = tokio::fs::remove_file(exp).await;
                }
            }
        }
    }
    file.remove().await;
    Ok(true)
}

/// Runs a transfer's last step (a download's rename into place and the checkpoint's removal; a
/// copy's Complete and CRC-64 check) to its end even when the caller stops waiting: dropped
/// halfway, a file would be in place with its checkpoint left behind, or a bad copy would stay.
/// Keeps the caller's deadline; a process about to exit waits for it with
/// [`finishing::settled`].
pub(crate) async fn commit_to_end<T: Send + 'static>(
    commit: impl std::future::Future<Output = Result<T, Error>> + Send + 'static,
) -> Result<T, Error> {
    match finishing::spawn(crate::pipeline::deadline::inherit(commit)).await {
        Ok(r) => r,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(Error::from(std::io::Error::other(
            "the runtime shut down while a transfer was being committed",
        ))),
    }
}

/// Aborts its multipart upload when dropped while armed (spawned on the current runtime as
/// [`finishing`] work).
pub(crate) struct AbortGuard {
    client: Client,
    bucket: String,
    key: String,
    upload_id: String,
    armed: bool,
}

impl AbortGuard {
    pub fn new(client: &Client, bucket: &str, key: &str, upload_id: &str, armed: bool) -> Self {
        Self {
            client: client.clone(),
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            upload_id: upload_id.to_owned(),
            armed,
        }
    }

    pub fn disarm(&mut self) {
        self.armed = false;
    }

    /// Aborts now (best effort) and disarms. Armed until the abort has returned: dropped
    /// halfway (a caller's timeout while the abort is retried), the guard aborts again.
    pub async fn abort_now(&mut self) {
        abort_quietly(&self.client, &self.bucket, &self.key, &self.upload_id).await;
        self.armed = false;
    }
}

impl Drop for AbortGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        if tokio::runtime::Handle::try_current().is_ok() {
            let (c, b, k, id) = (
                self.client.clone(),
                std::mem::take(&mut self.bucket),
                std::mem::take(&mut self.key),
                std::mem::take(&mut self.upload_id),
            );
            finishing::spawn(async move { abort_quietly(&c, &b, &k, &id).await });
        }
    }
}

/// Files and bodies up to this size move through memory in one piece: a download is written
/// in one blocking call (see `download_whole`), an upload read in one. Larger ones stream.
pub(crate) const SMALL_IN_MEMORY: u64 = 256 * 1024;

/// Removes a file when dropped while armed.
pub(crate) struct RemoveGuard {
    path: PathBuf,
    armed: bool,
}

impl RemoveGuard {
    pub fn new(path: &Path, armed: bool) -> Self {
        Self {
            path: path.to_owned(),
            armed,
        }
    }

    pub fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for RemoveGuard {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans() {
        let p = Plan::new(25 * 1024 * 1024 + 1, 1024 * 1024).unwrap();
        assert_eq!((p.parts, p.range(26)), (26, (25 * 1024 * 1024, 1)));
        let p = Plan::new(10, 1).unwrap();
        assert_eq!(
            (p.part_size, p.parts, p.range(1)),
            (MIN_PART_SIZE, 1, (0, 10))
        );
        let p = Plan::new(0, DEFAULT_PART_SIZE).unwrap();
        assert_eq!(p.parts, 0);
        // 1 TiB with 8 MiB parts would be 131072 parts: raised.
        let p = Plan::new(1 << 40, DEFAULT_PART_SIZE).unwrap();
        assert!(p.parts as u64 <= MAX_PARTS && p.part_size.is_multiple_of(64 * 1024));
        assert_eq!(p.range(p.parts).0 + p.range(p.parts).1, 1 << 40);
        assert!(Plan::new(MAX_PART_SIZE * MAX_PARTS + 1, 1).is_err());
    }

    #[test]
    fn default_dir_prefers_explicit_then_env() {
        let o = TransferOptions {
            checkpoint_dir: Some("/x".into()),
            ..Default::default()
        };
        assert_eq!(o.resolved_checkpoint_dir(), PathBuf::from("/x"));
        assert!(TransferOptions::default()
            .resolved_checkpoint_dir()
            .is_absolute());
    }
}
