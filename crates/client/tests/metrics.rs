//! The client's metrics and audit log against the emulator under F1-style faults: what the
//! client counts matches what the server saw, one audit line per logical operation.

use std::collections::BTreeMap;
use std::time::Duration;

use ossguard::{AuditConfig, AuditLog, Body, Client, Credentials, Policy};
use ossguard_emulator::faults::FaultConfig;
use ossguard_emulator::server::{Emulator, EmulatorConfig};
use prometheus_client::registry::Registry;

const AK: &str = "metrics-ak";
const SK: &str = "metrics-secret-NEVER-LOGGED-51c9";

async fn start() -> (Emulator, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = EmulatorConfig::local(dir.path().join("data"), AK, SK);
    cfg.sync = false;
    (Emulator::start(cfg).await.unwrap(), dir)
}

/// `name{labels} value` lines of a text exposition, as (name, labels, value).
fn samples(text: &str) -> Vec<(String, BTreeMap<String, String>, f64)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (name, labels) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split(',')
                .filter(|p| !p.is_empty())
                .filter_map(|p| {
                    let (k, v) = p.split_once('=')?;
                    Some((k.to_owned(), v.trim_matches('"').to_owned()))
                })
                .collect();
            Some((name.to_owned(), labels, value.parse().ok()?))
        })
        .collect()
}

fn sum(s: &[(String, BTreeMap<String, String>, f64)], name: &str, filter: &[(&str, &str)]) -> f64 {
    s.iter()
        .filter(|(n, l, _)| {
            n == name
                && filter
                    .iter()
                    .all(|(k, v)| l.get(*k).is_some_and(|x| x == v))
        })
        .map(|(_, _, v)| v)
        .sum()
}

fn encode(r: &Registry) -> String {
    let mut s = String::new();
    prometheus_client::encoding::text::encode(&mut s, r).unwrap();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_counts_match_the_server_and_audit_has_one_line_per_operation() {
    let (emu, dir) = start().await;
    let audit_path = dir.path().join("audit/ops.jsonl");
    let audit = AuditLog::to_file(&audit_path, AuditConfig::default()).unwrap();
    let client = Client::builder()
        .endpoint(emu.endpoint())
        .credentials(Credentials::new(AK, SK))
        .audit_log(audit.clone())
        .build()
        .unwrap();
    let mut registry = Registry::default();
    client.register_metrics(&mut registry);
    client
        .create_bucket("m-bucket", Default::default())
        .await
        .unwrap();
    for k in 0..20 {
        client
            .put_object(
                "m-bucket",
                &format!("k/{k}"),
                vec![1u8; 100].into(),
                Default::default(),
            )
            .await
            .unwrap();
    }
    // F1 at 10 %: errors the server answers (500, 503) and connections it resets after
    // answering; every attempt reaches the server, so both sides count the same requests.
    emu.faults()
        .install(
            FaultConfig::parse(
                r#"{"seed": 7, "rules": [
                {"probability": 0.05, "fault": {"kind": "status", "status": 500}},
                {"probability": 0.03, "fault": {"kind": "status", "status": 503, "code": "ServiceUnavailable"}},
                {"probability": 0.02, "fault": {"kind": "reset"}}]}"#,
            )
            .unwrap(),
        )
        .unwrap();
    let mut calls: BTreeMap<&str, u64> = BTreeMap::new();
    let mut failed = 0;
    for i in 0..300u64 {
        let key = format!("k/{}", i % 20);
        let (op, r) = match i % 4 {
            0 => (
                "PutObject",
                client
                    .put_object(
                        "m-bucket",
                        &key,
                        Body::from(vec![i as u8; 2000]),
                        Default::default(),
                    )
                    .await
                    .map(|_| ()),
            ),
            1 => (
                "GetObject",
                match client
                    .get_object("m-bucket", &key, Default::default())
                    .await
                {
                    Ok(o) => o.bytes().await.map(|_| ()),
                    Err(e) => Err(e),
                },
            ),
            2 => (
                "HeadObject",
                client.head_object("m-bucket", &key).await.map(|_| ()),
            ),
            _ => (
                "ListObjectsV2",
                client
                    .list_objects_page("m-bucket", &Default::default(), None)
                    .await
                    .map(|_| ()),
            ),
        };
        *calls.entry(op).or_default() += 1;
        if r.is_err() {
            failed += 1;
        }
    }
    emu.faults().install(FaultConfig::default()).unwrap();
    // A body dropped unread is a cancelled operation.
    let dropped = client
        .get_object("m-bucket", "k/0", Default::default())
        .await
        .unwrap();
    drop(dropped);

    let text = encode(&registry);
    let c = samples(&text);
    let server = reqwest::get(format!("{}/-/metrics", emu.endpoint()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let s = samples(&server);
    let server_requests = sum(&s, "ossguard_server_requests_total", &[])
        - sum(
            &s,
            "ossguard_server_requests_total",
            &[("operation", "Admin")],
        );
    let attempts = sum(&c, "ossguard_attempts_total", &[]);
    println!(
        "300 ops ({failed} failed): client attempts {attempts}, server requests {server_requests}, retries {}, audit written {}",
        sum(&c, "ossguard_retries_total", &[]),
        audit.written()
    );
    // A hedge that lost may be cancelled before its request reached the server (seen once,
    // with the machine loaded): the server then counts one request fewer.
    let hedges = sum(&c, "ossguard_hedges_total", &[]);
    assert!(
        attempts - hedges <= server_requests && server_requests <= attempts,
        "client attempts {attempts} ({hedges} hedges), server requests {server_requests}\n\
         client:\n{text}\nserver:\n{server}"
    );
    assert!(
        attempts > 300.0 + 1.0,
        "faults made retries: {attempts} attempts"
    );
    assert_eq!(
        sum(&c, "ossguard_attempts_total", &[("kind", "retry")]),
        sum(&c, "ossguard_retries_total", &[])
    );
    assert_eq!(
        sum(&c, "ossguard_attempts_total", &[("kind", "hedge")]),
        sum(&c, "ossguard_hedges_total", &[])
    );
    for (op, n) in &calls {
        let done = sum(&c, "ossguard_operations_total", &[("operation", op)]);
        let extra = match *op {
            "GetObject" => 1.0,
            "PutObject" => 20.0,
            _ => 0.0,
        };
        assert_eq!(done, *n as f64 + extra, "{op}");
        // Every operation sent exactly one first attempt.
        assert_eq!(
            sum(
                &c,
                "ossguard_attempts_total",
                &[("operation", op), ("kind", "first")]
            ),
            *n as f64 + extra,
            "{op}"
        );
        assert_eq!(
            sum(&c, "ossguard_in_flight_operations", &[("operation", op)]),
            0.0
        );
    }
    assert_eq!(
        sum(
            &c,
            "ossguard_operations_total",
            &[("operation", "GetObject"), ("outcome", "cancelled")]
        ),
        1.0,
        "{text}"
    );
    assert!(sum(&c, "ossguard_operation_duration_seconds_count", &[]) >= 301.0);
    assert!(sum(&c, "ossguard_sent_bytes_total", &[]) >= 75.0 * 2000.0);
    assert!(sum(&c, "ossguard_received_bytes_total", &[]) > 0.0);
    assert_eq!(
        sum(
            &c,
            "ossguard_breaker_state",
            &[("endpoint", "primary"), ("state", "closed")]
        ),
        1.0
    );

    // The audit log: one line per logical operation (the bucket creation included), none per
    // attempt; its attempts add up to the metric's.
    assert!(audit.flush(Duration::from_secs(10)));
    let text = std::fs::read_to_string(&audit_path).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1 + 20 + 300 + 1, "one line per operation");
    let line_attempts: u64 = lines.iter().map(|l| l["attempts"].as_u64().unwrap()).sum();
    assert_eq!(line_attempts as f64, attempts);
    for l in &lines {
        assert_eq!(l["principal"], AK, "{l}");
        assert!(l["time"].as_str().unwrap().ends_with('Z'), "{l}");
    }
    let failed_lines = lines
        .iter()
        .filter(|l| l["outcome"] != "ok" && l["outcome"] != "cancelled")
        .count();
    assert_eq!(failed_lines, failed, "{text}");
    let retried = lines
        .iter()
        .find(|l| l["attempts"].as_u64().unwrap() > 1)
        .expect("some operation was retried");
    assert!(retried["request_id"].is_string(), "{retried}");
    assert!(!text.contains(SK), "the secret is in the audit log");
    emu.shutdown().await.unwrap();
}

