//! `Client::upload_file`: one PutObject below the threshold, else a parallel, resumable
//! multipart upload whose parts stream from disk.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::task::JoinSet;

use super::checkpoint::{
    blocking, file_fingerprint, put_options_digest, Checkpoint, CheckpointFile, CheckpointProbe,
    Direction, Loaded, Source, VERSION,
};
use super::checkpoint_writer;
use super::{
    abort_quietly, discard, io_err, same_etag, AbortGuard, Plan, Tracker, TransferOptions,
    Widening, SMALL_IN_MEMORY,
};
use crate::body::Body;
use crate::client::Client;
use crate::error::{Error, ErrorKind};
use crate::ops::multipart::{CompletedPart, PartMeta};
use crate::ops::object::{PutObjectOptions, PutObjectOutput};
use crate::ops::validate_key;

impl Client {
    /// Uploads the file at `path` as `bucket/key`.
    ///
    /// Files smaller than [`TransferOptions::multipart_threshold`] (and empty files) go up in one
    /// PutObject; larger ones as a multipart upload with up to
    /// [`TransferOptions::concurrency`] parts in flight (widening up to
    /// [`TransferOptions::max_concurrency`] while that pays), each read from disk as it is sent. A
    /// file of up to 256 KiB is read whole first and takes no checkpoint lock unless a
    /// checkpoint of it is on disk (two uploads of it at once: the last PUT wins). See
    /// the [module documentation](crate::transfer) for integrity checks, resuming and what
    /// happens on failure or cancellation.
    pub async fn upload_file(
        &self,
        path: &Path,
        bucket: &str,
        key: &str,
        opts: &TransferOptions,
    ) -> Result<PutObjectOutput, Error> {
        validate_key(key)?;
        let probe = opts
            .resumable
            .then(|| CheckpointFile::probe(opts, Direction::Upload, bucket, key));
        let (given, threshold) = (path.to_owned(), opts.multipart_threshold);
        let local = blocking(move || Local::inspect(&given, threshold, probe)).await?;
        let (path, size) = (local.path, local.size);
        // A small file read whole had no checkpoint to clear: no lock is worth taking (two PUTs
        // of one file cannot corrupt each other; the last one wins).
        let cp_file = match opts.resumable && local.data.is_none() {
            true => Some(CheckpointFile::new(opts, Direction::Upload, &path, bucket, key).await?),
            false => None,
        };
        if size == 0 || size < opts.multipart_threshold {
            // A checkpoint left by an earlier, larger version of this file is of no use now.
            if let Some(f) = &cp_file {
                discard(self, f, bucket, key, None).await?;
            }
            let mut t = Tracker::new(opts, size, 1);
            t.report();
            let body = match local.data {
                Some(data) => Body::from(data),
                None => Body::from_file_range(&path, 0, size),
            };
            let out = self.put_object(bucket, key, body, opts.put.clone()).await?;
            t.part_done(size);
            return Ok(out);
        }
        MultipartUpload {
            client: self,
            path,
            bucket,
            key,
            opts,
            cp_file,
        }
        .run()
        .await
    }

    /// Forgets the checkpoint of an interrupted [`upload_file`](Client::upload_file) of `path`
    /// to `bucket/key` and aborts its multipart upload. Returns whether there was one. Cheap
    /// when there is none (a stat; no lock is taken).
    pub async fn discard_upload_checkpoint(
        &self,
        path: &Path,
        bucket: &str,
        key: &str,
        opts: &TransferOptions,
    ) -> Result<bool, Error> {
        let path = match tokio::fs::canonicalize(path).await {
            Ok(p) => p,
            Err(_) => std::path::absolute(path)?,
        };
        match CheckpointFile::open_existing(opts, Direction::Upload, &path, bucket, key).await? {
            Some(f) => discard(self, &f, bucket, key, None).await,
            None => Ok(false),
        }
    }
}

