//! The OSS error model and the classification shared by retries, the breaker and metrics
//! (DESIGN.md §3).

use std::time::Duration;

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use http::HeaderMap;

use crate::request::header_str;
use crate::xml::{from_xml, ErrorBody};

/// How a failed attempt should be treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Worth retrying (idempotent operations); counts as a failure for the breaker.
    Transient,
    /// The service asks us to slow down: retry later, throttle, never hard-open the breaker.
    Throttled,
    /// `RequestTimeTooSkewed`: retry once after learning the clock offset.
    ClockSkew,
    /// The request itself is wrong (403, 404, 409, 412, 416 …): do not retry; the service is
    /// healthy.
    Client,
    /// The caller gave up.
    Cancelled,
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Transient => "transient",
            Self::Throttled => "throttled",
            Self::ClockSkew => "clock_skew",
            Self::Client => "client",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Transient | Self::Throttled | Self::ClockSkew)
    }
}

fn is_throttle_code(code: &str) -> bool {
    code == "ServiceUnavailable"
        || code == "SlowDown"
        || code.ends_with("QpsLimitExceeded")
        || code.ends_with("RateLimitExceeded")
}

/// Classifies an HTTP response that carried an error.
pub fn classify_response(status: u16, code: &str) -> ErrorClass {
    if code == "RequestTimeTooSkewed" {
        return ErrorClass::ClockSkew;
    }
    // The server does not implement what was asked: the same answer every time.
    if status == 501 || code == "NotImplemented" {
        return ErrorClass::Client;
    }
    if status == 429 || is_throttle_code(code) || (status == 503 && code.is_empty()) {
        return ErrorClass::Throttled;
    }
    match status {
        500..=599 => ErrorClass::Transient,
        // 408: the server gave up waiting for our body: a transport hiccup, not our mistake.
        408 => ErrorClass::Transient,
        _ if code == "InternalError" => ErrorClass::Transient,
        _ => ErrorClass::Client,
    }
}

/// A failure below HTTP (or in checking what came back).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportFailure {
    /// DNS or connect refused / unreachable: the request never left.
    ConnectFailed,
    ConnectTimeout,
    /// The TLS handshake failed (the peer does not speak TLS, or broke it off).
    TlsHandshake,
    /// The server's certificate was refused (unknown issuer, not valid for the host name,
    /// expired): the next attempt gets the same certificate, and a stale copy served around it
    /// would hide an endpoint that is not the one configured. Not retried, not a fallback case.
    TlsCertificate,
    /// The connection broke after (part of) the request was written.
    ConnectionReset,
    /// The connection closed before a response status line.
    EofBeforeResponse,
    FirstByteTimeout,
    /// No body progress for the idle/stall timeout.
    BodyStalled,
    /// Fewer bytes than Content-Length.
    BodyTruncated,
    /// The CRC-64 of what we sent or received differs from the server's.
    CrcMismatch,
    /// The overall deadline passed.
    DeadlineExceeded,
    Cancelled,
}

impl TransportFailure {
    pub fn class(self) -> ErrorClass {
        match self {
            Self::Cancelled => ErrorClass::Cancelled,
            Self::TlsCertificate => ErrorClass::Client,
            _ => ErrorClass::Transient,
        }
    }

    /// True when the request provably never reached the server, so even non-idempotent
    /// operations may be retried.
    pub fn request_never_sent(self) -> bool {
        matches!(
            self,
            Self::ConnectFailed | Self::ConnectTimeout | Self::TlsHandshake | Self::TlsCertificate
        )
    }

