//! Sending one signed request over HTTP: hyper's pooled client, rustls with Mozilla's roots.
//!
//! Not reqwest, though it is built on the same parts: reqwest re-parses every request's URL
//! twice after it is built (its redirect policy and its response each call `Url::parse`, IDNA
//! included) and clones its connector stack per request — ~6 % of a small GET's client CPU
//! (session 17: 10,000 GETs of 403s, reqwest 177 ms against hyper 167 ms). Here the URI is
//! assembled from the endpoint's parsed scheme and authority and the request's encoded path.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderValue, Uri};
use http_body_util::combinators::UnsyncBoxBody;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use ossguard_proto::error::TransportFailure;
use ossguard_proto::{AddressingStyle, Request};

use crate::config::Config;
use crate::error::Error;

/// A request body on its way out: in memory, or a stream (counted and watched by `crate::body`).
pub(crate) type HttpBody = UnsyncBoxBody<Bytes, std::io::Error>;

/// A response whose head has arrived; the body is read as it comes.
pub(crate) type HttpResponse = http::Response<hyper::body::Incoming>;

type Https = hyper_rustls::HttpsConnector<HttpConnector>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The HTTPS connector under one time limit for the whole connect — name lookup, TCP and TLS
/// handshakes — as reqwest's connect timeout was: a stalled lookup or handshake is a connect
/// timeout (the request was never sent, so even a non-idempotent operation may retry), not a
/// first-byte timeout.
#[derive(Clone)]
struct Connector {
    inner: Https,
    limit: Duration,
}

impl tower_service::Service<Uri> for Connector {
    type Response = <Https as tower_service::Service<Uri>>::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let (connect, limit) = (self.inner.call(uri), self.limit);
        Box::pin(async move {
            match tokio::time::timeout(limit, connect).await {
                Ok(r) => r,
                Err(_) => Err(Box::new(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no connection (name lookup, TCP and TLS) within {limit:?}"),
                )) as BoxError),
            }
        })
    }
}

pub(crate) struct Transport {
    http: hyper_util::client::legacy::Client<Connector, HttpBody>,
    scheme: Scheme,
    /// The endpoint's authority, parsed once (every path-style request goes there).
    authority: Authority,
    /// Its `Host` header value, formatted once (hyper would format it for every request).
    host: HeaderValue,
    user_agent: HeaderValue,
}

/// The request authority for `name` (`host[:port]`) and its `Host` value, the same text: the
/// port only when it is not the scheme's default, as hyper writes `Host` — HTTP/2 requires
/// `Host` and `:authority` to agree when both are sent.
fn authority_and_host(
    scheme: &Scheme,
    name: &str,
) -> Result<(Authority, HeaderValue), http::Error> {
    let host = host_value(scheme, &Authority::try_from(name)?)?;
    Ok((Authority::try_from(host.as_bytes())?, host))
}

/// `Host` for `authority` as hyper writes it: the port only when it is not the scheme's default.
fn host_value(scheme: &Scheme, authority: &Authority) -> Result<HeaderValue, http::Error> {
    let default = match scheme.as_str() {
        "https" => 443,
        _ => 80,
    };
    let host = authority.host();
    Ok(match authority.port_u16().filter(|p| *p != default) {
        Some(port) => HeaderValue::try_from(format!("{host}:{port}"))?,
        None => HeaderValue::try_from(host)?,
    })
}

/// `error: cause: cause …` — hyper's errors say little at the top ("client error (Connect)").
fn chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let part = s.to_string();
        if !msg.ends_with(&part) {
            msg.push_str(": ");
            msg.push_str(&part);
        }
        src = s.source();
    }
    msg
}

fn timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::TimedOut {
                return true;
            }
        }
        if s.downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_timeout)
        {
            return true;
        }
        src = s.source();
    }
    false
}

