//! `ossguard cat`: an object's bytes to stdout (CRC-64 checked at the end); through the
//! fallback chain when one is configured (`--cache-dir`, `--replica-endpoint/bucket`).

use clap::Args;
use futures_util::StreamExt;
use ossguard::fallback::{classify, Failure};
use ossguard::Served;
use serde_json::json;
use tokio::io::AsyncWriteExt;

use super::Ctx;
use crate::degraded;
use crate::error::CliError;
use crate::url::OssUrl;

#[derive(Args, Debug)]
pub struct CatArgs {
    /// oss://bucket/key. With the fallback chain configured, where the bytes came from is noted
    /// on stderr (with --json: one JSON document on stderr, since stdout carries the object).
    pub url: String,
}

/// A read answered by the chain, and the primary's error when this process saw it.
pub struct ChainRead {
    pub served: Served,
    pub primary_error: Option<String>,
}

impl ChainRead {
    /// The stderr note (nothing for the primary).
    pub fn note(&self) -> Option<String> {
        let why = self
            .primary_error
            .as_deref()
            .or(self.served.primary_error.as_deref());
        degraded::source_note(&self.served.source, why)
    }
}

/// Reads `u` through the fallback chain when one is configured and the object fits the
/// cache's entry limit (the chain holds it in memory whole). `None`: use the streaming path.
pub async fn read_via_chain(ctx: &Ctx, u: &OssUrl) -> Result<Option<ChainRead>, CliError> {
    let s = ctx.settings()?;
    if !s.reads_fall_back() {
        return Ok(None);
    }
    let Some(fb) = ctx.fallback(false).await? else {
        return Ok(None);
    };
    let limit = s.entry_limit();
    let cached = match fb.cache().cloned() {
        Some(c) => {
            let (b, k) = (u.bucket.clone(), u.key.clone());
            tokio::task::spawn_blocking(move || c.get(&b, &k).ok().flatten().map(|h| h.meta.size))
                .await
                .ok()
                .flatten()
        }
        None => None,
    };
    let mut primary_error = None;
    if cached.is_none_or(|size| size > limit) {
        // Nothing cached: the size decides between the chain and streaming.
        match ctx.client()?.head_object(&u.bucket, &u.key).await {
            Ok(m) if m.size <= limit => {}
            Ok(_) => return Ok(None),
            // Only a replica can still answer (the chain tries the primary once more first).
            Err(e) if classify(&e) == Failure::Unavailable && s.replica.is_some() => {
                primary_error = Some(e.to_string());
            }
            Err(e) => return Err(e.into()),
        }
    }
    let served = fb.get(&u.bucket, &u.key).await?;
    Ok(Some(ChainRead {
        served,
        primary_error,
    }))
}

pub async fn run(a: CatArgs, ctx: &Ctx) -> Result<(), CliError> {
    let u = OssUrl::parse_object(&a.url)?;
    if let Some(read) = read_via_chain(ctx, &u).await? {
        if ctx.out.json {
            let mut doc = json!({
                "operation": "cat",
                "bucket": u.bucket,
                "key": u.key,
                "bytes": read.served.bytes.len(),
                "etag": read.served.meta.etag,
            });
            merge(
                &mut doc,
                degraded::source_json("source", &read.served.source),
            );
            eprintln!("{doc}");
        } else if let (Some(note), false) = (read.note(), ctx.out.quiet) {
            eprintln!("{note}");
        }
        let mut stdout = tokio::io::stdout();
        return match write_out(&mut stdout, &read.served.bytes).await {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                Err(CliError::local("cannot write to stdout", e))
            }
            _ => Ok(()),
        };
    }
    let got = ctx
        .client()?
        .get_object(&u.bucket, &u.key, Default::default())
        .await?;
    let mut body = got.body;
    let mut stdout = tokio::io::stdout();
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        match stdout.write_all(&chunk).await {
            Ok(()) => {}
            // The reader went away (`| head`): stop quietly.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            Err(e) => return Err(CliError::local("cannot write to stdout", e)),
        }
    }
    match stdout.flush().await {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(CliError::local("cannot write to stdout", e))
        }
        _ => Ok(()),
    }
}

async fn write_out(out: &mut tokio::io::Stdout, bytes: &[u8]) -> std::io::Result<()> {
    out.write_all(bytes).await?;
    out.flush().await
}

/// Adds `extra`'s fields to the object `doc`.
pub fn merge(doc: &mut serde_json::Value, extra: serde_json::Value) {
    if let (Some(d), serde_json::Value::Object(e)) = (doc.as_object_mut(), extra) {
        d.extend(e);
    }
}
