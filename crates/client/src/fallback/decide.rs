//! Which failures of the primary the chain answers for, as a pure function.

use ossguard_proto::error::ErrorClass;

use crate::error::{Error, ErrorKind};

/// How the chain sees the primary's final error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The service is down, slow or shedding load (transient or throttled errors, the
    /// deadline, an open breaker, corrupted bytes it kept sending): fall back.
    Unavailable,
    /// The service answered and the answer stands (404, 403, 412 …), or the call itself was
    /// wrong: never served from elsewhere — a deleted object must not come back from a cache.
    Answered,
}

/// Whether the chain falls back when the primary's final error is `e`.
pub fn classify(e: &Error) -> Failure {
    match e.kind() {
        ErrorKind::CircuitOpen | ErrorKind::Integrity { .. } => Failure::Unavailable,
        ErrorKind::InvalidInput(_)
        | ErrorKind::Credentials(_)
        | ErrorKind::Io(_)
        | ErrorKind::Protocol(_) => Failure::Answered,
        _ => match e.class() {
            ErrorClass::Transient | ErrorClass::Throttled => Failure::Unavailable,
            ErrorClass::ClockSkew | ErrorClass::Client | ErrorClass::Cancelled => Failure::Answered,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ossguard_proto::error::{ServiceError, TransportFailure};

    fn service(status: u16, code: &str) -> Error {
        let body = format!("<Error><Code>{code}</Code><Message>m</Message></Error>");
        Error::from(ServiceError::from_response(
            status,
            &http::HeaderMap::new(),
            body.as_bytes(),
        ))
    }

    #[test]
    fn outages_fall_back_and_answers_stand() {
        for e in [
            service(503, "ServiceUnavailable"),
            service(500, "InternalError"),
            service(503, ""),
            service(429, "ExceedAccountQPSLimit"),
            Error::new(ErrorKind::CircuitOpen),
            Error::new(ErrorKind::Integrity {
                expected: 1,
                actual: 2,
            }),
            Error::transport(TransportFailure::ConnectFailed, "refused"),
            Error::transport(TransportFailure::TlsHandshake, "not TLS"),
            Error::transport(TransportFailure::DeadlineExceeded, "deadline"),
            Error::transport(TransportFailure::FirstByteTimeout, "slow"),
        ] {
            assert_eq!(classify(&e), Failure::Unavailable, "{e}");
        }
        for e in [
            service(404, "NoSuchKey"),
            service(403, "AccessDenied"),
            service(412, "PreconditionFailed"),
            service(403, "RequestTimeTooSkewed"),
            Error::invalid_input("bad key"),
            Error::transport(TransportFailure::Cancelled, "dropped"),
            Error::transport(TransportFailure::TlsCertificate, "UnknownIssuer"),
        ] {
            assert_eq!(classify(&e), Failure::Answered, "{e}");
        }
    }
}
