//! Signature V4: `OSS4-HMAC-SHA256 Credential=AK/day/region/oss/aliyun_v4_request,…`.
//!
//! Every query parameter is signed; the URI is percent-encoded keeping `/`; the timestamp is
//! `x-oss-date`, or — as Go SDK v3 sends it — the raw `Date` value.

use std::sync::Mutex;
use std::time::SystemTime;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use http::{HeaderName, HeaderValue};
use percent_encoding::utf8_percent_encode;

use super::credentials::{Credentials, Secret};
use crate::encoding::{uri_encode, UNRESERVED_AND_SLASH};
use crate::request::{InvalidHeader, Request};

const X_OSS_DATE: HeaderName = HeaderName::from_static("x-oss-date");
const X_OSS_CONTENT_SHA256: HeaderName = HeaderName::from_static("x-oss-content-sha256");

pub const ALGORITHM: &str = "OSS4-HMAC-SHA256";
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
pub const PRODUCT: &str = "oss";
const TERMINATOR: &str = "aliyun_v4_request";

/// `/`, `/bucket/` or `/bucket/key`, percent-encoded with `/` kept.
pub fn canonical_uri(bucket: Option<&str>, key: Option<&str>) -> String {
    let mut out = String::with_capacity(64);
    push_canonical_uri(&mut out, bucket, key);
    out
}

fn push_canonical_uri(out: &mut String, bucket: Option<&str>, key: Option<&str>) {
    out.push('/');
    if let Some(b) = bucket {
        // `/` is kept by the encoding, so encoding the parts is encoding the joined path.
        out.extend(utf8_percent_encode(b, UNRESERVED_AND_SLASH));
        out.push('/');
        if let Some(k) = key {
            out.extend(utf8_percent_encode(k, UNRESERVED_AND_SLASH));
        }
    }
}

/// All query parameters, names and values encoded (`/` too), sorted, `name` alone when empty.
pub fn canonical_query<'a, I>(query: I) -> String
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let mut query = query.into_iter().peekable();
    if query.peek().is_none() {
        return String::new();
    }
    let mut enc: Vec<(String, String)> =
        query.map(|(k, v)| (uri_encode(k), uri_encode(v))).collect();
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
    let mut out = String::with_capacity(256);
    push_canonical_headers(&mut out, req, additional);
    out
}

fn push_canonical_headers(out: &mut String, req: &Request, additional: &[String]) {
    super::push_signed_headers(out, req, |n| {
        is_default_signed(n) || additional.iter().any(|a| a == n)
    });
}

/// The canonical request over `query` (for presign: every parameter but `x-oss-signature`).
pub fn canonical_request_with_query<'a, I>(req: &Request, query: I, additional: &[String]) -> String
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    let mut out = String::with_capacity(512);
    out.push_str(req.method.as_str());
    out.push('\n');
    push_canonical_uri(&mut out, req.bucket.as_deref(), req.key.as_deref());
    out.push('\n');
    out.push_str(&canonical_query(query));
    out.push('\n');
    push_canonical_headers(&mut out, req, additional);
    out.push('\n');
    for (i, a) in additional.iter().enumerate() {
        if i > 0 {
            out.push(';');
        }
        out.push_str(a);
    }
    out.push('\n');
    match req.headers.get(&X_OSS_CONTENT_SHA256) {
        Some(v) => super::push_value(&mut out, v),
        None => out.push_str(UNSIGNED_PAYLOAD),
    }
    out
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
    let digest = Sha256::digest(canonical_request.as_bytes());
    let mut out = String::with_capacity(ALGORITHM.len() + timestamp.len() + scope.len() + 67);
    for part in [ALGORITHM, "\n", timestamp, "\n", scope, "\n"] {
        out.push_str(part);
    }
    out.push_str(&hex32(&digest.into()));
    out
}

