//! Object operations: Put, Get (ranges, conditions, overrides), Head, GetObjectMeta, Delete,
//! DeleteMultiple, Copy, Append, object ACL.
//!
//! CopyObject copies sources up to [`EmulatorConfig::max_copy_object_size`] (default 1 GiB, as
//! OSS documents); a larger source gets 400 `EntityTooLarge` — the code is inferred, OSS does not
//! document it (see [`MAX_COPY_OBJECT_SIZE`]). Larger objects are copied with UploadPartCopy.
//!
//! [`EmulatorConfig::max_copy_object_size`]: super::EmulatorConfig::max_copy_object_size
//! [`MAX_COPY_OBJECT_SIZE`]: super::MAX_COPY_OBJECT_SIZE

use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::response::Response;
use ossguard_proto::range::{content_range, oss_range, RangeAnswer};
use ossguard_proto::xml::{
    self, AccessControlList, AccessControlPolicy, CopyObjectResult, Delete, DeleteResult,
    DeletedObject, Owner,
};
use ossguard_proto::Operation;

use super::context::{content_md5, digest_or, Ctx};
use super::error::ApiError;
use super::response::{self, apply_overrides, iso_ms, object_headers};
use crate::store::{
    CopyOptions, MetadataDirective, ObjectAcl, ObjectHeaders, ObjectInfo, PutOptions, StorageClass,
};

/// OSS's limit for a single PutObject / AppendObject body.
const MAX_SINGLE_PUT: u64 = 5 << 30;

pub async fn handle(mut ctx: Ctx) -> Result<Response, ApiError> {
    match ctx.op {
        Operation::PutObject => put(&mut ctx).await,
        Operation::GetObject => get(&ctx, false).await,
        Operation::HeadObject => get(&ctx, true).await,
        Operation::GetObjectMeta => meta(&ctx).await,
        Operation::DeleteObject => {
            ctx.st
                .store
                .delete_object(ctx.bucket()?, ctx.key()?)
                .await?;
            Ok(response::status(204))
        }
        Operation::DeleteMultipleObjects => delete_multiple(&mut ctx).await,
        Operation::CopyObject => copy(&ctx).await,
        Operation::AppendObject => append(&mut ctx).await,
        Operation::PutObjectAcl => {
            let acl = ctx.header("x-oss-object-acl").ok_or_else(|| {
                ApiError::invalid_argument("PutObjectAcl needs the x-oss-object-acl header")
            })?;
            let acl = ObjectAcl::from_str(&acl)?;
            ctx.st
                .store
                .set_object_acl(ctx.bucket()?, ctx.key()?, acl)
                .await?;
            Ok(response::status(200))
        }
        Operation::GetObjectAcl => {
            let info = ctx.st.store.head_object(ctx.bucket()?, ctx.key()?).await?;
            Ok(response::xml(&acl_policy(info.headers.acl.as_str())))
        }
        _ => Err(ApiError::not_implemented()),
    }
}

pub fn owner() -> Owner {
    Owner {
        id: "1234567890".into(),
        display_name: "ossguard".into(),
    }
}

pub fn acl_policy(grant: &str) -> AccessControlPolicy {
    AccessControlPolicy {
        owner: owner(),
        access_control_list: AccessControlList {
            grant: grant.into(),
        },
    }
}

/// Metadata a PUT, initiate or append sets, from request headers: [`headers_from_request`]
/// and the tags of `x-oss-tagging`.
pub fn new_object_headers(ctx: &Ctx) -> Result<ObjectHeaders, ApiError> {
    let mut h = headers_from_request(ctx)?;
    if let Some(t) = ctx.header("x-oss-tagging") {
        h.tags = super::tagging::from_header(&t)?;
    }
    Ok(h)
}

