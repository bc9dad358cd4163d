//! `ossguard mb` / `ossguard rb`.

use clap::Args;
use ossguard::CreateBucketOptions;
use serde_json::json;

use super::Ctx;
use crate::error::CliError;
use crate::url::OssUrl;

#[derive(Args, Debug)]
pub struct MbArgs {
    /// oss://bucket
    pub url: String,
    /// private (default), public-read, public-read-write.
    #[arg(long)]
    pub acl: Option<String>,
    /// Standard, IA, Archive, ColdArchive.
    #[arg(long)]
    pub storage_class: Option<String>,
}

#[derive(Args, Debug)]
pub struct RbArgs {
    /// oss://bucket (must be empty)
    pub url: String,
}

pub async fn mb(a: MbArgs, ctx: &Ctx) -> Result<(), CliError> {
    let u = OssUrl::parse_bucket(&a.url)?;
    if let Some(acl) = &a.acl {
        super::acl::check_acl(acl, false)?;
    }
    ctx.client()?
        .create_bucket(
            &u.bucket,
            CreateBucketOptions {
                acl: a.acl,
                storage_class: a.storage_class,
            },
        )
        .await?;
    if ctx.out.json {
        ctx.out
            .json(&json!({"operation": "mb", "bucket": u.bucket, "created": true}));
    } else {
        ctx.out.info(format_args!("created oss://{}", u.bucket));
    }
    Ok(())
}

pub async fn rb(a: RbArgs, ctx: &Ctx) -> Result<(), CliError> {
    let u = OssUrl::parse_bucket(&a.url)?;
    ctx.client()?.delete_bucket(&u.bucket).await?;
    if ctx.out.json {
        ctx.out
            .json(&json!({"operation": "rb", "bucket": u.bucket, "deleted": true}));
    } else {
        ctx.out.info(format_args!("deleted oss://{}", u.bucket));
    }
    Ok(())
}
