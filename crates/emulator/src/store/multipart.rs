//! Multipart uploads: initiate, upload (copy) part, list, abort, complete.
//!
//! Each upload is a folder under `uploads/`, created by renaming a staged folder (so it exists
//! fully or not at all). Parts commit like objects: data file, then a `part-<n>.json` record.
//! Complete hard-links the parts' files into `objects/` and commits an object record listing
//! them as segments (no byte is copied, as on OSS); the upload leaves the index first so no part
//! can change underneath. Links, not renames: a crash before the commit must leave the upload
//! whole.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::ops::Range;

use md5::{Digest, Md5};
use ossguard_proto::crc64::combine_parts;
use tokio::io::AsyncRead;

use super::body::{md5_etag, write_new_data};
use super::commit::{commit_file, CommitHold};
use super::durable::{
    fresh_path, move_aside, purge, remove_quietly, sync_dir, write_new_file, PendingFile,
    DATA_SUFFIX, TEMP_SUFFIX,
};
use super::layout::{is_upload_id, part_record_name, UPLOAD_FILE};
use super::names::{random_id, validate_key};
use super::object::{file_name, link_extents};
use super::state::{Bucket, BucketState, ObjectRecord, PartRecord, Segment, UploadState};
use super::types::{ObjectHeaders, ObjectInfo, ObjectType, PartInfo, UploadInfo};
use super::{blocking, Result, Store, StoreError};

/// Every part but the last must be at least this big (100 KiB).
pub const MIN_PART_SIZE: u64 = 100 * 1024;
/// Part numbers run from 1 to this.
pub const MAX_PART_NUMBER: u32 = 10_000;

impl Store {
    /// Starts a multipart upload of `key`; the completed object gets `headers`.
    pub async fn initiate_multipart(
        &self,
        bucket: &str,
        key: &str,
        headers: ObjectHeaders,
    ) -> Result<UploadInfo> {
        validate_key(key)?;
        let b = self.bucket(bucket)?;
        let info = UploadInfo {
            upload_id: random_id(),
            key: key.to_owned(),
            initiated_ms: self.now_ms(),
            headers: headers.normalized(),
        };
        let this = self.clone();
        let created = info.clone();
        blocking(move || {
            let layout = this.layout();
            let sync = layout.sync;
            let stage = fresh_path(&layout.tmp_dir(), TEMP_SUFFIX);
            let committed = (|| {
                fs::create_dir(&stage)?;
                write_new_file(
                    &stage.join(UPLOAD_FILE),
                    &serde_json::to_vec_pretty(&created)?,
                    sync,
                )?;
                sync_dir(&stage, sync)?;
                let mut state = b.lock();
                if state.removed {
                    return Err(StoreError::NoSuchBucket(b.name.clone()));
                }
                fs::rename(&stage, layout.upload_dir(&b.name, &created.upload_id))?;
                let upload = UploadState {
                    info: created.clone(),
                    parts: BTreeMap::new(),
                };
                state.uploads.insert(created.upload_id.clone(), upload);
                Ok(())
            })();
            if let Err(e) = committed {
                let _ = fs::remove_dir_all(&stage);
                return Err(e);
            }
            sync_dir(&layout.uploads_dir(&b.name), sync).map_err(StoreError::from)
        })
        .await?;
        Ok(info)
    }

    /// Uploads part `part_number` (1..=10000) from `body`, replacing an earlier part with the
    /// same number. Returns its ETag (quoted MD5), size and CRC-64.
    pub async fn upload_part<R>(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number: u32,
        body: R,
    ) -> Result<PartInfo>
    where
        R: AsyncRead + Unpin + Send,
    {
        self.upload_part_checked(bucket, key, upload_id, part_number, body, None)
            .await
    }

