//! `ossguard sync`: bring a destination tree in line with a source tree (the engine is the
//! `ossguard-sync` crate; this is its shell: arguments, progress, summary, exit code).

use std::sync::Arc;
use std::time::Instant;

use clap::Args;
use ossguard_sync::{Action, Event, EventFn, Filter, SyncError, SyncOptions};
use serde_json::json;

use super::Ctx;
use crate::error::{exit, oss_exit_code, CliError};
use crate::output::{self, Output};
use crate::transfer;
use crate::url::Location;

#[derive(Args, Debug)]
pub struct SyncArgs {
    /// Source: a local directory or oss://bucket/prefix.
    pub src: String,
    /// Destination: a local directory or oss://bucket/prefix (local → OSS, OSS → local, or
    /// OSS → OSS server-side).
    pub dst: String,
    /// Delete destination files the source does not have — only after every copy succeeded.
    #[arg(long)]
    pub delete: bool,
    /// Compare same-size files by CRC-64 instead of modification time (reads local files and
    /// HEADs objects).
    #[arg(long)]
    pub checksum: bool,
    /// Print what would be copied and deleted; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Only paths matching this glob take part (repeatable; `*.jpg`, `photos/**`, `cache/`).
    #[arg(long, value_name = "PATTERN")]
    pub include: Vec<String>,
    /// Leave out paths matching this glob, on both sides: excluded files are never deleted
    /// (repeatable).
    #[arg(long, value_name = "PATTERN")]
    pub exclude: Vec<String>,
    /// Files transferred at once.
    #[arg(short, long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
}

fn location(s: &str) -> Result<ossguard_sync::Location, CliError> {
    Ok(match Location::parse(s)? {
        Location::Local(p) => ossguard_sync::Location::Local(p),
        Location::Oss(u) => ossguard_sync::Location::oss(u.bucket, u.key),
    })
}

fn cli_error(e: SyncError) -> CliError {
    match e {
        SyncError::Usage(m) => CliError::usage(m),
        SyncError::Io { context, source } => CliError::local(context, source),
        SyncError::List { ref source, .. } => {
            CliError::failed(oss_exit_code(source), e.to_string())
        }
        SyncError::Plan(_) => CliError::failed(exit::CLIENT, e.to_string()),
    }
}

/// Prints what the engine reports: the plan in a dry run, failures always, progress on a bar.
fn events(out: Output, dry_run: bool, bar: Option<indicatif::ProgressBar>) -> EventFn {
    let say = move |bar: &Option<indicatif::ProgressBar>, f: &dyn Fn()| match bar {
        Some(b) => b.suspend(f),
        None => f(),
    };
    Arc::new(move |e: &Event<'_>| match e {
        Event::Planned(a) => match a {
            Action::Copy { src, reason } if dry_run => {
                if out.json {
                    out.json(&json!({"action": "copy", "path": src.rel, "reason": reason.as_str(), "bytes": src.size}));
                } else {
                    out.info(format_args!(
                        "would copy: {} ({})",
                        src.rel,
                        reason.as_str()
                    ));
                }
            }
            Action::Delete(d) if dry_run => {
                if out.json {
                    out.json(&json!({"action": "delete", "path": d.rel}));
                } else {
                    out.info(format_args!("would delete: {}", d.rel));
                }
            }
            Action::Copy { src, .. } => {
                if let Some(b) = &bar {
                    b.inc_length(src.size);
                }
            }
            _ => {}
        },
        Event::Done { .. } => {
            if let Some(b) = &bar {
                b.set_message(String::new());
            }
        }
        Event::Progress(n) => {
            if let Some(b) = &bar {
                b.inc(*n);
            }
        }
        Event::Failed { op, rel, error } => say(&bar, &|| {
            out.warn(format_args!("{} {rel}: {error}", op.as_str()))
        }),
        Event::Ignored { rel, why } => say(&bar, &|| {
            out.warn(format_args!("skipping destination entry {rel}: {why}"))
        }),
        Event::DeletesWithheld { deletes, failed } => say(&bar, &|| {
            out.warn(format_args!(
                "{deletes} deletions were not run because {failed} items failed; fix those and rerun"
            ))
        }),
    })
}

pub async fn run(a: SyncArgs, ctx: &Ctx) -> Result<u8, CliError> {
    let src = location(&a.src)?;
    let dst = location(&a.dst)?;
    let filter = Filter::new(&a.include, &a.exclude).map_err(CliError::usage)?;
    let client = ctx.client()?;
    let out = ctx.out;
    let bar = match a.dry_run {
        true => None,
        false => out.bar(0, "sync"),
    };
    let opts = SyncOptions {
        delete: a.delete,
        checksum: a.checksum,
        dry_run: a.dry_run,
        jobs: a.jobs.into(),
        filter,
        transfer: transfer::for_jobs(transfer::options(&ctx.global), a.jobs.into()),
        events: Some(events(out, a.dry_run, bar.clone())),
    };
    let started = Instant::now();
    let r = ossguard_sync::sync(client, &src, &dst, &opts).await;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let s = r.map_err(cli_error)?;
    let secs = started.elapsed().as_secs_f64();
    if out.json {
        let failures: Vec<_> = s
            .failures
            .iter()
            .map(|f| json!({"op": f.op.as_str(), "path": f.rel, "error": f.error}))
            .collect();
        out.json(&json!({
            "operation": "sync",
            "source": a.src,
            "destination": a.dst,
            "dry_run": a.dry_run,
            "copied": s.copied,
            "skipped": s.skipped,
            "deleted": s.deleted,
            "failed": s.failed,
            "bytes": s.bytes,
            "checked": s.checked,
            "deletes_withheld": s.deletes_withheld,
            "seconds": (secs * 1000.0).round() / 1000.0,
            "failures": failures,
        }));
    } else {
        out.info(format_args!(
            "{}{} copied ({}), {} skipped, {} deleted, {} failed in {secs:.1} s",
            if a.dry_run {
                "dry run, nothing changed: would be "
            } else {
                ""
            },
            s.copied,
            output::human_bytes(s.bytes),
            s.skipped,
            s.deleted,
            s.failed,
        ));
    }
    if s.failed > 0 {
        return Err(CliError::Partial {
            failed: s.failed as usize,
            total: (s.copied + s.skipped + s.deleted + s.failed) as usize,
        });
    }
    Ok(exit::OK)
}
