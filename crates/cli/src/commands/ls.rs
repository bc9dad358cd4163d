//! `ossguard ls`: buckets, or objects one level deep ("directories" via `/`), or `-r` all.

use clap::Args;
use futures_util::TryStreamExt;
use ossguard::ListOptions;
use serde_json::json;

use super::Ctx;
use crate::error::CliError;
use crate::output;
use crate::url::OssUrl;

#[derive(Args, Debug)]
pub struct LsArgs {
    /// oss://bucket[/prefix]; without it, the buckets.
    pub url: Option<String>,
    /// Every object under the prefix, not just one level.
    #[arg(short, long)]
    pub recursive: bool,
}

pub async fn run(a: LsArgs, ctx: &Ctx) -> Result<(), CliError> {
    let Some(url) = a.url else {
        return buckets(ctx).await;
    };
    let u = OssUrl::parse(&url)?;
    let client = ctx.client()?;
    let out = &ctx.out;
    let opts = ListOptions {
        prefix: u.key.clone(),
        delimiter: if a.recursive {
            String::new()
        } else {
            "/".into()
        },
        ..Default::default()
    };
    let pages = client.list_objects(&u.bucket, opts);
    futures_util::pin_mut!(pages);
    let (mut objects, mut dirs, mut bytes) = (0u64, 0u64, 0u64);
    while let Some(page) = pages.try_next().await? {
        for p in &page.common_prefixes {
            dirs += 1;
            if out.json {
                out.json(&json!({"type": "prefix", "bucket": u.bucket, "prefix": p}));
            } else {
                out.line(format_args!(
                    "{:>24}  {:>12}  {:<12}  oss://{}/{p}",
                    "", "DIR", "", u.bucket
                ));
            }
        }
        for o in &page.objects {
            objects += 1;
            bytes += o.size;
            if out.json {
                out.json(&json!({
                    "type": "object",
                    "bucket": u.bucket,
                    "key": o.key,
                    "size": o.size,
                    "etag": o.etag,
                    "last_modified": o.last_modified.map(ossguard_proto::time::iso8601_millis),
                    "storage_class": o.storage_class,
                }));
            } else {
                out.line(format_args!(
                    "{:>24}  {:>12}  {:<12}  oss://{}/{}",
                    output::time(o.last_modified),
                    o.size,
                    o.storage_class,
                    u.bucket,
                    o.key
                ));
            }
        }
    }
    if dirs > 0 {
        out.info(format_args!(
            "{objects} objects ({}), {dirs} directories",
            output::human_bytes(bytes)
        ));
    } else {
        out.info(format_args!(
            "{objects} objects ({})",
            output::human_bytes(bytes)
        ));
    }
    Ok(())
}

async fn buckets(ctx: &Ctx) -> Result<(), CliError> {
    let list = ctx.client()?.list_buckets().await?;
    let out = &ctx.out;
    for b in &list {
        if out.json {
            out.json(&json!({
                "type": "bucket",
                "name": b.name,
                "location": b.location,
                "region": b.region,
                "creation_date": b.creation_date,
                "storage_class": b.storage_class,
            }));
        } else {
            out.line(format_args!(
                "{:>24}  {:<18}  {:<12}  oss://{}",
                b.creation_date, b.location, b.storage_class, b.name
            ));
        }
    }
    out.info(format_args!("{} buckets", list.len()));
    Ok(())
}
