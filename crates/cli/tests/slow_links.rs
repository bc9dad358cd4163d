//! Slow and stalled links, CLI at default flags against the server's own fault rules
//! (`PUT /-/faults`), issue 9:
//!
//! * a GET whose body drips at 3 KB/s after its first 1 MB → the download is identical within
//!   30 s, for a 3 MB (one GET) and a 48 MB (parallel ranged GETs) object. The drip rule hits
//!   the first **two** GetObject requests (`limit: 2`): a rule that hit every GET, resumes
//!   included, could never finish — every resume would drip after its own first megabyte. Two
//!   hits show that a resume is guarded like the first connection (3 MB: the GET and its first
//!   resume; 48 MB: two of the parallel ranges);
//! * an upload whose connection stops being read after 1 MB (`stall_request_body`, 120 s,
//!   first hit only) → the upload completes within 30 s, for a 3 MB PutObject and a 48 MB
//!   multipart upload.
//!
//! Old main: the drips ran for minutes (nothing bounded a body), the stalled upload waited for
//! its deadline (30 s + size at 1 MiB/s) before retrying.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{sha256_file, write_random_file, Env};

const MB: usize = 1_000_000;

async fn install(env: &Env, rules: &str) {
    let r = reqwest::Client::new()
        .put(format!("{}/-/faults", env.endpoint()))
        .header("content-type", "application/json")
        .body(rules.to_owned())
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}

async fn injected(env: &Env) -> u64 {
    let text = reqwest::get(format!("{}/-/faults/stats", env.endpoint()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["injected"].as_u64().unwrap()
}

/// Uploads a random file of `size` bytes as `oss://slow/<name>` (before any fault).
async fn seed(env: &Env, name: &str, size: usize) -> (std::path::PathBuf, String) {
    let src = env.path(name);
    let sha = write_random_file(&src, size, size as u64);
    env.ok(&["mb", "oss://slow"]).await;
    env.ok(&["cp", src.to_str().unwrap(), &format!("oss://slow/{name}")])
        .await;
    (src, sha)
}

/// Runs `ossguard cp` at default flags and returns how long it took.
async fn timed_cp(env: &Env, from: &str, to: &str) -> Duration {
    let t = Instant::now();
    env.ok(&["cp", from, to]).await;
    t.elapsed()
}

async fn drip(size: usize) {
    let env = Env::start().await;
    let name = format!("drip-{size}");
    let (_, sha) = seed(&env, &name, size).await;
    install(
        &env,
        r#"{"rules": [{"limit": 2, "match": {"operations": ["GetObject"]},
            "fault": {"kind": "slow_drip", "bytes_per_sec": 3000, "after_bytes": 1000000}}]}"#,
    )
    .await;
    let dest = env.path("got");
    let took = timed_cp(&env, &format!("oss://slow/{name}"), dest.to_str().unwrap()).await;
    println!("{size} B download, first 2 GETs dripping at 3 KB/s after 1 MB: {took:?}");
    assert_eq!(injected(&env).await, 2, "the drip bit twice");
    assert_eq!(sha256_file(&dest), sha, "download differs");
    assert!(took < Duration::from_secs(30), "took {took:?}");
    env.emu.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dripping_get_3mb_completes_within_30s() {
    drip(3 * MB).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dripping_get_48mb_completes_within_30s() {
    drip(48 * MB).await;
}

async fn stalled_upload(size: usize, op: &str) {
    let env = Env::start().await;
    env.ok(&["mb", "oss://slow"]).await;
    let src = env.path("src");
    let sha = write_random_file(&src, size, 7);
    install(
        &env,
        &format!(
            r#"{{"rules": [{{"limit": 1, "match": {{"operations": ["{op}"]}},
                "fault": {{"kind": "stall_request_body", "after_bytes": 1000000, "stall_ms": 120000}}}}]}}"#
        ),
    )
    .await;
    let took = timed_cp(&env, src.to_str().unwrap(), "oss://slow/up").await;
    println!("{size} B upload ({op}), first request body stalled after 1 MB: {took:?}");
    assert_eq!(injected(&env).await, 1, "the stall bit");
    let back = env.path("back");
    env.ok(&["cp", "oss://slow/up", back.to_str().unwrap()])
        .await;
    assert_eq!(sha256_file(Path::new(&back)), sha, "upload differs");
    assert!(took < Duration::from_secs(30), "took {took:?}");
    env.emu.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_put_3mb_completes_within_30s() {
    stalled_upload(3 * MB, "PutObject").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_multipart_48mb_completes_within_30s() {
    stalled_upload(48 * MB, "UploadPart").await;
}
