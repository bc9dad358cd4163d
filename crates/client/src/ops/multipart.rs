//! Multipart upload primitives (the resumable transfer manager builds on these).

use futures_util::Stream;
use std::time::SystemTime;

use http::Method;
use ossguard_proto::xml::{
    self, CompleteMultipartUploadResult, CopyPartResult, InitiateMultipartUploadResult,
    ListMultipartUploadsResult, ListPartsResult,
};
use ossguard_proto::{Operation, Request};

use super::object::{content_md5, ObjectMeta, PutObjectOptions, PutObjectOutput};
use super::{check_crc, header, server_crc, validate_key};
use crate::body::Body;
use crate::client::Client;
use crate::error::Error;

/// An uploaded part.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PartMeta {
    /// Its number, 1 to 10,000.
    pub part_number: u32,
    /// The ETag the server gave it.
    pub etag: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its CRC-64, as the server reported it.
    pub crc64: Option<u64>,
}

/// A part to complete an upload with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedPart {
    /// The part's number.
    pub part_number: u32,
    /// The ETag UploadPart answered.
    pub etag: String,
    /// With `crc64` and `size` of every part the final object's CRC-64 is checked.
    pub crc64: Option<u64>,
    /// The part's size in bytes (see `crc64`).
    pub size: Option<u64>,
}

impl From<&PartMeta> for CompletedPart {
    fn from(p: &PartMeta) -> Self {
        Self {
            part_number: p.part_number,
            etag: p.etag.clone(),
            crc64: p.crc64,
            size: Some(p.size),
        }
    }
}

/// Where an [`upload_part_copy`](Client::upload_part_copy) takes its bytes from: a byte range
/// of an existing object, and the `x-oss-copy-source-if-*` conditions that object must meet.
#[derive(Debug, Clone)]
pub struct PartCopySource {
    /// The source object's bucket (same region as the destination).
    pub bucket: String,
    /// The source object's key.
    pub key: String,
    /// Inclusive `(first, last)` byte positions to copy; they must lie within the source (the
    /// part's size, and so the completed object's CRC-64 check, is computed from them). OSS
    /// copies the whole source when the range is omitted; ossguard always sends one so that the
    /// part's size is known.
    pub range: (u64, u64),
    /// `x-oss-copy-source-if-match`: copy only while the source has this ETag, else 412
    /// `PreconditionFailed`. Pin every part of a multipart copy to one ETag so that a source
    /// replaced mid-copy fails the copy instead of mixing two versions.
    pub if_match: Option<String>,
    /// `x-oss-copy-source-if-none-match`: copy only if the source's ETag differs (else 412).
    pub if_none_match: Option<String>,
    /// `x-oss-copy-source-if-modified-since` (else 412).
    pub if_modified_since: Option<SystemTime>,
    /// `x-oss-copy-source-if-unmodified-since` (else 412).
    pub if_unmodified_since: Option<SystemTime>,
}

impl PartCopySource {
    /// Bytes `first..=last` of `bucket/key`, without conditions.
    pub fn new(bucket: &str, key: &str, first: u64, last: u64) -> Self {
        Self {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            range: (first, last),
            if_match: None,
            if_none_match: None,
            if_modified_since: None,
            if_unmodified_since: None,
        }
    }

    /// Copies only while the source's ETag is `etag` (`x-oss-copy-source-if-match`).
    pub fn if_match(mut self, etag: &str) -> Self {
        self.if_match = Some(etag.to_owned());
        self
    }
}

/// An upload in progress.
#[derive(Debug, Clone)]
pub struct UploadMeta {
    /// The key of the object being uploaded.
    pub key: String,
    /// The upload's id (for UploadPart, CompleteMultipartUpload, AbortMultipartUpload).
    pub upload_id: String,
    /// When it was started (ISO 8601, as OSS sends it).
    pub initiated: String,
}

/// What [`Client::list_multipart_uploads_page`] lists.
#[derive(Debug, Clone, Default)]
pub struct ListUploadsOptions {
    /// Only uploads of keys starting with this.
    pub prefix: String,
    /// Per page, 1 to 1000 (the server's default, 1000, when `None`).
    pub max_uploads: Option<u32>,
}

