//! One error type for every operation: what went wrong, its retry class, and what to do.

use ossguard_proto::error::{ErrorClass, ServiceError, TransportFailure};

/// What failed.
#[derive(Debug)]
pub enum ErrorKind {
    /// OSS (or the emulator) answered with an error.
    Service(ServiceError),
    /// The network or a timeout failed us.
    Transport {
        /// What kind of failure: a timeout of which phase, a reset, the deadline …
        failure: TransportFailure,
        /// What happened, for people.
        message: String,
    },
    /// The bytes' CRC-64 differs from the server's: the data was corrupted in transit.
    Integrity {
        /// The CRC-64 the server has (or answered with).
        expected: u64,
        /// The CRC-64 of the bytes as they were sent or received.
        actual: u64,
    },
    /// The call itself is wrong (bad key, bad option); nothing was sent.
    InvalidInput(String),
    /// No usable credentials.
    Credentials(String),
    /// A local file could not be read or written.
    Io(std::io::Error),
    /// The circuit breaker rejected the request without sending it (the endpoint kept failing).
    CircuitOpen,
    /// The answer could not be used (a redirect, an undecodable body): retrying would get the
    /// same answer.
    Protocol(String),
}

/// An ossguard error: the failure plus the operation it happened in.
#[derive(Debug)]
pub struct Error {
    // Boxed: errors travel through every `?`, keep `Result` small.
    kind: Box<ErrorKind>,
    operation: Option<&'static str>,
    /// The server's requested delay (`x-oss-qos-delay-time`, `Retry-After`).
    server_delay: Option<std::time::Duration>,
    /// The server's `Date` (clock-skew correction).
    server_date: Option<std::time::SystemTime>,
    /// Why the operation stopped here rather than retrying (e.g. the breaker refused the next
    /// attempt), shown after the error.
    context: Option<String>,
}

impl Error {
    /// An error of this kind.
    pub fn new(kind: ErrorKind) -> Self {
        Self {
            kind: Box::new(kind),
            operation: None,
            server_delay: None,
            server_date: None,
            context: None,
        }
    }

    /// Adds why the operation stopped with this error (kept: the first context).
    pub(crate) fn with_context(mut self, context: impl Into<String>) -> Self {
        self.context.get_or_insert(context.into());
        self
    }

    /// Why the operation stopped with this error, if something other than the error decided.
    pub fn context(&self) -> Option<&str> {
        self.context.as_deref()
    }

    pub(crate) fn in_op(mut self, op: &'static str) -> Self {
        self.operation.get_or_insert(op);
        self
    }

    pub(crate) fn with_server_facts(
        mut self,
        delay: Option<std::time::Duration>,
        date: Option<std::time::SystemTime>,
    ) -> Self {
        self.server_delay = delay;
        self.server_date = date;
        self
    }

    /// The delay the server asked for, if any.
    pub fn server_delay(&self) -> Option<std::time::Duration> {
        self.server_delay
    }

    /// The server's clock at the time of the error, if it said.
    pub fn server_date(&self) -> Option<std::time::SystemTime> {
        self.server_date
    }

    /// An [`ErrorKind::InvalidInput`] error: the call was wrong, nothing was sent.
    pub fn invalid_input(msg: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput(msg.into()))
    }

    /// An [`ErrorKind::Transport`] error.
    pub fn transport(failure: TransportFailure, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Transport {
            failure,
            message: message.into(),
        })
    }

    /// What failed.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// What failed, by value.
    pub fn into_kind(self) -> ErrorKind {
        *self.kind
    }

    /// How retries and the breaker treat it (DESIGN.md §3).
    pub fn class(&self) -> ErrorClass {
        match self.kind.as_ref() {
            ErrorKind::Service(e) => e.class(),
            ErrorKind::Transport { failure, .. } => failure.class(),
            ErrorKind::Integrity { .. } | ErrorKind::CircuitOpen => ErrorClass::Transient,
            ErrorKind::InvalidInput(_)
            | ErrorKind::Credentials(_)
            | ErrorKind::Io(_)
            | ErrorKind::Protocol(_) => ErrorClass::Client,
        }
    }

    /// The OSS error code, when the service sent one.
    pub fn code(&self) -> Option<&str> {
        match self.kind.as_ref() {
            ErrorKind::Service(e) if !e.code.is_empty() => Some(&e.code),
            _ => None,
        }
    }

    /// The HTTP status, when the service answered.
    pub fn status(&self) -> Option<u16> {
        match self.kind.as_ref() {
            ErrorKind::Service(e) => Some(e.status),
            _ => None,
        }
    }

    /// The service's `x-oss-request-id`, when it sent one (what Alibaba Cloud support asks for).
    pub fn request_id(&self) -> Option<&str> {
        match self.kind.as_ref() {
            ErrorKind::Service(e) if !e.request_id.is_empty() => Some(&e.request_id),
            _ => None,
        }
    }

    /// The service's error, if this is one.
    pub fn service(&self) -> Option<&ServiceError> {
        match self.kind.as_ref() {
            ErrorKind::Service(e) => Some(e),
            _ => None,
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(op) = self.operation {
            write!(f, "{op}: ")?;
        }
        match self.kind.as_ref() {
            ErrorKind::Service(e) => write!(f, "{e}"),
            ErrorKind::Transport {
                failure: TransportFailure::TlsHandshake,
                message,
            } => write!(
                f,
                "network failure (tls_handshake): {message}; check that the endpoint serves HTTPS \
                 on that port with a certificate valid for its host name (Mozilla's roots are trusted)"
            ),
            ErrorKind::Transport {
                failure: TransportFailure::TlsCertificate,
                message,
            } => write!(
                f,
                "the server's TLS certificate was refused (tls_certificate): {message}; check that the \
                 endpoint's host name is the one its certificate names (Mozilla's roots are trusted) \
                 and that nothing intercepts the connection — not retried, retrying gets the same certificate"
            ),
            ErrorKind::Transport { failure, message } => write!(
                f,
                "network failure ({}): {message}; check the endpoint and your connection, retrying usually helps",
                failure.as_str()
            ),
            ErrorKind::Integrity { expected, actual } => write!(
                f,
                "data corrupted in transit: CRC-64 {actual} differs from the server's {expected}; retry the transfer"
            ),
            ErrorKind::InvalidInput(m) => write!(f, "invalid input: {m}"),
            ErrorKind::Credentials(m) => write!(
                f,
                "no usable credentials: {m}; set OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET"
            ),
            ErrorKind::Io(e) => write!(f, "local I/O error: {e}"),
            ErrorKind::CircuitOpen => write!(
                f,
                "not sent: the circuit breaker is open after repeated failures of this endpoint; it probes every second, retry shortly"
            ),
            ErrorKind::Protocol(m) => write!(
                f,
                "unusable answer: {m}; check the endpoint (region, addressing) — retrying would get the same answer"
            ),
        }?;
        if let Some(c) = &self.context {
            write!(f, " ({c})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self.kind.as_ref() {
            ErrorKind::Service(e) => Some(e),
            ErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Self::new(ErrorKind::Io(e))
    }
}

impl From<ServiceError> for Error {
    fn from(e: ServiceError) -> Self {
        Self::new(ErrorKind::Service(e))
    }
}

/// The XML body was read whole inside its attempt (a broken read is retried there), so a
/// body that does not parse is the server's answer, not a network failure.
impl From<ossguard_proto::xml::XmlError> for Error {
    fn from(e: ossguard_proto::xml::XmlError) -> Self {
        Self::new(ErrorKind::Protocol(format!("unreadable XML response: {e}")))
    }
}