    /// A timeout (costs more retry budget than other transient failures).
    pub fn is_timeout(self) -> bool {
        matches!(
            self,
            Self::ConnectTimeout | Self::FirstByteTimeout | Self::BodyStalled
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConnectFailed => "connect_failed",
            Self::ConnectTimeout => "connect_timeout",
            Self::TlsHandshake => "tls_handshake",
            Self::TlsCertificate => "tls_certificate",
            Self::ConnectionReset => "connection_reset",
            Self::EofBeforeResponse => "eof_before_response",
            Self::FirstByteTimeout => "first_byte_timeout",
            Self::BodyStalled => "body_stalled",
            Self::BodyTruncated => "body_truncated",
            Self::CrcMismatch => "crc_mismatch",
            Self::DeadlineExceeded => "deadline_exceeded",
            Self::Cancelled => "cancelled",
        }
    }
}

/// An error response from OSS (or the emulator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceError {
    pub status: u16,
    /// OSS error code (`NoSuchKey` …); empty when the service sent none (e.g. 304, bare 503).
    pub code: String,
    pub message: String,
    pub request_id: String,
    pub host_id: String,
    /// OSS's `EC` diagnostic code.
    pub ec: String,
}

impl ServiceError {
    /// Builds the error from a response: the XML body, else the base64 `x-oss-err` header
    /// (HEAD responses), else the `x-oss-request-id` / `x-oss-ec` headers and the status alone.
    pub fn from_response(status: u16, headers: &HeaderMap, body: &[u8]) -> Self {
        let from_header = || {
            header_str(headers, "x-oss-err")
                .and_then(|v| B64.decode(v.as_bytes()).ok())
                .and_then(|xml| from_xml::<ErrorBody>(&xml).ok())
        };
        let parsed = if body.is_empty() {
            from_header()
        } else {
            from_xml::<ErrorBody>(body).ok().or_else(from_header)
        };
        let hdr = |n: &str| header_str(headers, n).unwrap_or_default();
        let or = |a: String, b: String| if a.is_empty() { b } else { a };
        match parsed {
            Some(b) => Self {
                status,
                code: b.code,
                message: b.message,
                request_id: or(b.request_id, hdr("x-oss-request-id")),
                host_id: b.host_id,
                ec: or(b.ec, hdr("x-oss-ec")),
            },
            None => Self {
                status,
                code: String::new(),
                message: String::new(),
                request_id: hdr("x-oss-request-id"),
                host_id: String::new(),
                ec: hdr("x-oss-ec"),
            },
        }
    }

    pub fn class(&self) -> ErrorClass {
        classify_response(self.status, &self.code)
    }

    /// What to tell the user to do about it.
    pub fn advice(&self) -> &'static str {
        match self.code.as_str() {
            "NoSuchBucket" => "check the bucket name and region, or create it with `mb`",
            "NoSuchKey" => "check the object key (keys are case-sensitive)",
            "AccessDenied" => "check the key's permissions, the bucket ACL or the URL's expiry",
            "InvalidAccessKeyId" => "check OSS_ACCESS_KEY_ID (or your STS credentials)",
            "SignatureDoesNotMatch" => "check OSS_ACCESS_KEY_SECRET and the region",
            "RequestTimeTooSkewed" => "fix this machine's clock (NTP), then retry",
            "SecurityTokenExpired" => "refresh your STS credentials",
            "BucketNotEmpty" => "delete the objects first (`rm -r`), then the bucket",
            "BucketAlreadyExists" => "bucket names are global: pick another name",
            "PreconditionFailed" => "the object changed since you read it; re-read and retry",
            "InvalidRange" => "the range lies outside the object; check its size with `stat`",
            _ => match self.class() {
                ErrorClass::Throttled => "the service is throttling; slow down and retry later",
                ErrorClass::Transient => "a service-side failure; retrying usually helps",
                _ => "see the OSS error code reference",
            },
        }
    }
}

impl std::fmt::Display for ServiceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let code = if self.code.is_empty() {
            "(no code)"
        } else {
            &self.code
        };
        write!(f, "OSS error {} {code}", self.status)?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if !self.request_id.is_empty() {
            write!(f, " (request id {})", self.request_id)?;
        }
        write!(f, "; {}", self.advice())
    }
}

impl std::error::Error for ServiceError {}

