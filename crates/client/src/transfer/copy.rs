//! `Client::copy_large`: a server-side copy of any size — one CopyObject up to the copy
//! threshold, else a multipart upload of parallel UploadPartCopy parts, every one pinned to the
//! source's ETag, and a CRC-64 check of the result against the source.

use std::collections::BTreeMap;
use std::sync::Arc;

use http::Method;
use ossguard_proto::{Operation, Request};
use tokio::task::JoinSet;

use super::{commit_to_end, AbortGuard, Plan, Tracker, TransferOptions, MAX_COPY_OBJECT_SIZE};
use crate::body::Body;
use crate::client::Client;
use crate::error::{Error, ErrorKind};
use crate::ops::multipart::{CompletedPart, PartCopySource, PartMeta};
use crate::ops::object::{CopyOptions, ObjectMeta, PutObjectOptions};
use crate::ops::{header, validate_key, validate_key_name};

/// What [`Client::copy_large`] made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyOutput {
    /// The copy's ETag: for a CopyObject the source's (Normal and Multipart sources), for a copy
    /// in parts the multipart ETag `"<hex>-<parts>"`.
    pub etag: String,
    /// The copy's CRC-64 (`x-oss-hash-crc64ecma`), already checked equal to the source's when
    /// both are known.
    pub crc64: Option<u64>,
    /// Bytes copied: the source's size.
    pub size: u64,
    /// Number of UploadPartCopy parts; 0 when one CopyObject made the copy.
    pub parts: u32,
    /// Request id of the request that created the copy (CopyObject or
    /// CompleteMultipartUpload).
    pub request_id: Option<String>,
}

/// The source as one HEAD described it.
struct Source {
    meta: ObjectMeta,
    /// The metadata a COPY-directive copy gives the destination.
    put: PutObjectOptions,
}

/// Where the parts come from and go to, shared by the part tasks.
struct Route {
    dst_bucket: String,
    dst_key: String,
    upload_id: String,
    src_bucket: String,
    src_key: String,
    src_etag: String,
}

impl Client {
    /// Copies `src_bucket/src_key` to `dst_bucket/dst_key` server-side (same region), whatever its
    /// size; no object bytes pass through the client.
    ///
    /// A HEAD of the source fixes its size, ETag, CRC-64 and metadata. Then:
    /// * **size ≤ [`TransferOptions::copy_threshold`]** (default 100 MiB; at most
    ///   [`MAX_COPY_OBJECT_SIZE`], 1 GiB, the most CopyObject copies): one CopyObject with
    ///   `x-oss-metadata-directive: COPY` and `x-oss-copy-source-if-match: <source ETag>`. A
    ///   server that refuses it as too large (400 `EntityTooLarge`) gets the copy in parts.
    /// * **larger**: InitiateMultipartUpload with the source's Content-Type, Cache-Control,
    ///   Content-Disposition, Content-Encoding and `x-oss-meta-*` (what the COPY directive
    ///   keeps; ACL and storage class are the destination's defaults, as for
    ///   [`upload_file`](Client::upload_file)), then UploadPartCopy parts of
    ///   [`TransferOptions::part_size`] (raised so that there are at most 10 000), up to
    ///   [`TransferOptions::concurrency`] at a time, each carrying
    ///   `x-oss-copy-source-if-match: <source ETag>` — a source replaced mid-copy fails the copy
    ///   with 412 `PreconditionFailed` instead of mixing two versions — and
    ///   CompleteMultipartUpload.
    ///
    /// The copy's CRC-64 is compared with the source's when both are known; a copy that differs
    /// is deleted and the call fails with [`ErrorKind::Integrity`]. On any failure of a part or
    /// of Complete the multipart upload is aborted (after the parts in flight have finished, so
    /// none lands afterwards) before the error is returned; a dropped future aborts it in the
    /// background. Copies are not resumable: [`TransferOptions::resumable`],
    /// [`TransferOptions::checkpoint_dir`] and [`TransferOptions::put`] are not used.
    /// [`TransferOptions::progress`] reports the bytes copied, part by part. With
    /// [`TransferOptions::copy_hint`] (size and ETag from a listing) a source at or below the
    /// threshold is copied without the HEAD.
    ///
    /// Copying an object onto itself is refused (OSS needs the REPLACE directive for that; use
    /// [`copy_object`](Client::copy_object)).
    pub async fn copy_large(
        &self,
        src_bucket: &str,
        src_key: &str,
        dst_bucket: &str,
        dst_key: &str,
        opts: &TransferOptions,
    ) -> Result<CopyOutput, Error> {
        validate_key_name(src_key)?;
        validate_key(dst_key)?;
        if src_bucket == dst_bucket && src_key == dst_key {
            return Err(Error::invalid_input(format!(
                "{src_bucket}/{src_key} is both the source and the destination of the copy"
            )));
        }
        let mut threshold = opts.copy_threshold.min(MAX_COPY_OBJECT_SIZE);
        if let Some(hint) = opts.copy_hint.as_ref().filter(|h| h.size <= threshold) {
            let mut tracker = Tracker::new(opts, hint.size, 1);
            tracker.report();
            let copy = CopyOptions {
                replace_metadata: None,
                if_match: Some(hint.etag.clone()).filter(|e| !e.is_empty()),
            };
            match self
                .copy_object(src_bucket, src_key, dst_bucket, dst_key, copy)
                .await
            {
                Ok(out) => {
                    tracker.part_done(hint.size);
                    return Ok(CopyOutput {
                        etag: out.etag,
                        crc64: out.crc64,
                        size: hint.size,
                        parts: 0,
                        request_id: out.request_id,
                    });
                }
                // Changed since it was listed: look again.
                Err(e) if e.code() == Some("PreconditionFailed") => {}
                // Too large for this server's CopyObject: parts, after a HEAD.
                Err(e) if e.code() == Some("EntityTooLarge") => threshold = 0,
                Err(e) => return Err(e),
            }
        }
        let src = self.copy_source(src_bucket, src_key).await?;
        let size = src.meta.size;
        if size <= threshold || size == 0 {
            let mut tracker = Tracker::new(opts, size, 1);
            tracker.report();
            let copy = CopyOptions {
                replace_metadata: None,
                if_match: Some(src.meta.etag.clone()).filter(|e| !e.is_empty()),
            };
            // The copy and its check run to their end even if the caller stops waiting: a copy
            // whose CRC-64 differs must not stay at the destination (see `commit_to_end`).
            let (c, sb, sk, db, dk, src_crc) = (
                self.clone(),
                src_bucket.to_owned(),
                src_key.to_owned(),
                dst_bucket.to_owned(),
                dst_key.to_owned(),
                src.meta.crc64,
            );
            let copied = commit_to_end(async move {
                let out = c.copy_object(&sb, &sk, &db, &dk, copy).await?;
                c.check_copy(&db, &dk, src_crc, out.crc64).await?;
                Ok(out)
            })
            .await;
            match copied {
                Ok(out) => {
                    tracker.part_done(size);
                    return Ok(CopyOutput {
                        etag: out.etag,
                        crc64: out.crc64,
                        size,
                        parts: 0,
                        request_id: out.request_id,
                    });
                }
                // The server copies less in one request than we assumed: copy in parts.
                Err(e) if e.code() == Some("EntityTooLarge") => {}
                Err(e) => return Err(e),
            }
        }
        self.copy_in_parts(src_bucket, src_key, dst_bucket, dst_key, &src, opts)
            .await
    }

