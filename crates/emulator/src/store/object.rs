//! Simple objects: put, get, head, delete, copy, ACL.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io;
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use base64::Engine as _;
use tokio::io::AsyncRead;

use super::body::{concat_files, copy_prefix, md5_etag, write_new_data, ObjectBody, INLINE_MAX};
use super::commit::{explain_io, CommitHold};
use super::durable::{fresh_path, sync_dir, PendingFile, DATA_SUFFIX};
use super::names::{record_file_name, validate_key};
use super::read_pins::PinnedSegments;
use super::state::{ObjectRecord, Segment};
use super::types::{
    CopyOptions, MetadataDirective, ObjectAcl, ObjectHeaders, ObjectInfo, ObjectType, PutOptions,
};
use super::{blocking, Result, Store, StoreError};

/// What [`Store::get_object`] returns: the object's metadata and a reader over the range.
#[derive(Debug)]
pub struct GetObjectOutput {
    pub info: ObjectInfo,
    /// The byte range `body` yields (the requested one, with `end` clamped to the size).
    pub range: Range<u64>,
    pub body: ObjectBody,
}

/// Base64 of an MD5, the `Content-MD5` form.
pub(crate) fn md5_base64(md5: &[u8; 16]) -> String {
    base64::engine::general_purpose::STANDARD.encode(md5)
}

/// The file name part of a path we made with `fresh_path`.
pub(crate) fn file_name(path: &Path) -> String {
    path.file_name()
        .and_then(|n| n.to_str())
        .expect("store paths end in an ASCII file name")
        .to_owned()
}

impl Store {
    /// Stores `body` under `key`, streaming it to disk while computing size, MD5 and CRC-64.
    /// The object becomes visible only once complete and durable; a concurrent put of the same
    /// key that commits later wins.
    pub async fn put_object<R>(
        &self,
        bucket: &str,
        key: &str,
        mut body: R,
        options: PutOptions,
    ) -> Result<ObjectInfo>
    where
        R: AsyncRead + Unpin + Send,
    {
        validate_key(key)?;
        let b = self.bucket(bucket)?;
        // Fail before reading the body when we already know the answer.
        if options.forbid_overwrite && b.lock().objects.contains_key(key) {
            return Err(StoreError::FileAlreadyExists(key.to_owned()));
        }
        let layout = self.layout();
        let data = PendingFile::new(fresh_path(&layout.objects_dir(&b.name), DATA_SUFFIX));
        let written = write_new_data(data.path(), &mut body, layout.sync)
            .await
            .map_err(|e| explain_io(&b, e))?;
        if options.expected_md5.is_some_and(|md5| md5 != written.md5) {
            return Err(StoreError::InvalidDigest);
        }
        let record = ObjectRecord {
            info: ObjectInfo {
                key: key.to_owned(),
                size: written.size,
                etag: md5_etag(&written.md5),
                content_md5: Some(md5_base64(&written.md5)),
                crc64: written.crc64,
                last_modified_ms: self.now_ms(),
                object_type: ObjectType::Normal,
                headers: options.headers.normalized(),
            },
            data_file: file_name(data.path()),
            segments: Vec::new(),
            upload_id: None,
        };
        let forbid = options.forbid_overwrite;
        let hold = CommitHold {
            new_data: vec![data],
            key_lock: None,
        };
        self.commit_object(b, record, hold, move |current| {
            check_overwrite(forbid, current)
        })
        .await
    }

