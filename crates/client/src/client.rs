//! The client handle and the one path every request takes: sign, send, check, classify.
//!
//! [`Client::attempt`] is one try; the resilience pipeline (`crate::pipeline`) decides how many.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use ossguard_proto::auth::{presign, v1, v4};
use ossguard_proto::crc64::Crc64;
use ossguard_proto::error::{ServiceError, TransportFailure};
use ossguard_proto::{Operation, Request};

use std::sync::atomic::Ordering;

use bytes::Bytes;
use ossguard_resilience::progress::{Progress, Stall};

use crate::body::Body;
use crate::config::{Config, SignatureVersion};
use crate::error::Error;
use crate::pipeline::state::EndpointState;
use crate::pipeline::{spec_of, Answer, OpRun, Response};
use crate::transport::{body_error, read_all, read_capped, HttpResponse, Transport};

/// An OSS client. Cheap to clone (an `Arc`), `Send + Sync`, pooled connections.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub config: Config,
    pub transport: Transport,
    pub endpoint: crate::pipeline::state::EndpointState,
    /// V4 signing keys change once a day (or when the secret rotates): derived once, not per request.
    pub signing_keys: v4::SigningKeyCache,
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

/// A successful response whose body has not been read yet, plus what we sent. `run` is the
/// operation still in progress (its bulkhead slot and state machine): a data GET hands it to
/// its body stream so that resumes stay attempts of the same operation.
pub(crate) struct Sent {
    pub response: HttpResponse,
    /// CRC-64 of the request body as sent.
    pub sent_crc: u64,
    pub run: OpRun,
}

impl Client {
    /// Starts a [`ClientBuilder`](crate::ClientBuilder): endpoint, credentials, policy, metrics …
    pub fn builder() -> crate::config::ClientBuilder {
        crate::config::ClientBuilder::default()
    }

