//! Sending one signed request over HTTP (reqwest, pooled connections).

use ossguard_proto::error::TransportFailure;
use ossguard_proto::{AddressingStyle, Request};

use crate::config::Config;
use crate::error::Error;

pub(crate) struct Transport {
    http: reqwest::Client,
}

/// Maps a reqwest failure onto the classification the resilience layer understands.
pub(crate) fn classify_reqwest(e: &reqwest::Error) -> TransportFailure {
    if e.is_connect() {
        if e.is_timeout() {
            TransportFailure::ConnectTimeout
        } else {
            TransportFailure::ConnectFailed
        }
    } else if e.is_timeout() {
        TransportFailure::FirstByteTimeout
    } else if e.is_body() || e.is_decode() {
        TransportFailure::BodyTruncated
    } else {
        TransportFailure::ConnectionReset
    }
}

impl Transport {
    pub fn new(cfg: &Config) -> Result<Self, Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(cfg.connect_timeout)
            .read_timeout(cfg.read_timeout)
            .pool_idle_timeout(std::time::Duration::from_secs(50))
            .user_agent(cfg.user_agent.clone())
            .no_proxy()
            .build()
            .map_err(|e| Error::invalid_input(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self { http })
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

    pub async fn send(
        &self,
        cfg: &Config,
        req: &Request,
        body: reqwest::Body,
    ) -> Result<reqwest::Response, Error> {
        let url = Self::url(cfg, req);
        let mut rb = self.http.request(req.method.clone(), &url).body(body);
        for (n, v) in &req.headers {
            rb = rb.header(n, v);
        }
        rb.send()
            .await
            .map_err(|e| Error::transport(classify_reqwest(&e), e.to_string()))
    }
}