/// The TLS failure in the chain, if any (rustls' error, which hyper-rustls hands over wrapped
/// in `io::Error`s): the TCP connection was made, the handshake failed — on the server's
/// certificate, or otherwise.
fn tls_failure(e: &(dyn std::error::Error + 'static)) -> Option<TransportFailure> {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = src {
        // `io::Error::source` skips the error it wraps: unwrap those by hand (seen two deep).
        let mut wrapped = Some(s);
        while let Some(w) = wrapped {
            if let Some(tls) = w.downcast_ref::<rustls::Error>() {
                return Some(match tls {
                    rustls::Error::InvalidCertificate(_) => TransportFailure::TlsCertificate,
                    _ => TransportFailure::TlsHandshake,
                });
            }
            wrapped = w
                .downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .map(|i| i as &(dyn std::error::Error + 'static));
        }
        src = s.source();
    }
    None
}

/// Maps a failure to send a request (or to receive its head) onto an [`Error`] the resilience
/// layer classifies: a connection that could not be made or that broke (transient), or a
/// server certificate refused (not retried).
/// Requests that cannot be built never get here (the URI is checked first).
pub(crate) fn send_error(e: &hyper_util::client::legacy::Error) -> Error {
    let msg = chain(e);
    let failure = if e.is_connect() {
        if timed_out(e) {
            TransportFailure::ConnectTimeout
        } else {
            tls_failure(e).unwrap_or(TransportFailure::ConnectFailed)
        }
    } else if timed_out(e) {
        TransportFailure::FirstByteTimeout
    } else {
        // Closed before the head, reset, a head that does not parse, or our own body stream
        // failing mid-send: the attempt broke, the next one may not.
        TransportFailure::ConnectionReset
    };
    Error::transport(failure, msg)
}

/// Maps a failure while reading a response body: the body was cut short (or stalled, for a
/// timer of the connection's).
pub(crate) fn body_error(e: &hyper::Error) -> Error {
    let failure = match timed_out(e) {
        true => TransportFailure::BodyStalled,
        false => TransportFailure::BodyTruncated,
    };
    Error::transport(failure, chain(e))
}

impl Transport {
    /// No read timeout on the connection: silence is the progress guard's job, in both
    /// directions (`crate::pipeline`), and the first-byte timeout bounds the wait for a head.
    /// The connect timeout covers the whole connect: name lookup, TCP and TLS.
    pub fn new(cfg: &Config) -> Result<Self, Error> {
        let mut tcp = HttpConnector::new();
        // Small requests must not wait for Nagle (reqwest's default too).
        tcp.set_nodelay(true);
        // A pooled connection whose peer vanished (NAT timeout, crashed host) is found by the
        // kernel instead of by the next request's timeout (reqwest's defaults).
        tcp.set_keepalive(Some(Duration::from_secs(15)));
        tcp.set_keepalive_interval(Some(Duration::from_secs(15)));
        tcp.set_keepalive_retries(Some(3));
        tcp.enforce_http(false);
        // The process's default crypto provider when it has one, else ring: rustls' own
        // default panics when both ring and aws-lc-rs are compiled in (another dependency of
        // the application may enable the second).
        let provider = rustls::crypto::CryptoProvider::get_default()
            .cloned()
            .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(provider)
            .map_err(|e| Error::invalid_input(format!("cannot set up TLS: {e}")))?
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(tcp);
        let connector = Connector {
            inner: https,
            limit: cfg.connect_timeout,
        };
        let http = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(50))
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(connector);
        let bad = |what: &str, e: &dyn std::fmt::Display| {
            Error::invalid_input(format!("endpoint {what} is not usable: {e}"))
        };
        let scheme = Scheme::try_from(cfg.endpoint.scheme.as_str())
            .map_err(|e| bad(&cfg.endpoint.scheme, &e))?;
        let name = cfg.endpoint.authority(None);
        let (authority, host) = authority_and_host(&scheme, &name).map_err(|e| bad(&name, &e))?;
        let user_agent =
            HeaderValue::try_from(cfg.user_agent.as_str()).map_err(|e| bad("user agent", &e))?;
        Ok(Self {
            http,
            scheme,
            authority,
            host,
            user_agent,
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

    /// The request's URI ([`Self::url`]): the endpoint's scheme, its authority (with the
    /// bucket in front for virtual-hosted style) and the request's encoded path and query;
    /// and its `Host`. Nothing is normalised: the path goes out as signed.
    fn request_uri(&self, cfg: &Config, req: &Request) -> Result<(Uri, HeaderValue), Error> {
        let style = cfg.addressing;
        let bad = |e: &dyn std::fmt::Display| {
            Error::invalid_input(format!("cannot build the request URL: {e}"))
        };
        let (authority, host) = match (style, req.bucket.as_deref()) {
            (AddressingStyle::VirtualHosted, Some(b)) => {
                authority_and_host(&self.scheme, &cfg.endpoint.authority(Some(b)))
                    .map_err(|e| bad(&e))?
            }
            _ => (self.authority.clone(), self.host.clone()),
        };
        let pq = PathAndQuery::try_from(req.path_and_query(style)).map_err(|e| bad(&e))?;
        let uri = Uri::builder()
            .scheme(self.scheme.clone())
            .authority(authority)
            .path_and_query(pq)
            .build()
            .map_err(|e| bad(&e))?;
        Ok((uri, host))
    }

    /// Sends `req` (signed): its headers move into the HTTP request as they are.
    pub async fn send(
        &self,
        cfg: &Config,
        req: Request,
        body: HttpBody,
    ) -> Result<HttpResponse, Error> {
        let (uri, host) = self.request_uri(cfg, &req)?;
        let mut r = http::Request::new(body);
        *r.uri_mut() = uri;
        *r.method_mut() = req.method;
        *r.headers_mut() = req.headers;
        let h = r.headers_mut();
        h.entry(http::header::HOST).or_insert(host);
        h.entry(http::header::USER_AGENT)
            .or_insert_with(|| self.user_agent.clone());
        self.http.request(r).await.map_err(|e| send_error(&e))
    }
}

/// The whole (small) body of `resp`.
pub(crate) async fn read_all(resp: HttpResponse) -> Result<Bytes, hyper::Error> {
    use http_body_util::BodyExt;
    Ok(resp.into_body().collect().await?.to_bytes())
}

/// At most `cap` bytes of `resp`'s body (an error body from a peer that may misbehave); what
/// arrived before a failure.
pub(crate) async fn read_capped(resp: HttpResponse, cap: usize) -> Vec<u8> {
    use http_body_util::BodyExt;
    let mut body = resp.into_body();
    let mut out = Vec::new();
    while let Some(Ok(frame)) = body.frame().await {
        if let Ok(chunk) = frame.into_data() {
            out.extend_from_slice(&chunk);
            if out.len() >= cap {
                out.truncate(cap);
                break;
            }
        }
    }
    out
}

/// `resp`'s body as a stream of its data chunks.
pub(crate) fn data_stream(
    resp: HttpResponse,
) -> impl futures_util::Stream<Item = Result<Bytes, hyper::Error>> + Send {
    http_body_util::BodyDataStream::new(resp.into_body())
}

/// A request body held in memory.
pub(crate) fn full_body(b: Bytes) -> HttpBody {
    use http_body_util::BodyExt;
    http_body_util::Full::new(b)
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A request body read from `stream` as the connection takes it (length unknown to hyper:
/// callers that know it send `Content-Length`).
pub(crate) fn stream_body<S>(stream: S) -> HttpBody
where
    S: futures_util::Stream<Item = std::io::Result<Bytes>> + Send + 'static,
{
    use futures_util::TryStreamExt;
    use http_body_util::BodyExt;
    http_body_util::StreamBody::new(stream.map_ok(http_body::Frame::data)).boxed_unsync()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use ossguard_proto::error::ErrorClass;

    fn failure(e: &Error) -> Option<TransportFailure> {
        match e.kind() {
            ErrorKind::Transport { failure, .. } => Some(*failure),
            _ => None,
        }
    }

    /// `Host` as hyper would write it: the port only when it is not the scheme's default.
    #[test]
    fn host_header_omits_default_ports_only() {
        let h = |scheme: &str, authority: &str| {
            let v = host_value(
                &Scheme::try_from(scheme).unwrap(),
                &Authority::try_from(authority).unwrap(),
            );
            v.unwrap().to_str().unwrap().to_owned()
        };
        assert_eq!(
            h("https", "oss-cn-hangzhou.aliyuncs.com"),
            "oss-cn-hangzhou.aliyuncs.com"
        );
        assert_eq!(h("https", "b.oss.example:443"), "b.oss.example");
        assert_eq!(h("http", "127.0.0.1:80"), "127.0.0.1");
        assert_eq!(h("http", "127.0.0.1:9555"), "127.0.0.1:9555");
        assert_eq!(h("https", "[::1]:8443"), "[::1]:8443");
        // The URI's authority is the same text (HTTP/2: `:authority` and `Host` agree).
        let (a, host) = authority_and_host(&Scheme::HTTPS, "b.oss.example:443").unwrap();
        assert_eq!(
            (a.as_str(), host.to_str().unwrap()),
            ("b.oss.example", "b.oss.example")
        );
    }

    /// The connect timeout covers the TLS handshake: a peer that accepts the TCP connection
    /// and never answers the ClientHello is a connect timeout (the request was never sent),
    /// not a wait for the first byte.
    #[tokio::test]
    async fn a_stalled_tls_handshake_is_a_connect_timeout() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let silent = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = listener.accept().await {
                held.push(s);
            }
        });
        let client = crate::Client::builder()
            .endpoint(format!("https://127.0.0.1:{port}"))
            .credentials(ossguard_proto::auth::credentials::Credentials::new(
                "ak", "sk",
            ))
            .connect_timeout(Duration::from_millis(200))
            .build()
            .unwrap();
        let (t, c) = (&client.inner.transport, &client.inner.config);
        let req = Request::new(http::Method::GET, Some("b"), Some("k"));
        let sent = tokio::time::timeout(
            Duration::from_secs(10),
            t.send(c, req, full_body(Bytes::new())),
        )
        .await
        .expect("the connect timeout must end the attempt");
        let e = sent.unwrap_err();
        assert_eq!(failure(&e), Some(TransportFailure::ConnectTimeout), "{e}");
        assert!(e.to_string().contains("TLS"), "{e}");
        silent.abort();
    }

    /// A peer that answers the ClientHello with something other than TLS (an `https://`
    /// endpoint pointed at a plain-HTTP port) fails the handshake: `TlsHandshake`, still a
    /// request that was never sent.
    #[tokio::test]
    async fn a_failed_tls_handshake_is_named() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let plain = tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut hello = [0u8; 512];
                let _ = s.read(&mut hello).await;
                let _ = s
                    .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        });
        let client = crate::Client::builder()
            .endpoint(format!("https://127.0.0.1:{port}"))
            .credentials(ossguard_proto::auth::credentials::Credentials::new(
                "ak", "sk",
            ))
            .build()
            .unwrap();
        let (t, c) = (&client.inner.transport, &client.inner.config);
        let req = Request::new(http::Method::GET, Some("b"), Some("k"));
        let e = t.send(c, req, full_body(Bytes::new())).await.unwrap_err();
        assert_eq!(failure(&e), Some(TransportFailure::TlsHandshake), "{e}");
        assert!(e.to_string().contains("serves HTTPS"), "{e}");
        assert!(TransportFailure::TlsHandshake.request_never_sent());
        plain.abort();
    }

    /// A refused connection is a connect failure; a head cut short is a reset; a body cut
    /// short is a truncation — each transient, each with the cause in its message.
    #[tokio::test]
    async fn failures_are_classified_by_where_they_happen() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let cfg = crate::Client::builder()
            .endpoint("http://127.0.0.1:1")
            .credentials(ossguard_proto::auth::credentials::Credentials::new(
                "ak", "sk",
            ))
            .build()
            .unwrap();
        let t = &cfg.inner.transport;
        let c = &cfg.inner.config;
        let get = || Request::new(http::Method::GET, Some("b"), Some("k"));
        // Nothing listens on port 1.
        let e = t.send(c, get(), full_body(Bytes::new())).await.unwrap_err();
        assert_eq!(failure(&e), Some(TransportFailure::ConnectFailed), "{e}");
        assert!(e.to_string().contains("refused"), "{e}");
        assert_eq!(e.class(), ErrorClass::Transient, "{e}");

        // A server that answers half a head, then one that promises 10 bytes and sends 3.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            for reply in [
                &b"HTTP/1.1 200 OK\r\nContent-Le"[..],
                &b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"[..],
            ] {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                s.write_all(reply).await.unwrap();
            }
        });
        let cfg = crate::Client::builder()
            .endpoint(format!("http://127.0.0.1:{port}"))
            .credentials(ossguard_proto::auth::credentials::Credentials::new(
                "ak", "sk",
            ))
            .build()
            .unwrap();
        let (t, c) = (&cfg.inner.transport, &cfg.inner.config);
        let e = t.send(c, get(), full_body(Bytes::new())).await.unwrap_err();
        assert_eq!(failure(&e), Some(TransportFailure::ConnectionReset), "{e}");
        let resp = t.send(c, get(), full_body(Bytes::new())).await.unwrap();
        let e = body_error(&read_all(resp).await.unwrap_err());
        assert_eq!(failure(&e), Some(TransportFailure::BodyTruncated), "{e}");
    }
}
