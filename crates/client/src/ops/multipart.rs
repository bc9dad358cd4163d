//! Multipart upload primitives (the resumable transfer manager builds on these).

use http::Method;
use ossguard_proto::xml::{
    self, CompleteMultipartUploadResult, InitiateMultipartUploadResult, ListMultipartUploadsResult,
    ListPartsResult,
};
use ossguard_proto::{Operation, Request};

use super::object::{content_md5, PutObjectOptions, PutObjectOutput};
use super::{check_crc, header, server_crc, validate_key};
use crate::body::Body;
use crate::client::Client;
use crate::error::Error;

/// An uploaded part.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PartMeta {
    pub part_number: u32,
    pub etag: String,
    pub size: u64,
    pub crc64: Option<u64>,
}

/// A part to complete an upload with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedPart {
    pub part_number: u32,
    pub etag: String,
    /// With `crc64` and `size` of every part the final object's CRC-64 is checked.
    pub crc64: Option<u64>,
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

/// An upload in progress.
#[derive(Debug, Clone)]
pub struct UploadMeta {
    pub key: String,
    pub upload_id: String,
    pub initiated: String,
}

impl Client {
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

    /// After `NoSuchUpload` on Complete: succeeds when the object has the size and CRC-64 the
    /// parts combine to (`expected`), else returns `original`.
    async fn completed_already(
        &self,
        bucket: &str,
        key: &str,
        expected: (u64, u64),
        original: Error,
    ) -> Result<PutObjectOutput, Error> {
        self.object_is(bucket, key, expected).await.ok_or(original)
    }

    /// The object's output when it exists with exactly this CRC-64 and size.
    pub(crate) async fn object_is(
        &self,
        bucket: &str,
        key: &str,
        (crc, size): (u64, u64),
    ) -> Option<PutObjectOutput> {
        match self.head_object(bucket, key).await {
            Ok(m) if m.crc64 == Some(crc) && m.size == size => Some(PutObjectOutput {
                etag: m.etag,
                crc64: m.crc64,
                request_id: m.request_id,
            }),
            _ => None,
        }
    }

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

    /// Uploads in progress under `prefix` (first 1000).
    pub async fn list_multipart_uploads(
        &self,
        bucket: &str,
        prefix: &str,
    ) -> Result<Vec<UploadMeta>, Error> {
        let mut req = Operation::ListMultipartUploads
            .request(Some(bucket), None)
            .with_query("encoding-type", "url");
        if !prefix.is_empty() {
            req.query.push(("prefix".into(), prefix.to_owned()));
        }
        let (_, _, b) = self
            .execute_read(Operation::ListMultipartUploads, req, Body::empty())
            .await?;
        let res: ListMultipartUploadsResult = xml::from_xml(&b)?;
        let url = res.encoding_type.as_deref() == Some("url");
        res.uploads
            .into_iter()
            .map(|u| {
                Ok(UploadMeta {
                    key: if url {
                        xml::url_decode_key(&u.key)?
                    } else {
                        u.key
                    },
                    upload_id: u.upload_id,
                    initiated: u.initiated,
                })
            })
            .collect()
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
