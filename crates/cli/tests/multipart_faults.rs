//! `ossguard cp` at default flags against the emulator's fault rules (installed over HTTP with
//! `PUT /-/faults`, as a user of `ossguard serve` would) on the multipart control operations:
//! a 48 MiB upload is six 8 MiB parts, so Initiate and Complete each run once.

mod common;

use common::{sha256_file, write_random_file, Env};

const SIZE: usize = 48 * 1024 * 1024;

async fn install(env: &Env, rules: serde_json::Value) {
    env.install_faults(rules.to_string()).await;
}

/// Faults injected since the rules were installed.
async fn injected(env: &Env) -> u64 {
    env.fault_stats().await["injected"].as_u64().unwrap()
}

/// One fault, once, on `op`.
fn once(op: &str, fault: serde_json::Value) -> serde_json::Value {
    serde_json::json!({"seed": 1, "rules": [
        {"limit": 1, "match": {"operations": [op]}, "fault": fault}
    ]})
}

/// Uploads a 48 MiB file with `cp` under `rules`, then downloads it and compares.
async fn cp_under(env: &Env, name: &str, rules: serde_json::Value) {
    env.ok(&["mb", &format!("oss://{name}")]).await;
    let src = env.path(&format!("{name}.bin"));
    let sha = write_random_file(&src, SIZE, 48);
    install(env, rules).await;
    let url = format!("oss://{name}/big.bin");
    let out = env.run(&["cp", src.to_str().unwrap(), &url]).await;
    assert_eq!(
        out.code, 0,
        "cp under one fault failed:\n{}\n{}",
        out.stderr, out.stdout
    );
    assert_eq!(injected(env).await, 1, "the fault fired");
    env.ok(&["cp", &url, env.path("back.bin").to_str().unwrap()])
        .await;
    assert_eq!(sha256_file(&env.path("back.bin")), sha, "object identical");
}

#[tokio::test]
async fn one_500_on_initiate_is_retried() {
    let env = Env::start().await;
    let rules = once(
        "InitiateMultipartUpload",
        serde_json::json!({"kind": "status", "status": 500}),
    );
    cp_under(&env, "mpf-init", rules).await;
    // A 500 before processing created nothing: no upload is left behind.
    let left = env
        .client()
        .list_multipart_uploads("mpf-init", "")
        .await
        .unwrap();
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn complete_whose_response_is_reset_after_processing_succeeds() {
    let env = Env::start().await;
    let rules = once(
        "CompleteMultipartUpload",
        serde_json::json!({"kind": "reset", "after_processing": true}),
    );
    cp_under(&env, "mpf-complete", rules).await;
}

/// An Initiate executed whose answer was lost: the retry creates a second upload and the
/// transfer completes with it; the first, empty one is left for the lifecycle rule (see
/// `Operation::is_retry_safe`) — it holds no parts.
#[tokio::test]
async fn initiate_whose_answer_was_lost_leaves_an_empty_orphan() {
    let env = Env::start().await;
    let rules = once(
        "InitiateMultipartUpload",
        serde_json::json!({"kind": "reset", "after_processing": true}),
    );
    cp_under(&env, "mpf-orphan", rules).await;
    let c = env.client();
    let left = c.list_multipart_uploads("mpf-orphan", "").await.unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    let parts = c
        .list_parts("mpf-orphan", &left[0].key, &left[0].upload_id)
        .await
        .unwrap();
    assert!(parts.is_empty(), "{parts:?}");
}
