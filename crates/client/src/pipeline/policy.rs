//! The knobs of the resilience pipeline, with the defaults of DESIGN.md §4.

use std::time::Duration;

use ossguard_resilience::breaker::BreakerConfig;
use ossguard_resilience::budget::BudgetConfig;
use ossguard_resilience::hedge::HedgeConfig;
use ossguard_resilience::latency::AdaptiveTimeout;
use ossguard_resilience::retry::RetryConfig;

/// How hard the client tries. `Policy::default()` is the resilient client; `Policy::none()` the
/// naive one (one attempt, no breaker, no hedging) for comparisons.
#[derive(Debug, Clone)]
pub struct Policy {
    pub retry: RetryConfig,
    pub budget: BudgetConfig,
    /// `None`: no circuit breaker.
    pub breaker: Option<BreakerConfig>,
    /// `None`: no hedged reads.
    pub hedge: Option<HedgeConfig>,
    /// Overall deadline of one logical metadata operation (all attempts and backoff).
    pub deadline: Duration,
    /// Uploads get `deadline + size / min_throughput`.
    pub min_throughput: u64,
    /// Time to response headers of bodiless requests: adaptive (observed p99.9) with a floor.
    pub first_byte: AdaptiveTimeout,
    /// Concurrent metadata / data operations per client (bulkheads).
    pub metadata_concurrency: usize,
    pub data_concurrency: usize,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            retry: RetryConfig::default(),
            budget: BudgetConfig::default(),
            breaker: Some(BreakerConfig::default()),
            hedge: Some(HedgeConfig::default()),
            deadline: Duration::from_secs(30),
            min_throughput: 1 << 20,
            first_byte: AdaptiveTimeout {
                floor: Duration::from_secs(1),
                initial: Duration::from_secs(10),
                margin: 2.0,
                min_samples: 1000,
            },
            metadata_concurrency: 64,
            data_concurrency: 16,
        }
    }
}

impl Policy {
    /// One attempt, no breaker, no hedging, no adaptive timeout: what most OSS SDKs do.
    pub fn none() -> Self {
        Self {
            retry: RetryConfig::none(),
            breaker: None,
            hedge: None,
            first_byte: AdaptiveTimeout {
                floor: Duration::from_secs(60),
                initial: Duration::from_secs(60),
                margin: 1.0,
                min_samples: u64::MAX,
            },
            ..Self::default()
        }
    }

    /// Sets the attempt count (the first attempt included).
    pub fn with_attempts(mut self, attempts: u32) -> Self {
        self.retry.max_attempts = attempts.max(1);
        self
    }

    pub fn with_deadline(mut self, d: Duration) -> Self {
        self.deadline = d;
        self
    }
}
