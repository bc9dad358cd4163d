//! The date formats OSS uses. Time is always passed in; nothing here reads a clock.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::{
    format_description::FormatItem, macros::format_description, OffsetDateTime, PrimitiveDateTime,
};

const ISO_BASIC: &[FormatItem<'_>] =
    format_description!("[year][month][day]T[hour][minute][second]Z");
const DAY: &[FormatItem<'_>] = format_description!("[year][month][day]");
const ISO_MILLIS: &[FormatItem<'_>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

fn odt(t: SystemTime) -> OffsetDateTime {
    OffsetDateTime::from(t)
}

/// `Wed, 28 Dec 2022 10:27:41 GMT` (`Date`, `Last-Modified`, V1 `x-oss-date`).
pub fn rfc1123(t: SystemTime) -> String {
    httpdate::fmt_http_date(t)
}

/// `20221228T102741Z` (V4 `x-oss-date`). Written digit by digit: every V4 request formats
/// one, and `time`'s format-description interpreter took ~10 % of signing a GET.
pub fn iso8601_basic(t: SystemTime) -> String {
    let d = odt(t);
    let Ok(year @ 0..=9999) = u32::try_from(d.year()) else {
        return d.format(ISO_BASIC).unwrap_or_default();
    };
    let fields = [
        (year / 100) as u8,
        (year % 100) as u8,
        u8::from(d.month()),
        d.day(),
        d.hour(),
        d.minute(),
        d.second(),
    ];
    let mut out = String::with_capacity(16);
    for (i, n) in fields.into_iter().enumerate() {
        if i == 4 {
            out.push('T');
        }
        out.push(char::from(b'0' + n / 10));
        out.push(char::from(b'0' + n % 10));
    }
    out.push('Z');
    out
}

/// `20221228` (V4 scope day).
pub fn scope_day(t: SystemTime) -> String {
    odt(t).format(DAY).unwrap_or_default()
}

/// `2022-12-28T10:27:41.000Z` (timestamps inside XML bodies).
pub fn iso8601_millis(t: SystemTime) -> String {
    odt(t).format(ISO_MILLIS).unwrap_or_default()
}

/// Parses an HTTP date (RFC 1123 and the two legacy forms).
pub fn parse_http_date(s: &str) -> Option<SystemTime> {
    httpdate::parse_http_date(s.trim()).ok()
}

/// Parses `20221228T102741Z`.
pub fn parse_iso8601_basic(s: &str) -> Option<SystemTime> {
    PrimitiveDateTime::parse(s.trim(), ISO_BASIC)
        .ok()
        .map(|p| p.assume_utc().into())
}

/// Parses `2022-12-28T10:27:41.000Z`.
pub fn parse_iso8601_millis(s: &str) -> Option<SystemTime> {
    PrimitiveDateTime::parse(s.trim(), ISO_MILLIS)
        .ok()
        .map(|p| p.assume_utc().into())
}

/// A signing timestamp as SDKs send it: ISO basic (`x-oss-date` in V4) or an HTTP date.
pub fn parse_any(s: &str) -> Option<SystemTime> {
    parse_iso8601_basic(s).or_else(|| parse_http_date(s))
}

/// Seconds since the epoch (saturating at 0 for times before it).
pub fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Seconds since the epoch; values past what the platform can represent saturate at a date
/// far beyond any deadline (a presigned URL's `Expires` is untrusted input — the fuzzer found
/// `UNIX_EPOCH + u64::MAX s` panicking).
pub fn from_unix_seconds(s: u64) -> SystemTime {
    UNIX_EPOCH
        .checked_add(Duration::from_secs(s))
        .unwrap_or_else(|| UNIX_EPOCH + Duration::from_secs(FAR_FUTURE_SECS))
}

/// Year ~36,800: later than any real expiry, representable everywhere `SystemTime` is 64-bit.
const FAR_FUTURE_SECS: u64 = 1 << 40;

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn iso8601_basic_is_the_format_description_output(secs in 0u64..=253_402_300_799) {
            let t = super::from_unix_seconds(secs);
            let want = super::odt(t).format(super::ISO_BASIC).unwrap();
            prop_assert_eq!(super::iso8601_basic(t), want);
        }
    }

    #[test]
    fn iso8601_basic_pads_every_field() {
        let t = super::from_unix_seconds(946_688_645); // 2000-01-01 01:04:05
        assert_eq!(super::iso8601_basic(t), "20000101T010405Z");
        assert_eq!(super::iso8601_basic(super::UNIX_EPOCH), "19700101T000000Z");
    }

    #[test]
    fn huge_unix_seconds_saturate_instead_of_panicking() {
        let far = super::from_unix_seconds(u64::MAX);
        assert!(far > super::from_unix_seconds(4_102_444_800), "after 2100");
        assert_eq!(super::from_unix_seconds(u64::MAX), far);
    }

    use super::*;

    #[test]
    fn formats_match_the_vectors() {
        let t = from_unix_seconds(1_672_223_261);
        assert_eq!(rfc1123(t), "Wed, 28 Dec 2022 10:27:41 GMT");
        assert_eq!(iso8601_basic(t), "20221228T102741Z");
        assert_eq!(scope_day(t), "20221228");
        assert_eq!(iso8601_millis(t), "2022-12-28T10:27:41.000Z");
        assert_eq!(parse_any("20221228T102741Z"), Some(t));
        assert_eq!(parse_any("Wed, 28 Dec 2022 10:27:41 GMT"), Some(t));
        assert_eq!(parse_iso8601_millis("2022-12-28T10:27:41.000Z"), Some(t));
        assert_eq!(parse_any("yesterday"), None);
    }
}
