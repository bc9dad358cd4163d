//! Error responses as OSS sends them: XML body (Code, Message, RequestId, HostId, EC), or for
//! HEAD an empty body with the XML base64-encoded in `x-oss-err`.

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use ossguard_proto::auth::verify::AuthError;
use ossguard_proto::xml::{to_xml, ErrorBody, XmlError};

use crate::store::StoreError;

/// One error answer (small: the details are boxed, errors travel through every `?`).
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub details: Box<Details>,
}

#[derive(Debug, Clone, Default)]
pub struct Details {
    pub message: String,
    pub key: Option<String>,
    pub bucket: Option<String>,
    pub string_to_sign: Option<String>,
    /// Extra response headers (e.g. `x-oss-next-append-position`).
    pub headers: Vec<(&'static str, String)>,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            details: Box::new(Details {
                message: message.into(),
                ..Default::default()
            }),
        }
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(400, "InvalidArgument", message)
    }

    pub fn access_denied(message: impl Into<String>) -> Self {
        Self::new(403, "AccessDenied", message)
    }

    pub fn not_implemented() -> Self {
        Self::new(
            501,
            "NotImplemented",
            "This operation is not implemented by ossguard serve.",
        )
    }

    /// A request naming an API (or an option of one) by a sub-resource this server does not
    /// implement, e.g. `?tagging` or `?symlink`.
    pub fn unsupported_parameter(name: &str) -> Self {
        Self::new(
            501,
            "NotImplemented",
            format!(
                "The sub-resource or parameter '{name}' is not implemented by ossguard serve; the request was not executed."
            ),
        )
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            405,
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
        )
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }

    pub fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.details.headers.push((name, value));
        self
    }

    /// A stable `EC` per code (OSS's real values are undocumented; SDKs only display them).
    fn ec(&self) -> String {
        let h = self
            .code
            .bytes()
            .fold(0u32, |a, b| a.wrapping_mul(31).wrapping_add(b as u32));
        format!("00{:02}-{:08}", self.status % 100, h % 100_000_000)
    }

    /// The error XML for this answer.
    pub fn body_xml(&self, request_id: &str, host_id: &str) -> String {
        to_xml(&ErrorBody {
            code: self.code.to_owned(),
            message: self.details.message.clone(),
            request_id: request_id.to_owned(),
            host_id: host_id.to_owned(),
            key: self.details.key.clone(),
            bucket_name: self.details.bucket.clone(),
            string_to_sign: self.details.string_to_sign.clone(),
            ec: self.ec(),
            ..Default::default()
        })
    }

    /// Headers and body: HEAD answers carry the XML in `x-oss-err` instead of a body.
    pub fn render(
        &self,
        request_id: &str,
        host_id: &str,
        is_head: bool,
    ) -> (Vec<(&'static str, String)>, String) {
        let xml = self.body_xml(request_id, host_id);
        let mut headers = self.details.headers.clone();
        headers.push(("x-oss-ec", self.ec()));
        if is_head {
            headers.push(("x-oss-err", B64.encode(xml.as_bytes())));
            (headers, String::new())
        } else {
            headers.push(("content-type", "application/xml".to_owned()));
            (headers, xml)
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let mut out = ApiError::new(e.http_status(), e.oss_code(), e.to_string());
        match &e {
            StoreError::NoSuchKey(k) => out.details.key = Some(k.clone()),
            StoreError::NoSuchBucket(b) => out.details.bucket = Some(b.clone()),
            StoreError::PositionNotEqualToLength { next_position } => out
                .details
                .headers
                .push(("x-oss-next-append-position", next_position.to_string())),
            StoreError::Io(_) => {
                out.details.message = "We encountered an internal error. Please try again.".into()
            }
            _ => {}
        }
        if matches!(e, StoreError::NoSuchKey(_)) {
            out.details.message = "The specified key does not exist.".into();
        }
        out
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let mut out = ApiError::new(e.code.http_status(), e.code.as_str(), e.message);
        out.details.string_to_sign = e.string_to_sign;
        out
    }
}

impl From<XmlError> for ApiError {
    fn from(e: XmlError) -> Self {
        ApiError::new(
            400,
            e.code(),
            format!("The XML you provided was not well-formed: {e}"),
        )
    }
}
