//! Typed OSS operations on [`Client`](crate::Client).

pub mod bucket;
pub mod list;
pub mod multipart;
pub mod object;

use http::HeaderMap;
use ossguard_proto::request::header_str;

use crate::error::{Error, ErrorKind};

pub(crate) fn header(h: &HeaderMap, name: &str) -> Option<String> {
    header_str(h, name)
}

pub(crate) fn server_crc(h: &HeaderMap) -> Option<u64> {
    header(h, ossguard_proto::crc64::HEADER).and_then(|v| ossguard_proto::crc64::parse_header(&v))
}

/// Compares what we sent with the server's CRC-64 (skipped when the server sends none, as the
/// official SDKs do).
pub(crate) fn check_crc(server: Option<u64>, ours: u64, op: &'static str) -> Result<(), Error> {
    match server {
        Some(s) if s != ours => Err(Error::new(ErrorKind::Integrity {
            expected: s,
            actual: ours,
        })
        .in_op(op)),
        _ => Ok(()),
    }
}

pub(crate) fn validate_key(key: &str) -> Result<(), Error> {
    if key.is_empty()
        || key.len() > 1023
        || key.contains('\0')
        || key.starts_with('/')
        || key.starts_with('\\')
    {
        return Err(Error::invalid_input(format!(
            "object key {key:?}: keys are 1-1023 bytes, without NUL, not starting with '/' or '\\'"
        )));
    }
    Ok(())
}
