//! `Client::download_file`: one GET below the threshold, else parallel ranged GETs pinned to the
//! object's ETag, written into `<dest>.ossguard-tmp` and renamed into place once the combined
//! CRC-64 matches the object's.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::StreamExt;
use ossguard_proto::crc64::{combine_parts, Crc64};
use ossguard_proto::error::TransportFailure;
use ossguard_proto::range::ByteRange;
use tokio::io::AsyncWriteExt;
use tokio::task::JoinSet;

use super::checkpoint::{
    blocking, sync_parent, Checkpoint, CheckpointFile, CheckpointProbe, Direction, Loaded, Source,
    VERSION,
};
use super::checkpoint_writer;
use super::part_writer::{PartWriter, StagingPool};
use super::write_behind::WriteBehind;
use super::{
    commit_to_end, discard, io_err, Plan, RemoveGuard, Tracker, TransferOptions, Widening,
    SMALL_IN_MEMORY,
};
use crate::body::ByteStream;
use crate::client::Client;
use crate::error::{Error, ErrorKind};
use crate::ops::multipart::PartMeta;
use crate::ops::object::{GetObjectOptions, ObjectMeta};
use crate::ops::validate_key;

/// Suffix of the temporary file a download writes before renaming it into place.
pub const TEMP_SUFFIX: &str = ".ossguard-tmp";

impl Client {
    /// Downloads `bucket/key` to `path` (parent directories are created).
    ///
    /// Objects smaller than [`TransferOptions::multipart_threshold`] come in one GET; larger ones
    /// in ranged GETs, [`TransferOptions::concurrency`] at once (widening up to
    /// [`TransferOptions::max_concurrency`] while that pays). Either way `path` appears
    /// only complete and verified (CRC-64), never half-written: a streamed body goes to
    /// `<path>.ossguard-tmp` first and is renamed into place; a small one (up to 256 KiB) is
    /// checked in memory and written in one go (on Linux through an unnamed file linked as
    /// `path`). A small object known from a listing
    /// ([`TransferOptions::download_size_hint`]) takes no checkpoint lock unless a checkpoint
    /// of `path` is on disk: two downloads of it to one `path` at once both succeed (the later
    /// file stays), and neither waits for a ranged download of `path` that has not written its
    /// checkpoint yet. Small uploads behave alike (see [`upload_file`](Client::upload_file)).
    ///
    /// Returns the object's metadata (from the HEAD that starts the download, or from the GET
    /// when [`TransferOptions::download_size_hint`] let it skip the HEAD). See the [module
    /// documentation](crate::transfer).
    pub async fn download_file(
        &self,
        bucket: &str,
        key: &str,
        path: &Path,
        opts: &TransferOptions,
    ) -> Result<ObjectMeta, Error> {
        validate_key(key)?;
        // A listing already said the object is small: one GET, no HEAD, and nothing on disk
        // touched before it (see `Target::Listed`).
        if let Some(listed) = opts
            .download_size_hint
            .filter(|&s| s < opts.multipart_threshold)
        {
            let target = Target::Listed(absolute_file(path)?);
            return self
                .download_whole(bucket, key, target, Known::Listed(listed), opts)
                .await;
        }
        let dest = destination(path).await?;
        let temp = temp_path(&dest);
        let cp_file = match opts.resumable {
            true => Some(CheckpointFile::new(opts, Direction::Download, &dest, bucket, key).await?),
            false => None,
        };
        let head = self.head_object(bucket, key).await?;
        if head.size == 0 || head.size < opts.multipart_threshold {
            if let Some(f) = &cp_file {
                discard(self, f, bucket, key, Some(&temp)).await?;
            }
            let target = Target::Resolved(Resolved {
                dest,
                temp,
                _checkpoint: cp_file,
            });
            return self
                .download_whole(bucket, key, target, Known::Head(head), opts)
                .await;
        }
        RangedDownload {
            client: self,
            bucket,
            key,
            dest,
            temp,
            head,
            opts,
            cp_file,
        }
        .run()
        .await
    }

