//! `ossguard cp`: uploads, downloads and server-side copies, of one object or (`-r`) a tree.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use clap::Args;
use futures_util::{StreamExt, TryStreamExt};
use indicatif::ProgressBar;
use ossguard::{Client, ListOptions};
use serde_json::json;

use super::batch::Batch;
use super::{cp_fallback, Ctx};
use crate::error::{exit, CliError};
use crate::output::{self, Output};
use crate::transfer::{self, Progress, ProgressFn, TransferOptions};
use crate::url::{Location, OssUrl};

#[derive(Args, Debug)]
pub struct CpArgs {
    /// Source: a local path or oss://bucket/key (oss://bucket/prefix with -r).
    pub src: String,
    /// Destination: a local path or oss://bucket/key; a trailing '/' (or an existing local
    /// directory) means "into this directory".
    pub dst: String,
    /// Copy a whole tree: local directory → prefix, prefix → local directory, prefix → prefix.
    #[arg(short, long)]
    pub recursive: bool,
    /// Content-Type of uploaded objects.
    #[arg(long)]
    pub content_type: Option<String>,
    /// ACL of uploaded objects: private, public-read, public-read-write, default.
    #[arg(long)]
    pub acl: Option<String>,
    /// Files transferred at once with -r.
    #[arg(short, long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
}

/// An item to copy, or why a found item cannot be (reported as a failure of the batch).
type Planned = Result<Item, (String, CliError)>;

/// One item of a copy.
#[derive(Debug, Clone)]
enum Item {
    Upload {
        path: PathBuf,
        url: OssUrl,
    },
    Download {
        url: OssUrl,
        path: PathBuf,
        /// As listed (recursive copies); unknown for a single object.
        size: Option<u64>,
    },
    /// Server-side copy ([`ossguard::Client::copy_large`]: CopyObject, or UploadPartCopy parts
    /// for large objects).
    Copy {
        src: OssUrl,
        dst: OssUrl,
        /// From the listing (`cp -r`); 0 when not known yet.
        size: u64,
        /// From the listing (`cp -r`): with `size`, spares the copy its HEAD.
        etag: Option<String>,
    },
    MkDir {
        path: PathBuf,
    },
}

impl Item {
    fn source(&self) -> String {
        match self {
            Item::Upload { path, .. } | Item::MkDir { path } => path.display().to_string(),
            Item::Download { url, .. } | Item::Copy { src: url, .. } => url.to_string(),
        }
    }

    fn destination(&self) -> String {
        match self {
            Item::Download { path, .. } | Item::MkDir { path } => path.display().to_string(),
            Item::Upload { url, .. } | Item::Copy { dst: url, .. } => url.to_string(),
        }
    }
}

pub async fn run(a: CpArgs, ctx: &Ctx) -> Result<u8, CliError> {
    let src = Location::parse(&a.src)?;
    let dst = Location::parse(&a.dst)?;
    if let Some(acl) = &a.acl {
        super::acl::check_acl(acl, true)?;
    }
    let mut opts = transfer::options(&ctx.global);
    opts.put.content_type = a.content_type.clone();
    opts.put.acl = a.acl.clone();
    match (src, dst) {
        (Location::Local(_), Location::Local(_)) => Err(CliError::usage(
            "both sides are local paths: one of them must be an oss:// URL",
        )),
        (Location::Local(p), Location::Oss(u)) => {
            let meta = std::fs::metadata(&p)
                .map_err(|e| CliError::local(format!("cannot read {}", p.display()), e))?;
            if meta.is_dir() {
                if !a.recursive {
                    return Err(CliError::usage(format!(
                        "{} is a directory: use cp -r to upload a tree",
                        p.display()
                    )));
                }
                let items = walk_upload(&p, &u, ctx)?;
                return run_batch(items, &a, ctx, &opts).await.map(|()| exit::OK);
            }
            let key = if u.key.is_empty() || u.key.ends_with('/') {
                let name = p.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
                    CliError::usage(format!(
                        "{} has no UTF-8 file name to use as the key: give the full key",
                        p.display()
                    ))
                })?;
                format!("{}{name}", u.key)
            } else {
                u.key.clone()
            };
            let item = Item::Upload {
                path: p,
                url: OssUrl {
                    bucket: u.bucket,
                    key,
                },
            };
            run_one(item, ctx, &opts).await
        }
        (Location::Oss(u), Location::Local(p)) => {
            if a.recursive {
                let items = list_download(&u, &p, ctx).await?;
                // Durable once at the end (one syncfs), not with two fsyncs per file.
                opts.sync_each_file = false;
                let batch = run_batch(items, &a, ctx, &opts).await;
                let flushed = durable(&p).await; // the files that did arrive, also after failures
                batch?;
                return flushed.map(|()| exit::OK);
            }
            if u.key.is_empty() || u.key.ends_with('/') {
                return Err(CliError::usage(format!(
                    "{u} names a prefix, not an object: use cp -r to download a tree"
                )));
            }
            let into_dir = p.is_dir() || ends_with_separator(&p);
            let path = if into_dir {
                p.join(u.basename())
            } else {
                p.clone()
            };
            run_one(
                Item::Download {
                    url: u,
                    path,
                    size: None,
                },
                ctx,
                &opts,
            )
            .await
        }
        (Location::Oss(s), Location::Oss(d)) => {
            if a.recursive {
                let items = list_copy(&s, &d, ctx).await?;
                return run_batch(items, &a, ctx, &opts).await.map(|()| exit::OK);
            }
            if s.key.is_empty() || s.key.ends_with('/') {
                return Err(CliError::usage(format!(
                    "{s} names a prefix, not an object: use cp -r to copy a tree"
                )));
            }
            let key = if d.key.is_empty() || d.key.ends_with('/') {
                format!("{}{}", d.key, s.basename())
            } else {
                d.key.clone()
            };
            let dst = OssUrl {
                bucket: d.bucket,
                key,
            };
            run_one(
                Item::Copy {
                    src: s,
                    dst,
                    size: 0,
                    etag: None,
                },
                ctx,
                &opts,
            )
            .await
        }
    }
}

