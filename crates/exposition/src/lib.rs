//! Prometheus exposition shared by `ossguard serve`, `ossguard chaos` and `ossguard drill`.
//!
//! `prometheus-client` writes OpenMetrics text. Prometheus reads it when it asks for it, but the
//! classic 0.0.4 text format is what every other scraper, `curl` and `promtool check metrics`
//! read: there a counter's `# HELP`/`# TYPE` name carries the `_total` suffix of its samples,
//! and there is no `# UNIT` or `# EOF`. [`encode`] picks the format from the `Accept` header,
//! as the Go client does.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::sync::Arc;

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
    let text = merge_families(&text);
    if accept.is_some_and(|a| a.contains("application/openmetrics-text")) {
        (OPENMETRICS, text)
    } else {
        (CLASSIC, openmetrics_to_classic(&text))
    }
}

/// Puts every family's samples under one `# HELP`/`# TYPE` block. `prometheus-client` writes a
/// sub-registry's families apart (a drill's arms: one block per `arm`), which both formats
/// forbid ("second HELP line for metric name"); merged, the samples of a family are
/// contiguous as the formats require. Order: families as first seen, samples as written.
pub fn merge_families(text: &str) -> String {
    let mut order: Vec<&str> = Vec::new();
    let mut families: std::collections::HashMap<&str, (Vec<&str>, Vec<&str>)> =
        std::collections::HashMap::new();
    let mut current: Option<&str> = None;
    let mut eof = false;
    for line in text.lines() {
        if line == "# EOF" {
            eof = true;
            continue;
        }
        let meta = ["# HELP ", "# TYPE ", "# UNIT "]
            .iter()
            .find_map(|p| line.strip_prefix(p));
        if let Some(rest) = meta {
            let name = rest.split(' ').next().unwrap_or(rest);
            let fam = families.entry(name).or_insert_with(|| {
                order.push(name);
                (Vec::new(), Vec::new())
            });
            let seen = fam.0.iter().any(|l| l.get(..7) == line.get(..7));
            if !seen {
                fam.0.push(line);
            }
            current = Some(name);
        } else if let Some(fam) = current.and_then(|c| families.get_mut(c)) {
            fam.1.push(line);
        } else {
            // Samples before any header (not written by prometheus-client): keep as they are.
            let fam = families.entry("").or_insert_with(|| {
                order.push("");
                (Vec::new(), Vec::new())
            });
            fam.1.push(line);
        }
    }
    let mut out = String::with_capacity(text.len());
    for name in order {
        let (meta, samples) = &families[name];
        for l in meta.iter().chain(samples) {
            out.push_str(l);
            out.push('\n');
        }
    }
    if eof {
        out.push_str("# EOF\n");
    }
    out
}

/// A running `GET /metrics` endpoint (see [`serve`]); stops when dropped.
pub struct MetricsServer {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl MetricsServer {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `registry` on `GET /metrics` at `addr` (format by `Accept`, as [`encode`]). For
/// processes whose only HTTP is their metrics, such as `ossguard drill --metrics-addr`.
pub async fn serve(addr: SocketAddr, registry: Arc<Registry>) -> std::io::Result<MetricsServer> {
    use axum::http::{header, HeaderMap};
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move |headers: HeaderMap| {
            let registry = registry.clone();
            async move {
                let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
                let (ctype, body) = encode(&registry, accept);
                ([(header::CONTENT_TYPE, ctype)], body)
            }
        }),
    );
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(MetricsServer { addr, task })
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
    fn sub_registries_share_one_block_per_family() {
        use prometheus_client::metrics::counter::Counter;
        let mut r = Registry::default();
        for arm in ["a", "b"] {
            let c = Counter::<u64>::default();
            c.inc();
            r.sub_registry_with_label(("arm".into(), arm.into()))
                .register("x", "help", c);
        }
        let (_, om) = encode(&r, Some("application/openmetrics-text"));
        assert_eq!(om.matches("# HELP x ").count(), 1, "{om}");
        assert_eq!(om.matches("# TYPE x ").count(), 1, "{om}");
        assert!(
            om.contains("x_total{arm=\"a\"} 1\nx_total{arm=\"b\"} 1\n"),
            "{om}"
        );
        assert!(om.ends_with("# EOF\n"));
        let (_, classic) = encode(&r, None);
        assert_eq!(
            classic.matches("# TYPE x_total counter").count(),
            1,
            "{classic}"
        );
        promtool_check_metrics(&classic).unwrap();
    }

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
