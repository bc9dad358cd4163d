//! The fault scenarios of DESIGN §5, each with a timeline: steady state, fault window, recovery.

use std::time::Duration;

use serde_json::{json, Value};

/// Network faults applied through the in-process chaos proxy during the fault window.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkFault {
    /// toxiproxy toxic bodies (`{"type": .., "attributes": ..}`).
    pub toxics: Vec<Value>,
}

#[derive(Debug, Clone)]
pub struct Scenario {
    pub id: String,
    pub title: String,
    /// Emulator fault rules (FAULTS.md); `window` is filled in from the timeline.
    pub rules: Vec<Value>,
    pub network: Option<NetworkFault>,
    /// Least time to wait for outstanding ops after the last arrival (F6: a dripping GET needs
    /// the progress guard's 8 s window to be cut, then its resume).
    pub min_drain: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeline {
    pub steady: Duration,
    pub fault: Duration,
    pub recovery: Duration,
}

impl Timeline {
    pub fn quick() -> Self {
        Self {
            steady: Duration::from_millis(800),
            fault: Duration::from_millis(2000),
            recovery: Duration::from_millis(1200),
        }
    }

    pub fn full() -> Self {
        Self {
            steady: Duration::from_secs(3),
            fault: Duration::from_secs(6),
            recovery: Duration::from_secs(3),
        }
    }

    pub fn total(&self) -> Duration {
        self.steady + self.fault + self.recovery
    }

    pub fn fault_start(&self) -> Duration {
        self.steady
    }

    pub fn fault_end(&self) -> Duration {
        self.steady + self.fault
    }

