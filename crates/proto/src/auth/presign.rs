//! Presigned URLs, V1 (`OSSAccessKeyId/Expires/Signature`) and V4 (`x-oss-*` query).

use std::time::{Duration, SystemTime};

use super::credentials::Credentials;
use super::{v1, v4};
use crate::time::{iso8601_basic, scope_day, unix_seconds};

/// The longest expiry OSS accepts for a V4 presigned URL: 7 days.
pub const MAX_EXPIRES_V4: Duration = Duration::from_secs(604_800);

/// Why a URL could not be presigned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PresignError {
    #[error("presigned URLs can be valid for at most 7 days (604800 s); ask for less")]
    ExpiryTooLong,
    #[error("the presigned URL would expire immediately; give a positive expiry")]
    ExpiryZero,
}

/// Adds the V1 presign parameters (and `security-token` for STS) to `req.query`. Headers in
/// `req.headers` (Content-Type, Content-MD5, `x-oss-*`) are signed and must be sent with the URL.
pub fn presign_v1(
    req: &mut crate::Request,
    creds: &Credentials,
    expires_at: SystemTime,
) -> Result<(), PresignError> {
    presign_v1_with(req, creds, expires_at, v1::Subresources::Standard)
}

/// [`presign_v1`] with a chosen sub-resource list (to reproduce other SDKs' URLs in tests).
pub fn presign_v1_with(
    req: &mut crate::Request,
    creds: &Credentials,
    expires_at: SystemTime,
    set: v1::Subresources,
) -> Result<(), PresignError> {
    let expires = unix_seconds(expires_at).to_string();
    if let Some(tok) = &creds.security_token {
        req.query
            .push(("security-token".into(), tok.expose().to_owned()));
    }
    let sts = v1::string_to_sign(req, &expires, set);
    let sig = v1::signature(creds.access_key_secret.expose(), &sts);
    req.query
        .push(("OSSAccessKeyId".into(), creds.access_key_id.clone()));
    req.query.push(("Expires".into(), expires));
    req.query.push(("Signature".into(), sig));
    Ok(())
}

/// Adds the V4 presign parameters to `req.query`, signing every query parameter and the
/// `additional` headers (e.g. `host`, `range`) that the caller will send.
pub fn presign_v4(
    req: &mut crate::Request,
    creds: &Credentials,
    region: &str,
    now: SystemTime,
    expires_in: Duration,
    additional: &[&str],
) -> Result<(), PresignError> {
    if expires_in > MAX_EXPIRES_V4 {
        return Err(PresignError::ExpiryTooLong);
    }
    if expires_in.as_secs() == 0 {
        return Err(PresignError::ExpiryZero);
    }
    let day = scope_day(now);
    let scope = v4::scope(&day, region, v4::PRODUCT);
    let ts = iso8601_basic(now);
    let add = v4::additional_headers(req, additional);
    let q = &mut req.query;
    q.push(("x-oss-signature-version".into(), v4::ALGORITHM.into()));
    q.push((
        "x-oss-credential".into(),
        format!("{}/{scope}", creds.access_key_id),
    ));
    q.push(("x-oss-date".into(), ts.clone()));
    q.push(("x-oss-expires".into(), expires_in.as_secs().to_string()));
    if !add.is_empty() {
        q.push(("x-oss-additional-headers".into(), add.join(";")));
    }
    if let Some(tok) = &creds.security_token {
        q.push(("x-oss-security-token".into(), tok.expose().to_owned()));
    }
    let creq = v4::canonical_request(req, &add);
    let sts = v4::string_to_sign(&ts, &scope, &creq);
    let key = v4::signing_key(creds.access_key_secret.expose(), &day, region, v4::PRODUCT);
    req.query
        .push(("x-oss-signature".into(), v4::signature(&key, &sts)));
    Ok(())
}
