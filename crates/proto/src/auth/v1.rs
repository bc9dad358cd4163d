//! Signature V1: `Authorization: OSS <AccessKeyId>:<base64 HMAC-SHA1>`.
//!
//! Only whitelisted sub-resources are signed, with their *decoded* values; the date slot is
//! `x-oss-date` when present, else `Date` (ali-oss sends no `Date` at all).

use std::time::SystemTime;

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::credentials::Credentials;
use http::header::{HeaderName, CONTENT_TYPE, DATE};

use crate::request::{header_str, InvalidHeader, Request};

const X_OSS_DATE: HeaderName = HeaderName::from_static("x-oss-date");
const CONTENT_MD5: HeaderName = HeaderName::from_static("content-md5");

/// The union of the official SDKs' V1 sub-resource lists (Go's mirrors the OSS docs).
const SUBRESOURCES: &[&str] = &[
    "acl",
    "uploads",
    "location",
    "cors",
    "logging",
    "website",
    "referer",
    "lifecycle",
    "delete",
    "append",
    "tagging",
    "objectMeta",
    "uploadId",
    "partNumber",
    "security-token",
    "position",
    "img",
    "style",
    "styleName",
    "replication",
    "replicationProgress",
    "replicationLocation",
    "cname",
    "bucketInfo",
    "comp",
    "qos",
    "live",
    "status",
    "vod",
    "startTime",
    "endTime",
    "symlink",
    "x-oss-process",
    "response-content-type",
    "x-oss-traffic-limit",
    "response-content-language",
    "response-expires",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "udf",
    "udfName",
    "udfImage",
    "udfId",
    "udfImageDesc",
    "udfApplication",
    "udfApplicationLog",
    "restore",
    "callback",
    "callback-var",
    "qosInfo",
    "policy",
    "stat",
    "encryption",
    "versions",
    "versioning",
    "versionId",
    "requestPayment",
    "x-oss-request-payer",
    "sequential",
    "inventory",
    "inventoryId",
    "continuation-token",
    "asyncFetch",
    "worm",
    "wormId",
    "wormExtend",
    "withHashContext",
    "x-oss-enable-md5",
    "x-oss-enable-sha1",
    "x-oss-enable-sha256",
    "x-oss-hash-ctx",
    "x-oss-md5-ctx",
    "transferAcceleration",
    "regionList",
    "cloudboxes",
    "x-oss-ac-source-ip",
    "x-oss-ac-subnet-mask",
    "x-oss-ac-vpc-id",
    "x-oss-ac-forward-allow",
    "metaQuery",
    "resourceGroup",
    "rtc",
    "x-oss-async-process",
    "responseHeader",
    "objectInfo",
    "group",
    "link",
    "bucketArchiveDirectRead",
    "httpsConfig",
    "accessPoint",
    "publicAccessBlock",
];

/// Sub-resources alibabacloud-oss-v2 1.4.1 leaves unsigned in V1 (its list is smaller; it adds
/// per-operation ones such as `cors` itself, but never these on object reads).
const PYTHON_V2_UNSIGNED: &[&str] = &["x-oss-process", "x-oss-traffic-limit"];

/// Whether `name` is a V1 sub-resource parameter (the documented list): each names an API or an
/// option of one, so a server must not ignore one it does not implement.
pub fn is_subresource(name: &str) -> bool {
    Subresources::Standard.contains(name)
}

/// Which parameters count as V1 sub-resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Subresources {
    /// The documented list (union of the SDKs): what we sign with.
    #[default]
    Standard,
    /// alibabacloud-oss-v2 1.4.1's smaller list, accepted by lenient verification only.
    PythonV2,
}

impl Subresources {
    fn contains(self, name: &str) -> bool {
        SUBRESOURCES.contains(&name)
            && !(self == Self::PythonV2 && PYTHON_V2_UNSIGNED.contains(&name))
    }
}

/// Where the signer puts the request date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DateHeader {
    /// `Date` (oss2, Python v2, Go).
    #[default]
    Date,
    /// `x-oss-date` in RFC 1123 form (ali-oss; survives proxies that rewrite `Date`).
    XOssDate,
}

/// `/`, `/bucket/` or `/bucket/key`, then `?` + the sorted sub-resources present in `query`.
pub fn canonical_resource(
    bucket: Option<&str>,
    key: Option<&str>,
    query: &[(String, String)],
    set: Subresources,
) -> String {
    let mut out = String::from("/");
    if let Some(b) = bucket {
        out.push_str(b);
        out.push('/');
        if let Some(k) = key {
            out.push_str(k);
        }
    }
    let mut subs: Vec<(&str, &str)> = query
        .iter()
        .filter(|(k, _)| set.contains(k))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    subs.sort();
    for (i, (k, v)) in subs.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(k);
        if !v.is_empty() {
            out.push('=');
            out.push_str(v);
        }
    }
    out
}

