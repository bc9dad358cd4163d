//! The engine through its library API against the in-process emulator: a sync dropped midway
//! (what a killed process looks like to the server) resumes its multipart uploads from their
//! checkpoints, counted by the server.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use ossguard::{Client, Credentials, TransferOptions};
use ossguard_emulator::server::{Emulator, EmulatorConfig};
use ossguard_sync::{sync, Event, Location, SyncOptions};

const AK: &str = "sync-test-ak";
const SK: &str = "sync-test-sk";
const PART: u64 = 256 * 1024;
const BIG: usize = 3 << 20;

fn bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut s = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        out.extend_from_slice(&s.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A temporary directory, an emulator keeping its data there (no fsync) and a client of it.
async fn start() -> (tempfile::TempDir, Emulator, Client) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = EmulatorConfig::local(dir.path().join("data"), AK, SK);
    cfg.sync = false;
    let emu = Emulator::start(cfg).await.unwrap();
    let client = Client::builder()
        .endpoint(emu.endpoint())
        .credentials(Credentials::new(AK, SK))
        .build()
        .unwrap();
    (dir, emu, client)
}

/// `ossguard_server_requests_total` by operation, from the server's own registry.
fn server_requests(emu: &Emulator) -> BTreeMap<String, u64> {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, emu.state().metrics().registry()).unwrap();
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("ossguard_server_requests_total{") else {
            continue;
        };
        let op = rest
            .split("operation=\"")
            .nth(1)
            .and_then(|s| s.split('"').next());
        let n: f64 = rest.rsplit(' ').next().unwrap().parse().unwrap();
        *out.entry(op.unwrap().to_owned()).or_insert(0) += n as u64;
    }
    out
}

fn count(m: &BTreeMap<String, u64>, op: &str) -> u64 {
    m.get(op).copied().unwrap_or(0)
}

fn read_tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for e in walkdir::WalkDir::new(root).min_depth(1) {
        let e = e.unwrap();
        if e.file_type().is_file() {
            let rel = e
                .path()
                .strip_prefix(root)
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            out.insert(rel, std::fs::read(e.path()).unwrap());
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_sync_resumes_multipart_uploads_from_checkpoints() {
    let (dir, emu, client) = start().await;
    client
        .create_bucket("bkt", Default::default())
        .await
        .unwrap();

    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("big")).unwrap();
    for i in 0..4 {
        std::fs::write(src.join(format!("big/{i}.bin")), bytes(BIG, i)).unwrap();
    }
    for i in 0..20 {
        std::fs::write(
            src.join(format!("small-{i}")),
            bytes(1000 + i, 100 + i as u64),
        )
        .unwrap();
    }
    let parts_total = 4 * (BIG as u64).div_ceil(PART);

    let moved = Arc::new(AtomicU64::new(0));
    let halfway = Arc::new(tokio::sync::Notify::new());
    let (m, h) = (moved.clone(), halfway.clone());
    let mut transfer = TransferOptions::default()
        .with_part_size(PART)
        .with_concurrency(2);
    transfer.checkpoint_dir = Some(dir.path().join("checkpoints"));
    let opts = SyncOptions {
        jobs: 2,
        transfer,
        events: Some(Arc::new(move |e: &Event<'_>| {
            if let Event::Progress(n) = e {
                if m.fetch_add(*n, Ordering::Relaxed) + n >= 5 << 20 {
                    h.notify_one();
                }
            }
        })),
        ..Default::default()
    };
    let dst = Location::oss("bkt", "tree");
    let src_l = Location::Local(src.clone());

    // Dropped once 5 of the 12 MiB went up: parts in flight are lost, finished ones kept.
    tokio::select! {
        r = sync(&client, &src_l, &dst, &opts) => panic!("finished before the drop: {r:?}"),
        _ = halfway.notified() => {}
    }
    let before = server_requests(&emu);
    let first_parts = count(&before, "UploadPart");
    assert!(
        first_parts > 0 && first_parts < parts_total,
        "{first_parts}"
    );

    let s = sync(&client, &src_l, &dst, &opts).await.unwrap();
    let after = server_requests(&emu);
    assert_eq!(s.failed, 0, "{s:?}");
    let rerun_parts = count(&after, "UploadPart") - first_parts;
    // In flight at the drop: at most jobs × per-file concurrency parts.
    assert!(
        first_parts + rerun_parts <= parts_total + 4,
        "parts sent twice beyond those in flight: {first_parts} + {rerun_parts} of {parts_total}"
    );
    assert!(
        rerun_parts < parts_total,
        "the rerun resumed: {rerun_parts}"
    );
    eprintln!(
        "dropped after {first_parts} parts; the rerun sent {rerun_parts} of {parts_total} \
         ({} files copied, {} skipped)",
        s.copied, s.skipped
    );

    // In line now: nothing to do, and a pull mirrors it back byte for byte.
    let s = sync(&client, &src_l, &dst, &opts).await.unwrap();
    assert_eq!((s.copied, s.failed), (0, 0), "{s:?}");
    let back = dir.path().join("back");
    let s = sync(&client, &dst, &Location::Local(back.clone()), &opts)
        .await
        .unwrap();
    assert_eq!(s.copied, 24, "{s:?}");
    assert!(read_tree(&src) == read_tree(&back));
    assert!(
        std::fs::read_dir(dir.path().join("checkpoints"))
            .unwrap()
            .next()
            .is_none()
            || std::fs::read_dir(dir.path().join("checkpoints"))
                .unwrap()
                .all(|e| e.unwrap().path().extension().is_some_and(|x| x == "lock")),
        "every checkpoint was used up"
    );
}

