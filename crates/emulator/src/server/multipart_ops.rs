//! Multipart uploads: Initiate, UploadPart, UploadPartCopy, Complete, Abort, ListParts,
//! ListMultipartUploads.

use axum::response::Response;
use ossguard_proto::range::ByteRange;
use ossguard_proto::xml::{
    self, CommonPrefix, CompleteMultipartUpload, CompleteMultipartUploadResult, CopyPartResult,
    InitiateMultipartUploadResult, ListMultipartUploadsResult, ListPartsResult, PartSummary,
    UploadSummary,
};
use ossguard_proto::Operation;

use super::context::{content_md5, Ctx};
use super::error::ApiError;
use super::object_ops::{check_copy_source_conditions, new_object_headers, parse_copy_source};
use super::response::{self, iso_ms};

pub async fn handle(mut ctx: Ctx) -> Result<Response, ApiError> {
    match ctx.op {
        Operation::InitiateMultipartUpload => initiate(&ctx).await,
        Operation::UploadPart => upload_part(&mut ctx).await,
        Operation::UploadPartCopy => upload_part_copy(&ctx).await,
        Operation::CompleteMultipartUpload => complete(&mut ctx).await,
        Operation::AbortMultipartUpload => {
            ctx.st
                .store
                .abort_multipart(ctx.bucket()?, ctx.key()?, upload_id(&ctx)?)
                .await?;
            Ok(response::status(204))
        }
        Operation::ListParts => list_parts(&ctx).await,
        Operation::ListMultipartUploads => list_uploads(&ctx).await,
        _ => Err(ApiError::not_implemented()),
    }
}

fn upload_id(ctx: &Ctx) -> Result<&str, ApiError> {
    ctx.query("uploadId")
        .ok_or_else(|| ApiError::invalid_argument("missing uploadId"))
}

fn part_number(ctx: &Ctx) -> Result<u32, ApiError> {
    ctx.query("partNumber")
        .and_then(|n| n.parse().ok())
        .filter(|n| (1..=10_000).contains(n))
        .ok_or_else(|| ApiError::invalid_argument("partNumber must be 1 to 10000"))
}

fn url_mode(ctx: &Ctx) -> bool {
    ctx.query("encoding-type") == Some("url")
}

fn enc(url: bool, s: &str) -> String {
    if url {
        xml::url_encode_key(s)
    } else {
        s.to_owned()
    }
}

async fn initiate(ctx: &Ctx) -> Result<Response, ApiError> {
    let headers = new_object_headers(ctx)?;
    let (bucket, key) = (ctx.bucket()?, ctx.key()?);
    let info = ctx
        .st
        .store
        .initiate_multipart(bucket, key, headers)
        .await?;
    let url = url_mode(ctx);
    Ok(response::xml(&InitiateMultipartUploadResult {
        bucket: bucket.to_owned(),
        key: enc(url, key),
        upload_id: info.upload_id,
        encoding_type: url.then(|| "url".into()),
    }))
}

/// OSS's largest part (5 GiB), uploaded or copied.
const MAX_PART_SIZE: u64 = 5 << 30;

async fn upload_part(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let n = part_number(ctx)?;
    if ctx
        .header("content-length")
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|l| l > MAX_PART_SIZE)
    {
        return Err(ApiError::new(
            400,
            "EntityTooLarge",
            "A part may be at most 5 GiB.",
        ));
    }
    let (bucket, key, id) = (
        ctx.bucket()?.to_owned(),
        ctx.key()?.to_owned(),
        upload_id(ctx)?.to_owned(),
    );
    let expected = content_md5(ctx)?;
    let body = ctx.body_reader();
    let part = ctx
        .st
        .store
        .upload_part_checked(&bucket, &key, &id, n, body, expected)
        .await?;
    let mut resp = response::status(200);
    response::header(&mut resp, "etag", &part.etag);
    response::header(
        &mut resp,
        ossguard_proto::crc64::HEADER,
        &part.crc64.to_string(),
    );
    Ok(resp)
}

