//! The resilience pipeline's async driver, outermost first (DESIGN.md §2):
//!
//! deadline → bulkhead → { breaker admission, re-sign (clock offset applied), hedge (idempotent
//! reads, first success wins), send with per-phase timeouts and progress guards, read a small
//! XML body, classify, backoff } → … and for data GETs the body itself (`crate::body`), whose
//! resumes are attempts of the same operation.
//!
//! Every decision is made by the sans-IO state machine [`ossguard_resilience::op::Op`]; this
//! module only sleeps, races, cancels and counts. The operation's state (`OpRun`: machine,
//! bulkhead slot, last error) lives as long as the operation — for a GET until its body is read.

pub mod deadline;
pub mod policy;
pub(crate) mod report;
pub mod state;

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use ossguard_proto::error::{ErrorClass, TransportFailure};
use ossguard_proto::{Operation, Request};
use ossguard_resilience::deadline::Deadline;
use ossguard_resilience::op::{Next, Op, OpClass, OpSpec, Refusal, Step};
use ossguard_resilience::Outcome;
use tokio::sync::OwnedSemaphorePermit;

use crate::body::Body;
use crate::client::Client;
use crate::error::{Error, ErrorKind};
use crate::metrics::{attempt_result, refusal_label, AttemptKind, OpOutcome};
use report::{OpReport, Target};

/// How the policies see a failed attempt.
pub(crate) fn outcome_of(e: &Error) -> Outcome {
    match e.kind() {
        ErrorKind::Transport { failure: f, .. } => match f.class() {
            ErrorClass::Cancelled => Outcome::Cancelled,
            ErrorClass::Client => Outcome::Client,
            _ => Outcome::Transient {
                timeout: f.is_timeout(),
                never_sent: f.request_never_sent(),
            },
        },
        ErrorKind::CircuitOpen => Outcome::Transient {
            timeout: false,
            never_sent: true,
        },
        _ => match e.class() {
            ErrorClass::Transient => Outcome::Transient {
                timeout: false,
                never_sent: false,
            },
            ErrorClass::Throttled => Outcome::Throttled {
                hint: e.server_delay(),
            },
            ErrorClass::ClockSkew => Outcome::ClockSkew,
            ErrorClass::Client => Outcome::Client,
            ErrorClass::Cancelled => Outcome::Cancelled,
        },
    }
}

fn deadline_exceeded(op: Operation, budget: Duration) -> Error {
    Error::transport(
        TransportFailure::DeadlineExceeded,
        format!("the operation's {budget:?} deadline passed"),
    )
    .in_op(op.name())
}

/// Operations whose request or response body is object data: bounded by progress, not by a
/// guessed deadline.
fn moves_data(op: Operation) -> bool {
    matches!(
        op,
        Operation::PutObject
            | Operation::GetObject
            | Operation::AppendObject
            | Operation::UploadPart
    )
}

/// What the state machine must know of an operation.
pub(crate) fn spec_of(op: Operation, req: &Request, body: &Body) -> OpSpec {
    let read = matches!(req.method, http::Method::GET | http::Method::HEAD);
    let class = if op == Operation::GetObject {
        OpClass::ObjectRead
    } else if read && body.len() == Some(0) && !op.is_silent_server_work() {
        OpClass::MetadataRead
    } else {
        OpClass::Untracked
    };
    OpSpec {
        // Initiate is retried although it is not idempotent: a lost answer only leaves an
        // empty orphan upload (see `Operation::is_retry_safe`).
        idempotent: op.is_retry_safe(),
        class,
        hedgeable: op.is_hedgeable_read(),
    }
}

/// One logical operation in flight: its state machine, its bulkhead slot and what went wrong
/// last. A data GET hands it to its body stream, so resumes continue the same operation.
pub(crate) struct OpRun {
    pub op: Op,
    pub name: Operation,
    /// The budget this operation really has (its own, or less when inherited), for errors.
    budget_time: Duration,
    last_error: Option<Error>,
    /// Metrics, audit line and span of the operation, reported when it ends (on drop).
    pub report: OpReport,
    _slot: OwnedSemaphorePermit,
}

impl std::fmt::Debug for OpRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpRun")
            .field("op", &self.name)
            .field("attempts", &self.op.attempts())
            .finish_non_exhaustive()
    }
}

