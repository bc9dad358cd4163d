//! HTTP-level fault injection for the emulator (DESIGN §5: F1–F8).
//!
//! Rules ([`FaultConfig`], documented there and in `crates/emulator/FAULTS.md`) are matched
//! against every OSS API request (never the `/-/` admin API) by operation name, bucket, key
//! prefix and method; each fires with a probability drawn from a seeded stream, or on every n-th
//! match, optionally only after its first `skip_first` matches, inside a time window and at
//! most `limit` times. They are installed with
//! `ossguard serve --faults FILE`, at run time with `PUT /-/faults`, or in-process with
//! [`Faults::install`] (`emulator.faults().install(cfg)`).
//!
//! Where faults act:
//! - `handle` wraps the server's request handler: it draws the rules, then refuses,
//!   blackholes, delays, answers with an error, stalls, or wraps the response body;
//! - [`conn`] wraps each accepted socket so a fault can kill a connection without answering and
//!   close it with a TCP RST;
//! - [`SkewedClock`] is the server clock ([`AppState::now`](crate::server::AppState::now)), off
//!   by the active `clock_skew`.
//!
//! Cost when no rules are installed: one relaxed atomic load per request (and per clock read).
//! With rules: one read-lock + `Arc` clone, a request-target parse, and a few atomic increments
//! per matching rule; counters are per rule, `by_kind` is summed only when stats are read.
//!
//! Determinism: each rule draws from its own SplitMix64 stream derived from the seed and the
//! rule's index, so the same seed and the same *sequential* request sequence give the same
//! faults. Concurrent requests may reach their draws in a different order from run to run
//! (same multiset of outcomes, different assignment to requests); `every_nth` is exact under
//! concurrency too (a match counter, no randomness).

mod admin;
mod body;
pub mod conn;
mod model;
mod request_body;
pub mod rng;

use std::collections::{BTreeMap, HashSet};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::response::Response;
use http::{HeaderName, HeaderValue, Method};
use ossguard_proto::addressing::resolve;
use ossguard_proto::encoding::parse_query;
use ossguard_proto::Operation;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

pub(crate) use admin::{handle as admin_handle, owns as admin_owns};
use body::{BodyPlan, Cut};
pub use conn::{ConnCtl, ConnInfo, FaultListener};
pub use model::{ConfigError, Fault, FaultConfig, FaultRule, Matcher, Window};
use rng::SeededRng;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use crate::server::error::ApiError;
use crate::server::AppState;
use crate::store::Clock;

/// The fault rules of one emulator, shared by its handler, clock and admin API.
pub struct Faults {
    /// Fast path: no rules installed.
    active: AtomicBool,
    /// Fast path for the clock: no `clock_skew` rule installed.
    skewed: AtomicBool,
    set: RwLock<Arc<Installed>>,
    /// Bumped on every install/clear; held requests (stalls, drips, blackholes) let go.
    generation: watch::Sender<u64>,
    totals: InjectedTotals,
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Faults")
            .field("config", &self.config())
            .finish()
    }
}

impl Default for Faults {
    fn default() -> Self {
        Self::new()
    }
}

/// Injection counters, as served by `GET /-/faults/stats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultStats {
    pub seed: u64,
    /// Milliseconds since the current rules were installed.
    pub installed_ms_ago: u64,
    /// OSS API requests seen since then (admin requests are never counted).
    pub requests: u64,
    /// Faults injected since then, all rules together.
    pub injected: u64,
    /// Faults injected per kind (every kind is listed, zeros included).
    pub by_kind: BTreeMap<String, u64>,
    pub rules: Vec<RuleStats>,
    /// Bytes of 2xx GET response bodies handed to the connections since then (what the server
    /// really sent, faulted or not; a reset discards what was still in socket buffers).
    #[serde(default)]
    pub body_bytes_sent: u64,
}

/// Counters of one rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleStats {
    pub index: usize,
    pub name: String,
    pub kind: String,
    /// Requests that matched the filters inside the window.
    pub matched: u64,
    /// Times the rule fired (probability / every_nth / limit said yes).
    pub fired: u64,
    /// Times its fault was applied (a fired body fault is not applied to an empty or error
    /// body; a fired `status` loses to an earlier one).
    pub injected: u64,
}

