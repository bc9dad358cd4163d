//! `ossguard cache stats|verify|clean|purge`: the degraded-mode read cache (`--cache-dir`).

use clap::{Args, Subcommand};
use futures_util::StreamExt;
use ossguard::cache::{Cache, EntryMeta, Freshness};
use serde_json::json;

use super::Ctx;
use crate::degraded;
use crate::error::{exit, CliError};
use crate::output;

#[derive(Args, Debug)]
pub struct CacheArgs {
    #[command(subcommand)]
    pub action: CacheAction,
}

#[derive(Subcommand, Debug)]
pub enum CacheAction {
    /// Entries and bytes, by freshness under the current --cache-max-age/--stale-if-error.
    Stats,
    /// HEAD every entry on OSS; drop those whose ETag changed or whose object is gone (the
    /// seed's hourly ETag comparison, on demand).
    Verify {
        /// HEAD requests in flight at once.
        #[arg(short, long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
        jobs: u16,
    },
    /// Delete entries stored longer ago than the TTL.
    Clean {
        /// Entries older than this are deleted [default: 168h, the seed's 7 days].
        #[arg(long, value_name = "DURATION", value_parser = crate::config::parse_duration)]
        ttl: Option<std::time::Duration>,
    },
    /// Delete every entry.
    Purge,
}

pub async fn run(a: CacheArgs, ctx: &Ctx) -> Result<u8, CliError> {
    let (dir, config) = ctx.settings()?.cache_or_usage("cache")?.clone();
    let config = match &a.action {
        CacheAction::Clean { ttl: Some(t) } => config.ttl(*t),
        _ => config,
    };
    let cache = degraded::open_cache(&dir, &config).await?;
    match a.action {
        CacheAction::Stats => stats(&cache, ctx),
        CacheAction::Verify { jobs } => verify(&cache, ctx, jobs.into()).await,
        CacheAction::Clean { .. } => {
            let removed = blocking(&cache, |c| c.clean_expired()).await?;
            report(ctx, "clean", removed, &cache);
            Ok(exit::OK)
        }
        CacheAction::Purge => {
            let removed = blocking(&cache, |c| c.purge()).await?;
            report(ctx, "purge", removed, &cache);
            Ok(exit::OK)
        }
    }
}

async fn blocking<T: Send + 'static>(
    cache: &Cache,
    f: impl FnOnce(&Cache) -> Result<T, ossguard::cache::CacheError> + Send + 'static,
) -> Result<T, CliError> {
    let c = cache.clone();
    tokio::task::spawn_blocking(move || f(&c))
        .await
        .map_err(|e| CliError::failed(exit::CLIENT, format!("the cache task failed: {e}")))?
        .map_err(|e| CliError::failed(exit::CLIENT, e.to_string()))
}

fn report(ctx: &Ctx, action: &str, removed: usize, cache: &Cache) {
    let s = cache.stats();
    if ctx.out.json {
        ctx.out.json(&json!({
            "operation": format!("cache {action}"),
            "removed": removed,
            "entries": s.entries,
            "bytes": s.bytes,
        }));
    } else {
        ctx.out.info(format_args!(
            "cache {action}: {removed} entries removed; {} left ({})",
            s.entries,
            output::human_bytes(s.bytes)
        ));
    }
}