impl OpRun {
    /// The error that ends the operation when the machine refuses another attempt: the last
    /// real error with the refusal as context (or the refusal itself before any attempt).
    fn refused(&mut self, why: Refusal) -> Error {
        let e = self.refusal_error(why);
        self.report.failed(&e);
        e
    }

    fn refusal_error(&mut self, why: Refusal) -> Error {
        let refusal = match why {
            Refusal::CircuitOpen => Error::new(ErrorKind::CircuitOpen).in_op(self.name.name()),
            Refusal::DeadlineExceeded => deadline_exceeded(self.name, self.budget_time),
        };
        match self.last_error.take() {
            Some(e) => e.with_context(match why {
                Refusal::CircuitOpen => {
                    "not retried: the circuit breaker opened after repeated failures of this endpoint"
                        .to_owned()
                }
                Refusal::DeadlineExceeded => format!(
                    "not retried: the operation's {:?} deadline passed",
                    self.budget_time
                ),
            }),
            None => refusal,
        }
    }

    /// A failure of the body after its headers: resume (`Ok(after)`) or stop with `e`.
    pub(crate) fn body_failed(
        &mut self,
        client: &Client,
        e: Error,
        progressed: bool,
    ) -> Result<Duration, Error> {
        let ep = &client.inner.endpoint;
        let outcome = outcome_of(&e);
        let now = ep.now();
        let next = ep.with(|p| self.op.body_failed(p, now, outcome, progressed));
        match next {
            Next::Retry { after } => {
                self.last_error = Some(e);
                // Not over yet: dropped while resuming, the operation was cancelled.
                self.report.outcome = None;
                self.report.next_kind = AttemptKind::Resume;
                Ok(after)
            }
            Next::Done | Next::Stop(_) => {
                if let Next::Stop(r) = next {
                    if let Some(why) = refusal_label(r) {
                        ep.metrics.retry_refused(self.name, why);
                    }
                }
                self.report.failed(&e);
                Err(e)
            }
        }
    }

    pub(crate) fn body_done(&mut self, client: &Client) {
        client.inner.endpoint.with(|p| self.op.body_done(p));
    }

    /// The operation failed after its answer arrived (a CRC-64 mismatch of an upload, …).
    pub(crate) fn failed(&mut self, client: &Client, e: Error) -> Error {
        if matches!(e.kind(), ErrorKind::Integrity { .. }) {
            client.inner.endpoint.integrity_failure(self.name);
        }
        self.report.failed(&e);
        e
    }

    /// `n` response body bytes arrived (streamed bodies count them as they come).
    pub(crate) fn received(&mut self, client: &Client, n: u64) {
        self.report.received += n;
        client
            .inner
            .endpoint
            .metrics
            .op(self.name)
            .received
            .inc_by(n);
    }

    /// The caller dropped the body before its end.
    pub(crate) fn cancelled(&mut self) {
        self.report.outcome = Some(OpOutcome::Cancelled);
    }

    pub(crate) fn deadline(&self) -> Deadline {
        self.op.deadline()
    }

    pub(crate) fn deadline_error(&mut self) -> Error {
        self.refused(Refusal::DeadlineExceeded)
    }
}

/// A successful attempt.
pub(crate) struct Answer {
    pub response: Response,
    /// CRC-64 of the request body as sent.
    pub sent_crc: u64,
    /// Time to the response headers.
    pub first_byte: Duration,
}

pub(crate) enum Response {
    /// Headers only; the body is left to the caller (data).
    Streaming(crate::transport::HttpResponse),
    /// The whole (small, XML) body, read inside the attempt.
    Read {
        headers: http::HeaderMap,
        body: Bytes,
    },
}

/// Records one attempt when it ends or is dropped.
struct AttemptGuard<'a> {
    client: &'a Client,
    op: Operation,
    kind: AttemptKind,
    started: tokio::time::Instant,
    result: Option<&'static str>,
    span: tracing::Span,
}

impl AttemptGuard<'_> {
    fn set_result(&mut self, r: &'static str) {
        self.result = Some(r);
    }
}

impl Drop for AttemptGuard<'_> {
    fn drop(&mut self) {
        let m = &self.client.inner.endpoint.metrics;
        let result = self.result.unwrap_or("cancelled");
        m.attempt_done(self.op, self.kind, result);
        m.op(self.op)
            .attempt_duration
            .observe(self.started.elapsed().as_secs_f64());
        self.span.record("result", result);
    }
}

