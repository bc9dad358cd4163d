//! Build a resilience [`Policy`] — retries, retry budget, circuit breaker, hedged reads,
//! timeouts — and read what it did from [`Client::stats`](ossguard::Client::stats).
//!
//! `cargo run -p ossguard --example resilience` runs it against an OSS emulator it starts on
//! 127.0.0.1 (no credentials, no network) that fails every 5th request and later goes down. To
//! use real OSS instead set `OSS_ENDPOINT`, `OSS_ACCESS_KEY_ID`, `OSS_ACCESS_KEY_SECRET` and
//! `OSS_BUCKET` (see `common/mod.rs`); the injected failures are then skipped.

mod common;

use std::time::{Duration, Instant};

use ossguard::resilience::backoff::Backoff;
use ossguard::resilience::breaker::BreakerConfig;
use ossguard::resilience::budget::BudgetConfig;
use ossguard::resilience::hedge::HedgeConfig;
use ossguard::resilience::progress::ProgressConfig;
use ossguard::{BreakerState, ErrorKind, Policy};
use ossguard_emulator::faults::FaultConfig;

/// `Policy::default()` is already the resilient client (DESIGN.md §4); start from it and change
/// what your workload needs. Every field is spelled out here to show the knobs.
fn policy() -> Policy {
    let mut p = Policy::default();
    // Retries: up to 5 attempts in all. Transient failures (5xx, resets, timeouts) wait a
    // random time in [0, min(cap, base·2ⁿ)] ("full jitter") so that many clients failing
    // together do not come back together; throttling (429, 503 SlowDown) starts at 1 s and
    // honours the server's requested delay.
    p.retry.max_attempts = 5;
    p.retry.transient = Backoff::new(Duration::from_millis(20), Duration::from_secs(2));
    // Retry budget: every retry costs tokens and every success earns one back, so retries stop
    // when most requests fail — retrying harder against a struggling endpoint only adds load.
    p.budget = BudgetConfig {
        capacity: 200,
        retry_cost: 5,
        timeout_retry_cost: 10,
        success_reward: 1,
    };
    // Circuit breaker: after a run of hard failures it opens and refuses requests at once (no
    // waiting for timeouts); one probe per `probe_interval` tests whether the endpoint is back.
    p.breaker = Some(BreakerConfig {
        consecutive_failures: 5,
        probe_interval: Duration::from_secs(1),
        ..BreakerConfig::default()
    });
    // Hedged reads: a read slower than the p99 of its peers (at most 3 × their p90, so stalls
    // cannot drag the delay up) gets a second copy, first answer wins; at most 10 % of reads
    // are hedged (each hedge also costs a budget token).
    p.hedge = Some(HedgeConfig {
        quantile: 0.99,
        max_share: 0.1,
        ..HedgeConfig::default()
    });
    // Timeouts. `deadline`: a whole metadata operation, all attempts and backoff included.
    // `transfer_deadline`: the same for data operations (default none: bounded by progress).
    // `progress`: a data body that moves no byte for `idle`, or less than `min_bytes_per_sec`
    // over `window`, is abandoned and continued on a fresh connection.
    p.deadline = Duration::from_secs(10);
    p.transfer_deadline = Some(Duration::from_secs(60));
    p.progress = ProgressConfig {
        idle: Duration::from_secs(5),
        min_bytes_per_sec: 16 << 10,
        window: Duration::from_secs(5),
    };
    p
}

#[tokio::main]
async fn main() -> common::Result {
    let env = common::Env::start().await?;
    let client = env
        .client_builder()
        .policy(policy())
        .connect_timeout(Duration::from_secs(2))
        .build()?;

    // A flaky server: every 5th request answers 500 InternalError (transient: retried after a
    // short backoff; a 503 would count as throttling and back off from 1 s).
    if let Some(emulator) = env.emulator() {
        let rules = r#"{"rules": [{"every_nth": 5, "fault": {"kind": "status", "status": 500}}]}"#;
        emulator.faults().install(FaultConfig::parse(rules)?)?;
    }
    for i in 0..20 {
        let key = env.key(&format!("resilience/{i}"));
        let body = format!("object {i}");
        client
            .put_object(&env.bucket, &key, body.clone().into(), Default::default())
            .await?;
        let got = client
            .get_object(&env.bucket, &key, Default::default())
            .await?
            .bytes()
            .await?;
        assert_eq!(got, body);
    }
    // The client's own counters of what the pipeline did (the same numbers are exported as
    // Prometheus metrics: see the `metrics` example).
    let stats = client.stats();
    println!("{stats:#?}");
    assert_eq!(stats.operations, 40);

    let Some(emulator) = env.emulator() else {
        return Ok(());
    };
    // All 40 operations succeeded although one request in five failed: those were retried.
    assert!(stats.retries > 0, "the 500s were retried");

    // An outage: every request is refused. The breaker opens after a few failures in a row;
    // from then on an operation fails at once with `CircuitOpen` instead of spending its
    // deadline on an endpoint that is down.
    let rules = r#"{"rules": [{"fault": {"kind": "outage"}}]}"#;
    emulator.faults().install(FaultConfig::parse(rules)?)?;
    let key = env.key("resilience/0");
    let mut failed = 0;
    while client.breaker_state() != BreakerState::Open {
        let err = client.head_object(&env.bucket, &key).await.unwrap_err();
        println!("during the outage: {err}");
        failed += 1;
        assert!(failed < 10, "the breaker opens");
    }
    let started = Instant::now();
    let err = client.head_object(&env.bucket, &key).await.unwrap_err();
    println!(
        "breaker open after {failed} failed operations; the next one failed in {:?}: {err}",
        started.elapsed()
    );
    assert!(matches!(err.kind(), ErrorKind::CircuitOpen));
    println!("{:#?}", client.stats());
    Ok(())
}