async fn upload_part_copy(ctx: &Ctx) -> Result<Response, ApiError> {
    let n = part_number(ctx)?;
    let (sb, sk) = parse_copy_source(&ctx.header("x-oss-copy-source").unwrap_or_default())?;
    // Open the source first: the conditions and the range are then judged on the very version
    // whose bytes are copied (a source replaced meanwhile cannot slip past If-Match).
    let src = ctx.st.store.get_object(&sb, &sk, None).await?;
    check_copy_source_conditions(ctx, &src.info)?;
    let size = src.info.size;
    let (start, end) = match ctx.header("x-oss-copy-source-range") {
        None => (0, size),
        Some(r) => {
            let (a, b) = ByteRange::parse(&r)
                .and_then(|r| r.resolve(size))
                .map_err(|_| {
                    ApiError::new(
                        416,
                        "InvalidRange",
                        "x-oss-copy-source-range lies outside the source.",
                    )
                })?;
            (a, b + 1)
        }
    };
    if end - start > MAX_PART_SIZE {
        return Err(ApiError::new(
            400,
            "EntityTooLarge",
            "A part may be at most 5 GiB: copy a smaller x-oss-copy-source-range.",
        ));
    }
    let body = src
        .body
        .narrow(start, end - start)
        .await
        .map_err(crate::store::StoreError::from)?;
    let (bucket, key, id) = (ctx.bucket()?, ctx.key()?, upload_id(ctx)?);
    let part = ctx.st.store.upload_part(bucket, key, id, n, body).await?;
    let mut resp = response::xml(&CopyPartResult {
        last_modified: iso_ms(part.last_modified_ms),
        etag: part.etag.clone(),
    });
    // oss2 and ali-oss take the part ETag from the header, not the XML.
    response::header(&mut resp, "etag", &part.etag);
    response::header(
        &mut resp,
        ossguard_proto::crc64::HEADER,
        &part.crc64.to_string(),
    );
    Ok(resp)
}

async fn complete(ctx: &mut Ctx) -> Result<Response, ApiError> {
    let all = ctx
        .header("x-oss-complete-all")
        .is_some_and(|v| v.eq_ignore_ascii_case("yes"));
    let body = ctx.xml_body().await?;
    let (bucket, key, id) = (
        ctx.bucket()?.to_owned(),
        ctx.key()?.to_owned(),
        upload_id(ctx)?.to_owned(),
    );
    let info = if all {
        if !body.is_empty() {
            return Err(ApiError::invalid_argument(
                "x-oss-complete-all: yes takes no body",
            ));
        }
        ctx.st
            .store
            .complete_multipart_all(&bucket, &key, &id)
            .await?
    } else {
        let req: CompleteMultipartUpload = xml::from_xml(&body)?;
        if req.parts.is_empty() {
            return Err(ApiError::new(
                400,
                "MalformedXML",
                "The complete request lists no parts.",
            ));
        }
        let parts: Vec<(u32, String)> = req
            .parts
            .into_iter()
            .map(|p| (p.part_number, p.etag))
            .collect();
        ctx.st
            .store
            .complete_multipart(&bucket, &key, &id, &parts)
            .await?
    };
    let url = url_mode(ctx);
    let host = ctx.header("host").unwrap_or_default();
    let mut resp = response::xml(&CompleteMultipartUploadResult {
        encoding_type: url.then(|| "url".into()),
        location: format!(
            "http://{host}/{bucket}/{}",
            ossguard_proto::encoding::uri_encode_path(&key)
        ),
        bucket: bucket.clone(),
        key: enc(url, &key),
        etag: info.etag.clone(),
    });
    response::header(&mut resp, "etag", &info.etag);
    response::header(
        &mut resp,
        ossguard_proto::crc64::HEADER,
        &info.crc64.to_string(),
    );
    Ok(resp)
}

async fn list_parts(ctx: &Ctx) -> Result<Response, ApiError> {
    let marker: u32 = ctx
        .query("part-number-marker")
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    let max: usize = ctx
        .query("max-parts")
        .and_then(|m| m.parse().ok())
        .unwrap_or(1000)
        .clamp(1, 1000);
    let (bucket, key, id) = (ctx.bucket()?, ctx.key()?, upload_id(ctx)?);
    let parts = ctx.st.store.list_parts(bucket, key, id).await?;
    let rest: Vec<_> = parts
        .into_iter()
        .filter(|p| p.part_number > marker)
        .collect();
    let truncated = rest.len() > max;
    let page: Vec<_> = rest.into_iter().take(max).collect();
    let url = url_mode(ctx);
    Ok(response::xml(&ListPartsResult {
        bucket: bucket.to_owned(),
        key: enc(url, key),
        upload_id: id.to_owned(),
        part_number_marker: marker,
        next_part_number_marker: page.last().map(|p| p.part_number).unwrap_or(marker),
        max_parts: max as u32,
        is_truncated: truncated,
        encoding_type: url.then(|| "url".into()),
        storage_class: Some("Standard".into()),
        parts: page
            .iter()
            .map(|p| PartSummary {
                part_number: p.part_number,
                last_modified: iso_ms(p.last_modified_ms),
                etag: p.etag.clone(),
                hash_crc64ecma: Some(p.crc64.to_string()),
                size: p.size,
            })
            .collect(),
    }))
}

