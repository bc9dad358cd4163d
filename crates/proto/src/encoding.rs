//! Percent-encoding as OSS canonicalisation and the official SDKs need it.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Everything but RFC 3986 unreserved characters (`A-Z a-z 0-9 - _ . ~`).
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// As [`UNRESERVED`] but `/` stays literal (paths).
pub(crate) const UNRESERVED_AND_SLASH: &AsciiSet = &UNRESERVED.remove(b'/');

/// URI-encodes every byte except unreserved ones, `%XX` uppercase (`/` encoded too).
pub fn uri_encode(s: &str) -> String {
    // Through `Cow`, not `Display`: no formatter, and no second copy of what needs no escape.
    std::borrow::Cow::from(utf8_percent_encode(s, UNRESERVED)).into_owned()
}

/// URI-encodes every byte except unreserved ones and `/`.
pub fn uri_encode_path(s: &str) -> String {
    std::borrow::Cow::from(utf8_percent_encode(s, UNRESERVED_AND_SLASH)).into_owned()
}

/// Why a percent-encoded component could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("the request path or query is not valid UTF-8 after percent-decoding")]
    InvalidUtf8,
    #[error("the request path contains a malformed percent escape")]
    BadEscape,
}

fn check_escapes(s: &str) -> Result<(), DecodeError> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let ok = b.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
            if !ok {
                return Err(DecodeError::BadEscape);
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    Ok(())
}

/// Decodes a request path once (RFC 3986): `+` stays `+`, as real OSS and every SDK but the old
/// Debian Go SDK expect.
pub fn decode_path(s: &str) -> Result<String, DecodeError> {
    check_escapes(s)?;
    percent_decode_str(s)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| DecodeError::InvalidUtf8)
}

/// Decodes one query component. Here `+` means space: every SDK sends a literal `+` as `%2B`, and
/// Go's `url.QueryEscape` sends spaces as `+`.
pub fn decode_query_component(s: &str) -> Result<String, DecodeError> {
    let spaced = s.replace('+', " ");
    check_escapes(&spaced)?;
    percent_decode_str(&spaced)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| DecodeError::InvalidUtf8)
}

/// Parses a raw query string into decoded `(name, value)` pairs in wire order. `acl` and `acl=`
/// both give the value `""`.
pub fn parse_query(raw: &str) -> Result<Vec<(String, String)>, DecodeError> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((decode_query_component(k)?, decode_query_component(v)?))
        })
        .collect()
}

/// Builds a query string from decoded pairs (`name` alone for an empty value).
pub fn build_query(pairs: &[(String, String)]) -> String {
    let mut out = String::new();
    for (k, v) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&uri_encode(k));
        if !v.is_empty() {
            out.push('=');
            out.push_str(&uri_encode(v));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_the_notes() {
        assert_eq!(
            uri_encode_path("/examplebucket/dir/sub dir/文件~(1)+a&b=c.txt"),
            "/examplebucket/dir/sub%20dir/%E6%96%87%E4%BB%B6~%281%29%2Ba%26b%3Dc.txt"
        );
        assert_eq!(uri_encode("dir/"), "dir%2F");
    }

    #[test]
    fn path_plus_is_literal_query_plus_is_space() {
        assert_eq!(decode_path("a+b%20c%2F").unwrap(), "a+b c/");
        assert_eq!(decode_query_component("a+b%2B").unwrap(), "a b+");
        assert_eq!(decode_path("%zz"), Err(DecodeError::BadEscape));
        assert_eq!(decode_path("abc%4"), Err(DecodeError::BadEscape));
        assert_eq!(decode_path("%ff"), Err(DecodeError::InvalidUtf8));
    }

    #[test]
    fn query_round_trip() {
        let q = parse_query("acl&uploads=&prefix=dir%2F&x=a%20b").unwrap();
        assert_eq!(q[0], ("acl".into(), "".into()));
        assert_eq!(q[1], ("uploads".into(), "".into()));
        assert_eq!(q[2], ("prefix".into(), "dir/".into()));
        assert_eq!(parse_query(&build_query(&q)).unwrap(), q);
    }
}