/// Flushes what a `cp -r` download wrote under `root` (if it wrote anything) to disk before the
/// command reports success.
async fn durable(root: &Path) -> Result<(), CliError> {
    if !root.exists() {
        return Ok(());
    }
    ossguard::transfer::sync_filesystem(root)
        .await
        .map_err(CliError::from)
}

fn ends_with_separator(p: &Path) -> bool {
    let s = p.as_os_str().to_string_lossy();
    s.ends_with('/') || s.ends_with(std::path::MAIN_SEPARATOR)
}

/// Runs one item; returns the bytes moved and the ETag when there is one.
async fn transfer_item(
    client: &Client,
    item: &Item,
    opts: &TransferOptions,
) -> Result<(u64, Option<String>), CliError> {
    match item {
        Item::Upload { path, url } => {
            let size = tokio::fs::metadata(path)
                .await
                .map_err(|e| CliError::local(format!("cannot read {}", path.display()), e))?
                .len();
            let out = transfer::upload_file(client, path, &url.bucket, &url.key, opts).await?;
            Ok((size, Some(out.etag)))
        }
        Item::Download { url, path, size } => {
            // `download_file` creates the parent directories.
            // A listed object's size lets a small one come in one GET, without a HEAD.
            let mut opts = opts.clone();
            opts.download_size_hint = *size;
            let meta = transfer::download_file(client, &url.bucket, &url.key, path, &opts).await?;
            Ok((meta.size, Some(meta.etag)))
        }
        Item::Copy {
            src,
            dst,
            size,
            etag,
        } => {
            let mut opts = opts.clone();
            opts.copy_hint = etag
                .clone()
                .map(|etag| ossguard::transfer::CopyHint { size: *size, etag });
            let out =
                transfer::copy_large(client, &src.bucket, &src.key, &dst.bucket, &dst.key, &opts)
                    .await?;
            Ok((out.size, Some(out.etag)))
        }
        Item::MkDir { path } => {
            tokio::fs::create_dir_all(path)
                .await
                .map_err(|e| CliError::local(format!("cannot create {}", path.display()), e))?;
            Ok((0, None))
        }
    }
}

fn verb(item: &Item) -> &'static str {
    match item {
        Item::Upload { .. } => "upload",
        Item::Download { .. } => "download",
        Item::Copy { .. } => "copy",
        Item::MkDir { .. } => "mkdir",
    }
}

