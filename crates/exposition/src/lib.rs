//! Prometheus exposition shared by `ossguard serve`, `ossguard chaos` and `ossguard drill`.
//!
//! `prometheus-client` writes OpenMetrics text. Prometheus reads it when it asks for it, but the
//! classic 0.0.4 text format is what every other scraper, `curl` and `promtool check metrics`
//! read: there a counter's `# HELP`/`# TYPE` name carries the `_total` suffix of its samples,
//! and there is no `# UNIT` or `# EOF`. [`encode`] picks the format from the `Accept` header,
//! as the Go client does.
#![forbid(unsafe_code)]

use prometheus_client::registry::Registry;

pub use prometheus_client;

/// Content type of OpenMetrics text.
pub const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// Content type of the classic Prometheus text format.
pub const CLASSIC: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The registry's metrics as `(content type, body)`: OpenMetrics when `accept` names it,
/// the classic text format otherwise.
pub fn encode(registry: &Registry, accept: Option<&str>) -> (&'static str, String) {
    let mut text = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut text, registry);
    if accept.is_some_and(|a| a.contains("application/openmetrics-text")) {
        (OPENMETRICS, text)
    } else {
        (CLASSIC, openmetrics_to_classic(&text))
    }
}

/// Rewrites OpenMetrics text (as `prometheus-client` writes it) into the classic format.
pub fn openmetrics_to_classic(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // HELP comes before TYPE; hold it until we know whether the family is a counter.
    let mut help: Option<(&str, &str)> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            flush_help(&mut out, help.take(), false);
            let (name, doc) = rest.split_once(' ').unwrap_or((rest, ""));
            help = Some((name, doc));
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "untyped"));
            let counter = kind == "counter" && !name.ends_with("_total");
            match help.take() {
                Some((h, doc)) if h == name => flush_help(&mut out, Some((h, doc)), counter),
                other => flush_help(&mut out, other, false),
            }
            let suffix = if counter { "_total" } else { "" };
            out.push_str(&format!("# TYPE {name}{suffix} {kind}\n"));
        } else if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        } else {
            flush_help(&mut out, help.take(), false);
            out.push_str(line);
            out.push('\n');
        }
    }
    flush_help(&mut out, help, false);
    out
}

/// Runs `promtool check metrics` (Debian's `prometheus` package) on `text`: `Err` with its
/// complaints, or with how to install it when it is missing. The endpoints' tests use it.
pub fn promtool_check_metrics(text: &str) -> Result<(), String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            format!("promtool not found ({e}): install Debian's prometheus package (peers/install does)")
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(text.as_bytes())
            .map_err(|e| e.to_string())?;
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "promtool check metrics failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn flush_help(out: &mut String, help: Option<(&str, &str)>, counter: bool) {
    if let Some((name, doc)) = help {
        let suffix = if counter { "_total" } else { "" };
        out.push_str(&format!("# HELP {name}{suffix} {doc}\n"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::gauge::Gauge;

    #[test]
    fn counters_take_their_suffix_and_eof_goes() {
        let mut r = Registry::default();
        let c: Counter = Counter::default();
        c.inc_by(3);
        r.register("ossguard_things", "Things done", c);
        let g: Gauge = Gauge::default();
        r.register("ossguard_in_flight", "Now running", g);
        let (ct, body) = encode(&r, Some("*/*"));
        assert_eq!(ct, CLASSIC);
        assert_eq!(
            body,
            "# HELP ossguard_things_total Things done.\n# TYPE ossguard_things_total counter\n\
             ossguard_things_total 3\n# HELP ossguard_in_flight Now running.\n\
             # TYPE ossguard_in_flight gauge\nossguard_in_flight 0\n"
        );
        let (ct, body) = encode(&r, Some("application/openmetrics-text; version=1.0.0"));
        assert_eq!(ct, OPENMETRICS);
        assert!(body.ends_with("# EOF\n"), "{body}");
        assert!(body.contains("# TYPE ossguard_things counter"), "{body}");
    }
}
