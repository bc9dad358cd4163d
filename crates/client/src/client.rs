//! The client handle and the one path every request takes: sign, send, check, classify.
//!
//! [`Client::attempt`] is one try; the resilience pipeline (`crate::pipeline`) decides how many.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use ossguard_proto::auth::{presign, v1, v4};
use ossguard_proto::crc64::Crc64;
use ossguard_proto::error::{ServiceError, TransportFailure};
use ossguard_proto::{Operation, Request};

use crate::body::Body;
use crate::config::{Config, SignatureVersion};
use crate::error::Error;
use crate::transport::Transport;

/// An OSS client. Cheap to clone (an `Arc`), `Send + Sync`, pooled connections.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub config: Config,
    pub transport: Transport,
    pub endpoint: crate::pipeline::state::EndpointState,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = &self.inner.config;
        f.debug_struct("Client")
            .field("endpoint", &c.endpoint)
            .field("region", &c.region)
            .field("addressing", &c.addressing)
            .field("signature", &c.signature)
            .finish_non_exhaustive()
    }
}

/// A successful response whose body has not been read yet, plus what we sent.
pub(crate) struct Sent {
    pub response: reqwest::Response,
    /// CRC-64 of the request body as sent.
    pub sent_crc: u64,
}

impl Client {
    pub fn builder() -> crate::config::ClientBuilder {
        crate::config::ClientBuilder::default()
    }

    pub(crate) fn from_config(config: Config) -> Result<Self, Error> {
        let transport = Transport::new(&config)?;
        let endpoint = crate::pipeline::state::EndpointState::new(config.policy.clone());
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                transport,
                endpoint,
            }),
        })
    }

    pub fn region(&self) -> &str {
        &self.inner.config.region
    }

    /// What the resilience pipeline has done so far (attempts, retries, hedges, …).
    pub fn stats(&self) -> crate::pipeline::state::StatsSnapshot {
        self.inner.endpoint.stats.snapshot()
    }

    /// The circuit breaker's state for this client's endpoint.
    pub fn breaker_state(&self) -> ossguard_resilience::breaker::BreakerState {
        self.inner.endpoint.breaker_state()
    }

    fn config(&self) -> &Config {
        &self.inner.config
    }

    async fn sign(&self, req: &mut Request) -> Result<(), Error> {
        let creds = self.config().credentials.credentials().await?;
        let now = self.inner.endpoint.signing_time();
        let r = match self.config().signature {
            SignatureVersion::V4 => v4::sign(req, &creds, &self.config().region, now, &[]),
            SignatureVersion::V1 => v1::sign(req, &creds, now, v1::DateHeader::Date),
        };
        r.map_err(|e| Error::invalid_input(e.to_string()))
    }

    /// One attempt of `op`: sign (fresh date every attempt), send, and turn error responses
    /// into [`Error`]s within `timeout`. The response body of a success is left unread.
    pub(crate) async fn attempt(
        &self,
        op: Operation,
        template: &Request,
        body: Body,
        timeout: Duration,
    ) -> Result<Sent, Error> {
        let mut req = template.clone();
        if let Some(len) = body.len() {
            req.set_header("content-length", &len.to_string())
                .map_err(|e| Error::invalid_input(e.to_string()))?;
        }
        self.sign(&mut req).await.map_err(|e| e.in_op(op.name()))?;
        let crc = Arc::new(Mutex::new(Crc64::new()));
        let rbody = body.into_reqwest(crc.clone()).await?;
        let inner = async {
            let resp = self
                .inner
                .transport
                .send(self.config(), &req, rbody)
                .await?;
            let status = resp.status().as_u16();
            if status >= 300 {
                let headers = resp.headers().clone();
                // Error bodies are small; cap what we read from a misbehaving peer.
                let body = if status == 304 {
                    Vec::new()
                } else {
                    read_capped(resp, 64 * 1024).await
                };
                let e = ServiceError::from_response(status, &headers, &body);
                let hint = ossguard_proto::error::server_delay_hint(&headers, SystemTime::now());
                let date = headers
                    .get("date")
                    .and_then(|d| d.to_str().ok())
                    .and_then(ossguard_proto::time::parse_http_date);
                return Err(Error::from(e).with_server_facts(hint, date));
            }
            Ok(resp)
        };
        let resp = match tokio::time::timeout(timeout, inner).await {
            Ok(r) => r.map_err(|e| e.in_op(op.name()))?,
            Err(_) => {
                return Err(Error::transport(
                    TransportFailure::FirstByteTimeout,
                    format!("no response headers within {timeout:?}"),
                )
                .in_op(op.name()))
            }
        };
        let sent_crc = crc.lock().unwrap_or_else(|e| e.into_inner()).value();
        Ok(Sent {
            response: resp,
            sent_crc,
        })
    }

    /// Executes and reads a small (XML) body, bounded by the operation timeout.
    pub(crate) async fn execute_read(
        &self,
        op: Operation,
        req: Request,
        body: Body,
    ) -> Result<(http::HeaderMap, u64, bytes::Bytes), Error> {
        let sent = self.execute(op, req, body).await?;
        let headers = sent.response.headers().clone();
        let bytes = tokio::time::timeout(self.config().operation_timeout, sent.response.bytes())
            .await
            .map_err(|_| {
                Error::transport(TransportFailure::BodyStalled, "response body timed out")
                    .in_op(op.name())
            })?
            .map_err(|e| {
                Error::transport(crate::transport::classify_reqwest(&e), e.to_string())
                    .in_op(op.name())
            })?;
        Ok((headers, sent.sent_crc, bytes))
    }

    /// A presigned URL for `method` on `bucket/key`, valid for `expires` (≤ 7 days for V4) by
    /// the server's clock as far as the client has learned it.
    pub async fn presign_url(
        &self,
        method: http::Method,
        bucket: &str,
        key: &str,
        expires: Duration,
        version: SignatureVersion,
    ) -> Result<String, Error> {
        let creds = self.config().credentials.credentials().await?;
        let mut req = Request::new(method, Some(bucket), Some(key));
        // The server's clock (learned from RequestTimeTooSkewed): validity counts from its now.
        let now = self.inner.endpoint.signing_time();
        match version {
            SignatureVersion::V4 => {
                presign::presign_v4(&mut req, &creds, &self.config().region, now, expires, &[])
            }
            SignatureVersion::V1 => presign::presign_v1(&mut req, &creds, now + expires),
        }
        .map_err(|e| Error::invalid_input(e.to_string()))?;
        Ok(Transport::url(self.config(), &req))
    }
}

async fn read_capped(mut resp: reqwest::Response, cap: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        out.extend_from_slice(&chunk);
        if out.len() >= cap {
            out.truncate(cap);
            break;
        }
    }
    out
}