async fn run_one(item: Item, ctx: &Ctx, opts: &TransferOptions) -> Result<u8, CliError> {
    if let Item::Download { url, path, .. } = &item {
        if let Some(read) = super::cat::read_via_chain(ctx, url).await? {
            return cp_fallback::download(url, path, read, ctx).await;
        }
    }
    let client = ctx.client()?;
    let mut opts = opts.clone();
    let bar = match &item {
        Item::Upload { .. } | Item::Download { .. } | Item::Copy { .. } => {
            ctx.out.bar(item_size(&item).await.max(1), verb(&item))
        }
        _ => None,
    };
    if let Some(b) = &bar {
        opts.progress = Some(output::progress_fn(b));
    }
    let r = transfer_item(client, &item, &opts).await;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let (bytes, etag) = match (r, &item) {
        (Err(CliError::Oss(e)), Item::Upload { path, url })
            if cp_fallback::spoolable(path, &e, ctx, &opts).await? =>
        {
            return cp_fallback::spool_upload(path, url, e, ctx, &opts).await;
        }
        (r, _) => r?,
    };
    if let Item::Upload { url, .. } = &item {
        cp_fallback::forget_cached(url, ctx).await?;
    }
    if ctx.out.json {
        ctx.out.json(&json!({
            "operation": verb(&item),
            "source": item.source(),
            "destination": item.destination(),
            "bytes": bytes,
            "etag": etag,
        }));
    } else {
        ctx.out.info(format_args!(
            "{}: {} → {} ({})",
            verb(&item),
            item.source(),
            item.destination(),
            output::human_bytes(bytes)
        ));
    }
    Ok(exit::OK)
}

/// Items of a local tree, keys relative to `root` joined with '/'. Unusable names become
/// failures later (reported, not fatal).
fn walk_upload(root: &Path, dst: &OssUrl, ctx: &Ctx) -> Result<Vec<Planned>, CliError> {
    let prefix = dst.dir_prefix();
    let mut out = Vec::new();
    let mut stack = vec![(root.to_path_buf(), String::new())];
    while let Some((dir, rel)) = stack.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .map_err(|e| CliError::local(format!("cannot list {}", dir.display()), e))?
            .collect::<Result<_, _>>()
            .map_err(|e| CliError::local(format!("cannot list {}", dir.display()), e))?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let path = entry.path();
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                out.push(Err((
                    path.display().to_string(),
                    CliError::usage("the file name is not UTF-8 and cannot be an object key"),
                )));
                continue;
            };
            let ft = match entry.file_type() {
                Ok(t) => t,
                Err(e) => {
                    out.push(Err((
                        path.display().to_string(),
                        CliError::local("cannot stat", e),
                    )));
                    continue;
                }
            };
            let rel_name = format!("{rel}{name}");
            if ft.is_dir() {
                stack.push((path, format!("{rel_name}/")));
            } else if ft.is_file() || (ft.is_symlink() && path.is_file()) {
                out.push(Ok(Item::Upload {
                    path,
                    url: OssUrl {
                        bucket: dst.bucket.clone(),
                        key: format!("{prefix}{rel_name}"),
                    },
                }));
            } else if ft.is_symlink() && path.is_dir() {
                ctx.out.warn(format_args!(
                    "{}: skipping a symbolic link to a directory",
                    path.display()
                ));
            }
        }
    }
    Ok(out)
}

async fn list_all(client: &Client, u: &OssUrl) -> Result<Vec<ossguard::ObjectEntry>, CliError> {
    let pages = client.list_objects(
        &u.bucket,
        ListOptions {
            prefix: u.dir_prefix(),
            ..Default::default()
        },
    );
    let pages: Vec<_> = pages.try_collect().await?;
    Ok(pages.into_iter().flat_map(|p| p.objects).collect())
}

/// A relative key as a safe relative path: no `..`, `.`, empty or absolute segments.
fn safe_relative(rel: &str) -> Option<PathBuf> {
    let mut p = PathBuf::new();
    let trimmed = rel.strip_suffix('/').unwrap_or(rel);
    for seg in trimmed.split('/') {
        if seg.is_empty()
            || seg == "."
            || seg == ".."
            || (cfg!(windows) && seg.contains(['\\', ':']))
        {
            return None;
        }
        p.push(seg);
    }
    Some(p)
}

async fn list_download(u: &OssUrl, root: &Path, ctx: &Ctx) -> Result<Vec<Planned>, CliError> {
    let client = ctx.client()?;
    let prefix = u.dir_prefix();
    let mut out = Vec::new();
    for o in list_all(client, u).await? {
        let rel = &o.key[prefix.len()..];
        if rel.is_empty() {
            continue;
        }
        let url = OssUrl {
            bucket: u.bucket.clone(),
            key: o.key.clone(),
        };
        match safe_relative(rel) {
            None => out.push(Err((
                url.to_string(),
                CliError::usage(
                    "this key cannot be a local path (empty, '.' or '..' segments): download it alone with an explicit destination",
                ),
            ))),
            Some(p) if rel.ends_with('/') => out.push(Ok(Item::MkDir {
                path: root.join(p),
            })),
            Some(p) => out.push(Ok(Item::Download {
                url,
                path: root.join(p),
                size: Some(o.size),
            })),
        }
    }
    Ok(out)
}