/// The file to upload, as one blocking call found it.
struct Local {
    /// Canonical (checkpoints are named after it).
    path: PathBuf,
    size: u64,
    /// The whole file, when it is small ([`SMALL_IN_MEMORY`], below the multipart
    /// threshold) and no checkpoint of an earlier upload of it may exist.
    data: Option<Vec<u8>>,
}

impl Local {
    fn inspect(
        given: &Path,
        threshold: u64,
        probe: Option<CheckpointProbe>,
    ) -> Result<Local, Error> {
        let ctx = |e| io_err(format!("opening {}", given.display()), e);
        let path = std::fs::canonicalize(given).map_err(ctx)?;
        // Stat before opening: opening a FIFO would wait for a writer.
        let meta = std::fs::metadata(&path).map_err(ctx)?;
        if !meta.is_file() {
            return Err(Error::invalid_input(format!(
                "{} is not a regular file",
                path.display()
            )));
        }
        let size = meta.len();
        let small = size < threshold && size <= SMALL_IN_MEMORY;
        if !small || probe.is_some_and(|p| p.may_exist(&path)) {
            return Ok(Local {
                path,
                size,
                data: None,
            });
        }
        // Read to the end: a file that changed since the stat goes up as it is now, unless it
        // grew past the in-memory bound (then it streams, as a large file would).
        let mut data = Vec::with_capacity(size as usize);
        // Opened as a regular file only: the path may have changed since the stat.
        crate::file_chunks::open_regular(&path)
            .and_then(|f| f.take(SMALL_IN_MEMORY + 1).read_to_end(&mut data))
            .map_err(|e| io_err(format!("reading {}", path.display()), e))?;
        let grew = data.len() as u64 > SMALL_IN_MEMORY;
        Ok(Local {
            path,
            size: if grew { size } else { data.len() as u64 },
            data: (!grew).then_some(data),
        })
    }
}

struct MultipartUpload<'a> {
    client: &'a Client,
    path: PathBuf,
    bucket: &'a str,
    key: &'a str,
    opts: &'a TransferOptions,
    cp_file: Option<CheckpointFile>,
}

/// Why the part loop stopped early.
enum Stop {
    /// A part failed: resumable.
    Part(Error),
    /// Resuming is impossible (e.g. the checkpoint cannot be written).
    Fatal(Error),
}