/// One installed rule set with its counters and random streams.
pub(crate) struct Installed {
    config: FaultConfig,
    at: Instant,
    rules: Vec<RuleState>,
    requests: AtomicU64,
    pub(crate) body_bytes: AtomicU64,
    /// Monotonic per-kind totals shared across installs (the `/-/metrics` counter).
    totals: InjectedTotals,
}

/// `ossguard_server_faults_injected_total{kind}`: never reset by an install, unlike the
/// per-rule counters of `/-/faults/stats`.
pub type InjectedTotals = Family<FaultKindLabel, Counter>;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FaultKindLabel {
    pub kind: String,
}

pub(crate) struct RuleState {
    name: String,
    pub rng: SeededRng,
    methods: Vec<Method>,
    /// Interned OSS error code of a `status` fault.
    code: &'static str,
    matched: AtomicU64,
    fired: AtomicU64,
    injected: AtomicU64,
}

/// What one request will suffer (rule indices kept for the counters).
#[derive(Default)]
struct Plan {
    outage: Option<(usize, Outage)>,
    reset: Option<(usize, bool)>,
    latency: Duration,
    latency_rules: Vec<usize>,
    status: Option<(usize, bool)>,
    stall_headers: Duration,
    stall_rules: Vec<usize>,
    request_stall: Option<(usize, u64, Duration)>,
    body: BodyPlan,
}

impl Plan {
    fn is_empty(&self) -> bool {
        self.outage.is_none()
            && self.reset.is_none()
            && self.latency_rules.is_empty()
            && self.status.is_none()
            && self.stall_rules.is_empty()
            && self.request_stall.is_none()
            && self.body.is_empty()
    }
}

#[derive(Debug, Clone, Copy)]
enum Outage {
    Refuse,
    /// Until this instant (or the rules change).
    Blackhole(Option<Instant>),
}

/// The parts of a request rules can match on.
struct Target {
    method: Method,
    op: Option<&'static str>,
    bucket: Option<String>,
    key: Option<String>,
}

fn intern(s: &str) -> &'static str {
    static CODES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut set = CODES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(c) = set.get(s) {
        return c;
    }
    // Bounded by the distinct codes ever configured.
    let leaked: &'static str = Box::leak(s.to_owned().into_boxed_str());
    set.insert(leaked);
    leaked
}

fn default_code(status: u16) -> &'static str {
    match status {
        400 => "InvalidArgument",
        403 => "AccessDenied",
        404 => "NoSuchKey",
        409 => "OperationAborted",
        429 => "TooManyRequests",
        500 => "InternalError",
        502 => "BadGateway",
        503 => "ServiceUnavailable",
        504 => "GatewayTimeout",
        _ => "InjectedFault",
    }
}

fn default_message(code: &str) -> &'static str {
    match code {
        "InternalError" => "We encountered an internal error. Please try again.",
        "ServiceUnavailable" => "Please reduce your request rate.",
        c if c.contains("Qps") || c.contains("QPS") || c.contains("Rate") => {
            "Please reduce your request rate."
        }
        "TooManyRequests" => "Too many requests; slow down.",
        _ => "Injected by an ossguard emulator fault rule.",
    }
}

