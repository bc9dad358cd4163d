//! `ossguard presign`: a URL that grants GET or PUT on one object for a while.

use std::time::Duration;

use clap::{Args, ValueEnum};
use ossguard::SignatureVersion;
use serde_json::json;

use super::Ctx;
use crate::error::CliError;
use crate::url::OssUrl;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "UPPER")]
pub enum PresignMethod {
    Get,
    Put,
}

#[derive(Args, Debug)]
pub struct PresignArgs {
    /// oss://bucket/key
    pub url: String,
    /// Seconds the URL stays valid (V4: at most 604800, 7 days).
    #[arg(long, default_value_t = 3600)]
    pub expires: u64,
    /// HTTP method the URL is for.
    #[arg(long, value_enum, default_value = "GET", ignore_case = true)]
    pub method: PresignMethod,
}

pub async fn run(a: PresignArgs, ctx: &Ctx) -> Result<(), CliError> {
    let u = OssUrl::parse_object(&a.url)?;
    let (client, resolved) = ctx.resolved()?;
    let version = resolved.signature;
    let max = match version {
        SignatureVersion::V4 => 604_800,
        SignatureVersion::V1 => 10 * 365 * 86_400,
    };
    if a.expires == 0 || a.expires > max {
        return Err(CliError::usage(format!(
            "--expires must be 1 to {max} seconds for this signature version"
        )));
    }
    let method = match a.method {
        PresignMethod::Get => http::Method::GET,
        PresignMethod::Put => http::Method::PUT,
    };
    let url = client
        .presign_url(
            method.clone(),
            &u.bucket,
            &u.key,
            Duration::from_secs(a.expires),
            version,
        )
        .await?;
    if ctx.out.json {
        ctx.out.json(&json!({
            "url": url,
            "method": method.as_str(),
            "expires_in": a.expires,
            "signature_version": match version { SignatureVersion::V1 => "v1", SignatureVersion::V4 => "v4" },
            "bucket": u.bucket,
            "key": u.key,
        }));
    } else {
        ctx.out.line(url);
    }
    Ok(())
}
