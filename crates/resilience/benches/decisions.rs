//! The pipeline's decision cost per request, without I/O: breaker admission + outcome record,
//! latency tracking, hedge delay, and a retry decision. Goal: ≤ 1 µs (issue #5).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use ossguard_resilience::breaker::{Breaker, BreakerConfig};
use ossguard_resilience::budget::{BudgetConfig, RetryBudget};
use ossguard_resilience::deadline::Deadline;
use ossguard_resilience::hedge::{HedgeConfig, HedgePolicy};
use ossguard_resilience::latency::LatencyTracker;
use ossguard_resilience::retry::{AttemptInfo, RetryConfig};
use ossguard_resilience::rng::SplitMix64;
use ossguard_resilience::Outcome;

fn per_request(c: &mut Criterion) {
    let mut breaker = Breaker::new(BreakerConfig::default());
    let mut budget = RetryBudget::new(BudgetConfig::default());
    let mut hedge = HedgePolicy::new(HedgeConfig::default());
    let mut tracker = LatencyTracker::new(10_000, &[0.99, 0.999]);
    let retry = RetryConfig::default();
    let mut rng = SplitMix64::new(42);
    let mut t = 0u64;
    c.bench_function("resilience/decisions_per_request", |b| {
        b.iter(|| {
            t += 1_000_000; // 1 ms of virtual time per request
            let now = Duration::from_nanos(t);
            let adm = breaker.admit(now, &mut rng);
            hedge.on_request();
            let d = hedge.delay(&tracker);
            let latency = Duration::from_micros(20_000 + (t / 1_000_000 % 50) * 1000);
            tracker.record(latency);
            let outcome = if t.is_multiple_of(50_000_000) {
                Outcome::Transient {
                    timeout: false,
                    never_sent: false,
                }
            } else {
                Outcome::Success
            };
            breaker.record(
                now,
                outcome,
                adm == ossguard_resilience::breaker::Admission::Probe,
            );
            let info = AttemptInfo {
                attempts: 1,
                idempotent: true,
                skew_retried: false,
            };
            let dec = retry.decide(
                info,
                outcome,
                now,
                Deadline::after(now, Duration::from_secs(30)),
                &mut budget,
                &mut rng,
            );
            budget.on_success(0);
            black_box((adm, d, dec))
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = per_request
}
criterion_main!(benches);
