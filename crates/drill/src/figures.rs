//! What one arm did in one scenario: the per-op records and the figures computed from them.

use serde::Serialize;

use crate::scenario::{Phase, Timeline};
use crate::workload::Outcome;

/// One logical operation (a line of `requests.jsonl`).
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    pub arm: &'static str,
    pub scenario: String,
    pub op: &'static str,
    /// Intended start, ms from the run's start (open loop: latency counts queueing).
    pub intended_ms: f64,
    pub latency_ms: f64,
    pub outcome: &'static str,
    /// Attempts of this op alone; the client's public API reports attempts per client, not
    /// per op, so this is `null` and the per-arm total is in `summary.json`.
    pub attempts: Option<u64>,
    pub bytes: u64,
    /// Requests the op needs when nothing fails (1; a multipart upload of n parts: n + 2).
    pub requests_needed: u64,
    pub phase: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Who answered a read when it was not the primary (`cache_fresh`, `cache_stale`,
    /// `replica`, `default`), or `spooled` for a write journaled locally.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<&'static str>,
}

impl std::fmt::Display for FallbackFigures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} stale, {} cache, {} replica, {} default serves; {} writes spooled, {} replayed, {} conflicts",
            self.stale_serves,
            self.cache_serves,
            self.replica_serves,
            self.default_serves,
            self.spooled,
            self.replayed,
            self.conflicts
        )
    }
}

/// What the fallback chain did for an arm that has one (the `ossguard` arm).
#[derive(Debug, Clone, Copy, Serialize, Default, PartialEq, Eq)]
pub struct FallbackFigures {
    /// Reads served from the cache past `max_age` because OSS failed (flagged stale).
    pub stale_serves: u64,
    /// Reads served fresh from the cache without asking OSS.
    pub cache_serves: u64,
    pub replica_serves: u64,
    pub default_serves: u64,
    /// Writes journaled locally while OSS was unavailable (acknowledged as spooled, not
    /// stored).
    pub spooled: u64,
    /// Spooled writes stored on OSS by the replay after the scenario.
    pub replayed: u64,
    /// Spooled writes not stored because the object changed meanwhile (kept for a person).
    pub conflicts: u64,
    /// Spooled writes still pending after the replay (it stopped on an error).
    pub pending: u64,
}