    /// HEAD of the copy source, with the headers a COPY-directive copy keeps.
    async fn copy_source(&self, bucket: &str, key: &str) -> Result<Source, Error> {
        let req = Request::new(Method::HEAD, Some(bucket), Some(key));
        let sent = self
            .execute(Operation::HeadObject, req, Body::empty())
            .await?;
        let h = sent.response.headers();
        let meta = ObjectMeta::from_headers(h);
        let put = PutObjectOptions {
            content_type: meta.content_type.clone(),
            cache_control: header(h, "cache-control"),
            content_disposition: header(h, "content-disposition"),
            content_encoding: header(h, "content-encoding"),
            metadata: meta.metadata.clone(),
            ..Default::default()
        };
        Ok(Source { meta, put })
    }

    /// The multipart half of [`copy_large`](Client::copy_large).
    async fn copy_in_parts(
        &self,
        src_bucket: &str,
        src_key: &str,
        dst_bucket: &str,
        dst_key: &str,
        src: &Source,
        opts: &TransferOptions,
    ) -> Result<CopyOutput, Error> {
        let size = src.meta.size;
        if src.meta.etag.is_empty() {
            return Err(Error::new(ErrorKind::Protocol(format!(
                "HEAD {src_bucket}/{src_key} sent no ETag: the parts of a copy cannot be pinned \
                 to one version of the source"
            ))));
        }
        let plan = Plan::new(size, opts.part_size)?;
        let upload_id = self
            .initiate_multipart_upload(dst_bucket, dst_key, &src.put)
            .await?;
        // Armed for the whole copy: a dropped future aborts the upload in the background.
        let mut guard = AbortGuard::new(self, dst_bucket, dst_key, &upload_id, true);
        let mut tracker = Tracker::new(opts, size, plan.parts);
        tracker.report();

        let route = Arc::new(Route {
            dst_bucket: dst_bucket.to_owned(),
            dst_key: dst_key.to_owned(),
            upload_id: upload_id.clone(),
            src_bucket: src_bucket.to_owned(),
            src_key: src_key.to_owned(),
            src_etag: src.meta.etag.clone(),
        });
        let mut todo = 1..=plan.parts;
        let mut set: JoinSet<(u32, Result<PartMeta, Error>)> = JoinSet::new();
        let mut done: BTreeMap<u32, PartMeta> = BTreeMap::new();
        let mut failed: Option<Error> = None;
        loop {
            // After a failure no new part starts; the ones in flight are waited for, so that
            // none lands after the abort.
            while failed.is_none() && set.len() < opts.parallelism() {
                let Some(n) = todo.next() else { break };
                let (offset, len) = plan.range(n);
                let (c, r) = (self.clone(), route.clone());
                set.spawn(crate::pipeline::deadline::inherit(async move {
                    let source =
                        PartCopySource::new(&r.src_bucket, &r.src_key, offset, offset + len - 1)
                            .if_match(&r.src_etag);
                    let part = c
                        .upload_part_copy(&r.dst_bucket, &r.dst_key, &r.upload_id, n, &source)
                        .await;
                    (n, part)
                }));
            }
            let Some(joined) = set.join_next().await else {
                break;
            };
            match joined {
                Ok((n, Ok(part))) => {
                    tracker.part_done(part.size);
                    done.insert(n, part);
                }
                Ok((_, Err(e))) => {
                    failed.get_or_insert(e);
                }
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(_) => {}
            }
        }
        if let Some(e) = failed {
            guard.abort_now().await;
            return Err(e);
        }

        let parts: Vec<CompletedPart> = done.values().map(CompletedPart::from).collect();
        // Complete, the check and a bad copy's deletion run to their end even if the caller
        // stops waiting (see `commit_to_end`).
        let (c, db, dk, src_crc) = (
            self.clone(),
            dst_bucket.to_owned(),
            dst_key.to_owned(),
            src.meta.crc64,
        );
        let out = commit_to_end(async move {
            let out = match c
                .complete_multipart_upload(&db, &dk, &upload_id, &parts)
                .await
            {
                Ok(out) => {
                    guard.disarm();
                    out
                }
                // Completed, but the object is not what the parts make: do not leave it there.
                Err(e) if matches!(e.kind(), ErrorKind::Integrity { .. }) => {
                    guard.disarm();
                    return Err(c.discard_bad_copy(&db, &dk, e).await);
                }
                Err(e) => {
                    guard.abort_now().await;
                    return Err(e);
                }
            };
            c.check_copy(&db, &dk, src_crc, out.crc64).await?;
            Ok(out)
        })
        .await?;
        Ok(CopyOutput {
            etag: out.etag,
            crc64: out.crc64,
            size,
            parts: plan.parts,
            request_id: out.request_id,
        })
    }