    /// [`upload_part`](Self::upload_part) that keeps the part only if its bytes hash to
    /// `expected_md5` (a `Content-MD5`), else `InvalidDigest`. The check reuses the MD5 the
    /// store computes for the ETag (hashing in the HTTP layer as well hashed every such part
    /// twice; MD5 alone is two thirds of the server's CPU in a multipart upload).
    pub async fn upload_part_checked<R>(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number: u32,
        mut body: R,
        expected_md5: Option<[u8; 16]>,
    ) -> Result<PartInfo>
    where
        R: AsyncRead + Unpin + Send,
    {
        validate_key(key)?;
        if !(1..=MAX_PART_NUMBER).contains(&part_number) {
            return Err(StoreError::InvalidArgument(format!(
                "part number {part_number} is outside 1..={MAX_PART_NUMBER}"
            )));
        }
        let b = self.bucket(bucket)?;
        find_upload(&b.lock(), key, upload_id)?;
        let layout = self.layout();
        let dir = layout.upload_dir(&b.name, upload_id);
        let data = PendingFile::new(fresh_path(&dir, DATA_SUFFIX));
        let written = write_new_data(data.path(), &mut body, layout.sync)
            .await
            .map_err(|e| upload_gone_or_io(&b, key, upload_id, e))?;
        if expected_md5.is_some_and(|md5| md5 != written.md5) {
            return Err(StoreError::InvalidDigest);
        }
        let record = PartRecord {
            info: PartInfo {
                part_number,
                etag: md5_etag(&written.md5),
                size: written.size,
                crc64: written.crc64,
                last_modified_ms: self.now_ms(),
            },
            data_file: file_name(data.path()),
        };
        let this = self.clone();
        let (key, upload_id) = (key.to_owned(), upload_id.to_owned());
        blocking(move || {
            let bytes = serde_json::to_vec_pretty(&record)?;
            let info = record.info.clone();
            let (replaced, durable) = commit_file(
                &b,
                &dir,
                &part_record_name(part_number),
                &bytes,
                this.layout().sync,
                |state| find_upload(state, &key, &upload_id).map(|_| ()),
                |state| {
                    let upload = state.uploads.get_mut(&upload_id).expect("checked");
                    upload.parts.insert(part_number, record)
                },
            )
            .map_err(|e| match e {
                StoreError::Io(e) => upload_gone_or_io(&b, &key, &upload_id, e),
                other => other,
            })?;
            data.keep();
            durable?;
            if let Some(old) = replaced {
                remove_quietly(&dir.join(old.data_file));
            }
            Ok(info)
        })
        .await
    }

    /// UploadPartCopy: part `part_number` from bytes `range` of an existing object (whole
    /// object when `None`).
    #[allow(clippy::too_many_arguments)]
    pub async fn upload_part_copy(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number: u32,
        src_bucket: &str,
        src_key: &str,
        range: Option<Range<u64>>,
    ) -> Result<PartInfo> {
        let source = self.get_object(src_bucket, src_key, range).await?;
        self.upload_part(bucket, key, upload_id, part_number, source.body)
            .await
    }

