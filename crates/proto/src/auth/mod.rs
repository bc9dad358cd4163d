//! Request signing (V1, V4, presigned URLs, STS tokens) and its server-side verification.

pub mod credentials;
pub mod header;
pub mod presign;
pub mod v1;
pub mod v4;
pub mod verify;

pub use credentials::{Credentials, Secret};

use http::HeaderValue;

use crate::request::Request;

/// A header value as signed, pushed onto `out`: trimmed, lossy for non-UTF-8 bytes (borrowed,
/// no copy, when UTF-8 — always, for what we sign).
pub(crate) fn push_value(out: &mut String, v: &HeaderValue) {
    out.push_str(String::from_utf8_lossy(v.as_bytes()).trim());
}

/// `name:value\n` for every header `signed` picks, sorted by name, each name's first value:
/// the canonical header block of V1 (`x-oss-*`) and V4 (its default and additional headers).
/// One pass over the map (a lookup by `&str` parses the name again); `iter()` yields a name's
/// values in order, so a stable sort and `dedup` keep each name's first value.
pub(crate) fn push_signed_headers(out: &mut String, req: &Request, signed: impl Fn(&str) -> bool) {
    let mut lines: Vec<(&str, &HeaderValue)> = req
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v))
        .filter(|(n, _)| signed(n))
        .collect();
    lines.sort_by_key(|(n, _)| *n);
    lines.dedup_by_key(|(n, _)| *n);
    for (n, v) in lines {
        out.push_str(n);
        out.push(':');
        push_value(out, v);
        out.push('\n');
    }
}
