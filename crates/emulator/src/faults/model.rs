//! The rule model: what `ossguard serve --faults FILE`, `PUT /-/faults` and
//! [`Faults::install`](super::Faults::install) accept. The JSON shape is documented on
//! [`FaultConfig`] and in `crates/emulator/FAULTS.md`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// A set of fault rules and the seed of their random draws.
///
/// ```json
/// {
///   "seed": 42,
///   "rules": [
///     {
///       "name": "get-throttle",
///       "match": {"operations": ["GetObject"], "buckets": ["b"], "key_prefix": "logs/", "methods": ["GET"]},
///       "probability": 0.1,
///       "window": {"start_ms": 0, "end_ms": 60000},
///       "limit": 100,
///       "fault": {"kind": "status", "status": 503, "code": "ExceedAccountQPSLimit",
///                 "qos_delay_ms": 250, "retry_after_s": 1}
///     },
///     {"every_nth": 4, "fault": {"kind": "latency", "delay_ms": 200, "jitter_ms": 20}}
///   ]
/// }
/// ```
///
/// Every rule field but `fault` is optional: no `match` matches every OSS API request (never the
/// `/-/` admin API), no `probability` and no `every_nth` fires on every matching request, no
/// `skip_first` skips none, no `window` is always on, no `limit` is unlimited. Windows (and an
/// outage's `refuse_ms`) are offsets from the moment the rules were installed. See [`Fault`]
/// for the kinds and their parameters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultConfig {
    /// Seed of the random draws (each rule gets its own stream derived from it).
    #[serde(default)]
    pub seed: u64,
    /// Evaluated in order for every OSS request; see [`Fault`] for how fired faults combine.
    #[serde(default)]
    pub rules: Vec<FaultRule>,
}

/// One rule: which requests, how often, when, and what happens to them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    /// Label in `GET /-/faults/stats` (default `"<index>:<kind>"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Which requests the rule applies to (all OSS API requests when absent).
    #[serde(default, rename = "match", skip_serializing_if = "Matcher::is_any")]
    pub matcher: Matcher,
    /// Chance that a matching request is faulted, drawn from the rule's seeded stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// Deterministic alternative to `probability`: fault the n-th, 2n-th, … matching request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every_nth: Option<u64>,
    /// Let this many matching requests through untouched before the rule applies
    /// (`every_nth` counts from the first request after them): "the 6th part onward stalls".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_first: Option<u64>,
    /// Fire at most this many times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    /// Active only in this window (offsets from installation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Window>,
    pub fault: Fault,
}

/// Request filters; every given filter must hold, an empty list means "any".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Matcher {
    /// OSS operation names (`GetObject`, `PutObject`, `UploadPart`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operations: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buckets: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_prefix: Option<String>,
    /// HTTP methods (`GET`, `PUT`, …), case-insensitive.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
}

impl Matcher {
    pub fn is_any(&self) -> bool {
        self == &Matcher::default()
    }
}

/// `[start_ms, end_ms)` after installation; no `end_ms` means until the rules change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    #[serde(default)]
    pub start_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_ms: Option<u64>,
}

impl Window {
    pub fn contains(&self, since_install_ms: u64) -> bool {
        since_install_ms >= self.start_ms && self.end_ms.is_none_or(|e| since_install_ms < e)
    }
}

