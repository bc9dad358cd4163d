//! The knobs of the resilience pipeline, with the defaults of DESIGN.md §4.

use std::time::Duration;

use ossguard_resilience::breaker::BreakerConfig;
use ossguard_resilience::budget::BudgetConfig;
use ossguard_resilience::hedge::HedgeConfig;
use ossguard_resilience::latency::AdaptiveTimeout;
use ossguard_resilience::progress::ProgressConfig;
use ossguard_resilience::retry::RetryConfig;

/// How hard the client tries. `Policy::default()` is the resilient client; `Policy::none()` the
/// naive one (one attempt, no breaker, no hedging) for comparisons.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Attempts in all and the backoff between them, by failure class.
    pub retry: RetryConfig,
    /// The retry budget: retries spend tokens, successes earn them, so retries stop when most
    /// requests fail.
    pub budget: BudgetConfig,
    /// `None`: no circuit breaker.
    pub breaker: Option<BreakerConfig>,
    /// `None`: no hedged reads.
    pub hedge: Option<HedgeConfig>,
    /// Overall deadline of one logical operation that moves no object data (all attempts,
    /// backoff and reading its small XML answer). Default 30 s: DESIGN §4 (the SDKs' operation
    /// timeout order of magnitude; 5 attempts with the backoff caps fit in it).
    pub deadline: Duration,
    /// Deadline of an operation that moves object data (PutObject, UploadPart, AppendObject,
    /// GetObject including its body and every resume). Default `None`: no guess at the link
    /// speed (the old `30 s + size at 1 MiB/s` failed every part on a healthy slower link);
    /// data operations are bounded by [`progress`](Self::progress) instead, and by the attempt
    /// cap and retry budget. An explicit [`with_deadline`](Self::with_deadline) (`--deadline`)
    /// sets it and caps everything.
    pub transfer_deadline: Option<Duration>,
    /// Idle timeout and minimum-throughput floor of every data body, both directions (see
    /// [`ProgressConfig`] for the defaults and their anchors): a stalled or dripping connection
    /// is abandoned and the transfer continues on a fresh one from where it was.
    pub progress: ProgressConfig,
    /// Time to response headers of bodiless reads: adaptive (observed p99.9 × 2 of the same
    /// class of read), floor 1 s, 10 s until 1,000 samples (DESIGN §4).
    pub first_byte: AdaptiveTimeout,
    /// Concurrent metadata / data operations per client (bulkheads, DESIGN §4: 64 / 16). A data
    /// operation holds its slot until its body is read or dropped.
    pub metadata_concurrency: usize,
    /// Concurrent data operations per client (see
    /// [`metadata_concurrency`](Self::metadata_concurrency)).
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
            transfer_deadline: None,
            progress: ProgressConfig::default(),
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
    /// One attempt, no breaker, no hedging, no adaptive timeout, no throughput floor (an idle
    /// timeout only): what most OSS SDKs do.
    pub fn none() -> Self {
        Self {
            retry: RetryConfig::none(),
            breaker: None,
            hedge: None,
            // An idle read timeout like the SDKs' (10 s), no throughput floor.
            progress: ProgressConfig {
                min_bytes_per_sec: 0,
                window: Duration::MAX,
                ..ProgressConfig::default()
            },
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

    /// An explicit deadline for every operation, data transfers included.
    pub fn with_deadline(mut self, d: Duration) -> Self {
        self.deadline = d;
        self.transfer_deadline = Some(d);
        self
    }
}
