//! Streaming latency quantiles over a recent window: a log-bucketed histogram (5 % wide
//! buckets, 1 µs to ~2 h) in two halves that rotate every `rotate_every` samples, so estimates
//! follow the service as it changes. Quantiles are cached and refreshed every 64 samples, which
//! keeps a per-request query far below a microsecond.

use std::time::Duration;

const GROWTH: f64 = 1.05;
const BUCKETS: usize = 470;

#[derive(Debug, Clone)]
struct Histogram {
    counts: Vec<u32>,
    total: u64,
}

impl Histogram {
    fn new() -> Self {
        Self {
            counts: vec![0; BUCKETS],
            total: 0,
        }
    }
}

fn bucket_of(d: Duration) -> usize {
    let us = d.as_secs_f64() * 1e6;
    if us <= 1.0 {
        return 0;
    }
    ((us.ln() / GROWTH.ln()) as usize + 1).min(BUCKETS - 1)
}

/// Upper edge of a bucket (a conservative estimate for delays and timeouts).
fn upper_of(b: usize) -> Duration {
    Duration::from_secs_f64(GROWTH.powi(b as i32) * 1e-6)
}

#[derive(Debug, Clone)]
pub struct LatencyTracker {
    current: Histogram,
    previous: Histogram,
    rotate_every: u64,
    since_refresh: u32,
    cached: Vec<(f64, Option<Duration>)>,
}

impl LatencyTracker {
    /// Tracks quantiles `qs` (e.g. `[0.99, 0.999]`) over the last `rotate_every`..`2·rotate_every`
    /// samples.
    pub fn new(rotate_every: u64, qs: &[f64]) -> Self {
        Self {
            current: Histogram::new(),
            previous: Histogram::new(),
            rotate_every: rotate_every.max(1),
            since_refresh: 0,
            cached: qs.iter().map(|&q| (q, None)).collect(),
        }
    }

    pub fn record(&mut self, d: Duration) {
        let b = bucket_of(d);
        self.current.counts[b] += 1;
        self.current.total += 1;
        if self.current.total >= self.rotate_every {
            self.previous = std::mem::replace(&mut self.current, Histogram::new());
        }
        self.since_refresh += 1;
        if self.since_refresh >= 64 {
            self.refresh();
        }
    }

    /// Samples in the window.
    pub fn samples(&self) -> u64 {
        self.current.total + self.previous.total
    }

    fn refresh(&mut self) {
        self.since_refresh = 0;
        for i in 0..self.cached.len() {
            let q = self.cached[i].0;
            self.cached[i].1 = self.compute(q);
        }
    }

    fn compute(&self, q: f64) -> Option<Duration> {
        let n = self.samples();
        if n == 0 {
            return None;
        }
        let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
        let mut seen = 0u64;
        for b in 0..BUCKETS {
            seen += (self.current.counts[b] + self.previous.counts[b]) as u64;
            if seen >= rank {
                return Some(upper_of(b));
            }
        }
        Some(upper_of(BUCKETS - 1))
    }

    /// The cached estimate of a tracked quantile (refreshed every 64 samples).
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        self.cached
            .iter()
            .find(|c| (c.0 - q).abs() < 1e-12)
            .and_then(|c| c.1)
    }

    /// Recomputes now (tests; callers normally rely on the periodic refresh).
    pub fn quantile_now(&self, q: f64) -> Option<Duration> {
        self.compute(q)
    }
}

/// A first-byte timeout that follows the service: the observed p99.9 (× `margin`), never below
/// `floor`, and `initial` until enough samples exist.
#[derive(Debug, Clone, Copy)]
pub struct AdaptiveTimeout {
    pub floor: Duration,
    pub initial: Duration,
    pub margin: f64,
    pub min_samples: u64,
}

impl AdaptiveTimeout {
    pub fn timeout(&self, tracker: &LatencyTracker) -> Duration {
        if tracker.samples() < self.min_samples {
            return self.initial;
        }
        tracker
            .quantile(0.999)
            .map(|p| p.mul_f64(self.margin).max(self.floor))
            .unwrap_or(self.initial)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_a_bucket() {
        let mut t = LatencyTracker::new(100_000, &[0.5, 0.99]);
        for i in 1..=10_000u64 {
            t.record(Duration::from_micros(i * 100));
        }
        let p50 = t.quantile_now(0.5).unwrap().as_secs_f64();
        let p99 = t.quantile(0.99).unwrap().as_secs_f64();
        assert!((0.5..=0.5 * 1.06).contains(&p50), "{p50}");
        assert!((0.99..=0.99 * 1.06).contains(&p99), "{p99}");
    }

    #[test]
    fn window_forgets_old_samples() {
        let mut t = LatencyTracker::new(1000, &[0.5]);
        for _ in 0..5000 {
            t.record(Duration::from_secs(1));
        }
        for _ in 0..2000 {
            t.record(Duration::from_millis(10));
        }
        assert!(t.quantile_now(0.5).unwrap() < Duration::from_millis(11));
    }
}
