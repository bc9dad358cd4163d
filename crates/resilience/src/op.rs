//! One logical operation as a sans-IO state machine (the shape of quinn-proto's connection):
//! the async driver asks it what to do and tells it what happened; it never sleeps, sends or
//! reads a clock. Every decision of the pipeline is here, in order:
//!
//! ```text
//! start ─▶ deadline? ─▶ breaker admission ─▶ Send { first-byte timeout, hedge delay }
//!   ▲                                              │
//!   │          finish(outcome, first byte)  ◀──────┘   (headers, and a small body, read)
//!   │             │ success: record latency (bodiless reads only), refund budget ─▶ Done
//!   └── Retry ◀───┤ failure: breaker, retry class, attempts, deadline, budget ─▶ Stop
//!                 │
//!   body_failed(outcome, progressed) ─▶ Retry (resume from where the body broke) | Stop
//! ```
//!
//! [`Endpoint`] is everything shared by the operations of one endpoint: breaker, retry budget,
//! hedge tokens, per-class first-byte latency, the RNG.

use std::time::Duration;

use crate::breaker::{Admission, Breaker, BreakerConfig, BreakerState};
use crate::budget::{BudgetConfig, RetryBudget};
use crate::deadline::Deadline;
use crate::hedge::{HedgeConfig, HedgePolicy};
use crate::latency::{AdaptiveTimeout, LatencyTracker};
use crate::retry::{AttemptInfo, Decision, RetryConfig, StopReason};
use crate::rng::SplitMix64;
use crate::Outcome;

/// What kind of request an operation sends, for first-byte latency. Only bodiless reads have a
/// first byte that measures the service: an upload's answer waits for its body, and Copy or
/// Complete work silently before answering — those never feed the hedge delay or the
/// first-byte timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpClass {
    /// GET of object data.
    ObjectRead,
    /// HEAD, List, Get*Acl, … (small answers).
    MetadataRead,
    /// Uploads and silent server work: no first-byte timeout (the deadline only), not tracked.
    Untracked,
}

#[derive(Debug, Clone)]
pub struct EndpointConfig {
    pub retry: RetryConfig,
    pub budget: BudgetConfig,
    pub breaker: Option<BreakerConfig>,
    pub hedge: Option<HedgeConfig>,
    pub first_byte: AdaptiveTimeout,
}

/// The policies' shared state for one endpoint.
#[derive(Debug, Clone)]
pub struct Endpoint {
    cfg: EndpointConfig,
    breaker: Option<Breaker>,
    budget: RetryBudget,
    hedge: Option<HedgePolicy>,
    /// First-byte latency of [`OpClass::ObjectRead`] and [`OpClass::MetadataRead`].
    ttfb: [LatencyTracker; 2],
    rng: SplitMix64,
}

impl Endpoint {
    pub fn new(cfg: EndpointConfig, seed: u64) -> Self {
        let hedge = cfg.hedge.map(HedgePolicy::new);
        // The first-byte timeout's p99.9 and whatever the hedge delay needs.
        let mut qs = vec![0.999];
        qs.extend(hedge.iter().flat_map(|h| h.quantiles()));
        let tracker = || LatencyTracker::new(10_000, &qs);
        Self {
            breaker: cfg.breaker.map(Breaker::new),
            budget: RetryBudget::new(cfg.budget),
            hedge,
            ttfb: [tracker(), tracker()],
            rng: SplitMix64::new(seed),
            cfg,
        }
    }

    pub fn breaker_state(&self) -> BreakerState {
        self.breaker
            .as_ref()
            .map_or(BreakerState::Closed, |b| b.state())
    }

    /// Breaker state changes so far.
    pub fn breaker_transitions(&self) -> u64 {
        self.breaker.as_ref().map_or(0, |b| b.transitions())
    }

    pub fn budget_tokens(&self) -> u32 {
        self.budget.tokens()
    }

    /// The first-byte latency tracker of a class (`None` for untracked classes).
    pub fn first_byte_tracker(&self, class: OpClass) -> Option<&LatencyTracker> {
        match class {
            OpClass::ObjectRead => Some(&self.ttfb[0]),
            OpClass::MetadataRead => Some(&self.ttfb[1]),
            OpClass::Untracked => None,
        }
    }

    /// The tracker a read's hedge delay comes from: its own class's, or — while that has
    /// fewer than `min_samples` — the other read class's when that one is warm. Both measure
    /// time to response headers of a bodiless read (a GET's headers come before its body), so
    /// a client warmed by HEADs need not wait 2 s before hedging its first GETs. Uploads and
    /// silent server work never feed either.
    fn hedge_tracker(&self, class: OpClass, min_samples: u64) -> Option<&LatencyTracker> {
        let (own, other) = match class {
            OpClass::ObjectRead => (&self.ttfb[0], &self.ttfb[1]),
            OpClass::MetadataRead => (&self.ttfb[1], &self.ttfb[0]),
            OpClass::Untracked => return None,
        };
        Some(
            if own.samples() < min_samples && other.samples() >= min_samples {
                other
            } else {
                own
            },
        )
    }

