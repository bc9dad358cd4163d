//! The client's Prometheus metrics (`observability/METRICS.md` is the contract: names, labels,
//! meanings). Every client owns a [`ClientMetrics`]; [`crate::Client::register_metrics`] puts
//! its families into the caller's `Registry` (a drill uses one sub-registry per arm).
//!
//! Labels are `&'static str` from closed sets (operation names, outcomes, classes) or the
//! configured endpoint name — never keys, buckets or request ids. Hot paths use handles looked
//! up once per operation name, so recording a request costs a few atomic adds (see the
//! `metrics` bench).

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};

use ossguard_proto::error::{ErrorClass, TransportFailure};
use ossguard_proto::Operation;
use ossguard_resilience::breaker::BreakerState;
use ossguard_resilience::retry::StopReason;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::error::{Error, ErrorKind};

/// Histogram buckets of the three duration histograms, in seconds (METRICS.md: 0.5 must stay
/// a boundary, the p99 > 500 ms alert is exact only there).
pub const DURATION_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

/// How a logical operation ended (`outcome` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpOutcome {
    /// Succeeded (a 304 answering a conditional GET included).
    Ok,
    /// Failed with a transient error (5xx, reset, timeout) once no retry was left.
    Transient,
    /// Failed because the service kept throttling (429, 503 …).
    Throttled,
    /// Failed with `RequestTimeTooSkewed`, even after adopting the server's clock.
    ClockSkew,
    /// The service refused the request itself (4xx: not found, access denied, precondition …).
    Client,
    /// The bytes' CRC-64 did not match.
    Integrity,
    /// The operation's deadline passed.
    Deadline,
    /// Cancelled by the caller.
    Cancelled,
    /// Refused by the open circuit breaker without being sent.
    BreakerRejected,
    /// The primary failed; the fallback chain answered from a stale cached copy.
    ServedStale,
    /// The primary failed; the fallback chain answered from the replica or a default resource.
    FailedOver,
    /// Failed locally: invalid input, no credentials, a local file error.
    Local,
}

impl OpOutcome {
    /// The `outcome` label value.
    pub fn label(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Transient => "transient",
            Self::Throttled => "throttled",
            Self::ClockSkew => "clock_skew",
            Self::Client => "client",
            Self::Integrity => "integrity",
            Self::Deadline => "deadline",
            Self::Cancelled => "cancelled",
            Self::BreakerRejected => "breaker_rejected",
            Self::ServedStale => "served_stale",
            Self::FailedOver => "failed_over",
            Self::Local => "local",
        }
    }

    /// The outcome of an operation that ended with `e`.
    pub fn of(e: &Error) -> Self {
        if e.status() == Some(304) {
            // Not Modified answers a conditional GET: the operation did its job.
            return Self::Ok;
        }
        match e.kind() {
            ErrorKind::CircuitOpen => Self::BreakerRejected,
            ErrorKind::Integrity { .. } => Self::Integrity,
            ErrorKind::InvalidInput(_) | ErrorKind::Credentials(_) | ErrorKind::Io(_) => {
                Self::Local
            }
            ErrorKind::Transport {
                failure: TransportFailure::DeadlineExceeded,
                ..
            } => Self::Deadline,
            _ => match e.class() {
                ErrorClass::Transient => Self::Transient,
                ErrorClass::Throttled => Self::Throttled,
                ErrorClass::ClockSkew => Self::ClockSkew,
                ErrorClass::Client => Self::Client,
                ErrorClass::Cancelled => Self::Cancelled,
            },
        }
    }
}

/// Why an attempt was sent (`kind` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptKind {
    /// The operation's first attempt.
    First,
    /// A retry after a failed attempt.
    Retry,
    /// A hedged duplicate, raced against a slow attempt.
    Hedge,
    /// A ranged GET continuing a body that broke or stalled.
    Resume,
}

impl AttemptKind {
    /// The `kind` label value.
    pub fn label(self) -> &'static str {
        match self {
            Self::First => "first",
            Self::Retry => "retry",
            Self::Hedge => "hedge",
            Self::Resume => "resume",
        }
    }
}