impl MultipartUpload<'_> {
    async fn run(self) -> Result<PutObjectOutput, Error> {
        let (client, bucket, key, opts) = (self.client, self.bucket, self.key, self.opts);
        let source = file_fingerprint(&self.path).await?;
        let Source::File { size, .. } = source else {
            unreachable!("file fingerprints describe files")
        };
        let plan = Plan::new(size, opts.part_size)?;
        let put_digest = put_options_digest(&opts.put);
        let local_path = self.path.to_string_lossy().into_owned();

        let mut resumed = None;
        if let Some(f) = &self.cp_file {
            match f.load().await? {
                Loaded::None => {}
                Loaded::Corrupt { upload_id } => {
                    if let Some(id) = upload_id {
                        abort_quietly(client, bucket, key, &id).await;
                    }
                    f.remove().await;
                }
                Loaded::Found(cp) => {
                    let matches = cp.direction == Direction::Upload
                        && cp.bucket == bucket
                        && cp.key == key
                        && cp.local_path == local_path
                        && cp.part_size == plan.part_size
                        && cp.parts_total == plan.parts
                        && cp.source == source
                        && cp.put_options.as_deref() == Some(put_digest.as_str());
                    match (matches, &cp.upload_id) {
                        (true, Some(id)) => match client.list_parts(bucket, key, id).await {
                            Ok(server) => {
                                let mut done = verified_parts(&plan, &cp.parts, &server);
                                adopt_unrecorded_parts(&self.path, &plan, &server, &mut done)
                                    .await?;
                                resumed = Some((id.clone(), done));
                            }
                            Err(e) if e.code() == Some("NoSuchUpload") => {
                                f.remove().await;
                                // Completed by the run that left this checkpoint (its answer
                                // or the cleanup after it was lost): nothing to send again.
                                if let Some(out) =
                                    completed_by_checkpoint(client, &cp, &opts.put).await
                                {
                                    return Ok(out);
                                }
                            }
                            Err(e) => return Err(e),
                        },
                        _ => {
                            // Stale: the file, the part size or the metadata changed.
                            if let Some(id) = &cp.upload_id {
                                abort_quietly(client, &cp.bucket, &cp.key, id).await;
                            }
                            f.remove().await;
                        }
                    }
                }
            }
        }

        let (upload_id, mut done) = match resumed {
            Some(r) => r,
            None => (
                client
                    .initiate_multipart_upload(bucket, key, &opts.put)
                    .await?,
                BTreeMap::new(),
            ),
        };
        // Resumable uploads outlive failures and drops; the others abort.
        let mut guard = AbortGuard::new(client, bucket, key, &upload_id, !opts.resumable);
        let mut cp = Checkpoint {
            version: VERSION,
            direction: Direction::Upload,
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            local_path,
            part_size: plan.part_size,
            parts_total: plan.parts,
            upload_id: Some(upload_id.clone()),
            temp_path: None,
            source: source.clone(),
            put_options: Some(put_digest),
            parts: done.values().cloned().collect(),
        };
        if let Some(f) = &self.cp_file {
            if let Err(e) = f.save(&cp).await {
                guard.abort_now().await;
                f.remove().await;
                return Err(e);
            }
        }

        let mut tracker = Tracker::new(opts, size, plan.parts);
        for p in done.values() {
            tracker.add_silently(p.size);
        }
        tracker.report();

        let shared: Arc<(String, String, String, PathBuf)> = Arc::new((
            bucket.to_owned(),
            key.to_owned(),
            upload_id.clone(),
            self.path.clone(),
        ));
        let todo: Vec<u32> = (1..=plan.parts).filter(|n| !done.contains_key(n)).collect();
        let mut todo = todo.into_iter();
        let mut set: JoinSet<(u32, u32, Result<PartMeta, Error>)> = JoinSet::new();
        let mut stop: Option<Stop> = None;
        let mut writer = self.cp_file.as_ref().map(CheckpointFile::writer);
        let mut widening = Widening::new(opts);
        loop {
            while stop.is_none() && set.len() < widening.width() {
                let Some(n) = todo.next() else { break };
                let (off, len) = plan.range(n);
                let (c, s, epoch) = (client.clone(), shared.clone(), widening.epoch());
                set.spawn(crate::pipeline::deadline::inherit(async move {
                    let (b, k, id, path) = &*s;
                    let body = Body::from_file_range(path, off, len);
                    (n, epoch, c.upload_part(b, k, id, n, body).await)
                }));
            }
            if let (Some(w), false) = (&mut writer, matches!(stop, Some(Stop::Fatal(_)))) {
                w.start(|| cp.snapshot(&done));
            }
            let joined = tokio::select! {
                joined = set.join_next() => joined,
                written = checkpoint_writer::written(&mut writer) => {
                    match written {
                        Ok(recorded) => tracker.parts_done(recorded),
                        Err(e) => {
                            stop = Some(Stop::Fatal(e));
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
                Ok((n, epoch, Ok(part))) => {
                    let len = part.size;
                    widening.part_done(epoch, len, &mut tracker);
                    done.insert(n, part);
                    // Reported once a checkpoint records it (at once without one).
                    match &mut writer {
                        Some(w) => w.part_finished(len),
                        None => tracker.part_done(len),
                    }
                }
                Ok((_, _, Err(e))) => {
                    if stop.is_none() {
                        stop = Some(Stop::Part(e));
                    }
                    // Resumable: let the parts in flight finish, they count for the rerun.
                    if !opts.resumable {
                        set.abort_all();
                    }
                }
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(_) => {} // aborted above
            }
        }
        // Every finished part on disk before Complete (a rerun after a lost Complete answer
        // recognises the object by them) or before an error returns (the rerun resumes them).
        if let (Some(w), false) = (&mut writer, matches!(stop, Some(Stop::Fatal(_)))) {
            match w.flush(|| cp.snapshot(&done)).await {
                Ok(recorded) => tracker.parts_done(recorded),
                Err(e) => {
                    stop = Some(Stop::Fatal(e));
                }
            }
        }
        match stop {
            Some(Stop::Part(e)) if opts.resumable => return Err(e),
            Some(Stop::Part(e)) => {
                guard.abort_now().await;
                return Err(e);
            }
            Some(Stop::Fatal(e)) => return Err(self.give_up(&mut guard, e).await),
            None => {}
        }

        // Parts came from the file as it was while they were read; make sure that is still the
        // file the upload started with (and the checkpoint described).
        if file_fingerprint(&self.path).await? != source {
            let e = Error::from(std::io::Error::other(format!(
                "{} changed while it was being uploaded; upload it again",
                self.path.display()
            )));
            return Err(self.give_up(&mut guard, e).await);
        }
        let parts: Vec<CompletedPart> = done.values().map(CompletedPart::from).collect();
        // Complete runs in the caller's future: dropped while it is in flight, the checkpoint
        // stays, and a rerun either completes the upload or recognises the object by it
        // (`completed_by_checkpoint`); `sync` clears it when it finds the file in line.
        let out = client
            .complete_multipart_upload(bucket, key, &upload_id, &parts)
            .await;
        let out = match out {
            Err(e) if e.code().is_none() && !matches!(e.kind(), ErrorKind::Integrity { .. }) => {
                match completed_without_answer(client, bucket, key, &upload_id, &parts, &opts.put)
                    .await
                {
                    Some(done) => Ok(done),
                    None => Err(e),
                }
            }
            out => out,
        };
        match out {
            Ok(out) => {
                guard.disarm();
                if let Some(f) = &self.cp_file {
                    f.remove().await;
                }
                Ok(out)
            }
            // The object exists but is not what we sent: nothing to resume.
            Err(e) if matches!(e.kind(), ErrorKind::Integrity { .. }) => {
                guard.disarm();
                if let Some(f) = &self.cp_file {
                    f.remove().await;
                }
                Err(e)
            }
            // The recorded parts do not fit the upload (any more): start over next time.
            Err(e) if matches!(e.code(), Some("InvalidPart" | "NoSuchUpload")) => {
                Err(self.give_up(&mut guard, e).await)
            }
            Err(e) if opts.resumable => Err(e),
            Err(e) => {
                guard.abort_now().await;
                Err(e)
            }
        }
    }

    /// Aborts the upload and forgets the checkpoint.
    async fn give_up(&self, guard: &mut AbortGuard, e: Error) -> Error {
        guard.abort_now().await;
        if let Some(f) = &self.cp_file {
            f.remove().await;
        }
        e
    }
}

/// After a Complete that got no answer at all (the last attempt's was lost; or the deadline ran
/// out — then these checks fail at once too, and it is the rerun that recognises the object):
/// done when the upload is gone and the object is exactly what the parts and the upload's
/// options make. An upload still listed was not completed (the request never arrived, or is
/// still being carried out), whatever the object holds.
async fn completed_without_answer(
    client: &Client,
    bucket: &str,
    key: &str,
    upload_id: &str,
    parts: &[CompletedPart],
    put: &PutObjectOptions,
) -> Option<PutObjectOutput> {
    if !matches!(
        client.upload_exists(bucket, key, upload_id).await,
        Ok(false)
    ) {
        return None;
    }
    let expected = crate::ops::multipart::expected_object(parts)?;
    client.object_is(bucket, key, expected, Some(put)).await
}

/// The object, when a checkpoint whose upload is gone recorded every part (with its CRC-64)
/// and the object is exactly what they and the upload's options make.
async fn completed_by_checkpoint(
    client: &Client,
    cp: &Checkpoint,
    put: &PutObjectOptions,
) -> Option<PutObjectOutput> {
    if cp.parts.len() != cp.parts_total as usize {
        return None;
    }
    let parts: Vec<CompletedPart> = cp.parts.iter().map(CompletedPart::from).collect();
    let expected = crate::ops::multipart::expected_object(&parts)?;
    client
        .object_is(&cp.bucket, &cp.key, expected, Some(put))
        .await
}

/// Parts the server finished after the last checkpoint save (the process died in between):
/// adopted when their size and CRC-64 match the local file range, so a rerun never sends a
/// completed part again. Without a server CRC a part cannot be verified and is re-sent.
async fn adopt_unrecorded_parts(
    path: &Path,
    plan: &Plan,
    server: &[PartMeta],
    done: &mut BTreeMap<u32, PartMeta>,
) -> Result<(), Error> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    for p in server {
        if done.contains_key(&p.part_number) || !(1..=plan.parts).contains(&p.part_number) {
            continue;
        }
        let (offset, len) = plan.range(p.part_number);
        let Some(server_crc) = p.crc64.filter(|_| p.size == len) else {
            continue;
        };
        let mut f = crate::file_chunks::open_regular_async(path)
            .await
            .map_err(|e| io_err(path.display(), e))?;
        f.seek(std::io::SeekFrom::Start(offset))
            .await
            .map_err(|e| io_err(path.display(), e))?;
        let mut crc = ossguard_proto::crc64::Crc64::new();
        let mut reader = f.take(len);
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = reader
                .read(&mut buf)
                .await
                .map_err(|e| io_err(path.display(), e))?;
            if n == 0 {
                break;
            }
            crc.update(&buf[..n]);
        }
        if crc.len() == len && crc.value() == server_crc {
            done.insert(p.part_number, p.clone());
        }
    }
    Ok(())
}