/// Metadata a REPLACE-copy sets, from request headers (tags have their own directive).
pub fn headers_from_request(ctx: &Ctx) -> Result<ObjectHeaders, ApiError> {
    let mut h = ObjectHeaders {
        content_type: ctx.header("content-type"),
        content_encoding: ctx.header("content-encoding"),
        content_disposition: ctx.header("content-disposition"),
        cache_control: ctx.header("cache-control"),
        expires: ctx.header("expires"),
        content_language: ctx.header("content-language"),
        ..Default::default()
    };
    if let Some(acl) = ctx.header("x-oss-object-acl") {
        h.acl = ObjectAcl::from_str(&acl)?;
    }
    if let Some(sc) = ctx.header("x-oss-storage-class") {
        h.storage_class = StorageClass::from_str(&sc)?;
    }
    if let Some(sse) = ctx.header("x-oss-server-side-encryption") {
        if !matches!(sse.as_str(), "AES256" | "KMS" | "SM4") {
            return Err(ApiError::new(
                400,
                "InvalidEncryptionAlgorithmError",
                "The Encryption request you specified is not valid. Supported value: AES256/KMS/SM4.",
            ));
        }
        h.sse_key_id = (sse == "KMS")
            .then(|| ctx.header("x-oss-server-side-encryption-key-id"))
            .flatten();
        h.sse = Some(sse);
    }
    let mut meta_len = 0;
    for (name, value) in ctx.req.headers.iter() {
        if let Some(m) = name.as_str().strip_prefix("x-oss-meta-") {
            let v = String::from_utf8_lossy(value.as_bytes()).trim().to_owned();
            meta_len += m.len() + v.len();
            h.user_meta.insert(m.to_owned(), v);
        }
    }
    if meta_len > 8 * 1024 {
        return Err(ApiError::new(
            400,
            "MetadataTooLarge",
            "User metadata may total at most 8 KB.",
        ));
    }
    Ok(h)
}

fn content_length(ctx: &Ctx) -> Option<u64> {
    ctx.header("content-length").and_then(|v| v.parse().ok())
}

fn check_size(ctx: &Ctx) -> Result<(), ApiError> {
    if content_length(ctx).is_some_and(|n| n > MAX_SINGLE_PUT) {
        return Err(ApiError::new(
            400,
            "EntityTooLarge",
            "A single upload may be at most 5 GiB; use multipart.",
        ));
    }
    Ok(())
}

fn write_headers(resp: &mut Response, info: &ObjectInfo) {
    response::header(resp, "etag", &info.etag);
    response::header(resp, ossguard_proto::crc64::HEADER, &info.crc64.to_string());
    if let Some(md5) = &info.content_md5 {
        response::header(resp, "content-md5", md5);
    }
    response::encryption_headers(resp, &info.headers);
}

async fn put(ctx: &mut Ctx) -> Result<Response, ApiError> {
    check_size(ctx)?;
    let options = PutOptions {
        headers: new_object_headers(ctx)?,
        forbid_overwrite: ctx
            .header("x-oss-forbid-overwrite")
            .is_some_and(|v| v.eq_ignore_ascii_case("true")),
        expected_md5: content_md5(ctx)?,
    };
    let (bucket, key) = (ctx.bucket()?.to_owned(), ctx.key()?.to_owned());
    let body = ctx.body_reader();
    let info = ctx
        .st
        .store
        .put_object(&bucket, &key, body, options)
        .await?;
    let mut resp = response::status(200);
    write_headers(&mut resp, &info);
    Ok(resp)
}

fn etag_matches(list: &str, etag: &str) -> bool {
    let norm = |s: &str| {
        s.trim()
            .trim_start_matches("W/")
            .trim_matches('"')
            .to_ascii_uppercase()
    };
    list.split(',')
        .any(|e| e.trim() == "*" || norm(e) == norm(etag))
}

fn modified_secs(info: &ObjectInfo) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(info.last_modified_ms / 1000)
}

/// RFC 7232 evaluation order; `Err` carries the answer (304 or 412).
pub fn check_conditions(
    info: &ObjectInfo,
    if_match: Option<String>,
    if_unmodified: Option<String>,
    if_none_match: Option<String>,
    if_modified: Option<String>,
) -> Result<(), ApiError> {
    let failed = || {
        ApiError::new(
            412,
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold.",
        )
    };
    let not_modified = || ApiError::new(304, "NotModified", "");
    let lm = modified_secs(info);
    if let Some(m) = if_match {
        if !etag_matches(&m, &info.etag) {
            return Err(failed());
        }
    } else if let Some(t) = if_unmodified.and_then(|t| ossguard_proto::time::parse_http_date(&t)) {
        if lm > t {
            return Err(failed());
        }
    }
    if let Some(m) = if_none_match {
        if etag_matches(&m, &info.etag) {
            return Err(not_modified());
        }
    } else if let Some(t) = if_modified.and_then(|t| ossguard_proto::time::parse_http_date(&t)) {
        if lm <= t {
            return Err(not_modified());
        }
    }
    Ok(())
}

