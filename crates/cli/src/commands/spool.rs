//! `ossguard spool list|replay|drop`: the degraded-mode write spool (`--spool-dir`).

use clap::{Args, Subcommand};
use ossguard::spool::{EntryState, Expect, Spool, SpoolEntry, SpoolId};
use serde_json::{json, Value};

use super::Ctx;
use crate::degraded;
use crate::error::{exit, CliError};
use crate::output;

#[derive(Args, Debug)]
pub struct SpoolArgs {
    #[command(subcommand)]
    pub action: SpoolAction,
}

#[derive(Subcommand, Debug)]
pub enum SpoolAction {
    /// The spooled uploads, in replay order (works while another process holds the spool;
    /// --json: one JSON line per entry).
    List,
    /// Send the spooled uploads to OSS in order. An object changed on OSS since it was spooled
    /// is a conflict: kept, never overwritten. Exit 4 with conflicts, 3 when OSS failed and the
    /// replay stopped (the rest stays pending).
    Replay,
    /// Remove an entry without sending it (e.g. a conflict you resolved by hand).
    Drop {
        /// The entry's id (`ossguard spool list`).
        id: SpoolId,
    },
}

pub async fn run(a: SpoolArgs, ctx: &Ctx) -> Result<u8, CliError> {
    let dir = ctx.settings()?.spool_or_usage("spool")?.to_owned();
    match a.action {
        SpoolAction::List => list(&dir, ctx),
        SpoolAction::Replay => replay(&dir, ctx).await,
        SpoolAction::Drop { id } => {
            let spool = degraded::open_spool(&dir).await?;
            let entry = tokio::task::spawn_blocking(move || spool.drop_entry(id))
                .await
                .map_err(|e| CliError::failed(exit::CLIENT, format!("the spool task failed: {e}")))?
                .map_err(degraded::spool_error)?;
            if ctx.out.json {
                ctx.out
                    .json(&json!({"operation": "spool drop", "entry": entry_json(&entry)}));
            } else {
                ctx.out.info(format_args!(
                    "dropped (id {}): oss://{}/{} ({}), never sent",
                    entry.id,
                    entry.bucket,
                    entry.key,
                    output::human_bytes(entry.size)
                ));
            }
            Ok(exit::OK)
        }
    }
}

fn expect_json(e: &Expect) -> Value {
    match e {
        Expect::Absent => json!("absent"),
        Expect::ETag(t) => json!({"etag": t}),
        Expect::Unknown => json!("unknown"),
    }
}

fn entry_json(e: &SpoolEntry) -> Value {
    let (state, reason) = match &e.state {
        EntryState::Pending => ("pending", None),
        EntryState::Conflict { reason } => ("conflict", Some(reason.to_string())),
    };
    json!({
        "id": e.id.0,
        "bucket": e.bucket,
        "key": e.key,
        "size": e.size,
        // A string: JSON numbers lose precision past 2^53.
        "crc64": e.crc64.to_string(),
        "content_type": e.content_type,
        "enqueued_at": output::time(Some(e.enqueued_at)),
        "expect": expect_json(&e.expect),
        "state": state,
        "reason": reason,
    })
}

fn list(dir: &std::path::Path, ctx: &Ctx) -> Result<u8, CliError> {
    if !dir.exists() {
        if !ctx.out.json && !ctx.out.quiet {
            eprintln!(
                "{} does not exist yet: nothing was ever spooled there",
                dir.display()
            );
        }
        return Ok(exit::OK);
    }
    let entries = Spool::inspect(dir).map_err(degraded::spool_error)?;
    for e in &entries {
        if ctx.out.json {
            ctx.out.json(&entry_json(e));
            continue;
        }
        let state = match &e.state {
            EntryState::Pending => "pending".to_owned(),
            EntryState::Conflict { reason } => format!("conflict: {reason}"),
        };
        ctx.out.line(format_args!(
            "{:>6}  {:>10}  {}  oss://{}/{}  {state}",
            e.id,
            output::human_bytes(e.size),
            output::time(Some(e.enqueued_at)),
            e.bucket,
            e.key
        ));
    }
    if !ctx.out.json && !ctx.out.quiet {
        eprintln!("{} entries in {}", entries.len(), dir.display());
    }
    Ok(exit::OK)
}

