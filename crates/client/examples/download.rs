//! Download an object to a file with [`Client::download_file`](ossguard::Client::download_file)
//! under one deadline for the whole transfer, and what happens when the deadline passes first:
//! a typed error, and a rerun that fetches only what is missing.
//!
//! `cargo run -p ossguard --example download` runs it against an OSS emulator it starts on
//! 127.0.0.1 (no credentials, no network). To use real OSS instead set `OSS_ENDPOINT`,
//! `OSS_ACCESS_KEY_ID`, `OSS_ACCESS_KEY_SECRET` and `OSS_BUCKET` (see `common/mod.rs`); the
//! slow-link half then is skipped (it needs the emulator's fault injection).

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ossguard::pipeline::deadline::with_deadline;
use ossguard::{ErrorKind, Progress, TransferOptions, TransportFailure};
use ossguard_emulator::faults::FaultConfig;

#[tokio::main]
async fn main() -> common::Result {
    let env = common::Env::start().await?;
    let client = env.client()?;
    let key = env.key("download.bin");
    let data: Vec<u8> = (0..3u32 << 20).map(|i| (i % 253) as u8).collect();
    client
        .put_object(&env.bucket, &key, data.clone().into(), Default::default())
        .await?;

    // 256 KiB ranged GETs, two at a time (12 parts). Every GET is pinned to the object's ETag
    // and the parts' CRC-64s must combine into the object's before the file appears.
    let opts = TransferOptions {
        checkpoint_dir: Some(env.dir.path().join("checkpoints")),
        ..TransferOptions::default()
    }
    .with_part_size(256 << 10)
    .with_concurrency(2);

    // `with_deadline` bounds everything inside it: the HEAD, every ranged GET (the part tasks
    // inherit it), their retries and resumes. `Policy::deadline` bounds one operation; this is
    // "the whole download within 30 s, however it goes".
    let dest = env.dir.path().join("download.bin");
    let started = Instant::now();
    let meta = with_deadline(
        Duration::from_secs(30),
        client.download_file(&env.bucket, &key, &dest, &opts),
    )
    .await?;
    println!("downloaded {} bytes in {:?}", meta.size, started.elapsed());
    assert!(
        std::fs::read(&dest)? == data,
        "the file has the object's bytes"
    );

    let Some(emulator) = env.emulator() else {
        return Ok(()); // real OSS: no slow link on demand
    };

    // A slow link: every GET of the object answers 400 ms late. Twelve parts two at a time
    // need 2.4 s; give the download 1.5 s.
    let rules = r#"{"rules": [{"match": {"operations": ["GetObject"]},
                               "fault": {"kind": "latency", "delay_ms": 400}}]}"#;
    emulator.faults().install(FaultConfig::parse(rules)?)?;
    let slow = env.dir.path().join("slow.bin");
    let err = with_deadline(
        Duration::from_millis(1500),
        client.download_file(&env.bucket, &key, &slow, &opts),
    )
    .await
    .expect_err("2.4 s of GETs cannot fit in 1.5 s");
    println!("with a 1.5 s deadline: {err}");
    // The error says why, in a type: the deadline, not the network.
    assert!(matches!(
        err.kind(),
        ErrorKind::Transport {
            failure: TransportFailure::DeadlineExceeded,
            ..
        }
    ));
    // `slow.bin` does not exist: a download is renamed into place only when complete. The
    // finished parts are kept (`slow.bin.ossguard-tmp` and the checkpoint) for a rerun.
    assert!(!slow.exists());

    // The link is back: the rerun fetches only the missing parts.
    emulator.faults().clear();
    let reports = Arc::new(Mutex::new(Vec::new()));
    let rerun = opts.with_progress({
        let reports = reports.clone();
        move |p: Progress| reports.lock().unwrap().push(p)
    });
    client
        .download_file(&env.bucket, &key, &slow, &rerun)
        .await?;
    let first = reports.lock().unwrap()[0];
    println!(
        "rerun: {} of {} parts were already there",
        first.parts_done, first.parts_total
    );
    assert!(first.parts_done > 0, "the rerun resumed: {first:?}");
    assert!(std::fs::read(&slow)? == data);
    Ok(())
}
