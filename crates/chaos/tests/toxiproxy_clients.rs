//! The real toxiproxy clients drive the chaos API: toxiproxy-node-client 4.1.0 and
//! toxiproxy-python 0.1.1, installed by `peers/install` into `.tools/`. Each runs its script
//! from `peers/` against an API started in-process here and reports JSON, checked below.
//!
//! A missing client fails under `CI=true`, and is a loud skip otherwise.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use ossguard_chaos::Chaos;
use serde_json::Value;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

fn missing(what: &str) {
    let msg = format!("{what} is not installed: run ./peers/install");
    if ci() {
        panic!("{msg} (CI=true: a missing toxiproxy client is a failure)");
    }
    eprintln!("\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!");
    eprintln!("!!! SKIPPED: {msg}");
    eprintln!("!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n");
}

/// Runs a check script against a fresh API and returns its JSON report.
async fn run(program: &Path, script: &str, env: &[(&str, PathBuf)]) -> Value {
    let chaos = Chaos::new();
    let api = chaos.serve_api("127.0.0.1:0").await.unwrap();
    let root = repo_root();
    let mut cmd = tokio::process::Command::new(program);
    cmd.arg(root.join("peers").join(script))
        .current_dir(&root)
        .env("TOXIPROXY_URL", api.url())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .unwrap_or_else(|_| panic!("{script} did not finish in 120 s"))
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'));
    let report: Value = line
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| {
            panic!(
                "{script} printed no JSON report (exit {:?})\nstdout:\n{stdout}\nstderr:\n{stderr}",
                out.status.code()
            )
        });
    println!("{script}: {report}");
    assert!(
        out.status.success(),
        "{script} exited {:?}\n{stderr}",
        out.status.code()
    );
    chaos.shutdown().await;
    report
}

fn assert_report(r: &Value) {
    let errors = &r["errors"];
    assert_eq!(r["ok"], true, "{}: {errors}", r["client"]);
    for check in [
        "version",
        "create",
        "get",
        "get_missing_404",
        "latency_toxic_shape",
        "latency",
        "latency_removed",
        "reset_peer",
        "reset_peer_removed",
        "disable",
        "enable",
        "populate",
        "reset",
    ] {
        assert_eq!(
            r["checks"][check], true,
            "{}: check {check} missing or failed: {errors}",
            r["client"]
        );
    }
    let added = r["added_latency_ms"].as_f64().expect("added_latency_ms");
    assert!(
        (80.0..=120.0).contains(&added),
        "{}: added latency {added} ms",
        r["client"]
    );
    assert_eq!(r["reset_error"], "ECONNRESET");
    assert_eq!(r["disabled_error"], "ECONNREFUSED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toxiproxy_python_client_drives_the_api() {
    let python = repo_root().join(".tools/venv/bin/python");
    let installed = python.exists()
        && std::process::Command::new(&python)
            .args(["-c", "import toxiproxy"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if !installed {
        return missing("toxiproxy-python (.tools/venv)");
    }
    let r = run(&python, "toxiproxy_python_check.py", &[]).await;
    assert_eq!(r["client_version"], "0.1.1");
    assert_report(&r);
    assert_eq!(r["checks"]["create_duplicate"], true);
    assert_eq!(r["checks"]["down_context"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toxiproxy_node_client_drives_the_api() {
    let modules = repo_root().join(".tools/node/node_modules");
    let node_ok = std::process::Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !node_ok || !modules.join("toxiproxy-node-client/package.json").exists() {
        return missing("toxiproxy-node-client (.tools/node) or node");
    }
    let r = run(
        Path::new("node"),
        "toxiproxy_node_check.js",
        &[("NODE_PATH", modules)],
    )
    .await;
    assert_eq!(r["client_version"], "4.1.0");
    assert_report(&r);
    assert_eq!(r["checks"]["update_toxic"], true);
    assert_eq!(r["checks"]["disable_response"], true);
}
