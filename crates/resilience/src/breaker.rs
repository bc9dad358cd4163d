//! Circuit breaker per endpoint, three mechanisms in one state machine:
//!
//! * **Adaptive throttling** (Google SRE book, ch. 21; go-zero): over a sliding window the
//!   client rejects locally with probability `max(0, (requests − K·accepts) / (requests + 1))`,
//!   so under overload it sends about `K ×` what the backend accepts. Throttling (503/429) only
//!   acts here: it slows the client down but never hard-opens.
//!   Only overload signals count against the backend: throttling, timeouts and requests that
//!   never reached it. A random 500 or a reset is an answer, not a request to slow down — at
//!   50 % random errors counting them would shed 37 % of the traffic and do worse than no
//!   breaker at all (issue 9).
//! * **Fast trip**: `consecutive_failures` requests in a row that got no answer (refused, timed
//!   out) open the breaker at once — a dead endpoint is detected in milliseconds, not after a
//!   10 s window. Runs of answered failures (5xx, resets) open it only when implausible under
//!   the error rate seen in the window: a chance below `trip_improbability` of being a
//!   coincidence (5 in a row on a healthy endpoint, 12 at 30 % random errors, 20 at 50 % or on
//!   a cold window), so the breaker does not flap at 30–50 % random errors.
//! * **Probe and ramp**: while open, one probe per `probe_interval`; a successful probe starts a
//!   ramp that admits a growing share of requests for `ramp`, then closes.

use std::time::Duration;

use crate::rng::Rng;
use crate::Outcome;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerConfig {
    pub window: Duration,
    pub buckets: u32,
    /// Accept multiplier K of adaptive throttling (SRE uses 2; 1.25 keeps overload traffic
    /// near capacity).
    pub k: f64,
    /// No adaptive rejection while the window holds fewer requests than this (small samples
    /// at 10 % random errors can look like 20 % failures and throttle a healthy service).
    pub min_requests: u32,
    /// Hard failures in a row that open the breaker when the window shows no errors.
    pub consecutive_failures: u32,
    /// A run of failures opens only if `error_rate^run` is below this (a run that random errors
    /// at the observed rate would produce once in a million runs).
    pub trip_improbability: f64,
    /// Longest run ever required (a dead endpoint still trips at a 95 % error rate).
    pub max_consecutive_failures: u32,
    pub probe_interval: Duration,
    pub ramp: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            window: Duration::from_secs(10),
            buckets: 40,
            k: 1.25,
            min_requests: 100,
            consecutive_failures: 5,
            trip_improbability: 1e-6,
            max_consecutive_failures: 64,
            probe_interval: Duration::from_secs(1),
            ramp: Duration::from_millis(500),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    /// Ramping back up after a successful probe.
    Recovering,
}

impl BreakerState {
    /// Gauge value: 0 closed, 1 open, 2 recovering.
    pub fn as_gauge(self) -> u8 {
        match self {
            Self::Closed => 0,
            Self::Open => 1,
            Self::Recovering => 2,
        }
    }
}

/// Whether a request may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allowed,
    /// Allowed as the probe of an open breaker: report its outcome with `was_probe = true`.
    Probe,
    Rejected,
}

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    index: u64,
    requests: u32,
    accepts: u32,
    /// Hard failures (for the fast trip's error rate).
    failures: u32,
}

#[derive(Debug, Clone)]
pub struct Breaker {
    cfg: BreakerConfig,
    state: BreakerState,
    buckets: Vec<Bucket>,
    consecutive: u32,
    /// Consecutive failures of requests that never got an answer (refused, timed out).
    consecutive_unreachable: u32,
    next_probe_at: Duration,
    recovering_since: Duration,
    transitions: u64,
}

impl Breaker {
    pub fn new(cfg: BreakerConfig) -> Self {
        Self {
            buckets: vec![Bucket::default(); cfg.buckets.max(1) as usize],
            cfg,
            state: BreakerState::Closed,
            consecutive: 0,
            consecutive_unreachable: 0,
            next_probe_at: Duration::ZERO,
            recovering_since: Duration::ZERO,
            transitions: 0,
        }
    }

    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// State changes so far (for metrics).
    pub fn transitions(&self) -> u64 {
        self.transitions
    }

    fn bucket_width(&self) -> Duration {
        self.cfg.window / self.cfg.buckets.max(1)
    }

