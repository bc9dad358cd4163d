//! `ossguard rm`: one object, or with `-r` every object under a prefix (1000 per request).

use clap::Args;
use futures_util::TryStreamExt;
use ossguard::ListOptions;
use serde_json::json;

use super::batch::Batch;
use super::Ctx;
use crate::error::CliError;
use crate::url::OssUrl;

#[derive(Args, Debug)]
pub struct RmArgs {
    /// oss://bucket/key, or with -r oss://bucket[/prefix].
    pub url: String,
    /// Delete every object under the prefix (the key taken as a directory: oss://b/dir means
    /// dir/...; oss://b means the whole bucket).
    #[arg(short, long)]
    pub recursive: bool,
}

pub async fn run(a: RmArgs, ctx: &Ctx) -> Result<(), CliError> {
    let u = OssUrl::parse(&a.url)?;
    let out = &ctx.out;
    if !a.recursive {
        if u.key.is_empty() {
            return Err(CliError::usage(format!(
                "{} names a bucket: use rm -r to delete its objects, rb to delete the bucket",
                a.url
            )));
        }
        ctx.client()?.delete_object(&u.bucket, &u.key).await?;
        if out.json {
            out.json(&json!({"operation": "rm", "bucket": u.bucket, "key": u.key, "deleted": 1}));
        } else {
            out.info(format_args!("deleted {u}"));
        }
        return Ok(());
    }
    let client = ctx.client()?;
    let prefix = u.dir_prefix();
    let mut batch = Batch::default();
    // Each page holds at most 1000 keys: one DeleteMultipleObjects per page.
    let pages = client.list_objects(
        &u.bucket,
        ListOptions {
            prefix: prefix.clone(),
            ..Default::default()
        },
    );
    futures_util::pin_mut!(pages);
    while let Some(page) = pages.try_next().await? {
        let keys: Vec<String> = page.objects.into_iter().map(|o| o.key).collect();
        if keys.is_empty() {
            continue;
        }
        match client.delete_objects(&u.bucket, &keys, false).await {
            Ok(deleted) => {
                let deleted: std::collections::HashSet<String> = deleted.into_iter().collect();
                for k in keys {
                    if deleted.contains(&k) {
                        batch.ok();
                    } else {
                        batch.fail(
                            out,
                            format!("oss://{}/{k}", u.bucket),
                            CliError::Oss(ossguard::Error::invalid_input(
                                "the server did not report it deleted",
                            )),
                        );
                    }
                }
            }
            Err(e) => batch.fail_many(
                out,
                format!("{} objects from oss://{}/{}", keys.len(), u.bucket, keys[0]),
                keys.len(),
                CliError::Oss(e),
            ),
        }
    }
    if out.json {
        out.json(&json!({
            "operation": "rm",
            "bucket": u.bucket,
            "prefix": prefix,
            "deleted": batch.succeeded(),
            "failed": batch.failures_json(),
        }));
    } else {
        out.info(format_args!(
            "deleted {} objects under oss://{}/{prefix}",
            batch.succeeded(),
            u.bucket
        ));
    }
    batch.finish()
}
