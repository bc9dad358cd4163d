//! Upload a file with [`Client::upload_file`](ossguard::Client::upload_file): parts in
//! parallel, progress reports, and a resume after an interruption that sends only the parts
//! the server does not have yet.
//!
//! `cargo run -p ossguard --example upload` runs it against an OSS emulator it starts on
//! 127.0.0.1 (no credentials, no network). To use real OSS instead set `OSS_ENDPOINT`,
//! `OSS_ACCESS_KEY_ID`, `OSS_ACCESS_KEY_SECRET` and `OSS_BUCKET` (see `common/mod.rs`).

mod common;

use std::sync::{Arc, Mutex};

use ossguard::{Progress, TransferOptions};
use tokio::sync::Notify;

#[tokio::main]
async fn main() -> common::Result {
    let env = common::Env::start().await?;
    let client = env.client()?;
    let key = env.key("upload.bin");

    // A 3 MiB file.
    let path = env.dir.path().join("upload.bin");
    let data: Vec<u8> = (0..3u32 << 20).map(|i| (i % 251) as u8).collect();
    std::fs::write(&path, &data)?;

    // 256 KiB parts (OSS takes 100 KiB at least), two in flight: 12 parts, each streamed
    // from disk. Resumable is the default: a checkpoint file records every finished part.
    // It lives in `~/.ossguard/checkpoints` unless told otherwise; here, in the scratch dir.
    let opts = TransferOptions {
        checkpoint_dir: Some(env.dir.path().join("checkpoints")),
        ..TransferOptions::default()
    }
    .with_part_size(256 << 10)
    .with_concurrency(2);

    // First run: stop it after 4 parts, as a crash or Ctrl-C would. Dropping the future is
    // enough — the multipart upload and the checkpoint stay behind for the rerun.
    let stop = Arc::new(Notify::new());
    let first_run = opts.clone().with_progress({
        let stop = stop.clone();
        move |p: Progress| {
            println!("first run: {}/{} parts", p.parts_done, p.parts_total);
            if p.parts_done == 4 {
                stop.notify_one();
            }
        }
    });
    tokio::select! {
        biased;
        _ = stop.notified() => println!("first run: interrupted"),
        done = client.upload_file(&path, &env.bucket, &key, &first_run) => {
            done?;
            return Err("the upload finished before it could be interrupted".into());
        }
    }

    // Second run, same file, key and options: it finds the checkpoint, checks with
    // ListParts that those parts are still on the server, and sends only the rest. The
    // first progress report says what it already had.
    let reports = Arc::new(Mutex::new(Vec::new()));
    let second_run = opts.with_progress({
        let reports = reports.clone();
        move |p: Progress| {
            println!(
                "second run: {}/{} parts, {} of {} bytes",
                p.parts_done, p.parts_total, p.bytes_done, p.bytes_total
            );
            reports.lock().unwrap().push(p);
        }
    });
    let out = client
        .upload_file(&path, &env.bucket, &key, &second_run)
        .await?;
    println!("uploaded {key}: etag {}", out.etag);

    let (first, last) = {
        let reports = reports.lock().unwrap();
        (reports[0], reports[reports.len() - 1])
    };
    assert!(first.parts_done >= 4, "the rerun resumed: {first:?}");
    assert_eq!(last.bytes_done, data.len() as u64);
    println!(
        "resumed with {} parts already uploaded; sent {} more",
        first.parts_done,
        last.parts_done - first.parts_done
    );

    // Every part's CRC-64 and the whole object's were checked during the upload; read it back
    // anyway to show the round trip.
    let back = client
        .get_object(&env.bucket, &key, Default::default())
        .await?
        .bytes()
        .await?;
    assert!(back == data, "the object has the file's bytes");
    Ok(())
}