/// `x-oss-*` headers, lower-cased, sorted, `name:value\n` each.
pub fn canonical_oss_headers(req: &Request) -> String {
    let mut out = String::new();
    push_canonical_oss_headers(&mut out, req);
    out
}

fn push_canonical_oss_headers(out: &mut String, req: &Request) {
    super::push_signed_headers(out, req, |n| n.starts_with("x-oss-"));
}

/// The V1 string to sign, with `date` in the date slot (a date header, or `Expires` for presign).
pub fn string_to_sign(req: &Request, date: &str, set: Subresources) -> String {
    let mut out = String::with_capacity(256);
    out.push_str(req.method.as_str());
    out.push('\n');
    for name in [CONTENT_MD5, CONTENT_TYPE] {
        if let Some(v) = req.headers.get(name) {
            super::push_value(&mut out, v);
        }
        out.push('\n');
    }
    out.push_str(date);
    out.push('\n');
    push_canonical_oss_headers(&mut out, req);
    out.push_str(&canonical_resource(
        req.bucket.as_deref(),
        req.key.as_deref(),
        &req.query,
        set,
    ));
    out
}

/// The date the V1 header signature covers: `x-oss-date` if present, else `Date`.
pub fn signed_date(req: &Request) -> Option<String> {
    header_str(&req.headers, X_OSS_DATE).or_else(|| header_str(&req.headers, DATE))
}

/// base64(HMAC-SHA1(secret, string_to_sign)).
pub fn signature(secret: &str, string_to_sign: &str) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(string_to_sign.as_bytes());
    B64.encode(mac.finalize().into_bytes())
}

/// The `Authorization` value for the request as it stands (its date headers already set).
pub fn authorization(req: &Request, creds: &Credentials, set: Subresources) -> String {
    let date = signed_date(req).unwrap_or_default();
    let sts = string_to_sign(req, &date, set);
    let sig = signature(creds.access_key_secret.expose(), &sts);
    let mut out = String::with_capacity(5 + creds.access_key_id.len() + sig.len());
    for part in ["OSS ", &creds.access_key_id, ":", &sig] {
        out.push_str(part);
    }
    out
}

/// Signs a request in place: date header, STS token header, `Authorization`.
pub fn sign(
    req: &mut Request,
    creds: &Credentials,
    now: SystemTime,
    date_header: DateHeader,
) -> Result<(), InvalidHeader> {
    let date = crate::time::rfc1123(now);
    match date_header {
        DateHeader::Date => req.set_header("date", &date)?,
        DateHeader::XOssDate => req.set_header("x-oss-date", &date)?,
    }
    if let Some(tok) = &creds.security_token {
        req.set_header("x-oss-security-token", tok.expose())?;
    }
    let auth = authorization(req, creds, Subresources::Standard);
    req.set_header("authorization", &auth)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::Method;

    #[test]
    fn canonical_resource_rules() {
        let q = vec![
            ("uploadId".to_owned(), "x".to_owned()),
            ("partNumber".to_owned(), "1".to_owned()),
            ("prefix".to_owned(), "p".to_owned()),
            ("acl".to_owned(), String::new()),
        ];
        assert_eq!(
            canonical_resource(Some("b"), Some("k"), &q, Subresources::Standard),
            "/b/k?acl&partNumber=1&uploadId=x"
        );
        assert_eq!(
            canonical_resource(Some("b"), None, &[], Subresources::Standard),
            "/b/"
        );
        assert_eq!(
            canonical_resource(None, None, &q[2..3], Subresources::Standard),
            "/"
        );
    }

    #[test]
    fn notes_example() {
        let req = Request::new(
            Method::PUT,
            Some("examplebucket"),
            Some("exampleobject.txt"),
        )
        .with_header("Content-MD5", "8PGMLGauHdUSvc1DZvdtow==")
        .and_then(|r| r.with_header("Content-Type", "text/plain"))
        .and_then(|r| r.with_header("x-oss-meta-author", "alice"))
        .and_then(|r| r.with_header("X-Oss-Meta-Project", "Demo"))
        .and_then(|r| r.with_header("Date", "Wed, 28 Dec 2022 10:27:41 GMT"))
        .unwrap();
        let creds = Credentials::new("LTAI-test-id", "test-secret");
        assert_eq!(
            authorization(&req, &creds, Subresources::Standard),
            "OSS LTAI-test-id:f4Sed9wiZhYGCqv7JBiDHKxd7jg="
        );
    }
}
