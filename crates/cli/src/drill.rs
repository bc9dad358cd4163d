//! `ossguard drill`: a thin shell over `ossguard-drill`.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use clap::Args;
use ossguard_drill::workload::Mix;
use ossguard_drill::{Arm, DrillConfig};

use crate::error::exit;

#[derive(Args, Debug)]
pub struct DrillArgs {
    /// A shortened run of every scenario (CI, first look).
    #[arg(long)]
    quick: bool,
    /// Scenarios to run (repeat or comma-separate): S0, F1 (all rates) or F1-1/F1-10/F1-30/F1-50,
    /// F2 … F8. Default: all.
    #[arg(long, value_delimiter = ',')]
    scenario: Vec<String>,
    /// Arms to compare (naive, seed, ossguard). Default: all three.
    #[arg(long, value_delimiter = ',')]
    arm: Vec<String>,
    /// Arrivals per second per arm (open loop).
    #[arg(long)]
    rate: Option<f64>,
    /// In-flight operations per arm at most; later arrivals queue (and that counts).
    #[arg(long)]
    concurrency: Option<usize>,
    /// Seconds of each phase: steady,fault,recovery (e.g. 3,6,3).
    #[arg(long)]
    phases: Option<String>,
    /// Operation mix, e.g. get=40,put=15,head=15,list=5,delete=5,range_get=16,multipart=4.
    #[arg(long)]
    mix: Option<String>,
    /// Seed of the schedule and of the fault rules.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Print the versioned JSON document instead of the table.
    #[arg(long)]
    json: bool,
    /// Write index.html, summary.json and requests.jsonl into this directory.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Allow --report to write into a non-empty directory.
    #[arg(long)]
    force: bool,
    /// Drill against this OSS endpoint instead of the embedded emulator (through the in-process
    /// fault proxy; network-fault scenarios only). Credentials from OSS_ACCESS_KEY_ID /
    /// OSS_ACCESS_KEY_SECRET (and OSS_REGION).
    #[arg(long, requires = "bucket")]
    endpoint: Option<String>,
    /// The bucket to use with --endpoint (must exist; only --prefix is written).
    #[arg(long, requires = "endpoint")]
    bucket: Option<String>,
    /// Key prefix the drill writes under and deletes at the end (default ossguard-drill/<run id>/).
    #[arg(long, requires = "endpoint")]
    prefix: Option<String>,
    /// Confirm a drill against a non-loopback endpoint (it writes and deletes objects there).
    #[arg(long)]
    yes: bool,
    /// Serve every arm's client metrics (label `arm`) on http://ADDR/metrics while the drill
    /// runs, for Prometheus to scrape (e.g. 127.0.0.1:9464; port 0 picks one, printed on stderr).
    #[arg(long, value_name = "ADDR")]
    metrics_addr: Option<std::net::SocketAddr>,
}

fn is_loopback(url: &str) -> bool {
    let Ok(u) = http::Uri::try_from(url) else {
        return false;
    };
    match u.host().unwrap_or_default().trim_matches(['[', ']']) {
        "localhost" => true,
        h => h
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
    }
}

fn run_id() -> String {
    let mut b = [0u8; 6];
    getrandom::fill(&mut b).expect("the OS random source works");
    hex::encode(b)
}

fn usage(msg: String) -> u8 {
    eprintln!("error: {msg}");
    exit::USAGE
}