async fn list_copy(s: &OssUrl, d: &OssUrl, ctx: &Ctx) -> Result<Vec<Planned>, CliError> {
    let client = ctx.client()?;
    let sp = s.dir_prefix();
    let dp = d.dir_prefix();
    if s.bucket == d.bucket && (dp.starts_with(&sp) || sp.starts_with(&dp)) {
        return Err(CliError::usage(
            "the source and destination prefixes overlap: copy into a separate prefix",
        ));
    }
    Ok(list_all(client, s)
        .await?
        .into_iter()
        .map(|o| {
            let rel = &o.key[sp.len()..];
            Ok(Item::Copy {
                src: OssUrl {
                    bucket: s.bucket.clone(),
                    key: o.key.clone(),
                },
                dst: OssUrl {
                    bucket: d.bucket.clone(),
                    key: format!("{dp}{rel}"),
                },
                size: o.size,
                etag: Some(o.etag.clone()),
            })
        })
        .collect())
}

/// Progress of a tree: one bar over all bytes, fed by each file's progress.
fn item_progress(bar: &ProgressBar) -> ProgressFn {
    let bar = bar.clone();
    let last = Arc::new(AtomicU64::new(0));
    Arc::new(move |p: Progress| {
        let prev = last.swap(p.bytes_done, Ordering::Relaxed);
        if p.bytes_done >= prev {
            bar.inc(p.bytes_done - prev);
        }
    })
}

async fn item_size(item: &Item) -> u64 {
    match item {
        Item::Upload { path, .. } => tokio::fs::metadata(path)
            .await
            .map(|m| m.len())
            .unwrap_or(0),
        Item::Download { size, .. } => size.unwrap_or(0),
        Item::Copy { size, .. } => *size,
        _ => 0,
    }
}

async fn run_batch(
    items: Vec<Planned>,
    a: &CpArgs,
    ctx: &Ctx,
    opts: &TransferOptions,
) -> Result<(), CliError> {
    let client = ctx.client()?;
    let out: &Output = &ctx.out;
    let opts = &transfer::for_jobs(opts.clone(), a.jobs.into());
    let mut batch = Batch::default();
    let mut runnable = Vec::new();
    for i in items {
        match i {
            Ok(item) => runnable.push(item),
            Err((name, e)) => batch.fail(out, name, e),
        }
    }
    let mut total = 0u64;
    for item in &runnable {
        total += item_size(item).await;
    }
    let bar = out.bar(total, "cp -r");
    let files = runnable.len();
    let results = futures_util::stream::iter(runnable.into_iter().map(|item| {
        let mut opts = opts.clone();
        opts.progress = bar.as_ref().map(item_progress);
        async move {
            let r = transfer_item(client, &item, &opts).await;
            (item, r)
        }
    }))
    .buffer_unordered(a.jobs.into());
    futures_util::pin_mut!(results);
    let mut bytes = 0u64;
    let mut done = Vec::new();
    while let Some((item, r)) = results.next().await {
        match r {
            Ok((n, _)) => {
                bytes += n;
                batch.ok();
                if let Some(b) = &bar {
                    b.set_message(format!("files {}/{files}", batch.succeeded()));
                }
                if out.json {
                    done.push(json!({"source": item.source(), "destination": item.destination(), "bytes": n}));
                } else if !out.quiet {
                    if let Some(b) = &bar {
                        b.suspend(|| {
                            out.info(format_args!(
                                "{}: {} → {}",
                                verb(&item),
                                item.source(),
                                item.destination()
                            ))
                        });
                    } else {
                        out.info(format_args!(
                            "{}: {} → {}",
                            verb(&item),
                            item.source(),
                            item.destination()
                        ));
                    }
                }
            }
            Err(e) => {
                let name = item.source();
                if let Some(b) = &bar {
                    b.suspend(|| batch.fail(out, name, e));
                } else {
                    batch.fail(out, name, e);
                }
            }
        }
    }
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    if out.json {
        out.json(&json!({
            "operation": "cp",
            "source": a.src,
            "destination": a.dst,
            "items": batch.total,
            "succeeded": batch.succeeded(),
            "bytes": bytes,
            "copied": done,
            "failed": batch.failures_json(),
        }));
    } else {
        out.info(format_args!(
            "{} of {} items copied ({})",
            batch.succeeded(),
            batch.total,
            output::human_bytes(bytes)
        ));
    }
    batch.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_keys() {
        assert_eq!(
            safe_relative("a/b.txt"),
            Some(PathBuf::from("a").join("b.txt"))
        );
        assert_eq!(safe_relative("dir/"), Some(PathBuf::from("dir")));
        for bad in ["../x", "a/../b", "a//b", "./a", "/a"] {
            assert_eq!(safe_relative(bad), None, "{bad}");
        }
    }
}