impl Installed {
    fn new(config: FaultConfig, totals: InjectedTotals) -> Self {
        let rules = config
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| RuleState {
                name: r
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("{i}:{}", r.fault.kind())),
                rng: SeededRng::for_rule(config.seed, i),
                methods: r
                    .matcher
                    .methods
                    .iter()
                    .filter_map(|m| Method::from_bytes(m.to_ascii_uppercase().as_bytes()).ok())
                    .collect(),
                code: match &r.fault {
                    Fault::Status { status, code, .. } => match code {
                        Some(c) => intern(c),
                        None => default_code(*status),
                    },
                    _ => "",
                },
                matched: AtomicU64::new(0),
                fired: AtomicU64::new(0),
                injected: AtomicU64::new(0),
            })
            .collect();
        Self {
            config,
            at: Instant::now(),
            rules,
            requests: AtomicU64::new(0),
            body_bytes: AtomicU64::new(0),
            totals,
        }
    }

    fn since_ms(&self) -> u64 {
        u64::try_from(self.at.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    pub(crate) fn rule(&self, i: usize) -> &RuleState {
        &self.rules[i]
    }

    pub(crate) fn injected(&self, i: usize) {
        self.rules[i].injected.fetch_add(1, Ordering::Relaxed);
        let kind = self.config.rules[i].fault.kind().to_owned();
        self.totals.get_or_create(&FaultKindLabel { kind }).inc();
    }

    fn skew_ms(&self) -> i64 {
        let now = self.since_ms();
        self.config
            .rules
            .iter()
            .find_map(|r| match r.fault {
                Fault::ClockSkew { skew_ms } if r.window.is_none_or(|w| w.contains(now)) => {
                    Some(skew_ms)
                }
                _ => None,
            })
            .unwrap_or(0)
    }

    fn matches(&self, i: usize, t: &Target) -> bool {
        let m = &self.config.rules[i].matcher;
        let methods = &self.rules[i].methods;
        (m.operations.is_empty() || t.op.is_some_and(|op| m.operations.iter().any(|o| o == op)))
            && (m.buckets.is_empty()
                || t.bucket
                    .as_deref()
                    .is_some_and(|b| m.buckets.iter().any(|x| x == b)))
            && m.key_prefix
                .as_deref()
                .is_none_or(|p| t.key.as_deref().is_some_and(|k| k.starts_with(p)))
            && (methods.is_empty() || methods.contains(&t.method))
    }

    /// Draws every rule for one request, in rule order.
    fn decide(&self, t: &Target) -> Plan {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let now = self.since_ms();
        let mut plan = Plan::default();
        for (i, rule) in self.config.rules.iter().enumerate() {
            if matches!(rule.fault, Fault::ClockSkew { .. }) {
                continue;
            }
            if rule.window.is_some_and(|w| !w.contains(now)) || !self.matches(i, t) {
                continue;
            }
            let st = &self.rules[i];
            let n = st.matched.fetch_add(1, Ordering::Relaxed) + 1;
            let skip = rule.skip_first.unwrap_or(0);
            if n <= skip {
                continue;
            }
            let fire = match rule.every_nth {
                Some(k) => (n - skip).is_multiple_of(k),
                None => st.rng.chance(rule.probability.unwrap_or(1.0)),
            };
            if !fire {
                continue;
            }
            let within_limit = match rule.limit {
                Some(l) => st
                    .fired
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |f| {
                        (f < l).then_some(f + 1)
                    })
                    .is_ok(),
                None => {
                    st.fired.fetch_add(1, Ordering::Relaxed);
                    true
                }
            };
            if !within_limit {
                continue;
            }
            match &rule.fault {
                Fault::Outage { refuse_ms } => {
                    let start = rule.window.map_or(0, |w| w.start_ms);
                    let end = rule.window.and_then(|w| w.end_ms);
                    let refuse_until = refuse_ms.map(|r| start + r).or(end);
                    let phase = if refuse_until.is_none_or(|r| now < r) {
                        Outage::Refuse
                    } else {
                        Outage::Blackhole(end.map(|e| self.at + Duration::from_millis(e)))
                    };
                    plan.outage.get_or_insert((i, phase));
                }
                Fault::Reset { after_processing } => {
                    plan.reset.get_or_insert((i, *after_processing));
                }
                Fault::Latency {
                    delay_ms,
                    jitter_ms,
                    tail_probability,
                    tail_min_ms,
                    tail_max_ms,
                } => {
                    let mut ms = delay_ms + st.rng.between(0, *jitter_ms);
                    if st.rng.chance(*tail_probability) {
                        ms += st.rng.between(*tail_min_ms, *tail_max_ms);
                    }
                    plan.latency += Duration::from_millis(ms);
                    plan.latency_rules.push(i);
                }
                Fault::Status {
                    after_processing, ..
                } => {
                    plan.status.get_or_insert((i, *after_processing));
                }
                Fault::StallBeforeHeaders { stall_ms } => {
                    plan.stall_headers += Duration::from_millis(*stall_ms);
                    plan.stall_rules.push(i);
                }
                Fault::StallMidBody {
                    after_bytes,
                    stall_ms,
                } => {
                    plan.body.stall.get_or_insert((
                        i,
                        *after_bytes,
                        Duration::from_millis(*stall_ms),
                    ));
                }
                Fault::StallRequestBody {
                    after_bytes,
                    stall_ms,
                } => {
                    plan.request_stall.get_or_insert((
                        i,
                        *after_bytes,
                        Duration::from_millis(*stall_ms),
                    ));
                }
                Fault::ResetMidBody { after_bytes } => {
                    plan.body.cut.get_or_insert((i, *after_bytes, Cut::Reset));
                }
                Fault::TruncateBody { after_bytes } => {
                    plan.body
                        .cut
                        .get_or_insert((i, *after_bytes, Cut::Truncate));
                }
                Fault::CorruptBytes {
                    offsets,
                    chunk_probability,
                } => {
                    plan.body
                        .corrupt
                        .get_or_insert_with(|| (i, offsets.clone(), *chunk_probability));
                }
                Fault::SlowDrip {
                    bytes_per_sec,
                    after_bytes,
                } => {
                    plan.body
                        .drip
                        .get_or_insert((i, *after_bytes, *bytes_per_sec));
                }
                Fault::ClockSkew { .. } => {}
            }
        }
        plan
    }

    fn stats(&self) -> FaultStats {
        let mut by_kind: BTreeMap<String, u64> =
            Fault::KINDS.iter().map(|k| ((*k).to_owned(), 0)).collect();
        let rules: Vec<RuleStats> = self
            .config
            .rules
            .iter()
            .zip(&self.rules)
            .enumerate()
            .map(|(index, (r, s))| {
                let injected = s.injected.load(Ordering::Relaxed);
                *by_kind.entry(r.fault.kind().to_owned()).or_default() += injected;
                RuleStats {
                    index,
                    name: s.name.clone(),
                    kind: r.fault.kind().to_owned(),
                    matched: s.matched.load(Ordering::Relaxed),
                    fired: s.fired.load(Ordering::Relaxed),
                    injected,
                }
            })
            .collect();
        FaultStats {
            seed: self.config.seed,
            installed_ms_ago: self.since_ms(),
            requests: self.requests.load(Ordering::Relaxed),
            injected: by_kind.values().sum(),
            by_kind,
            rules,
            body_bytes_sent: self.body_bytes.load(Ordering::Relaxed),
        }
    }
}

