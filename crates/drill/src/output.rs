//! The terminal table, the JSON document and the report directory.

use std::io::Write;
use std::path::Path;

use crate::run::DrillReport;

/// The versioned JSON document (`--json`, `summary.json`).
pub fn to_json(r: &DrillReport) -> String {
    serde_json::to_string_pretty(r).expect("the report serialises")
}

fn ms(x: f64) -> String {
    if x >= 10_000.0 {
        format!("{:.1}s", x / 1000.0)
    } else if x >= 100.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

/// A table per scenario, one row per arm, then the thresholds with ✓ / ✗.
pub fn table(r: &DrillReport) -> String {
    let mut out = String::new();
    for s in &r.scenarios {
        out += &format!(
            "\n{}  {}  (steady {} ms, fault {} ms, recovery {} ms)\n",
            s.id, s.title, s.steady_ms, s.fault_ms, s.recovery_ms
        );
        out += &format!(
            "  {:<9} {:>6} {:>8} {:>7} {:>7} {:>6} {:>7} {:>7} {:>7} {:>7} {:>7} {:>9}\n",
            "arm",
            "ops",
            "success",
            "corrupt",
            "att/op",
            "hedge",
            "p50 ms",
            "p99",
            "p99.9",
            "max",
            "detect",
            "recover"
        );
        for a in &s.arms {
            out += &format!(
                "  {:<9} {:>6} {:>7.2}% {:>7} {:>7.3} {:>5.1}% {:>7} {:>7} {:>7} {:>7} {:>7} {:>9}\n",
                a.arm,
                a.ops,
                100.0 * a.success_rate,
                a.silent_corruptions,
                a.attempts_per_op,
                100.0 * a.hedge_rate,
                ms(a.p50_ms),
                ms(a.p99_ms),
                ms(a.p999_ms),
                ms(a.max_ms),
                a.detect_ms.map_or("-".into(), ms),
                a.recover_ms.map_or("-".into(), ms),
            );
        }
        for a in &s.arms {
            if let Some(f) = &a.fallback {
                out += &format!("  {} fallback: {f}\n", a.arm);
            }
        }
        for a in &s.arms {
            for t in &a.thresholds {
                out += &format!(
                    "  {} {}: {} ({})\n",
                    if t.ok { "✓" } else { "✗" },
                    a.arm,
                    t.name,
                    t.measured
                );
            }
        }
    }
    let failed: Vec<String> = r
        .scenarios
        .iter()
        .flat_map(|s| {
            s.arms.iter().flat_map(move |a| {
                a.thresholds
                    .iter()
                    .filter(|t| !t.ok)
                    .map(move |t| format!("{} {}", s.id, t.name))
            })
        })
        .collect();
    out += &format!(
        "\n{} scenarios in {:.1} s{}: {}\n",
        r.scenarios.len(),
        r.duration_s,
        if r.partial {
            " (PARTIAL: stopped early)"
        } else {
            ""
        },
        if failed.is_empty() {
            "every threshold holds ✓".to_string()
        } else {
            format!(
                "{} threshold(s) failed ✗: {}",
                failed.len(),
                failed.join("; ")
            )
        }
    );
    out
}

/// Writes `index.html`, `summary.json` and `requests.jsonl` into `dir` (created if missing).
pub fn write_report(r: &DrillReport, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("summary.json"), to_json(r))?;
    let mut f = std::io::BufWriter::new(std::fs::File::create(dir.join("requests.jsonl"))?);
    for s in &r.scenarios {
        for a in &s.arms {
            for rec in &a.records {
                serde_json::to_writer(&mut f, rec)?;
                f.write_all(b"\n")?;
            }
        }
    }
    f.flush()?;
    std::fs::write(dir.join("index.html"), crate::html::page(r))?;
    Ok(())
}
