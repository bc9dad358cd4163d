//! The protocol-level view of one OSS request: what signing, verification and the transport share.

use http::{HeaderMap, HeaderName, HeaderValue, Method};

use crate::encoding::{build_query, uri_encode, uri_encode_path};

/// One OSS request before it hits the wire (client) or after it was parsed (server).
///
/// `bucket`/`key` are decoded; `query` holds decoded `(name, value)` pairs in order, with `""` for
/// a parameter sent without a value. Signatures never depend on addressing style, so the URL is
/// derived from these fields only when sending.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    pub bucket: Option<String>,
    pub key: Option<String>,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
}

/// How the bucket appears in the URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressingStyle {
    /// `https://bucket.endpoint/key` (real OSS).
    VirtualHosted,
    /// `http://endpoint/bucket/key` (IP literals, localhost, the emulator).
    Path,
}

impl Request {
    pub fn new(method: Method, bucket: Option<&str>, key: Option<&str>) -> Self {
        Self {
            method,
            bucket: bucket.map(str::to_owned),
            key: key.map(str::to_owned),
            query: Vec::new(),
            headers: HeaderMap::new(),
        }
    }

    /// Adds a query parameter (`""` for a bare sub-resource such as `acl`).
    pub fn with_query(mut self, name: &str, value: &str) -> Self {
        self.query.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets a header; invalid names or values are a programming error of the caller and are
    /// reported instead of panicking.
    pub fn set_header(&mut self, name: &str, value: &str) -> Result<(), InvalidHeader> {
        let n = HeaderName::from_bytes(name.as_bytes()).map_err(|_| InvalidHeader(name.into()))?;
        let v = HeaderValue::from_str(value).map_err(|_| InvalidHeader(name.into()))?;
        self.headers.insert(n, v);
        Ok(())
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Result<Self, InvalidHeader> {
        self.set_header(name, value)?;
        Ok(self)
    }

    /// First value of a header as text (lossy for non-UTF-8 bytes), trimmed.
    pub fn header(&self, name: &str) -> Option<String> {
        header_str(&self.headers, name)
    }

    /// First value of a query parameter.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Path and query for the wire, e.g. `/bucket/dir/a%20b?acl`.
    pub fn path_and_query(&self, style: AddressingStyle) -> String {
        let mut path = String::from("/");
        if style == AddressingStyle::Path {
            if let Some(b) = &self.bucket {
                path.push_str(&uri_encode(b));
                path.push('/');
            }
        }
        if let Some(k) = &self.key {
            path.push_str(&uri_encode_path(k));
        }
        let q = build_query(&self.query);
        if !q.is_empty() {
            path.push('?');
            path.push_str(&q);
        }
        path
    }
}

/// A header name or value that HTTP cannot carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("header {0:?} has an invalid name or value")]
pub struct InvalidHeader(pub String);

/// First value of a header as trimmed text (lossy for non-UTF-8 bytes). A `HeaderName` is
/// looked up as it is; a `&str` is parsed and lower-cased first (on every call).
pub fn header_str(headers: &HeaderMap, name: impl http::header::AsHeaderName) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned())
}