/// OSS → OSS goes through `Client::copy_large`: objects above the copy threshold are copied in
/// UploadPartCopy parts (counted by the server), smaller ones with one CopyObject; metadata
/// (the recorded `x-oss-meta-mtime`) and bytes arrive intact, and a rerun copies nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oss_to_oss_copies_large_objects_in_parts() {
    let (_dir, emu, client) = start().await;
    for b in ["src-bkt", "dst-bkt"] {
        client.create_bucket(b, Default::default()).await.unwrap();
    }
    let big = bytes(BIG, 1);
    let small = bytes(100 * 1024, 2);
    let meta = ossguard::PutObjectOptions {
        metadata: BTreeMap::from([("mtime".to_owned(), "1700000000.5".to_owned())]),
        ..Default::default()
    };
    for (key, data) in [("tree/big.bin", &big), ("tree/d/small.bin", &small)] {
        client
            .put_object("src-bkt", key, data.clone().into(), meta.clone())
            .await
            .unwrap();
    }
    // Copies land in a later second than their sources (the size + Last-Modified rule).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let mut transfer = TransferOptions::default()
        .with_part_size(PART)
        .with_concurrency(3);
    transfer.copy_threshold = 1 << 20;
    let opts = SyncOptions {
        transfer,
        ..Default::default()
    };
    let (src, dst) = (
        Location::oss("src-bkt", "tree"),
        Location::oss("dst-bkt", "copy"),
    );
    let before = server_requests(&emu);
    let s = sync(&client, &src, &dst, &opts).await.unwrap();
    let after = server_requests(&emu);
    assert_eq!(
        (s.copied, s.failed, s.bytes),
        (2, 0, (BIG + 100 * 1024) as u64),
        "{s:?}"
    );
    let delta = |op: &str| count(&after, op) - count(&before, op);
    assert_eq!(delta("UploadPartCopy"), (BIG as u64).div_ceil(PART));
    assert_eq!(delta("CopyObject"), 1);
    assert_eq!(delta("CompleteMultipartUpload"), 1);
    for (key, data) in [("copy/big.bin", &big), ("copy/d/small.bin", &small)] {
        let got = client
            .get_object("dst-bkt", key, Default::default())
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert!(got[..] == data[..], "{key}");
        let m = client.head_object("dst-bkt", key).await.unwrap();
        assert_eq!(
            m.metadata.get("mtime").map(String::as_str),
            Some("1700000000.5")
        );
    }
    assert!(client
        .list_multipart_uploads("dst-bkt", "")
        .await
        .unwrap()
        .is_empty());
    let s = sync(&client, &src, &dst, &opts).await.unwrap();
    assert_eq!((s.copied, s.skipped, s.failed), (0, 2, 0), "{s:?}");
}

/// A sync dropped while the server holds the answer to a Complete it has carried out leaves
/// the upload's checkpoint (a rerun of the transfer would recognise the object by it); the next
/// sync finds the file in line, skips it and drops that checkpoint, which nothing else would
/// ever use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_found_in_line_loses_the_checkpoint_of_its_interrupted_upload() {
    let (dir, emu, client) = start().await;
    client
        .create_bucket("bkt", Default::default())
        .await
        .unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("big.bin"), bytes(BIG, 7)).unwrap();
    let cp_dir = dir.path().join("checkpoints");
    let mut transfer = TransferOptions::default().with_part_size(PART);
    transfer.checkpoint_dir = Some(cp_dir.clone());
    let opts = SyncOptions {
        transfer,
        ..Default::default()
    };
    let (src_l, dst) = (Location::Local(src.clone()), Location::oss("bkt", "t"));
    let hold = r#"{"rules": [{"match": {"operations": ["CompleteMultipartUpload"]}, "limit": 1,
        "fault": {"kind": "stall_before_headers", "stall_ms": 3000}}]}"#;
    emu.faults()
        .install(ossguard_emulator::faults::FaultConfig::parse(hold).unwrap())
        .unwrap();
    tokio::select! {
        r = sync(&client, &src_l, &dst, &opts) => panic!("finished before the drop: {r:?}"),
        fired = emu.faults().wait_injected(1, std::time::Duration::from_secs(10)) => {
            assert!(fired, "no Complete within 10 s");
        }
    }
    let checkpoints = || -> Vec<String> {
        std::fs::read_dir(&cp_dir)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.ends_with(".json"))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(
        checkpoints().len(),
        1,
        "the dropped upload keeps its checkpoint"
    );
    emu.faults().clear();

    let s = sync(&client, &src_l, &dst, &opts).await.unwrap();
    assert_eq!((s.copied, s.skipped, s.failed), (0, 1, 0), "{s:?}");
    assert!(checkpoints().is_empty(), "{:?}", checkpoints());
    assert!(client
        .list_multipart_uploads("bkt", "")
        .await
        .unwrap()
        .is_empty());
}