    /// The parts uploaded so far, by part number.
    pub async fn list_parts(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<Vec<PartInfo>> {
        validate_key(key)?;
        let b = self.bucket(bucket)?;
        let state = b.lock();
        let upload = find_upload(&state, key, upload_id)?;
        Ok(upload.parts.values().map(|p| p.info.clone()).collect())
    }

    /// The bucket's open uploads whose key starts with `prefix`, sorted by key, then initiation
    /// time, then upload id.
    pub async fn list_uploads(&self, bucket: &str, prefix: &str) -> Result<Vec<UploadInfo>> {
        let b = self.bucket(bucket)?;
        let mut uploads: Vec<UploadInfo> = b
            .lock()
            .uploads
            .values()
            .filter(|u| u.info.key.starts_with(prefix))
            .map(|u| u.info.clone())
            .collect();
        uploads.sort_by(|a, b| {
            (a.key.as_str(), a.initiated_ms, a.upload_id.as_str()).cmp(&(
                b.key.as_str(),
                b.initiated_ms,
                b.upload_id.as_str(),
            ))
        });
        Ok(uploads)
    }

    /// Aborts an upload, deleting all its parts.
    pub async fn abort_multipart(&self, bucket: &str, key: &str, upload_id: &str) -> Result<()> {
        validate_key(key)?;
        let b = self.bucket(bucket)?;
        let this = self.clone();
        let (key, upload_id) = (key.to_owned(), upload_id.to_owned());
        blocking(move || {
            let layout = this.layout();
            let trash = {
                let mut state = b.lock();
                find_upload(&state, &key, &upload_id)?;
                let trash = move_aside(&layout.upload_dir(&b.name, &upload_id), &layout.tmp_dir())?;
                state.uploads.remove(&upload_id);
                trash
            };
            sync_dir(&layout.uploads_dir(&b.name), layout.sync)?;
            purge(&trash);
            Ok(())
        })
        .await
    }

    /// Completes an upload from the listed `(part number, ETag)` pairs (ETags compared without
    /// quotes, ignoring case). Errors: `InvalidPartOrder` (numbers not strictly ascending),
    /// `InvalidPart` (missing part or ETag mismatch), `EntityTooSmall` (a part other than the
    /// last below [`MIN_PART_SIZE`]). The object appears atomically, with ETag
    /// `"<MD5 of the part MD5s>-<N>"` and the combined CRC-64 of the parts.
    pub async fn complete_multipart(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
    ) -> Result<ObjectInfo> {
        self.complete(bucket, key, upload_id, Some(parts.to_vec()))
            .await
    }

    /// Completes an upload from all its uploaded parts in number order (`x-oss-complete-all`).
    pub async fn complete_multipart_all(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<ObjectInfo> {
        self.complete(bucket, key, upload_id, None).await
    }

    async fn complete(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        requested: Option<Vec<(u32, String)>>,
    ) -> Result<ObjectInfo> {
        validate_key(key)?;
        let b = self.bucket(bucket)?;
        let now = self.now_ms();
        let this = self.clone();
        let (key, upload_id) = (key.to_owned(), upload_id.to_owned());
        blocking(move || {
            let layout = this.layout();
            // Take the upload out of the index: racing part uploads and aborts now get
            // NoSuchUpload, and the chosen part files stay put while we read them.
            let (upload, chosen) = {
                let mut state = b.lock();
                let upload = find_upload(&state, &key, &upload_id)?;
                let chosen = select_parts(&upload.parts, requested.as_deref())?;
                (state.uploads.remove(&upload_id).expect("found"), chosen)
            };
            let upload_dir = layout.upload_dir(&b.name, &upload_id);
            let extents: Vec<Segment> = chosen
                .iter()
                .map(|p| Segment {
                    file: p.data_file.clone(),
                    size: p.info.size,
                })
                .collect();
            // The object's segments are the part files themselves (a one-part object is a
            // plain one-file object).
            let result = link_extents(&upload_dir, &layout.objects_dir(&b.name), &extents)
                .map_err(StoreError::from)
                .and_then(|(new_data, segments)| {
                    let record = ObjectRecord {
                        info: ObjectInfo {
                            key: key.clone(),
                            size: chosen.iter().map(|p| p.info.size).sum(),
                            etag: multipart_etag(&chosen),
                            content_md5: None,
                            crc64: combine_parts(
                                chosen.iter().map(|p| (p.info.crc64, p.info.size)),
                            ),
                            last_modified_ms: now,
                            object_type: ObjectType::Multipart,
                            headers: upload.info.headers.clone(),
                        },
                        data_file: file_name(new_data[0].path()),
                        segments,
                        upload_id: Some(upload_id.clone()),
                    };
                    let hold = CommitHold {
                        new_data,
                        key_lock: None,
                    };
                    // The commit fsyncs the objects folder before its rename, which makes the
                    // links durable; the part bytes were made durable by UploadPart.
                    this.commit_object_blocking(&b, record, hold, |_| Ok(()))
                });
            match result {
                Ok(info) => {
                    // Committed: the upload is done. If this removal is cut short, open drops
                    // the folder because the object's record names the upload.
                    if let Ok(trash) = move_aside(&upload_dir, &layout.tmp_dir()) {
                        let _ = sync_dir(&layout.uploads_dir(&b.name), layout.sync);
                        purge(&trash);
                    }
                    Ok(info)
                }
                Err(e) => {
                    let mut state = b.lock();
                    if !state.removed {
                        state.uploads.insert(upload_id.clone(), upload);
                    }
                    Err(e)
                }
            }
        })
        .await
    }
}

/// The upload `upload_id` of `key`, or `NoSuchUpload`.
fn find_upload<'s>(state: &'s BucketState, key: &str, upload_id: &str) -> Result<&'s UploadState> {
    state
        .uploads
        .get(upload_id)
        .filter(|u| u.info.key == key && is_upload_id(upload_id))
        .ok_or_else(|| StoreError::NoSuchUpload(upload_id.to_owned()))
}

/// A part write that failed because the upload went away is `NoSuchUpload`.
fn upload_gone_or_io(bucket: &Bucket, key: &str, upload_id: &str, e: io::Error) -> StoreError {
    let state = bucket.lock();
    if state.removed {
        StoreError::NoSuchBucket(bucket.name.clone())
    } else if find_upload(&state, key, upload_id).is_err() {
        StoreError::NoSuchUpload(upload_id.to_owned())
    } else {
        StoreError::Io(e)
    }
}

