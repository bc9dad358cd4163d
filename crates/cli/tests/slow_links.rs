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
    env.install_faults(rules.to_owned()).await;
}

async fn injected(env: &Env) -> u64 {
    env.fault_stats().await["injected"].as_u64().unwrap()
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

/// Runs an `ossguard` command against `endpoint` (a proxy) with a generous bound.
async fn run_via(env: &Env, endpoint: &str, args: &[&str]) -> (i32, String, Duration) {
    let mut c = env.bare();
    c.arg("--endpoint")
        .arg(endpoint)
        .env("OSS_ACCESS_KEY_ID", common::AK)
        .env("OSS_ACCESS_KEY_SECRET", common::SK)
        .args(args);
    let t = Instant::now();
    let o = tokio::time::timeout(Duration::from_secs(420), c.output())
        .await
        .expect("finished within 420 s")
        .expect("ossguard runs");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).into_owned(),
        t.elapsed(),
    )
}

/// Through `ossguard chaos` (in-process, the same proxy): 200 ms latency and 1 Mbit/s
/// (125 KB/s) each way — toxics act per connection and direction — a 20 MiB upload and a
/// 20 MiB download at default flags, concurrently. Old main failed every part: its upload
/// deadline assumed 1 MiB/s and reqwest's 10 s read timeout ran from the start of a request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chaos_1mbit_200ms_20mib_up_and_down_complete() {
    use ossguard_chaos::{Chaos, NewToxic, ProxyConfig, Stream, ToxicKind};
    let env = Env::start().await;
    env.ok(&["mb", "oss://slow"]).await;
    let size = 20 << 20;
    let down_src = env.path("down-src");
    let down_sha = write_random_file(&down_src, size, 11);
    env.ok(&["cp", down_src.to_str().unwrap(), "oss://slow/down"])
        .await;
    let up_src = env.path("up-src");
    let up_sha = write_random_file(&up_src, size, 12);

    let chaos = Chaos::new();
    let upstream = env.endpoint().trim_start_matches("http://").to_owned();
    let info = chaos
        .create_proxy(ProxyConfig::new("oss", upstream))
        .await
        .unwrap();
    for (stream, kind) in [
        (
            Stream::Downstream,
            ToxicKind::Latency {
                latency: 200,
                jitter: 0,
            },
        ),
        (Stream::Downstream, ToxicKind::Bandwidth { rate: 125 }),
        (Stream::Upstream, ToxicKind::Bandwidth { rate: 125 }),
    ] {
        let mut t = NewToxic::new(kind);
        t.stream = stream;
        chaos.add_toxic("oss", t).await.unwrap();
    }
    let via = format!("http://{}", info.listen);
    let got = env.path("down-got");
    let up_args = ["cp", up_src.to_str().unwrap(), "oss://slow/up"];
    let down_args = ["cp", "oss://slow/down", got.to_str().unwrap()];
    let (up, down) = tokio::join!(
        run_via(&env, &via, &up_args),
        run_via(&env, &via, &down_args),
    );
    println!(
        "chaos 200 ms + 1 Mbit/s each way, 20 MiB concurrently: upload {:?} (exit {}), download {:?} (exit {})",
        up.2, up.0, down.2, down.0
    );
    assert_eq!(up.0, 0, "upload failed: {}", up.1);
    assert_eq!(down.0, 0, "download failed: {}", down.1);
    assert_eq!(sha256_file(&got), down_sha, "download differs");
    let back = env.path("up-back");
    env.ok(&["cp", "oss://slow/up", back.to_str().unwrap()])
        .await;
    assert_eq!(sha256_file(&back), up_sha, "upload differs");
    chaos.shutdown().await;
    env.emu.shutdown().await.unwrap();
}