#[tokio::test]
async fn breaker_rejections_and_refused_retries_are_counted() {
    // A refused connection: the client counts attempts the server never saw.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let ep = format!("http://{}", l.local_addr().unwrap());
    drop(l);
    let client = Client::builder()
        .endpoint(&ep)
        .credentials(Credentials::new(AK, SK))
        .policy(Policy::default())
        .build()
        .unwrap();
    let naive = Client::builder()
        .endpoint(&ep)
        .credentials(Credentials::new(AK, SK))
        .policy(Policy::none())
        .build()
        .unwrap();
    for _ in 0..60 {
        let _ = client.head_object("b", "k").await;
        let _ = naive.head_object("b", "k").await;
    }
    let mut r = Registry::default();
    client.register_metrics(&mut r);
    let c = samples(&encode(&r));
    assert!(
        sum(
            &c,
            "ossguard_operations_total",
            &[("outcome", "breaker_rejected")]
        ) > 0.0
    );
    assert_eq!(
        sum(
            &c,
            "ossguard_breaker_state",
            &[("endpoint", "primary"), ("state", "open")]
        ),
        1.0
    );
    assert!(
        sum(
            &c,
            "ossguard_breaker_transitions_total",
            &[("from", "closed"), ("to", "open")]
        ) >= 1.0
    );
    let mut r = Registry::default();
    naive.register_metrics(&mut r);
    let n = samples(&encode(&r));
    // One attempt each: the retry a connection refusal allows is refused by the attempt cap.
    assert_eq!(sum(&n, "ossguard_attempts_total", &[]), 60.0);
    assert_eq!(
        sum(
            &n,
            "ossguard_retries_refused_total",
            &[("why", "max_attempts")]
        ),
        60.0
    );
    assert_eq!(
        sum(&n, "ossguard_operations_total", &[("outcome", "transient")]),
        60.0
    );
}
