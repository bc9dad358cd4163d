//! `ossguard`: a thin shell over the ossguard crates.
//!
//! Exit codes (as ossutil v2): 0 ok, 1 usage, 2 OSS error response, 3 client/network/local
//! error, 4 some items of a batch failed (also: `spool replay` left conflicts), 5 interrupted;
//! and our own 6: accepted locally, not stored — OSS was unavailable and `cp` journaled the
//! upload in the spool (`--spool-dir`); `ossguard spool replay` stores it later.

mod chaos;
mod commands;
mod config;
mod degraded;
mod drill;
mod error;
mod output;
mod serve;
mod transfer;
mod url;

use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::error::{exit, CliError};

#[derive(Parser)]
#[command(
    name = "ossguard",
    version,
    about = "Dependable Alibaba Cloud OSS: client, local server, fault drills",
    after_help = "Configuration: flags > environment (OSS_ENDPOINT, OSS_REGION, OSS_ACCESS_KEY_ID, \
OSS_ACCESS_KEY_SECRET, OSS_SESSION_TOKEN) > config file (--config, else ~/.ossutilconfig; \
--profile NAME or OSS_PROFILE picks its [profile NAME] or [NAME] section).\n\
Degraded mode (DESIGN §7): --cache-dir, --replica-endpoint/--replica-bucket, --spool-dir \
[env: OSSGUARD_CACHE_DIR, OSSGUARD_REPLICA_ENDPOINT, OSSGUARD_REPLICA_BUCKET, OSSGUARD_SPOOL_DIR; \
config file: cachedir, replicaendpoint, replicabucket, spooldir]; see 'ossguard cache' and 'ossguard spool'.\n\
Exit codes: 0 ok, 1 usage, 2 OSS error, 3 network/local/credentials, 4 partial failure, 5 interrupted, \
6 spooled (accepted locally, NOT stored: run 'ossguard spool replay' once OSS is back)."
)]
struct Cli {
    #[command(flatten)]
    global: config::GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a local OSS-compatible server (disk-backed, verifies signatures).
    Serve(serve::ServeArgs),
    /// Run a TCP fault proxy with toxiproxy's HTTP API (latency, bandwidth, resets, ...).
    Chaos(chaos::ChaosArgs),
    /// Run the same workload through fault scenarios once per client configuration (naive, the
    /// seed document's recipe, ossguard) and show what survives: table, JSON, HTML report.
    Drill(drill::DrillArgs),
    #[command(flatten)]
    Client(commands::Command),
}

/// The commands that are not OSS clients: the global client flags (endpoint, credentials,
/// transfer, cache and spool flags) do nothing there and are left out of their help.
const NOT_CLIENTS: [&str; 3] = ["serve", "chaos", "drill"];

/// The command line, with the global client flags hidden from the help of [`NOT_CLIENTS`].
/// They are still accepted there (as before), and before or after any client command.
fn command() -> clap::Command {
    let mut cmd = Cli::command();
    // Building copies the global flags into every subcommand (except where a subcommand has
    // its own flag of the same id: serve's --access-key-id, drill's --endpoint, ...), so that
    // they can be hidden there.
    cmd.build();
    for name in NOT_CLIENTS {
        cmd = cmd.mut_subcommand(name, |sc| {
            sc.mut_args(|a| if a.is_global_set() { a.hide(true) } else { a })
        });
    }
    cmd
}

/// Parses the command line like `Cli::try_parse`, with [`command`]'s help.
fn parse() -> Result<Cli, clap::Error> {
    let mut cmd = command();
    let mut matches = cmd.try_get_matches_from_mut(std::env::args_os())?;
    Cli::from_arg_matches_mut(&mut matches).map_err(|e| e.format(&mut cmd))
}

fn main() -> ExitCode {
    let cli = match parse() {
        Ok(c) => c,
        Err(e) => {
            // --help / --version go to stdout with 0; real usage errors exit 1.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    // Library spans and events (`ossguard.op`, `ossguard.attempt`) on stderr, filtered by
    // RUST_LOG (e.g. RUST_LOG=ossguard=debug); nothing is printed without it.
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .init();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::CLIENT);
        }
    };
    let code = match cli.command {
        Command::Serve(args) => match runtime.block_on(serve::run(args)) {
            Ok(()) => exit::OK,
            Err(e) => {
                eprintln!("error: {e}");
                exit::CLIENT
            }
        },
        Command::Chaos(args) => match runtime.block_on(chaos::run(args)) {
            Ok(()) => exit::OK,
            Err(e) => {
                eprintln!("error: {e}");
                exit::CLIENT
            }
        },
        Command::Drill(args) => runtime.block_on(drill::run(args)),
        Command::Client(cmd) => {
            let resumable = cmd.resumable(&cli.global);
            let ctx = commands::Ctx::new(cli.global);
            let result = runtime.block_on(async {
                let r = tokio::select! {
                    r = cmd.run(&ctx) => r,
                    // Dropping the command cancels it: a resumable transfer keeps its checkpoint
                    // (and multipart upload); a non-resumable one spawns its clean-up; a last
                    // step under way finishes (see `finish_dropped_transfers`).
                    _ = tokio::signal::ctrl_c() => Err(CliError::Interrupted { resumable }),
                };
                if matches!(r, Err(CliError::Interrupted { .. })) {
                    finish_dropped_transfers().await;
                }
                r
            });
            match result {
                Ok(code) => code,
                Err(e) => {
                    if ctx.out.json {
                        ctx.out.json(&serde_json::json!({
                            "error": e.to_string(),
                            "code": e.code(),
                            "exit_code": e.exit_code(),
                        }));
                    }
                    eprintln!("error: {e}");
                    e.exit_code()
                }
            }
        }
    };
    // Do not wait for abandoned transfer tasks after Ctrl-C (beyond their finishing work).
    runtime.shutdown_timeout(Duration::from_secs(2));
    config::flush_audit();
    ExitCode::from(code)
}

/// After Ctrl-C: lets what the dropped transfers left running end before the runtime does —
/// downloads being renamed into place (whose checkpoints go after), copies being completed and
/// checked, the aborts of non-resumable uploads. Bounded, and a second Ctrl-C stops waiting.
async fn finish_dropped_transfers() {
    // The spawned work starts on the next poll; give it that before counting.
    tokio::task::yield_now().await;
    let pending = ossguard::transfer::finishing::in_flight();
    if pending == 0 {
        return;
    }
    eprintln!("finishing {pending} transfer step(s) already sent (Ctrl-C again to stop now)");
    tokio::select! {
        _ = ossguard::transfer::finishing::settled(Duration::from_secs(30)) => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