#[derive(Debug, Clone, Copy, Serialize, Default)]
pub struct PhaseFigures {
    pub ops: u64,
    pub succeeded: u64,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Phases {
    pub steady: PhaseFigures,
    pub fault: PhaseFigures,
    pub recovery: PhaseFigures,
}

#[derive(Debug, Clone, Serialize)]
pub struct Threshold {
    pub name: String,
    pub ok: bool,
    /// The measured value(s) behind the verdict.
    pub measured: String,
}

/// Counters of the client (delta over the run) and of the server (its own counts).
#[derive(Debug, Clone, Copy, Default)]
pub struct Counters {
    pub attempts: u64,
    pub retries: u64,
    pub hedges: u64,
    pub breaker_rejections: u64,
    pub skew_corrections: u64,
    pub body_resumes: u64,
    /// OSS API requests the emulator counted for this arm during the run (`None`: endpoint
    /// mode, the server does not tell).
    pub server_requests: Option<u64>,
    /// ... of them inside the fault window.
    pub server_requests_in_window: Option<u64>,
    /// `(replayed, conflicts, pending)` of the spool's replay, for an arm with a chain.
    pub replay: Option<(u64, u64, u64)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ArmResult {
    pub arm: &'static str,
    pub ops: u64,
    pub succeeded: u64,
    pub success_rate: f64,
    pub failed: u64,
    pub unfinished: u64,
    pub silent_corruptions: u64,
    /// Of `silent_corruptions`, those on ranged reads: OSS sends no checksum for a range (its
    /// CRC-64 header covers the whole object), so no client can verify one — only TLS, or
    /// reading the whole object, protects a range. Shown for every arm, not a threshold.
    pub silent_corruptions_ranged: u64,
    /// Corruption caught by the client's CRC-64 and returned as an error (not silent).
    pub integrity_errors: u64,
    /// Requests the client started: attempts (retries included) plus hedges.
    pub attempts: u64,
    /// `attempts` per request the ops need (a multipart upload of n parts needs n + 2): 1.0 =
    /// no extra traffic.
    pub attempts_per_op: f64,
    /// The emulator's own count of this arm's requests (compare with `attempts`).
    pub server_requests: Option<u64>,
    pub retries: u64,
    pub hedges: u64,
    pub hedge_rate: f64,
    pub breaker_rejections: u64,
    pub skew_corrections: u64,
    pub body_resumes: u64,
    pub bytes: u64,
    pub bytes_per_op: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub phases: Phases,
    /// Breaker open after the fault started, ms (only arms with a breaker that opened).
    pub detect_ms: Option<f64>,
    /// Errors stop this long after the fault window ends, ms.
    pub recover_ms: Option<f64>,
    /// Requests the server saw during the fault window per op offered in it.
    pub load_in_fault_window: Option<f64>,
    /// The fallback chain's figures (`None`: the arm has no chain).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fallback: Option<FallbackFigures>,
    pub thresholds: Vec<Threshold>,
    #[serde(skip)]
    pub records: Vec<Record>,
    /// (ms since start, breaker gauge 0 closed / 1 open / 2 recovering)
    #[serde(skip)]
    pub breaker: Vec<(f64, u8)>,
}

/// The q-quantile (nearest rank) of sorted values.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn compute(
    arm: &'static str,
    records: Vec<Record>,
    c: Counters,
    breaker: Vec<(f64, u8)>,
    t: &Timeline,
) -> ArmResult {
    let ops = records.len() as u64;
    let count = |o: Outcome| records.iter().filter(|r| r.outcome == o.name()).count() as u64;
    let succeeded = count(Outcome::Ok);
    let mut lat: Vec<f64> = records.iter().map(|r| r.latency_ms).collect();
    lat.sort_by(f64::total_cmp);
    let mut phases = Phases::default();
    for r in &records {
        let p = match t.phase(std::time::Duration::from_secs_f64(r.intended_ms / 1000.0)) {
            Phase::Steady => &mut phases.steady,
            Phase::Fault => &mut phases.fault,
            Phase::Recovery => &mut phases.recovery,
        };
        p.ops += 1;
        p.succeeded += (r.outcome == "ok") as u64;
    }
    let fault_start = t.fault_start().as_secs_f64() * 1000.0;
    let fault_end = t.fault_end().as_secs_f64() * 1000.0;
    let detect_ms = breaker
        .iter()
        .find(|(at, g)| *at >= fault_start && *g == 1)
        .map(|(at, _)| at - fault_start);
    // Failures of ops that started after the window: when do they stop?
    let recover_ms = Some(
        records
            .iter()
            .filter(|r| r.intended_ms >= fault_end && r.outcome != "ok")
            .map(|r| r.intended_ms + r.latency_ms - fault_end)
            .fold(0.0, f64::max),
    );
    let bytes: u64 = records.iter().map(|r| r.bytes).sum();
    let per_op = |x: u64| if ops == 0 { 0.0 } else { x as f64 / ops as f64 };
    ArmResult {
        arm,
        ops,
        succeeded,
        success_rate: per_op(succeeded),
        failed: count(Outcome::Error),
        unfinished: count(Outcome::Unfinished),
        silent_corruptions: count(Outcome::Corrupt),
        silent_corruptions_ranged: records
            .iter()
            .filter(|r| r.outcome == Outcome::Corrupt.name() && r.op == "range_get")
            .count() as u64,
        integrity_errors: records
            .iter()
            .filter(|r| {
                r.error
                    .as_deref()
                    .is_some_and(|e| e.contains("corrupted in transit"))
            })
            .count() as u64,
        attempts: c.attempts + c.hedges,
        attempts_per_op: {
            let needed: u64 = records.iter().map(|r| r.requests_needed).sum();
            if needed == 0 {
                0.0
            } else {
                (c.attempts + c.hedges) as f64 / needed as f64
            }
        },
        server_requests: c.server_requests,
        retries: c.retries,
        hedges: c.hedges,
        hedge_rate: per_op(c.hedges),
        breaker_rejections: c.breaker_rejections,
        skew_corrections: c.skew_corrections,
        body_resumes: c.body_resumes,
        bytes,
        bytes_per_op: per_op(bytes),
        p50_ms: quantile(&lat, 0.5),
        p99_ms: quantile(&lat, 0.99),
        p999_ms: quantile(&lat, 0.999),
        max_ms: lat.last().copied().unwrap_or(0.0),
        load_in_fault_window: c
            .server_requests_in_window
            .map(|n| n as f64 / phases.fault.ops.max(1) as f64),
        fallback: c.replay.map(|(replayed, conflicts, pending)| {
            let n = |src: &str| records.iter().filter(|r| r.source == Some(src)).count() as u64;
            FallbackFigures {
                stale_serves: n("cache_stale"),
                cache_serves: n("cache_fresh"),
                replica_serves: n("replica"),
                default_serves: n("default"),
                spooled: n("spooled"),
                replayed,
                conflicts,
                pending,
            }
        }),
        phases,
        detect_ms,
        recover_ms,
        thresholds: Vec::new(),
        records,
        breaker,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let v: Vec<f64> = (1..=1000).map(|x| x as f64).collect();
        assert_eq!(quantile(&v, 0.5), 500.0);
        assert_eq!(quantile(&v, 0.99), 990.0);
        assert_eq!(quantile(&v, 0.999), 999.0);
        assert_eq!(quantile(&[], 0.5), 0.0);
    }
}
