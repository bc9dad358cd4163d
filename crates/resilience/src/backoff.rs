//! Full-jitter exponential backoff (AWS Architecture Blog, 2015): the n-th retry waits a
//! uniform time in `[0, min(cap, base · 2ⁿ)]`. Spreads retries so a fleet does not synchronise.

use std::time::Duration;

use crate::rng::Rng;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
    pub jitter: Jitter,
}

/// How the delay is drawn from the ceiling `min(cap, base · 2ⁿ)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Jitter {
    /// Uniform in `[0, ceiling]` (the default).
    Full,
    /// `ceiling + U[0, extra]`: the recipe many Go services use (`base·2^i + rand(1 s)`), kept
    /// for side-by-side comparisons (`ossguard drill`'s `seed` arm).
    Additive(Duration),
}

impl Backoff {
    pub const fn new(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            cap,
            jitter: Jitter::Full,
        }
    }

    /// `min(cap, base · 2ⁿ) + U[0, extra]`.
    pub const fn additive(base: Duration, cap: Duration, extra: Duration) -> Self {
        Self {
            base,
            cap,
            jitter: Jitter::Additive(extra),
        }
    }

    /// The ceiling of the jitter window before retry number `retry` (0 = first retry).
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1u64.checked_shl(retry.min(62)).unwrap_or(u64::MAX);
        let nanos = (self.base.as_nanos() as u64).saturating_mul(factor);
        Duration::from_nanos(nanos).min(self.cap)
    }

    /// The delay before retry number `retry`.
    pub fn delay(&self, retry: u32, rng: &mut dyn Rng) -> Duration {
        match self.jitter {
            Jitter::Full => self.ceiling(retry).mul_f64(rng.unit()),
            Jitter::Additive(extra) => self.ceiling(retry) + extra.mul_f64(rng.unit()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SplitMix64;

    #[test]
    fn additive_jitter_adds_up_to_extra_on_top_of_the_ceiling() {
        let b = Backoff::additive(
            Duration::from_secs(1),
            Duration::from_secs(60),
            Duration::from_secs(1),
        );
        let mut rng = SplitMix64::new(3);
        for retry in 0..3 {
            for _ in 0..100 {
                let d = b.delay(retry, &mut rng);
                let floor = Duration::from_secs(1 << retry);
                assert!(d >= floor && d < floor + Duration::from_secs(1), "{d:?}");
            }
        }
    }
}