    fn tracker_mut(&mut self, class: OpClass) -> Option<&mut LatencyTracker> {
        match class {
            OpClass::ObjectRead => Some(&mut self.ttfb[0]),
            OpClass::MetadataRead => Some(&mut self.ttfb[1]),
            OpClass::Untracked => None,
        }
    }
}

/// What the driver must know about an operation.
#[derive(Debug, Clone, Copy)]
pub struct OpSpec {
    pub idempotent: bool,
    pub class: OpClass,
    /// Idempotent read that may be hedged.
    pub hedgeable: bool,
}

/// Why an attempt was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    DeadlineExceeded,
    CircuitOpen,
}

/// What the driver does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Send an attempt; wait at most `first_byte` for its response headers (`None`: until the
    /// deadline), and start one hedge after `hedge_after` (ask [`Op::may_hedge`] then).
    Send {
        first_byte: Option<Duration>,
        hedge_after: Option<Duration>,
    },
    Refused(Refusal),
}

/// After an attempt (or a broken body).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Done,
    /// Sleep `after`, then [`Op::start`] again.
    Retry {
        after: Duration,
    },
    Stop(StopReason),
}

/// One logical operation.
#[derive(Debug, Clone)]
pub struct Op {
    spec: OpSpec,
    deadline: Deadline,
    /// Attempts since the operation last made progress (the attempt cap applies to these).
    info: AttemptInfo,
    /// All attempts, resumes included.
    total: u32,
    spent: u32,
    admission: Admission,
}

impl Op {
    pub fn new(spec: OpSpec, deadline: Deadline) -> Self {
        Self {
            spec,
            deadline,
            info: AttemptInfo {
                attempts: 0,
                idempotent: spec.idempotent,
                skew_retried: false,
            },
            total: 0,
            spent: 0,
            admission: Admission::Allowed,
        }
    }

    pub fn deadline(&self) -> Deadline {
        self.deadline
    }

    /// Attempts sent so far, resumes included.
    pub fn attempts(&self) -> u32 {
        self.total
    }

    /// May the next attempt go, and how is it bounded?
    pub fn start(&mut self, ep: &mut Endpoint, now: Duration) -> Step {
        if self.deadline.expired(now) {
            return Step::Refused(Refusal::DeadlineExceeded);
        }
        self.admission = match ep.breaker.as_mut() {
            Some(b) => b.admit(now, &mut ep.rng),
            None => Admission::Allowed,
        };
        if self.admission == Admission::Rejected {
            return Step::Refused(Refusal::CircuitOpen);
        }
        self.info.attempts += 1;
        self.total += 1;
        let left = self.deadline.remaining(now);
        let first_byte = ep
            .first_byte_tracker(self.spec.class)
            .map(|t| ep.cfg.first_byte.timeout(t).min(left));
        let hedge_after = if self.spec.hedgeable && ep.breaker_state() == BreakerState::Closed {
            let min = ep.hedge.as_ref().map_or(0, |h| h.config().min_samples);
            let delay = match (ep.hedge.as_ref(), ep.hedge_tracker(self.spec.class, min)) {
                (Some(h), Some(t)) => Some(h.delay(t)),
                _ => None,
            };
            match (ep.hedge.as_mut(), delay) {
                (Some(h), Some(d)) => {
                    h.on_request();
                    Some(d).filter(|d| *d < first_byte.unwrap_or(left))
                }
                _ => None,
            }
        } else {
            None
        };
        // An operation without a deadline (a transfer bounded by progress) has no bound here.
        let far = Duration::from_secs(365 * 24 * 3600);
        Step::Send {
            first_byte: first_byte.or((left < far).then_some(left)),
            hedge_after,
        }
    }

    /// The hedge delay passed without an answer: may the duplicate go? (spends its token)
    pub fn may_hedge(&mut self, ep: &mut Endpoint) -> bool {
        let state = ep.breaker_state();
        ep.hedge
            .as_mut()
            .is_some_and(|h| h.try_hedge(state, &mut ep.budget))
    }

    /// A hedge ended: `won` when its answer was the one used (hedges that keep losing are
    /// sent less often).
    pub fn hedge_result(&mut self, ep: &mut Endpoint, won: bool) {
        if let Some(h) = ep.hedge.as_mut() {
            h.on_hedge_result(won);
        }
    }