/// Validates a complete request against the uploaded parts; `None` takes all of them.
fn select_parts(
    parts: &BTreeMap<u32, PartRecord>,
    requested: Option<&[(u32, String)]>,
) -> Result<Vec<PartRecord>> {
    let chosen: Vec<PartRecord> = match requested {
        None => parts.values().cloned().collect(),
        Some(requested) => {
            if requested.windows(2).any(|w| w[0].0 >= w[1].0) {
                return Err(StoreError::InvalidPartOrder);
            }
            requested
                .iter()
                .map(|(number, etag)| {
                    let part = parts.get(number).ok_or_else(|| {
                        StoreError::InvalidPart(format!("part {number} was not uploaded"))
                    })?;
                    if !etags_match(etag, &part.info.etag) {
                        return Err(StoreError::InvalidPart(format!(
                            "part {number} has ETag {}, not {etag}",
                            part.info.etag
                        )));
                    }
                    Ok(part.clone())
                })
                .collect::<Result<_>>()?
        }
    };
    if chosen.is_empty() {
        return Err(StoreError::InvalidArgument(
            "a multipart upload needs at least one part".to_owned(),
        ));
    }
    if let Some(small) = chosen[..chosen.len() - 1]
        .iter()
        .find(|p| p.info.size < MIN_PART_SIZE)
    {
        return Err(StoreError::EntityTooSmall {
            part_number: small.info.part_number,
            size: small.info.size,
        });
    }
    Ok(chosen)
}

fn unquote(etag: &str) -> &str {
    etag.trim().trim_matches('"')
}

fn etags_match(a: &str, b: &str) -> bool {
    unquote(a).eq_ignore_ascii_case(unquote(b))
}

/// `"<UPPER HEX of MD5(concatenated binary part MD5s)>-<N>"`.
fn multipart_etag(parts: &[PartRecord]) -> String {
    let mut md5 = Md5::new();
    for part in parts {
        let bytes = hex::decode(unquote(&part.info.etag)).expect("part ETags are MD5 hex we made");
        md5.update(bytes);
    }
    format!("\"{}-{}\"", hex::encode_upper(md5.finalize()), parts.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(n: u32, size: u64) -> PartRecord {
        PartRecord {
            info: PartInfo {
                part_number: n,
                etag: format!("\"{:032X}\"", n),
                size,
                crc64: 0,
                last_modified_ms: 0,
            },
            data_file: format!("{n}.data"),
        }
    }

    #[test]
    fn selection_rules() {
        let parts: BTreeMap<u32, PartRecord> = [part(1, MIN_PART_SIZE), part(2, 5), part(3, 1)]
            .into_iter()
            .map(|p| (p.info.part_number, p))
            .collect();
        let etag = |n: u32| format!("{:032x}", n); // unquoted, lower case: still matches
        assert!(matches!(
            select_parts(&parts, Some(&[(2, etag(2)), (1, etag(1))])),
            Err(StoreError::InvalidPartOrder)
        ));
        assert!(matches!(
            select_parts(&parts, Some(&[(1, etag(1)), (1, etag(1))])),
            Err(StoreError::InvalidPartOrder)
        ));
        assert!(matches!(
            select_parts(&parts, Some(&[(1, etag(1)), (4, etag(4))])),
            Err(StoreError::InvalidPart(_))
        ));
        assert!(matches!(
            select_parts(&parts, Some(&[(1, etag(2))])),
            Err(StoreError::InvalidPart(_))
        ));
        assert!(matches!(
            select_parts(&parts, Some(&[(1, etag(1)), (2, etag(2)), (3, etag(3))])),
            Err(StoreError::EntityTooSmall {
                part_number: 2,
                size: 5
            })
        ));
        let ok = select_parts(&parts, Some(&[(1, etag(1)), (3, etag(3))])).unwrap();
        assert_eq!(ok.len(), 2);
        assert!(select_parts(&parts, Some(&[])).is_err());
        assert!(matches!(
            select_parts(&parts, None),
            Err(StoreError::EntityTooSmall { part_number: 2, .. })
        ));
    }

    #[test]
    fn multipart_etag_is_md5_of_binary_md5s() {
        let parts = [part(1, 1), part(2, 1)];
        let mut concat = Vec::new();
        concat.extend_from_slice(&hex::decode(format!("{:032X}", 1)).unwrap());
        concat.extend_from_slice(&hex::decode(format!("{:032X}", 2)).unwrap());
        let expected = format!("\"{}-2\"", hex::encode_upper(Md5::digest(&concat)));
        assert_eq!(multipart_etag(&parts), expected);
    }
}
