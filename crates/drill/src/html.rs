//! The self-contained `index.html`: inline CSS and SVG, no scripts, no network fetches.

use std::fmt::Write;

use crate::charts;
use crate::run::DrillReport;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn pct(ok: u64, n: u64) -> String {
    if n == 0 {
        "–".into()
    } else {
        format!("{:.2} %", 100.0 * ok as f64 / n as f64)
    }
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:.5em 0 1em;font-size:85%}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}.ok{color:#17803d}.bad{color:#c62828;font-weight:bold}
.charts{display:flex;flex-wrap:wrap;gap:8px}.chart{border:1px solid #eee}section{margin-bottom:2.5em}
.events{font-family:monospace;font-size:90%}.scroll{overflow-x:auto}td{white-space:nowrap}td.wrap{white-space:normal;text-align:left}.partial{background:#fff3cd;padding:.5em;border:1px solid #e0c060}";

/// The whole page.
pub fn page(r: &DrillReport) -> String {
    let mut h = String::new();
    let failed = r
        .scenarios
        .iter()
        .flat_map(|s| s.arms.iter().flat_map(|a| &a.thresholds))
        .filter(|t| !t.ok)
        .count();
    let _ = write!(
        h,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>ossguard drill report</title><style>{STYLE}</style></head><body>\
<h1>ossguard drill</h1><p>Started {} · {} scenario(s) in {:.1} s · {} arrivals/s per arm (open loop, latency from the intended start) · concurrency cap {} · seed {}{}</p>",
        esc(&r.started_at),
        r.scenarios.len(),
        r.duration_s,
        r.rate_per_arm,
        r.concurrency,
        r.seed,
        if r.quick { " · quick run" } else { "" }
    );
    if r.partial {
        h += "<p class=\"partial\">PARTIAL: the run was stopped early; only the scenarios below ran.</p>";
    }
    let _ = write!(
        h,
        "<p class=\"{}\">Verdict: {}</p><h2>Arms</h2><table><tr><th>arm</th><th>configuration</th></tr>",
        if failed == 0 { "ok" } else { "bad" },
        if failed == 0 {
            "every threshold of the ossguard arm holds ✓".to_string()
        } else {
            format!("{failed} threshold(s) failed ✗")
        }
    );
    for a in &r.arms {
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"wrap\">{}</td></tr>",
            a.arm,
            esc(a.config)
        );
    }
    h += "</table>";
    // Overview: one row per scenario, success per arm side by side.
    h += "<h2>Overview</h2><div class=\"scroll\"><table><tr><th>scenario</th>";
    for a in &r.arms {
        let _ = write!(h, "<th>{} success</th><th>{} p99.9 ms</th>", a.arm, a.arm);
    }
    h += "<th>thresholds</th></tr>";
    for s in &r.scenarios {
        let _ = write!(
            h,
            "<tr><td><a href=\"#{id}\">{id}</a></td>",
            id = esc(&s.id)
        );
        for a in &s.arms {
            let _ = write!(
                h,
                "<td>{}</td><td>{:.1}</td>",
                pct(a.succeeded, a.ops),
                a.p999_ms
            );
        }
        let th: Vec<_> = s.arms.iter().flat_map(|a| &a.thresholds).collect();
        let bad = th.iter().filter(|t| !t.ok).count();
        let _ = write!(
            h,
            "<td class=\"{}\">{}</td></tr>",
            if bad == 0 { "ok" } else { "bad" },
            if bad == 0 {
                format!("{} ✓", th.len())
            } else {
                format!("{bad} of {} ✗", th.len())
            }
        );
    }
    h += "</table></div>";
    for s in &r.scenarios {
        let _ = write!(
            h,
            "<section id=\"{id}\"><h2>{id}: {}</h2><p>steady {} ms → fault {} ms → recovery {} ms</p>\
<div class=\"scroll\"><table><tr><th>arm</th><th>ops</th><th>success</th><th>steady</th><th>fault</th><th>recovery</th><th>silent corruptions</th><th>CRC errors</th>\
<th>attempts</th><th>server count</th><th>att/op</th><th>hedges</th><th>bytes/op</th><th>p50 ms</th><th>p99 ms</th><th>p99.9 ms</th><th>max ms</th>\
<th>detect ms</th><th>recover ms</th><th>load in window</th></tr>",
            esc(&s.title),
            s.steady_ms,
            s.fault_ms,
            s.recovery_ms,
            id = esc(&s.id)
        );
        for a in &s.arms {
            let p = &a.phases;
            let opt = |x: Option<f64>| x.map_or("–".into(), |v| format!("{v:.0}"));
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.3}</td><td>{:.1} %</td><td>{:.0}</td>\
<td>{:.1}</td><td>{:.1}</td><td>{:.1}</td><td>{:.1}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                a.arm,
                a.ops,
                pct(a.succeeded, a.ops),
                pct(p.steady.succeeded, p.steady.ops),
                pct(p.fault.succeeded, p.fault.ops),
                pct(p.recovery.succeeded, p.recovery.ops),
                a.silent_corruptions,
                a.integrity_errors,
                a.attempts,
                a.server_requests.map_or("–".into(), |n| n.to_string()),
                a.attempts_per_op,
                100.0 * a.hedge_rate,
                a.bytes_per_op,
                a.p50_ms,
                a.p99_ms,
                a.p999_ms,
                a.max_ms,
                opt(a.detect_ms),
                opt(a.recover_ms),
                a.load_in_fault_window.map_or("–".into(), |l| format!("{l:.3}×"))
            );
        }
        h += "</table></div><ul>";
        for a in &s.arms {
            if let Some(f) = &a.fallback {
                let _ = write!(
                    h,
                    "<li class=\"fallback\">{} fallback chain: {f}</li>",
                    a.arm
                );
            }
        }
        for a in &s.arms {
            for t in &a.thresholds {
                let _ = write!(
                    h,
                    "<li class=\"{}\">{} {}: {} — measured {}</li>",
                    if t.ok { "ok" } else { "bad" },
                    if t.ok { "✓" } else { "✗" },
                    a.arm,
                    esc(&t.name),
                    esc(&t.measured)
                );
            }
        }
        h += "</ul><div class=\"charts\">";
        for svg in [
            charts::success_over_time(s),
            charts::percentiles(s),
            charts::latency_scatter(s),
            charts::breaker_timeline(s),
        ] {
            let _ = write!(h, "<div class=\"chart\">{svg}</div>");
        }
        h += "</div><details><summary>event log</summary><div class=\"events\">";
        for e in &s.events {
            let _ = write!(h, "<div>+{:>8.0} ms  {}</div>", e.at_ms, esc(&e.what));
        }
        h += "</div></details></section>";
    }
    h += "<p>Data: <a href=\"summary.json\">summary.json</a> (versioned), <a href=\"requests.jsonl\">requests.jsonl</a> (one line per logical operation).</p></body></html>\n";
    h
}
