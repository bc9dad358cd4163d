//! The client configurations compared side by side.

use std::time::Duration;

use ossguard::Policy;
use ossguard_resilience::backoff::Backoff;
use ossguard_resilience::breaker::BreakerConfig;
use ossguard_resilience::budget::BudgetConfig;
use ossguard_resilience::latency::AdaptiveTimeout;
use ossguard_resilience::retry::RetryConfig;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Arm {
    Naive,
    Seed,
    Ossguard,
}

pub const ALL: [Arm; 3] = [Arm::Naive, Arm::Seed, Arm::Ossguard];

impl Arm {
    pub fn name(self) -> &'static str {
        match self {
            Arm::Naive => "naive",
            Arm::Seed => "seed",
            Arm::Ossguard => "ossguard",
        }
    }

    pub fn parse(s: &str) -> Option<Arm> {
        ALL.into_iter().find(|a| a.name() == s)
    }

    /// Each arm signs with its own access key, so the server can tell the arms apart.
    pub fn access_key(self) -> String {
        format!("drill-{}-ak", self.name())
    }

    pub fn secret(self) -> String {
        format!("drill-{}-sk", self.name())
    }

    /// Reads and writes go through the fallback chain (cache stale-if-error, write spool).
    pub fn fallback_chain(self) -> bool {
        self == Arm::Ossguard
    }

    pub fn describe(self) -> &'static str {
        match self {
            Arm::Naive => "one attempt, no breaker, no hedging; the seed's http.Client{Timeout: 10s}",
            Arm::Seed => "the seed document's recipe: connect 5 s, response header 3 s, request 10 s; 3 retries at 1 s·2^i + U(0,1) s; go-zero breaker (K 1.5, 10 s / 40 buckets, protection 5, 1 pass/s)",
            Arm::Ossguard => "Policy::default(), with the fallback chain: a local cache (every read revalidated; served stale when OSS fails) and a write spool (replayed after the fault)",
        }
    }

    /// Connect timeout for the client builder.
    pub fn connect_timeout(self) -> Duration {
        Duration::from_secs(5)
    }

    pub fn policy(self) -> Policy {
        match self {
            // `with_deadline` caps data operations (bodies included) too, like the seed's
            // `http.Client{Timeout: 10s}`.
            Arm::Naive => Policy::none().with_deadline(Duration::from_secs(10)),
            Arm::Seed => seed_policy(),
            Arm::Ossguard => Policy::default(),
        }
    }
}

/// The seed's §2.3 timeouts, §3.1/§3.3 retries and §4.1 go-zero breaker, from our policies.
fn seed_policy() -> Policy {
    let backoff = Backoff::additive(
        Duration::from_secs(1),
        Duration::from_secs(60),
        Duration::from_secs(1),
    );
    Policy {
        retry: RetryConfig {
            max_attempts: 4,
            transient: backoff,
            throttled: backoff,
            max_hint: Duration::from_secs(30),
        },
        // The seed has no retry budget: every failure may retry.
        budget: BudgetConfig {
            capacity: u32::MAX / 2,
            retry_cost: 0,
            timeout_retry_cost: 0,
            success_reward: 0,
        },
        breaker: Some(BreakerConfig {
            window: Duration::from_secs(10),
            buckets: 40,
            k: 1.5,
            // go-zero's `protection`: no drops before this many requests in the window.
            min_requests: 5,
            // go-zero has no fast trip and no ramp, only the adaptive drop with one forced
            // pass per second.
            consecutive_failures: u32::MAX,
            trip_improbability: 0.0,
            max_consecutive_failures: u32::MAX,
            probe_interval: Duration::from_secs(1),
            ramp: Duration::ZERO,
        }),
        hedge: None,
        // 4 attempts of ≤ 10 s each plus 1+2+4 s (+ U(0,1) s) of backoff.
        deadline: Duration::from_secs(50),
        transfer_deadline: Some(Duration::from_secs(50)),
        first_byte: AdaptiveTimeout {
            floor: Duration::from_secs(3),
            initial: Duration::from_secs(3),
            margin: 1.0,
            min_samples: u64::MAX,
        },
        ..Policy::default()
    }
}