/// The `x-oss-copy-source-if-*` conditions of CopyObject and UploadPartCopy: every failed
/// condition is a 412 for copies (never 304).
pub fn check_copy_source_conditions(ctx: &Ctx, source: &ObjectInfo) -> Result<(), ApiError> {
    check_conditions(
        source,
        ctx.header("x-oss-copy-source-if-match"),
        ctx.header("x-oss-copy-source-if-unmodified-since"),
        ctx.header("x-oss-copy-source-if-none-match"),
        ctx.header("x-oss-copy-source-if-modified-since"),
    )
    .map_err(|_| {
        ApiError::new(
            412,
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold.",
        )
    })
}

fn not_modified_response(info: &ObjectInfo) -> Response {
    let mut r = response::status(304);
    response::header(&mut r, "etag", &info.etag);
    response::header(
        &mut r,
        "last-modified",
        &response::http_date_ms(info.last_modified_ms),
    );
    r
}

/// How often a GET starts over when the object is replaced between the check of its
/// conditions and range and the read.
const GET_RACE_TRIES: usize = 8;

async fn get(ctx: &Ctx, head_only: bool) -> Result<Response, ApiError> {
    for _ in 0..GET_RACE_TRIES {
        if let Some(resp) = get_version(ctx, head_only).await? {
            return Ok(resp);
        }
    }
    Err(ApiError::new(
        503,
        "ServiceUnavailable",
        "The object kept being replaced while it was read; retry.",
    ))
}

