//! The assets in `observability/`: Prometheus rules (promtool check + unit tests, and the unit
//! tests must catch a moved boundary), the Grafana dashboard (Grafana's JSON schemas and the
//! cheap rules of grafana's dashboard-linter), and every dashboard query and rule run by a real
//! Prometheus (Debian's `prometheus`) that scrapes an in-process `ossguard serve` and
//! `ossguard chaos`. promtool and prometheus are required: scripts/test-all installs them via
//! peers/install; a missing one fails these tests.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use regex::Regex;
use serde_json::Value;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn obs(rel: &str) -> PathBuf {
    repo_root().join("observability").join(rel)
}

fn read_json(p: &Path) -> Value {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn dashboard() -> Value {
    read_json(&obs("grafana/ossguard.json"))
}

/// `OSSGUARD_GRAFANA_SCHEMA`, or `../shared/grafana-schema` beside the checkout.
fn schema_dir() -> PathBuf {
    let dir = std::env::var_os("OSSGUARD_GRAFANA_SCHEMA")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/grafana-schema"));
    assert!(
        dir.join("dashboard.jsonschema.json").is_file(),
        "Grafana's JSON schemas not found in {}: put grafana-foundation-sdk's jsonschema files \
         there or set OSSGUARD_GRAFANA_SCHEMA",
        dir.display()
    );
    dir
}

/// A tool from Debian's prometheus package; fails loudly when it is missing.
fn tool(name: &str) -> Command {
    let ok = Command::new(name)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{name} not found: install Debian's prometheus package (peers/install does; \
         scripts/test-all runs it)"
    );
    Command::new(name)
}

