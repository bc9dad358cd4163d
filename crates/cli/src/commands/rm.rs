//! `ossguard rm`: one object, or with `-r` every object under a prefix (1000 per request) and
//! every unfinished multipart upload under it (as `ossutil rm -r -a` and rclone's cleanup).

use clap::Args;
use futures_util::{StreamExt, TryStreamExt};
use ossguard::{Client, ListOptions, ListUploadsOptions};
use serde_json::json;

use super::batch::Batch;
use super::Ctx;
use crate::error::CliError;
use crate::output::Output;
use crate::url::OssUrl;

#[derive(Args, Debug)]
pub struct RmArgs {
    /// oss://bucket/key, or with -r oss://bucket[/prefix].
    pub url: String,
    /// Delete every object under the prefix (the key taken as a directory: oss://b/dir means
    /// dir/...; oss://b means the whole bucket), and abort every unfinished multipart upload
    /// under it (their parts are billed storage and block `rb`).
    #[arg(short, long)]
    pub recursive: bool,
    /// Entries per listing request, 1 to 1000 (tests use small pages to exercise paging).
    #[arg(long, hide = true, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub page_size: Option<u32>,
}

/// AbortMultipartUpload requests in flight at once.
const ABORT_CONCURRENCY: usize = 16;

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
            max_keys: a.page_size,
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
    let deleted = batch.succeeded();
    let aborted = abort_uploads(client, &u.bucket, &prefix, a.page_size, &mut batch, out).await;
    if out.json {
        out.json(&json!({
            "operation": "rm",
            "bucket": u.bucket,
            "prefix": prefix,
            "deleted": deleted,
            "aborted_uploads": aborted,
            "failed": batch.failures_json(),
        }));
    } else {
        out.info(format_args!(
            "deleted {deleted} objects and aborted {aborted} multipart uploads under oss://{}/{prefix}",
            u.bucket
        ));
    }
    batch.finish()
}

/// Aborts every unfinished multipart upload under `prefix` (ListMultipartUploads paged by
/// key-marker/upload-id-marker, one page in memory); each upload is one item of `batch`.
/// Returns how many were aborted. A failed listing is one failed item: what was found
/// before it is still aborted and reported.
async fn abort_uploads(
    client: &Client,
    bucket: &str,
    prefix: &str,
    page_size: Option<u32>,
    batch: &mut Batch,
    out: &Output,
) -> usize {
    let pages = client.list_multipart_uploads_pages(
        bucket,
        ListUploadsOptions {
            prefix: prefix.to_owned(),
            max_uploads: page_size,
        },
    );
    futures_util::pin_mut!(pages);
    let mut aborted = 0;
    loop {
        let page = match pages.next().await {
            None => break,
            Some(Ok(page)) => page,
            Some(Err(e)) => {
                batch.fail(
                    out,
                    format!("listing the multipart uploads under oss://{bucket}/{prefix}"),
                    CliError::Oss(e),
                );
                break;
            }
        };
        let results: Vec<_> = futures_util::stream::iter(page.uploads)
            .map(|up| async move {
                let r = client
                    .abort_multipart_upload(bucket, &up.key, &up.upload_id)
                    .await;
                (up, r)
            })
            .buffer_unordered(ABORT_CONCURRENCY)
            .collect()
            .await;
        for (up, r) in results {
            match r {
                Ok(()) => {
                    aborted += 1;
                    batch.ok();
                }
                Err(e) => batch.fail(
                    out,
                    format!(
                        "multipart upload {} of oss://{bucket}/{}",
                        up.upload_id, up.key
                    ),
                    CliError::Oss(e),
                ),
            }
        }
    }
    aborted
}