/// One GET or HEAD: `None` when the object was replaced after its conditions and range were
/// checked — answering with the new version would break an If-Match (or send a range
/// computed on the old size), so the caller starts over.
async fn get_version(ctx: &Ctx, head_only: bool) -> Result<Option<Response>, ApiError> {
    let (bucket, key) = (ctx.bucket()?, ctx.key()?);
    let info = ctx.st.store.head_object(bucket, key).await?;
    let conds = check_conditions(
        &info,
        ctx.header("if-match"),
        ctx.header("if-unmodified-since"),
        ctx.header("if-none-match"),
        ctx.header("if-modified-since"),
    );
    match conds {
        Err(e) if e.status == 304 => return Ok(Some(not_modified_response(&info))),
        Err(e) => return Err(e),
        Ok(()) => {}
    }
    let strict = ctx
        .header("x-oss-range-behavior")
        .is_some_and(|v| v.eq_ignore_ascii_case("standard"));
    let range = match ctx.header("range") {
        None => None,
        Some(h) => match oss_range(&h, info.size, strict) {
            RangeAnswer::Whole => None,
            RangeAnswer::Partial(a, b) => Some((a, b)),
            RangeAnswer::Unsatisfiable => {
                return Err(ApiError::new(
                    416,
                    "InvalidRange",
                    "The requested range cannot be satisfied.",
                )
                .with_header("content-range", format!("bytes */{}", info.size)))
            }
        },
    };
    let mut resp;
    let len;
    if head_only {
        resp = response::status(200);
        len = info.size;
        object_headers(&mut resp, &info);
    } else {
        let r = range.map(|(a, b)| a..b + 1);
        let out = match ctx.st.store.get_object(bucket, key, r).await {
            Ok(out) if out.info.etag == info.etag => out,
            Ok(_) | Err(crate::store::StoreError::InvalidRange { .. }) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        len = out.range.end - out.range.start;
        resp = Response::new(Body::from_stream(out.body.into_chunks().await));
        object_headers(&mut resp, &out.info);
        if let Some((a, b)) = range {
            *resp.status_mut() = http::StatusCode::PARTIAL_CONTENT;
            response::header(
                &mut resp,
                "content-range",
                &content_range(a, b, out.info.size),
            );
        }
    }
    response::header(&mut resp, "content-length", &len.to_string());
    apply_overrides(&mut resp, &ctx.req.query);
    Ok(Some(resp))
}

async fn meta(ctx: &Ctx) -> Result<Response, ApiError> {
    let info = ctx.st.store.head_object(ctx.bucket()?, ctx.key()?).await?;
    let mut resp = response::status(200);
    response::header(&mut resp, "content-length", &info.size.to_string());
    response::header(&mut resp, "etag", &info.etag);
    response::header(
        &mut resp,
        "last-modified",
        &response::http_date_ms(info.last_modified_ms),
    );
    response::header(
        &mut resp,
        "x-oss-last-access-time",
        &response::http_date_ms(info.last_modified_ms),
    );
    response::header(
        &mut resp,
        ossguard_proto::crc64::HEADER,
        &info.crc64.to_string(),
    );
    Ok(resp)
}

async fn delete_multiple(ctx: &mut Ctx) -> Result<Response, ApiError> {
    // OSS requires the digest here (EC 0016-00000606): a corrupted key list deletes the wrong
    // objects. The error code is not documented; MissingArgument is OSS's code for absent input.
    if super::context::content_md5(ctx)?.is_none() {
        return Err(ApiError::new(
            400,
            "MissingArgument",
            "DeleteMultipleObjects requires a Content-MD5 header: the base64 MD5 of the XML body.",
        ));
    }
    let body = ctx.xml_body().await?;
    let req: Delete = xml::from_xml(&body)?;
    if req.objects.len() > 1000 {
        return Err(ApiError::new(
            400,
            "MalformedXML",
            "At most 1000 objects may be deleted at once.",
        ));
    }
    let url = ctx.query("encoding-type") == Some("url");
    let bucket = ctx.bucket()?.to_owned();
    let mut deleted = Vec::new();
    for o in req.objects {
        ctx.st.store.delete_object(&bucket, &o.key).await?;
        if !req.quiet {
            deleted.push(DeletedObject {
                key: if url {
                    xml::url_encode_key(&o.key)
                } else {
                    o.key
                },
                ..Default::default()
            });
        }
    }
    Ok(response::xml(&DeleteResult {
        encoding_type: url.then(|| "url".to_owned()),
        deleted,
    }))
}

/// Parses `x-oss-copy-source`: `/bucket/key` URL-encoded (Go sends spaces as `+`; every SDK
/// sends a literal `+` as `%2B`, so `+` → space is safe), optionally `?versionId=`.
pub fn parse_copy_source(v: &str) -> Result<(String, String), ApiError> {
    let bad = || ApiError::invalid_argument("x-oss-copy-source must be /bucket/key (URL-encoded)");
    let v = v.split('?').next().unwrap_or(v);
    let decoded = ossguard_proto::encoding::decode_query_component(v).map_err(|_| bad())?;
    let rest = decoded.strip_prefix('/').unwrap_or(&decoded);
    let (b, k) = rest.split_once('/').ok_or_else(bad)?;
    if b.is_empty() || k.is_empty() {
        return Err(bad());
    }
    Ok((b.to_owned(), k.to_owned()))
}

/// How often CopyObject re-evaluates the copy-source conditions when the source is replaced
/// between the check and the copy.
const COPY_SOURCE_RACE_TRIES: usize = 8;

async fn copy(ctx: &Ctx) -> Result<Response, ApiError> {
    let src = ctx.header("x-oss-copy-source").unwrap_or_default();
    let (sb, sk) = parse_copy_source(&src)?;
    let mut src_info = ctx.st.store.head_object(&sb, &sk).await?;
    check_copy_source_conditions(ctx, &src_info)?;
    let replace = ctx
        .header("x-oss-metadata-directive")
        .is_some_and(|d| d.eq_ignore_ascii_case("REPLACE"));
    if !replace && sb == ctx.bucket()? && sk == ctx.key()? {
        return Err(ApiError::invalid_argument(
            "Copying an object onto itself needs x-oss-metadata-directive: REPLACE.",
        ));
    }
    let mut options = CopyOptions {
        metadata: if replace {
            MetadataDirective::Replace(Box::new(headers_from_request(ctx)?))
        } else {
            MetadataDirective::Copy
        },
        acl: ctx
            .header("x-oss-object-acl")
            .map(|a| ObjectAcl::from_str(&a))
            .transpose()?,
        storage_class: ctx
            .header("x-oss-storage-class")
            .map(|s| StorageClass::from_str(&s))
            .transpose()?,
        tags: match ctx.header("x-oss-tagging-directive") {
            Some(d) if d.eq_ignore_ascii_case("replace") => Some(
                ctx.header("x-oss-tagging")
                    .map(|t| super::tagging::from_header(&t))
                    .transpose()?
                    .unwrap_or_default(),
            ),
            Some(d) if !d.eq_ignore_ascii_case("copy") => {
                return Err(ApiError::invalid_argument(format!(
                    "x-oss-tagging-directive is Copy or Replace, not '{d}'."
                )))
            }
            _ => None,
        },
        forbid_overwrite: ctx
            .header("x-oss-forbid-overwrite")
            .is_some_and(|v| v.eq_ignore_ascii_case("true")),
        source_etag: None,
        // Inferred error code (EntityTooLarge), see MAX_COPY_OBJECT_SIZE.
        max_source_size: Some(ctx.st.max_copy_object_size()),
    };
    // The conditions are evaluated on a HEAD of the source; the copy then takes exactly that
    // version (by ETag), so a source replaced in between is re-checked instead of copied
    // unchecked (x-oss-copy-source-if-match must never let another version through).
    let mut tries = 1;
    let info = loop {
        options.source_etag = Some(src_info.etag.clone());
        match ctx
            .st
            .store
            .copy_object(&sb, &sk, ctx.bucket()?, ctx.key()?, options.clone())
            .await
        {
            Err(crate::store::StoreError::PreconditionFailed(_))
                if tries < COPY_SOURCE_RACE_TRIES =>
            {
                tries += 1;
                src_info = ctx.st.store.head_object(&sb, &sk).await?;
                check_copy_source_conditions(ctx, &src_info)?;
            }
            r => break r?,
        }
    };
    let mut resp = response::xml(&CopyObjectResult {
        last_modified: iso_ms(info.last_modified_ms),
        etag: info.etag.clone(),
    });
    response::header(
        &mut resp,
        ossguard_proto::crc64::HEADER,
        &info.crc64.to_string(),
    );
    Ok(resp)
}

async fn append(ctx: &mut Ctx) -> Result<Response, ApiError> {
    check_size(ctx)?;
    let position: u64 = ctx
        .query("position")
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| {
            ApiError::invalid_argument("AppendObject needs ?position=<current length>")
        })?;
    let headers = new_object_headers(ctx)?;
    let (bucket, key) = (ctx.bucket()?.to_owned(), ctx.key()?.to_owned());
    let expected = content_md5(ctx)?;
    let (body, digest_failed) = ctx.body_reader_md5(expected);
    let info = ctx
        .st
        .store
        .append_object(&bucket, &key, position, body, headers)
        .await
        .map_err(|e| digest_or(&digest_failed, e))?;
    let mut resp = response::status(200);
    response::header(&mut resp, "etag", &info.etag);
    response::header(
        &mut resp,
        "x-oss-next-append-position",
        &info.size.to_string(),
    );
    response::header(
        &mut resp,
        ossguard_proto::crc64::HEADER,
        &info.crc64.to_string(),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_source_forms() {
        assert_eq!(
            parse_copy_source("/b/dir%2Fa%2Bb").unwrap(),
            ("b".into(), "dir/a+b".into())
        );
        assert_eq!(
            parse_copy_source("/b/hello+world").unwrap(),
            ("b".into(), "hello world".into())
        );
        assert_eq!(
            parse_copy_source("/b/k?versionId=1").unwrap(),
            ("b".into(), "k".into())
        );
        assert!(parse_copy_source("/b").is_err());
        assert!(parse_copy_source("nonsense").is_err());
    }

    #[test]
    fn etags() {
        assert!(etag_matches("\"ABC\"", "\"abc\""));
        assert!(etag_matches("x, \"ABC\"", "\"ABC\""));
        assert!(etag_matches("*", "\"ABC\""));
        assert!(!etag_matches("\"ABD\"", "\"ABC\""));
    }
}
