//! `ossguard serve`

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use ossguard_emulator::server::{Emulator, EmulatorConfig};

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:9000")]
    addr: SocketAddr,
    /// Data directory (created if missing).
    #[arg(long, default_value = "./ossguard-data")]
    data: PathBuf,
    /// Access key id clients must sign with (generated when neither flag nor env is given).
    #[arg(long, env = "OSS_ACCESS_KEY_ID")]
    access_key_id: Option<String>,
    /// Access key secret (never printed unless generated here).
    #[arg(long, env = "OSS_ACCESS_KEY_SECRET", hide_env_values = true)]
    access_key_secret: Option<String>,
    /// Region id reported by buckets and used in V4 scopes.
    #[arg(long, default_value = "cn-hangzhou")]
    region: String,
    /// Extra host names that mean path-style addressing.
    #[arg(long = "host-name")]
    host_names: Vec<String>,
    /// Fault rules to install at start (JSON or YAML; see crates/emulator/FAULTS.md). Change
    /// them at run time with signed PUT/DELETE /-/faults (or `ossguard admin faults`).
    #[arg(long, value_name = "FILE")]
    faults: Option<PathBuf>,
    /// Let unsigned requests use the admin API (/-/sts mints credentials, /-/faults changes
    /// fault rules). Only allowed when --addr is a loopback address. By default admin requests
    /// must be signed with the server's permanent key, like any OSS request to bucket "-".
    #[arg(long)]
    admin_open: bool,
    /// Do not fsync stored files and folders. Only for throw-away data (benchmarks, tests):
    /// what was stored then survives a killed server but not a power cut. Benchmarks use it
    /// to tell the client's cost from the server's disk.
    #[arg(long)]
    no_fsync: bool,
}

fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).expect("the OS random source works");
    hex::encode_upper(b)
}

pub async fn run(args: ServeArgs) -> Result<(), Box<dyn std::error::Error>> {
    let (ak, sk, generated) = match (args.access_key_id, args.access_key_secret) {
        (Some(a), Some(s)) => (a, s, false),
        (None, None) => (format!("LTAI{}", random_hex(8)), random_hex(15), true),
        _ => return Err(
            "give both --access-key-id and --access-key-secret (or neither to generate a dev pair)"
                .into(),
        ),
    };
    // Read the rules first: a bad file stops us before we bind.
    let faults = match &args.faults {
        Some(path) => Some(ossguard_emulator::faults::FaultConfig::load(path)?),
        None => None,
    };
    let config = EmulatorConfig {
        addr: args.addr,
        data_dir: args.data.clone(),
        region: args.region,
        credentials: vec![(ak.clone(), sk.clone())],
        host_names: args.host_names,
        sync: !args.no_fsync,
        admin_open: args.admin_open,
        max_copy_object_size: ossguard_emulator::server::MAX_COPY_OBJECT_SIZE,
    };
    let emulator = Emulator::start(config).await.map_err(|e| {
        format!(
            "cannot start the server on {} with data in {}: {e}",
            args.addr,
            args.data.display()
        )
    })?;
    let fault_rules = faults.as_ref().map(|f| f.rules.len());
    if let Some(f) = faults {
        emulator.faults().install(f)?;
    }
    // Scripts read the first line: keep it exactly this. Best effort: a script that reads the
    // first line and closes the pipe must not take the server down (a write to a closed stdout
    // fails with EPIPE, which used to end `serve`).
    let banner = {
        let mut b = format!("listening on {}\n", emulator.endpoint());
        if let (Some(n), Some(path)) = (fault_rules, &args.faults) {
            b.push_str(&format!("fault rules: {n} from {}\n", path.display()));
        }
        if generated {
            b.push_str("generated dev credentials (pass --access-key-id/--access-key-secret to choose your own):\n");
            b.push_str(&format!(
                "OSS_ACCESS_KEY_ID={ak}\nOSS_ACCESS_KEY_SECRET={sk}\n"
            ));
        } else {
            b.push_str(&format!("access key id: {ak}\n"));
        }
        b
    };
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(banner.as_bytes()).and_then(|()| out.flush());
    drop(out);
    tokio::signal::ctrl_c().await?;
    emulator.shutdown().await?;
    Ok(())
}
