//! DESIGN §4's targets, checked on the `ossguard` arm (some against `naive`'s figures).

use crate::figures::{ArmResult, Threshold};

fn t(name: impl Into<String>, ok: bool, measured: String) -> Threshold {
    Threshold {
        name: name.into(),
        ok,
        measured,
    }
}

/// Thresholds for the `ossguard` arm of scenario `id`; `naive` is that scenario's naive arm.
pub fn check(id: &str, arm: &ArmResult, naive: Option<&ArmResult>) -> Vec<Threshold> {
    // Reads OSS gives a checksum for must never hand back wrong bytes. A range has none (the
    // CRC-64 header covers the whole object): those are counted and shown, not judged.
    let checked = arm.silent_corruptions - arm.silent_corruptions_ranged;
    let mut v = vec![t(
        "0 silent corruptions on checksummed reads",
        checked == 0,
        format!(
            "{checked}; ranged reads (no checksum in OSS's protocol): {} (naive: {} / {})",
            arm.silent_corruptions_ranged,
            naive.map_or(0, |n| n.silent_corruptions - n.silent_corruptions_ranged),
            naive.map_or(0, |n| n.silent_corruptions_ranged)
        ),
    )];
    match id {
        "F1-10" => {
            v.push(t(
                "success ≥ 99.9 %",
                arm.success_rate >= 0.999,
                format!("{:.2} %", 100.0 * arm.success_rate),
            ));
            v.push(t(
                "attempts/op ≤ 1.12",
                arm.attempts_per_op <= 1.12,
                format!("{:.3}", arm.attempts_per_op),
            ));
        }
        "F2" => {
            let d = arm.detect_ms;
            v.push(t(
                "outage detected ≤ 2 s",
                d.is_some_and(|d| d <= 2000.0),
                d.map_or("breaker never opened".into(), |d| format!("{d:.0} ms")),
            ));
            let r = arm.recover_ms.unwrap_or(f64::INFINITY);
            v.push(t(
                "recovered ≤ 2 s after the outage",
                r <= 2000.0,
                format!("{r:.0} ms"),
            ));
            let load = arm.load_in_fault_window.unwrap_or(f64::INFINITY);
            v.push(t(
                "load on the dead endpoint ≤ 1.01×",
                load <= 1.01,
                format!("{load:.3}× offered"),
            ));
            if arm.fallback.is_some() {
                let reads: Vec<_> = arm
                    .records
                    .iter()
                    .filter(|r| r.op == "get" && r.phase == "fault")
                    .collect();
                let ok = reads.iter().filter(|r| r.outcome == "ok").count();
                let ratio = ok as f64 / reads.len().max(1) as f64;
                v.push(t(
                    "≥ 99 % of reads served during the outage (cache, flagged stale)",
                    !reads.is_empty() && ratio >= 0.99,
                    format!("{ok}/{} ({:.1} %)", reads.len(), 100.0 * ratio),
                ));
            }
        }
        "F4" => {
            let n = naive.map_or(0.0, |n| n.p999_ms);
            let ratio = n / arm.p999_ms.max(0.001);
            v.push(t(
                "p99.9 ≥ 10× better than naive",
                ratio >= 10.0,
                format!("{:.0} ms vs naive {n:.0} ms ({ratio:.1}×)", arm.p999_ms),
            ));
            let extra = arm.attempts_per_op - 1.0;
            v.push(t(
                "≤ 5 % extra requests",
                extra <= 0.05,
                format!("{:.2} %", 100.0 * extra),
            ));
        }
        "F6" => {
            let large: Vec<_> = arm.records.iter().filter(|r| r.op == "range_get").collect();
            let done = large.iter().filter(|r| r.outcome == "ok").count();
            v.push(t(
                "every large GET completes",
                done == large.len(),
                format!("{done}/{}", large.len()),
            ));
        }
        "F8" => {
            v.push(t(
                "100 % success after one correction",
                arm.succeeded == arm.ops && arm.skew_corrections >= 1,
                format!(
                    "{}/{} ok, {} skew corrections",
                    arm.succeeded, arm.ops, arm.skew_corrections
                ),
            ));
        }
        _ => {}
    }
    if let Some(f) = arm.fallback.filter(|f| f.spooled > 0) {
        v.push(t(
            "every spooled write stored by the replay",
            f.replayed == f.spooled && f.conflicts == 0 && f.pending == 0,
            format!(
                "{} spooled, {} replayed, {} conflicts, {} pending",
                f.spooled, f.replayed, f.conflicts, f.pending
            ),
        ));
    }
    v
}