    pub(crate) fn from_config(config: Config) -> Result<Self, Error> {
        let transport = Transport::new(&config)?;
        let endpoint = crate::pipeline::state::EndpointState::new(
            config.policy.clone(),
            config.metrics.clone(),
            &config.endpoint_name,
        );
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                transport,
                endpoint,
                signing_keys: v4::SigningKeyCache::default(),
            }),
        })
    }

    /// The region id requests are signed for (`cn-hangzhou`).
    pub fn region(&self) -> &str {
        &self.inner.config.region
    }

    /// What the resilience pipeline has done so far (attempts, retries, hedges, …).
    pub fn stats(&self) -> crate::pipeline::state::StatsSnapshot {
        self.inner.endpoint.snapshot()
    }

    /// Registers this client's metric families (`observability/METRICS.md`) into `registry`.
    /// A registry takes one client's families once; for several clients use
    /// `registry.sub_registry_with_label(..)` per client, or build them with one shared
    /// [`ClientMetrics`](crate::metrics::ClientMetrics) registered once.
    pub fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        self.inner.config.metrics.register(registry);
        if let Some(audit) = &self.inner.config.audit {
            registry.register(
                "ossguard_audit_dropped",
                "Audit records dropped because the audit queue was full",
                audit.dropped_counter(),
            );
        }
    }

    /// The metric families this client records into.
    pub fn metrics(&self) -> &crate::metrics::ClientMetrics {
        &self.inner.config.metrics
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
            SignatureVersion::V4 => {
                let keys = Some(&self.inner.signing_keys);
                v4::sign_cached(req, &creds, &self.config().region, now, &[], keys)
            }
            SignatureVersion::V1 => v1::sign(req, &creds, now, v1::DateHeader::Date),
        };
        r.map_err(|e| Error::invalid_input(e.to_string()))
    }

    /// Runs `op` through the pipeline. The first successful response is returned with its body
    /// unread (and the operation still open, see [`Sent::run`]); a non-replayable body gets
    /// exactly one attempt.
    pub(crate) async fn execute(
        &self,
        op: Operation,
        req: Request,
        body: Body,
    ) -> Result<Sent, Error> {
        // Boxed: the pipeline's state lives on the heap, so an operation's future stays small
        // for callers that hold many in flight or move them into tasks (`get_object`'s: 2,496
        // → 792 bytes in a release build; no CPU difference measurable on small GETs).
        Box::pin(async move {
            let mut run = self.begin(op, spec_of(op, &req, &body), &req).await?;
            let answer = self.drive(&mut run, &req, body, false).await?;
            match answer.response {
                Response::Streaming(response) => Ok(Sent {
                    response,
                    sent_crc: answer.sent_crc,
                    run,
                }),
                Response::Read { .. } => unreachable!("execute leaves the body unread"),
            }
        })
        .await
    }

    /// Executes and reads a small (XML) body inside each attempt: a body that breaks or stalls
    /// is retried like any transient failure, under the operation's deadline and budget.
    pub(crate) async fn execute_read(
        &self,
        op: Operation,
        req: Request,
        body: Body,
    ) -> Result<(http::HeaderMap, u64, bytes::Bytes), Error> {
        // Boxed like `execute`.
        Box::pin(async move {
            let mut run = self.begin(op, spec_of(op, &req, &body), &req).await?;
            let answer = self.drive(&mut run, &req, body, true).await?;
            match answer.response {
                Response::Read { headers, body, .. } => Ok((headers, answer.sent_crc, body)),
                Response::Streaming(r) => Ok((r.headers().clone(), answer.sent_crc, Bytes::new())),
            }
        })
        .await
    }

    /// One attempt of `op`: sign (fresh date every attempt), send, and turn error responses
    /// into [`Error`]s. `first_byte` bounds the wait for response headers (`None`: no bound but
    /// progress). A data upload's body is watched by the progress guard (idle timeout and
    /// throughput floor, until its response headers arrive). With `read_body` the (small)
    /// response body is read here too, bounded by the operation timeout.
    pub(crate) async fn attempt(
        &self,
        op: Operation,
        template: &Request,
        body: Body,
        first_byte: Option<Duration>,
        read_body: bool,
        silence: Option<Arc<tokio::sync::Notify>>,
    ) -> Result<Answer, Error> {
        let ep = &self.inner.endpoint;
        let mut req = template.clone();
        // RFC 9110 §8.6: no Content-Length on a GET or HEAD that carries no content.
        let bodiless_read =
            body.is_empty() && matches!(req.method, http::Method::GET | http::Method::HEAD);
        if let Some(len) = body.len().filter(|_| !bodiless_read) {
            req.set_header("content-length", &len.to_string())
                .map_err(|e| Error::invalid_input(e.to_string()))?;
        }
        self.sign(&mut req).await.map_err(|e| e.in_op(op.name()))?;
        let crc = Arc::new(Mutex::new(Crc64::new()));
        let watch_upload = body.len() != Some(0) && !op.is_silent_server_work();
        let progress =
            watch_upload.then(|| Arc::new(Mutex::new(Progress::new(ep.policy.progress))));
        let rbody = body
            .into_http(crc.clone(), progress.clone().map(|p| (p, ep.origin)))
            .await?;
        let started = tokio::time::Instant::now();
        let inner = async {
            let resp = self.inner.transport.send(self.config(), req, rbody).await?;
            let first_byte = started.elapsed();
            let status = resp.status().as_u16();
            ep.metrics
                .op(op)
                .first_byte
                .observe(first_byte.as_secs_f64());
            let span = tracing::Span::current();
            span.record("status", status);
            if let Some(id) = resp.headers().get(crate::ops::names::REQUEST_ID) {
                span.record("request_id", id.to_str().unwrap_or(""));
            }
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
            Ok((resp, first_byte))
        };
        let guarded = async {
            match &progress {
                None => inner.await,
                Some(p) => {
                    p.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .waiting(ep.now());
                    tokio::select! {
                        r = inner => r,
                        stall = watch(p, ep, silence) => {
                            ep.stats.slow_connections_cut.fetch_add(1, Ordering::Relaxed);
                            Err(Error::transport(
                                TransportFailure::BodyStalled,
                                format!("sending the body: {stall}"),
                            ))
                        }
                    }
                }
            }
        };
        let resp = match first_byte {
            None => guarded.await,
            Some(t) => match tokio::time::timeout(t, guarded).await {
                Ok(r) => r,
                Err(_) => Err(Error::transport(
                    TransportFailure::FirstByteTimeout,
                    format!("no response headers within {t:?}"),
                )),
            },
        }
        .map_err(|e| e.in_op(op.name()))?;
        let (resp, first_byte) = resp;
        let sent_crc = crc.lock().unwrap_or_else(|e| e.into_inner()).value();
        let response = if read_body {
            let headers = resp.headers().clone();
            let limit = self.config().operation_timeout;
            let body = tokio::time::timeout(limit, read_all(resp))
                .await
                .map_err(|_| {
                    Error::transport(
                        TransportFailure::BodyStalled,
                        format!("response body not read within {limit:?}"),
                    )
                    .in_op(op.name())
                })?
                .map_err(|e| body_error(&e).in_op(op.name()))?;
            Response::Read { headers, body }
        } else {
            Response::Streaming(resp)
        };
        Ok(Answer {
            response,
            sent_crc,
            first_byte,
        })
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

/// Resolves when the progress guard abandons the connection (never otherwise); signals
/// `silence` once an upload has been silent for the idle time after handing out its body.
pub(crate) async fn watch(
    p: &Mutex<Progress>,
    ep: &EndpointState,
    mut silence: Option<Arc<tokio::sync::Notify>>,
) -> StallReport {
    loop {
        let (verdict, silent) = {
            let p = p.lock().unwrap_or_else(|e| e.into_inner());
            let now = ep.now();
            (p.check(now), p.silent_after_send(now))
        };
        if silent {
            if let Some(n) = silence.take() {
                n.notify_one();
            }
        }
        match verdict {
            Ok(next) => tokio::time::sleep(next.min(Duration::from_secs(1))).await,
            Err(stall) => {
                let cfg = *p.lock().unwrap_or_else(|e| e.into_inner()).config();
                return StallReport { stall, cfg };
            }
        }
    }
}

/// Why a connection was abandoned, for the error message.
pub(crate) struct StallReport {
    pub stall: Stall,
    pub cfg: ossguard_resilience::progress::ProgressConfig,
}

impl std::fmt::Display for StallReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.stall {
            Stall::Idle => write!(f, "no progress for {:?}", self.cfg.idle),
            Stall::TooSlow { bytes_per_sec } => write!(
                f,
                "{bytes_per_sec} B/s over {:?}, below the {} B/s floor",
                self.cfg.window, self.cfg.min_bytes_per_sec
            ),
        }?;
        write!(f, "; the connection was abandoned")
    }
}
