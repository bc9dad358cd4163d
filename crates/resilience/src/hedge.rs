//! Hedged reads ("The Tail at Scale"): when an idempotent read has not answered after the
//! service's p99, send one duplicate and take whichever answers first. Hedges are capped at a
//! share of requests (each request earns `max_share` of a hedge token), paid from the retry
//! budget, and never sent while the breaker is not closed.

use std::time::Duration;

use crate::breaker::BreakerState;
use crate::budget::RetryBudget;
use crate::latency::LatencyTracker;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HedgeConfig {
    pub quantile: f64,
    /// Samples needed before the quantile is trusted.
    pub min_samples: u64,
    /// Delay until then.
    pub initial_delay: Duration,
    pub min_delay: Duration,
    /// Hedges per request at most (0.05 = 5 %).
    pub max_share: f64,
    /// Retry-budget tokens one hedge costs.
    pub budget_cost: u32,
}

impl Default for HedgeConfig {
    fn default() -> Self {
        Self {
            quantile: 0.99,
            min_samples: 200,
            initial_delay: Duration::from_secs(2),
            min_delay: Duration::from_millis(5),
            max_share: 0.05,
            budget_cost: 1,
        }
    }
}

#[derive(Debug, Clone)]
pub struct HedgePolicy {
    cfg: HedgeConfig,
    tokens: f64,
}

impl HedgePolicy {
    pub fn new(cfg: HedgeConfig) -> Self {
        Self { cfg, tokens: 0.0 }
    }

    pub fn config(&self) -> &HedgeConfig {
        &self.cfg
    }

    /// Every hedgeable request earns its share of a hedge.
    pub fn on_request(&mut self) {
        self.tokens = (self.tokens + self.cfg.max_share).min(10.0);
    }

    /// How long to wait before hedging.
    pub fn delay(&self, tracker: &LatencyTracker) -> Duration {
        if tracker.samples() < self.cfg.min_samples {
            return self.cfg.initial_delay;
        }
        tracker
            .quantile(self.cfg.quantile)
            .unwrap_or(self.cfg.initial_delay)
            .max(self.cfg.min_delay)
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
