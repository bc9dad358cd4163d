//! One time budget for a whole logical operation: every attempt and every backoff sleep.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    at: Duration,
}

impl Deadline {
    /// Expires `budget` after `now`.
    pub fn after(now: Duration, budget: Duration) -> Self {
        Self {
            at: now.saturating_add(budget),
        }
    }

    /// A deadline that never expires in practice.
    pub fn never() -> Self {
        Self { at: Duration::MAX }
    }

    pub fn at(&self) -> Duration {
        self.at
    }

    pub fn remaining(&self, now: Duration) -> Duration {
        self.at.saturating_sub(now)
    }

    pub fn expired(&self, now: Duration) -> bool {
        now >= self.at
    }

    /// The earlier of two deadlines (a sub-request inherits what is left of its parent's).
    pub fn min(self, other: Deadline) -> Deadline {
        if self.at <= other.at {
            self
        } else {
            other
        }
    }
}