impl Client {
    /// Starts an operation: its deadline and its bulkhead slot.
    pub(crate) async fn begin(
        &self,
        op: Operation,
        spec: OpSpec,
        req: &Request,
    ) -> Result<OpRun, Error> {
        let ep = &self.inner.endpoint;
        let policy = &ep.policy;
        ep.stats.operations.fetch_add(1, Ordering::Relaxed);
        let span = tracing::info_span!(
            "ossguard.op",
            op = op.name(),
            bucket = req.bucket.as_deref(),
            key = req.key.as_deref(),
            outcome = tracing::field::Empty,
            attempts = tracing::field::Empty,
        );
        let audit = self.inner.config.audit.as_ref();
        let mut report = OpReport::start(&ep.metrics, audit, op, span);
        if audit.is_some() {
            // The key id only; a provider that fails here fails the first attempt too.
            let principal = self
                .inner
                .config
                .credentials
                .credentials()
                .await
                .ok()
                .map(|c| c.access_key_id);
            report.target = Some(std::sync::Arc::new(Target {
                principal,
                bucket: req.bucket.clone(),
                key: req.key.clone(),
            }));
        }
        let start = ep.now();
        let own = if moves_data(op) {
            policy.transfer_deadline
        } else {
            Some(policy.deadline)
        };
        let mut deadline = own.map_or(Deadline::never(), |d| Deadline::after(start, d));
        if let Some(outer) = deadline::current() {
            let left = outer.saturating_duration_since(tokio::time::Instant::now());
            deadline = deadline.min(Deadline::after(start, left));
        }
        let budget_time = deadline.remaining(start);
        let slots = if op.is_data() {
            &ep.data_slots
        } else {
            &ep.metadata_slots
        };
        let acquire = slots.clone().acquire_owned();
        let slot = match deadline.at() {
            Duration::MAX => acquire.await,
            _ => match tokio::time::timeout(deadline.remaining(start), acquire).await {
                Ok(r) => r,
                Err(_) => {
                    let e = deadline_exceeded(op, budget_time);
                    report.failed(&e);
                    return Err(e);
                }
            },
        };
        let slot = slot.map_err(|_| {
            let e = Error::invalid_input("client is shutting down");
            report.failed(&e);
            e
        })?;
        Ok(OpRun {
            op: Op::new(spec, deadline),
            name: op,
            budget_time,
            last_error: None,
            report,
            _slot: slot,
        })
    }

