//! `ossguard logging get|set|rm oss://bucket`.

use clap::{Args, Subcommand};
use serde_json::json;

use super::Ctx;
use crate::error::CliError;
use crate::url::OssUrl;

#[derive(Args, Debug)]
pub struct LoggingArgs {
    #[command(subcommand)]
    pub action: LoggingAction,
}

#[derive(Subcommand, Debug)]
pub enum LoggingAction {
    /// Print where the bucket's access logs go.
    Get { url: String },
    /// Send the bucket's access logs to --target-bucket under --target-prefix.
    Set {
        url: String,
        #[arg(long)]
        target_bucket: String,
        #[arg(long, default_value = "")]
        target_prefix: String,
    },
    /// Turn access logging off.
    Rm { url: String },
}

pub async fn run(a: LoggingArgs, ctx: &Ctx) -> Result<(), CliError> {
    let out = &ctx.out;
    match a.action {
        LoggingAction::Get { url } => {
            let u = OssUrl::parse_bucket(&url)?;
            let l = ctx.client()?.get_bucket_logging(&u.bucket).await?;
            if out.json {
                out.json(&json!({
                    "bucket": u.bucket,
                    "enabled": l.is_some(),
                    "target_bucket": l.as_ref().map(|l| &l.target_bucket),
                    "target_prefix": l.as_ref().map(|l| &l.target_prefix),
                }));
            } else {
                match l {
                    Some(l) => out.line(format_args!(
                        "logging to oss://{}/{}",
                        l.target_bucket, l.target_prefix
                    )),
                    None => out.line("logging is off"),
                }
            }
        }
        LoggingAction::Set {
            url,
            target_bucket,
            target_prefix,
        } => {
            let u = OssUrl::parse_bucket(&url)?;
            let t = OssUrl::parse_bucket(&format!("oss://{target_bucket}"))?;
            ctx.client()?
                .put_bucket_logging(&u.bucket, &t.bucket, &target_prefix)
                .await?;
            if out.json {
                out.json(&json!({"bucket": u.bucket, "enabled": true, "target_bucket": t.bucket, "target_prefix": target_prefix}));
            } else {
                out.info(format_args!(
                    "oss://{} logs to oss://{}/{target_prefix}",
                    u.bucket, t.bucket
                ));
            }
        }
        LoggingAction::Rm { url } => {
            let u = OssUrl::parse_bucket(&url)?;
            ctx.client()?.delete_bucket_logging(&u.bucket).await?;
            if out.json {
                out.json(&json!({"bucket": u.bucket, "enabled": false}));
            } else {
                out.info(format_args!("logging of oss://{} is off", u.bucket));
            }
        }
    }
    Ok(())
}