    /// An upload went silent after handing out its whole body (draining buffers, or a server
    /// that stopped reading — the client cannot tell): may a duplicate race it on a fresh
    /// connection? It costs a timeout retry's budget, no hedge token.
    pub fn may_duplicate(&mut self, ep: &mut Endpoint) -> bool {
        match ep.budget.try_acquire(true) {
            Some(cost) => {
                self.spent += cost;
                true
            }
            None => false,
        }
    }

    /// How the attempt ended. `first_byte` is the time to its response headers (recorded for
    /// bodiless reads on success). `replayable`: the request body can be sent again.
    pub fn finish(
        &mut self,
        ep: &mut Endpoint,
        now: Duration,
        outcome: Outcome,
        first_byte: Option<Duration>,
        replayable: bool,
    ) -> Next {
        if let Some(b) = ep.breaker.as_mut() {
            b.record(now, outcome, self.admission == Admission::Probe);
        }
        if outcome == Outcome::Success {
            if let (Some(t), Some(d)) = (ep.tracker_mut(self.spec.class), first_byte) {
                t.record(d);
            }
            ep.budget.on_success(self.spent);
            return Next::Done;
        }
        if !replayable {
            return Next::Stop(StopReason::NotReplayable);
        }
        self.decide(ep, now, outcome)
    }

    /// A response body broke after its headers succeeded. `progressed`: the attempt delivered
    /// bytes, so the attempt cap starts over (it bounds attempts without progress; the deadline
    /// and the retry budget bound the rest). The breaker already counted the attempt.
    pub fn body_failed(
        &mut self,
        ep: &mut Endpoint,
        now: Duration,
        outcome: Outcome,
        progressed: bool,
    ) -> Next {
        if progressed {
            self.info.attempts = 1;
        }
        self.decide(ep, now, outcome)
    }

    /// The body finished after a resume: refund what the resumes cost.
    pub fn body_done(&mut self, ep: &mut Endpoint) {
        if self.spent > 0 {
            ep.budget.on_success(self.spent);
            self.spent = 0;
        }
    }

