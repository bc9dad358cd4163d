//! AppendObject.
//!
//! Appends write in place after the committed length of the object's data file, then commit a
//! record with the new length. Until that commit, readers (and a crash) see the old length, and
//! bytes past it are ignored; the next append first truncates them away. Appends and ACL changes
//! of one key are serialised by the key lock; a put/copy/delete racing an append is detected at
//! commit (the record changed) and the append fails as if it had come second. Copies of an
//! appendable object are real copies, so no other object shares the file being written.

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};

use md5::{Digest, Md5};
use ossguard_proto::crc64::Crc64;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::{mpsc, OwnedMutexGuard};

use super::body::write_new_data;
use super::commit::{explain_io, CommitHold};
use super::durable::{fresh_path, PendingFile, DATA_SUFFIX};
use super::names::validate_key;
use super::object::file_name;
use super::state::{Bucket, ObjectRecord};
use super::types::{ObjectHeaders, ObjectInfo, ObjectType};
use super::{Result, Store, StoreError};

impl Store {
    /// Appends `body` at `position`, which must equal the object's current length (0 creates a
    /// new Appendable object with `headers`; later appends ignore `headers`). Returns the
    /// updated metadata: `size` is the next append position and `crc64` covers the whole object.
    ///
    /// Errors: `PositionNotEqualToLength { next_position }`, `ObjectNotAppendable` for objects
    /// not created by append.
    pub async fn append_object<R>(
        &self,
        bucket: &str,
        key: &str,
        position: u64,
        mut body: R,
        headers: ObjectHeaders,
    ) -> Result<ObjectInfo>
    where
        R: AsyncRead + Unpin + Send,
    {
        validate_key(key)?;
        let b = self.bucket(bucket)?;
        let key_lock = self.lock_key(bucket, key).await;
        let current = b.lock().objects.get(key).cloned();
        let dir = self.layout().objects_dir(&b.name);
        let sync = self.layout().sync;
        let Some(current) = current else {
            if position != 0 {
                return Err(StoreError::PositionNotEqualToLength { next_position: 0 });
            }
            let data = PendingFile::new(fresh_path(&dir, DATA_SUFFIX));
            let written = write_new_data(data.path(), &mut body, sync)
                .await
                .map_err(|e| explain_io(&b, e))?;
            let record = ObjectRecord {
                info: ObjectInfo {
                    key: key.to_owned(),
                    size: written.size,
                    etag: appendable_etag(written.crc64, written.size),
                    content_md5: None,
                    crc64: written.crc64,
                    last_modified_ms: self.now_ms(),
                    object_type: ObjectType::Appendable,
                    headers: headers.normalized(),
                },
                data_file: file_name(data.path()),
                segments: Vec::new(),
                upload_id: None,
            };
            let key = key.to_owned();
            let hold = CommitHold {
                new_data: vec![data],
                key_lock: Some(key_lock),
            };
            return self
                .commit_object(b, record, hold, move |now| match now {
                    None => Ok(()),
                    Some(_) => Err(conflict(now, &key)),
                })
                .await;
        };
        if current.info.object_type != ObjectType::Appendable {
            return Err(StoreError::ObjectNotAppendable(key.to_owned()));
        }
        if position != current.info.size {
            return Err(StoreError::PositionNotEqualToLength {
                next_position: current.info.size,
            });
        }
        // The file is written by one blocking task that also commits and owns the key lock, so
        // no write of this append can land after the lock is released, even if this future is
        // dropped mid-body (tokio's own file writes would finish in the background).
        let (tx, rx) = mpsc::channel::<Chunk>(4);
        let this = self.clone();
        let writer =
            tokio::task::spawn_blocking(move || this.append_in_place(&b, current, rx, key_lock));
        let fed = feed(&mut body, &tx).await;
        drop(tx);
        let written = match writer.await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => Err(StoreError::Io(std::io::Error::other(e))),
        };
        // A broken body is the more useful error (the writer only saw the stream stop).
        fed.map_err(StoreError::from).and(written)
    }

    /// Blocking half of an append to an existing object: write the chunks after the committed
    /// length, fsync, commit the longer record (only if the object did not change meanwhile).
    fn append_in_place(
        &self,
        bucket: &Bucket,
        current: ObjectRecord,
        mut chunks: mpsc::Receiver<Chunk>,
        key_lock: OwnedMutexGuard<()>,
    ) -> Result<ObjectInfo> {
        let layout = self.layout();
        let length = current.info.size;
        let path = layout.objects_dir(&bucket.name).join(&current.data_file);
        let written = (|| {
            let mut file = OpenOptions::new().write(true).open(&path)?;
            // Drop bytes of an earlier append that never committed.
            file.set_len(length)?;
            file.seek(SeekFrom::Start(length))?;
            let mut crc = Crc64::resume(current.info.crc64);
            let mut size = 0u64;
            loop {
                match chunks.blocking_recv() {
                    Some(Chunk::Data(bytes)) => {
                        crc.update(&bytes);
                        file.write_all(&bytes)?;
                        size += bytes.len() as u64;
                    }
                    Some(Chunk::End) => break,
                    None => {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::Interrupted,
                            "append body stopped before its end",
                        ))
                    }
                }
            }
            if layout.sync {
                file.sync_all()?;
            }
            Ok((size, crc.value()))
        })();
        let (size, crc64) = written.map_err(|e| changed_or_io(bucket, &current, e))?;
        let mut record = current.clone();
        record.info.size = length + size;
        record.info.crc64 = crc64;
        record.info.etag = appendable_etag(crc64, record.info.size);
        record.info.last_modified_ms = self.now_ms();
        let key = current.info.key.clone();
        let hold = CommitHold {
            new_data: Vec::new(),
            key_lock: Some(key_lock),
        };
        self.commit_object_blocking(bucket, record, hold, move |now| {
            if now == Some(&current) {
                Ok(())
            } else {
                Err(conflict(now, &key))
            }
        })
    }
}

