//! `ossguard cat`: an object's bytes to stdout (CRC-64 checked at the end).

use clap::Args;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

use super::Ctx;
use crate::error::CliError;
use crate::url::OssUrl;

#[derive(Args, Debug)]
pub struct CatArgs {
    /// oss://bucket/key
    pub url: String,
}

pub async fn run(a: CatArgs, ctx: &Ctx) -> Result<(), CliError> {
    let u = OssUrl::parse_object(&a.url)?;
    let got = ctx
        .client()?
        .get_object(&u.bucket, &u.key, Default::default())
        .await?;
    let mut body = got.body;
    let mut stdout = tokio::io::stdout();
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        match stdout.write_all(&chunk).await {
            Ok(()) => {}
            // The reader went away (`| head`): stop quietly.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            Err(e) => return Err(CliError::local("cannot write to stdout", e)),
        }
    }
    match stdout.flush().await {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(CliError::local("cannot write to stdout", e))
        }
        _ => Ok(()),
    }
}