/// Where the next page of ListMultipartUploads starts (`key-marker`, `upload-id-marker`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UploadMarker {
    /// The last key of the previous page (decoded).
    pub key: String,
    /// The last upload id of the previous page.
    pub upload_id: String,
}

/// One page of ListMultipartUploads.
#[derive(Debug, Clone, Default)]
pub struct UploadsPage {
    /// The uploads in progress on this page, in key order.
    pub uploads: Vec<UploadMeta>,
    /// Pass to the next call; `None` on the last page.
    pub next_marker: Option<UploadMarker>,
}

impl Client {
    /// Starts a multipart upload of `bucket/key` whose object gets the metadata in `opts`; returns
    /// the upload id.
    pub async fn initiate_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        opts: &PutObjectOptions,
    ) -> Result<String, Error> {
        validate_key(key)?;
        let mut req = Operation::InitiateMultipartUpload.request(Some(bucket), Some(key));
        opts.apply(&mut req)?;
        let (_, _, b) = self
            .execute_read(Operation::InitiateMultipartUpload, req, Body::empty())
            .await?;
        Ok(xml::from_xml::<InitiateMultipartUploadResult>(&b)?.upload_id)
    }

    /// Uploads part `n` (1..=10000); its CRC-64 is checked against the server's.
    pub async fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        n: u32,
        body: Body,
    ) -> Result<PartMeta, Error> {
        if !(1..=10_000).contains(&n) {
            return Err(Error::invalid_input("part numbers run from 1 to 10000"));
        }
        let size = body.len();
        let req = ossguard_proto::ops::upload_part(bucket, key, upload_id, n);
        let mut sent = self.execute(Operation::UploadPart, req, body).await?;
        let crc = server_crc(sent.response.headers());
        check_crc(crc, sent.sent_crc, "UploadPart").map_err(|e| sent.run.failed(self, e))?;
        let h = sent.response.headers();
        Ok(PartMeta {
            part_number: n,
            etag: header(h, "etag").unwrap_or_default(),
            size: size.unwrap_or(0),
            crc64: crc.or(Some(sent.sent_crc)),
        })
    }

    /// UploadPartCopy: part `n` (1..=10000) of the upload `upload_id` of `bucket/key` is copied
    /// server-side from `source` (a byte range of an existing object, under its copy-source
    /// conditions); no object bytes pass through the client. Idempotent, so it runs through
    /// the resilience pipeline like [`upload_part`](Client::upload_part) (retries, deadline,
    /// breaker), with the longer first-byte allowance of silent server-side work. A failed
    /// condition is 412 `PreconditionFailed` and is not retried.
    ///
    /// The returned part's size is the range's length; its CRC-64 is the server's
    /// (`x-oss-hash-crc64ecma`) when it sends one, so that
    /// [`complete_multipart_upload`](Client::complete_multipart_upload) can check the object.
    pub async fn upload_part_copy(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        n: u32,
        source: &PartCopySource,
    ) -> Result<PartMeta, Error> {
        if !(1..=10_000).contains(&n) {
            return Err(Error::invalid_input("part numbers run from 1 to 10000"));
        }
        validate_key(key)?;
        validate_key(&source.key)?;
        let (first, last) = source.range;
        if first > last {
            return Err(Error::invalid_input(format!(
                "copy range {first}-{last}: the first byte comes after the last"
            )));
        }
        let invalid =
            |e: ossguard_proto::request::InvalidHeader| Error::invalid_input(e.to_string());
        let mut req = ossguard_proto::ops::upload_part_copy(
            bucket,
            key,
            upload_id,
            n,
            &source.bucket,
            &source.key,
            Some(source.range),
        )
        .map_err(invalid)?;
        let dates = [
            (
                "x-oss-copy-source-if-modified-since",
                source.if_modified_since,
            ),
            (
                "x-oss-copy-source-if-unmodified-since",
                source.if_unmodified_since,
            ),
        ];
        for (name, value) in [
            ("x-oss-copy-source-if-match", source.if_match.clone()),
            (
                "x-oss-copy-source-if-none-match",
                source.if_none_match.clone(),
            ),
        ]
        .into_iter()
        .chain(
            dates
                .into_iter()
                .map(|(n, t)| (n, t.map(ossguard_proto::time::rfc1123))),
        ) {
            if let Some(v) = value {
                req.set_header(name, &v).map_err(invalid)?;
            }
        }
        let (h, _, b) = self
            .execute_read(Operation::UploadPartCopy, req, Body::empty())
            .await?;
        let res: CopyPartResult = xml::from_xml(&b)?;
        let etag = Some(res.etag)
            .filter(|e| !e.is_empty())
            .or_else(|| header(&h, "etag"))
            .ok_or_else(|| {
                Error::new(crate::error::ErrorKind::Protocol(
                    "UploadPartCopy answered without the part's ETag".into(),
                ))
                .in_op("UploadPartCopy")
            })?;
        Ok(PartMeta {
            part_number: n,
            etag,
            size: last - first + 1,
            crc64: server_crc(&h),
        })
    }

    /// Completes an upload; when every part carries its CRC-64 and size, the object's CRC-64
    /// is checked against their combination.
    pub async fn complete_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[CompletedPart],
    ) -> Result<PutObjectOutput, Error> {
        let list: Vec<(u32, String)> = parts
            .iter()
            .map(|p| (p.part_number, p.etag.clone()))
            .collect();
        let (mut req, body) =
            ossguard_proto::ops::complete_multipart_upload(bucket, key, upload_id, &list);
        req.set_header("content-md5", &content_md5(&body))
            .map_err(|e| Error::invalid_input(e.to_string()))?;
        req.query.push(("encoding-type".into(), "url".into()));
        let expected = expected_object(parts);
        let (h, _, b) = match self
            .execute_read(Operation::CompleteMultipartUpload, req, body.into())
            .await
        {
            Ok(r) => r,
            // A retry after a Complete whose answer was lost finds the upload gone: if the
            // object is exactly what these parts make, that earlier attempt did the work.
            Err(e) if e.code() == Some("NoSuchUpload") => {
                return match expected {
                    Some(exp) => self.completed_already(bucket, key, exp, e).await,
                    None => Err(e),
                }
            }
            Err(e) => return Err(e),
        };
        let _: CompleteMultipartUploadResult = xml::from_xml(&b)?;
        let out = PutObjectOutput::from_headers(&h);
        if let Some((crc, _)) = expected {
            check_crc(out.crc64, crc, "CompleteMultipartUpload")?;
        }
        Ok(out)
    }

    /// After `NoSuchUpload` on Complete: succeeds when the object is a multipart object with
    /// the size and CRC-64 the parts combine to (`expected`; [`made_by_upload`] without put
    /// options), else returns `original`.
    async fn completed_already(
        &self,
        bucket: &str,
        key: &str,
        expected: (u64, u64),
        original: Error,
    ) -> Result<PutObjectOutput, Error> {
        self.object_is(bucket, key, expected, None)
            .await
            .ok_or(original)
    }

    /// The object's output when it is the one this upload makes ([`made_by_upload`]).
    pub(crate) async fn object_is(
        &self,
        bucket: &str,
        key: &str,
        expected: (u64, u64),
        put: Option<&PutObjectOptions>,
    ) -> Option<PutObjectOutput> {
        let m = self.head_object(bucket, key).await.ok()?;
        made_by_upload(&m, expected, put).then_some(PutObjectOutput {
            etag: m.etag,
            crc64: m.crc64,
            request_id: m.request_id,
        })
    }

    /// Whether the multipart upload still exists (one ListParts page of one part).
    pub(crate) async fn upload_exists(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<bool, Error> {
        let req = Request::new(Method::GET, Some(bucket), Some(key))
            .with_query("uploadId", upload_id)
            .with_query("max-parts", "1");
        match self
            .execute_read(Operation::ListParts, req, Body::empty())
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some("NoSuchUpload") => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Aborts a multipart upload and deletes its parts (success also when it is already gone).
    pub async fn abort_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<(), Error> {
        let req =
            Request::new(Method::DELETE, Some(bucket), Some(key)).with_query("uploadId", upload_id);
        match self
            .execute(Operation::AbortMultipartUpload, req, Body::empty())
            .await
        {
            // Already aborted (a retry after a lost answer) or completed: nothing left to do.
            Err(e) if e.code() == Some("NoSuchUpload") => Ok(()),
            r => r.map(drop),
        }
    }

    /// Every uploaded part (follows pagination).
    pub async fn list_parts(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<Vec<PartMeta>, Error> {
        let mut out = Vec::new();
        let mut marker = 0u32;
        for _ in 0..11 {
            let req = Request::new(Method::GET, Some(bucket), Some(key))
                .with_query("uploadId", upload_id)
                .with_query("part-number-marker", &marker.to_string());
            let (_, _, b) = self
                .execute_read(Operation::ListParts, req, Body::empty())
                .await?;
            let res: ListPartsResult = xml::from_xml(&b)?;
            out.extend(res.parts.iter().map(|p| {
                PartMeta {
                    part_number: p.part_number,
                    etag: p.etag.clone(),
                    size: p.size,
                    crc64: p
                        .hash_crc64ecma
                        .as_deref()
                        .and_then(ossguard_proto::crc64::parse_header),
                }
            }));
            if !res.is_truncated || res.next_part_number_marker <= marker {
                break;
            }
            marker = res.next_part_number_marker;
        }
        Ok(out)
    }

    /// Uploads in progress under `prefix` (first 1000; [`Client::list_multipart_uploads_page`]
    /// and [`Client::list_multipart_uploads_pages`] follow pagination).
    pub async fn list_multipart_uploads(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<UploadMeta>, Error> {
        let opts = ListUploadsOptions {
            prefix: prefix.to_owned(),
            ..Default::default()
        };
        Ok(self
            .list_multipart_uploads_page(bucket, &opts, None)
            .await?
            .uploads)
    }

    /// One page of ListMultipartUploads under `opts.prefix`, starting after `marker` (the
    /// previous page's [`UploadsPage::next_marker`]; `None` for the first page). Keys come
    /// `encoding-type=url` and are decoded here.
    pub async fn list_multipart_uploads_page(
        &self,
        bucket: &str,
        opts: &ListUploadsOptions,
        marker: Option<&UploadMarker>,
    ) -> Result<UploadsPage, Error> {
        let mut req = Operation::ListMultipartUploads
            .request(Some(bucket), None)
            .with_query("encoding-type", "url");
        if let Some(n) = opts.max_uploads {
            req.query
                .push(("max-uploads".into(), n.clamp(1, 1000).to_string()));
        }
        if !opts.prefix.is_empty() {
            req.query.push(("prefix".into(), opts.prefix.clone()));
        }
        if let Some(m) = marker {
            req.query.push(("key-marker".into(), m.key.clone()));
            if !m.upload_id.is_empty() {
                req.query
                    .push(("upload-id-marker".into(), m.upload_id.clone()));
            }
        }
        let (_, _, b) = self
            .execute_read(Operation::ListMultipartUploads, req, Body::empty())
            .await?;
        let res: ListMultipartUploadsResult = xml::from_xml(&b)?;
        let url = res.encoding_type.as_deref() == Some("url");
        let decode = |s: String| -> Result<String, Error> {
            if url {
                Ok(xml::url_decode_key(&s)?)
            } else {
                Ok(s)
            }
        };
        let uploads = res
            .uploads
            .into_iter()
            .map(|u| {
                Ok(UploadMeta {
                    key: decode(u.key)?,
                    upload_id: u.upload_id,
                    initiated: u.initiated,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let next_marker = if res.is_truncated {
            let next = UploadMarker {
                key: decode(res.next_key_marker)?,
                upload_id: res.next_upload_id_marker,
            };
            // A truncated page must move the markers, or paging would never end.
            if next.key.is_empty() || marker == Some(&next) {
                return Err(Error::invalid_input(
                    "the server said the upload listing is truncated but sent no usable \
                     NextKeyMarker/NextUploadIdMarker",
                ));
            }
            Some(next)
        } else {
            None
        };
        Ok(UploadsPage {
            uploads,
            next_marker,
        })
    }

    /// Every page of ListMultipartUploads under `opts.prefix`, fetched as the stream is polled
    /// (bounded memory: one page at a time).
    pub fn list_multipart_uploads_pages(
        &self,
        bucket: &str,
        opts: ListUploadsOptions,
    ) -> impl Stream<Item = Result<UploadsPage, Error>> + Send + 'static {
        let client = self.clone();
        let bucket = bucket.to_owned();
        // State: None = finished; Some(marker) = next page to fetch (Some(None) = first page).
        futures_util::stream::try_unfold(Some(None::<UploadMarker>), move |state| {
            let client = client.clone();
            let bucket = bucket.clone();
            let opts = opts.clone();
            async move {
                let Some(marker) = state else {
                    return Ok(None);
                };
                let page = client
                    .list_multipart_uploads_page(&bucket, &opts, marker.as_ref())
                    .await?;
                let next = page.next_marker.clone().map(Some);
                Ok(Some((page, next)))
            }
        })
    }
}

/// The CRC-64 and size of the object `parts` make, when every part carries both.
pub(crate) fn expected_object(parts: &[CompletedPart]) -> Option<(u64, u64)> {
    let all: Vec<(u64, u64)> = parts
        .iter()
        .map(|p| Some((p.crc64?, p.size?)))
        .collect::<Option<_>>()?;
    let size = all.iter().map(|(_, len)| len).sum();
    Some((ossguard_proto::crc64::combine_parts(all), size))
}

/// Whether `m` (a HEAD's answer) is the object a multipart upload with this CRC-64 and size
/// (`expected`) makes: a `Multipart` object with exactly those bytes and — given the upload's
/// `put` options — their content type and user metadata (the bytes alone could be another
/// writer's identical object). Fails closed: an answer without a CRC-64 or an object type is
/// not recognised (OSS always sends both), so the caller reports its error rather than claim
/// an object it cannot tell apart.
fn made_by_upload(m: &ObjectMeta, (crc, size): (u64, u64), put: Option<&PutObjectOptions>) -> bool {
    let multipart = m
        .object_type
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("Multipart"));
    let as_put = put.is_none_or(|p| {
        p.content_type
            .as_ref()
            .is_none_or(|ct| m.content_type.as_ref() == Some(ct))
            && p.metadata
                .iter()
                .all(|(k, v)| m.metadata.get(&k.to_ascii_lowercase()) == Some(v))
    });
    m.crc64 == Some(crc) && m.size == size && multipart && as_put
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn ours() -> ObjectMeta {
        ObjectMeta {
            size: 10,
            crc64: Some(7),
            object_type: Some("Multipart".into()),
            content_type: Some("text/plain".into()),
            metadata: BTreeMap::from([("owner".into(), "me".into())]),
            ..ObjectMeta::default()
        }
    }

    #[test]
    fn an_object_is_the_uploads_only_when_everything_the_upload_set_matches() {
        let put = PutObjectOptions {
            content_type: Some("text/plain".into()),
            metadata: BTreeMap::from([("Owner".into(), "me".into())]),
            ..PutObjectOptions::default()
        };
        assert!(made_by_upload(&ours(), (7, 10), Some(&put)));
        assert!(made_by_upload(&ours(), (7, 10), None));
        type Change = fn(&mut ObjectMeta);
        let differs: [(&str, Change); 7] = [
            ("crc", |m| m.crc64 = Some(8)),
            ("no crc", |m| m.crc64 = None),
            ("size", |m| m.size = 11),
            ("a Normal object", |m| m.object_type = Some("Normal".into())),
            ("no object type", |m| m.object_type = None),
            ("content type", |m| {
                m.content_type = Some("text/html".into())
            }),
            ("metadata", |m| {
                m.metadata.insert("owner".into(), "someone else".into());
            }),
        ];
        for (what, change) in differs {
            let mut m = ours();
            change(&mut m);
            assert!(!made_by_upload(&m, (7, 10), Some(&put)), "{what}");
        }
    }
}
