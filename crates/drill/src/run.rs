//! Runs the drill: targets (embedded emulators, one per arm, with chaos proxies), then every
//! scenario with all arms side by side on the same schedule and the same seeded faults.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use ossguard::{Body, Client, Credentials, Fallback, ListOptions};
use ossguard_chaos::{Chaos, ProxyConfig};
use ossguard_emulator::faults::FaultConfig;
use ossguard_emulator::server::{Emulator, EmulatorConfig};
use serde::Serialize;
use tokio::task::JoinSet;

use crate::arms::Arm;
use crate::content;
use crate::figures::{self, ArmResult, Counters, Record};
use crate::scenario::{self, Scenario, Timeline};
use crate::thresholds;
use crate::workload::{self, Outcome, PlannedOp, WorkloadConfig, Written};

pub const SETUP_AK: &str = "drill-setup-ak";
const SETUP_SK: &str = "drill-setup-sk";

#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    #[error("{0}")]
    Input(String),
    #[error("could not start the embedded emulator: {0}")]
    Emulator(String),
    #[error("could not start the chaos proxy: {0}")]
    Chaos(String),
    #[error("set-up of the drill's objects failed: {0}")]
    Setup(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// `--endpoint` mode: any OSS endpoint, credentials from the environment, writes only under
/// `prefix` and deletes what it wrote.
#[derive(Clone, Debug)]
pub struct EndpointTarget {
    pub url: String,
    pub bucket: String,
    /// Ends with `/`; each arm writes under `<prefix><arm>/`.
    pub prefix: String,
}

#[derive(Clone)]
pub struct DrillConfig {
    /// `None`: embedded emulators (one per arm).
    pub endpoint: Option<EndpointTarget>,
    pub timeline: Timeline,
    pub workload: WorkloadConfig,
    /// Scenario ids to run (empty: all).
    pub scenarios: Vec<String>,
    pub arms: Vec<Arm>,
    /// How long to wait for in-flight ops after the schedule ends; the rest are `unfinished`.
    pub drain: Duration,
    pub quick: bool,
    pub progress: bool,
    /// Set (e.g. by Ctrl-C) to stop: the run ends early and is marked partial.
    pub cancel: Arc<AtomicBool>,
    /// Metric families per arm (`--metrics-addr`): every client of an arm records into its
    /// arm's families, which the caller registered with the `arm` label.
    pub metrics: BTreeMap<&'static str, ossguard::ClientMetrics>,
}

impl DrillConfig {
    pub fn quick(seed: u64) -> Self {
        Self {
            endpoint: None,
            timeline: Timeline::quick(),
            workload: WorkloadConfig::new(40.0, seed),
            scenarios: Vec::new(),
            arms: crate::arms::ALL.to_vec(),
            drain: Duration::from_secs(6),
            quick: true,
            progress: false,
            cancel: Arc::default(),
            metrics: BTreeMap::new(),
        }
    }

    pub fn full(seed: u64) -> Self {
        Self {
            timeline: Timeline::full(),
            workload: WorkloadConfig::new(60.0, seed),
            drain: Duration::from_secs(12),
            quick: false,
            ..Self::quick(seed)
        }
    }

    /// Checks the selection; the error lists what is allowed.
    pub fn selected(&self) -> Result<Vec<Scenario>, DrillError> {
        let all = if self.endpoint.is_some() {
            scenario::network_only()
        } else {
            scenario::all(&self.timeline)
        };
        if self.scenarios.is_empty() {
            return Ok(all);
        }
        let all: Vec<Scenario> = if self.endpoint.is_some() {
            all
        } else {
            all.into_iter().chain(scenario::on_request()).collect()
        };
        for want in &self.scenarios {
            if !all
                .iter()
                .any(|s| &s.id == want || s.id.split('-').next() == Some(want))
            {
                let allowed: Vec<String> = all.iter().map(|s| s.id.clone()).collect();
                return Err(DrillError::Input(format!(
                    "unknown scenario {want:?}{}; allowed: {} (F1 selects all four rates)",
                    if self.endpoint.is_some() {
                        " for --endpoint mode (only network faults through the proxy; the others need the embedded emulator)"
                    } else {
                        ""
                    },
                    allowed.join(", ")
                )));
            }
        }
        Ok(all
            .into_iter()
            .filter(|s| {
                self.scenarios
                    .iter()
                    .any(|w| &s.id == w || s.id.split('-').next() == Some(w))
            })
            .collect())
    }
}

/// A logged moment of a scenario (Chaos Toolkit / AWS FIS style event log).
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub at_ms: f64,
    pub what: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    pub id: String,
    pub title: String,
    pub steady_ms: u64,
    pub fault_ms: u64,
    pub recovery_ms: u64,
    pub arms: Vec<ArmResult>,
    pub events: Vec<Event>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DrillReport {
    /// Version of this document's shape (see crates/drill/REPORT.md).
    pub version: u32,
    pub quick: bool,
    /// Stopped early (Ctrl-C): not every scenario ran to the end.
    pub partial: bool,
    pub seed: u64,
    pub rate_per_arm: f64,
    pub concurrency: usize,
    pub started_at: String,
    pub duration_s: f64,
    pub arms: Vec<ArmInfo>,
    pub scenarios: Vec<ScenarioResult>,
    /// Every threshold of the `ossguard` arm held.
    pub thresholds_ok: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ArmInfo {
    pub arm: &'static str,
    pub config: &'static str,
}

/// One arm's target: its emulator, bucket and (for network faults) its proxy.
struct Target {
    arm: Arm,
    /// `None` in endpoint mode.
    emu: Option<Emulator>,
    /// Where the client goes without network faults.
    direct: String,
    bucket: String,
    /// Key prefix of this arm's objects.
    prefix: String,
    proxy: SocketAddr,
}

fn client(cfg: &DrillConfig, arm: Arm, endpoint: &str, embedded: bool) -> Client {
    let mut b = Client::builder()
        .endpoint(endpoint)
        .connect_timeout(arm.connect_timeout())
        .policy(arm.policy());
    if let Some(m) = cfg.metrics.get(arm.name()) {
        b = b.metrics(m.clone());
    }
    let b = if embedded {
        b.credentials(Credentials::new(arm.access_key(), arm.secret()))
    } else {
        with_env(b)
    };
    b.build().expect("the endpoint was checked")
}

/// The fallback chain of an arm that has one: a cache shared by the arm's scenarios (warm from
/// the last one, as a long-running service's would be) and a spool per scenario.
///
/// The cache's `max_age` is 0: every read still asks OSS (a conditional GET, answered 304), so
/// the arms' traffic stays comparable; the cache only answers when OSS fails.
async fn chain(
    dir: &std::path::Path,
    arm: Arm,
    scenario: &str,
    c: Client,
) -> Result<Fallback, DrillError> {
    let cache = ossguard::cache::CacheConfig::default()
        .max_age(Duration::ZERO)
        .max_bytes(256 << 20);
    Fallback::builder()
        .cache(dir.join(format!("cache-{}", arm.name())), cache)
        .spool(
            dir.join(format!("spool-{}-{scenario}", arm.name())),
            ossguard::fallback::SpoolOptions::default(),
        )
        .build(c)
        .await
        .map_err(|e| DrillError::Setup(format!("the {} arm's fallback chain: {e}", arm.name())))
}

/// Endpoint mode: credentials (and region) from the usual environment.
fn with_env(b: ossguard::ClientBuilder) -> ossguard::ClientBuilder {
    let b = b.credentials_from_env();
    match std::env::var("OSS_REGION") {
        Ok(r) if !r.is_empty() => b.region(r),
        _ => b,
    }
}

async fn start_endpoint_targets(
    cfg: &DrillConfig,
    ep: &EndpointTarget,
    chaos: &Chaos,
) -> Result<Vec<Target>, DrillError> {
    let url = http::Uri::try_from(ep.url.as_str())
        .map_err(|e| DrillError::Input(format!("--endpoint {}: {e}", ep.url)))?;
    if url.scheme_str() != Some("http") {
        return Err(DrillError::Input(format!(
            "--endpoint {}: only http:// endpoints for now — the fault proxy sits in the TCP path, and TLS through it needs the client to connect to the proxy while naming the endpoint's host",
            ep.url
        )));
    }
    let host = url.host().unwrap_or_default();
    let upstream = format!("{host}:{}", url.port_u16().unwrap_or(80));
    let setup = with_env(Client::builder().endpoint(&ep.url))
        .build()
        .map_err(|e| DrillError::Setup(e.to_string()))?;
    let mut targets = Vec::new();
    for &arm in &cfg.arms {
        let proxy = chaos
            .create_proxy(ProxyConfig::new(arm.name(), upstream.clone()))
            .await
            .map_err(|e| DrillError::Chaos(e.message))?
            .listen_addr()
            .ok_or_else(|| DrillError::Chaos("proxy has no address".into()))?;
        let prefix = format!("{}{}/", ep.prefix, arm.name());
        preload(&setup, &ep.bucket, &prefix, &cfg.workload)
            .await
            .map_err(|e| DrillError::Setup(e.to_string()))?;
        targets.push(Target {
            arm,
            emu: None,
            direct: ep.url.clone(),
            bucket: ep.bucket.clone(),
            prefix,
            proxy,
        });
    }
    Ok(targets)
}

/// Deletes every object and multipart upload under `prefix` (endpoint mode's clean-up).
pub async fn clean_up(c: &Client, bucket: &str, prefix: &str) -> Result<u64, ossguard::Error> {
    let mut deleted = 0;
    for u in c.list_multipart_uploads(bucket, prefix).await? {
        c.abort_multipart_upload(bucket, &u.key, &u.upload_id)
            .await?;
    }
    loop {
        let opts = ListOptions {
            prefix: prefix.to_owned(),
            max_keys: Some(1000),
            ..Default::default()
        };
        let page = c.list_objects_page(bucket, &opts, None).await?;
        if page.objects.is_empty() {
            return Ok(deleted);
        }
        for o in &page.objects {
            c.delete_object(bucket, &o.key).await?;
            deleted += 1;
        }
    }
}

async fn start_targets(
    cfg: &DrillConfig,
    dir: &std::path::Path,
    chaos: &Chaos,
) -> Result<Vec<Target>, DrillError> {
    let mut targets = Vec::new();
    for &arm in &cfg.arms {
        let mut ec = EmulatorConfig::local(dir.join(arm.name()), SETUP_AK, SETUP_SK);
        ec.credentials.push((arm.access_key(), arm.secret()));
        ec.sync = false;
        let emu = Emulator::start(ec)
            .await
            .map_err(|e| DrillError::Emulator(e.to_string()))?;
        let proxy = chaos
            .create_proxy(ProxyConfig::new(arm.name(), emu.addr().to_string()))
            .await
            .map_err(|e| DrillError::Chaos(e.message))?
            .listen_addr()
            .ok_or_else(|| DrillError::Chaos("proxy has no address".into()))?;
        let bucket = format!("drill-{}", arm.name());
        let setup = Client::builder()
            .endpoint(emu.endpoint())
            .credentials(Credentials::new(SETUP_AK, SETUP_SK))
            .build()
            .map_err(|e| DrillError::Setup(e.to_string()))?;
        preload(&setup, &bucket, "", &cfg.workload)
            .await
            .map_err(|e| DrillError::Setup(e.to_string()))?;
        targets.push(Target {
            arm,
            direct: emu.endpoint(),
            emu: Some(emu),
            bucket,
            prefix: String::new(),
            proxy,
        });
    }
    Ok(targets)
}

/// The objects reads check against: small `s/NNNN` and large `big/N`, version 0.
pub async fn preload(
    c: &Client,
    bucket: &str,
    prefix: &str,
    w: &WorkloadConfig,
) -> Result<(), ossguard::Error> {
    if prefix.is_empty() {
        // embedded: the drill's own bucket; endpoint mode uses the caller's bucket as it is
        c.create_bucket(bucket, Default::default()).await?;
    }
    let mut keys: Vec<(String, usize)> = (0..w.small_objects as u64)
        .map(|i| {
            (
                format!("{prefix}{}", WorkloadConfig::small_key(i)),
                WorkloadConfig::small_len(i),
            )
        })
        .collect();
    keys.extend((0..w.large_objects as u64).map(|i| {
        (
            format!("{prefix}{}", WorkloadConfig::large_key(i)),
            w.large_size as usize,
        )
    }));
    futures_util::future::try_join_all(keys.chunks(8).map(|chunk| async move {
        for (k, len) in chunk {
            c.put_object(
                bucket,
                k,
                Body::from(content::generate(k, 0, *len)),
                Default::default(),
            )
            .await?;
        }
        Ok::<_, ossguard::Error>(())
    }))
    .await?;
    Ok(())
}

/// Cheap HEADs so every arm starts warm (connections, latency estimates), as a running
/// service would; not counted in the figures.
async fn warm_up(c: &Client, bucket: &str, prefix: &str, n: u64) {
    let key = format!("{prefix}{}", WorkloadConfig::small_key(0));
    futures_util::future::join_all((0..8).map(|_| async {
        for _ in 0..n / 8 {
            let _ = c.head_object(bucket, &key).await;
        }
    }))
    .await;
}

fn bar(mp: &MultiProgress, len: u64, label: String) -> ProgressBar {
    let pb = mp.add(ProgressBar::new(len));
    pb.set_style(
        ProgressStyle::with_template("{prefix:>14} [{bar:30}] {pos}/{len} {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    pb.set_prefix(label);
    pb
}

/// Drives one arm through the schedule; returns its records and breaker timeline.
#[allow(clippy::too_many_arguments)]
async fn drive(
    arm: Arm,
    scenario: String,
    c: Client,
    fb: Option<Fallback>,
    bucket: String,
    prefix: String,
    schedule: Arc<Vec<PlannedOp>>,
    cfg: DrillConfig,
    start: tokio::time::Instant,
    pb: ProgressBar,
) -> (Vec<Record>, Vec<(f64, u8)>) {
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (c, stop) = (c.clone(), stop.clone());
        tokio::spawn(async move {
            let mut tl: Vec<(f64, u8)> = Vec::new();
            loop {
                let g = c.breaker_state().as_gauge();
                if tl.last().is_none_or(|(_, last)| *last != g) {
                    tl.push((start.elapsed().as_secs_f64() * 1000.0, g));
                }
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            tl.push((
                start.elapsed().as_secs_f64() * 1000.0,
                c.breaker_state().as_gauge(),
            ));
            tl
        })
    };
    let slots = Arc::new(tokio::sync::Semaphore::new(cfg.workload.concurrency.max(1)));
    let written: Arc<Written> = Arc::default();
    let mut tasks = JoinSet::new();
    let wl = Arc::new(cfg.workload.clone());
    let mut scheduled = 0;
    for op in schedule.iter().copied() {
        if cfg.cancel.load(Ordering::Relaxed) {
            break;
        }
        tokio::time::sleep_until(start + op.at).await;
        scheduled += 1;
        let (c, fb, bucket, prefix, slots, written, wl, pb) = (
            c.clone(),
            fb.clone(),
            bucket.clone(),
            prefix.clone(),
            slots.clone(),
            written.clone(),
            wl.clone(),
            pb.clone(),
        );
        tasks.spawn(async move {
            let _slot = slots.acquire_owned().await;
            let r = workload::execute(&c, fb.as_ref(), &bucket, &prefix, &wl, &op, &written).await;
            let latency = (tokio::time::Instant::now() - (start + op.at)).as_secs_f64() * 1000.0;
            pb.inc(1);
            (op.index, r, latency)
        });
    }
    let timeline = cfg.timeline;
    let wl2 = cfg.workload.clone();
    let record = |op: &PlannedOp, outcome: Outcome, latency_ms: f64, bytes, error| Record {
        requests_needed: workload::requests_needed(&wl2, op.kind),
        arm: arm.name(),
        scenario: scenario.clone(),
        op: op.kind.name(),
        intended_ms: op.at.as_secs_f64() * 1000.0,
        latency_ms,
        outcome: outcome.name(),
        source: None,
        attempts: None,
        bytes,
        phase: timeline.phase(op.at).name(),
        error,
    };
    let mut done: BTreeMap<u64, Record> = BTreeMap::new();
    let drain = if cfg.cancel.load(Ordering::Relaxed) {
        Duration::from_secs(1)
    } else {
        cfg.drain
    };
    let deadline = tokio::time::Instant::now() + drain;
    while let Ok(Some(joined)) = tokio::time::timeout_at(deadline, tasks.join_next()).await {
        if let Ok((index, r, latency)) = joined {
            let op = &schedule[index as usize];
            let rec = Record {
                source: r.source,
                ..record(op, r.outcome, latency, r.bytes, r.error)
            };
            done.insert(index, rec);
        }
    }
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    let now = tokio::time::Instant::now();
    for op in &schedule[..scheduled] {
        done.entry(op.index).or_insert_with(|| {
            let latency = (now - (start + op.at)).as_secs_f64() * 1000.0;
            record(
                op,
                Outcome::Unfinished,
                latency,
                0,
                Some("still running when the drill stopped waiting".into()),
            )
        });
    }
    stop.store(true, Ordering::Relaxed);
    pb.finish();
    let breaker = sampler.await.unwrap_or_default();
    (done.into_values().collect(), breaker)
}

async fn run_scenario(
    cfg: &DrillConfig,
    dir: &std::path::Path,
    s: &Scenario,
    targets: &[Target],
    chaos: &Chaos,
    mp: &MultiProgress,
) -> Result<ScenarioResult, DrillError> {
    let t = cfg.timeline;
    let schedule = Arc::new(workload::schedule(&cfg.workload, t.total()));
    let mut clients = Vec::new();
    let mut chains = Vec::new();
    for tg in targets {
        let ep = if s.network.is_some() {
            format!("http://{}", tg.proxy)
        } else {
            tg.direct.clone()
        };
        let c = client(cfg, tg.arm, &ep, tg.emu.is_some());
        warm_up(&c, &tg.bucket, &tg.prefix, 256).await;
        let fb = match tg.arm.fallback_chain() {
            true => Some(chain(dir, tg.arm, &s.id, c.clone()).await?),
            false => None,
        };
        if let Some(fb) = &fb {
            // Fill the cache: every small object read once through the chain.
            for i in 0..cfg.workload.small_objects as u64 {
                let key = format!("{}{}", tg.prefix, WorkloadConfig::small_key(i));
                let _ = fb.get(&tg.bucket, &key).await;
            }
        }
        clients.push(c);
        chains.push(fb);
    }
    let before: Vec<_> = clients.iter().map(|c| c.stats()).collect();
    let rules = FaultConfig::parse(&scenario::rule_set(s, &t, cfg.workload.seed).to_string())
        .map_err(|e| DrillError::Input(format!("scenario {}: {e}", s.id)))?;
    for emu in targets.iter().filter_map(|t| t.emu.as_ref()) {
        emu.faults()
            .install(rules.clone())
            .map_err(|e| DrillError::Input(format!("scenario {}: {e}", s.id)))?;
    }
    let start = tokio::time::Instant::now();
    let network = s.network.clone().map(|n| {
        let chaos = chaos.clone();
        let names: Vec<&'static str> = targets.iter().map(|t| t.arm.name()).collect();
        tokio::spawn(async move {
            tokio::time::sleep_until(start + t.fault_start()).await;
            for name in &names {
                for toxic in &n.toxics {
                    let _ = chaos
                        .add_toxic_json(name, toxic.to_string().as_bytes())
                        .await;
                }
            }
            tokio::time::sleep_until(start + t.fault_end()).await;
            for name in &names {
                for toxic in &n.toxics {
                    if let Some(tn) = toxic["name"].as_str() {
                        let _ = chaos.remove_toxic(name, tn).await;
                    }
                }
            }
        })
    });
    let runs = targets
        .iter()
        .zip(&clients)
        .zip(&chains)
        .map(|((tg, c), fb)| {
            let pb = bar(
                mp,
                schedule.len() as u64,
                format!("{} {}", s.id, tg.arm.name()),
            );
            drive(
                tg.arm,
                s.id.clone(),
                c.clone(),
                fb.clone(),
                tg.bucket.clone(),
                tg.prefix.clone(),
                schedule.clone(),
                DrillConfig {
                    drain: cfg.drain.max(s.min_drain),
                    ..cfg.clone()
                },
                start,
                pb,
            )
        });
    let outs = futures_util::future::join_all(runs).await;
    if let Some(n) = network {
        n.abort();
        for tg in targets {
            for toxic in s.network.iter().flat_map(|n| &n.toxics) {
                if let Some(tn) = toxic["name"].as_str() {
                    let _ = chaos.remove_toxic(tg.arm.name(), tn).await;
                }
            }
        }
    }
    // Let requests of abandoned ops still on their way land before reading the server's count.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut arms = Vec::new();
    let mut events = vec![
        Event {
            at_ms: 0.0,
            what: "steady state: workload starts".into(),
        },
        Event {
            at_ms: t.fault_start().as_secs_f64() * 1000.0,
            what: format!("fault window opens: {}", s.title),
        },
        Event {
            at_ms: t.fault_end().as_secs_f64() * 1000.0,
            what: "fault window closes: recovery".into(),
        },
    ];
    for ((((tg, c), b), (records, breaker)), fb) in targets
        .iter()
        .zip(&clients)
        .zip(&before)
        .zip(outs)
        .zip(chains)
    {
        // The server's count first: a background probe of the chain landing in between is
        // then counted by the client only (the drill test allows the client more, not less).
        let st = tg.emu.as_ref().map(|e| {
            let st = e.faults().stats();
            e.faults().clear();
            st
        });
        let a = c.stats();
        // Writes spooled during the fault go to OSS now (after the server's count was read,
        // so that it stays the scenario's), through a fresh client: the scenario's may still
        // have its breaker open. The spool keeps its lock until its chain is gone.
        let replay = match fb {
            None => None,
            Some(fb) => {
                drop(fb);
                let c = client(cfg, tg.arm, &tg.direct, tg.emu.is_some());
                let fresh = chain(dir, tg.arm, &s.id, c).await?;
                let r = fresh.replay().await;
                let pending = fresh.spool().map_or(0, |sp| sp.pending().len() as u64);
                r.map(|r| (r.replayed.len() as u64, r.conflicts.len() as u64, pending))
            }
        };
        let counters = Counters {
            attempts: a.attempts - b.attempts,
            retries: a.retries - b.retries,
            hedges: a.hedges - b.hedges,
            breaker_rejections: a.breaker_rejections - b.breaker_rejections,
            skew_corrections: a.skew_corrections - b.skew_corrections,
            body_resumes: a.body_resumes - b.body_resumes,
            server_requests: st.as_ref().map(|s| s.requests),
            server_requests_in_window: st.as_ref().and_then(|s| s.rules.last().map(|r| r.matched)),
            replay,
        };
        for w in breaker.windows(2) {
            let name = ["closed", "open", "recovering"][w[1].1 as usize % 3];
            events.push(Event {
                at_ms: w[1].0,
                what: format!("{}: breaker {name}", tg.arm.name()),
            });
        }
        arms.push(figures::compute(
            tg.arm.name(),
            records,
            counters,
            breaker,
            &t,
        ));
    }
    events.sort_by(|a, b| a.at_ms.total_cmp(&b.at_ms));
    let naive = arms.iter().position(|a| a.arm == "naive");
    if let Some(i) = arms.iter().position(|a| a.arm == "ossguard") {
        let th = thresholds::check(&s.id, &arms[i], naive.map(|n| &arms[n]));
        arms[i].thresholds = th;
    }
    Ok(ScenarioResult {
        id: s.id.clone(),
        title: s.title.clone(),
        steady_ms: t.steady.as_millis() as u64,
        fault_ms: t.fault.as_millis() as u64,
        recovery_ms: t.recovery.as_millis() as u64,
        arms,
        events,
    })
}

/// Endpoint mode: delete everything under the drill's prefix, whatever happened.
async fn end_endpoint(ep: &EndpointTarget) {
    let Ok(c) = with_env(Client::builder().endpoint(&ep.url)).build() else {
        return;
    };
    match clean_up(&c, &ep.bucket, &ep.prefix).await {
        Ok(n) => eprintln!("cleaned up {n} object(s) under {}/{}", ep.bucket, ep.prefix),
        Err(e) => eprintln!(
            "warning: clean-up of {}/{} failed ({e}); delete that prefix by hand",
            ep.bucket, ep.prefix
        ),
    }
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Runs every selected scenario on embedded emulators; `on_scenario` sees each result as it
/// lands (for partial reports).
pub async fn run(
    cfg: &DrillConfig,
    mut on_scenario: impl FnMut(&DrillReport),
) -> Result<DrillReport, DrillError> {
    if !(cfg.workload.rate > 0.0 && cfg.workload.rate.is_finite()) {
        return Err(DrillError::Input(format!(
            "rate must be a positive number of operations per second, got {}",
            cfg.workload.rate
        )));
    }
    if cfg.workload.concurrency == 0 {
        return Err(DrillError::Input("concurrency must be at least 1".into()));
    }
    let scenarios = cfg.selected()?;
    let started = Instant::now();
    let dir = tempfile::Builder::new()
        .prefix("ossguard-drill-")
        .tempdir()?;
    let chaos = Chaos::with_seed(cfg.workload.seed);
    let targets = match &cfg.endpoint {
        None => start_targets(cfg, dir.path(), &chaos).await?,
        Some(ep) => match start_endpoint_targets(cfg, ep, &chaos).await {
            Ok(t) => t,
            Err(e) => {
                end_endpoint(ep).await;
                chaos.shutdown().await;
                return Err(e);
            }
        },
    };
    let mp = MultiProgress::with_draw_target(if cfg.progress {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let mut report = DrillReport {
        version: 1,
        quick: cfg.quick,
        partial: false,
        seed: cfg.workload.seed,
        rate_per_arm: cfg.workload.rate,
        concurrency: cfg.workload.concurrency,
        started_at: now_rfc3339(),
        duration_s: 0.0,
        arms: cfg
            .arms
            .iter()
            .map(|a| ArmInfo {
                arm: a.name(),
                config: a.describe(),
            })
            .collect(),
        scenarios: Vec::new(),
        thresholds_ok: true,
    };
    for s in &scenarios {
        if cfg.cancel.load(Ordering::Relaxed) {
            break;
        }
        let r = match run_scenario(cfg, dir.path(), s, &targets, &chaos, &mp).await {
            Ok(r) => r,
            Err(e) => {
                if let Some(ep) = &cfg.endpoint {
                    end_endpoint(ep).await;
                }
                return Err(e);
            }
        };
        report.scenarios.push(r);
        report.partial = cfg.cancel.load(Ordering::Relaxed);
        report.duration_s = started.elapsed().as_secs_f64();
        report.thresholds_ok = report
            .scenarios
            .iter()
            .flat_map(|s| &s.arms)
            .flat_map(|a| &a.thresholds)
            .all(|t| t.ok);
        on_scenario(&report);
    }
    report.partial = cfg.cancel.load(Ordering::Relaxed) || report.scenarios.len() < scenarios.len();
    chaos.shutdown().await;
    for tg in targets {
        if let Some(emu) = tg.emu {
            let _ = emu.shutdown().await;
        }
    }
    if let Some(ep) = &cfg.endpoint {
        end_endpoint(ep).await;
    }
    drop(dir);
    report.duration_s = started.elapsed().as_secs_f64();
    Ok(report)
}
