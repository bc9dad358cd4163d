//! Client configuration and its builder.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use ossguard_proto::auth::Credentials;
use ossguard_proto::AddressingStyle;

use crate::client::Client;
use crate::credentials::{self, CredentialsProvider, StaticCredentials};
use crate::error::Error;

/// Which signature the client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignatureVersion {
    /// Signature V1 (`Authorization: OSS <AccessKeyId>:<Signature>`): the older scheme, for
    /// endpoints and tools that still need it.
    V1,
    /// Signature V4 (`OSS4-HMAC-SHA256`, scoped to the region): the default.
    #[default]
    V4,
}

/// A parsed endpoint: `scheme://host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub scheme: String,
    pub host: String,
    pub port: Option<u16>,
}

impl Endpoint {
    pub fn parse(s: &str) -> Result<Self, Error> {
        let s = s.trim().trim_end_matches('/');
        let (scheme, rest) = match s.split_once("://") {
            Some((sc, r)) => (sc.to_ascii_lowercase(), r),
            None => ("https".to_owned(), s),
        };
        if scheme != "http" && scheme != "https" {
            return Err(Error::invalid_input(format!(
                "endpoint scheme must be http or https, not {scheme:?}"
            )));
        }
        let uri: http::uri::Authority = rest
            .parse()
            .map_err(|_| Error::invalid_input(format!("endpoint {s:?} is not host[:port]")))?;
        Ok(Self {
            scheme,
            host: uri.host().trim_matches(['[', ']']).to_owned(),
            port: uri.port_u16(),
        })
    }

    /// IP literals and localhost only work path style.
    pub fn default_style(&self) -> AddressingStyle {
        if self.host.parse::<IpAddr>().is_ok() || self.host.eq_ignore_ascii_case("localhost") {
            AddressingStyle::Path
        } else {
            AddressingStyle::VirtualHosted
        }
    }

    /// `oss-cn-hangzhou.aliyuncs.com` → `cn-hangzhou`.
    pub fn region_hint(&self) -> Option<String> {
        let first = self.host.split('.').next()?;
        let r = first.strip_prefix("oss-")?;
        Some(r.trim_end_matches("-internal").to_owned())
    }

    pub fn authority(&self, bucket: Option<&str>) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let host = match bucket {
            Some(b) => format!("{b}.{host}"),
            None => host,
        };
        match self.port {
            Some(p) => format!("{host}:{p}"),
            None => host,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub endpoint: Endpoint,
    pub region: String,
    pub addressing: AddressingStyle,
    pub signature: SignatureVersion,
    pub connect_timeout: Duration,
    pub operation_timeout: Duration,
    pub user_agent: String,
    pub credentials: Arc<dyn CredentialsProvider>,
    pub policy: crate::pipeline::policy::Policy,
    pub metrics: crate::metrics::ClientMetrics,
    /// The `endpoint` label of this client's breaker and budget metrics.
    pub endpoint_name: String,
    pub audit: Option<crate::audit::AuditLog>,
}

/// Builds a [`Client`]. Defaults: V4 signatures, path style for IPs/localhost and
/// virtual-hosted otherwise, connect 5 s, idle read 10 s, the resilience policy of
/// DESIGN.md §4 (30 s per operation, all attempts included).
#[derive(Debug, Default)]
pub struct ClientBuilder {
    endpoint: Option<String>,
    region: Option<String>,
    addressing: Option<AddressingStyle>,
    signature: SignatureVersion,
    connect_timeout: Option<Duration>,
    read_timeout: Option<Duration>,
    operation_timeout: Option<Duration>,
    user_agent: Option<String>,
    credentials: Option<Arc<dyn CredentialsProvider>>,
    policy: Option<crate::pipeline::policy::Policy>,
    metrics: Option<crate::metrics::ClientMetrics>,
    endpoint_name: Option<String>,
    audit: Option<crate::audit::AuditLog>,
}

impl ClientBuilder {
    /// `https://oss-cn-hangzhou.aliyuncs.com`, `http://127.0.0.1:9000` …
    pub fn endpoint(mut self, e: impl Into<String>) -> Self {
        self.endpoint = Some(e.into());
        self
    }
    /// Region id (`cn-hangzhou`); derived from an `oss-<region>` endpoint when not given.
    pub fn region(mut self, r: impl Into<String>) -> Self {
        self.region = Some(r.into());
        self
    }
    /// Path style (`host/bucket/key`) or virtual-hosted style (`bucket.host/key`). Default: path
    /// style for IP addresses and `localhost`, virtual-hosted otherwise.
    pub fn addressing(mut self, a: AddressingStyle) -> Self {
        self.addressing = Some(a);
        self
    }
    /// The signature to send (default [`SignatureVersion::V4`]).
    pub fn signature_version(mut self, v: SignatureVersion) -> Self {
        self.signature = v;
        self
    }
    /// Fixed credentials: an access key pair, optionally with an STS security token.
    pub fn credentials(mut self, c: Credentials) -> Self {
        self.credentials = Some(Arc::new(StaticCredentials(c)));
        self
    }
    /// Credentials from a provider, asked before every attempt (STS, rotation).
    pub fn credentials_provider(mut self, p: Arc<dyn CredentialsProvider>) -> Self {
        self.credentials = Some(p);
        self
    }
    /// Use `OSS_ACCESS_KEY_ID` / `OSS_ACCESS_KEY_SECRET` / `OSS_SESSION_TOKEN` (or the
    /// `ALIBABA_CLOUD_*` names) — also what happens when no credentials are given.
    pub fn credentials_from_env(mut self) -> Self {
        self.credentials = None;
        self
    }
    /// Longest wait for a connection, TCP and TLS (default 5 s).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = Some(d);
        self
    }
    /// Longest silence of a connection while it moves a body, either direction (sets the
    /// policy's [`progress.idle`](ossguard_resilience::progress::ProgressConfig::idle); default
    /// 10 s).
    pub fn read_timeout(mut self, d: Duration) -> Self {
        self.read_timeout = Some(d);
        self
    }
    /// Longest wait for a small (XML) response body once its headers arrived. The deadline of
    /// a whole operation, all attempts included, is [`Policy::deadline`](crate::Policy).
    pub fn operation_timeout(mut self, d: Duration) -> Self {
        self.operation_timeout = Some(d);
        self
    }
    /// The resilience policy (default: DESIGN.md §4; `Policy::none()` for a naive client).
    pub fn policy(mut self, p: crate::pipeline::policy::Policy) -> Self {
        self.policy = Some(p);
        self
    }