    fn decide(&mut self, ep: &mut Endpoint, now: Duration, outcome: Outcome) -> Next {
        let d = ep.cfg.retry.decide(
            self.info,
            outcome,
            now,
            self.deadline,
            &mut ep.budget,
            &mut ep.rng,
        );
        match d {
            Decision::Stop(r) => Next::Stop(r),
            Decision::Retry { after, cost } => {
                self.spent += cost;
                if outcome == Outcome::ClockSkew {
                    self.info.skew_retried = true;
                }
                Next::Retry { after }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint() -> Endpoint {
        Endpoint::new(
            EndpointConfig {
                retry: RetryConfig::default(),
                budget: BudgetConfig::default(),
                breaker: Some(BreakerConfig::default()),
                hedge: Some(HedgeConfig::default()),
                first_byte: AdaptiveTimeout {
                    floor: Duration::from_secs(1),
                    initial: Duration::from_secs(10),
                    margin: 2.0,
                    min_samples: 10,
                },
            },
            1,
        )
    }

    const GET: OpSpec = OpSpec {
        idempotent: true,
        class: OpClass::ObjectRead,
        hedgeable: true,
    };
    const PUT: OpSpec = OpSpec {
        idempotent: true,
        class: OpClass::Untracked,
        hedgeable: false,
    };

    fn run(ep: &mut Endpoint, spec: OpSpec, latency: Duration) {
        let mut op = Op::new(
            spec,
            Deadline::after(Duration::ZERO, Duration::from_secs(30)),
        );
        assert!(matches!(op.start(ep, Duration::ZERO), Step::Send { .. }));
        let n = op.finish(ep, latency, Outcome::Success, Some(latency), true);
        assert_eq!(n, Next::Done);
    }

    fn hedge_delay(ep: &mut Endpoint, spec: OpSpec) -> Option<Duration> {
        let mut op = Op::new(
            spec,
            Deadline::after(Duration::ZERO, Duration::from_secs(30)),
        );
        match op.start(ep, Duration::ZERO) {
            Step::Send { hedge_after, .. } => hedge_after,
            other => panic!("{other:?}"),
        }
    }

    /// The drill found a client warmed by HEADs hedging its first GETs only after 2 s: a cold
    /// read class borrows the warm one's delay until it has its own samples.
    #[test]
    fn a_cold_read_class_hedges_on_the_warm_one() {
        const HEAD: OpSpec = OpSpec {
            idempotent: true,
            class: OpClass::MetadataRead,
            hedgeable: true,
        };
        let mut ep = endpoint();
        assert_eq!(
            hedge_delay(&mut ep, GET),
            Some(Duration::from_secs(2)),
            "all cold"
        );
        for _ in 0..250 {
            run(&mut ep, HEAD, Duration::from_millis(3));
        }
        let borrowed = hedge_delay(&mut ep, GET).unwrap();
        assert!(borrowed < Duration::from_millis(10), "{borrowed:?}");
        // Once GETs have their own samples, their own latency rules.
        for _ in 0..250 {
            run(&mut ep, GET, Duration::from_millis(40));
        }
        let own = hedge_delay(&mut ep, GET).unwrap();
        assert!(own >= Duration::from_millis(40), "{own:?}");
        // Uploads never count: a cold class with only uploads seen stays at the initial delay.
        let mut fresh = endpoint();
        for _ in 0..300 {
            run(&mut fresh, PUT, Duration::from_millis(1));
        }
        assert_eq!(hedge_delay(&mut fresh, HEAD), Some(Duration::from_secs(2)));
    }

    /// The tracker serves whatever quantiles the hedge is configured with (it used to track
    /// only the p99, so a p95 hedge stayed at its initial delay for good).
    #[test]
    fn a_configured_hedge_quantile_is_tracked() {
        let mut ep = Endpoint::new(
            EndpointConfig {
                hedge: Some(HedgeConfig {
                    quantile: 0.95,
                    ..HedgeConfig::default()
                }),
                ..endpoint().cfg
            },
            1,
        );
        // p95 10 ms, p99 100 ms.
        for i in 0..1000u64 {
            let ms = if i % 100 < 95 { 10 } else { 100 };
            run(&mut ep, GET, Duration::from_millis(ms));
        }
        let d = hedge_delay(&mut ep, GET).unwrap();
        assert!(d < Duration::from_millis(20), "{d:?}");
    }

    /// Issue 9: big uploads fed the first-byte tracker and pushed the GET hedge delay up.
    #[test]
    fn uploads_never_feed_the_read_first_byte_latency() {
        let mut ep = endpoint();
        for _ in 0..300 {
            run(&mut ep, GET, Duration::from_millis(20));
        }
        for _ in 0..3000 {
            run(&mut ep, PUT, Duration::from_secs(5));
        }
        assert!(ep.first_byte_tracker(OpClass::Untracked).is_none());
        assert_eq!(
            ep.first_byte_tracker(OpClass::MetadataRead)
                .unwrap()
                .samples(),
            0
        );
        let mut op = Op::new(
            GET,
            Deadline::after(Duration::ZERO, Duration::from_secs(30)),
        );
        let Step::Send {
            first_byte,
            hedge_after,
        } = op.start(&mut ep, Duration::ZERO)
        else {
            panic!("refused")
        };
        assert!(
            hedge_after.unwrap() < Duration::from_millis(30),
            "{hedge_after:?}"
        );
        assert_eq!(
            first_byte,
            Some(Duration::from_secs(1)),
            "floor of 2 × p99.9"
        );
        // An upload waits for the deadline only.
        let mut put = Op::new(
            PUT,
            Deadline::after(Duration::ZERO, Duration::from_secs(30)),
        );
        assert_eq!(
            put.start(&mut ep, Duration::ZERO),
            Step::Send {
                first_byte: Some(Duration::from_secs(30)),
                hedge_after: None
            }
        );
    }

    #[test]
    fn resumes_count_as_attempts_and_progress_restarts_the_cap() {
        let mut ep = endpoint();
        let mut op = Op::new(GET, Deadline::never());
        let reset = Outcome::Transient {
            timeout: false,
            never_sent: false,
        };
        let mut now = Duration::ZERO;
        assert!(matches!(op.start(&mut ep, now), Step::Send { .. }));
        assert_eq!(
            op.finish(&mut ep, now, Outcome::Success, None, true),
            Next::Done
        );
        for _ in 0..10 {
            now += Duration::from_secs(1);
            assert!(matches!(
                op.body_failed(&mut ep, now, reset, true),
                Next::Retry { .. }
            ));
            assert!(matches!(op.start(&mut ep, now), Step::Send { .. }));
        }
        assert_eq!(op.attempts(), 11);
        // Without progress the cap stops it: the attempt that last made progress counts as
        // the first, so `max_attempts` attempts in all since then.
        let cap = RetryConfig::default().max_attempts;
        let mut since_progress = 2;
        let stop = loop {
            match op.body_failed(&mut ep, now, reset, false) {
                Next::Retry { .. } => {
                    op.start(&mut ep, now);
                    since_progress += 1;
                }
                Next::Stop(r) => break r,
                Next::Done => unreachable!(),
            }
            assert!(
                since_progress <= cap,
                "{since_progress} attempts without progress"
            );
        };
        assert_eq!(stop, StopReason::AttemptsExhausted);
        assert_eq!(since_progress, cap);
        assert_eq!(op.attempts(), 11 + cap - 2);
    }
}