    /// Forgets the checkpoint of an interrupted [`download_file`](Client::download_file) of
    /// `bucket/key` to `path` and deletes its temporary file. Returns whether there was one.
    pub async fn discard_download_checkpoint(
        &self,
        bucket: &str,
        key: &str,
        path: &Path,
        opts: &TransferOptions,
    ) -> Result<bool, Error> {
        let dest = destination(path).await?;
        match CheckpointFile::open_existing(opts, Direction::Download, &dest, bucket, key).await? {
            Some(f) => discard(self, &f, bucket, key, Some(&temp_path(&dest))).await,
            None => Ok(false),
        }
    }

    /// One GET streamed into the temporary file (the body's CRC-64 is checked at its end).
    async fn download_whole(
        &self,
        bucket: &str,
        key: &str,
        mut target: Target,
        known: Known,
        opts: &TransferOptions,
    ) -> Result<ObjectMeta, Error> {
        let (head, size_hint) = match known {
            Known::Head(head) => {
                let size = head.size;
                (Some(head), size)
            }
            Known::Listed(size) => (None, size),
        };
        let mut tracker = Tracker::new(opts, size_hint, 1);
        tracker.report();
        // Armed once a body streams into the temporary file.
        let mut guard = None;
        // Pinned to the HEAD's version; without a HEAD the GET's own headers describe the
        // version it returns (one response: one version).
        let get = GetObjectOptions {
            if_match: head.as_ref().and_then(if_match),
            ..Default::default()
        };
        // A CRC-64 mismatch shows only at the end of the body, after the pipeline's attempt
        // loop: the whole read is repeated here (it is transient, DESIGN.md §3).
        let attempts = self.inner.endpoint.policy.retry.max_attempts.max(1);
        let mut attempt = 0;
        let (received, meta) = loop {
            attempt += 1;
            let out = self.get_object(bucket, key, get.clone()).await?;
            let received = match out.meta.size <= SMALL_IN_MEMORY {
                true => into_memory(out.body, out.meta.size).await?,
                false => {
                    let temp = &target.resolve(self, bucket, key, opts).await?.temp;
                    guard.get_or_insert_with(|| RemoveGuard::new(temp, true));
                    into_temp_file(out.body, temp).await?
                }
            };
            match received {
                // Already counted by the body that caught it.
                Received::Corrupt(e) if attempt >= attempts => return Err(e),
                Received::Corrupt(_) => continue,
                r => break (r, out.meta),
            }
        };
        let meta = head.unwrap_or(meta);
        let n = received.len();
        if n != meta.size {
            return Err(short_body(n, meta.size));
        }
        match received {
            Received::Memory(data) => target.write_small(self, bucket, key, data, opts).await?,
            Received::File(file, _) => {
                let r = target.resolve(self, bucket, key, opts).await?;
                finish_file(file, &r.temp, &r.dest, opts.sync_each_file).await?
            }
            Received::Corrupt(e) => return Err(e), // the loop above never breaks with one
        }
        if let Some(g) = &mut guard {
            g.disarm();
        }
        tracker.part_done(n);
        Ok(meta)
    }
}

/// Where a single-GET download puts its bytes.
enum Target {
    /// Destination, temporary file and checkpoint lock, settled before the GET.
    Resolved(Resolved),
    /// A listed small object's absolute path, nothing on disk touched yet: its bytes come into
    /// memory and one blocking call ([`write_unless_checkpointed`]) puts them in place, with no
    /// checkpoint lock, directory creation or path resolution up front. `cp -r` of 10,000
    /// 4 KiB objects spent most of its time in those (an inode made and deleted per file for
    /// the lock, two blocking-pool round trips). It resolves like the HEAD path when the body
    /// turns out large or a checkpoint of this destination exists.
    Listed(PathBuf),
}

struct Resolved {
    dest: PathBuf,
    temp: PathBuf,
    /// Held (locked) until the download ends; any earlier checkpoint was discarded.
    _checkpoint: Option<CheckpointFile>,
}

impl Target {
    /// Resolves a listed target the way a HEAD-first download starts: destination, checkpoint
    /// lock, an earlier checkpoint (and its temporary file) discarded.
    async fn resolve(
        &mut self,
        client: &Client,
        bucket: &str,
        key: &str,
        opts: &TransferOptions,
    ) -> Result<&Resolved, Error> {
        if let Target::Listed(path) = self {
            let dest = destination(path).await?;
            let temp = temp_path(&dest);
            let checkpoint = match opts.resumable {
                true => {
                    let f =
                        CheckpointFile::new(opts, Direction::Download, &dest, bucket, key).await?;
                    discard(client, &f, bucket, key, Some(&temp)).await?;
                    Some(f)
                }
                false => None,
            };
            *self = Target::Resolved(Resolved {
                dest,
                temp,
                _checkpoint: checkpoint,
            });
        }
        match self {
            Target::Resolved(r) => Ok(r),
            Target::Listed(_) => unreachable!("resolved above"),
        }
    }

