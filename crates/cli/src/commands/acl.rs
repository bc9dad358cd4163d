//! `ossguard acl get|set oss://bucket[/key] [ACL]`.

use clap::{Args, Subcommand};
use serde_json::json;

use super::Ctx;
use crate::error::CliError;
use crate::url::OssUrl;

#[derive(Args, Debug)]
pub struct AclArgs {
    #[command(subcommand)]
    pub action: AclAction,
}

#[derive(Subcommand, Debug)]
pub enum AclAction {
    /// Print the ACL of a bucket (oss://bucket) or an object (oss://bucket/key).
    Get { url: String },
    /// Set it: private, public-read, public-read-write (objects also: default).
    Set { url: String, acl: String },
}

/// The canned ACLs OSS knows; `default` (inherit the bucket's) only for objects.
pub fn check_acl(acl: &str, object: bool) -> Result<(), CliError> {
    match acl {
        "private" | "public-read" | "public-read-write" => Ok(()),
        "default" if object => Ok(()),
        _ => Err(CliError::usage(format!(
            "{acl:?} is not an ACL: use private, public-read, public-read-write{}",
            if object { " or default" } else { "" }
        ))),
    }
}

pub async fn run(a: AclArgs, ctx: &Ctx) -> Result<(), CliError> {
    match a.action {
        AclAction::Get { url } => {
            let u = OssUrl::parse(&url)?;
            let client = ctx.client()?;
            let acl = if u.key.is_empty() {
                client.get_bucket_acl(&u.bucket).await?
            } else {
                client.get_object_acl(&u.bucket, &u.key).await?
            };
            if ctx.out.json {
                ctx.out
                    .json(&json!({"bucket": u.bucket, "key": (!u.key.is_empty()).then_some(&u.key), "acl": acl}));
            } else {
                ctx.out.line(acl);
            }
        }
        AclAction::Set { url, acl } => {
            let u = OssUrl::parse(&url)?;
            check_acl(&acl, !u.key.is_empty())?;
            let client = ctx.client()?;
            if u.key.is_empty() {
                client.put_bucket_acl(&u.bucket, &acl).await?;
            } else {
                client.put_object_acl(&u.bucket, &u.key, &acl).await?;
            }
            if ctx.out.json {
                ctx.out
                    .json(&json!({"bucket": u.bucket, "key": (!u.key.is_empty()).then_some(&u.key), "acl": acl, "set": true}));
            } else {
                ctx.out.info(format_args!("set the ACL of {url} to {acl}"));
            }
        }
    }
    Ok(())
}
