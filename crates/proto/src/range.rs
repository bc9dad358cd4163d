//! The `Range` header (`bytes=a-b`, `bytes=a-`, `bytes=-n`) and `Content-Range`.

/// A parsed single byte range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// `bytes=a-b` (inclusive).
    Closed { first: u64, last: u64 },
    /// `bytes=a-`
    From { first: u64 },
    /// `bytes=-n`: the last n bytes.
    Suffix { len: u64 },
}

/// Why a Range header cannot be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    /// Not `bytes=` with one well-formed range (OSS ignores such headers unless asked to be strict).
    #[error("malformed Range header; use bytes=first-last, bytes=first- or bytes=-suffix")]
    Malformed,
    /// Well-formed but outside the object.
    #[error("the requested range is not satisfiable for an object of this size")]
    Unsatisfiable,
}

fn num(s: &str) -> Result<u64, RangeError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RangeError::Malformed);
    }
    s.parse().map_err(|_| RangeError::Malformed)
}

impl ByteRange {
    pub fn parse(header: &str) -> Result<Self, RangeError> {
        let spec = header
            .trim()
            .strip_prefix("bytes=")
            .ok_or(RangeError::Malformed)?
            .trim();
        if spec.contains(',') {
            return Err(RangeError::Malformed);
        }
        let (a, b) = spec.split_once('-').ok_or(RangeError::Malformed)?;
        match (a.trim(), b.trim()) {
            ("", n) => Ok(Self::Suffix { len: num(n)? }),
            (a, "") => Ok(Self::From { first: num(a)? }),
            (a, b) => {
                let (first, last) = (num(a)?, num(b)?);
                if first > last {
                    return Err(RangeError::Malformed);
                }
                Ok(Self::Closed { first, last })
            }
        }
    }

    /// The inclusive `(first, last)` byte positions within an object of `len` bytes.
    pub fn resolve(self, len: u64) -> Result<(u64, u64), RangeError> {
        match self {
            Self::Closed { first, .. } | Self::From { first } if first >= len => {
                Err(RangeError::Unsatisfiable)
            }
            Self::Closed { first, last } => Ok((first, last.min(len - 1))),
            Self::From { first } => Ok((first, len - 1)),
            Self::Suffix { len: 0 } => Err(RangeError::Unsatisfiable),
            Self::Suffix { .. } if len == 0 => Err(RangeError::Unsatisfiable),
            Self::Suffix { len: n } => Ok((len.saturating_sub(n), len - 1)),
        }
    }

    /// The header value, e.g. `bytes=0-9`.
    pub fn to_header(self) -> String {
        match self {
            Self::Closed { first, last } => format!("bytes={first}-{last}"),
            Self::From { first } => format!("bytes={first}-"),
            Self::Suffix { len } => format!("bytes=-{len}"),
        }
    }
}

/// What OSS sends for a `Range` header on an object of `len` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeAnswer {
    /// 200 and the whole object (no header, or one OSS ignores).
    Whole,
    /// 206 with these inclusive positions.
    Partial(u64, u64),
    /// 416 `InvalidRange` (only with `x-oss-range-behavior: standard`).
    Unsatisfiable,
}

/// OSS's documented Range semantics. Several ranges: only the first counts. Legacy (default):
/// any range not wholly inside the object (`bytes=0-1000` or `bytes=-2000` on 1000 bytes, a
/// start at or past the end) or malformed is ignored → the whole object with 200. With
/// `x-oss-range-behavior: standard` (`standard = true`): an end past the object is clamped
/// (206), a start at or past the end is 416; malformed headers are still ignored.
pub fn oss_range(header: &str, len: u64, standard: bool) -> RangeAnswer {
    let first = match header.split_once(',') {
        Some((first, _)) => first,
        None => header,
    };
    let Ok(r) = ByteRange::parse(first) else {
        return RangeAnswer::Whole;
    };
    let inside = match r {
        ByteRange::Closed { first, last } => last < len && first <= last,
        ByteRange::From { first } => first < len,
        ByteRange::Suffix { len: n } => n > 0 && n <= len,
    };
    if inside || standard {
        match r.resolve(len) {
            Ok((a, b)) => RangeAnswer::Partial(a, b),
            Err(_) if standard => RangeAnswer::Unsatisfiable,
            Err(_) => RangeAnswer::Whole,
        }
    } else {
        RangeAnswer::Whole
    }
}

