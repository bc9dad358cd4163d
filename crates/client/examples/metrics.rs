//! Prometheus metrics: register a client's metric families (`observability/METRICS.md`) into a
//! `prometheus-client` [`Registry`] and print the text exposition — what a `/metrics` endpoint
//! of your service would serve.
//!
//! `cargo run -p ossguard --example metrics` runs it against an OSS emulator it starts on
//! 127.0.0.1 (no credentials, no network). To use real OSS instead set `OSS_ENDPOINT`,
//! `OSS_ACCESS_KEY_ID`, `OSS_ACCESS_KEY_SECRET` and `OSS_BUCKET` (see `common/mod.rs`).

mod common;

use prometheus_client::encoding::text::encode;
use prometheus_client::registry::Registry;

#[tokio::main]
async fn main() -> common::Result {
    let env = common::Env::start().await?;
    let client = env.client()?;

    // Your service's registry. Registering once is enough: the client records into its
    // families from then on, and every scrape reads them. (Several clients: one
    // `registry.sub_registry_with_label(..)` each, or one shared `ClientMetrics` given to every
    // builder with `.metrics(..)`.)
    let mut registry = Registry::default();
    client.register_metrics(&mut registry);

    let key = env.key("metrics.txt");
    client
        .put_object(&env.bucket, &key, "counted".into(), Default::default())
        .await?;
    for _ in 0..3 {
        client
            .get_object(&env.bucket, &key, Default::default())
            .await?
            .bytes()
            .await?;
    }

    // The OpenMetrics text of every family: operations and attempts by outcome, retries,
    // latency histograms, bytes, breaker state, retry budget, hedges, integrity failures,
    // fallback serves. In a service, serve this string with
    // `Content-Type: application/openmetrics-text; version=1.0.0; charset=utf-8`.
    let mut text = String::new();
    encode(&mut text, &registry)?;
    println!("{text}");

    for line in [
        r#"ossguard_operations_total{operation="PutObject",outcome="ok"} 1"#,
        r#"ossguard_operations_total{operation="GetObject",outcome="ok"} 3"#,
        r#"ossguard_breaker_state{endpoint="primary",state="closed"} 1"#,
    ] {
        assert!(text.lines().any(|l| l == line), "missing: {line}");
    }
    Ok(())
}