    /// Puts a small body in place, atomically (see [`atomic_file`](super::atomic_file)). A
    /// listed target does it in one blocking call unless a checkpoint of its destination
    /// exists: then it resolves (discarding that checkpoint under its lock) first.
    async fn write_small(
        &mut self,
        client: &Client,
        bucket: &str,
        key: &str,
        mut data: Vec<u8>,
        opts: &TransferOptions,
    ) -> Result<(), Error> {
        let sync = opts.sync_each_file;
        if let Target::Listed(path) = self {
            let path = path.clone();
            let probe = opts
                .resumable
                .then(|| CheckpointFile::probe(opts, Direction::Download, bucket, key));
            match blocking(move || write_unless_checkpointed(&path, data, sync, probe)).await? {
                None => return Ok(()),
                Some(back) => data = back,
            }
        }
        let dest = self.resolve(client, bucket, key, opts).await?.dest.clone();
        blocking(move || write_small_file(&dest, &data, sync)).await
    }
}

/// One GET's body, as `download_whole` received it.
enum Received {
    /// A small body, whole (written by [`write_small_file`]).
    Memory(Vec<u8>),
    /// Written to the temporary file (not yet synced): the file and the byte count.
    File(tokio::fs::File, u64),
    /// The body's CRC-64 did not match: read it again.
    Corrupt(Error),
}

impl Received {
    /// Bytes received (none for a corrupt body).
    fn len(&self) -> u64 {
        match self {
            Received::Memory(data) => data.len() as u64,
            Received::File(_, n) => *n,
            Received::Corrupt(_) => 0,
        }
    }
}

/// A small body into memory. The streaming path's staging buffer (1 MiB, zeroed) and second
/// open cost far more than the bytes of a 4 KiB file; one blocking call writes it later.
async fn into_memory(mut body: ByteStream, size: u64) -> Result<Received, Error> {
    let mut data = Vec::with_capacity(size.min(SMALL_IN_MEMORY) as usize);
    while let Some(chunk) = body.next().await {
        match chunk {
            Err(e) if matches!(e.kind(), ErrorKind::Integrity { .. }) => {
                return Ok(Received::Corrupt(e))
            }
            c => data.extend_from_slice(&c?),
        }
        if data.len() as u64 > size {
            break; // more than announced: the caller's length check refuses it
        }
    }
    Ok(Received::Memory(data))
}

/// A new, empty file at `path`: an old one is unlinked first rather than truncated, so a part
/// write a dropped run left on the blocking pool (of an older version of the object) lands in
/// the orphan, not in this file.
async fn fresh_file(path: &Path) -> Result<tokio::fs::File, Error> {
    match tokio::fs::remove_file(path).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err(format!("removing {}", path.display()), e)),
    }
    tokio::fs::File::create(path)
        .await
        .map_err(|e| io_err(format!("creating {}", path.display()), e))
}

/// A body streamed into a fresh `temp` through a [`PartWriter`].
async fn into_temp_file(mut body: ByteStream, temp: &Path) -> Result<Received, Error> {
    let file = fresh_file(temp).await?;
    let mut writer = PartWriter::open(temp, 0, false, &StagingPool::default()).await?;
    let mut n = 0u64;
    let mut corrupt = None;
    let received = async {
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Err(e) if matches!(e.kind(), ErrorKind::Integrity { .. }) => {
                    corrupt = Some(e);
                    break;
                }
                c => c?,
            };
            n += chunk.len() as u64;
            writer.write(&chunk).await?;
        }
        Ok::<(), Error>(())
    }
    .await;
    // Every write of this attempt lands before the file is truncated for the next.
    let written = writer.finish().await;
    received?;
    written?;
    Ok(match corrupt {
        Some(e) => Received::Corrupt(e),
        None => Received::File(file, n),
    })
}