    fn slot(&mut self, now: Duration) -> &mut Bucket {
        let index = (now.as_nanos() / self.bucket_width().as_nanos().max(1)) as u64;
        let n = self.buckets.len();
        let b = &mut self.buckets[(index % n as u64) as usize];
        if b.index != index {
            *b = Bucket {
                index,
                ..Bucket::default()
            };
        }
        b
    }

    fn totals(&self, now: Duration) -> (u32, u32) {
        let index = (now.as_nanos() / self.bucket_width().as_nanos().max(1)) as u64;
        let oldest = index.saturating_sub(self.buckets.len() as u64 - 1);
        self.buckets
            .iter()
            .filter(|b| b.index >= oldest && b.index <= index)
            .fold((0, 0), |(r, a), b| (r + b.requests, a + b.accepts))
    }

    fn failure_totals(&self, now: Duration) -> (u32, u32) {
        let index = (now.as_nanos() / self.bucket_width().as_nanos().max(1)) as u64;
        let oldest = index.saturating_sub(self.buckets.len() as u64 - 1);
        self.buckets
            .iter()
            .filter(|b| b.index >= oldest && b.index <= index)
            .fold((0, 0), |(r, f), b| (r + b.requests, f + b.failures))
    }

    /// How many hard failures in a row open the breaker now: the run length whose chance under
    /// the window's error rate (the current run excluded; Laplace's rule of succession, so a
    /// cold window counts as 50 %) is below `trip_improbability`. A run of failures that never
    /// reached the server (refused, timed out) needs only `consecutive_failures`: that is what
    /// a dead endpoint looks like, whatever the error rate.
    pub fn trip_threshold(&self, now: Duration) -> u32 {
        let base = self.cfg.consecutive_failures.max(1);
        let most = self.cfg.max_consecutive_failures.max(base);
        let (requests, failures) = self.failure_totals(now);
        let run = self.consecutive.min(failures);
        let (requests, failures) = (requests - run, failures - run);
        let rate = (failures as f64 + 1.0) / (requests as f64 + 2.0);
        let needed = (self.cfg.trip_improbability.ln() / rate.ln()).ceil();
        if needed.is_finite() {
            (needed as u32).clamp(base, most)
        } else {
            most
        }
    }

    /// The adaptive rejection probability now.
    pub fn reject_probability(&self, now: Duration) -> f64 {
        let (requests, accepts) = self.totals(now);
        if requests < self.cfg.min_requests {
            return 0.0;
        }
        ((requests as f64 - self.cfg.k * accepts as f64) / (requests as f64 + 1.0)).max(0.0)
    }

    fn set_state(&mut self, s: BreakerState) {
        if self.state != s {
            self.state = s;
            self.transitions += 1;
        }
    }

    /// Decides whether a request may be sent now.
    pub fn admit(&mut self, now: Duration, rng: &mut dyn Rng) -> Admission {
        match self.state {
            BreakerState::Open => {
                if now >= self.next_probe_at {
                    self.next_probe_at = now + self.cfg.probe_interval;
                    Admission::Probe
                } else {
                    Admission::Rejected
                }
            }
            BreakerState::Recovering => {
                let elapsed = now.saturating_sub(self.recovering_since);
                if elapsed >= self.cfg.ramp {
                    self.set_state(BreakerState::Closed);
                    return self.admit(now, rng);
                }
                let share = (elapsed.as_secs_f64() / self.cfg.ramp.as_secs_f64()).max(0.1);
                // Ramp rejections are the breaker's own caution, not a sign of overload: they
                // stay out of the adaptive window, or it would keep throttling after closing.
                if rng.unit() < share {
                    Admission::Allowed
                } else {
                    Admission::Rejected
                }
            }
            BreakerState::Closed => {
                let p = self.reject_probability(now);
                if p > 0.0 && rng.unit() < p {
                    // Local rejections count as requests at once (SRE); allowed ones when their
                    // outcome is recorded, so in-flight requests never look like rejections.
                    self.slot(now).requests += 1;
                    Admission::Rejected
                } else {
                    Admission::Allowed
                }
            }
        }
    }

