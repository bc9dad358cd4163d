//! Server-side verification of every scheme the official SDKs send.
//!
//! Lenient where the SDKs differ (Authorization layout, `security-token` header, the Python v2
//! SDK's smaller V1 sub-resource list), strict where it matters (signature, expiry, clock skew).

use std::time::{Duration, SystemTime};

use subtle::ConstantTimeEq;

use super::credentials::Secret;
use super::header::{self, Authorization};
use super::{v1, v4};
use crate::request::Request;
use crate::time::{from_unix_seconds, parse_any};

/// The most a header-signed request's time may differ from the server's.
pub const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// What the server knows of an access key.
#[derive(Debug, Clone)]
pub struct KnownKey {
    pub secret: Secret,
    /// STS keys only work with their token.
    pub security_token: Option<Secret>,
    /// STS keys expire.
    pub expires: Option<SystemTime>,
}

impl KnownKey {
    pub fn permanent(secret: impl Into<Secret>) -> Self {
        Self {
            secret: secret.into(),
            security_token: None,
            expires: None,
        }
    }
}

/// Looks up access keys (the emulator's key table).
pub trait KeyStore {
    fn lookup(&self, access_key_id: &str) -> Option<KnownKey>;

    /// The V4 signing key of `key` for a day, region and product. A server derives the same
    /// key for every request of a day: a store may cache it (see [`v4::SigningKeyCache`]).
    fn v4_signing_key(&self, key: &KnownKey, day: &str, region: &str, product: &str) -> [u8; 32] {
        v4::signing_key(key.secret.expose(), day, region, product)
    }
}

impl<F: Fn(&str) -> Option<KnownKey>> KeyStore for F {
    fn lookup(&self, access_key_id: &str) -> Option<KnownKey> {
        self(access_key_id)
    }
}

/// How a request was authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    V1Header,
    V4Header,
    V1Presign,
    V4Presign,
}

/// Who sent a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Anonymous,
    Key {
        access_key_id: String,
        scheme: Scheme,
    },
}

/// The OSS error codes verification produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthErrorCode {
    SignatureDoesNotMatch,
    InvalidAccessKeyId,
    RequestTimeTooSkewed,
    /// Expired presigned URL, missing date.
    AccessDenied,
    SecurityTokenExpired,
    InvalidArgument,
}

impl AuthErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            Self::InvalidAccessKeyId => "InvalidAccessKeyId",
            Self::RequestTimeTooSkewed => "RequestTimeTooSkewed",
            Self::AccessDenied => "AccessDenied",
            Self::SecurityTokenExpired => "SecurityTokenExpired",
            Self::InvalidArgument => "InvalidArgument",
        }
    }

    pub fn http_status(self) -> u16 {
        match self {
            Self::InvalidArgument => 400,
            _ => 403,
        }
    }
}

/// A rejected request, with what the server tells the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthError {
    pub code: AuthErrorCode,
    pub message: String,
    /// For `SignatureDoesNotMatch`: what the server signed, so a client can diff it.
    pub string_to_sign: Option<String>,
}

impl AuthError {
    fn new(code: AuthErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            string_to_sign: None,
        }
    }

    fn mismatch(string_to_sign: String) -> Self {
        Self {
            code: AuthErrorCode::SignatureDoesNotMatch,
            message: "The request signature we calculated does not match the signature you \
                      provided. Check your key and signing method."
                .into(),
            string_to_sign: Some(string_to_sign),
        }
    }
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for AuthError {}

/// Verification knobs.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    pub max_skew: Duration,
    /// Also accept V1 signatures made with alibabacloud-oss-v2's smaller sub-resource list.
    pub lenient_subresources: bool,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self {
            max_skew: MAX_SKEW,
            lenient_subresources: true,
        }
    }
}

fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Verifies `req` at server time `now`.
pub fn verify(
    req: &Request,
    keys: &dyn KeyStore,
    now: SystemTime,
    opts: &VerifyOptions,
) -> Result<Principal, AuthError> {
    if let Some(auth) = req.header("authorization") {
        let parsed = header::parse(&auth)
            .map_err(|e| AuthError::new(AuthErrorCode::InvalidArgument, e.to_string()))?;
        return match parsed {
            Authorization::V1 {
                access_key_id,
                signature,
            } => verify_v1_header(req, keys, now, opts, access_key_id, &signature),
            Authorization::V4 {
                access_key_id,
                day,
                region,
                product,
                additional_headers,
                signature,
            } => {
                let key = known_key(keys, &access_key_id, now)?;
                let ts = v4::signed_timestamp(req).ok_or_else(missing_date)?;
                check_skew(&ts, now, opts)?;
                check_token(&key, header_token(req).as_deref())?;
                let creq = v4::canonical_request(req, &additional_headers);
                let sts = v4::string_to_sign(&ts, &v4::scope(&day, &region, &product), &creq);
                let k = keys.v4_signing_key(&key, &day, &region, &product);
                if ct_eq(&v4::signature(&k, &sts), &signature) {
                    Ok(principal(access_key_id, Scheme::V4Header))
                } else {
                    Err(AuthError::mismatch(sts))
                }
            }
        };
    }
    if req.query_param("x-oss-signature").is_some() {
        return verify_v4_presign(req, keys, now);
    }
    if req.query_param("Signature").is_some() || req.query_param("OSSAccessKeyId").is_some() {
        return verify_v1_presign(req, keys, now, opts);
    }
    Ok(Principal::Anonymous)
}

fn principal(access_key_id: String, scheme: Scheme) -> Principal {
    Principal::Key {
        access_key_id,
        scheme,
    }
}

fn missing_date() -> AuthError {
    AuthError::new(
        AuthErrorCode::AccessDenied,
        "The request carries no Date or x-oss-date header to sign.",
    )
}

fn known_key(keys: &dyn KeyStore, ak: &str, now: SystemTime) -> Result<KnownKey, AuthError> {
    let key = keys.lookup(ak).ok_or_else(|| {
        AuthError::new(
            AuthErrorCode::InvalidAccessKeyId,
            "The OSS Access Key Id you provided does not exist in our records.",
        )
    })?;
    if key.expires.is_some_and(|e| now > e) {
        return Err(AuthError::new(
            AuthErrorCode::SecurityTokenExpired,
            "The security token you provided has expired; request new STS credentials.",
        ));
    }
    Ok(key)
}

/// The STS token sent in a header (`security-token` is alibabacloud-oss-v2's V1 quirk).
fn header_token(req: &Request) -> Option<String> {
    req.header("x-oss-security-token")
        .or_else(|| req.header("security-token"))
}

fn check_token(key: &KnownKey, sent: Option<&str>) -> Result<(), AuthError> {
    match (&key.security_token, sent) {
        (None, _) => Ok(()),
        (Some(t), Some(s)) if ct_eq(t.expose(), s) => Ok(()),
        _ => Err(AuthError::new(
            AuthErrorCode::InvalidAccessKeyId,
            "This access key is an STS key: send its matching security token.",
        )),
    }
}

fn check_skew(ts: &str, now: SystemTime, opts: &VerifyOptions) -> Result<(), AuthError> {
    let t = parse_any(ts).ok_or_else(|| {
        AuthError::new(
            AuthErrorCode::AccessDenied,
            format!("Invalid date {ts:?}: use RFC 1123 or ISO 8601 basic format."),
        )
    })?;
    let diff = match now.duration_since(t) {
        Ok(d) => d,
        Err(e) => e.duration(),
    };
    if diff > opts.max_skew {
        return Err(AuthError::new(
            AuthErrorCode::RequestTimeTooSkewed,
            "The difference between the request time and the current time is too large.",
        ));
    }
    Ok(())
}

fn v1_sets(req: &Request, opts: &VerifyOptions) -> Vec<v1::Subresources> {
    let mut sets = vec![v1::Subresources::Standard];
    let differs = v1::canonical_resource(None, None, &req.query, v1::Subresources::Standard)
        != v1::canonical_resource(None, None, &req.query, v1::Subresources::PythonV2);
    if opts.lenient_subresources && differs {
        sets.push(v1::Subresources::PythonV2);
    }
    sets
}

fn verify_v1_header(
    req: &Request,
    keys: &dyn KeyStore,
    now: SystemTime,
    opts: &VerifyOptions,
    ak: String,
    sig: &str,
) -> Result<Principal, AuthError> {
    let key = known_key(keys, &ak, now)?;
    let date = v1::signed_date(req).ok_or_else(missing_date)?;
    check_skew(&date, now, opts)?;
    check_token(&key, header_token(req).as_deref())?;
    let mut first = None;
    for set in v1_sets(req, opts) {
        let sts = v1::string_to_sign(req, &date, set);
        if ct_eq(&v1::signature(key.secret.expose(), &sts), sig) {
            return Ok(principal(ak, Scheme::V1Header));
        }
        first.get_or_insert(sts);
    }
    Err(AuthError::mismatch(first.unwrap_or_default()))
}

