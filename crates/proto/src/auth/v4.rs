//! Signature V4: `OSS4-HMAC-SHA256 Credential=AK/day/region/oss/aliyun_v4_request,…`.
//!
//! Every query parameter is signed; the URI is percent-encoded keeping `/`; the timestamp is
//! `x-oss-date`, or — as Go SDK v3 sends it — the raw `Date` value.

use std::time::SystemTime;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::credentials::Credentials;
use crate::encoding::{uri_encode, uri_encode_path};
use crate::request::{header_str, InvalidHeader, Request};

pub const ALGORITHM: &str = "OSS4-HMAC-SHA256";
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
pub const PRODUCT: &str = "oss";
const TERMINATOR: &str = "aliyun_v4_request";

/// `/`, `/bucket/` or `/bucket/key`, percent-encoded with `/` kept.
pub fn canonical_uri(bucket: Option<&str>, key: Option<&str>) -> String {
    let mut raw = String::from("/");
    if let Some(b) = bucket {
        raw.push_str(b);
        raw.push('/');
        if let Some(k) = key {
            raw.push_str(k);
        }
    }
    uri_encode_path(&raw)
}

/// All query parameters, names and values encoded (`/` too), sorted, `name` alone when empty.
pub fn canonical_query<'a, I>(query: I) -> String
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let mut enc: Vec<(String, String)> = query
        .into_iter()
        .map(|(k, v)| (uri_encode(k), uri_encode(v)))
        .collect();
    enc.sort();
    let parts: Vec<String> = enc
        .into_iter()
        .map(|(k, v)| if v.is_empty() { k } else { format!("{k}={v}") })
        .collect();
    parts.join("&")
}

/// Normalises an AdditionalHeaders list: lower-case, sorted, deduplicated, only headers present
/// on the request, never `content-type`, `content-md5` or `x-oss-*` (always signed anyway).
pub fn additional_headers(req: &Request, names: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = names
        .iter()
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| {
            !n.is_empty()
                && n != "content-type"
                && n != "content-md5"
                && !n.starts_with("x-oss-")
                && req.headers.contains_key(n.as_str())
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

fn is_default_signed(name: &str) -> bool {
    name == "content-type" || name == "content-md5" || name.starts_with("x-oss-")
}

/// `name:value\n` for `x-oss-*`, `content-type`, `content-md5` and the additional headers.
pub fn canonical_headers(req: &Request, additional: &[String]) -> String {
    let mut hs: Vec<(String, String)> = req
        .headers
        .keys()
        .map(|n| n.as_str())
        .filter(|n| is_default_signed(n) || additional.iter().any(|a| a == n))
        .map(|n| {
            (
                n.to_owned(),
                header_str(&req.headers, n).unwrap_or_default(),
            )
        })
        .collect();
    hs.sort();
    hs.into_iter().map(|(n, v)| format!("{n}:{v}\n")).collect()
}

/// The canonical request over `query` (for presign: every parameter but `x-oss-signature`).
pub fn canonical_request_with_query<'a, I>(req: &Request, query: I, additional: &[String]) -> String
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let payload = req
        .header("x-oss-content-sha256")
        .unwrap_or_else(|| UNSIGNED_PAYLOAD.to_owned());
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method.as_str(),
        canonical_uri(req.bucket.as_deref(), req.key.as_deref()),
        canonical_query(query),
        canonical_headers(req, additional),
        additional.join(";"),
        payload
    )
}

pub fn canonical_request(req: &Request, additional: &[String]) -> String {
    canonical_request_with_query(
        req,
        req.query.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        additional,
    )
}

/// `day/region/product/aliyun_v4_request`.
pub fn scope(day: &str, region: &str, product: &str) -> String {
    format!("{day}/{region}/{product}/{TERMINATOR}")
}

pub fn string_to_sign(timestamp: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{timestamp}\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    )
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The signing key for one day, region and product.
pub fn signing_key(secret: &str, day: &str, region: &str, product: &str) -> [u8; 32] {
    let k = hmac(format!("aliyun_v4{secret}").as_bytes(), day.as_bytes());
    let k = hmac(&k, region.as_bytes());
    let k = hmac(&k, product.as_bytes());
    hmac(&k, TERMINATOR.as_bytes())
}

/// Lower-case hex HMAC-SHA256 of the string to sign.
pub fn signature(signing_key: &[u8; 32], string_to_sign: &str) -> String {
    hex::encode(hmac(signing_key, string_to_sign.as_bytes()))
}

/// The timestamp the header signature covers: `x-oss-date` if present, else `Date`, verbatim.
pub fn signed_timestamp(req: &Request) -> Option<String> {
    req.header("x-oss-date").or_else(|| req.header("date"))
}

/// The `Authorization` value for the request as it stands (date headers already set). The scope
/// day is taken from the timestamp.
pub fn authorization(
    req: &Request,
    creds: &Credentials,
    region: &str,
    additional: &[&str],
) -> Option<String> {
    let ts = signed_timestamp(req)?;
    let day = crate::time::scope_day(crate::time::parse_any(&ts)?);
    let add = additional_headers(req, additional);
    let scope = scope(&day, region, PRODUCT);
    let sts = string_to_sign(&ts, &scope, &canonical_request(req, &add));
    let key = signing_key(creds.access_key_secret.expose(), &day, region, PRODUCT);
    let mut out = format!("{ALGORITHM} Credential={}/{scope}", creds.access_key_id);
    if !add.is_empty() {
        out.push_str(",AdditionalHeaders=");
        out.push_str(&add.join(";"));
    }
    out.push_str(",Signature=");
    out.push_str(&signature(&key, &sts));
    Some(out)
}

/// Signs a request in place: `x-oss-date`, `x-oss-content-sha256`, the STS token header and
/// `Authorization`. `additional` names extra headers to sign (e.g. `host`, `range`).
pub fn sign(
    req: &mut Request,
    creds: &Credentials,
    region: &str,
    now: SystemTime,
    additional: &[&str],
) -> Result<(), InvalidHeader> {
    req.set_header("x-oss-date", &crate::time::iso8601_basic(now))?;
    if !req.headers.contains_key("x-oss-content-sha256") {
        req.set_header("x-oss-content-sha256", UNSIGNED_PAYLOAD)?;
    }
    if let Some(tok) = &creds.security_token {
        req.set_header("x-oss-security-token", tok.expose())?;
    }
    let auth = authorization(req, creds, region, additional)
        .ok_or_else(|| InvalidHeader("x-oss-date".into()))?;
    req.set_header("authorization", &auth)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_query_encodes_and_sorts() {
        let q = [("prefix", "dir/"), ("list-type", "2"), ("acl", "")];
        assert_eq!(canonical_query(q), "acl&list-type=2&prefix=dir%2F");
    }
}
