//! Typed OSS operations on [`Client`](crate::Client).

pub mod bucket;
pub mod list;
pub mod multipart;
pub mod object;

use http::header::HeaderName;
use http::HeaderMap;

use crate::error::{Error, ErrorKind};

/// Response headers read on every answer, as names: a `&str` name is parsed (and lower-cased)
/// on each lookup — 2 % of the client's CPU on small GETs.
pub(crate) mod names {
    use super::HeaderName;
    pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-oss-request-id");
    pub const CRC64: HeaderName = HeaderName::from_static(ossguard_proto::crc64::HEADER);
    pub const NEXT_APPEND_POSITION: HeaderName =
        HeaderName::from_static("x-oss-next-append-position");
}

/// First value of a header as trimmed text (lossy for non-UTF-8 bytes).
pub(crate) use ossguard_proto::request::header_str as header;

pub(crate) fn server_crc(h: &HeaderMap) -> Option<u64> {
    let v = h.get(names::CRC64)?.to_str().ok()?;
    ossguard_proto::crc64::parse_header(v)
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

/// OSS's rules for an object name (also where the name travels in a header, as a copy source).
pub(crate) fn validate_key_name(key: &str) -> Result<(), Error> {
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

/// [`validate_key_name`] for a key that goes into the request URL.
pub(crate) fn validate_key(key: &str) -> Result<(), Error> {
    validate_key_name(key)?;
    // OSS allows them, but URL parsers that follow the URL standard (reqwest's, browsers',
    // proxies') remove `.` and `..` segments, even `%2E`-escaped ones: a presigned URL or a
    // request through such a hop would name another object than the one signed. Our own
    // transport sends the path as signed; the refusal keeps keys portable to those clients.
    if key.split('/').any(|seg| seg == "." || seg == "..") {
        return Err(Error::invalid_input(format!(
            "object key {key:?} has a '.' or '..' path segment, which HTTP URL normalisation \
             would turn into another key; rename the object (e.g. replace the segment)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod key_tests {
    use super::{validate_key, validate_key_name};

    #[test]
    fn dot_segments_are_refused_but_dots_in_names_are_not() {
        for bad in ["a/../b", "./x", "dir/.", "..", "a/./b", ".", "x/.."] {
            let e = validate_key(bad).unwrap_err().to_string();
            assert!(e.contains("path segment"), "{bad}: {e}");
            assert!(
                validate_key_name(bad).is_ok(),
                "{bad}: fine as a copy source"
            );
        }
        for good in [
            "a..b",
            ".hidden",
            "dir/.config/x",
            "...",
            "a/.../b",
            "x.",
            "v1.2/..x",
        ] {
            assert!(validate_key(good).is_ok(), "{good}");
        }
    }
}
