//! The resilience pipeline, outermost first (DESIGN.md §2):
//!
//! deadline → bulkhead → breaker admission → attempt loop { budget, re-sign (clock offset
//! applied), hedge (idempotent reads), send with per-phase timeouts, classify, backoff } →
//! breaker/budget bookkeeping.
//!
//! The policies themselves are sans-IO (`ossguard-resilience`); this module is the only place
//! that sleeps, races and cancels.

pub mod deadline;
pub mod policy;
pub mod state;

use std::sync::atomic::Ordering;
use std::time::Duration;

use ossguard_proto::error::{ErrorClass, TransportFailure};
use ossguard_proto::{Operation, Request};
use ossguard_resilience::breaker::{Admission, BreakerState};
use ossguard_resilience::deadline::Deadline;
use ossguard_resilience::retry::{AttemptInfo, Decision};
use ossguard_resilience::Outcome;

use crate::body::Body;
use crate::client::{Client, Sent};
use crate::error::{Error, ErrorKind};
use state::EndpointState;

/// How the policies see a failed attempt.
pub(crate) fn outcome_of(e: &Error) -> Outcome {
    match e.kind() {
        ErrorKind::Transport { failure, .. } => match failure {
            TransportFailure::Cancelled => Outcome::Cancelled,
            f => Outcome::Transient {
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

fn circuit_open(op: Operation) -> Error {
    Error::new(ErrorKind::CircuitOpen).in_op(op.name())
}

fn deadline_exceeded(op: Operation, budget: Duration) -> Error {
    Error::transport(
        TransportFailure::DeadlineExceeded,
        format!("the operation's {budget:?} deadline passed"),
    )
    .in_op(op.name())
}

impl Client {
    /// Runs `op` through the pipeline. The first successful response is returned with its body
    /// unread; a non-replayable body gets exactly one attempt.
    pub(crate) async fn execute(
        &self,
        op: Operation,
        req: Request,
        body: Body,
    ) -> Result<Sent, Error> {
        let ep = &self.inner.endpoint;
        let policy = &ep.policy;
        ep.stats.operations.fetch_add(1, Ordering::Relaxed);
        let op_start = ep.now();
        let own = policy.deadline
            + Duration::from_secs(body.len().unwrap_or(0) / policy.min_throughput.max(1));
        let mut deadline = Deadline::after(op_start, own);
        if let Some(outer) = deadline::current() {
            let left = outer.saturating_duration_since(tokio::time::Instant::now());
            deadline = deadline.min(Deadline::after(op_start, left));
        }
        // The budget this operation really has (its own, or less when inherited).
        let budget_time = deadline.remaining(op_start);
        let slots = if op.is_data() {
            &ep.data_slots
        } else {
            &ep.metadata_slots
        };
        let _permit = tokio::time::timeout(deadline.remaining(ep.now()), slots.acquire())
            .await
            .map_err(|_| deadline_exceeded(op, budget_time))?
            .map_err(|_| Error::invalid_input("client is shutting down"))?;

        // Initiate is retried although it is not idempotent (see `is_retry_safe`).
        let idempotent = op.is_retry_safe();
        let mut body = Some(body);
        let mut info = AttemptInfo {
            attempts: 0,
            idempotent,
            skew_retried: false,
        };
        let mut spent = 0u32;
        loop {
            let now = ep.now();
            if deadline.expired(now) {
                return Err(deadline_exceeded(op, budget_time));
            }
            let admission = {
                let mut p = ep.lock();
                let p = &mut *p;
                match p.breaker.as_mut() {
                    Some(b) => b.admit(now, &mut p.rng),
                    None => Admission::Allowed,
                }
            };
            if admission == Admission::Rejected {
                ep.stats.breaker_rejections.fetch_add(1, Ordering::Relaxed);
                return Err(circuit_open(op));
            }
            // Keep a copy for the next attempt while the body can be replayed.
            let this_body = match body.as_ref().and_then(Body::try_clone) {
                Some(copy) => copy,
                None => body.take().unwrap_or_else(Body::empty),
            };
            let replayable = body.is_some();
            info.attempts += 1;
            ep.stats.attempts.fetch_add(1, Ordering::Relaxed);
            let started = ep.now();
            let result = self
                .attempt_maybe_hedged(op, &req, this_body, deadline)
                .await;
            let end = ep.now();
            // An attempt cut short by the overall deadline failed because of the deadline.
            let result = match result {
                Err(e)
                    if deadline.expired(end)
                        && matches!(
                            e.kind(),
                            ErrorKind::Transport {
                                failure: TransportFailure::FirstByteTimeout,
                                ..
                            }
                        ) =>
                {
                    return Err(deadline_exceeded(op, budget_time));
                }
                r => r,
            };
            let outcome = match &result {
                Ok(_) => Outcome::Success,
                Err(e) => outcome_of(e),
            };
            if let Err(e) = &result {
                if matches!(e.kind(), ErrorKind::Integrity { .. }) {
                    ep.stats.integrity_failures.fetch_add(1, Ordering::Relaxed);
                }
                if outcome == Outcome::ClockSkew {
                    if let Some(server) = e.server_date() {
                        ep.learn_server_time(server);
                    }
                }
            }
            let decision = {
                let mut p = ep.lock();
                let p = &mut *p;
                if let Some(b) = p.breaker.as_mut() {
                    b.record(end, outcome, admission == Admission::Probe);
                }
                if outcome == Outcome::Success {
                    p.ttfb.record(end.saturating_sub(started));
                    p.budget.on_success(spent);
                }
                match result {
                    Ok(sent) => return Ok(sent),
                    Err(e) if !replayable => return Err(e),
                    Err(e) => {
                        let d = policy.retry.decide(
                            info,
                            outcome,
                            end,
                            deadline,
                            &mut p.budget,
                            &mut p.rng,
                        );
                        match d {
                            Decision::Stop(_) => return Err(e),
                            Decision::Retry { after, cost } => {
                                spent += cost;
                                after
                            }
                        }
                    }
                }
            };
            if outcome == Outcome::ClockSkew {
                info.skew_retried = true;
            }
            ep.stats.retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(decision).await;
        }
    }

    /// One attempt; for hedgeable reads a second one after the adaptive delay, first answer
    /// wins and the other is cancelled (dropped).
    async fn attempt_maybe_hedged(
        &self,
        op: Operation,
        req: &Request,
        body: Body,
        deadline: Deadline,
    ) -> Result<Sent, Error> {
        let ep: &EndpointState = &self.inner.endpoint;
        let timeout = self.attempt_timeout(op, &body, deadline);
        let hedge_delay = if op.is_hedgeable_read() {
            let mut p = ep.lock();
            let p = &mut *p;
            let closed = p
                .breaker
                .as_ref()
                .map(|b| b.state())
                .unwrap_or(BreakerState::Closed)
                == BreakerState::Closed;
            match p.hedge.as_mut() {
                Some(h) if closed => {
                    h.on_request();
                    Some(h.delay(&p.ttfb))
                }
                _ => None,
            }
        } else {
            None
        };
        let first = self.attempt(op, req, body, timeout);
        let Some(delay) = hedge_delay.filter(|d| *d < timeout) else {
            return first.await;
        };
        tokio::pin!(first);
        tokio::select! {
            r = &mut first => return r,
            _ = tokio::time::sleep(delay) => {}
        }
        let go = {
            let mut p = ep.lock();
            let p = &mut *p;
            let state = p
                .breaker
                .as_ref()
                .map(|b| b.state())
                .unwrap_or(BreakerState::Closed);
            p.hedge
                .as_mut()
                .is_some_and(|h| h.try_hedge(state, &mut p.budget))
        };
        if !go {
            return first.await;
        }
        ep.stats.hedges.fetch_add(1, Ordering::Relaxed);
        let second = self.attempt(op, req, Body::empty(), timeout.saturating_sub(delay));
        tokio::select! {
            r = &mut first => r,
            r = second => r,
        }
    }

    /// Bodiless requests get the adaptive first-byte timeout; uploads only the deadline (the
    /// clock for their first byte cannot start before the body is sent), and so do operations
    /// where the server works silently before answering (CopyObject, CompleteMultipartUpload).
    fn attempt_timeout(&self, op: Operation, body: &Body, deadline: Deadline) -> Duration {
        let ep = &self.inner.endpoint;
        let left = deadline.remaining(ep.now());
        if body.len() == Some(0) && !op.is_silent_server_work() {
            let p = ep.lock();
            ep.policy.first_byte.timeout(&p.ttfb).min(left)
        } else {
            left
        }
    }
}
