//! Full-jitter exponential backoff (AWS Architecture Blog, 2015): the n-th retry waits a
//! uniform time in `[0, min(cap, base · 2ⁿ)]`. Spreads retries so a fleet does not synchronise.

use std::time::Duration;

use crate::rng::Rng;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Backoff {
    pub const fn new(base: Duration, cap: Duration) -> Self {
        Self { base, cap }
    }

    /// The ceiling of the jitter window before retry number `retry` (0 = first retry).
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1u64.checked_shl(retry.min(62)).unwrap_or(u64::MAX);
        let nanos = (self.base.as_nanos() as u64).saturating_mul(factor);
        Duration::from_nanos(nanos).min(self.cap)
    }

    /// The delay before retry number `retry`.
    pub fn delay(&self, retry: u32, rng: &mut dyn Rng) -> Duration {
        self.ceiling(retry).mul_f64(rng.unit())
    }
}