/// What a single-GET download knows of the object before its GET.
enum Known {
    /// A HEAD's answer: the GET is pinned to its ETag.
    Head(ObjectMeta),
    /// Only the size a listing gave ([`TransferOptions::download_size_hint`]).
    Listed(u64),
}

/// `path` made absolute (no file system access), or an error if it names no file.
fn absolute_file(path: &Path) -> Result<PathBuf, Error> {
    let abs = std::path::absolute(path)?;
    match (abs.parent(), abs.file_name()) {
        (Some(_), Some(_)) => Ok(abs),
        _ => Err(Error::invalid_input(format!(
            "{} does not name a file",
            path.display()
        ))),
    }
}

/// Absolute destination path; the parent is created and resolved (symlinks) so that one file has
/// one checkpoint.
async fn destination(path: &Path) -> Result<PathBuf, Error> {
    let abs = absolute_file(path)?;
    // One blocking call for both: `cp -r` of many small objects pays a blocking-pool round
    // trip per file system call here.
    blocking(move || {
        let parent = abs.parent().expect("absolute_file checked");
        std::fs::create_dir_all(parent)
            .map_err(|e| io_err(format!("creating {}", parent.display()), e))?;
        Ok(canonical(&abs))
    })
    .await
}

/// `abs` (from [`absolute_file`]) with its parent's symlinks resolved, as checkpoints are named
/// (blocking); the parent as given where it cannot be resolved.
fn canonical(abs: &Path) -> PathBuf {
    let (Some(parent), Some(name)) = (abs.parent(), abs.file_name()) else {
        unreachable!("absolute_file checked both");
    };
    std::fs::canonicalize(parent)
        .unwrap_or_else(|_| parent.to_owned())
        .join(name)
}

fn temp_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_owned();
    name.push(TEMP_SUFFIX);
    dest.with_file_name(name)
}

fn if_match(head: &ObjectMeta) -> Option<String> {
    (!head.etag.is_empty()).then(|| head.etag.clone())
}

fn short_body(got: u64, want: u64) -> Error {
    Error::transport(
        TransportFailure::BodyTruncated,
        format!("received {got} bytes, expected {want}"),
    )
}

/// `data` to `dest` atomically, fsynced with its directory when `sync` (blocking).
fn write_small_file(dest: &Path, data: &[u8], sync: bool) -> Result<(), Error> {
    super::atomic_file::write_atomically(dest, data, sync)
        .map_err(|e| io_err(format!("writing {}", dest.display()), e))
}

/// [`write_small_file`] to a listed target's `path` (absolute), unless `probe` finds a checkpoint
/// of it: the data comes back untouched, for the caller to discard that checkpoint under its
/// lock first.
fn write_unless_checkpointed(
    path: &Path,
    data: Vec<u8>,
    sync: bool,
    probe: Option<CheckpointProbe>,
) -> Result<Option<Vec<u8>>, Error> {
    if probe.is_some_and(|p| p.may_exist(&canonical(path))) {
        return Ok(Some(data));
    }
    write_small_file(path, &data, sync)?;
    Ok(None)
}

/// Flushes and fsyncs the temporary file, renames it over `dest`, fsyncs the directory (without
/// either fsync when not `sync`).
async fn finish_file(
    mut file: tokio::fs::File,
    temp: &Path,
    dest: &Path,
    sync: bool,
) -> Result<(), Error> {
    let ctx = |e| io_err(format!("writing {}", temp.display()), e);
    file.flush().await.map_err(ctx)?;
    if sync {
        file.sync_all().await.map_err(ctx)?;
    }
    drop(file);
    tokio::fs::rename(temp, dest)
        .await
        .map_err(|e| io_err(format!("renaming into {}", dest.display()), e))?;
    if sync {
        sync_parent(dest).await;
    }
    Ok(())
}

struct RangedDownload<'a> {
    client: &'a Client,
    bucket: &'a str,
    key: &'a str,
    dest: PathBuf,
    temp: PathBuf,
    head: ObjectMeta,
    opts: &'a TransferOptions,
    cp_file: Option<CheckpointFile>,
}

