//! Hedged reads ("The Tail at Scale"): when an idempotent read has not answered after the
//! service's p99, send one duplicate and take whichever answers first. Hedges are capped at a
//! share of requests (10 %; each request earns `max_share` of a hedge token), paid from the retry
//! budget, and never sent while the breaker is not closed.
//!
//! The delay is the p99 but never more than 3 × the p90. A p99 alone is dragged up by the very
//! stalls hedging is for: once more than 1 % of requests stall and the share cap leaves a few
//! unhedged, their stall times become the p99, the hedge fires too late to help, and that state
//! keeps itself going (measured: 5 % of GETs stalled 3 s gave a p99 of 3 s). The p90 moves only
//! when more than 10 % of requests are slow, and then slowness is the service's normal.
//!
//! Hedges that keep losing stop paying their way: when fewer than a quarter of the last 16
//! hedges won (a brownout: every request is slow, the earlier-sent primary answers first), the
//! share falls to `losing_share` until hedges win again.

use std::time::Duration;

use crate::breaker::BreakerState;
use crate::budget::RetryBudget;
use crate::latency::LatencyTracker;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HedgeConfig {
    /// The hedge delay is this quantile of first-byte latency…
    pub quantile: f64,
    /// …but never more than `ceiling_multiple` × this (lower, outlier-proof) quantile.
    pub ceiling_quantile: f64,
    /// `f64::INFINITY`: no ceiling (the p99 alone); values below 1 count as 1.
    pub ceiling_multiple: f64,
    /// Samples needed before the quantiles are trusted (the ceiling's p90 makes a small
    /// sample safe: its p99 is its largest value, the p90 its 7th).
    pub min_samples: u64,
    /// Delay until then.
    pub initial_delay: Duration,
    pub min_delay: Duration,
    /// Hedges per request at most (0.1 = 10 %). Matches the ceiling's p90: a cap below the
    /// share of outliers the delay is built to tolerate leaves some of them unhedged, and once
    /// those pass 1 % of requests they are the p99.
    pub max_share: f64,
    /// The share while hedges keep losing (see the module docs).
    pub losing_share: f64,
    /// Retry-budget tokens one hedge costs.
    pub budget_cost: u32,
}

impl Default for HedgeConfig {
    fn default() -> Self {
        Self {
            quantile: 0.99,
            ceiling_quantile: 0.9,
            ceiling_multiple: 3.0,
            min_samples: 64,
            initial_delay: Duration::from_secs(2),
            min_delay: Duration::from_millis(5),
            max_share: 0.1,
            losing_share: 0.01,
            budget_cost: 1,
        }
    }
}

/// Outcomes of the last hedges judged.
const JUDGED: u32 = 16;

#[derive(Debug, Clone)]
pub struct HedgePolicy {
    cfg: HedgeConfig,
    tokens: f64,
    /// The last [`JUDGED`] hedge outcomes, newest in bit 0 (1 = won).
    outcomes: u16,
    judged: u32,
}

impl HedgePolicy {
    pub fn new(cfg: HedgeConfig) -> Self {
        Self {
            cfg,
            tokens: 0.0,
            outcomes: 0,
            judged: 0,
        }
    }

    pub fn config(&self) -> &HedgeConfig {
        &self.cfg
    }

    /// Every hedgeable request earns its share of a hedge.
    pub fn on_request(&mut self) {
        let share = match self.losing() {
            true => self.cfg.losing_share.min(self.cfg.max_share),
            false => self.cfg.max_share,
        };
        self.tokens = (self.tokens + share).min(10.0);
    }

    /// A hedge ended: `won` when its answer was the one used.
    pub fn on_hedge_result(&mut self, won: bool) {
        self.outcomes = (self.outcomes << 1) | u16::from(won);
        self.judged = (self.judged + 1).min(JUDGED);
    }

    /// Fewer than a quarter of the last hedges won (judged once 8 have ended). Bits above
    /// `judged` are still the initial zeros, so counting all 16 counts the judged ones.
    pub fn losing(&self) -> bool {
        self.judged >= 8 && self.outcomes.count_ones() * 4 < self.judged
    }

