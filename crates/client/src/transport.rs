//! Sending one signed request over HTTP (reqwest, pooled connections).

use ossguard_proto::error::TransportFailure;
use ossguard_proto::{AddressingStyle, Request};

use crate::config::Config;
use crate::error::{Error, ErrorKind};

pub(crate) struct Transport {
    http: reqwest::Client,
    /// The endpoint's URL, parsed once: a path-style request only sets its path and query
    /// (parsing scheme and host again — IDNA included — was ~2 % of a small GET's CPU).
    path_style_base: Option<reqwest::Url>,
}

/// Where a reqwest failure happened: sending the request and waiting for the response head,
/// or reading the response body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Request,
    Body,
}

/// Is this (reqwest wraps body read failures as "decode" errors) a broken body stream rather
/// than content that cannot be decoded?
fn broken_body(e: &reqwest::Error) -> bool {
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        if let Some(r) = s.downcast_ref::<reqwest::Error>() {
            if r.is_body() || r.is_request() || r.is_timeout() {
                return true;
            }
        }
        if s.downcast_ref::<std::io::Error>().is_some() {
            return true;
        }
        src = s.source();
    }
    false
}

/// Maps a reqwest failure onto an [`Error`] the resilience layer classifies. Only failures of
/// the connection are transient; a request that could not be built, a redirect (OSS answers
/// them for a wrong region or addressing) or an undecodable body would fail the same way again
/// and are not retried as "connection resets".
pub(crate) fn reqwest_error(e: &reqwest::Error, phase: Phase) -> Error {
    let msg = e.to_string();
    let failure = if e.is_builder() {
        return Error::invalid_input(format!("cannot build the HTTP request: {msg}"));
    } else if e.is_redirect() {
        return Error::new(ErrorKind::Protocol(format!("redirect not followed: {msg}")));
    } else if e.is_connect() {
        if e.is_timeout() {
            TransportFailure::ConnectTimeout
        } else {
            TransportFailure::ConnectFailed
        }
    } else if e.is_timeout() {
        match phase {
            Phase::Request => TransportFailure::FirstByteTimeout,
            Phase::Body => TransportFailure::BodyStalled,
        }
    } else if e.is_body() || (e.is_decode() && broken_body(e)) {
        match phase {
            Phase::Request => TransportFailure::ConnectionReset,
            Phase::Body => TransportFailure::BodyTruncated,
        }
    } else if e.is_request() {
        TransportFailure::ConnectionReset
    } else {
        return Error::new(ErrorKind::Protocol(format!("unusable response: {msg}")));
    };
    Error::transport(failure, msg)
}

impl Transport {
    /// No reqwest read timeout: its timer runs from the start of the request and would cut
    /// every upload that takes longer to send (an 8 MiB part at 1 Mbit/s takes 67 s). Silence
    /// is the progress guard's job, in both directions (`crate::pipeline`).
    pub fn new(cfg: &Config) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(cfg.connect_timeout)
            .pool_idle_timeout(std::time::Duration::from_secs(50))
            // OSS redirects (wrong region or addressing) are answers to report, not to follow:
            // the signature covers the host, and the error says which endpoint to use.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(cfg.user_agent.clone())
            .no_proxy()
            .build()
            .map_err(|e| Error::invalid_input(format!("cannot build the HTTP client: {e}")))?;
        let path_style_base = match cfg.addressing {
            AddressingStyle::Path => reqwest::Url::parse(&format!(
                "{}://{}/",
                cfg.endpoint.scheme,
                cfg.endpoint.authority(None)
            ))
            .ok(),
            AddressingStyle::VirtualHosted => None,
        };
        Ok(Self {
            http,
            path_style_base,
        })
    }

    pub fn url(cfg: &Config, req: &Request) -> String {
        let style = cfg.addressing;
        let bucket = match style {
            AddressingStyle::VirtualHosted => req.bucket.as_deref(),
            AddressingStyle::Path => None,
        };
        format!(
            "{}://{}{}",
            cfg.endpoint.scheme,
            cfg.endpoint.authority(bucket),
            req.path_and_query(style)
        )
    }

    /// The request's URL: [`Self::url`], parsed (or set on the parsed base for path style).
    fn request_url(&self, cfg: &Config, req: &Request) -> Result<reqwest::Url, Error> {
        match &self.path_style_base {
            Some(base) => {
                let pq = req.path_and_query(AddressingStyle::Path);
                let (path, query) = match pq.split_once('?') {
                    Some((p, q)) => (p, Some(q)),
                    None => (pq.as_str(), None),
                };
                let mut url = base.clone();
                url.set_path(path);
                url.set_query(query);
                Ok(url)
            }
            None => reqwest::Url::parse(&Self::url(cfg, req))
                .map_err(|e| Error::invalid_input(format!("cannot build the request URL: {e}"))),
        }
    }

    /// Sends `req` (signed): its headers move into the HTTP request as they are.
    pub async fn send(
        &self,
        cfg: &Config,
        req: Request,
        body: reqwest::Body,
    ) -> Result<reqwest::Response, Error> {
        let mut r = reqwest::Request::new(req.method.clone(), self.request_url(cfg, &req)?);
        *r.headers_mut() = req.headers;
        *r.body_mut() = Some(body);
        self.http
            .execute(r)
            .await
            .map_err(|e| reqwest_error(&e, Phase::Request))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ossguard_proto::error::ErrorClass;

    /// Issue 9: these were all "connection resets", retried four times.
    #[tokio::test]
    async fn builder_errors_are_not_resets_and_broken_bodies_are_truncations() {
        let builder = reqwest::Client::new()
            .get("http://exa mple.com/")
            .build()
            .unwrap_err();
        let e = reqwest_error(&builder, Phase::Request);
        assert_eq!(e.class(), ErrorClass::Client, "{e}");
        // reqwest reports a broken body stream as a "decode" error: still a broken body.
        let broken = futures_util::stream::iter([
            Ok(bytes::Bytes::from_static(b"abc")),
            Err(std::io::Error::from(std::io::ErrorKind::ConnectionReset)),
        ]);
        let resp = reqwest::Response::from(http::Response::new(reqwest::Body::wrap_stream(broken)));
        let decode = resp.bytes().await.unwrap_err();
        assert!(decode.is_decode(), "{decode:?}");
        let e = reqwest_error(&decode, Phase::Body);
        assert!(
            matches!(
                e.kind(),
                ErrorKind::Transport {
                    failure: TransportFailure::BodyTruncated,
                    ..
                }
            ),
            "{e}"
        );
    }
}