impl RangedDownload<'_> {
    async fn run(self) -> Result<ObjectMeta, Error> {
        let (client, opts, size) = (self.client, self.opts, self.head.size);
        let plan = Plan::new(size, opts.part_size)?;
        let source = Source::Object {
            etag: self.head.etag.clone(),
            size,
            crc64: self.head.crc64,
        };
        let local_path = self.dest.to_string_lossy().into_owned();
        let temp_str = self.temp.to_string_lossy().into_owned();

        let mut done: BTreeMap<u32, PartMeta> = BTreeMap::new();
        let mut resuming = false;
        if let Some(f) = &self.cp_file {
            match f.load().await? {
                Loaded::None => {}
                Loaded::Corrupt { .. } => f.remove().await,
                Loaded::Found(cp) => {
                    let matches = cp.direction == Direction::Download
                        && cp.bucket == self.bucket
                        && cp.key == self.key
                        && cp.local_path == local_path
                        && cp.temp_path.as_deref() == Some(temp_str.as_str())
                        && cp.part_size == plan.part_size
                        && cp.parts_total == plan.parts
                        && cp.source == source;
                    if matches {
                        done = verify_temp(&self.temp, &plan, &cp.parts).await?;
                        resuming = true;
                    } else {
                        f.remove().await;
                    }
                }
            }
        }
        if !resuming || done.is_empty() {
            // Start (over) with a fresh temporary file of the object's size.
            let f = fresh_file(&self.temp).await?;
            f.set_len(size)
                .await
                .map_err(|e| io_err(format!("sizing {}", self.temp.display()), e))?;
            done.clear();
        }
        // Resumable downloads keep their temporary file on failure and drop; others delete it.
        let mut guard = RemoveGuard::new(&self.temp, !opts.resumable);
        let mut cp = Checkpoint {
            version: VERSION,
            direction: Direction::Download,
            bucket: self.bucket.to_owned(),
            key: self.key.to_owned(),
            local_path,
            part_size: plan.part_size,
            parts_total: plan.parts,
            upload_id: None,
            temp_path: Some(temp_str),
            source,
            put_options: None,
            parts: done.values().cloned().collect(),
        };

        let mut tracker = Tracker::new(opts, size, plan.parts);
        for p in done.values() {
            tracker.add_silently(p.size);
        }
        tracker.report();

        let shared = Arc::new(PartJob {
            client: client.clone(),
            bucket: self.bucket.to_owned(),
            key: self.key.to_owned(),
            if_match: if_match(&self.head),
            temp: self.temp.clone(),
            size,
            staging: StagingPool::default(),
        });
        let todo: Vec<u32> = (1..=plan.parts).filter(|n| !done.contains_key(n)).collect();
        let mut todo = todo.into_iter();
        let mut set: JoinSet<(u32, u32, Result<u64, Error>)> = JoinSet::new();
        let mut failure: Option<Error> = None;
        let mut fatal = false;
        let mut writer = self.cp_file.as_ref().map(CheckpointFile::writer);
        let mut write_behind = WriteBehind::open(&self.temp).await;
        let mut widening = Widening::new(opts);
        loop {
            while failure.is_none() && set.len() < widening.width() {
                let Some(n) = todo.next() else { break };
                let (off, len) = plan.range(n);
                let (job, epoch) = (shared.clone(), widening.epoch());
                set.spawn(crate::pipeline::deadline::inherit(async move {
                    (n, epoch, job.fetch(off, len).await)
                }));
            }
            if let (Some(w), false) = (&mut writer, fatal) {
                w.start(|| cp.snapshot(&done));
            }
            let joined = tokio::select! {
                joined = set.join_next() => joined,
                written = checkpoint_writer::written(&mut writer) => {
                    match written {
                        Ok(recorded) => tracker.parts_done(recorded),
                        Err(e) => {
                            failure.get_or_insert(e);
                            fatal = true;
                            set.abort_all();
                        }
                    }
                    continue;
                }
            };
            let Some(joined) = joined else {
                break;
            };
            match joined {
                Ok((n, epoch, Ok(crc))) => {
                    let len = plan.range(n).1;
                    widening.part_done(epoch, len, &mut tracker);
                    write_behind.part_written(len);
                    done.insert(
                        n,
                        PartMeta {
                            part_number: n,
                            etag: String::new(),
                            size: len,
                            crc64: Some(crc),
                        },
                    );
                    // Reported once a checkpoint records it (at once without one).
                    match &mut writer {
                        Some(w) => w.part_finished(len),
                        None => tracker.part_done(len),
                    }
                }
                Ok((_, _, Err(e))) => {
                    // The object changed since the HEAD: this download can never finish.
                    if e.status() == Some(412) {
                        fatal = true;
                    }
                    failure.get_or_insert(e);
                    if fatal || !opts.resumable {
                        set.abort_all();
                    }
                }
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(_) => {}
            }
        }
        // The finished parts on disk before an error returns, so the rerun resumes them.
        if let (Some(w), false) = (&mut writer, fatal) {
            match w.flush(|| cp.snapshot(&done)).await {
                Ok(recorded) => tracker.parts_done(recorded),
                Err(e) => {
                    failure.get_or_insert(e);
                    fatal = true;
                }
            }
        }
        if let Some(e) = failure {
            if fatal {
                // A checkpoint write still in flight would put back what give_up removes.
                checkpoint_writer::settle(&mut writer).await;
                self.give_up(&mut guard).await;
            }
            return Err(e);
        }

        let combined = combine_parts(done.values().map(|p| (p.crc64.unwrap_or_default(), p.size)));
        if let Some(expected) = self.head.crc64 {
            if expected != combined {
                let rounds = client
                    .inner
                    .endpoint
                    .policy
                    .retry
                    .max_attempts
                    .saturating_sub(1);
                if let Err(e) = repair_mismatch(&shared, &plan, &mut done, expected, rounds).await {
                    self.give_up(&mut guard).await;
                    return Err(e);
                }
            }
        }
        write_behind.settle().await;
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .open(&self.temp)
            .await
            .map_err(|e| io_err(format!("opening {}", self.temp.display()), e))?;
        // Every checkpoint write has landed (flushed above): the lock is the last step's alone.
        drop(writer);
        let (temp, dest, head) = (self.temp, self.dest, self.head);
        let cp_file = self.cp_file.map(CheckpointFile::into_last_step);
        commit_to_end(async move {
            finish_file(file, &temp, &dest, true).await?;
            guard.disarm();
            if let Some(f) = &cp_file {
                f.remove().await;
            }
            Ok(head)
        })
        .await
    }

    /// Deletes the temporary file and the checkpoint.
    async fn give_up(&self, guard: &mut RemoveGuard) {
        guard.disarm();
        let _ = tokio::fs::remove_file(&self.temp).await;
        if let Some(f) = &self.cp_file {
            f.remove().await;
        }
    }
}