    /// Metadata of `key` plus a reader over `range` (whole object when `None`; `end` is clamped
    /// to the size; `InvalidRange` when `start` lies beyond it).
    pub async fn get_object(
        &self,
        bucket: &str,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<GetObjectOutput> {
        validate_key(key)?;
        let b = self.bucket(bucket)?;
        let dir = self.layout().objects_dir(&b.name);
        let key = key.to_owned();
        let pins = self.inner.read_pins.clone();
        blocking(move || {
            // Open (or pin) under the lock: the version cannot be replaced and unlinked in
            // between, and the open descriptor (or the pin) keeps its bytes readable after any
            // later overwrite.
            let (info, data) = {
                let state = b.lock();
                let record = state
                    .objects
                    .get(&key)
                    .ok_or_else(|| StoreError::NoSuchKey(key.clone()))?;
                let data = if record.segments.is_empty() {
                    Data::File(File::open(dir.join(&record.data_file))?)
                } else {
                    Data::Segments(pins.pin_segments(&dir, &record.segments))
                };
                (record.info.clone(), data)
            };
            let size = info.size;
            let range = match range {
                None => 0..size,
                Some(r) if r.start <= r.end.min(size) => r.start..r.end.min(size),
                Some(r) => {
                    return Err(StoreError::InvalidRange {
                        start: r.start,
                        end: r.end,
                        size,
                    })
                }
            };
            let len = range.end - range.start;
            let body = match data {
                Data::File(file) if size <= INLINE_MAX => {
                    ObjectBody::inline(file, size, range.start, len)?
                }
                Data::File(file) => ObjectBody::new(file, range.start, len)?,
                Data::Segments(segments) => ObjectBody::segmented(segments, range.start, len),
            };
            Ok(GetObjectOutput { info, range, body })
        })
        .await
    }

    /// Metadata of `key`.
    pub async fn head_object(&self, bucket: &str, key: &str) -> Result<ObjectInfo> {
        validate_key(key)?;
        let b = self.bucket(bucket)?;
        let state = b.lock();
        state
            .objects
            .get(key)
            .map(|r| r.info.clone())
            .ok_or_else(|| StoreError::NoSuchKey(key.to_owned()))
    }

    /// Deletes `key`; succeeds if it does not exist.
    pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<()> {
        validate_key(key)?;
        let b = self.bucket(bucket)?;
        let this = self.clone();
        let key = key.to_owned();
        blocking(move || {
            let layout = this.layout();
            let dir = layout.objects_dir(&b.name);
            let removed = {
                let mut state = b.lock();
                if state.removed {
                    return Err(StoreError::NoSuchBucket(b.name.clone()));
                }
                if !state.objects.contains_key(&key) {
                    return Ok(());
                }
                fs::remove_file(dir.join(record_file_name(&key)))?;
                state.objects.remove(&key)
            };
            sync_dir(&dir, layout.sync)?;
            if let Some(old) = removed {
                for file in old.data_files() {
                    this.remove_data(&dir.join(file));
                }
            }
            Ok(())
        })
        .await
    }

    /// Server-side copy. The bytes are shared by a hard link (Normal and Multipart sources keep
    /// their ETag and type); an Appendable source is copied byte by byte into a Normal object,
    /// since its file keeps growing in place. [`CopyOptions::source_etag`] and
    /// [`CopyOptions::max_source_size`] are checked against the version copied.
    pub async fn copy_object(
        &self,
        src_bucket: &str,
        src_key: &str,
        dst_bucket: &str,
        dst_key: &str,
        options: CopyOptions,
    ) -> Result<ObjectInfo> {
        validate_key(src_key)?;
        validate_key(dst_key)?;
        let src = self.bucket(src_bucket)?;
        let dst = self.bucket(dst_bucket)?;
        if options.forbid_overwrite && dst.lock().objects.contains_key(dst_key) {
            return Err(StoreError::FileAlreadyExists(dst_key.to_owned()));
        }
        let this = self.clone();
        let (src_key, dst_key) = (src_key.to_owned(), dst_key.to_owned());
        let now = self.now_ms();
        blocking(move || {
            let layout = this.layout();
            let src_dir = layout.objects_dir(&src.name);
            let dst_dir = layout.objects_dir(&dst.name);
            let (mut info, plan) = {
                let state = src.lock();
                let record = state
                    .objects
                    .get(&src_key)
                    .ok_or_else(|| StoreError::NoSuchKey(src_key.clone()))?;
                if let Some(etag) = &options.source_etag {
                    if *etag != record.info.etag {
                        return Err(StoreError::PreconditionFailed(format!(
                            "the copy source has ETag {}, not {etag}",
                            record.info.etag
                        )));
                    }
                }
                if let Some(max) = options.max_source_size {
                    if record.info.size > max {
                        return Err(StoreError::EntityTooLarge {
                            size: record.info.size,
                            max,
                        });
                    }
                }
                let plan = if record.info.object_type == ObjectType::Appendable {
                    CopyPlan::Bytes(File::open(src_dir.join(&record.data_file))?)
                } else {
                    match link_extents(&src_dir, &dst_dir, &record.extents()).ok() {
                        Some(linked) => CopyPlan::Linked(linked),
                        None if record.segments.is_empty() => {
                            CopyPlan::Bytes(File::open(src_dir.join(&record.data_file))?)
                        }
                        None => CopyPlan::Concat(
                            this.inner
                                .read_pins
                                .pin_segments(&src_dir, &record.segments),
                        ),
                    }
                };
                (record.info.clone(), plan)
            };
            let (new_data, segments) = match plan {
                CopyPlan::Linked(linked) => linked,
                CopyPlan::Bytes(file) => {
                    let data = PendingFile::new(fresh_path(&dst_dir, DATA_SUFFIX));
                    let md5 = copy_prefix(file, info.size, data.path(), layout.sync)
                        .map_err(|e| explain_io(&dst, e))?;
                    if info.object_type == ObjectType::Appendable {
                        info.object_type = ObjectType::Normal;
                        info.etag = md5_etag(&md5);
                        info.content_md5 = Some(md5_base64(&md5));
                    }
                    (vec![data], Vec::new())
                }
                CopyPlan::Concat(segments) => {
                    let data = PendingFile::new(fresh_path(&dst_dir, DATA_SUFFIX));
                    concat_files(&segments.files, data.path(), layout.sync)
                        .map_err(|e| explain_io(&dst, e))?;
                    (vec![data], Vec::new())
                }
            };
            info.key = dst_key;
            info.last_modified_ms = now;
            if let MetadataDirective::Replace(headers) = options.metadata {
                let tags = std::mem::take(&mut info.headers.tags);
                info.headers = (*headers).normalized();
                info.headers.tags = tags;
            }
            if let Some(tags) = options.tags {
                info.headers.tags = tags;
            }
            if let Some(acl) = options.acl {
                info.headers.acl = acl;
            }
            if let Some(class) = options.storage_class {
                info.headers.storage_class = class;
            }
            let record = ObjectRecord {
                info,
                data_file: file_name(new_data[0].path()),
                segments,
                upload_id: None,
            };
            let forbid = options.forbid_overwrite;
            let hold = CommitHold {
                new_data,
                key_lock: None,
            };
            this.commit_object_blocking(&dst, record, hold, move |current| {
                check_overwrite(forbid, current)
            })
        })
        .await
    }

    /// Changes an object's ACL, keeping everything else (including Last-Modified).
    pub async fn set_object_acl(
        &self,
        bucket: &str,
        key: &str,
        acl: ObjectAcl,
    ) -> Result<ObjectInfo> {
        self.update_object_headers(bucket, key, |h| h.acl = acl)
            .await
    }

    /// Replaces an object's tags, keeping everything else (including Last-Modified and the
    /// ETag, as OSS does).
    pub async fn set_object_tags(
        &self,
        bucket: &str,
        key: &str,
        tags: BTreeMap<String, String>,
    ) -> Result<ObjectInfo> {
        self.update_object_headers(bucket, key, |h| h.tags = tags.clone())
            .await
    }

    /// Applies `change` to the current version's headers, keeping its bytes and its
    /// Last-Modified; a version replaced meanwhile is changed instead.
    async fn update_object_headers(
        &self,
        bucket: &str,
        key: &str,
        change: impl Fn(&mut ObjectHeaders),
    ) -> Result<ObjectInfo> {
        validate_key(key)?;
        let b = self.bucket(bucket)?;
        // Appends take the same lock, so only a put/copy/delete can race us: then retry on the
        // new version.
        for _ in 0..16 {
            let key_lock = self.lock_key(bucket, key).await;
            let snapshot = b
                .lock()
                .objects
                .get(key)
                .cloned()
                .ok_or_else(|| StoreError::NoSuchKey(key.to_owned()))?;
            let mut record = snapshot.clone();
            change(&mut record.info.headers);
            let raced = Arc::new(AtomicBool::new(false));
            let raced_flag = raced.clone();
            let result = self
                .commit_object(
                    b.clone(),
                    record,
                    CommitHold {
                        new_data: Vec::new(),
                        key_lock: Some(key_lock),
                    },
                    move |current| {
                        if current == Some(&snapshot) {
                            Ok(())
                        } else {
                            raced_flag.store(true, Ordering::Relaxed);
                            Err(StoreError::NoSuchKey(snapshot.info.key.clone()))
                        }
                    },
                )
                .await;
            if !raced.load(Ordering::Relaxed) {
                return result;
            }
        }
        Err(StoreError::Io(io::Error::other(
            "object kept changing while setting its headers; retry",
        )))
    }
}

/// How a copy gets its bytes.
enum CopyPlan {
    /// Hard links to the source's files (and the segment list, empty for one file).
    Linked((Vec<PendingFile>, Vec<Segment>)),
    /// A byte copy of this open file's prefix (appendable sources, or a failed link).
    Bytes(File),
    /// A concatenation of the pinned segment files (a segmented source whose links failed).
    Concat(PinnedSegments),
}

/// Hard-links each of `extents` from `src_dir` under a fresh name in `dst_dir`: the new
/// object's files and its segment list (empty for one file, which is then a plain object).
/// Whatever was linked goes again if a link fails or the files are dropped uncommitted.
pub(crate) fn link_extents(
    src_dir: &Path,
    dst_dir: &Path,
    extents: &[Segment],
) -> io::Result<(Vec<PendingFile>, Vec<Segment>)> {
    let mut linked = Vec::with_capacity(extents.len());
    let mut segments = Vec::with_capacity(extents.len());
    for extent in extents {
        let data = PendingFile::new(fresh_path(dst_dir, DATA_SUFFIX));
        fs::hard_link(src_dir.join(&extent.file), data.path())?;
        segments.push(Segment {
            file: file_name(data.path()),
            size: extent.size,
        });
        linked.push(data);
    }
    if segments.len() == 1 {
        segments.clear();
    }
    Ok((linked, segments))
}

/// What a read opens under the lock.
enum Data {
    File(File),
    Segments(PinnedSegments),
}

fn check_overwrite(forbid: bool, current: Option<&ObjectRecord>) -> Result<()> {
    match current {
        Some(existing) if forbid => Err(StoreError::FileAlreadyExists(existing.info.key.clone())),
        _ => Ok(()),
    }
}
