//! The pipeline's decision cost per request, without I/O: what the async driver asks the
//! operation state machine (`op::Op` over `op::Endpoint`) for one request — deadline, breaker
//! admission, first-byte timeout and hedge delay from the per-class tracker, then the outcome:
//! breaker record, latency record, budget, and for a failure the retry decision — plus the
//! progress guard's per-chunk bookkeeping of a data body. Goal: ≤ 1 µs (issues #5, #9).

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use ossguard_resilience::breaker::BreakerConfig;
use ossguard_resilience::budget::BudgetConfig;
use ossguard_resilience::deadline::Deadline;
use ossguard_resilience::hedge::HedgeConfig;
use ossguard_resilience::latency::AdaptiveTimeout;
use ossguard_resilience::op::{Endpoint, EndpointConfig, Next, Op, OpClass, OpSpec};
use ossguard_resilience::progress::{Progress, ProgressConfig};
use ossguard_resilience::retry::RetryConfig;
use ossguard_resilience::Outcome;

fn per_request(c: &mut Criterion) {
    let mut ep = Endpoint::new(
        EndpointConfig {
            retry: RetryConfig::default(),
            budget: BudgetConfig::default(),
            breaker: Some(BreakerConfig::default()),
            hedge: Some(HedgeConfig::default()),
            first_byte: AdaptiveTimeout {
                floor: Duration::from_secs(1),
                initial: Duration::from_secs(10),
                margin: 2.0,
                min_samples: 1000,
            },
        },
        42,
    );
    let spec = OpSpec {
        idempotent: true,
        class: OpClass::ObjectRead,
        hedgeable: true,
    };
    let mut t = 0u64;
    c.bench_function("resilience/decisions_per_request", |b| {
        b.iter(|| {
            t += 1_000_000; // 1 ms of virtual time per request
            let now = Duration::from_nanos(t);
            let mut op = Op::new(spec, Deadline::after(now, Duration::from_secs(30)));
            let step = op.start(&mut ep, now);
            let latency = Duration::from_micros(20_000 + (t / 1_000_000 % 50) * 1000);
            // Every 50th request fails once (2 %), so the retry decision is part of the mix.
            let outcome = if t.is_multiple_of(50_000_000) {
                Outcome::Transient {
                    timeout: false,
                    never_sent: false,
                }
            } else {
                Outcome::Success
            };
            let mut next = op.finish(&mut ep, now + latency, outcome, Some(latency), true);
            if let Next::Retry { .. } = next {
                op.start(&mut ep, now + latency);
                next = op.finish(
                    &mut ep,
                    now + latency,
                    Outcome::Success,
                    Some(latency),
                    true,
                );
            }
            black_box((step, next))
        })
    });
    let mut p = Progress::new(ProgressConfig::default());
    let mut t = 0u64;
    c.bench_function("resilience/progress_per_chunk", |b| {
        b.iter(|| {
            t += 500_000; // a 64 KiB chunk every 0.5 ms
            let now = Duration::from_nanos(t);
            p.waiting(now);
            let verdict = p.check(now);
            p.bytes(now + Duration::from_micros(100), 65_536);
            black_box(verdict)
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = per_request
}
criterion_main!(benches);
