//! `ossguard serve --faults FILE`: the rules in the file are installed at start (JSON or YAML),
//! visible on `GET /-/faults`, and applied to OSS requests; a bad file stops the server before
//! it listens.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

use http::Method;
use ossguard_emulator::faults::FaultConfig;
use ossguard_proto::auth::v4;
use ossguard_proto::{AddressingStyle, Credentials, Request};

const AK: &str = "faults-ak";
const SK: &str = "faults-secret";

/// `ossguard serve` as a child process, killed on drop.
struct Server {
    child: Child,
    endpoint: String,
    second_line: String,
}

impl Server {
    fn start(data: &Path, faults: &Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ossguard"))
            .args(["serve", "--admin-open", "--addr", "127.0.0.1:0", "--data"])
            .arg(data)
            .args(["--access-key-id", AK, "--access-key-secret", SK, "--faults"])
            .arg(faults)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("ossguard starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.send(line);
            }
        });
        let first = rx
            .recv_timeout(Duration::from_secs(15))
            .expect("`listening on ...` within 15 s");
        let endpoint = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_owned();
        let second_line = rx.recv_timeout(Duration::from_secs(5)).unwrap_or_default();
        Self {
            child,
            endpoint,
            second_line,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn signed(
    http: &reqwest::Client,
    endpoint: &str,
    method: Method,
    bucket: &str,
    key: Option<&str>,
) -> reqwest::Response {
    let mut req = Request::new(method.clone(), Some(bucket), key);
    v4::sign(
        &mut req,
        &Credentials::new(AK, SK),
        "cn-hangzhou",
        SystemTime::now(),
        &[],
    )
    .unwrap();
    let url = format!("{endpoint}{}", req.path_and_query(AddressingStyle::Path));
    let mut rb = http.request(method, url);
    for (n, v) in &req.headers {
        if n != "host" && n != "content-length" {
            rb = rb.header(n, v);
        }
    }
    rb.send().await.unwrap()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[tokio::test]
async fn serve_installs_the_fault_rules_of_a_json_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rules.json");
    let rules = r#"{"seed": 99, "rules": [
        {"name": "throttle", "match": {"operations": ["GetObject"]},
         "fault": {"kind": "status", "status": 503, "code": "ExceedAccountQPSLimit", "qos_delay_ms": 300}}
    ]}"#;
    std::fs::write(&file, rules).unwrap();
    let s = Server::start(&dir.path().join("data"), &file);
    assert!(
        s.second_line.starts_with("fault rules: 1 from "),
        "{:?}",
        s.second_line
    );
    let http = client();
    let r = http
        .get(format!("{}/-/faults", s.endpoint))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let installed: FaultConfig = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(installed, FaultConfig::parse(rules).unwrap());
    assert_eq!(installed.seed, 99);

    // The rule is live: buckets can be made, GETs are throttled.
    assert_eq!(
        signed(&http, &s.endpoint, Method::PUT, "fbucket", None)
            .await
            .status(),
        200
    );
    let r = signed(&http, &s.endpoint, Method::GET, "fbucket", Some("k")).await;
    assert_eq!(r.status(), 503);
    assert_eq!(
        r.headers()
            .get("x-oss-qos-delay-time")
            .and_then(|v| v.to_str().ok()),
        Some("300")
    );
    let body = r.text().await.unwrap();
    assert!(
        body.contains("<Code>ExceedAccountQPSLimit</Code>"),
        "{body}"
    );
}

#[tokio::test]
async fn serve_reads_yaml_rules_and_refuses_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rules.yaml");
    std::fs::write(
        &file,
        "seed: 3\nrules:\n  - every_nth: 2\n    fault: {kind: latency, delay_ms: 5}\n",
    )
    .unwrap();
    let s = Server::start(&dir.path().join("data"), &file);
    let r = client()
        .get(format!("{}/-/faults", s.endpoint))
        .send()
        .await
        .unwrap();
    let installed: FaultConfig = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!((installed.seed, installed.rules.len()), (3, 1));
    assert_eq!(installed.rules[0].every_nth, Some(2));
    drop(s);

    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"rules": [{"probability": 3, "fault": {"kind": "reset"}}]}"#,
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ossguard"))
        .args(["serve", "--admin-open", "--addr", "127.0.0.1:0", "--data"])
        .arg(dir.path().join("data2"))
        .args(["--access-key-id", AK, "--access-key-secret", SK, "--faults"])
        .arg(&bad)
        .stdin(Stdio::null())
        .output()
        .expect("ossguard runs");
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stdout.contains("listening on"), "{stdout}");
    assert!(
        stderr.contains("bad.json") && stderr.contains("probability"),
        "{stderr}"
    );
}