/// The uploads (sorted by key, then initiation) after the markers. A marker naming an upload
/// resumes right after it in that order; else, as OSS documents, keys after `key-marker` and,
/// for `key-marker` itself, upload ids after `upload-id-marker` (which needs a key marker).
fn after_markers<'u>(
    uploads: &'u [crate::store::UploadInfo],
    key_marker: &str,
    id_marker: &str,
) -> Vec<&'u crate::store::UploadInfo> {
    if key_marker.is_empty() {
        return uploads.iter().collect();
    }
    if let Some(i) = uploads
        .iter()
        .position(|u| u.key == key_marker && u.upload_id == id_marker)
    {
        return uploads[i + 1..].iter().collect();
    }
    uploads
        .iter()
        .filter(|u| {
            u.key.as_str() > key_marker
                || (u.key == key_marker
                    && !id_marker.is_empty()
                    && u.upload_id.as_str() > id_marker)
        })
        .collect()
}

async fn list_uploads(ctx: &Ctx) -> Result<Response, ApiError> {
    let bucket = ctx.bucket()?;
    let prefix = ctx.query("prefix").unwrap_or("").to_owned();
    let delimiter = ctx.query("delimiter").unwrap_or("").to_owned();
    let key_marker = ctx.query("key-marker").unwrap_or("").to_owned();
    let id_marker = ctx.query("upload-id-marker").unwrap_or("").to_owned();
    let max: usize = ctx
        .query("max-uploads")
        .and_then(|m| m.parse().ok())
        .unwrap_or(1000)
        .clamp(1, 1000);
    let uploads = ctx.st.store.list_uploads(bucket, &prefix).await?;
    let mut page = Vec::new();
    let mut prefixes: Vec<String> = Vec::new();
    let mut truncated = false;
    // The last upload this page covers (listed, or folded into a common prefix): the next
    // page's markers, so a prefix's uploads are never listed twice.
    let mut last = None;
    for u in after_markers(&uploads, &key_marker, &id_marker) {
        let rolled = match delimiter.is_empty() {
            true => None,
            false => u.key[prefix.len()..]
                .find(&delimiter)
                .map(|i| u.key[..prefix.len() + i + delimiter.len()].to_owned()),
        };
        if rolled.as_ref().is_some_and(|p| prefixes.contains(p)) {
            last = Some(u);
            continue;
        }
        if page.len() + prefixes.len() >= max {
            truncated = true;
            break;
        }
        match rolled {
            Some(p) => prefixes.push(p),
            None => page.push(u),
        }
        last = Some(u);
    }
    let url = url_mode(ctx);
    Ok(response::xml(&ListMultipartUploadsResult {
        bucket: bucket.to_owned(),
        key_marker: enc(url, &key_marker),
        upload_id_marker: id_marker.clone(),
        next_key_marker: last.map(|u| enc(url, &u.key)).unwrap_or_default(),
        next_upload_id_marker: last.map(|u| u.upload_id.clone()).unwrap_or_default(),
        delimiter: enc(url, &delimiter),
        prefix: enc(url, &prefix),
        max_uploads: max as u32,
        is_truncated: truncated,
        encoding_type: url.then(|| "url".into()),
        uploads: page
            .iter()
            .map(|u| UploadSummary {
                key: enc(url, &u.key),
                upload_id: u.upload_id.clone(),
                initiated: iso_ms(u.initiated_ms),
            })
            .collect(),
        common_prefixes: prefixes
            .into_iter()
            .map(|p| CommonPrefix {
                prefix: enc(url, &p),
            })
            .collect(),
    }))
}
