//! `GET /-/metrics`: requests by operation and status, faults injected by kind, bytes — checked
//! by value and by `promtool check metrics` (Debian's prometheus package; scripts/test-all
//! installs it).

use http::Method;
use ossguard_emulator::faults::FaultConfig;
use ossguard_proto::Request;

use crate::client::{Sig, TestServer};

/// The value of the sample `name{labels}` in classic text, 0 when absent.
pub fn sample(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(name_and_labels)
                .and_then(|rest| rest.strip_prefix(' '))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0.0)
}

#[tokio::test]
async fn metrics_count_requests_faults_and_bytes() {
    let s = TestServer::start().await;
    s.create_bucket("met").await;
    assert_eq!(s.put("met", "k", b"12345").await.status, 200);
    assert_eq!(s.get("met", "k").await.status, 200);
    assert_eq!(s.get("met", "missing").await.status, 404);
    let rules: FaultConfig = serde_json::from_value(serde_json::json!({"rules": [
        {"match": {"operations": ["GetObject"]}, "limit": 1,
         "fault": {"kind": "status", "status": 503}}
    ]}))
    .unwrap();
    s.emulator.faults().install(rules).unwrap();
    assert_eq!(s.get("met", "k").await.status, 503);
    assert_eq!(s.get("met", "k").await.status, 200);

    // Open, like /-/health; the classic text format unless OpenMetrics is asked for.
    let url = format!("{}/-/metrics", s.endpoint());
    let r = s.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = r.text().await.unwrap();
    let req = |op: &str, st: u16| {
        sample(
            &text,
            &format!("ossguard_server_requests_total{{operation=\"{op}\",status=\"{st}\"}}"),
        )
    };
    assert_eq!(req("PutObject", 200), 1.0, "{text}");
    assert_eq!(req("GetObject", 200), 2.0, "{text}");
    assert_eq!(req("GetObject", 404), 1.0);
    assert_eq!(req("GetObject", 503), 1.0);
    assert_eq!(req("PutBucket", 200), 1.0);
    assert_eq!(
        sample(
            &text,
            "ossguard_server_faults_injected_total{kind=\"status\"}"
        ),
        1.0
    );
    // Every kind is listed, zeros included.
    assert!(text.contains("ossguard_server_faults_injected_total{kind=\"slow_drip\"} 0"));
    assert_eq!(
        sample(
            &text,
            "ossguard_server_received_bytes_total{operation=\"PutObject\"}"
        ),
        5.0
    );
    assert!(
        sample(
            &text,
            "ossguard_server_sent_bytes_total{operation=\"GetObject\"}"
        ) >= 10.0
    );
    assert_eq!(
        sample(
            &text,
            "ossguard_server_request_duration_seconds_count{operation=\"GetObject\"}"
        ),
        4.0
    );
    assert_eq!(
        sample(&text, "ossguard_server_in_flight_requests"),
        1.0,
        "this scrape"
    );
    assert!(!text.contains(crate::client::SK), "no secret in metrics");
    if let Err(e) = ossguard_exposition::promtool_check_metrics(&text) {
        panic!("{e}\n--- metrics ---\n{text}");
    }

    let om = s
        .http
        .get(&url)
        .header("accept", "application/openmetrics-text; version=1.0.0")
        .send()
        .await
        .unwrap();
    assert!(om.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    assert!(om.text().await.unwrap().ends_with("# EOF\n"));

    // Unsigned GETs of other admin paths stay refused.
    let r = s
        .send(
            Request::new(Method::GET, Some("-"), Some("faults")),
            vec![],
            Sig::None,
        )
        .await;
    assert_eq!(r.status, 403);
}
