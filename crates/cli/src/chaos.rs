//! `ossguard chaos`: a TCP fault proxy with toxiproxy's HTTP API (see `ossguard-chaos`).

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use ossguard_chaos::Chaos;

#[derive(Args, Debug)]
pub struct ChaosArgs {
    /// Address of the toxiproxy-compatible HTTP API; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8474")]
    api: String,
    /// JSON file with an array of proxies to create at start, as for `POST /populate`:
    /// `[{"name": "oss", "listen": "127.0.0.1:9001", "upstream": "127.0.0.1:9000"}]`.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Seed for the random draws (toxicity, jitter, slicing, loss), for repeatable runs.
    #[arg(long)]
    seed: Option<u64>,
}

pub async fn run(args: ChaosArgs) -> Result<(), Box<dyn std::error::Error>> {
    let chaos = match args.seed {
        Some(s) => Chaos::with_seed(s),
        None => Chaos::new(),
    };
    let mut proxies = Vec::new();
    if let Some(path) = &args.config {
        let body = std::fs::read(path)
            .map_err(|e| format!("cannot read the proxy config {}: {e}", path.display()))?;
        let (created, err) = chaos.populate_json(&body).await;
        if let Some(e) = err {
            chaos.shutdown().await;
            return Err(format!("proxy config {}: {}", path.display(), e.message).into());
        }
        proxies = created;
    }
    let api = match chaos.serve_api(args.api.as_str()).await {
        Ok(api) => api,
        Err(e) => {
            chaos.shutdown().await;
            return Err(format!("cannot serve the API on {}: {e}", args.api).into());
        }
    };
    // Scripts read the first line: keep it exactly this.
    let mut out = std::io::stdout().lock();
    writeln!(out, "api listening on {}", api.url())?;
    for p in &proxies {
        let state = if p.enabled { "" } else { " (disabled)" };
        writeln!(
            out,
            "proxy {} listening on {} -> {}{state}",
            p.name, p.listen, p.upstream
        )?;
    }
    out.flush()?;
    drop(out);
    tokio::signal::ctrl_c().await?;
    api.shutdown().await?;
    chaos.shutdown().await;
    Ok(())
}
