//! A token-bucket retry budget per endpoint (the AWS SDKs' retry quota): retries spend tokens,
//! successes earn them back. When the endpoint is down the bucket drains and retrying stops, so
//! a failing service sees no more than the offered load instead of a retry storm.

/// Defaults from DESIGN.md §4: 500 tokens, a retry costs 5 (10 after a timeout), a first-try
/// success earns 1, a success after retries refunds what they cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetConfig {
    pub capacity: u32,
    pub retry_cost: u32,
    pub timeout_retry_cost: u32,
    pub success_reward: u32,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        Self {
            capacity: 500,
            retry_cost: 5,
            timeout_retry_cost: 10,
            success_reward: 1,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RetryBudget {
    cfg: BudgetConfig,
    tokens: u32,
}

impl RetryBudget {
    pub fn new(cfg: BudgetConfig) -> Self {
        Self {
            tokens: cfg.capacity,
            cfg,
        }
    }

    pub fn tokens(&self) -> u32 {
        self.tokens
    }

    pub fn config(&self) -> &BudgetConfig {
        &self.cfg
    }

    /// Takes what one retry costs; `None` (nothing taken) when the budget cannot pay.
    pub fn try_acquire(&mut self, after_timeout: bool) -> Option<u32> {
        let cost = if after_timeout {
            self.cfg.timeout_retry_cost
        } else {
            self.cfg.retry_cost
        };
        self.try_spend(cost).then_some(cost)
    }

    /// Spends `cost` tokens if available (hedges pay this way too).
    pub fn try_spend(&mut self, cost: u32) -> bool {
        if self.tokens >= cost {
            self.tokens -= cost;
            true
        } else {
            false
        }
    }

    /// A logical operation succeeded; `spent` is what its retries cost (0 for a first-try
    /// success, which earns the reward instead).
    pub fn on_success(&mut self, spent: u32) {
        let gain = if spent == 0 {
            self.cfg.success_reward
        } else {
            spent
        };
        self.tokens = (self.tokens + gain).min(self.cfg.capacity);
    }
}
