//! `cp`'s degraded mode: a single-object download answered by the fallback chain, and a
//! single-PUT upload journaled in the spool when OSS is unavailable (exit code 6).

use std::path::Path;

use ossguard::fallback::{classify, Failure};
use ossguard::spool::{Expect, SpoolBody, SpoolPut};
use serde_json::json;

use super::cat::ChainRead;
use super::Ctx;
use crate::degraded;
use crate::error::{exit, CliError};
use crate::output;
use crate::transfer::TransferOptions;
use crate::url::OssUrl;

/// A download answered by the fallback chain, written atomically (the destination is never
/// half-written, also when Ctrl-C or a kill comes midway).
pub async fn download(
    src: &OssUrl,
    path: &Path,
    read: ChainRead,
    ctx: &Ctx,
) -> Result<u8, CliError> {
    let (dest, data) = (path.to_owned(), read.served.bytes.clone());
    let written = tokio::task::spawn_blocking(move || {
        ossguard::transfer::write_file_atomically(&dest, &data)
    })
    .await
    .unwrap_or_else(|e| Err(std::io::Error::other(e)));
    if let Err(e) = written {
        return Err(CliError::local(
            format!("cannot write {}", path.display()),
            e,
        ));
    }
    let bytes = read.served.bytes.len() as u64;
    if ctx.out.json {
        let mut doc = json!({
            "operation": "download",
            "source": src.to_string(),
            "destination": path.display().to_string(),
            "bytes": bytes,
            "etag": read.served.meta.etag,
        });
        // `source` is cp's source URL already: where the bytes came from is `served_from`.
        super::cat::merge(
            &mut doc,
            degraded::source_json("served_from", &read.served.source),
        );
        ctx.out.json(&doc);
    } else {
        if let (Some(note), false) = (read.note(), ctx.out.quiet) {
            eprintln!("{note}");
        }
        ctx.out.info(format_args!(
            "download: {src} → {} ({})",
            path.display(),
            output::human_bytes(bytes)
        ));
    }
    Ok(exit::OK)
}

/// Whether a failed upload goes to the spool: one configured, OSS unavailable (not an answer
/// such as 403), a single-PUT file (a multipart upload keeps its own checkpoint to resume),
/// and no --acl (the spool keeps content type and metadata only).
pub async fn spoolable(
    path: &Path,
    e: &ossguard::Error,
    ctx: &Ctx,
    opts: &TransferOptions,
) -> Result<bool, CliError> {
    if ctx.settings()?.spool.is_none()
        || opts.put.acl.is_some()
        || classify(e) != Failure::Unavailable
    {
        return Ok(false);
    }
    let Ok(meta) = tokio::fs::metadata(path).await else {
        return Ok(false);
    };
    Ok(meta.is_file() && (meta.len() == 0 || meta.len() < opts.multipart_threshold))
}

/// Journals the upload in the spool: accepted locally, not stored (exit code 6).
pub async fn spool_upload(
    path: &Path,
    url: &OssUrl,
    err: ossguard::Error,
    ctx: &Ctx,
    opts: &TransferOptions,
) -> Result<u8, CliError> {
    let not_stored = |what: String| {
        CliError::failed(
            exit::CLIENT,
            format!("{what}; the upload was NOT stored (OSS failed: {err})"),
        )
    };
    let fb = ctx
        .fallback(true)
        .await
        .map_err(|e| not_stored(format!("cannot open the spool: {e}")))?
        .ok_or_else(|| not_stored("no spool".into()))?;
    let spool = fb
        .spool()
        .ok_or_else(|| not_stored("the spool is not open".into()))?;
    // The replay's conflict base: what this machine last saw of the object (its cached ETag),
    // else a plain overwrite — what `cp` does when OSS is up.
    let expect = match fb.cache().cloned() {
        Some(c) => {
            let (b, k) = (url.bucket.clone(), url.key.clone());
            tokio::task::spawn_blocking(move || c.get(&b, &k).ok().flatten())
                .await
                .ok()
                .flatten()
                .and_then(|hit| hit.meta.etag)
                .map_or(Expect::Unknown, Expect::ETag)
        }
        None => Expect::Unknown,
    };
    let mut put = SpoolPut::new(url.bucket.clone(), url.key.clone()).expect(expect);
    if let Some(ct) = &opts.put.content_type {
        put = put.content_type(ct.clone());
    }
    let id = spool
        .enqueue(put, SpoolBody::file(path))
        .await
        .map_err(|e| not_stored(format!("cannot spool it: {e}")))?;
    let bytes = tokio::fs::metadata(path).await.map_or(0, |m| m.len());
    // Always on stderr, --quiet or not: the write is not on OSS yet.
    eprintln!(
        "spooled (id {id}): OSS unavailable: {err}; run 'ossguard spool replay' when it is back"
    );
    if ctx.out.json {
        ctx.out.json(&json!({
            "operation": "upload",
            "source": path.display().to_string(),
            "destination": url.to_string(),
            "bytes": bytes,
            "spooled": true,
            "stored": false,
            "id": id.0,
            "error": err.to_string(),
            "exit_code": exit::SPOOLED,
        }));
    }
    Ok(exit::SPOOLED)
}

/// After an upload, the cached copy of the key (if a cache is configured) is older than OSS's.
pub async fn forget_cached(url: &OssUrl, ctx: &Ctx) -> Result<(), CliError> {
    if ctx.settings()?.cache.is_none() {
        return Ok(());
    }
    if let Some(c) = ctx.fallback(false).await?.and_then(|f| f.cache()).cloned() {
        let (b, k) = (url.bucket.clone(), url.key.clone());
        let _ = tokio::task::spawn_blocking(move || c.remove(&b, &k)).await;
    }
    Ok(())
}