    /// `steady`, `fault` or `recovery` for a moment since the start.
    pub fn phase(&self, at: Duration) -> Phase {
        if at < self.fault_start() {
            Phase::Steady
        } else if at < self.fault_end() {
            Phase::Fault
        } else {
            Phase::Recovery
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Steady,
    Fault,
    Recovery,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Steady => "steady",
            Phase::Fault => "fault",
            Phase::Recovery => "recovery",
        }
    }
}

fn f1(pct: u32) -> Scenario {
    let p = pct as f64 / 100.0 / 3.0;
    Scenario {
        min_drain: Duration::ZERO,
        id: format!("F1-{pct}"),
        title: format!("random 500 / 503 / connection resets, {pct} % of requests"),
        rules: vec![
            json!({"probability": p, "fault": {"kind": "status", "status": 500}}),
            json!({"probability": p, "fault": {"kind": "status", "status": 503, "code": "ServiceUnavailable", "qos_delay_ms": 20}}),
            json!({"probability": p, "fault": {"kind": "reset"}}),
        ],
        network: None,
    }
}

/// Every scenario, in report order.
pub fn all(timeline: &Timeline) -> Vec<Scenario> {
    let refuse_ms = timeline.fault.as_millis() as u64 / 2;
    // 1 % of reads stall; a short (quick) window sees too few reads for that, so 4 %.
    let stall_every = if timeline.fault < Duration::from_secs(4) {
        25
    } else {
        100
    };
    let mut v = vec![Scenario {
        min_drain: Duration::ZERO,
        id: "S0".into(),
        title: "the seed's weak network: 10 % packet loss + 200 ms delay (chaos proxy)".into(),
        rules: vec![],
        network: Some(NetworkFault {
            toxics: vec![
                json!({"name": "delay", "type": "latency", "stream": "downstream", "attributes": {"latency": 200}}),
                json!({"name": "loss-down", "type": "loss", "stream": "downstream", "attributes": {"probability": 0.1, "rto": 200}}),
                json!({"name": "loss-up", "type": "loss", "stream": "upstream", "attributes": {"probability": 0.1, "rto": 200}}),
            ],
        }),
    }];
    v.extend([1, 10, 30, 50].map(f1));
    v.extend([
        Scenario {
            min_drain: Duration::ZERO,
            id: "F2".into(),
            title: format!("outage: refused for {refuse_ms} ms, then blackholed, then recovery"),
            rules: vec![json!({"fault": {"kind": "outage", "refuse_ms": refuse_ms}})],
            network: None,
        },
        Scenario {
            min_drain: Duration::ZERO,
            id: "F3".into(),
            title: "overload: about half the offered load answered 503 + x-oss-qos-delay-time".into(),
            // The emulator has no capacity model; a fixed shed share stands in for one.
            rules: vec![json!({"probability": 0.5, "fault": {"kind": "status", "status": 503, "code": "ServerBusy", "qos_delay_ms": 200}})],
            network: None,
        },
        Scenario {
            min_drain: Duration::ZERO,
            id: "F4".into(),
            title: format!("stalls: every {stall_every}th read hangs 2–15 s, 0.25 % of GETs die mid-body"),
            rules: vec![
                json!({"every_nth": stall_every, "match": {"operations": ["GetObject", "HeadObject"]},
                       "fault": {"kind": "latency", "delay_ms": 2000, "jitter_ms": 13000}}),
                json!({"every_nth": 400, "match": {"operations": ["GetObject"]},
                       "fault": {"kind": "reset_mid_body", "after_bytes": 512}}),
            ],
            network: None,
        },
        Scenario {
            min_drain: Duration::ZERO,
            id: "F5".into(),
            title: "brownout: +200 ms on every request".into(),
            rules: vec![json!({"fault": {"kind": "latency", "delay_ms": 200}})],
            network: None,
        },
        Scenario {
            min_drain: Duration::from_secs(16),
            id: "F6".into(),
            // 2 KiB/s: well below the pipeline's 8 KiB/s floor (the 3 KB/s drip).
            title: "slow drip: every 4th large GET slows to 2 KiB/s after 64 KiB".into(),
            rules: vec![json!({"every_nth": 4, "match": {"operations": ["GetObject"], "key_prefix": "big/"},
                               "fault": {"kind": "slow_drip", "bytes_per_sec": 2048, "after_bytes": 65536}})],
            network: None,
        },
        Scenario {
            min_drain: Duration::ZERO,
            id: "F7".into(),
            title: "corruption: one byte flipped in transit in 20 % of GET bodies".into(),
            rules: vec![json!({"probability": 0.2, "match": {"operations": ["GetObject"]},
                               "fault": {"kind": "corrupt_bytes", "offsets": [7]}})],
            network: None,
        },
        Scenario {
            min_drain: Duration::ZERO,
            id: "F8".into(),
            title: "clock skew: server clock 20 minutes ahead".into(),
            rules: vec![json!({"fault": {"kind": "clock_skew", "skew_ms": 1_200_000}})],
            network: None,
        },
    ]);
    v
}

/// Scenarios run only when named: `N0`, no faults at all (baseline, capacity measurements).
pub fn on_request() -> Vec<Scenario> {
    vec![Scenario {
        min_drain: Duration::ZERO,
        id: "N0".into(),
        title: "no faults (baseline)".into(),
        rules: vec![],
        network: None,
    }]
}

/// The scenarios that need no emulator (only the chaos proxy): what `--endpoint` mode runs.
pub fn network_only() -> Vec<Scenario> {
    let mut v: Vec<Scenario> = all(&Timeline::quick())
        .into_iter()
        .filter(|s| s.network.is_some())
        .collect();
    v.push(Scenario {
        min_drain: Duration::ZERO,
        id: "F5".into(),
        title: "brownout: +200 ms on every request (chaos proxy)".into(),
        rules: vec![],
        network: Some(NetworkFault {
            toxics: vec![json!({"name": "brownout", "type": "latency", "stream": "upstream", "attributes": {"latency": 200}})],
        }),
    });
    v
}

/// Scenario ids accepted by `--scenario` (F1 alone selects its four rates).
pub fn ids() -> Vec<String> {
    all(&Timeline::quick())
        .into_iter()
        .chain(on_request())
        .map(|s| s.id)
        .collect()
}

/// The emulator rule set for one arm: the scenario's rules inside the fault window, then a
/// zero-probability rule that counts the arm's requests inside the window (load on a dead
/// endpoint). Same seed and same rule order for every arm → the same fault streams.
pub fn rule_set(s: &Scenario, t: &Timeline, seed: u64) -> Value {
    let window = json!({"start_ms": t.fault_start().as_millis() as u64, "end_ms": t.fault_end().as_millis() as u64});
    let mut rules: Vec<Value> = s
        .rules
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r["window"] = window.clone();
            r
        })
        .collect();
    rules.push(
        json!({"name": "window-counter", "probability": 0.0, "window": window,
                      "fault": {"kind": "latency", "delay_ms": 0}}),
    );
    json!({"seed": seed, "rules": rules})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_set_parses_as_emulator_faults() {
        let t = Timeline::quick();
        for s in all(&t) {
            let v = rule_set(&s, &t, 1);
            ossguard_emulator::faults::FaultConfig::parse(&v.to_string())
                .unwrap_or_else(|e| panic!("{}: {e}", s.id));
        }
        assert_eq!(ids().len(), 13);
    }
}