/// What every ranged GET of one download shares.
struct PartJob {
    client: Client,
    bucket: String,
    key: String,
    if_match: Option<String>,
    temp: PathBuf,
    size: u64,
    /// Staging buffers passed from part to part.
    staging: StagingPool,
}

impl PartJob {
    /// GETs `len` bytes at `off` into the temporary file; returns their CRC-64.
    ///
    /// Not fsynced: a part recorded in the checkpoint whose bytes a power loss took is caught
    /// by its CRC-64 when the download resumes (`verify_temp`) and fetched again, and the file
    /// is fsynced once before its rename, so the disk is not waited for once per part.
    async fn fetch(&self, off: u64, len: u64) -> Result<u64, Error> {
        let last = off + len - 1;
        let get = GetObjectOptions {
            range: Some(ByteRange::Closed { first: off, last }),
            if_match: self.if_match.clone(),
            ..Default::default()
        };
        let out = self.client.get_object(&self.bucket, &self.key, get).await?;
        if out.content_range != Some((off, last, Some(self.size))) {
            return Err(Error::transport(
                TransportFailure::BodyTruncated,
                format!(
                    "asked for bytes {off}-{last}/{}, the server sent {:?}",
                    self.size, out.content_range
                ),
            )
            .in_op("GetObject"));
        }
        let mut file = PartWriter::open(&self.temp, off, true, &self.staging).await?;
        let mut body = out.body;
        let mut n = 0u64;
        let received = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk?;
                n += chunk.len() as u64;
                if n > len {
                    break;
                }
                file.write(&chunk).await?;
            }
            if n != len {
                return Err(short_body(n, len).in_op("GetObject"));
            }
            Ok(())
        }
        .await;
        if let Err(e) = received {
            // No write of this attempt may land after the part is fetched again.
            let _ = file.wait().await;
            return Err(e);
        }
        file.finish().await?;
        Ok(body.crc64())
    }
}