/// The checkpoint's parts that the server still has, unchanged, and that fit the plan.
pub(super) fn verified_parts(
    plan: &Plan,
    recorded: &[PartMeta],
    server: &[PartMeta],
) -> BTreeMap<u32, PartMeta> {
    let server: HashMap<u32, &PartMeta> = server.iter().map(|p| (p.part_number, p)).collect();
    recorded
        .iter()
        .filter(|p| {
            (1..=plan.parts).contains(&p.part_number)
                && p.size == plan.range(p.part_number).1
                && p.crc64.is_some()
                && server.get(&p.part_number).is_some_and(|s| {
                    same_etag(&s.etag, &p.etag)
                        && s.size == p.size
                        && (s.crc64.is_none() || s.crc64 == p.crc64)
                })
        })
        .map(|p| (p.part_number, p.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(n: u32, etag: &str, size: u64, crc: u64) -> PartMeta {
        PartMeta {
            part_number: n,
            etag: etag.into(),
            size,
            crc64: Some(crc),
        }
    }

    #[test]
    fn only_matching_parts_are_resumed() {
        let plan = Plan::new(250 * 1024, 100 * 1024).unwrap();
        let recorded = vec![
            part(1, "\"A\"", 102_400, 1),
            part(2, "\"B\"", 102_400, 2),
            part(3, "\"C\"", 51_200, 3),
            part(4, "\"D\"", 1, 4),
        ];
        let server = vec![
            part(1, "a", 102_400, 1),     // same (quotes/case aside)
            part(2, "\"X\"", 102_400, 2), // overwritten since
            part(3, "\"C\"", 51_200, 9),  // different bytes
        ];
        let kept = verified_parts(&plan, &recorded, &server);
        assert_eq!(kept.keys().copied().collect::<Vec<_>>(), vec![1]);
    }
}