/// Lower-case hex of a 32-byte digest (`hex::encode` goes through a `char` iterator).
fn hex32(bytes: &[u8; 32]) -> String {
    let mut buf = [0u8; 64];
    hex::encode_to_slice(bytes, &mut buf).expect("64 bytes hold 32 in hex");
    String::from_utf8_lossy(&buf).into_owned()
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

/// The signing key last derived, reused while the secret, day, region and product stay the
/// same: deriving one costs four HMAC-SHA256s, a third of signing a request, and a client
/// signs with one secret and one region for a whole day. Shared between threads (one short
/// lock per request); a rotated secret or a new day simply derives the next key.
#[derive(Default)]
pub struct SigningKeyCache(Mutex<Option<CachedKey>>);

struct CachedKey {
    secret: Secret,
    day: String,
    region: String,
    product: String,
    key: [u8; 32],
}

impl SigningKeyCache {
    /// [`signing_key`], from the cache when its inputs match the last call's.
    pub fn key(&self, secret: &Secret, day: &str, region: &str, product: &str) -> [u8; 32] {
        let mut last = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = last.as_ref() {
            if c.day == day && c.region == region && c.product == product && c.secret == *secret {
                return c.key;
            }
        }
        let key = signing_key(secret.expose(), day, region, product);
        *last = Some(CachedKey {
            secret: secret.clone(),
            day: day.to_owned(),
            region: region.to_owned(),
            product: product.to_owned(),
            key,
        });
        key
    }
}

impl std::fmt::Debug for SigningKeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKeyCache(<redacted>)")
    }
}

/// Lower-case hex HMAC-SHA256 of the string to sign.
pub fn signature(signing_key: &[u8; 32], string_to_sign: &str) -> String {
    hex32(&hmac(signing_key, string_to_sign.as_bytes()))
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
    authorization_cached(req, creds, region, additional, None)
}

/// [`authorization`] taking the signing key from `keys` when given.
pub fn authorization_cached(
    req: &Request,
    creds: &Credentials,
    region: &str,
    additional: &[&str],
    keys: Option<&SigningKeyCache>,
) -> Option<String> {
    let ts = signed_timestamp(req)?;
    let day = crate::time::scope_day(crate::time::parse_any(&ts)?);
    Some(authorization_at(
        req, creds, region, additional, keys, &ts, &day,
    ))
}

/// The `Authorization` value for timestamp `ts` (as signed) and its scope `day`.
fn authorization_at(
    req: &Request,
    creds: &Credentials,
    region: &str,
    additional: &[&str],
    keys: Option<&SigningKeyCache>,
    ts: &str,
    day: &str,
) -> String {
    let add = additional_headers(req, additional);
    let scope = scope(day, region, PRODUCT);
    let sts = string_to_sign(ts, &scope, &canonical_request(req, &add));
    let secret = &creds.access_key_secret;
    let key = match keys {
        Some(cache) => cache.key(secret, day, region, PRODUCT),
        None => signing_key(secret.expose(), day, region, PRODUCT),
    };
    let mut out = String::with_capacity(160 + creds.access_key_id.len() + scope.len());
    for part in [ALGORITHM, " Credential=", &creds.access_key_id, "/", &scope] {
        out.push_str(part);
    }
    if !add.is_empty() {
        out.push_str(",AdditionalHeaders=");
        out.push_str(&add.join(";"));
    }
    out.push_str(",Signature=");
    out.push_str(&signature(&key, &sts));
    out
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
    sign_cached(req, creds, region, now, additional, None)
}