impl Faults {
    /// No rules.
    pub fn new() -> Self {
        let totals = InjectedTotals::default();
        for kind in Fault::KINDS {
            let _ = totals.get_or_create(&FaultKindLabel {
                kind: (*kind).to_owned(),
            });
        }
        Self {
            active: AtomicBool::new(false),
            skewed: AtomicBool::new(false),
            set: RwLock::new(Arc::new(Installed::new(
                FaultConfig::default(),
                totals.clone(),
            ))),
            generation: watch::Sender::new(0),
            totals,
        }
    }

    /// Faults injected per kind since start (every kind listed, zeros included).
    pub fn injected_totals(&self) -> InjectedTotals {
        self.totals.clone()
    }

    fn current(&self) -> Arc<Installed> {
        self.set.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the rules (validated first); windows, counters and random streams start over.
    /// Requests held by the previous rules (stalls, drips, blackholes) are let go.
    pub fn install(&self, config: FaultConfig) -> Result<(), ConfigError> {
        config.validate()?;
        let active = !config.rules.is_empty();
        let skewed = config
            .rules
            .iter()
            .any(|r| matches!(r.fault, Fault::ClockSkew { .. }));
        let installed = Arc::new(Installed::new(config, self.totals.clone()));
        *self.set.write().unwrap_or_else(|e| e.into_inner()) = installed;
        self.active.store(active, Ordering::Release);
        self.skewed.store(skewed, Ordering::Release);
        self.generation.send_modify(|g| *g += 1);
        Ok(())
    }

    /// Removes every rule (the seed is kept) and lets held requests go.
    pub fn clear(&self) {
        let seed = self.current().config.seed;
        self.install(FaultConfig {
            seed,
            rules: Vec::new(),
        })
        .expect("an empty rule set is valid");
    }

    /// The installed rules and seed.
    pub fn config(&self) -> FaultConfig {
        self.current().config.clone()
    }

    /// Counters since the rules were installed.
    pub fn stats(&self) -> FaultStats {
        self.current().stats()
    }

    /// Waits (polling every 10 ms, at most `limit`) until the installed rules have injected
    /// `n` faults; whether they did. For tests that act once a fault has fired (a stall that
    /// holds an answer the server has already carried out, say).
    pub async fn wait_injected(&self, n: u64, limit: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while self.stats().injected < n {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        true
    }

    /// The active clock skew in milliseconds (0 when none).
    pub fn skew_ms(&self) -> i64 {
        if !self.skewed.load(Ordering::Acquire) {
            return 0;
        }
        self.current().skew_ms()
    }

    fn active_set(&self) -> Option<Arc<Installed>> {
        if self.active.load(Ordering::Acquire) {
            Some(self.current())
        } else {
            None
        }
    }
}

/// A clock off by the active `clock_skew` rule.
pub struct SkewedClock<C> {
    inner: C,
    faults: Arc<Faults>,
}

impl<C: Clock> SkewedClock<C> {
    pub fn new(inner: C, faults: Arc<Faults>) -> Self {
        Self { inner, faults }
    }
}

impl<C: Clock> Clock for SkewedClock<C> {
    fn now(&self) -> SystemTime {
        let t = self.inner.now();
        match self.faults.skew_ms() {
            0 => t,
            s if s > 0 => t + Duration::from_millis(s.unsigned_abs()),
            s => t
                .checked_sub(Duration::from_millis(s.unsigned_abs()))
                .unwrap_or(t),
        }
    }
}

/// The OSS operation a request names (for metrics), as the fault matcher reads it.
pub(crate) fn operation_of(
    req: &axum::extract::Request,
    own_hosts: &[String],
) -> Option<&'static str> {
    target(req, own_hosts).op
}

fn target(req: &axum::extract::Request, own_hosts: &[String]) -> Target {
    let method = req.method().clone();
    let query = parse_query(req.uri().query().unwrap_or("")).unwrap_or_default();
    let host = req
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .unwrap_or("localhost");
    let own: Vec<&str> = own_hosts.iter().map(String::as_str).collect();
    // Ambiguous addressing (ali-oss' Host + path pair) matches on the first reading.
    let first = resolve(host, req.uri().path(), &own)
        .ok()
        .and_then(|v| v.into_iter().next());
    let (bucket, key) = first.map_or((None, None), |t| (t.bucket, t.key));
    let op = Operation::identify(
        &method,
        bucket.as_deref(),
        key.as_deref(),
        &query,
        req.headers(),
    )
    .map(Operation::name);
    Target {
        method,
        op,
        bucket,
        key,
    }
}

/// Sleeps for `d` unless the rules change first (then returns `false`).
async fn hold(d: Duration, changed: &mut watch::Receiver<u64>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = changed.changed() => false,
    }
}

