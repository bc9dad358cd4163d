//! The fallback chain: reads keep working while OSS is down, served from a local cache —
//! stale, and marked so — or from a default resource.
//!
//! `cargo run -p ossguard --example fallback` runs it against an OSS emulator it starts on
//! 127.0.0.1 (no credentials, no network) and then shuts down. To use real OSS instead set
//! `OSS_ENDPOINT`, `OSS_ACCESS_KEY_ID`, `OSS_ACCESS_KEY_SECRET` and `OSS_BUCKET` (see
//! `common/mod.rs`); the outage is then played by a local port nothing listens on.

mod common;

use std::time::Duration;

use ossguard::cache::CacheConfig;
use ossguard::fallback::DefaultResource;
use ossguard::{Fallback, Policy, Source};

#[tokio::main]
async fn main() -> common::Result {
    let mut env = common::Env::start().await?;
    let key = env.key("fallback/config.json");
    let cache_dir = env.dir.path().join("cache");
    // `max_age` is how long a cached copy is served without asking OSS (default 60 s); zero
    // here, so every read goes to OSS first (a cheap If-None-Match revalidation) and only its
    // failure falls back. A stale copy may be served for `stale_if_error` (default 1 day).
    let cache = CacheConfig::default().max_age(Duration::ZERO);

    // While OSS is up: reads come from OSS and fill the on-disk cache as they stream by.
    let client = env.client()?;
    client
        .put_object(
            &env.bucket,
            &key,
            r#"{"feature": true}"#.into(),
            Default::default(),
        )
        .await?;
    let chain = Fallback::builder()
        .cache(&cache_dir, cache.clone())
        .build(client)
        .await?;
    let served = chain.get(&env.bucket, &key).await?;
    println!("OSS up: served from {}", served.source);
    assert_eq!(served.source, Source::Primary);
    drop(chain);

    // OSS goes down. A process that starts now (a new client, the cache reopened from disk)
    // still answers: the primary fails, its error decides the fallback, the cache serves the
    // last copy it verified, flagged stale.
    env.stop_server().await?;
    // A short deadline: against an endpoint that does not answer at all (a blackhole rather
    // than a refused connection), the primary's attempt is what a fallback read waits for.
    let quick = Policy::default().with_deadline(Duration::from_secs(2));
    let client = env.client_builder().policy(quick).build()?;
    let chain = Fallback::builder()
        .cache(&cache_dir, cache)
        // Keys under `avatars/` that were never cached get a placeholder instead of an error.
        .default_resource(
            env.key("avatars/"),
            DefaultResource::new("placeholder", Some("text/plain".into())),
        )
        .build(client)
        .await?;
    let served = chain.get(&env.bucket, &key).await?;
    println!(
        "OSS down: served from {} ({} bytes); OSS said: {}",
        served.source,
        served.bytes.len(),
        served.primary_error.as_deref().unwrap_or("-")
    );
    assert!(matches!(served.source, Source::Cache { stale: true, .. }));
    assert_eq!(served.bytes, r#"{"feature": true}"#);

    let served = chain
        .get(&env.bucket, &env.key("avatars/new-user.png"))
        .await?;
    println!("never cached: served from {}", served.source);
    assert_eq!(
        (served.source, &served.bytes[..]),
        (Source::Default, &b"placeholder"[..])
    );
    Ok(())
}