    /// Reports how an admitted request ended.
    pub fn record(&mut self, now: Duration, outcome: Outcome, was_probe: bool) {
        if outcome == Outcome::Cancelled {
            return;
        }
        let slot = self.slot(now);
        slot.requests += 1;
        if outcome.backend_answered() {
            slot.accepts += 1;
        }
        if outcome.is_hard_failure() {
            slot.failures += 1;
        }
        if was_probe {
            if outcome.backend_accepted() {
                // Forget the outage: the window is full of failures that no longer apply.
                self.buckets.iter_mut().for_each(|b| *b = Bucket::default());
                self.consecutive = 0;
                self.consecutive_unreachable = 0;
                self.recovering_since = now;
                self.set_state(BreakerState::Recovering);
            }
            return;
        }
        if outcome.is_hard_failure() {
            self.consecutive += 1;
            if outcome.backend_answered() {
                self.consecutive_unreachable = 0;
            } else {
                self.consecutive_unreachable += 1;
            }
            let dead = self.consecutive_unreachable >= self.cfg.consecutive_failures;
            if self.state != BreakerState::Open
                && self.consecutive >= self.cfg.consecutive_failures
                && (dead || self.consecutive >= self.trip_threshold(now))
            {
                self.next_probe_at = now + self.cfg.probe_interval;
                self.set_state(BreakerState::Open);
            }
        } else if outcome.backend_accepted() {
            self.consecutive = 0;
            self.consecutive_unreachable = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    /// A burst of concurrent requests, none finished yet, must not look like rejections
    /// (found by the 10 %-errors test against the emulator at concurrency 32).
    #[test]
    fn in_flight_burst_is_admitted() {
        let mut b = Breaker::new(BreakerConfig::default());
        let mut rng = SplitMix64::new(1);
        let t = Duration::from_secs(1);
        for _ in 0..500 {
            assert_eq!(b.admit(t, &mut rng), Admission::Allowed);
        }
        for _ in 0..500 {
            b.record(t, Outcome::Success, false);
        }
        assert_eq!(b.reject_probability(t), 0.0);
    }

    #[test]
    fn throttling_never_opens() {
        let mut b = Breaker::new(BreakerConfig::default());
        let mut rng = SplitMix64::new(2);
        for i in 0..10_000u64 {
            let now = Duration::from_millis(i);
            if b.admit(now, &mut rng) != Admission::Rejected {
                b.record(now, Outcome::Throttled { hint: None }, false);
            }
        }
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(
            b.reject_probability(Duration::from_millis(10_000)) > 0.5,
            "but it does slow down"
        );
    }

    /// Issue 9: the old fast trip (5 hard failures in a row across all requests) opened
    /// several times a second at 30–50 % random errors.
    #[test]
    fn random_errors_do_not_flap() {
        for rate in [0.1, 0.3, 0.5] {
            let mut b = Breaker::new(BreakerConfig::default());
            let mut rng = SplitMix64::new(9);
            let mut rejected = 0;
            for i in 0..100_000u64 {
                let now = Duration::from_millis(i);
                match b.admit(now, &mut rng) {
                    Admission::Rejected => rejected += 1,
                    a => {
                        let outcome = if rng.unit() < rate {
                            Outcome::Transient {
                                timeout: false,
                                never_sent: false,
                            }
                        } else {
                            Outcome::Success
                        };
                        b.record(now, outcome, a == Admission::Probe);
                    }
                }
            }
            assert_eq!(b.transitions(), 0, "{rate}: state changes");
            assert_eq!(
                rejected, 0,
                "{rate}: random errors are answers, not overload"
            );
        }
    }

    #[test]
    fn a_dead_endpoint_still_trips_fast_after_random_errors() {
        let mut b = Breaker::new(BreakerConfig::default());
        let mut rng = SplitMix64::new(3);
        let mut t = 0u64;
        for _ in 0..1000 {
            t += 1;
            let outcome = if rng.unit() < 0.3 {
                Outcome::Transient {
                    timeout: false,
                    never_sent: false,
                }
            } else {
                Outcome::Success
            };
            b.admit(Duration::from_millis(t), &mut rng);
            b.record(Duration::from_millis(t), outcome, false);
        }
        let dead = Outcome::Transient {
            timeout: false,
            never_sent: true,
        };
        let mut n = 0;
        while b.state() != BreakerState::Open {
            t += 1;
            n += 1;
            assert!(n <= 64, "never tripped");
            b.admit(Duration::from_millis(t), &mut rng);
            b.record(Duration::from_millis(t), dead, false);
        }
        assert!(n <= 13, "tripped after {n} refusals at a 30 % error rate");
    }
}