/// [`sign`] taking the signing key from `keys` when given (a client keeps one cache).
pub fn sign_cached(
    req: &mut Request,
    creds: &Credentials,
    region: &str,
    now: SystemTime,
    additional: &[&str],
    keys: Option<&SigningKeyCache>,
) -> Result<(), InvalidHeader> {
    // The timestamp is formatted once and its day taken from it (reading the header back and
    // parsing it cost more than the SHA-256 of the canonical request).
    let ts = crate::time::iso8601_basic(now);
    let day = match ts.len() {
        16 => ts[..8].to_owned(),
        _ => return Err(InvalidHeader("x-oss-date".into())), // a year past 9999
    };
    let date = HeaderValue::from_str(&ts).map_err(|_| InvalidHeader("x-oss-date".into()))?;
    req.headers.insert(X_OSS_DATE, date);
    if !req.headers.contains_key(&X_OSS_CONTENT_SHA256) {
        req.headers.insert(
            X_OSS_CONTENT_SHA256,
            HeaderValue::from_static(UNSIGNED_PAYLOAD),
        );
    }
    if let Some(tok) = &creds.security_token {
        req.set_header("x-oss-security-token", tok.expose())?;
    }
    let auth = authorization_at(req, creds, region, additional, keys, &ts, &day);
    let auth = HeaderValue::try_from(auth).map_err(|_| InvalidHeader("authorization".into()))?;
    req.headers.insert(http::header::AUTHORIZATION, auth);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_query_encodes_and_sorts() {
        let q = [("prefix", "dir/"), ("list-type", "2"), ("acl", "")];
        assert_eq!(canonical_query(q), "acl&list-type=2&prefix=dir%2F");
    }

    #[test]
    fn canonical_headers_are_sorted_with_each_names_first_value() {
        let mut req = Request::new(http::Method::GET, Some("b"), Some("k"))
            .with_header("x-oss-meta-b", " two ")
            .unwrap()
            .with_header("content-type", "text/plain")
            .unwrap()
            .with_header("range", "bytes=0-1")
            .unwrap();
        req.headers
            .append("x-oss-meta-b", "second".parse().unwrap());
        req.headers.append("x-oss-meta-a", "one".parse().unwrap());
        assert_eq!(
            canonical_headers(&req, &[]),
            "content-type:text/plain\nx-oss-meta-a:one\nx-oss-meta-b:two\n"
        );
        assert_eq!(
            canonical_headers(&req, &["range".into()]),
            "content-type:text/plain\nrange:bytes=0-1\nx-oss-meta-a:one\nx-oss-meta-b:two\n"
        );
    }

    #[test]
    fn signing_key_cache_follows_secret_day_and_region() {
        let cache = SigningKeyCache::default();
        let (a, b) = (Secret::from("secret-a"), Secret::from("secret-b"));
        let fresh = |s: &Secret, day, region| signing_key(s.expose(), day, region, PRODUCT);
        for (secret, day, region) in [
            (&a, "20250101", "cn-hangzhou"),
            (&a, "20250101", "cn-hangzhou"),
            (&b, "20250101", "cn-hangzhou"),
            (&b, "20250102", "cn-hangzhou"),
            (&b, "20250102", "cn-beijing"),
            (&a, "20250102", "cn-beijing"),
        ] {
            assert_eq!(
                cache.key(secret, day, region, PRODUCT),
                fresh(secret, day, region),
                "{day} {region}"
            );
        }
        assert_eq!(format!("{cache:?}"), "SigningKeyCache(<redacted>)");
    }

    #[test]
    fn cached_signature_is_the_uncached_one() {
        let creds = Credentials::new("ak", "sk").with_security_token("tok");
        let keys = SigningKeyCache::default();
        for (secs, key) in [
            (1_672_223_261, "a b/c"),
            (1_672_309_661, "x"),
            (1_672_309_662, "x"),
        ] {
            let now = crate::time::from_unix_seconds(secs);
            let base = Request::new(http::Method::GET, Some("bkt"), Some(key))
                .with_header("range", "bytes=0-9")
                .unwrap()
                .with_query("versionId", "v/1");
            let (mut plain, mut cached) = (base.clone(), base);
            sign(&mut plain, &creds, "cn-hangzhou", now, &["range"]).unwrap();
            sign_cached(
                &mut cached,
                &creds,
                "cn-hangzhou",
                now,
                &["range"],
                Some(&keys),
            )
            .unwrap();
            assert_eq!(
                plain.header("authorization"),
                cached.header("authorization")
            );
        }
    }
}
