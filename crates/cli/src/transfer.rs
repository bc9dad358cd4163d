//! The CLI's door to the library's resumable transfers (`ossguard::transfer`).

use std::path::Path;

use ossguard::{Client, CopyOutput, Error, ObjectMeta, PutObjectOutput};

pub use ossguard::transfer::ProgressFn;
pub use ossguard::{Progress, TransferOptions};

use crate::config::GlobalArgs;

/// The transfer flags as options.
pub fn options(g: &GlobalArgs) -> TransferOptions {
    let mut o = TransferOptions::default();
    if let Some(p) = g.part_size {
        o = o.with_part_size(p);
    }
    if let Some(n) = g.parallel {
        o = o.with_concurrency(n.into());
    }
    o.checkpoint_dir = g.checkpoint_dir.clone();
    o.resumable = !g.no_resume;
    o
}

/// `opts` for `jobs` files at once. With more than one, the files are the parallelism and each
/// keeps its starting width: a file's ramp would see only its own share of the client's data
/// slots (16 in all), and could "pay" by taking them from its neighbours.
pub fn for_jobs(mut opts: TransferOptions, jobs: usize) -> TransferOptions {
    if jobs > 1 {
        opts.max_concurrency = opts.concurrency;
    }
    opts
}

pub async fn upload_file(
    client: &Client,
    path: &Path,
    bucket: &str,
    key: &str,
    opts: &TransferOptions,
) -> Result<PutObjectOutput, Error> {
    client.upload_file(path, bucket, key, opts).await
}

pub async fn download_file(
    client: &Client,
    bucket: &str,
    key: &str,
    path: &Path,
    opts: &TransferOptions,
) -> Result<ObjectMeta, Error> {
    client.download_file(bucket, key, path, opts).await
}

/// Server-side copy of any size (CopyObject, or UploadPartCopy parts above the copy threshold).
pub async fn copy_large(
    client: &Client,
    src_bucket: &str,
    src_key: &str,
    dst_bucket: &str,
    dst_key: &str,
    opts: &TransferOptions,
) -> Result<CopyOutput, Error> {
    client
        .copy_large(src_bucket, src_key, dst_bucket, dst_key, opts)
        .await
}