/// Kills the connection: nothing of the returned response reaches the wire.
fn kill(ctl: Option<&Arc<ConnCtl>>) -> Response {
    match ctl {
        Some(c) => {
            c.kill();
            Response::new(Body::empty())
        }
        // Not served through `FaultListener`: a body that fails at once makes hyper drop the
        // connection (best effort: the status line may already be out).
        None => Response::new(Body::from_stream(futures_util::stream::once(async {
            Err::<axum::body::Bytes, _>(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "fault: connection killed",
            ))
        }))),
    }
}

/// The OSS error answer of a `status` fault.
fn status_response(
    st: &AppState,
    set: &Installed,
    i: usize,
    is_head: bool,
    host: &str,
) -> Response {
    let Fault::Status {
        status,
        message,
        qos_delay_ms,
        retry_after_s,
        headers,
        ..
    } = &set.config.rules[i].fault
    else {
        unreachable!("status_response is called for status rules only")
    };
    let code = set.rules[i].code;
    let msg = message
        .clone()
        .unwrap_or_else(|| default_message(code).to_owned());
    let mut e = ApiError::new(*status, code, msg);
    if let Some(ms) = qos_delay_ms {
        e = e.with_header("x-oss-qos-delay-time", ms.to_string());
    }
    if let Some(s) = retry_after_s {
        e = e.with_header("retry-after", s.to_string());
    }
    let request_id = st.next_request_id();
    let (hdrs, body) = e.render(&request_id, host, is_head);
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() =
        http::StatusCode::from_u16(*status).unwrap_or(http::StatusCode::SERVICE_UNAVAILABLE);
    let h = resp.headers_mut();
    let extra = headers.iter().map(|(n, v)| (n.as_str(), v.clone()));
    for (n, v) in hdrs.iter().map(|(n, v)| (*n, v.clone())).chain(extra) {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(n.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            h.insert(n, v);
        }
    }
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert("x-oss-request-id", v);
    }
    if let Ok(v) = HeaderValue::from_str(&ossguard_proto::time::rfc1123(st.now())) {
        h.insert("date", v);
    }
    h.insert("server", HeaderValue::from_static("AliyunOSS"));
    resp
}