fn stats(cache: &Cache, ctx: &Ctx) -> Result<u8, CliError> {
    let s = cache.stats();
    let r = cache.recovery();
    let now = cache.now();
    let config = cache.config();
    let (mut fresh, mut stale, mut expired) = (0u64, 0u64, 0u64);
    let mut oldest = None;
    for e in cache.entries() {
        let age = now.duration_since(e.stored_at).unwrap_or_default();
        oldest = oldest.max(Some(age));
        match config.freshness(age) {
            Freshness::Fresh => fresh += 1,
            Freshness::Stale => stale += 1,
            Freshness::Expired => expired += 1,
        }
    }
    let doc = json!({
        "dir": cache.dir().display().to_string(),
        "entries": s.entries,
        "bytes": s.bytes,
        "max_bytes": s.max_bytes,
        "max_entry_bytes": config.entry_limit(),
        "fresh": fresh,
        "stale": stale,
        "expired": expired,
        "oldest_age_s": oldest.map(|a| a.as_secs()),
        "max_age_s": config.max_age.as_secs_f64(),
        "stale_if_error_s": config.stale_if_error.as_secs_f64(),
        // Counters of this process (each CLI run opens the cache anew).
        "hits": s.hits,
        "misses": s.misses,
        "fills": s.fills,
        "evictions": s.evictions,
        "corrupt_discarded": s.corrupt_discarded,
        "recovery": {
            "temp_removed": r.temp_removed,
            "orphans_removed": r.orphans_removed,
            "corrupt_discarded": r.corrupt_discarded,
            "evicted": r.evicted,
        },
    });
    if ctx.out.json {
        ctx.out.json(&doc);
        return Ok(exit::OK);
    }
    let out = &ctx.out;
    out.line(format_args!("dir        {}", cache.dir().display()));
    out.line(format_args!(
        "entries    {} ({} fresh, {} stale, {} expired)",
        s.entries, fresh, stale, expired
    ));
    out.line(format_args!(
        "bytes      {} of {} (largest entry {})",
        output::human_bytes(s.bytes),
        output::human_bytes(s.max_bytes),
        output::human_bytes(config.entry_limit())
    ));
    if let Some(a) = oldest {
        out.line(format_args!("oldest     {} s", a.as_secs()));
    }
    if r.temp_removed + r.orphans_removed + r.corrupt_discarded + r.evicted > 0 {
        out.line(format_args!(
            "repaired   {} temp files, {} orphans, {} corrupt entries removed, {} evicted",
            r.temp_removed, r.orphans_removed, r.corrupt_discarded, r.evicted
        ));
    }
    Ok(exit::OK)
}

/// What a HEAD says about one entry.
enum Check {
    Same,
    Changed,
    Gone,
    Failed(String),
}

async fn verify(cache: &Cache, ctx: &Ctx, jobs: usize) -> Result<u8, CliError> {
    let client = ctx.client()?;
    let entries = cache.entries();
    let total = entries.len();
    let checks = futures_util::stream::iter(entries.into_iter().map(|e| async move {
        let check = match client.head_object(&e.bucket, &e.key).await {
            Ok(m) if Some(m.etag.as_str()) == e.etag.as_deref() => Check::Same,
            Ok(_) => Check::Changed,
            Err(err) if err.status() == Some(404) => Check::Gone,
            Err(err) => Check::Failed(err.to_string()),
        };
        (e, check)
    }))
    .buffer_unordered(jobs);
    futures_util::pin_mut!(checks);
    let (mut kept, mut changed, mut gone, mut failed) = (0usize, 0usize, 0usize, 0usize);
    while let Some((e, check)) = checks.next().await {
        let what = match check {
            Check::Same => {
                kept += 1;
                continue;
            }
            Check::Failed(err) => {
                failed += 1;
                ctx.out.warn(format_args!(
                    "oss://{}/{}: cannot check ({err}); kept",
                    e.bucket, e.key
                ));
                continue;
            }
            Check::Changed => "changed on OSS",
            Check::Gone => "gone from OSS",
        };
        // Only while the entry is still the one we checked (a fill may have replaced it).
        if drop_if_same(cache, &e).await? {
            match what {
                "gone from OSS" => gone += 1,
                _ => changed += 1,
            }
            ctx.out
                .info(format_args!("dropped oss://{}/{}: {what}", e.bucket, e.key));
        } else {
            kept += 1;
        }
    }
    if ctx.out.json {
        ctx.out.json(&json!({
            "operation": "cache verify",
            "checked": total,
            "kept": kept,
            "dropped_changed": changed,
            "dropped_gone": gone,
            "failed": failed,
        }));
    } else {
        ctx.out.info(format_args!(
            "cache verify: {total} checked, {kept} kept, {changed} dropped (changed), {gone} dropped (gone), {failed} could not be checked"
        ));
    }
    if failed > 0 {
        eprintln!(
            "error: {failed} of {total} entries could not be checked (kept); rerun when OSS answers"
        );
        return Ok(exit::PARTIAL);
    }
    Ok(exit::OK)
}

async fn drop_if_same(cache: &Cache, e: &EntryMeta) -> Result<bool, CliError> {
    let (b, k, etag) = (e.bucket.clone(), e.key.clone(), e.etag.clone());
    blocking(cache, move |c| c.remove_if_etag(&b, &k, etag.as_deref())).await
}
