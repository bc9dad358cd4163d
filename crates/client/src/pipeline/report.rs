//! What one logical operation reports when it ends: its metrics (outcome, duration, in-flight
//! gauge), its audit line and its tracing span's result. Done in `Drop`, so every way an
//! operation ends — success, error, or a caller that drops the future or the body — is
//! reported exactly once; an operation dropped without an outcome counts as `cancelled`.

use std::sync::Arc;

use ossguard_proto::Operation;
use time::format_description::well_known::Rfc3339;

use crate::audit::{AuditLog, AuditRecord};
use crate::error::Error;
use crate::metrics::{AttemptKind, ClientMetrics, OpOutcome};

/// Who and what, for the audit line (collected only when an audit log is configured).
#[derive(Debug, Default)]
pub(crate) struct Target {
    pub principal: Option<String>,
    pub bucket: Option<String>,
    pub key: Option<String>,
}

tokio::task_local! {
    /// Set by the fallback chain around its primary call: the operation's outcome is handed
    /// to the chain (which records the final one: served stale, failed over, …) instead of
    /// being counted twice.
    static DEFERRED: std::cell::Cell<Option<OpOutcome>>;
}

/// Runs `f` with the outcome of the operations it ends deferred to the caller: returns `f`'s
/// result and the last such outcome (the caller must record one).
pub(crate) async fn deferred<T>(f: impl std::future::Future<Output = T>) -> (T, Option<OpOutcome>) {
    DEFERRED
        .scope(std::cell::Cell::new(None), async move {
            let r = f.await;
            (r, DEFERRED.with(|d| d.get()))
        })
        .await
}

pub(crate) struct OpReport {
    metrics: ClientMetrics,
    audit: Option<AuditLog>,
    op: Operation,
    started: tokio::time::Instant,
    pub span: tracing::Span,
    pub outcome: Option<OpOutcome>,
    /// Kind of the next attempt: `first`, then `retry`; `resume` after a broken body.
    pub next_kind: AttemptKind,
    pub attempts: u32,
    pub target: Option<Arc<Target>>,
    pub status: Option<u16>,
    pub code: Option<String>,
    pub request_id: Option<String>,
    pub sent: u64,
    pub received: u64,
}

impl OpReport {
    pub fn start(
        metrics: &ClientMetrics,
        audit: Option<&AuditLog>,
        op: Operation,
        span: tracing::Span,
    ) -> Self {
        metrics.op(op).in_flight.inc();
        Self {
            metrics: metrics.clone(),
            audit: audit.cloned(),
            op,
            started: tokio::time::Instant::now(),
            span,
            outcome: None,
            next_kind: AttemptKind::First,
            attempts: 0,
            target: None,
            status: None,
            code: None,
            request_id: None,
            sent: 0,
            received: 0,
        }
    }

    /// The operation ended with `e` (the last answer's facts are kept for the audit line).
    pub fn failed(&mut self, e: &Error) {
        self.outcome = Some(OpOutcome::of(e));
        if e.status().is_some() {
            self.status = e.status();
            self.code = e.code().map(str::to_owned);
            self.request_id = e.request_id().map(str::to_owned);
        }
    }

    /// The operation succeeded with an answer carrying these headers.
    pub fn succeeded(&mut self, status: u16, headers: &http::HeaderMap) {
        self.outcome = Some(OpOutcome::Ok);
        self.status = Some(status);
        self.code = None;
        self.request_id = headers
            .get("x-oss-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
    }
}

impl Drop for OpReport {
    fn drop(&mut self) {
        let outcome = self.outcome.unwrap_or(OpOutcome::Cancelled);
        let elapsed = self.started.elapsed();
        let h = self.metrics.op(self.op);
        h.in_flight.dec();
        h.duration.observe(elapsed.as_secs_f64());
        let deferred = DEFERRED.try_with(|d| d.set(Some(outcome))).is_ok();
        if !deferred {
            self.metrics.operation_done(self.op, outcome);
        }
        self.span.record("outcome", outcome.label());
        self.span.record("attempts", self.attempts);
        tracing::debug!(parent: &self.span, outcome = outcome.label(), attempts = self.attempts, "operation ended");
        if let Some(log) = &self.audit {
            let target = self.target.as_deref();
            log.record(AuditRecord {
                time: time::OffsetDateTime::now_utc()
                    .format(&Rfc3339)
                    .unwrap_or_default(),
                principal: target.and_then(|t| t.principal.clone()),
                op: self.op.name(),
                bucket: target.and_then(|t| t.bucket.clone()),
                key: target.and_then(|t| t.key.clone()),
                outcome: outcome.label(),
                status: self.status,
                code: self.code.take(),
                request_id: self.request_id.take(),
                attempts: self.attempts,
                duration_ms: elapsed.as_secs_f64() * 1e3,
                bytes_sent: self.sent,
                bytes_received: self.received,
            });
        }
    }
}