/// The delay the server asked for: `x-oss-qos-delay-time` (milliseconds) or `Retry-After`
/// (seconds, or an HTTP date relative to `now`), whichever is present, in that order.
pub fn server_delay_hint(headers: &HeaderMap, now: std::time::SystemTime) -> Option<Duration> {
    if let Some(ms) = header_str(headers, "x-oss-qos-delay-time").and_then(|v| v.parse().ok()) {
        return Some(Duration::from_millis(ms));
    }
    let ra = header_str(headers, "retry-after")?;
    if let Ok(secs) = ra.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    crate::time::parse_http_date(&ra).map(|t| t.duration_since(now).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn classification_table() {
        assert_eq!(
            classify_response(500, "InternalError"),
            ErrorClass::Transient
        );
        assert_eq!(classify_response(502, ""), ErrorClass::Transient);
        assert_eq!(
            classify_response(503, "ServiceUnavailable"),
            ErrorClass::Throttled
        );
        assert_eq!(
            classify_response(503, "BucketQpsLimitExceeded"),
            ErrorClass::Throttled
        );
        assert_eq!(classify_response(429, ""), ErrorClass::Throttled);
        assert_eq!(
            classify_response(403, "RequestTimeTooSkewed"),
            ErrorClass::ClockSkew
        );
        for (s, c) in [
            (403, "AccessDenied"),
            (404, "NoSuchKey"),
            (409, "BucketNotEmpty"),
            (412, "PreconditionFailed"),
            (416, "InvalidRange"),
            (501, "NotImplemented"),
            (501, ""),
        ] {
            assert_eq!(classify_response(s, c), ErrorClass::Client, "{c}");
        }
        assert!(TransportFailure::ConnectFailed.request_never_sent());
        assert!(!TransportFailure::ConnectionReset.request_never_sent());
        assert_eq!(TransportFailure::CrcMismatch.class(), ErrorClass::Transient);
        assert_eq!(
            TransportFailure::TlsHandshake.class(),
            ErrorClass::Transient
        );
        // The same certificate comes back on every attempt.
        assert_eq!(TransportFailure::TlsCertificate.class(), ErrorClass::Client);
        assert!(TransportFailure::TlsCertificate.request_never_sent());
    }

    #[test]
    fn parses_body_and_head_header() {
        let xml = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><RequestId>5C3D9175B6FC201293AD4890</RequestId><HostId>h</HostId><EC>0026-00000001</EC></Error>";
        let e = ServiceError::from_response(404, &HeaderMap::new(), xml);
        assert_eq!(
            (e.code.as_str(), e.ec.as_str()),
            ("NoSuchKey", "0026-00000001")
        );
        let mut h = HeaderMap::new();
        h.insert(
            "x-oss-err",
            HeaderValue::from_str(&B64.encode(xml)).unwrap(),
        );
        h.insert("x-oss-request-id", HeaderValue::from_static("AAAA"));
        let e = ServiceError::from_response(404, &h, b"");
        assert_eq!(e.code, "NoSuchKey");
        assert_eq!(e.request_id, "5C3D9175B6FC201293AD4890");
        let e = ServiceError::from_response(503, &h, b"<html>oops");
        assert_eq!(e.code, "NoSuchKey", "falls back to x-oss-err");
        let e = ServiceError::from_response(503, &HeaderMap::new(), b"garbage");
        assert_eq!((e.code.as_str(), e.class()), ("", ErrorClass::Throttled));
        assert!(e.to_string().contains("503"));
    }

    #[test]
    fn delay_hints() {
        let now = crate::time::from_unix_seconds(1_000_000);
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("3"));
        assert_eq!(server_delay_hint(&h, now), Some(Duration::from_secs(3)));
        h.insert("x-oss-qos-delay-time", HeaderValue::from_static("250"));
        assert_eq!(server_delay_hint(&h, now), Some(Duration::from_millis(250)));
    }
}