/// What the async side hands the blocking writer: body bytes, then `End` once the body is
/// complete. A closed channel without `End` means the body failed or the request went away.
enum Chunk {
    Data(Vec<u8>),
    End,
}

/// Reads `body` to its end into `tx`. Stops early (Ok) if the writer has already given up.
async fn feed<R: AsyncRead + Unpin>(body: &mut R, tx: &mpsc::Sender<Chunk>) -> std::io::Result<()> {
    loop {
        let mut buf = vec![0u8; 256 * 1024];
        let n = body.read(&mut buf).await?;
        if n == 0 {
            let _ = tx.send(Chunk::End).await;
            return Ok(());
        }
        buf.truncate(n);
        if tx.send(Chunk::Data(buf)).await.is_err() {
            return Ok(());
        }
    }
}

/// The error an append gets when the object is not (any more) the one it appended to.
fn conflict(now: Option<&ObjectRecord>, key: &str) -> StoreError {
    match now {
        None => StoreError::PositionNotEqualToLength { next_position: 0 },
        Some(r) if r.info.object_type != ObjectType::Appendable => {
            StoreError::ObjectNotAppendable(key.to_owned())
        }
        Some(r) => StoreError::PositionNotEqualToLength {
            next_position: r.info.size,
        },
    }
}

/// An I/O error while appending is a conflict if the object was replaced meanwhile (its file
/// may have been unlinked under us).
fn changed_or_io(bucket: &Bucket, appended_to: &ObjectRecord, e: std::io::Error) -> StoreError {
    let state = bucket.lock();
    if state.removed {
        return StoreError::NoSuchBucket(bucket.name.clone());
    }
    let now = state.objects.get(&appended_to.info.key);
    if now == Some(appended_to) {
        StoreError::Io(e)
    } else {
        conflict(now, &appended_to.info.key)
    }
}

/// Opaque ETag of an appendable object: MD5 of (CRC, length), so it changes with every
/// non-empty append and is the same for the same content.
fn appendable_etag(crc64: u64, size: u64) -> String {
    let mut md5 = Md5::new();
    md5.update(crc64.to_be_bytes());
    md5.update(size.to_be_bytes());
    format!("\"{}\"", hex::encode_upper(md5.finalize()))
}
