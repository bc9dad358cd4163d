//! Building responses: object headers exactly as OSS names them, XML bodies, empty answers.

use std::time::{Duration, UNIX_EPOCH};

use axum::body::Body;
use axum::response::Response;
use http::{HeaderName, HeaderValue, StatusCode};
use serde::Serialize;

use crate::store::{ObjectHeaders, ObjectInfo, ObjectType};

pub fn set_headers(resp: &mut Response, headers: &[(&'static str, String)]) {
    for (n, v) in headers {
        if let Ok(v) = HeaderValue::from_str(v) {
            resp.headers_mut().insert(*n, v);
        }
    }
}

fn set_dynamic(resp: &mut Response, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) = (
        HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_bytes(value.as_bytes()),
    ) {
        resp.headers_mut().insert(n, v);
    }
}

pub fn status(code: u16) -> Response {
    let mut r = Response::new(Body::empty());
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
    r
}

pub fn xml<T: Serialize>(value: &T) -> Response {
    let mut r = Response::new(Body::from(ossguard_proto::xml::to_xml(value)));
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/xml"));
    r
}

/// An XML document kept as it was sent (a stored configuration).
pub fn raw_xml(document: String) -> Response {
    let mut r = Response::new(Body::from(document));
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/xml"));
    r
}

pub fn http_date_ms(ms: u64) -> String {
    ossguard_proto::time::rfc1123(UNIX_EPOCH + Duration::from_millis(ms))
}

/// XML timestamps: OSS reports whole seconds as `…T10:27:41.000Z`, and oss2 accepts only that.
pub fn iso_ms(ms: u64) -> String {
    ossguard_proto::time::iso8601_millis(UNIX_EPOCH + Duration::from_secs(ms / 1000))
}

/// The headers that describe a whole object (GET, HEAD).
pub fn object_headers(resp: &mut Response, info: &ObjectInfo) {
    let h = &info.headers;
    let ct = h
        .content_type
        .clone()
        .unwrap_or_else(|| "application/octet-stream".into());
    set_dynamic(resp, "content-type", &ct);
    set_dynamic(resp, "etag", &info.etag);
    set_dynamic(resp, "last-modified", &http_date_ms(info.last_modified_ms));
    set_dynamic(resp, "x-oss-object-type", info.object_type.as_str());
    set_dynamic(resp, "x-oss-storage-class", h.storage_class.as_str());
    set_dynamic(resp, ossguard_proto::crc64::HEADER, &info.crc64.to_string());
    set_dynamic(resp, "accept-ranges", "bytes");
    if let Some(md5) = &info.content_md5 {
        set_dynamic(resp, "content-md5", md5);
    }
    for (name, v) in [
        ("content-encoding", &h.content_encoding),
        ("content-disposition", &h.content_disposition),
        ("cache-control", &h.cache_control),
        ("expires", &h.expires),
        ("content-language", &h.content_language),
    ] {
        if let Some(v) = v {
            set_dynamic(resp, name, v);
        }
    }
    for (k, v) in &h.user_meta {
        set_dynamic(resp, &format!("x-oss-meta-{k}"), v);
    }
    if info.object_type == ObjectType::Appendable {
        set_dynamic(resp, "x-oss-next-append-position", &info.size.to_string());
    }
    if !h.tags.is_empty() {
        set_dynamic(resp, "x-oss-tagging-count", &h.tags.len().to_string());
    }
    encryption_headers(resp, h);
}

/// `x-oss-server-side-encryption` (and its KMS key id) as the object was written with.
pub fn encryption_headers(resp: &mut Response, h: &ObjectHeaders) {
    if let Some(sse) = &h.sse {
        set_dynamic(resp, "x-oss-server-side-encryption", sse);
    }
    if let Some(id) = &h.sse_key_id {
        set_dynamic(resp, "x-oss-server-side-encryption-key-id", id);
    }
}

/// Overrides from `response-content-type` & co.
pub fn apply_overrides(resp: &mut Response, query: &[(String, String)]) {
    for (k, v) in query {
        if let Some(h) = k.strip_prefix("response-") {
            if matches!(
                h,
                "content-type"
                    | "content-language"
                    | "expires"
                    | "cache-control"
                    | "content-disposition"
                    | "content-encoding"
            ) {
                set_dynamic(resp, h, v);
            }
        }
    }
}

pub fn header(resp: &mut Response, name: &str, value: &str) {
    set_dynamic(resp, name, value);
}