    /// Record into these metric families (default: the client's own; see
    /// [`Client::register_metrics`](crate::Client::register_metrics)).
    pub fn metrics(mut self, m: crate::metrics::ClientMetrics) -> Self {
        self.metrics = Some(m);
        self
    }

    /// The `endpoint` label of the breaker and retry-budget metrics (default `primary`).
    pub fn endpoint_name(mut self, name: impl Into<String>) -> Self {
        self.endpoint_name = Some(name.into());
        self
    }

    /// Write one JSON line per logical operation to this audit log (default: none).
    pub fn audit_log(mut self, log: crate::audit::AuditLog) -> Self {
        self.audit = Some(log);
        self
    }

    /// The `User-Agent` header (default `ossguard/<version>`).
    pub fn user_agent(mut self, ua: impl Into<String>) -> Self {
        self.user_agent = Some(ua.into());
        self
    }

    /// Builds the client. Fails without an endpoint (`OSS_ENDPOINT` is read when none was given),
    /// with a malformed one, or without credentials.
    pub fn build(self) -> Result<Client, Error> {
        let endpoint = self
            .endpoint
            .or_else(|| std::env::var("OSS_ENDPOINT").ok())
            .ok_or_else(|| {
                Error::invalid_input("no endpoint: call .endpoint() or set OSS_ENDPOINT")
            })?;
        let endpoint = Endpoint::parse(&endpoint)?;
        let region = self
            .region
            .or_else(|| std::env::var("OSS_REGION").ok().filter(|r| !r.is_empty()))
            .or_else(|| endpoint.region_hint())
            .unwrap_or_else(|| "cn-hangzhou".to_owned());
        let region = region.strip_prefix("oss-").unwrap_or(&region).to_owned();
        let credentials = match self.credentials {
            Some(c) => c,
            None => Arc::new(StaticCredentials(credentials::from_env()?)),
        };
        let mut policy = self.policy.unwrap_or_default();
        if let Some(t) = self.read_timeout {
            policy.progress.idle = t;
        }
        let config = Config {
            addressing: self.addressing.unwrap_or_else(|| endpoint.default_style()),
            endpoint,
            region,
            signature: self.signature,
            connect_timeout: self.connect_timeout.unwrap_or(Duration::from_secs(5)),
            operation_timeout: self.operation_timeout.unwrap_or(Duration::from_secs(30)),
            user_agent: self
                .user_agent
                .unwrap_or_else(|| format!("ossguard/{}", env!("CARGO_PKG_VERSION"))),
            credentials,
            policy,
            metrics: self.metrics.unwrap_or_default(),
            endpoint_name: self.endpoint_name.unwrap_or_else(|| "primary".to_owned()),
            audit: self.audit,
        };
        Client::from_config(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        let e = Endpoint::parse("oss-cn-beijing.aliyuncs.com").unwrap();
        assert_eq!(
            (e.scheme.as_str(), e.default_style()),
            ("https", AddressingStyle::VirtualHosted)
        );
        assert_eq!(e.region_hint().as_deref(), Some("cn-beijing"));
        assert_eq!(e.authority(Some("b")), "b.oss-cn-beijing.aliyuncs.com");
        let e = Endpoint::parse("http://127.0.0.1:9000/").unwrap();
        assert_eq!(
            (e.port, e.default_style()),
            (Some(9000), AddressingStyle::Path)
        );
        assert_eq!(e.authority(None), "127.0.0.1:9000");
        assert!(Endpoint::parse("ftp://x").is_err());
    }
}