/// What a fired rule does, tagged by `kind`. All durations are milliseconds unless the name says
/// otherwise; byte offsets count from the start of the response body.
///
/// Several rules may fire for one request; they combine in this order: `outage`, then `reset`
/// (before processing), then the sum of all `latency` delays, then the first `status` (before
/// processing, i.e. the request is not executed); the request is processed; then `reset` /
/// `status` with `after_processing`, the sum of `stall_before_headers`, and the body faults (at
/// most one of each kind, the first rule wins; they compose: a body can drip, be corrupted and
/// then be cut). Body faults touch only 2xx answers with a non-empty body (GET, ranged GET), and
/// clamp their offset to `len - 1` so that they always take effect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// Answer with an OSS error instead of (or, with `after_processing`, after) executing the
    /// request. `code` defaults by status (500 `InternalError`, 503 `ServiceUnavailable`, 429
    /// `TooManyRequests`, …). `qos_delay_ms` sets `x-oss-qos-delay-time` (milliseconds, as OSS
    /// sends with `*QpsLimitExceeded`), `retry_after_s` sets `Retry-After` (seconds).
    Status {
        status: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        qos_delay_ms: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_s: Option<u64>,
        /// Extra response headers.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        headers: BTreeMap<String, String>,
        /// Execute the request first, then answer with the error (a write that happened but
        /// "failed").
        #[serde(default)]
        after_processing: bool,
    },
    /// Answer nothing: reset the connection (TCP RST) once the request is read (or executed).
    Reset {
        #[serde(default)]
        after_processing: bool,
    },
    /// Delay before processing: `delay_ms` + uniform `[0, jitter_ms]`, plus with probability
    /// `tail_probability` a heavy-tail extra uniform in `[tail_min_ms, tail_max_ms]`.
    Latency {
        #[serde(default)]
        delay_ms: u64,
        #[serde(default)]
        jitter_ms: u64,
        #[serde(default)]
        tail_probability: f64,
        #[serde(default)]
        tail_min_ms: u64,
        #[serde(default)]
        tail_max_ms: u64,
    },
    /// Process the request, then hold the status line for `stall_ms`.
    StallBeforeHeaders { stall_ms: u64 },
    /// Send the headers and the first `after_bytes` of the body, then stall for `stall_ms`, then
    /// send the rest.
    StallMidBody { after_bytes: u64, stall_ms: u64 },
    /// Read the first `after_bytes` of the *request* body (an upload), then stop reading for
    /// `stall_ms` (TCP backpressure stalls the client), then read the rest.
    StallRequestBody { after_bytes: u64, stall_ms: u64 },
    /// Send the headers and `after_bytes` of the body, then reset the connection (TCP RST).
    ResetMidBody { after_bytes: u64 },
    /// Announce the full `Content-Length`, send `after_bytes`, then close the connection (FIN).
    TruncateBody { after_bytes: u64 },
    /// Flip bytes (XOR 0xFF) at the given body `offsets`, and/or one random byte in each body
    /// chunk with probability `chunk_probability`. Length and headers (ETag, CRC-64) are kept,
    /// so only an end-to-end check catches it.
    CorruptBytes {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        offsets: Vec<u64>,
        #[serde(default)]
        chunk_probability: f64,
    },
    /// Throttle the body to `bytes_per_sec` from offset `after_bytes` on.
    SlowDrip {
        bytes_per_sec: u64,
        #[serde(default)]
        after_bytes: u64,
    },
    /// The server clock is off by `skew_ms` (±) while the rule's window is open: signature time
    /// checks (`RequestTimeTooSkewed`), the `Date` header, STS expiry and new Last-Modified
    /// stamps all use the skewed clock. Global: no `match`, `probability`, `every_nth`,
    /// `skip_first`, `limit`.
    ClockSkew { skew_ms: i64 },
    /// For the rule's window: the first `refuse_ms` (all of it when absent) every matching
    /// request is refused (connection reset, no answer); after that it is blackholed (read,
    /// never answered; the connection is reset when the window ends or the rules change).
    Outage {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        refuse_ms: Option<u64>,
    },
}

impl Fault {
    /// The `kind` tag.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Status { .. } => "status",
            Fault::Reset { .. } => "reset",
            Fault::Latency { .. } => "latency",
            Fault::StallBeforeHeaders { .. } => "stall_before_headers",
            Fault::StallMidBody { .. } => "stall_mid_body",
            Fault::StallRequestBody { .. } => "stall_request_body",
            Fault::ResetMidBody { .. } => "reset_mid_body",
            Fault::TruncateBody { .. } => "truncate_body",
            Fault::CorruptBytes { .. } => "corrupt_bytes",
            Fault::SlowDrip { .. } => "slow_drip",
            Fault::ClockSkew { .. } => "clock_skew",
            Fault::Outage { .. } => "outage",
        }
    }

    /// Every kind, in documentation order.
    pub const KINDS: &'static [&'static str] = &[
        "status",
        "reset",
        "latency",
        "stall_before_headers",
        "stall_mid_body",
        "stall_request_body",
        "reset_mid_body",
        "truncate_body",
        "corrupt_bytes",
        "slow_drip",
        "clock_skew",
        "outage",
    ];
}