fn expired() -> AuthError {
    AuthError::new(AuthErrorCode::AccessDenied, "Request has expired.")
}

fn verify_v1_presign(
    req: &Request,
    keys: &dyn KeyStore,
    now: SystemTime,
    opts: &VerifyOptions,
) -> Result<Principal, AuthError> {
    let need = |name: &str| {
        req.query_param(name).map(str::to_owned).ok_or_else(|| {
            AuthError::new(
                AuthErrorCode::AccessDenied,
                format!("The presigned URL lacks its {name} parameter."),
            )
        })
    };
    let (ak, expires, sig) = (
        need("OSSAccessKeyId")?,
        need("Expires")?,
        need("Signature")?,
    );
    let exp: u64 = expires.parse().map_err(|_| {
        AuthError::new(
            AuthErrorCode::AccessDenied,
            "Expires must be a Unix time in seconds.",
        )
    })?;
    if now > from_unix_seconds(exp) {
        return Err(expired());
    }
    let key = known_key(keys, &ak, now)?;
    check_token(&key, req.query_param("security-token"))?;
    let mut first = None;
    for set in v1_sets(req, opts) {
        let sts = v1::string_to_sign(req, &expires, set);
        if ct_eq(&v1::signature(key.secret.expose(), &sts), &sig) {
            return Ok(principal(ak, Scheme::V1Presign));
        }
        first.get_or_insert(sts);
    }
    Err(AuthError::mismatch(first.unwrap_or_default()))
}

fn verify_v4_presign(
    req: &Request,
    keys: &dyn KeyStore,
    now: SystemTime,
) -> Result<Principal, AuthError> {
    let bad = |m: &str| AuthError::new(AuthErrorCode::InvalidArgument, m);
    if req.query_param("x-oss-signature-version") != Some(v4::ALGORITHM) {
        return Err(bad("x-oss-signature-version must be OSS4-HMAC-SHA256."));
    }
    let cred = req
        .query_param("x-oss-credential")
        .ok_or_else(|| bad("The presigned URL lacks x-oss-credential."))?;
    let (ak, day, region, product) =
        header::parse_credential(cred).map_err(|e| bad(&e.to_string()))?;
    let ts = req
        .query_param("x-oss-date")
        .ok_or_else(|| bad("The presigned URL lacks x-oss-date."))?;
    let signed_at = crate::time::parse_iso8601_basic(ts)
        .ok_or_else(|| bad("x-oss-date must be ISO 8601 basic (20221228T102741Z)."))?;
    let expires: u64 = req
        .query_param("x-oss-expires")
        .and_then(|e| e.parse().ok())
        .ok_or_else(|| bad("x-oss-expires must be a number of seconds."))?;
    if expires > super::presign::MAX_EXPIRES_V4.as_secs() {
        return Err(bad("x-oss-expires may be at most 604800 seconds (7 days)."));
    }
    if now > signed_at + Duration::from_secs(expires) {
        return Err(expired());
    }
    let key = known_key(keys, &ak, now)?;
    check_token(&key, req.query_param("x-oss-security-token"))?;
    let additional: Vec<String> = req
        .query_param("x-oss-additional-headers")
        .map(|a| {
            a.split(';')
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect()
        })
        .unwrap_or_default();
    let query = req
        .query
        .iter()
        .filter(|(k, _)| k != "x-oss-signature")
        .map(|(k, v)| (k.as_str(), v.as_str()));
    let creq = v4::canonical_request_with_query(req, query, &additional);
    let sts = v4::string_to_sign(ts, &v4::scope(&day, &region, &product), &creq);
    let k = keys.v4_signing_key(&key, &day, &region, &product);
    let sig = req.query_param("x-oss-signature").unwrap_or_default();
    if ct_eq(&v4::signature(&k, &sts), sig) {
        Ok(principal(ak, Scheme::V4Presign))
    } else {
        Err(AuthError::mismatch(sts))
    }
}
