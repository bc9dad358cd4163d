//! The cost the metrics add per request (issue #11: the decision-cost bench with metrics on
//! stays ≤ 1 µs per request). `decisions_and_metrics_per_request` is the resilience crate's
//! `decisions_per_request` (the operation state machine for one request, 2 % failing once)
//! plus everything the pipeline records for it; `metrics_per_request` the recording alone.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use ossguard::metrics::RequestRecorder;
use ossguard::resilience::breaker::BreakerConfig;
use ossguard::resilience::budget::BudgetConfig;
use ossguard::resilience::deadline::Deadline;
use ossguard::resilience::hedge::HedgeConfig;
use ossguard::resilience::latency::AdaptiveTimeout;
use ossguard::resilience::op::{Endpoint, EndpointConfig, Next, Op, OpClass, OpSpec};
use ossguard::resilience::retry::RetryConfig;
use ossguard::resilience::Outcome;

fn per_request(c: &mut Criterion) {
    let rec = RequestRecorder::new();
    let mut n = 0u64;
    c.bench_function("client/metrics_per_request", |b| {
        b.iter(|| {
            n += 1;
            rec.request(ossguard::BreakerState::Closed, 500, 0.001 * (n % 50) as f64);
        })
    });

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
    c.bench_function("client/decisions_and_metrics_per_request", |b| {
        b.iter(|| {
            t += 1_000_000;
            let now = Duration::from_nanos(t);
            let mut op = Op::new(spec, Deadline::after(now, Duration::from_secs(30)));
            let step = op.start(&mut ep, now);
            let latency = Duration::from_micros(20_000 + (t / 1_000_000 % 50) * 1000);
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
            rec.request(
                ep.breaker_state(),
                ep.budget_tokens(),
                latency.as_secs_f64(),
            );
            black_box((step, next))
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = per_request
}
criterion_main!(benches);