    /// Runs attempts of `run` until one succeeds or the machine stops. `read_body`: read the
    /// (small) response body inside each attempt, so a body that breaks is retried like any
    /// transient failure.
    pub(crate) async fn drive(
        &self,
        run: &mut OpRun,
        req: &Request,
        body: Body,
        read_body: bool,
    ) -> Result<Answer, Error> {
        let ep = &self.inner.endpoint;
        let op = run.name;
        let mut body = Some(body);
        loop {
            let now = ep.now();
            let step = ep.with(|p| run.op.start(p, now));
            let (first_byte, hedge_after) = match step {
                Step::Refused(why) => {
                    if why == Refusal::CircuitOpen {
                        ep.stats.breaker_rejections.fetch_add(1, Ordering::Relaxed);
                    }
                    if run.report.next_kind != AttemptKind::First {
                        ep.metrics.retry_refused(
                            op,
                            match why {
                                Refusal::CircuitOpen => "breaker",
                                Refusal::DeadlineExceeded => "deadline",
                            },
                        );
                    }
                    return Err(run.refused(why));
                }
                Step::Send {
                    first_byte,
                    hedge_after,
                } => (first_byte, hedge_after),
            };
            // Keep a copy for the next attempt while the body can be replayed.
            let this_body = match body.as_ref().and_then(Body::try_clone) {
                Some(copy) => copy,
                None => body.take().unwrap_or_else(Body::empty),
            };
            let replayable = body.is_some();
            // A data upload that goes silent after its body may be raced by a duplicate.
            let spare = match this_body.len() != Some(0) && !op.is_silent_server_work() {
                true => body.as_ref().and_then(Body::try_clone),
                false => None,
            };
            ep.stats.attempts.fetch_add(1, Ordering::Relaxed);
            let kind = std::mem::replace(&mut run.report.next_kind, AttemptKind::Retry);
            // `now` was read just above (the body copy in between is a refcount).
            let attempt_started = now;
            let result = self
                .attempt_maybe_hedged(
                    run,
                    req,
                    (this_body, spare),
                    (first_byte, hedge_after),
                    read_body,
                    kind,
                )
                .await;
            let end = ep.now();
            // An attempt cut short by the overall deadline failed because of the deadline.
            let result = match result {
                Err(e)
                    if run.op.deadline().expired(end)
                        && matches!(
                            e.kind(),
                            ErrorKind::Transport {
                                failure: TransportFailure::FirstByteTimeout,
                                ..
                            }
                        ) =>
                {
                    // The endpoint did not answer in time: the breaker must hear of it, or a
                    // blackholed endpoint whose silence always outlasts the deadline would
                    // never trip it (found by the fallback chain's outage test).
                    let silent = outcome_of(&e);
                    ep.with(|p| run.op.finish(p, end, silent, None, replayable));
                    let e = deadline_exceeded(op, run.budget_time);
                    run.report.failed(&e);
                    return Err(e);
                }
                r => r,
            };
            // 304 Not Modified answers a conditional GET (the fallback chain revalidates every
            // cached read with one): a success for the policies, and a first-byte sample —
            // else a chain's reads leave the hedge delay and first-byte timeout untrained.
            let not_modified = matches!(&result, Err(e) if e.status() == Some(304));
            let outcome = match &result {
                Ok(_) => Outcome::Success,
                Err(_) if not_modified => Outcome::Success,
                Err(e) => outcome_of(e),
            };
            if let Err(e) = &result {
                if matches!(e.kind(), ErrorKind::Integrity { .. }) {
                    ep.integrity_failure(op);
                }
                if outcome == Outcome::ClockSkew {
                    if let Some(server) = e.server_date() {
                        ep.learn_server_time(server);
                    }
                }
            }
            let latency = match &result {
                Ok(a) => Some(a.first_byte),
                Err(_) if not_modified => Some(end.saturating_sub(attempt_started)),
                Err(_) => None,
            };
            let next = ep.with(|p| run.op.finish(p, end, outcome, latency, replayable));
            match (result, next) {
                (Ok(answer), _) => {
                    match &answer.response {
                        Response::Streaming(r) => {
                            run.report.succeeded(r.status().as_u16(), r.headers())
                        }
                        Response::Read { headers, body } => {
                            run.report.received += body.len() as u64;
                            run.report.succeeded(200, headers)
                        }
                    }
                    return Ok(answer);
                }
                (Err(e), Next::Retry { after }) => {
                    ep.metrics.retry(op, attempt_result(Err(&e)));
                    run.last_error = Some(e);
                    ep.stats.retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(after).await;
                }
                (Err(e), next) => {
                    if let Next::Stop(r) = next {
                        if let Some(why) = refusal_label(r) {
                            ep.metrics.retry_refused(op, why);
                        }
                    }
                    run.report.failed(&e);
                    return Err(e);
                }
            }
        }
    }