/// A rule set that does not make sense.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

fn bad<T>(msg: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError(msg.into()))
}

fn probability_ok(p: f64) -> bool {
    (0.0..=1.0).contains(&p)
}

impl FaultConfig {
    /// Parses JSON (text starting with `{`) or YAML.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let cfg: FaultConfig = if text.trim_start().starts_with('{') {
            serde_json::from_str(text).map_err(|e| ConfigError(format!("bad fault JSON: {e}")))?
        } else {
            serde_saphyr::from_str(text).map_err(|e| ConfigError(format!("bad fault YAML: {e}")))?
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Reads and parses a `.json`, `.yaml` or `.yml` file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
        Self::parse(&text).map_err(|e| ConfigError(format!("{}: {}", path.display(), e.0)))
    }

    /// Checks every rule; the message names the rule and the field to fix.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (i, r) in self.rules.iter().enumerate() {
            r.validate()
                .map_err(|e| ConfigError(format!("rule {i} ({}): {}", r.fault.kind(), e.0)))?;
        }
        Ok(())
    }
}

impl FaultRule {
    /// A rule that fires on every OSS request.
    pub fn always(fault: Fault) -> Self {
        Self {
            name: None,
            matcher: Matcher::default(),
            probability: None,
            every_nth: None,
            skip_first: None,
            limit: None,
            window: None,
            fault,
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(p) = self.probability {
            if !probability_ok(p) {
                return bad(format!("probability must be within 0..=1, got {p}"));
            }
        }
        match self.every_nth {
            Some(0) => return bad("every_nth must be at least 1"),
            Some(_) if self.probability.is_some() => {
                return bad("give either probability or every_nth, not both")
            }
            _ => {}
        }
        if let Some(w) = self.window {
            if w.end_ms.is_some_and(|e| e <= w.start_ms) {
                return bad("window.end_ms must be after window.start_ms");
            }
        }
        for op in &self.matcher.operations {
            if !ossguard_proto::ops::ALL.iter().any(|o| o.name() == op) {
                return bad(format!(
                    "unknown operation {op:?} in match.operations (use OSS API names such as GetObject)"
                ));
            }
        }
        for m in &self.matcher.methods {
            if http::Method::from_bytes(m.to_ascii_uppercase().as_bytes()).is_err() {
                return bad(format!("bad HTTP method {m:?} in match.methods"));
            }
        }
        match &self.fault {
            Fault::Status {
                status, headers, ..
            } => {
                if !(400..=599).contains(status) {
                    return bad(format!("status must be 400..=599, got {status}"));
                }
                for (n, v) in headers {
                    if http::HeaderName::from_bytes(n.as_bytes()).is_err()
                        || http::HeaderValue::from_str(v).is_err()
                    {
                        return bad(format!("bad header {n:?}: {v:?}"));
                    }
                }
            }
            Fault::Latency {
                tail_probability,
                tail_min_ms,
                tail_max_ms,
                ..
            } => {
                if !probability_ok(*tail_probability) {
                    return bad("tail_probability must be within 0..=1");
                }
                if tail_max_ms < tail_min_ms {
                    return bad("tail_max_ms must be at least tail_min_ms");
                }
            }
            Fault::CorruptBytes {
                offsets,
                chunk_probability,
            } => {
                if !probability_ok(*chunk_probability) {
                    return bad("chunk_probability must be within 0..=1");
                }
                if offsets.is_empty() && *chunk_probability == 0.0 {
                    return bad("give offsets and/or a chunk_probability above 0");
                }
            }
            Fault::SlowDrip { bytes_per_sec, .. } => {
                if *bytes_per_sec == 0 {
                    return bad("bytes_per_sec must be at least 1");
                }
            }
            Fault::ClockSkew { .. } => {
                if !self.matcher.is_any()
                    || self.probability.is_some()
                    || self.every_nth.is_some()
                    || self.skip_first.is_some()
                    || self.limit.is_some()
                {
                    return bad(
                        "clock_skew is server-wide: only `window` applies (no match, probability, every_nth, skip_first, limit)",
                    );
                }
            }
            Fault::Outage { refuse_ms } => {
                if let (Some(r), Some(w)) = (refuse_ms, self.window) {
                    if w.end_ms.is_some_and(|e| w.start_ms + r > e) {
                        return bad("refuse_ms is longer than the window");
                    }
                }
            }
            Fault::Reset { .. }
            | Fault::StallBeforeHeaders { .. }
            | Fault::StallMidBody { .. }
            | Fault::StallRequestBody { .. }
            | Fault::ResetMidBody { .. }
            | Fault::TruncateBody { .. } => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_yaml_parse_to_the_same_rules() {
        let json = r#"{"seed": 7, "rules": [
            {"name": "slow", "match": {"operations": ["GetObject"], "key_prefix": "a/"},
             "probability": 0.5, "window": {"start_ms": 10, "end_ms": 20},
             "fault": {"kind": "latency", "delay_ms": 200, "jitter_ms": 10}},
            {"every_nth": 3, "fault": {"kind": "status", "status": 503,
             "code": "ExceedAccountQPSLimit", "qos_delay_ms": 100}}]}"#;
        let yaml = r#"
seed: 7
rules:
  - name: slow
    match: {operations: [GetObject], key_prefix: "a/"}
    probability: 0.5
    window: {start_ms: 10, end_ms: 20}
    fault: {kind: latency, delay_ms: 200, jitter_ms: 10}
  - every_nth: 3
    fault:
      kind: status
      status: 503
      code: ExceedAccountQPSLimit
      qos_delay_ms: 100
"#;
        let a = FaultConfig::parse(json).unwrap();
        let b = FaultConfig::parse(yaml).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.rules.len(), 2);
        // Serialising and parsing again is the identity (GET /-/faults feeds PUT /-/faults).
        let again = FaultConfig::parse(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(again, a);
    }

    #[test]
    fn nonsense_is_rejected_with_the_rule_named() {
        for (text, needle) in [
            (
                r#"{"rules":[{"probability":1.5,"fault":{"kind":"reset"}}]}"#,
                "probability",
            ),
            (
                r#"{"rules":[{"probability":0.5,"every_nth":2,"fault":{"kind":"reset"}}]}"#,
                "either",
            ),
            (
                r#"{"rules":[{"match":{"operations":["GetObjekt"]},"fault":{"kind":"reset"}}]}"#,
                "GetObjekt",
            ),
            (
                r#"{"rules":[{"fault":{"kind":"status","status":200}}]}"#,
                "status",
            ),
            (
                r#"{"rules":[{"probability":0.5,"fault":{"kind":"clock_skew","skew_ms":1}}]}"#,
                "server-wide",
            ),
            (
                r#"{"rules":[{"fault":{"kind":"slow_drip","bytes_per_sec":0}}]}"#,
                "bytes_per_sec",
            ),
            (r#"{"rules":[{"fault":{"kind":"explode"}}]}"#, "explode"),
            (r#"{"rules":[{"fault":{"kind":"reset","oops":1}}]}"#, "oops"),
            (
                r#"{"rules":[{"window":{"start_ms":5,"end_ms":5},"fault":{"kind":"reset"}}]}"#,
                "end_ms",
            ),
        ] {
            let e = FaultConfig::parse(text).unwrap_err();
            assert!(e.0.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn windows_are_half_open() {
        let w = Window {
            start_ms: 10,
            end_ms: Some(20),
        };
        assert!(!w.contains(9) && w.contains(10) && w.contains(19) && !w.contains(20));
        assert!(Window::default().contains(u64::MAX));
    }
}
