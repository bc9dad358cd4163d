//! A seeded, lock-free random stream (SplitMix64 over an atomic counter).
//!
//! Each draw advances the counter with one `fetch_add`, so draws are cheap and never block. The
//! *sequence* of values is fixed by the seed; which request receives which value depends on the
//! order in which requests reach their draw: sequential requests replay exactly, concurrent ones
//! may swap draws (the multiset of outcomes is still the same). Rules that need an exact replay
//! under concurrency use `every_nth`.

use std::sync::atomic::{AtomicU64, Ordering};

pub use ossguard_resilience::rng::mix;
use ossguard_resilience::rng::GAMMA;

#[derive(Debug)]
pub struct SeededRng {
    state: AtomicU64,
}

impl SeededRng {
    pub fn new(seed: u64) -> Self {
        Self {
            state: AtomicU64::new(seed),
        }
    }

    /// The independent stream of rule `index` under `seed`.
    pub fn for_rule(seed: u64, index: usize) -> Self {
        Self::new(mix(
            seed ^ mix((index as u64).wrapping_add(1).wrapping_mul(GAMMA))
        ))
    }

    pub fn next_u64(&self) -> u64 {
        mix(self
            .state
            .fetch_add(GAMMA, Ordering::Relaxed)
            .wrapping_add(GAMMA))
    }

    /// Uniform in `[0, 1)`.
    pub fn next_f64(&self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// `true` with probability `p` (no draw for `p >= 1` or `p <= 0`).
    pub fn chance(&self, p: f64) -> bool {
        if p >= 1.0 {
            true
        } else if p <= 0.0 {
            false
        } else {
            self.next_f64() < p
        }
    }

    /// Uniform in `[lo, hi]` (no draw when `lo >= hi`).
    pub fn between(&self, lo: u64, hi: u64) -> u64 {
        if lo >= hi {
            return lo;
        }
        let span = hi - lo;
        if span == u64::MAX {
            return self.next_u64();
        }
        lo + self.next_u64() % (span + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_rules_differ() {
        let a = SeededRng::for_rule(42, 0);
        let b = SeededRng::for_rule(42, 0);
        let c = SeededRng::for_rule(42, 1);
        let va: Vec<u64> = (0..16).map(|_| a.next_u64()).collect();
        let vb: Vec<u64> = (0..16).map(|_| b.next_u64()).collect();
        let vc: Vec<u64> = (0..16).map(|_| c.next_u64()).collect();
        assert_eq!(va, vb);
        assert_ne!(va, vc);
    }

    #[test]
    fn chance_is_roughly_calibrated() {
        let r = SeededRng::new(1);
        let hits = (0..100_000).filter(|_| r.chance(0.1)).count();
        assert!((9_000..11_000).contains(&hits), "{hits}");
        let x = (0..1000).map(|_| r.between(5, 7)).collect::<Vec<_>>();
        assert!(x.iter().all(|v| (5..=7).contains(v)));
        assert!(x.contains(&5) && x.contains(&7));
    }
}