    /// The quantiles [`HedgePolicy::delay`] asks its tracker for.
    pub fn quantiles(&self) -> [f64; 2] {
        [self.cfg.quantile, self.cfg.ceiling_quantile]
    }

    /// How long to wait before hedging.
    pub fn delay(&self, tracker: &LatencyTracker) -> Duration {
        if tracker.samples() < self.cfg.min_samples {
            return self.cfg.initial_delay;
        }
        let Some(q) = tracker.quantile(self.cfg.quantile) else {
            return self.cfg.initial_delay;
        };
        let ceiling = tracker
            .quantile(self.cfg.ceiling_quantile)
            .filter(|_| self.cfg.ceiling_multiple.is_finite())
            .map(|c| c.mul_f64(self.cfg.ceiling_multiple.max(1.0)));
        ceiling.map_or(q, |c| q.min(c)).max(self.cfg.min_delay)
    }

    /// May a hedge go now? Spends its tokens if so.
    pub fn try_hedge(&mut self, breaker: BreakerState, budget: &mut RetryBudget) -> bool {
        if breaker != BreakerState::Closed || self.tokens < 1.0 {
            return false;
        }
        if !budget.try_spend(self.cfg.budget_cost) {
            return false;
        }
        self.tokens -= 1.0;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracker_with_stalls(stall_share: f64) -> LatencyTracker {
        let policy = HedgePolicy::new(HedgeConfig::default());
        let mut t = LatencyTracker::new(100_000, &policy.quantiles());
        let stalls = (1000.0 * stall_share) as u32;
        for i in 0..1000 {
            t.record(if i < stalls {
                Duration::from_secs(3)
            } else {
                Duration::from_micros(10_000 + 10 * i as u64)
            });
        }
        t
    }

    #[test]
    fn the_delay_is_the_p99_until_outliers_drag_it_above_three_p90s() {
        let capped = HedgePolicy::new(HedgeConfig::default());
        let p99_only = HedgePolicy::new(HedgeConfig {
            ceiling_multiple: f64::INFINITY,
            ..HedgeConfig::default()
        });
        // Healthy: the p99 (~20 ms) is below 3 × the p90, so it rules.
        let healthy = tracker_with_stalls(0.0);
        assert_eq!(capped.delay(&healthy), p99_only.delay(&healthy));
        assert!(capped.delay(&healthy) < Duration::from_millis(22));
        // 5 % stalls: the p99 is a stall; the ceiling holds the delay near the healthy ones.
        let stalled = tracker_with_stalls(0.05);
        assert!(p99_only.delay(&stalled) >= Duration::from_secs(3));
        let d = capped.delay(&stalled);
        assert!(d <= Duration::from_millis(63), "{d:?}");
        // Past 10 % slow, slowness is the service's normal: the ceiling lets go.
        let slow = tracker_with_stalls(0.2);
        assert!(capped.delay(&slow) >= Duration::from_secs(3));
    }

    #[test]
    fn hedges_that_keep_losing_earn_the_losing_share_until_they_win_again() {
        let mut h = HedgePolicy::new(HedgeConfig::default());
        let earned = |h: &mut HedgePolicy| {
            let before = h.tokens;
            h.on_request();
            h.tokens - before
        };
        // Seven losses are not enough to judge.
        for _ in 0..7 {
            h.on_hedge_result(false);
        }
        assert!(!h.losing());
        h.on_hedge_result(false);
        assert!(h.losing());
        assert!((earned(&mut h) - 0.01).abs() < 1e-9);
        // Four wins among the last 16 (a quarter) end it.
        for _ in 0..4 {
            h.on_hedge_result(true);
        }
        for _ in 0..4 {
            h.on_hedge_result(false);
        }
        assert!(!h.losing(), "{:016b}", h.outcomes);
        assert!((earned(&mut h) - 0.1).abs() < 1e-9);
        // Only the last 16 count: eight more losses push the wins out of view.
        for _ in 0..9 {
            h.on_hedge_result(false);
        }
        assert!(h.losing(), "{:016b}", h.outcomes);
    }
}