/// The emulator's request handler: faults around [`crate::server::handle`].
pub(crate) async fn handle(
    State(st): State<Arc<AppState>>,
    mut req: axum::extract::Request,
) -> Response {
    let conn = req
        .extensions()
        .get::<ConnectInfo<ConnInfo>>()
        .map(|c| c.0.clone());
    if let Some(c) = &conn {
        // The server reads the peer address for its access log.
        req.extensions_mut().insert(ConnectInfo(c.remote));
    }
    let faults = st.faults().clone();
    let Some(set) = faults.active_set() else {
        return crate::server::handle(State(st), req).await;
    };
    let path = req.uri().path();
    if path == "/-" || path.starts_with("/-/") {
        return crate::server::handle(State(st), req).await;
    }
    let plan = set.decide(&target(&req, st.host_names()));
    let is_get = req.method() == Method::GET;
    if plan.is_empty() {
        let resp = crate::server::handle(State(st), req).await;
        return request_body::count_sent(resp, is_get, &set);
    }
    let ctl = conn.map(|c| c.ctl);
    let mut changed = faults.generation.subscribe();
    // Rules installed since `active_set` (before the subscription saw their generation) must
    // still let this request go, not hold it until the next change.
    if !Arc::ptr_eq(&faults.current(), &set) {
        changed.mark_changed();
    }

    if let Some((i, phase)) = plan.outage {
        set.injected(i);
        if let Outage::Blackhole(until) = phase {
            match until {
                Some(t) => {
                    let left = t.saturating_duration_since(Instant::now());
                    hold(left, &mut changed).await;
                }
                None => {
                    let _ = changed.changed().await;
                }
            }
        }
        return kill(ctl.as_ref());
    }
    if let Some((i, false)) = plan.reset {
        set.injected(i);
        return kill(ctl.as_ref());
    }
    if !plan.latency_rules.is_empty() {
        for &i in &plan.latency_rules {
            set.injected(i);
        }
        hold(plan.latency, &mut changed).await;
    }
    let is_head = req.method() == Method::HEAD;
    let host = req
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_owned();
    if let Some((i, false)) = plan.status {
        set.injected(i);
        return status_response(&st, &set, i, is_head, &host);
    }

    if let Some((i, after, stall)) = plan.request_stall {
        set.injected(i);
        req = request_body::stall(req, after, stall, faults.generation.subscribe());
    }
    let mut resp = crate::server::handle(State(st.clone()), req).await;

    if let Some((i, true)) = plan.reset {
        set.injected(i);
        return kill(ctl.as_ref());
    }
    if let Some((i, true)) = plan.status {
        set.injected(i);
        resp = status_response(&st, &set, i, is_head, &host);
    }
    if !plan.stall_rules.is_empty() {
        for &i in &plan.stall_rules {
            set.injected(i);
        }
        hold(plan.stall_headers, &mut changed).await;
    }
    if !plan.body.is_empty() && !is_head && resp.status().is_success() {
        use axum::body::HttpBody;
        let announced = resp
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let len = match announced {
            Some(n) => n,
            // The wrapped body has no size of its own: announce it, or hyper would chunk.
            None => match resp.body().size_hint().exact() {
                Some(n) => {
                    resp.headers_mut()
                        .insert("content-length", HeaderValue::from(n));
                    n
                }
                None => 0,
            },
        };
        if len > 0 {
            resp = body::wrap(resp, len, plan.body, set.clone(), ctl, changed);
        }
    }
    request_body::count_sent(resp, is_get, &set)
}