/// `result` of an attempt, or `reason` of a retry: `ok` or the failure's class.
pub fn attempt_result(r: Result<(), &Error>) -> &'static str {
    match r {
        Ok(()) => "ok",
        // Not Modified answers a conditional GET.
        Err(e) if e.status() == Some(304) => "ok",
        Err(e) => match e.kind() {
            ErrorKind::Integrity { .. } => "integrity",
            _ => match e.class() {
                ErrorClass::Transient => "transient",
                ErrorClass::Throttled => "throttled",
                ErrorClass::ClockSkew => "clock_skew",
                ErrorClass::Client => "client",
                ErrorClass::Cancelled => "cancelled",
            },
        },
    }
}

/// `why` of a retry the classification allowed but that was not made (`None`: the failure was
/// not retryable in the first place, or the operation finished).
pub fn refusal_label(r: StopReason) -> Option<&'static str> {
    match r {
        StopReason::AttemptsExhausted => Some("max_attempts"),
        StopReason::BudgetExhausted => Some("budget"),
        StopReason::DeadlineTooClose => Some("deadline"),
        StopReason::NotIdempotent => Some("non_idempotent"),
        StopReason::NotReplayable => Some("not_replayable"),
        StopReason::Finished | StopReason::NotRetryable => None,
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpLabel {
    operation: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    operation: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AttemptLabels {
    operation: &'static str,
    kind: &'static str,
    result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    operation: &'static str,
    reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WhyLabels {
    operation: &'static str,
    why: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    operation: &'static str,
    result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabels {
    operation: &'static str,
    source: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabel {
    endpoint: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    endpoint: String,
    state: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransitionLabels {
    endpoint: String,
    from: &'static str,
    to: &'static str,
}

fn state_label(s: BreakerState) -> &'static str {
    match s {
        BreakerState::Closed => "closed",
        BreakerState::Open => "open",
        // Ramping back up after a successful probe: Resilience4j's half-open.
        BreakerState::Recovering => "half_open",
    }
}

const STATES: [BreakerState; 3] = [
    BreakerState::Closed,
    BreakerState::Open,
    BreakerState::Recovering,
];

/// The breaker's possible state changes, created at 0 so that `increase()` sees the first.
const TRANSITIONS: [(&str, &str); 4] = [
    ("closed", "open"),
    ("open", "half_open"),
    ("half_open", "closed"),
    ("half_open", "open"),
];

/// Per-operation handles (looked up once, then plain atomics).
pub(crate) struct OpHandles {
    pub in_flight: Gauge,
    pub duration: Histogram,
    pub attempt_duration: Histogram,
    pub first_byte: Histogram,
    pub sent: Counter,
    pub received: Counter,
    pub integrity: Counter,
}

fn histograms() -> Family<OpLabel, Histogram> {
    Family::new_with_constructor(|| Histogram::new(DURATION_BUCKETS))
}

/// The families of one client. Cheap to clone (handles are `Arc`s).
#[derive(Clone)]
pub struct ClientMetrics {
    inner: Arc<Families>,
}

struct Families {
    operations: Family<OutcomeLabels, Counter>,
    attempts: Family<AttemptLabels, Counter>,
    retries: Family<ReasonLabels, Counter>,
    refused: Family<WhyLabels, Counter>,
    duration: Family<OpLabel, Histogram>,
    attempt_duration: Family<OpLabel, Histogram>,
    first_byte: Family<OpLabel, Histogram>,
    sent: Family<OpLabel, Counter>,
    received: Family<OpLabel, Counter>,
    in_flight: Family<OpLabel, Gauge>,
    breaker_state: Family<StateLabels, Gauge>,
    transitions: Family<TransitionLabels, Counter>,
    hedges: Family<ResultLabels, Counter>,
    budget_tokens: Family<EndpointLabel, Gauge>,
    skew: Family<EndpointLabel, Counter>,
    integrity: Family<OpLabel, Counter>,
    fallback: Family<SourceLabels, Counter>,
    spooled: Family<OpLabel, Counter>,
    handles: Vec<OnceLock<OpHandles>>,
}

impl std::fmt::Debug for ClientMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientMetrics").finish_non_exhaustive()
    }
}

impl Default for ClientMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientMetrics {
    /// Empty families, with the series the alerts read created at 0 (METRICS.md, "Pre-created
    /// series"): `operations_total{outcome="ok"}` and `integrity_failures_total` for every
    /// operation.
    pub fn new() -> Self {
        let f = Families {
            operations: Family::default(),
            attempts: Family::default(),
            retries: Family::default(),
            refused: Family::default(),
            duration: histograms(),
            attempt_duration: histograms(),
            first_byte: histograms(),
            sent: Family::default(),
            received: Family::default(),
            in_flight: Family::default(),
            breaker_state: Family::default(),
            transitions: Family::default(),
            hedges: Family::default(),
            budget_tokens: Family::default(),
            skew: Family::default(),
            integrity: Family::default(),
            fallback: Family::default(),
            spooled: Family::default(),
            handles: ossguard_proto::ops::ALL
                .iter()
                .map(|_| OnceLock::new())
                .collect(),
        };
        for op in ossguard_proto::ops::ALL {
            let operation = op.name();
            let _ = f.operations.get_or_create(&OutcomeLabels {
                operation,
                outcome: "ok",
            });
            let _ = f.integrity.get_or_create(&OpLabel { operation });
        }
        Self { inner: Arc::new(f) }
    }

    /// Registers every family into `registry` (names per METRICS.md).
    pub fn register(&self, registry: &mut Registry) {
        let f = &self.inner;
        registry.register(
            "ossguard_operations",
            "Logical operations finished, by operation and outcome",
            f.operations.clone(),
        );
        registry.register(
            "ossguard_attempts",
            "HTTP attempts finished, by operation, kind (first, retry, hedge, resume) and result",
            f.attempts.clone(),
        );
        registry.register(
            "ossguard_retries",
            "Retries made, by operation and the class of the failure that triggered them",
            f.retries.clone(),
        );
        registry.register(
            "ossguard_retries_refused",
            "Retries or resumes allowed by the failure's class but not made, by why",
            f.refused.clone(),
        );
        registry.register_with_unit(
            "ossguard_operation_duration",
            "Logical operation, start to result (attempts, backoff and body included)",
            Unit::Seconds,
            f.duration.clone(),
        );
        registry.register_with_unit(
            "ossguard_attempt_duration",
            "One attempt, request start to its result (response head for data GETs)",
            Unit::Seconds,
            f.attempt_duration.clone(),
        );
        registry.register(
            "ossguard_first_byte_seconds",
            "Request start to the response head, per attempt that got one",
            f.first_byte.clone(),
        );
        registry.register_with_unit(
            "ossguard_sent",
            "Request body bytes sent, every attempt",
            Unit::Bytes,
            f.sent.clone(),
        );
        registry.register_with_unit(
            "ossguard_received",
            "Response body bytes received, every attempt",
            Unit::Bytes,
            f.received.clone(),
        );
        registry.register(
            "ossguard_in_flight_operations",
            "Logical operations started and not finished",
            f.in_flight.clone(),
        );
        registry.register(
            "ossguard_breaker_state",
            "Circuit breaker state: 1 on the current state, 0 on the others",
            f.breaker_state.clone(),
        );
        registry.register(
            "ossguard_breaker_transitions",
            "Circuit breaker state changes",
            f.transitions.clone(),
        );
        registry.register(
            "ossguard_hedges",
            "Hedged attempts started, by whether their answer was used",
            f.hedges.clone(),
        );
        registry.register(
            "ossguard_retry_budget_tokens",
            "Tokens left in the endpoint's retry budget",
            f.budget_tokens.clone(),
        );
        registry.register(
            "ossguard_clock_skew_corrections",
            "Clock offsets adopted from a server Date after RequestTimeTooSkewed",
            f.skew.clone(),
        );
        registry.register(
            "ossguard_integrity_failures",
            "CRC-64 / Content-MD5 mismatches caught",
            f.integrity.clone(),
        );
        registry.register(
            "ossguard_fallback_serves",
            "Reads answered by the fallback chain instead of the primary, by source",
            f.fallback.clone(),
        );
        registry.register(
            "ossguard_spooled_writes",
            "Writes accepted into the local spool instead of reaching OSS",
            f.spooled.clone(),
        );
    }

    pub(crate) fn op(&self, op: Operation) -> &OpHandles {
        // `ALL` lists the variants in declaration order (tested below).
        self.inner.handles[op as usize].get_or_init(|| {
            let f = &self.inner;
            let l = OpLabel {
                operation: op.name(),
            };
            OpHandles {
                in_flight: f.in_flight.get_or_create_owned(&l),
                duration: f.duration.get_or_create_owned(&l),
                attempt_duration: f.attempt_duration.get_or_create_owned(&l),
                first_byte: f.first_byte.get_or_create_owned(&l),
                sent: f.sent.get_or_create_owned(&l),
                received: f.received.get_or_create_owned(&l),
                integrity: f.integrity.get_or_create_owned(&l),
            }
        })
    }

    /// Counts a finished logical operation (the fallback chain records its own).
    pub fn operation_done(&self, op: Operation, outcome: OpOutcome) {
        self.inner
            .operations
            .get_or_create(&OutcomeLabels {
                operation: op.name(),
                outcome: outcome.label(),
            })
            .inc();
    }

    pub(crate) fn attempt_done(&self, op: Operation, kind: AttemptKind, result: &'static str) {
        self.inner
            .attempts
            .get_or_create(&AttemptLabels {
                operation: op.name(),
                kind: kind.label(),
                result,
            })
            .inc();
    }

    pub(crate) fn retry(&self, op: Operation, reason: &'static str) {
        self.inner
            .retries
            .get_or_create(&ReasonLabels {
                operation: op.name(),
                reason,
            })
            .inc();
    }

    pub(crate) fn retry_refused(&self, op: Operation, why: &'static str) {
        self.inner
            .refused
            .get_or_create(&WhyLabels {
                operation: op.name(),
                why,
            })
            .inc();
    }

    pub(crate) fn hedge(&self, op: Operation, won: bool) {
        self.inner
            .hedges
            .get_or_create(&ResultLabels {
                operation: op.name(),
                result: if won { "won" } else { "lost" },
            })
            .inc();
    }

    /// A read answered by the fallback chain (`source`: `replica`, `cache_fresh`,
    /// `cache_stale`, `default`).
    pub fn fallback_serve(&self, op: Operation, source: &'static str) {
        self.inner
            .fallback
            .get_or_create(&SourceLabels {
                operation: op.name(),
                source,
            })
            .inc();
    }

    /// Creates the fallback series of `sources` at 0 (so `increase()` sees the first serve).
    pub fn precreate_fallback(&self, op: Operation, sources: &[&'static str]) {
        for source in sources {
            let _ = self.inner.fallback.get_or_create(&SourceLabels {
                operation: op.name(),
                source,
            });
        }
    }

    /// Creates the spooled-writes series at 0.
    pub fn precreate_spooled(&self, op: Operation) {
        let _ = self.inner.spooled.get_or_create(&OpLabel {
            operation: op.name(),
        });
    }

    /// A write accepted into the spool.
    pub fn spooled(&self, op: Operation) {
        self.inner
            .spooled
            .get_or_create(&OpLabel {
                operation: op.name(),
            })
            .inc();
    }

    /// Metrics of one named endpoint (breaker, budget, clock skew).
    pub(crate) fn endpoint(&self, name: &str) -> EndpointMetrics {
        let f = &self.inner;
        let state = STATES.map(|s| {
            f.breaker_state.get_or_create_owned(&StateLabels {
                endpoint: name.to_owned(),
                state: state_label(s),
            })
        });
        // A new client starts closed, whatever an earlier one sharing these families showed.
        for (g, v) in state.iter().zip([1, 0, 0]) {
            g.set(v);
        }
        for (from, to) in TRANSITIONS {
            let _ = f.transitions.get_or_create(&TransitionLabels {
                endpoint: name.to_owned(),
                from,
                to,
            });
        }
        EndpointMetrics {
            name: name.to_owned(),
            families: self.inner.clone(),
            state,
            last: AtomicU8::new(0),
            tokens: f.budget_tokens.get_or_create_owned(&EndpointLabel {
                endpoint: name.to_owned(),
            }),
            skew: f.skew.get_or_create_owned(&EndpointLabel {
                endpoint: name.to_owned(),
            }),
        }
    }
}

/// The gauges and counters of one endpoint, kept in step with its policies.
pub(crate) struct EndpointMetrics {
    name: String,
    families: Arc<Families>,
    state: [Gauge; 3],
    /// Index into [`STATES`] of the state the gauges show.
    last: AtomicU8,
    tokens: Gauge,
    pub skew: Counter,
}

impl EndpointMetrics {
    /// Brings the breaker gauges and budget gauge to the policies' current values; counts a
    /// transition when the state changed since the last call (each policy call changes it at
    /// most once, and this runs after every one).
    pub fn sync(&self, state: BreakerState, tokens: u32) {
        self.tokens.set(i64::from(tokens));
        let now = STATES.iter().position(|s| *s == state).unwrap_or(0) as u8;
        let before = self.last.swap(now, Ordering::Relaxed);
        if before != now {
            self.state[before as usize].set(0);
            self.state[now as usize].set(1);
            self.families
                .transitions
                .get_or_create(&TransitionLabels {
                    endpoint: self.name.clone(),
                    from: state_label(STATES[before as usize]),
                    to: state_label(state),
                })
                .inc();
        }
    }
}

/// What the pipeline records for one request with one attempt (for the overhead bench:
/// `cargo bench -p ossguard --bench metrics`): operation start and end (in-flight gauge,
/// duration, outcome), the attempt (result, duration, first byte, bytes) and the endpoint's
/// gauges.
#[doc(hidden)]
pub struct RequestRecorder {
    m: ClientMetrics,
    ep: EndpointMetrics,
}

impl Default for RequestRecorder {
    fn default() -> Self {
        Self::new()
    }
}

#[doc(hidden)]
impl RequestRecorder {
    pub fn new() -> Self {
        let m = ClientMetrics::new();
        let ep = m.endpoint("primary");
        Self { m, ep }
    }

    pub fn metrics(&self) -> &ClientMetrics {
        &self.m
    }

    pub fn request(&self, state: BreakerState, tokens: u32, secs: f64) {
        let op = Operation::GetObject;
        let report =
            crate::pipeline::report::OpReport::start(&self.m, None, op, tracing::Span::none());
        self.ep.sync(state, tokens);
        let h = self.m.op(op);
        h.sent.inc_by(0);
        h.first_byte.observe(secs);
        self.m.attempt_done(op, AttemptKind::First, "ok");
        h.attempt_duration.observe(secs);
        h.received.inc_by(4096);
        self.ep.sync(state, tokens);
        let mut report = report;
        report.outcome = Some(OpOutcome::Ok);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_operations_index_their_handles() {
        for (i, op) in ossguard_proto::ops::ALL.iter().enumerate() {
            assert_eq!(*op as usize, i, "{op:?}");
        }
        let m = ClientMetrics::new();
        m.op(Operation::GetObject).sent.inc();
        assert_eq!(m.op(Operation::GetObject).sent.get(), 1);
        assert_eq!(m.op(Operation::PutObject).sent.get(), 0);
    }

    #[test]
    fn breaker_gauges_show_one_state_and_count_transitions() {
        let m = ClientMetrics::new();
        let ep = m.endpoint("primary");
        ep.sync(BreakerState::Closed, 500);
        ep.sync(BreakerState::Open, 480);
        ep.sync(BreakerState::Open, 480);
        ep.sync(BreakerState::Recovering, 480);
        let mut reg = Registry::default();
        m.register(&mut reg);
        let (_, text) = ossguard_exposition_free_encode(&reg);
        assert!(
            text.contains(r#"ossguard_breaker_state{endpoint="primary",state="half_open"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"ossguard_breaker_state{endpoint="primary",state="open"} 0"#));
        assert!(text.contains(r#"ossguard_breaker_state{endpoint="primary",state="closed"} 0"#));
        assert!(text.contains(
            r#"ossguard_breaker_transitions_total{endpoint="primary",from="closed",to="open"} 1"#
        ));
        assert!(text.contains(
            r#"ossguard_breaker_transitions_total{endpoint="primary",from="open",to="half_open"} 1"#
        ));
        assert!(text.contains(r#"ossguard_retry_budget_tokens{endpoint="primary"} 480"#));
        // Pre-created at 0 for the alerts.
        assert!(text.contains(r#"ossguard_integrity_failures_total{operation="GetObject"} 0"#));
        assert!(text.contains(r#"ossguard_operations_total{operation="PutObject",outcome="ok"} 0"#));
    }

    fn ossguard_exposition_free_encode(reg: &Registry) -> ((), String) {
        let mut s = String::new();
        prometheus_client::encoding::text::encode(&mut s, reg).unwrap();
        ((), s)
    }
}
