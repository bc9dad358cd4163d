//! `ossguard-soak`: `ossguard serve` and `ossguard chaos` as child processes, a client under an
//! F1-style fault mix (emulator rules: 500, 503, resets, cut bodies; proxy:
//! jitter and connection resets) for a bounded time, the RSS and open descriptors of all three
//! processes sampled every few seconds. Fails (exit 1) on growth beyond the thresholds in
//! `sample.rs`, on any lost or corrupted object, or when a child does not stop cleanly.
//!
//! `scripts/soak [SECS]` builds and runs it; figures go to `BENCHMARKS.md`.

mod load;
mod model;
mod procs;
mod sample;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ossguard::{Client, Credentials};
use serde_json::json;

use crate::procs::Proc;
use crate::sample::{judge, mib, Sample};

#[derive(Parser)]
#[command(about = "Bounded soak of ossguard serve + chaos + client under faults")]
struct Args {
    /// The `ossguard` binary [default: next to this one]
    #[arg(long)]
    bin: Option<PathBuf>,
    /// Seconds of load (faults on).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(10..=7200))]
    secs: u64,
    /// Concurrent client workers.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=64))]
    workers: u32,
    /// Seconds between samples.
    #[arg(long, default_value_t = 2.0)]
    every: f64,
    /// Directory for soak.json, samples.csv and the server's data.
    #[arg(long, default_value = "soak-out")]
    out: PathBuf,
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    match rt.block_on(soak(args)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("soak: error: {e}");
            ExitCode::from(2)
        }
    }
}