    /// Compares the copy's CRC-64 (`copied`; a HEAD asks when the answer carried none) with
    /// the source's; a copy that differs is deleted.
    async fn check_copy(
        &self,
        bucket: &str,
        key: &str,
        source: Option<u64>,
        copied: Option<u64>,
    ) -> Result<(), Error> {
        let Some(expected) = source else {
            return Ok(());
        };
        let copied = match copied {
            Some(c) => Some(c),
            None => self.head_object(bucket, key).await?.crc64,
        };
        match copied {
            Some(actual) if actual != expected => {
                let e = Error::new(ErrorKind::Integrity { expected, actual }).in_op("copy_large");
                Err(self.discard_bad_copy(bucket, key, e).await)
            }
            _ => Ok(()),
        }
    }

    /// Deletes a copy whose CRC-64 is wrong; returns `e` saying whether that worked.
    async fn discard_bad_copy(&self, bucket: &str, key: &str, e: Error) -> Error {
        match self.delete_object(bucket, key).await {
            Ok(()) => e.with_context(format!(
                "the copy {bucket}/{key} differed from its source and was deleted; copy again"
            )),
            Err(d) => e.with_context(format!(
                "the copy {bucket}/{key} differs from its source and could not be deleted \
                 ({d}); delete it and copy again"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Plan, DEFAULT_COPY_THRESHOLD, MAX_PARTS};
    use super::*;

    #[test]
    fn threshold_defaults_and_cap() {
        let o = TransferOptions::default();
        assert_eq!(o.copy_threshold, DEFAULT_COPY_THRESHOLD);
        const { assert!(DEFAULT_COPY_THRESHOLD <= MAX_COPY_OBJECT_SIZE) };
        assert_eq!(MAX_COPY_OBJECT_SIZE, 1_073_741_824);
    }

    #[test]
    fn a_6_gib_copy_fits_in_10000_parts() {
        let p = Plan::new(6 << 30, TransferOptions::default().part_size).unwrap();
        assert_eq!(p.parts, 768);
        // 5 TiB (5 GiB x 1024) with the default 8 MiB parts: the part size grows.
        let p = Plan::new(5 << 40, TransferOptions::default().part_size).unwrap();
        assert!(p.parts as u64 <= MAX_PARTS);
    }
}