/// A ranged download whose parts combine to the wrong CRC-64 (a byte flipped in transit or on
/// disk; ranged answers carry no CRC of their own, so the bad part is unknown): instead of
/// discarding every part, first take each part's CRC-64 from the temporary file (what will be
/// renamed into place), then re-read parts one at a time, keeping what the re-read brings, and
/// stop as soon as the parts combine to `expected`. A round re-reads each part at most once
/// (at most the object's size), and at most `rounds` rounds are made; then the mismatch is an
/// [`ErrorKind::Integrity`] error.
async fn repair_mismatch(
    job: &PartJob,
    plan: &Plan,
    done: &mut BTreeMap<u32, PartMeta>,
    expected: u64,
    rounds: u32,
) -> Result<(), Error> {
    job.client
        .inner
        .endpoint
        .integrity_failure(ossguard_proto::Operation::GetObject);
    let combined = |d: &BTreeMap<u32, PartMeta>| {
        combine_parts(d.values().map(|p| (p.crc64.unwrap_or_default(), p.size)))
    };
    // What is on disk is what counts.
    let on_disk = disk_crcs(&job.temp, plan).await?;
    for (n, crc) in on_disk {
        if let Some(p) = done.get_mut(&n) {
            p.crc64 = Some(crc);
        }
    }
    if combined(done) == expected {
        return Ok(());
    }
    for _ in 0..rounds {
        for n in 1..=plan.parts {
            let (off, len) = plan.range(n);
            let crc = job.fetch(off, len).await?;
            if let Some(p) = done.get_mut(&n) {
                p.crc64 = Some(crc);
            }
            if combined(done) == expected {
                return Ok(());
            }
        }
    }
    Err(Error::new(ErrorKind::Integrity {
        expected,
        actual: combined(done),
    })
    .in_op("DownloadFile"))
}

/// The CRC-64 of every part of `plan` as the temporary file holds it.
async fn disk_crcs(temp: &Path, plan: &Plan) -> Result<Vec<(u32, u64)>, Error> {
    let (temp, plan) = (temp.to_owned(), *plan);
    blocking(move || {
        let ctx = |e| io_err(format!("reading {}", temp.display()), e);
        let mut f = std::fs::File::open(&temp).map_err(ctx)?;
        let mut buf = vec![0u8; 256 * 1024];
        let mut out = Vec::with_capacity(plan.parts as usize);
        for n in 1..=plan.parts {
            let (off, len) = plan.range(n);
            f.seek(SeekFrom::Start(off)).map_err(ctx)?;
            let mut crc = Crc64::new();
            let mut left = len;
            while left > 0 {
                let k = left.min(buf.len() as u64) as usize;
                f.read_exact(&mut buf[..k]).map_err(ctx)?;
                crc.update(&buf[..k]);
                left -= k as u64;
            }
            out.push((n, crc.value()));
        }
        Ok(out)
    })
    .await
}

/// The recorded parts whose bytes in the temporary file still have the recorded CRC-64 (a
/// missing or resized temporary file keeps none).
async fn verify_temp(
    temp: &Path,
    plan: &Plan,
    recorded: &[PartMeta],
) -> Result<BTreeMap<u32, PartMeta>, Error> {
    let (temp, plan, recorded) = (temp.to_owned(), *plan, recorded.to_vec());
    blocking(move || {
        let mut kept = BTreeMap::new();
        let Ok(mut f) = std::fs::File::open(&temp) else {
            return Ok(kept);
        };
        if f.metadata().map(|m| m.len()).ok() != Some(plan.size) {
            return Ok(kept);
        }
        let mut buf = vec![0u8; 256 * 1024];
        for p in recorded {
            if !(1..=plan.parts).contains(&p.part_number) {
                continue;
            }
            let (off, len) = plan.range(p.part_number);
            if p.size != len {
                continue;
            }
            let ctx = |e| io_err(format!("reading {}", temp.display()), e);
            f.seek(SeekFrom::Start(off)).map_err(ctx)?;
            let mut crc = Crc64::new();
            let mut left = len;
            while left > 0 {
                let n = left.min(buf.len() as u64) as usize;
                f.read_exact(&mut buf[..n]).map_err(ctx)?;
                crc.update(&buf[..n]);
                left -= n as u64;
            }
            if Some(crc.value()) == p.crc64 {
                kept.insert(p.part_number, p.clone());
            }
        }
        Ok(kept)
    })
    .await
}