fn random_secret() -> String {
    let mut b = [0u8; 16];
    // The secret only has to differ between runs.
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    b[..8].copy_from_slice(&t.to_le_bytes());
    b[8..].copy_from_slice(&u64::from(std::process::id()).to_le_bytes());
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Emulator rules: about 10 % of requests fail in one of the F1/F4 ways. No flipped bytes
/// (F7): the soak checks ranged reads strictly, and OSS gives a range no checksum of its own,
/// so a flip in a range is undetectable by any client (the drill's F7 covers whole reads).
fn fault_rules(seed: u64) -> serde_json::Value {
    json!({
        "seed": seed,
        "rules": [
            {"name": "500", "probability": 0.04, "fault": {"kind": "status", "status": 500}},
            {"name": "503", "probability": 0.02, "fault": {"kind": "status", "status": 503, "code": "ServiceUnavailable"}},
            {"name": "reset", "probability": 0.02, "fault": {"kind": "reset"}},
            {"name": "reset-mid-body", "match": {"operations": ["GetObject"]}, "probability": 0.01,
             "fault": {"kind": "reset_mid_body", "after_bytes": 2000}},
            {"name": "truncate", "match": {"operations": ["GetObject"]}, "probability": 0.005,
             "fault": {"kind": "truncate_body", "after_bytes": 3000}}
        ]
    })
}

async fn soak(args: Args) -> Result<bool, String> {
    let bin = match args.bin {
        Some(b) => b,
        None => std::env::current_exe()
            .map_err(|e| e.to_string())?
            .with_file_name("ossguard"),
    };
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let data = args.out.join("data");
    let _ = std::fs::remove_dir_all(&data);
    let (ak, sk) = ("soak-ak".to_owned(), random_secret());

    let serve = Proc::start(
        "serve",
        &bin,
        &[
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--data",
            &data.to_string_lossy(),
            "--access-key-id",
            &ak,
            "--access-key-secret",
            &sk,
            "--admin-open",
        ],
    )
    .await?;
    let seed = args.seed.to_string();
    let chaos = Proc::start(
        "chaos",
        &bin,
        &["chaos", "--api", "127.0.0.1:0", "--seed", &seed],
    )
    .await?;

    let http = reqwest::Client::new();
    let upstream = serve.url.trim_start_matches("http://").to_owned();
    let proxy: serde_json::Value = http
        .post(format!("{}/proxies", chaos.url))
        .json(&json!({"name": "oss", "listen": "127.0.0.1:0", "upstream": upstream}))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| format!("creating the proxy: {e}"))?
        .json()
        .await
        .map_err(|e| format!("proxy answer: {e}"))?;
    let listen = proxy["listen"]
        .as_str()
        .ok_or("the proxy answer has no listen address")?;
    for toxic in [
        json!({"type": "latency", "stream": "downstream", "attributes": {"latency": 2, "jitter": 4}}),
        json!({"type": "reset_peer", "stream": "downstream", "toxicity": 0.02, "attributes": {"timeout": 50}}),
    ] {
        http.post(format!("{}/proxies/oss/toxics", chaos.url))
            .json(&toxic)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| format!("adding a toxic: {e}"))?;
    }

    let direct = Client::builder()
        .endpoint(&serve.url)
        .credentials(Credentials::new(ak.clone(), sk.clone()))
        .build()
        .map_err(|e| e.to_string())?;
    direct
        .create_bucket("soak", Default::default())
        .await
        .map_err(|e| format!("creating the bucket: {e}"))?;
    http.put(format!("{}/-/faults", serve.url))
        .json(&fault_rules(args.seed))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| format!("installing fault rules: {e}"))?;

    // Sampler: every process, every `every` seconds, until told to stop.
    let pids = [
        ("serve", serve.pid),
        ("chaos", chaos.pid),
        ("client", std::process::id()),
    ];
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    let every = Duration::from_secs_f64(args.every.max(0.2));
    let sampler = tokio::spawn(async move {
        let start = tokio::time::Instant::now();
        let mut series: Vec<Vec<Sample>> = vec![Vec::new(); pids.len()];
        let mut tick = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = &mut stop_rx => break,
            }
            let at = start.elapsed().as_secs_f64();
            for (i, (_, pid)) in pids.iter().enumerate() {
                if let Some(s) = sample::sample(*pid, at) {
                    series[i].push(s);
                }
            }
        }
        series
    });

    let client = Client::builder()
        .endpoint(format!("http://{listen}"))
        .credentials(Credentials::new(ak.clone(), sk.clone()))
        .build()
        .map_err(|e| e.to_string())?;
    eprintln!(
        "soak: {} workers for {} s through {listen} (proxy) -> {} (server)",
        args.workers, args.secs, serve.url
    );
    let mut workers = load::run(&client, "soak", args.workers, args.secs, args.seed).await;
    let stats = client.stats();
    let _ = stop_tx.send(());
    let series = sampler.await.map_err(|e| e.to_string())?;

    // Faults off, then every key once more, directly.
    http.delete(format!("{}/-/faults", serve.url))
        .send()
        .await
        .map_err(|e| format!("clearing fault rules: {e}"))?;
    let mut tally = load::Tally::default();
    for w in &mut workers {
        w.verify(&direct).await;
        tally.merge(&w.tally);
    }
    drop((client, direct));
    let mut stop_problems = Vec::new();
    for p in [chaos, serve] {
        let name = p.name;
        if let Err(e) = p.stop().await {
            stop_problems.push(format!("{name}: {e}"));
        }
    }

    let (ok, failed) = tally.total();
    let mut pass = tally.corrupted == 0 && tally.lost == 0 && tally.resurrected == 0;
    pass &= stop_problems.is_empty() && ok > 0;
    let mut procs = Vec::new();
    let mut csv = String::from("process,at_s,rss_bytes,fds\n");
    println!(
        "{:<8} {:>8} {:>10} {:>10} {:>10} {:>6} {:>6} {:>6}  verdict",
        "process", "samples", "RSS start", "RSS end", "RSS max", "FD st", "FD end", "FD max"
    );
    for ((name, _), s) in pids.iter().zip(&series) {
        for x in s {
            csv.push_str(&format!("{name},{:.1},{},{}\n", x.at_s, x.rss_bytes, x.fds));
        }
        let g = judge(s);
        pass &= g.problems.is_empty();
        println!(
            "{name:<8} {:>8} {:>8.1}Mi {:>8.1}Mi {:>8.1}Mi {:>6} {:>6} {:>6}  {}",
            s.len(),
            mib(g.rss_start),
            mib(g.rss_end),
            mib(g.rss_max),
            g.fds_start,
            g.fds_end,
            g.fds_max,
            if g.problems.is_empty() {
                "ok".to_owned()
            } else {
                g.problems.join("; ")
            }
        );
        procs.push(json!({"process": name, "samples": s.len(), "growth": g}));
    }
    let rate = ok as f64 / (ok + failed).max(1) as f64;
    println!(
        "operations: {} ok, {failed} failed ({:.3} % success); attempts {} retries {} hedges {} \
         resumes {} integrity failures caught {}",
        ok,
        rate * 100.0,
        stats.attempts,
        stats.retries,
        stats.hedges,
        stats.body_resumes,
        stats.integrity_failures
    );
    println!(
        "objects: {} lost, {} corrupted, {} resurrected (all must be 0)",
        tally.lost, tally.corrupted, tally.resurrected
    );
    for p in tally.problems.iter().chain(&stop_problems) {
        println!("problem: {p}");
    }
    println!("verdict: {}", if pass { "PASS" } else { "FAIL" });
    let doc = json!({
        "version": 1,
        "secs": args.secs,
        "workers": args.workers,
        "seed": args.seed,
        "pass": pass,
        "operations": tally,
        "success_rate": rate,
        "client": {
            "attempts": stats.attempts, "retries": stats.retries, "hedges": stats.hedges,
            "body_resumes": stats.body_resumes, "integrity_failures": stats.integrity_failures,
        },
        "processes": procs,
        "thresholds": {
            "rss_growth_ratio": sample::RSS_GROWTH_RATIO,
            "rss_growth_bytes": sample::RSS_GROWTH_BYTES,
            "fd_growth": sample::FD_GROWTH,
        },
        "stop_problems": stop_problems,
    });
    let write = |name: &str, body: &[u8]| {
        std::fs::write(args.out.join(name), body).map_err(|e| format!("writing {name}: {e}"))
    };
    write(
        "soak.json",
        serde_json::to_string_pretty(&doc)
            .unwrap_or_default()
            .as_bytes(),
    )?;
    write("samples.csv", csv.as_bytes())?;
    let _ = std::fs::remove_dir_all(&data);
    Ok(pass)
}