async fn replay(dir: &std::path::Path, ctx: &Ctx) -> Result<u8, CliError> {
    if ctx.settings()?.spool.is_none() {
        return Err(CliError::usage("spool replay needs --spool-dir"));
    }
    if !dir.exists() {
        ctx.out
            .info("nothing to replay: the spool directory does not exist");
        return Ok(exit::OK);
    }
    let fb = ctx
        .fallback(true)
        .await?
        .ok_or_else(|| CliError::usage("spool replay needs --spool-dir"))?;
    let spool = fb.spool().expect("built with the spool");
    for q in &spool.recovery().quarantined {
        ctx.out.warn(format_args!(
            "spool entry {} failed verification and was moved to quarantine/ (never sent): {}",
            q.id.map_or("?".into(), |i| i.to_string()),
            q.reason
        ));
    }
    let report = fb.replay().await.expect("built with the spool");
    let st = spool.stats();
    let (pending, conflicted) = (st.pending, st.conflicted);
    let out = &ctx.out;
    for r in &report.replayed {
        out.info(format_args!(
            "replayed (id {}): oss://{}/{} (ETag {}){}",
            r.id,
            r.bucket,
            r.key,
            r.etag,
            if r.already_present {
                ", already on OSS from an earlier replay"
            } else {
                ""
            }
        ));
    }
    for c in &report.conflicts {
        out.warn(format_args!(
            "conflict (id {}): oss://{}/{}: {}; kept, not sent — check the object, then \
             'ossguard spool drop {}'",
            c.id, c.bucket, c.key, c.reason, c.id
        ));
    }
    for q in &report.quarantined {
        out.warn(format_args!(
            "spool entry {} failed verification and was moved to quarantine/ (never sent): {}",
            q.id.map_or("?".into(), |i| i.to_string()),
            q.reason
        ));
    }
    let stopped = report.stopped.as_ref().map(|s| {
        let at = s.id.map_or("-".into(), |i| i.to_string());
        (at, s.error.to_string())
    });
    if out.json {
        out.json(&json!({
            "operation": "spool replay",
            "replayed": report.replayed.iter().map(|r| json!({
                "id": r.id.0, "bucket": r.bucket, "key": r.key, "etag": r.etag,
                "already_present": r.already_present,
            })).collect::<Vec<_>>(),
            "conflicts": report.conflicts.iter().map(|c| json!({
                "id": c.id.0, "bucket": c.bucket, "key": c.key, "reason": c.reason.to_string(),
            })).collect::<Vec<_>>(),
            "quarantined": report.quarantined.len(),
            "stopped": stopped.as_ref().map(|(at, e)| json!({"id": at, "error": e})),
            "pending": pending,
            "conflicted": conflicted,
        }));
    } else {
        out.info(format_args!(
            "spool replay: {} replayed, {} new conflicts, {} pending, {} in conflict",
            report.replayed.len(),
            report.conflicts.len(),
            pending,
            conflicted
        ));
    }
    if let Some((at, e)) = &stopped {
        eprintln!(
            "error: the replay stopped at entry {at}: {e}; {pending} entries are still pending: \
             run 'ossguard spool replay' again once OSS answers"
        );
        return Ok(exit::CLIENT);
    }
    if conflicted > 0 {
        eprintln!(
            "error: {conflicted} entries are in conflict and were not sent ('ossguard spool list' \
             shows why); drop each once resolved"
        );
        return Ok(exit::PARTIAL);
    }
    Ok(exit::OK)
}
