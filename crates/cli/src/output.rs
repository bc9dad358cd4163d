//! Human or JSON output on stdout, status and progress on stderr.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

use crate::transfer::{Progress, ProgressFn};

#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub json: bool,
    pub quiet: bool,
    progress: bool,
}

impl Output {
    pub fn new(json: bool, quiet: bool) -> Self {
        Self {
            json,
            quiet,
            progress: !quiet && std::io::stderr().is_terminal(),
        }
    }

    /// A JSON document (or one JSON line of a listing) on stdout.
    pub fn json(&self, v: &Value) {
        let mut out = std::io::stdout().lock();
        // A closed pipe (`| head`) is not an error worth reporting.
        let _ = writeln!(out, "{v}");
        let _ = out.flush();
    }

    /// The primary human-readable result on stdout.
    pub fn line(&self, s: impl std::fmt::Display) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{s}");
    }

    /// A human status message (not in `--json` or `--quiet` mode) on stdout.
    pub fn info(&self, s: impl std::fmt::Display) {
        if !self.json && !self.quiet {
            self.line(s);
        }
    }

    /// A problem that does not stop the command, on stderr (always shown).
    pub fn warn(&self, s: impl std::fmt::Display) {
        eprintln!("error: {s}");
    }

    /// A progress bar on stderr, when it is a terminal and not `--quiet`.
    pub fn bar(&self, total: u64, label: &str) -> Option<ProgressBar> {
        if !self.progress {
            return None;
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_prefix(label.to_owned());
        bar.enable_steady_tick(Duration::from_millis(200));
        Some(bar)
    }
}

/// A transfer progress callback that drives `bar` (bytes, and parts for multipart).
pub fn progress_fn(bar: &ProgressBar) -> ProgressFn {
    let bar = bar.clone();
    Arc::new(move |p: Progress| {
        bar.set_length(p.bytes_total);
        bar.set_position(p.bytes_done);
        if p.parts_total > 1 {
            bar.set_message(format!("parts {}/{}", p.parts_done, p.parts_total));
        }
    })
}

/// ISO 8601 UTC with milliseconds, or `-`.
pub fn time(t: Option<SystemTime>) -> String {
    t.map(ossguard_proto::time::iso8601_millis)
        .unwrap_or_else(|| "-".into())
}

/// `1.5 MiB`.
pub fn human_bytes(n: u64) -> String {
    indicatif::BinaryBytes(n).to_string()
}