fn config(args: &DrillArgs) -> Result<DrillConfig, String> {
    let mut cfg = if args.quick {
        DrillConfig::quick(args.seed)
    } else {
        DrillConfig::full(args.seed)
    };
    cfg.scenarios = args
        .scenario
        .iter()
        .map(|s| s.trim().to_uppercase())
        .collect();
    if !args.arm.is_empty() {
        cfg.arms = args
            .arm
            .iter()
            .map(|a| {
                Arm::parse(a.trim())
                    .ok_or_else(|| format!("unknown arm {a:?}; allowed: naive, seed, ossguard"))
            })
            .collect::<Result<_, _>>()?;
    }
    if let Some(r) = args.rate {
        if !(r > 0.0 && r.is_finite()) {
            return Err(format!(
                "--rate must be a positive number of operations per second per arm, got {r}"
            ));
        }
        cfg.workload.rate = r;
    }
    if let Some(c) = args.concurrency {
        if c == 0 {
            return Err("--concurrency must be at least 1".into());
        }
        cfg.workload.concurrency = c;
    }
    if let Some(m) = &args.mix {
        cfg.workload.mix = Mix::parse(m)?;
    }
    if let Some(p) = &args.phases {
        let v: Vec<f64> = p
            .split(',')
            .map(|x| x.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| {
                format!("--phases takes seconds as steady,fault,recovery (e.g. 3,6,3), got {p:?}")
            })?;
        if v.len() != 3 || v.iter().any(|x| !(*x > 0.0 && x.is_finite())) {
            return Err(format!(
                "--phases takes three positive numbers of seconds: steady,fault,recovery; got {p:?}"
            ));
        }
        cfg.timeline.steady = Duration::from_secs_f64(v[0]);
        cfg.timeline.fault = Duration::from_secs_f64(v[1]);
        cfg.timeline.recovery = Duration::from_secs_f64(v[2]);
    }
    if let (Some(url), Some(bucket)) = (&args.endpoint, &args.bucket) {
        if !is_loopback(url) && !args.yes {
            return Err(format!(
                "--endpoint {url} is not on this machine: the drill will write and then delete objects under its prefix in bucket {bucket}; add --yes to go ahead"
            ));
        }
        let mut prefix = args
            .prefix
            .clone()
            .unwrap_or_else(|| format!("ossguard-drill/{}/", run_id()));
        if prefix.is_empty() {
            return Err("--prefix must not be empty: the drill deletes everything under it".into());
        }
        if !prefix.ends_with('/') {
            prefix.push('/');
        }
        cfg.endpoint = Some(ossguard_drill::run::EndpointTarget {
            url: url.clone(),
            bucket: bucket.clone(),
            prefix,
        });
    }
    cfg.selected().map_err(|e| e.to_string())?;
    Ok(cfg)
}

pub async fn run(args: DrillArgs) -> u8 {
    let mut cfg = match config(&args) {
        Ok(c) => c,
        Err(e) => return usage(e),
    };
    if let Some(dir) = &args.report {
        let non_empty = std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_some());
        if non_empty && !args.force {
            return usage(format!(
                "report directory {} is not empty; pass --force to overwrite, or choose another",
                dir.display()
            ));
        }
    }
    cfg.progress = !args.json;
    // Held for the whole run: dropping it stops the endpoint.
    let _metrics_server = match args.metrics_addr {
        None => None,
        Some(addr) => {
            let mut registry = prometheus_client::registry::Registry::default();
            for arm in &cfg.arms {
                let m = ossguard::ClientMetrics::new();
                m.register(registry.sub_registry_with_label(("arm".into(), arm.name().into())));
                cfg.metrics.insert(arm.name(), m);
            }
            match ossguard_exposition::serve(addr, std::sync::Arc::new(registry)).await {
                Ok(s) => {
                    eprintln!("metrics: http://{}/metrics", s.local_addr());
                    Some(s)
                }
                Err(e) => {
                    eprintln!("error: cannot serve metrics on {addr}: {e}");
                    return exit::CLIENT;
                }
            }
        }
    };
    let cancel = cfg.cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\ninterrupted: finishing the running scenario briefly, writing a partial report, cleaning up");
            cancel.store(true, Ordering::Relaxed);
        }
    });
    let report_dir = args.report.clone();
    let result = ossguard_drill::run(&cfg, |partial| {
        // Keep the report on disk current, so an interrupted run still leaves one.
        if let Some(dir) = &report_dir {
            if let Err(e) = ossguard_drill::write_report(partial, dir) {
                eprintln!("warning: cannot write the report to {}: {e}", dir.display());
            }
        }
    })
    .await;
    let report = match result {
        Ok(r) => r,
        Err(ossguard_drill::DrillError::Input(m)) => return usage(m),
        Err(e) => {
            eprintln!("error: {e}");
            return exit::CLIENT;
        }
    };
    if let Some(dir) = &report_dir {
        if let Err(e) = ossguard_drill::write_report(&report, dir) {
            eprintln!("error: cannot write the report to {}: {e}", dir.display());
            return exit::CLIENT;
        }
    }
    if args.json {
        println!("{}", ossguard_drill::to_json(&report));
    } else {
        print!("{}", ossguard_drill::table(&report));
        if let Some(dir) = &report_dir {
            println!("report: {}", dir.join("index.html").display());
        }
    }
    if report.partial {
        exit::INTERRUPTED
    } else if !report.thresholds_ok {
        exit::PARTIAL
    } else {
        exit::OK
    }
}