    /// One attempt, raced by a second one: for hedgeable reads after the adaptive delay, for a
    /// data upload (`spare` is a copy of its body) once it has been silent for the idle time
    /// after handing out its body. The first *success* wins: when one side fails, the other is
    /// awaited; the loser is cancelled (dropped). Both failing returns the first one's error.
    async fn attempt_maybe_hedged(
        &self,
        run: &mut OpRun,
        req: &Request,
        (body, spare): (Body, Option<Body>),
        (first_byte, hedge_after): (Option<Duration>, Option<Duration>),
        read_body: bool,
        kind: AttemptKind,
    ) -> Result<Answer, Error> {
        let ep = &self.inner.endpoint;
        let op = run.name;
        let started = tokio::time::Instant::now();
        let silence = spare
            .as_ref()
            .map(|_| std::sync::Arc::new(tokio::sync::Notify::new()));
        run.report.attempts += 1;
        run.report.sent += body.len().unwrap_or(0);
        ep.metrics.op(op).sent.inc_by(body.len().unwrap_or(0));
        // Boxed: an attempt's state (request, hyper's future, timers) is kilobytes, and held
        // inline it made every operation's future ~16 KiB, copied on each move by the caller.
        let first = Box::pin(self.recorded(
            run,
            kind,
            self.attempt(op, req, body, first_byte, read_body, silence.clone()),
        ));
        if hedge_after.is_none() && silence.is_none() {
            return first.await;
        }
        let trigger = async {
            match (hedge_after, &silence) {
                (Some(d), _) => tokio::time::sleep(d).await,
                (None, Some(n)) => n.notified().await,
                (None, None) => std::future::pending().await,
            }
        };
        tokio::pin!(first);
        tokio::select! {
            r = &mut first => return r,
            _ = trigger => {}
        }
        let go = match hedge_after {
            Some(_) => run.op.may_hedge(&mut ep.lock()),
            None => run.op.may_duplicate(&mut ep.lock()),
        };
        if !go {
            return first.await;
        }
        ep.stats.hedges.fetch_add(1, Ordering::Relaxed);
        let spare = spare.unwrap_or_else(Body::empty);
        run.report.attempts += 1;
        run.report.sent += spare.len().unwrap_or(0);
        ep.metrics.op(op).sent.inc_by(spare.len().unwrap_or(0));
        let second = Box::pin(self.recorded(
            run,
            AttemptKind::Hedge,
            self.attempt(
                op,
                req,
                spare,
                first_byte.map(|t| t.saturating_sub(started.elapsed())),
                read_body,
                None,
            ),
        ));
        tokio::pin!(second);
        // An answer wins the race: a success, or a 304 to a conditional GET (the fallback
        // chain's revalidations) — waiting for the stalled other side instead defeats the hedge.
        let answered = |r: &Result<Answer, Error>| match r {
            Ok(_) => true,
            Err(e) => e.status() == Some(304),
        };
        let (result, hedge_won) = tokio::select! {
            r = &mut first => match answered(&r) {
                true => (r, false),
                false => match second.await {
                    r2 if answered(&r2) => (r2, true),
                    _ => (r, false),
                },
            },
            r = &mut second => match answered(&r) {
                true => (r, true),
                false => (first.await, false),
            },
        };
        ep.metrics.hedge(op, hedge_won);
        if hedge_after.is_some() {
            run.op.hedge_result(&mut ep.lock(), hedge_won);
        }
        result
    }

    /// `attempt` with its metrics and span: result by kind, duration, bytes; an attempt
    /// dropped before it ended (a hedge that lost, a caller that gave up) is `cancelled`.
    fn recorded<'a>(
        &'a self,
        run: &OpRun,
        kind: AttemptKind,
        attempt: impl std::future::Future<Output = Result<Answer, Error>> + 'a,
    ) -> impl std::future::Future<Output = Result<Answer, Error>> + 'a {
        use tracing::Instrument;
        let op = run.name;
        let span = tracing::debug_span!(
            parent: &run.report.span,
            "ossguard.attempt",
            n = run.report.attempts,
            kind = kind.label(),
            status = tracing::field::Empty,
            request_id = tracing::field::Empty,
            result = tracing::field::Empty,
        );
        let mut guard = AttemptGuard {
            client: self,
            op,
            kind,
            started: tokio::time::Instant::now(),
            result: None,
            span: span.clone(),
        };
        async move {
            let r = attempt.await;
            guard.set_result(attempt_result(r.as_ref().map(|_| ())));
            if let Ok(a) = &r {
                let n = match &a.response {
                    Response::Read { body, .. } => body.len() as u64,
                    Response::Streaming(_) => 0,
                };
                guard
                    .client
                    .inner
                    .endpoint
                    .metrics
                    .op(op)
                    .received
                    .inc_by(n);
            }
            r
        }
        .instrument(span)
    }
}

#[cfg(test)]
mod size_tests {
    use crate::{Body, Client, Credentials};

    /// Callers move, spawn and `buffer_unordered` these futures: each move copies the whole
    /// state machine. With the attempt held inline a GET's future was 15.8 KiB (release); it
    /// is boxed now (`attempt_maybe_hedged`), which keeps the outer future a few KiB.
    #[test]
    fn operation_futures_stay_small() {
        let c = Client::builder()
            .endpoint("http://127.0.0.1:9")
            .region("cn-hangzhou")
            .credentials(Credentials::new("ak", "sk"))
            .build()
            .unwrap();
        let get = std::mem::size_of_val(&c.get_object("b", "k", Default::default()));
        let put =
            std::mem::size_of_val(&c.put_object("b", "k", Body::from(vec![1]), Default::default()));
        eprintln!("get_object future {get} B, put_object future {put} B");
        assert!(
            get <= 6 * 1024 && put <= 8 * 1024,
            "get {get} B, put {put} B"
        );
    }
}
