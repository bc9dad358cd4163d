//! Two `ossguard cp` processes on the same file and object: the second waits a few seconds
//! (the library's lock wait), then is refused with an error naming the checkpoint; the first
//! finishes unharmed.

mod common;

use std::time::{Duration, Instant};

use common::{output, sha256_file, write_random_file, Env};

#[tokio::test]
async fn a_second_process_on_the_same_checkpoint_gets_a_clear_error() {
    let env = Env::start().await;
    env.ok(&["mb", "oss://lock-bkt"]).await;
    let src = env.path("src.bin");
    let sha = write_random_file(&src, 24 * 1024 * 1024, 5);
    // Slow parts keep the first transfer running longer than the second waits for it (3 s).
    let rules = serde_json::json!({"seed": 1, "rules": [
        {"match": {"operations": ["UploadPart"]}, "fault": {"kind": "latency", "delay_ms": 6000}}
    ]});
    env.install_faults(rules.to_string()).await;
    let cp_dir = env.path("checkpoints");
    let args = [
        "--checkpoint-dir",
        cp_dir.to_str().unwrap(),
        "cp",
        src.to_str().unwrap(),
        "oss://lock-bkt/o",
    ];
    let mut first = env.cmd();
    first.args(args);
    let first = tokio::spawn(output(first));
    // Wait (bounded) until the first holds its checkpoint lock.
    let started = Instant::now();
    let lock = loop {
        let found = std::fs::read_dir(&cp_dir).ok().and_then(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .find(|n| n.ends_with(".json.lock"))
        });
        if let Some(n) = found {
            break n;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30) && !first.is_finished(),
            "no lock file while the first transfer ran"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let second = env.run(&args).await;
    assert_ne!(second.code, 0, "the second transfer must not run");
    let checkpoint = lock.trim_end_matches(".lock");
    assert!(
        second
            .stderr
            .contains("another transfer is using the checkpoint")
            && second.stderr.contains(checkpoint),
        "{}",
        second.stderr
    );
    let first = first.await.unwrap();
    assert_eq!(first.code, 0, "{}", first.stderr);
    env.ok(&["cp", "oss://lock-bkt/o", env.path("back").to_str().unwrap()])
        .await;
    assert_eq!(sha256_file(&env.path("back")), sha);
    let left: Vec<_> = std::fs::read_dir(&cp_dir).unwrap().flatten().collect();
    assert!(left.is_empty(), "checkpoint and lock removed: {left:?}");
}
