//! What the pipeline remembers per endpoint: the sans-IO policy state
//! ([`ossguard_resilience::op::Endpoint`]: breaker, retry budget, hedge tokens, per-class
//! latency, RNG), the learned clock offset, the bulkheads, and counters for reports and metrics.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use ossguard_resilience::breaker::BreakerState;
use ossguard_resilience::op::{Endpoint, EndpointConfig};
use tokio::sync::Semaphore;

use super::policy::Policy;
use crate::metrics::{ClientMetrics, EndpointMetrics};

/// Counters of what the pipeline did (monotonic).
#[derive(Debug, Default)]
pub struct PipelineStats {
    /// Logical operations started.
    pub operations: AtomicU64,
    /// HTTP attempts sent (body resumes included).
    pub attempts: AtomicU64,
    /// Attempts sent after a failed one.
    pub retries: AtomicU64,
    /// Second attempts raced against a first: hedged reads, and duplicates of uploads that
    /// went silent after handing out their body.
    pub hedges: AtomicU64,
    /// Attempts the open circuit breaker refused to send.
    pub breaker_rejections: AtomicU64,
    /// Clock offsets adopted from the server's `Date` after `RequestTimeTooSkewed`.
    pub skew_corrections: AtomicU64,
    /// CRC-64 / Content-MD5 mismatches caught.
    pub integrity_failures: AtomicU64,
    /// Broken bodies continued from where they broke (each also counts as an attempt).
    pub body_resumes: AtomicU64,
    /// Connections abandoned by the idle timeout or the throughput floor.
    pub slow_connections_cut: AtomicU64,
}

/// A copy of [`PipelineStats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Logical operations started.
    pub operations: u64,
    /// HTTP attempts sent (body resumes included).
    pub attempts: u64,
    /// Attempts sent after a failed one.
    pub retries: u64,
    /// See [`PipelineStats::hedges`].
    pub hedges: u64,
    /// Attempts the open circuit breaker refused to send.
    pub breaker_rejections: u64,
    /// Clock offsets adopted from the server's `Date` after `RequestTimeTooSkewed`.
    pub skew_corrections: u64,
    /// CRC-64 / Content-MD5 mismatches caught.
    pub integrity_failures: u64,
    /// See [`PipelineStats::body_resumes`].
    pub body_resumes: u64,
    /// See [`PipelineStats::slow_connections_cut`].
    pub slow_connections_cut: u64,
    /// Circuit-breaker state changes (flapping shows here).
    pub breaker_transitions: u64,
}

impl PipelineStats {
    /// The counters now.
    pub fn snapshot(&self) -> StatsSnapshot {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StatsSnapshot {
            operations: g(&self.operations),
            attempts: g(&self.attempts),
            retries: g(&self.retries),
            hedges: g(&self.hedges),
            breaker_rejections: g(&self.breaker_rejections),
            skew_corrections: g(&self.skew_corrections),
            integrity_failures: g(&self.integrity_failures),
            body_resumes: g(&self.body_resumes),
            slow_connections_cut: g(&self.slow_connections_cut),
            breaker_transitions: 0,
        }
    }
}

pub(crate) struct EndpointState {
    pub policy: Policy,
    pub policies: Mutex<Endpoint>,
    /// Server time minus local time, in milliseconds (learned from RequestTimeTooSkewed).
    pub clock_offset_ms: AtomicI64,
    pub stats: PipelineStats,
    pub metadata_slots: Arc<Semaphore>,
    pub data_slots: Arc<Semaphore>,
    pub origin: tokio::time::Instant,
    pub metrics: ClientMetrics,
    pub gauges: EndpointMetrics,
}

impl EndpointState {
    pub fn new(policy: Policy, metrics: ClientMetrics, name: &str) -> Self {
        let mut seed = [0u8; 8];
        // Jitter only needs to differ between processes; the time is a fine fallback.
        if getrandom::fill(&mut seed).is_err() {
            seed = (SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos() as u64)
                .to_le_bytes();
        }
        let this = Self {
            policies: Mutex::new(Endpoint::new(
                EndpointConfig {
                    retry: policy.retry,
                    budget: policy.budget,
                    breaker: policy.breaker,
                    hedge: policy.hedge,
                    first_byte: policy.first_byte,
                },
                u64::from_le_bytes(seed),
            )),
            metadata_slots: Arc::new(Semaphore::new(policy.metadata_concurrency.max(1))),
            data_slots: Arc::new(Semaphore::new(policy.data_concurrency.max(1))),
            policy,
            clock_offset_ms: AtomicI64::new(0),
            stats: PipelineStats::default(),
            origin: tokio::time::Instant::now(),
            gauges: metrics.endpoint(name),
            metrics,
        };
        {
            let ep = this.lock();
            this.gauges.sync(ep.breaker_state(), ep.budget_tokens());
        }
        this
    }

    /// Monotonic policy time (tokio's clock, so paused-time tests work).
    pub fn now(&self) -> Duration {
        tokio::time::Instant::now().duration_since(self.origin)
    }

    /// Wall-clock time for signing, corrected by the learned offset.
    pub fn signing_time(&self) -> SystemTime {
        let off = self.clock_offset_ms.load(Ordering::Relaxed);
        let now = SystemTime::now();
        if off >= 0 {
            now + Duration::from_millis(off as u64)
        } else {
            now - Duration::from_millis(off.unsigned_abs())
        }
    }

    pub fn learn_server_time(&self, server: SystemTime) {
        let local = SystemTime::now();
        let off = match server.duration_since(local) {
            Ok(d) => d.as_millis() as i64,
            Err(e) => -(e.duration().as_millis() as i64),
        };
        self.clock_offset_ms.store(off, Ordering::Relaxed);
        self.stats.skew_corrections.fetch_add(1, Ordering::Relaxed);
        self.gauges.skew.inc();
    }

    /// One corruption caught (a CRC-64 mismatch): counted once, where it is detected — the
    /// stats and the metric move together.
    pub fn integrity_failure(&self, op: ossguard_proto::Operation) {
        self.stats
            .integrity_failures
            .fetch_add(1, Ordering::Relaxed);
        self.metrics.op(op).integrity.inc();
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, Endpoint> {
        self.policies.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs a policy call under the lock, then brings the breaker and budget gauges in step.
    pub fn with<R>(&self, f: impl FnOnce(&mut Endpoint) -> R) -> R {
        let mut ep = self.lock();
        let r = f(&mut ep);
        self.gauges.sync(ep.breaker_state(), ep.budget_tokens());
        r
    }

    pub fn breaker_state(&self) -> BreakerState {
        self.lock().breaker_state()
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            breaker_transitions: self.lock().breaker_transitions(),
            ..self.stats.snapshot()
        }
    }
}