fn run_ok(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().expect("runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

// ---------------------------------------------------------------------------------------------
// Prometheus rules

#[derive(serde::Deserialize)]
struct RuleFile {
    groups: Vec<RuleGroup>,
}

#[derive(serde::Deserialize)]
struct RuleGroup {
    name: String,
    rules: Vec<Rule>,
}

#[derive(serde::Deserialize)]
struct Rule {
    record: Option<String>,
    alert: Option<String>,
    expr: String,
}

fn rule_file() -> RuleFile {
    let text = std::fs::read_to_string(obs("prometheus/rules.yml")).unwrap();
    serde_saphyr::from_str(&text).expect("rules.yml parses")
}

#[test]
fn promtool_checks_and_unit_tests_the_rules() {
    let dir = obs("prometheus");
    let (ok, out) = run_ok(
        tool("promtool")
            .args(["check", "rules", "rules.yml"])
            .current_dir(&dir),
    );
    assert!(ok, "promtool check rules:\n{out}");
    let (ok, out) = run_ok(
        tool("promtool")
            .args(["test", "rules", "rules.test.yml"])
            .current_dir(&dir),
    );
    assert!(ok, "promtool test rules:\n{out}");

    // Every alert has unit tests.
    let tests = std::fs::read_to_string(dir.join("rules.test.yml")).unwrap();
    for g in rule_file().groups {
        for r in g.rules {
            if let Some(a) = r.alert {
                assert!(
                    tests.contains(&format!("alertname: {a}\n")),
                    "no promtool unit test for alert {a}"
                );
            }
        }
    }
}

/// The unit tests pin each boundary: moving any threshold, duration or filter by a hair makes
/// `promtool test rules` fail.
#[test]
fn rule_unit_tests_catch_a_moved_boundary() {
    let rules = std::fs::read_to_string(obs("prometheus/rules.yml")).unwrap();
    let tests = std::fs::read_to_string(obs("prometheus/rules.test.yml")).unwrap();
    let mutants: &[(&str, &str)] = &[
        ("ratio_rate5m < 0.99", "ratio_rate5m <= 0.99"),
        ("ratio_rate5m > 1.5", "ratio_rate5m >= 1.5"),
        ("p99_rate5m > 0.5", "p99_rate5m >= 0.5"),
        ("for: 1m", "for: 59s"),
        ("for: 5m", "for: 4m59s"),
        ("source=\"cache_stale\"", "source=~\"cache_stale|replica\""),
        (
            "increase(ossguard_integrity_failures_total[5m])\n          ) > 0",
            "increase(ossguard_integrity_failures_total[5m])\n          ) >= 0",
        ),
        (
            "            or\n            sum by (job, instance, arm) (rate(ossguard_operations_total{outcome!=\"cancelled\"}[5m])) * 0\n",
            "",
        ),
        ("outcome!=\"cancelled\"", "outcome=~\".+\""),
    ];
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("rules.test.yml"), &tests).unwrap();
    for (from, to) in mutants {
        assert!(rules.contains(from), "mutant source gone: {from}");
        std::fs::write(dir.path().join("rules.yml"), rules.replace(from, to)).unwrap();
        let (ok, out) = run_ok(
            tool("promtool")
                .args(["test", "rules", "rules.test.yml"])
                .current_dir(dir.path()),
        );
        assert!(
            !ok,
            "the rule tests still pass with `{from}` → `{to}`:\n{out}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Grafana dashboard: schemas

fn validate(schema: &Value, instance: &Value, what: &str) -> Vec<String> {
    let v = jsonschema::draft7::new(schema).unwrap_or_else(|e| panic!("schema for {what}: {e}"));
    v.iter_errors(instance)
        .map(|e| format!("{what}{}: {e}", e.instance_path()))
        .collect()
}

fn with_root(schema: &Value, def: &str) -> Value {
    let mut s = schema.clone();
    s["$ref"] = Value::String(format!("#/definitions/{def}"));
    s
}

/// Non-row panels, those inside rows included.
fn panels(dash: &Value) -> Vec<&Value> {
    let mut out = vec![];
    for p in dash["panels"].as_array().expect("panels") {
        if p["type"] == "row" {
            out.extend(p["panels"].as_array().into_iter().flatten());
        } else {
            out.push(p);
        }
    }
    out
}

fn check_schemas(dash: &Value) -> Vec<String> {
    let dir = schema_dir();
    let whole = read_json(&dir.join("dashboard.jsonschema.json"));
    let prom = read_json(&dir.join("prometheus.jsonschema.json"));
    let mut errs = validate(&whole, dash, "dashboard");
    for p in panels(dash) {
        let title = p["title"].as_str().unwrap_or("?");
        // The whole-dashboard error only says "not valid under any of the given schemas".
        errs.extend(validate(
            &with_root(&whole, "Panel"),
            p,
            &format!("panel {title:?}"),
        ));
        let file = match p["type"].as_str() {
            Some("timeseries") => "timeseries",
            Some("stat") => "stat",
            Some("state-timeline") => "statetimeline",
            Some("table") => "table",
            other => {
                errs.push(format!("panel {title:?}: no schema for type {other:?}"));
                continue;
            }
        };
        let s = read_json(&dir.join(format!("{file}.jsonschema.json")));
        errs.extend(validate(
            &with_root(&s, "Options"),
            &p["options"],
            &format!("panel {title:?} options"),
        ));
        let custom = &p["fieldConfig"]["defaults"]["custom"];
        if s["definitions"].get("FieldConfig").is_some() && !custom.is_null() {
            errs.extend(validate(
                &with_root(&s, "FieldConfig"),
                custom,
                &format!("panel {title:?} custom"),
            ));
        }
        for t in p["targets"].as_array().into_iter().flatten() {
            errs.extend(validate(&prom, t, &format!("panel {title:?} target")));
        }
    }
    errs
}

#[test]
fn dashboard_matches_grafanas_schemas() {
    let dash = dashboard();
    let errs = check_schemas(&dash);
    assert!(errs.is_empty(), "{}", errs.join("\n"));

    // The check bites: a legacy key, a string datasource and an incomplete stat fail.
    let mut bad = dash.clone();
    bad["style"] = "dark".into();
    assert!(!check_schemas(&bad).is_empty());
    let mut bad = dash.clone();
    let stat = bad["panels"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|p| p["type"] == "stat")
        .unwrap();
    stat["options"]
        .as_object_mut()
        .unwrap()
        .remove("reduceOptions");
    stat["targets"][0]["step"] = 10.into();
    let errs = check_schemas(&bad);
    assert!(
        errs.iter().any(|e| e.contains("options")) && errs.iter().any(|e| e.contains("target")),
        "{errs:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Grafana dashboard: the cheap rules of grafana's dashboard-linter

const DS_VAR: &[&str] = &["${datasource}", "$datasource"];

/// `_total` series not directly inside `rate(`/`increase(`.
fn unwrapped_totals(expr: &str) -> Vec<String> {
    let name = Regex::new(r"[a-zA-Z_:][a-zA-Z0-9_:]*_total\b").unwrap();
    let quoted = Regex::new(r#""[^"]*""#).unwrap();
    // Label values cannot name a series: blank them out (same length keeps offsets).
    let bare = quoted.replace_all(expr, |c: &regex::Captures| " ".repeat(c[0].len()));
    let mut out = vec![];
    for m in name.find_iter(&bare) {
        // The innermost open parenthesis before the series, and the function it calls.
        let mut depth = 0i32;
        let mut func = None;
        for (i, c) in bare[..m.start()].char_indices().rev() {
            match c {
                ')' => depth += 1,
                '(' if depth > 0 => depth -= 1,
                '(' => {
                    let head = bare[..i].trim_end();
                    let start = head
                        .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .map_or(0, |j| j + 1);
                    func = Some(&head[start..]);
                    break;
                }
                _ => {}
            }
        }
        if !matches!(func, Some("rate" | "increase")) {
            out.push(m.as_str().to_owned());
        }
    }
    out
}

/// Range selectors other than `[$__rate_interval]`.
fn fixed_ranges(expr: &str) -> Vec<String> {
    Regex::new(r"\[([^\]]*)\]")
        .unwrap()
        .captures_iter(expr)
        .filter(|c| &c[1] != "$__rate_interval")
        .map(|c| c[0].to_owned())
        .collect()
}

fn lint(dash: &Value) -> Vec<String> {
    let mut errs = vec![];
    let vars = dash["templating"]["list"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let var = |n: &str| vars.iter().find(|v| v["name"] == n);
    match var("datasource") {
        Some(v) if v["type"] == "datasource" && v["query"] == "prometheus" => {}
        _ => errs.push("no templated datasource variable (type datasource, prometheus)".into()),
    }
    for n in ["job", "instance"] {
        if var(n).is_none() {
            errs.push(format!("no `{n}` variable"));
        }
    }
    let templated =
        |ds: &Value| ds["type"] == "prometheus" && DS_VAR.iter().any(|d| ds["uid"] == *d);
    for v in &vars {
        if v["type"] == "query" && !templated(&v["datasource"]) {
            errs.push(format!("variable {}: datasource not templated", v["name"]));
        }
    }
    let mut ids = BTreeSet::new();
    for p in panels(dash) {
        let title = p["title"].as_str().unwrap_or("").trim();
        if title.is_empty() {
            errs.push(format!("panel id {}: no title", p["id"]));
        }
        if !ids.insert(p["id"].to_string()) {
            errs.push(format!("panel {title:?}: duplicate id {}", p["id"]));
        }
        if p["fieldConfig"]["defaults"]["unit"]
            .as_str()
            .is_none_or(|u| u.trim().is_empty())
        {
            errs.push(format!("panel {title:?}: no unit"));
        }
        if !templated(&p["datasource"]) {
            errs.push(format!("panel {title:?}: datasource not templated"));
        }
        let targets = p["targets"].as_array().cloned().unwrap_or_default();
        if targets.is_empty() {
            errs.push(format!("panel {title:?}: no query"));
        }
        for t in targets {
            if !templated(&t["datasource"]) {
                errs.push(format!("panel {title:?}: target datasource not templated"));
            }
            let expr = t["expr"].as_str().unwrap_or("");
            for s in unwrapped_totals(expr) {
                errs.push(format!("panel {title:?}: {s} not in rate()/increase()"));
            }
            for r in fixed_ranges(expr) {
                errs.push(format!(
                    "panel {title:?}: range {r}, use [$__rate_interval]"
                ));
            }
            if !expr.contains("job=~\"$job\"") || !expr.contains("instance=~\"$instance\"") {
                errs.push(format!(
                    "panel {title:?}: query ignores $job/$instance: {expr}"
                ));
            }
        }
    }
    errs
}

#[test]
fn dashboard_passes_the_linter_rules() {
    let errs = lint(&dashboard());
    assert!(errs.is_empty(), "{}", errs.join("\n"));
}

#[test]
fn the_lint_catches_what_it_should() {
    assert_eq!(
        unwrapped_totals("sum(ossguard_x_total)"),
        ["ossguard_x_total"]
    );
    assert_eq!(
        unwrapped_totals(
            "sum by (a) (rate(ossguard_x_total{a=\"b_total\"}[5m])) / increase(y_total[1m])"
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        unwrapped_totals("rate(sum(ossguard_x_total)[5m:])"),
        ["ossguard_x_total"]
    );
    assert_eq!(
        fixed_ranges("rate(x[5m]) + rate(y[$__rate_interval])"),
        ["[5m]"]
    );

    let mut dash = dashboard();
    let p = &mut dash["panels"][1];
    p["title"] = "".into();
    p["fieldConfig"]["defaults"]
        .as_object_mut()
        .unwrap()
        .remove("unit");
    p["datasource"] = serde_json::json!({"type": "prometheus", "uid": "prom-1"});
    p["targets"][0]["expr"] = "sum(ossguard_operations_total)".into();
    let errs = lint(&dash).join("\n");
    for want in [
        "no title",
        "no unit",
        "datasource not templated",
        "not in rate()",
        "ignores",
    ] {
        assert!(errs.contains(want), "lint missed {want:?}:\n{errs}");
    }
    dash["templating"]["list"][0]["type"] = "custom".into();
    assert!(lint(&dash)
        .iter()
        .any(|e| e.contains("templated datasource variable")));
}

#[test]
fn rule_expressions_wrap_counters_in_rate() {
    for g in rule_file().groups {
        for r in g.rules {
            let name = r.record.or(r.alert).unwrap_or_default();
            assert!(
                unwrapped_totals(&r.expr).is_empty(),
                "{}/{name}: a _total series outside rate()/increase(): {}",
                g.name,
                r.expr
            );
        }
    }
}

/// `ossguard_*` series names in a PromQL expression, histogram suffixes stripped.
fn series_names(expr: &str) -> BTreeSet<String> {
    Regex::new(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
        .unwrap()
        .find_iter(expr)
        .map(|m| m.as_str())
        .filter(|t| t.starts_with("ossguard_") && !t.contains(':'))
        .map(base_name)
        .collect()
}

fn base_name(name: &str) -> String {
    ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name)
        .to_owned()
}

fn contract() -> String {
    std::fs::read_to_string(obs("METRICS.md")).unwrap()
}

/// Every series the dashboard and the rules read is in METRICS.md.
#[test]
fn dashboard_and_rules_read_only_documented_metrics() {
    let doc = contract();
    let mut names = BTreeSet::new();
    for p in panels(&dashboard()) {
        for t in p["targets"].as_array().into_iter().flatten() {
            names.extend(series_names(t["expr"].as_str().unwrap_or("")));
        }
    }
    for g in rule_file().groups {
        for r in g.rules {
            names.extend(series_names(&r.expr));
        }
    }
    assert!(names.len() >= 25, "{names:?}");
    let missing: Vec<_> = names
        .iter()
        .filter(|n| !doc.contains(&format!("`{n}`")))
        .collect();
    assert!(missing.is_empty(), "not in METRICS.md: {missing:?}");
}

// ---------------------------------------------------------------------------------------------
// A real Prometheus runs every query

/// The Prometheus child process; killed (by its PID, through `Child`) when dropped.
struct Prometheus {
    child: std::process::Child,
    url: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    fn start(scrape: &[(&str, &str, String)]) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = String::from(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n",
        );
        cfg += &format!(
            "rule_files:\n  - {:?}\nscrape_configs:\n",
            obs("prometheus/rules.yml").display().to_string()
        );
        for (job, path, addr) in scrape {
            cfg += &format!(
                "  - job_name: {job}\n    metrics_path: {path}\n    static_configs:\n      - targets: [\"{addr}\"]\n"
            );
        }
        std::fs::write(dir.path().join("prometheus.yml"), cfg).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = dir.path().join("prometheus.log");
        let child = tool("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("prometheus starts");
        Prometheus {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
            _dir: dir,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn get(&self, http: &reqwest::Client, path: &str, query: &[(&str, &str)]) -> Value {
        let r = http
            .get(format!("{}{path}", self.url))
            .query(query)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        let status = r.status();
        let body: Value =
            serde_json::from_str(&r.text().await.unwrap_or_default()).unwrap_or(Value::Null);
        assert!(
            status.is_success() && body["status"] == "success",
            "{path} {query:?}: HTTP {status}: {body}"
        );
        body["data"].clone()
    }

    async fn query(&self, http: &reqwest::Client, q: &str) -> Vec<Value> {
        let d = self.get(http, "/api/v1/query", &[("query", q)]).await;
        d["result"].as_array().cloned().unwrap_or_default()
    }
}

/// A panel query as Grafana would send it with every variable on "All".
fn substitute(expr: &str) -> String {
    expr.replace("$__rate_interval", "30s")
        .replace("$instance", ".+")
        .replace("$job", ".+")
        .replace("$arm", ".*")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_runs_every_dashboard_query_and_rule() {
    use ossguard_chaos::{Chaos, NewToxic, ProxyConfig, ToxicKind};
    use ossguard_emulator::server::{Emulator, EmulatorConfig};

    const AK: &str = "obs-ak";
    const SK: &str = "obs-secret-key";
    let data = tempfile::tempdir().unwrap();
    let mut cfg = EmulatorConfig::local(data.path().join("data"), AK, SK);
    cfg.sync = false;
    let emu = Emulator::start(cfg).await.unwrap();
    let emu_addr = emu.endpoint().trim_start_matches("http://").to_owned();

    // The client reaches the emulator through a chaos proxy with a 1 ms latency toxic, so
    // the proxy's metrics move too.
    let chaos = Chaos::new();
    let proxy = chaos
        .create_proxy(ProxyConfig::new("oss", emu_addr.clone()))
        .await
        .unwrap();
    chaos
        .add_toxic(
            "oss",
            NewToxic::new(ToxicKind::Latency {
                latency: 1,
                jitter: 0,
            }),
        )
        .await
        .unwrap();
    let api = chaos.serve_api("127.0.0.1:0").await.unwrap();
    let client = ossguard::Client::builder()
        .endpoint(format!("http://{}", proxy.listen))
        .credentials(ossguard::Credentials::new(AK, SK))
        .build()
        .unwrap();
    // The client's own metrics, as an application would expose them.
    let mut registry = prometheus_client::registry::Registry::default();
    client.register_metrics(&mut registry);
    let client_metrics = ossguard_exposition::serve(
        "127.0.0.1:0".parse().unwrap(),
        std::sync::Arc::new(registry),
    )
    .await
    .unwrap();

    // A quick drill (F1 at 10 % and F4's slow responses: retries, refusals, hedges, every
    // arm) with its `--metrics-addr` endpoint: the arm-labelled series of the dashboard.
    let mut drill = ossguard_drill::DrillConfig::quick(7);
    drill.scenarios = vec!["F1-10".into(), "F4".into()];
    drill.timeline.steady = Duration::from_secs(2);
    drill.timeline.fault = Duration::from_secs(6);
    drill.timeline.recovery = Duration::from_secs(2);
    let mut drill_registry = prometheus_client::registry::Registry::default();
    for arm in &drill.arms {
        let m = ossguard::ClientMetrics::new();
        m.register(drill_registry.sub_registry_with_label(("arm".into(), arm.name().into())));
        drill.metrics.insert(arm.name(), m);
    }
    let drill_metrics = ossguard_exposition::serve(
        "127.0.0.1:0".parse().unwrap(),
        std::sync::Arc::new(drill_registry),
    )
    .await
    .unwrap();
    let drill_run = tokio::spawn(async move {
        ossguard_drill::run(&drill, |_| {})
            .await
            .map(|r| r.arms.len())
    });
    client
        .create_bucket("obs", Default::default())
        .await
        .unwrap();

    let prom = Prometheus::start(&[
        ("ossguard-serve", "/-/metrics", emu_addr.clone()),
        ("ossguard-chaos", "/metrics", api.local_addr().to_string()),
        (
            "ossguard-client",
            "/metrics",
            client_metrics.local_addr().to_string(),
        ),
        (
            "ossguard-drill",
            "/metrics",
            drill_metrics.local_addr().to_string(),
        ),
    ]);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = http.get(format!("{}/-/ready", prom.url)).send().await;
        if ready.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "prometheus not ready within 60 s:\n{}",
            prom.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let dash = dashboard();
    let exprs: Vec<(String, String)> = panels(&dash)
        .into_iter()
        .flat_map(|p| {
            let title = p["title"].as_str().unwrap_or("").to_owned();
            p["targets"]
                .as_array()
                .into_iter()
                .flatten()
                .map(move |t| (title.clone(), t["expr"].as_str().unwrap_or("").to_owned()))
        })
        .collect();
    let rules = rule_file();
    let rule_count: usize = rules.groups.iter().map(|g| g.rules.len()).sum();
    let records: Vec<String> = rules
        .groups
        .iter()
        .flat_map(|g| &g.rules)
        .filter_map(|r| r.record.clone())
        .collect();
    assert!(records.len() >= 8, "{records:?}");

    // Traffic in rounds, one scrape apart, until the four targets are up and every panel
    // query and every recorded series has data. Bounded: 60 rounds.
    let mut missing = vec![];
    for round in 0..60u32 {
        for i in 0..5 {
            let key = format!("k{}", (round * 5 + i) % 7);
            client
                .put_object(
                    "obs",
                    &key,
                    vec![b'x'; 1000 + i as usize].into(),
                    Default::default(),
                )
                .await
                .unwrap();
            let got = client
                .get_object("obs", &key, Default::default())
                .await
                .unwrap();
            got.body.bytes().await.unwrap();
        }
        assert!(client.head_object("obs", "missing").await.is_err());
        tokio::time::sleep(Duration::from_millis(1000)).await;
        if round < 3 {
            continue;
        }
        missing.clear();
        let up = prom.query(&http, "up == 1").await;
        if up.len() != 4 {
            missing.push(format!("targets up: {up:?}"));
        }
        for (title, e) in &exprs {
            if prom.query(&http, &substitute(e)).await.is_empty() {
                missing.push(format!("{title}: {e}"));
            }
        }
        for r in &records {
            if prom.query(&http, r).await.is_empty() {
                missing.push(format!("recorded {r}"));
            }
        }
        if missing.is_empty() {
            break;
        }
    }
    assert!(
        missing.is_empty(),
        "no data after 60 rounds:\n{}\n--- prometheus log ---\n{}",
        missing.join("\n"),
        prom.log()
    );

    assert_eq!(
        drill_run.await.unwrap().unwrap(),
        3,
        "the drill ran its three arms"
    );
    // promtool accepts what the client and the drill serve (serve and chaos: their own tests).
    for m in [&client_metrics, &drill_metrics] {
        let text = http
            .get(format!("http://{}/metrics", m.local_addr()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        ossguard_exposition::promtool_check_metrics(&text).unwrap();
    }

    // The client's attempts equal the requests the server read, for the same run: traffic
    // stopped, two scrapes later both sides are final.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let value = |v: Vec<Value>| -> f64 {
        v.first()
            .and_then(|s| s["value"][1].as_str())
            .and_then(|x| x.parse().ok())
            .unwrap_or(-1.0)
    };
    let attempts = value(
        prom.query(
            &http,
            r#"sum(ossguard_attempts_total{job="ossguard-client"})"#,
        )
        .await,
    );
    let requests = value(
        prom.query(
            &http,
            r#"sum(ossguard_server_requests_total{job="ossguard-serve",operation!="Admin"})"#,
        )
        .await,
    );
    println!("client attempts {attempts}, server requests {requests}");
    assert!(attempts > 40.0, "{attempts}");
    assert_eq!(attempts, requests, "client attempts vs server requests");

    // Every metric the two servers export is in METRICS.md.
    let doc = contract();
    let exported = prom
        .get(
            &http,
            "/api/v1/label/__name__/values",
            &[(
                "match[]",
                "{__name__=~\"ossguard_.+\", job=~\"ossguard-.+\"}",
            )],
        )
        .await;
    let exported: BTreeSet<String> = exported
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n.as_str())
        .filter(|n| !n.contains(':'))
        .map(base_name)
        .collect();
    assert!(exported.len() >= 10, "{exported:?}");
    for n in &exported {
        assert!(
            doc.contains(&format!("`{n}`")),
            "{n} is exported but not in METRICS.md"
        );
    }

    // No credential reaches a stored series, not even the access key id.
    let series = prom
        .get(
            &http,
            "/api/v1/series",
            &[("match[]", "{__name__=~\"ossguard_.+\"}")],
        )
        .await
        .to_string();
    assert!(series.len() > 100, "{series}");
    assert!(!series.contains(SK) && !series.contains(AK), "{series}");

    // The variables' label_values() lookups find both jobs.
    let jobs = prom
        .get(
            &http,
            "/api/v1/label/job/values",
            &[("match[]", "{__name__=~\"ossguard_.+\"}")],
        )
        .await;
    assert_eq!(
        jobs,
        serde_json::json!([
            "ossguard-chaos",
            "ossguard-client",
            "ossguard-drill",
            "ossguard-serve"
        ])
    );

    // Prometheus loaded every rule, evaluates each without error, and each expression runs
    // through the query API.
    let loaded = prom.get(&http, "/api/v1/rules", &[]).await;
    let loaded: Vec<Value> = loaded["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
        .collect();
    assert_eq!(loaded.len(), rule_count, "rules loaded: {loaded:?}");
    for r in &loaded {
        assert_eq!(r["health"], "ok", "rule evaluation failed: {r}");
        prom.query(&http, r["query"].as_str().unwrap()).await;
    }

    drop(prom);
    drop((client_metrics, drill_metrics));
    api.shutdown().await.unwrap();
    emu.shutdown().await.unwrap();
}
