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