/// `bytes first-last/total`
pub fn content_range(first: u64, last: u64, total: u64) -> String {
    format!("bytes {first}-{last}/{total}")
}

/// Parses `bytes first-last/total` (`total` may be `*`).
pub fn parse_content_range(v: &str) -> Option<(u64, u64, Option<u64>)> {
    let rest = v.trim().strip_prefix("bytes ")?;
    let (range, total) = rest.split_once('/')?;
    let (a, b) = range.split_once('-')?;
    let total = if total == "*" {
        None
    } else {
        Some(total.parse().ok()?)
    };
    Some((a.parse().ok()?, b.parse().ok()?, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oss_semantics_on_a_1000_byte_object() {
        use RangeAnswer::*;
        // The cases of OSS's range documentation, legacy then standard.
        for (h, legacy, standard) in [
            ("bytes=0-499", Partial(0, 499), Partial(0, 499)),
            ("bytes=-500", Partial(500, 999), Partial(500, 999)),
            ("bytes=500-", Partial(500, 999), Partial(500, 999)),
            ("bytes=0-", Partial(0, 999), Partial(0, 999)),
            ("bytes=0-499,500-999", Partial(0, 499), Partial(0, 499)),
            ("byte=0-499", Whole, Whole),
            ("bytes=0-1000", Whole, Partial(0, 999)),
            ("bytes=500-2000", Whole, Partial(500, 999)),
            ("bytes=1000-2000", Whole, Unsatisfiable),
            ("bytes=1000-", Whole, Unsatisfiable),
            ("bytes=-2000", Whole, Partial(0, 999)),
            ("bytes=-0", Whole, Unsatisfiable),
        ] {
            assert_eq!(oss_range(h, 1000, false), legacy, "legacy {h}");
            assert_eq!(oss_range(h, 1000, true), standard, "standard {h}");
        }
        assert_eq!(oss_range("bytes=0-", 0, false), Whole);
        assert_eq!(oss_range("bytes=0-", 0, true), Unsatisfiable);
    }

    #[test]
    fn forms() {
        assert_eq!(
            ByteRange::parse("bytes=0-9").unwrap().resolve(100),
            Ok((0, 9))
        );
        assert_eq!(
            ByteRange::parse("bytes=90-200").unwrap().resolve(100),
            Ok((90, 99))
        );
        assert_eq!(
            ByteRange::parse("bytes=10-").unwrap().resolve(100),
            Ok((10, 99))
        );
        assert_eq!(
            ByteRange::parse("bytes=-10").unwrap().resolve(100),
            Ok((90, 99))
        );
        assert_eq!(
            ByteRange::parse("bytes=-500").unwrap().resolve(100),
            Ok((0, 99))
        );
        assert_eq!(
            ByteRange::parse("bytes=100-").unwrap().resolve(100),
            Err(RangeError::Unsatisfiable)
        );
        assert_eq!(
            ByteRange::parse("bytes=-0").unwrap().resolve(100),
            Err(RangeError::Unsatisfiable)
        );
        assert_eq!(
            ByteRange::parse("bytes=0-").unwrap().resolve(0),
            Err(RangeError::Unsatisfiable)
        );
        for bad in [
            "bytes=5-1",
            "bytes=a-b",
            "bytes=",
            "bytes=-",
            "items=0-1",
            "bytes=0-1,3-4",
            "bytes=+1-2",
        ] {
            assert_eq!(ByteRange::parse(bad), Err(RangeError::Malformed), "{bad}");
        }
        assert_eq!(
            parse_content_range(&content_range(0, 9, 100)),
            Some((0, 9, Some(100)))
        );
    }
}
