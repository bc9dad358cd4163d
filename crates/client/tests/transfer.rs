//! Resumable transfers (`upload_file` / `download_file` / `upload_stream`) against the in-process
//! emulator on 127.0.0.1.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ossguard::{Client, Credentials, Progress, TransferOptions};
use ossguard_emulator::faults::FaultConfig;
use ossguard_emulator::server::{Emulator, EmulatorConfig};
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

const AK: &str = "transfer-ak";
const SK: &str = "transfer-sk";
const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;

struct Env {
    emu: Emulator,
    c: Client,
    dir: tempfile::TempDir,
    bucket: &'static str,
}

impl Env {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = EmulatorConfig::local(dir.path().join("data"), AK, SK);
        cfg.sync = false;
        let emu = Emulator::start(cfg).await.unwrap();
        let c = Client::builder()
            .endpoint(emu.endpoint())
            .credentials(Credentials::new(AK, SK))
            .build()
            .unwrap();
        c.create_bucket("xfer", Default::default()).await.unwrap();
        std::fs::create_dir_all(dir.path().join("files")).unwrap();
        Env {
            emu,
            c,
            dir,
            bucket: "xfer",
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join("files").join(name)
    }

    /// Temporary files of downloads left in `files/` (any writer's, see `TEMP_SUFFIX`).
    fn temp_files(&self) -> Vec<String> {
        std::fs::read_dir(self.path(""))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(ossguard::transfer::TEMP_SUFFIX))
            .collect()
    }

    fn cp_dir(&self) -> PathBuf {
        self.dir.path().join("checkpoints")
    }

    /// Checkpoint lock files: each exists while a transfer or its checkpoint write holds it.
    fn locks(&self) -> impl Iterator<Item = PathBuf> {
        std::fs::read_dir(self.cp_dir())
            .into_iter()
            .flatten()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "lock"))
    }

    /// Checkpoint files currently on disk (not the temporary files of a write that a dropped
    /// transfer left running on the blocking pool).
    fn checkpoints(&self) -> Vec<PathBuf> {
        match std::fs::read_dir(self.cp_dir()) {
            Ok(rd) => rd
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "json"))
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    fn opts(&self, part_size: u64, concurrency: usize) -> TransferOptions {
        TransferOptions {
            checkpoint_dir: Some(self.cp_dir()),
            ..TransferOptions::default()
                .with_part_size(part_size)
                .with_concurrency(concurrency)
        }
    }

    fn write(&self, name: &str, data: &[u8]) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, data).unwrap();
        p
    }

    async fn put(&self, key: &str, bytes: &[u8]) -> ossguard::PutObjectOutput {
        self.c
            .put_object(self.bucket, key, bytes.to_vec().into(), Default::default())
            .await
            .unwrap()
    }

    async fn object_sha(&self, key: &str) -> String {
        let b = self
            .c
            .get_object(self.bucket, key, Default::default())
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        sha(&b)
    }

    async fn open_uploads(&self) -> Vec<String> {
        self.c
            .list_multipart_uploads(self.bucket, "")
            .await
            .unwrap()
            .into_iter()
            .map(|u| u.upload_id)
            .collect()
    }
}

fn sha(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Deterministic bytes that differ from part to part (a misplaced part cannot go unnoticed).
fn data(len: u64, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len as usize);
    while (out.len() as u64) < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len as usize);
    out
}

/// Records every progress report.
fn recorder(opts: &mut TransferOptions) -> Arc<Mutex<Vec<Progress>>> {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    opts.progress = Some(Arc::new(move |p| l.lock().unwrap().push(p)));
    log
}

/// Progress that fires the returned stop once `after` parts are done, with the server holding
/// back the rest of the transfer: `operation` requests (`UploadPart` or `GetObject`) beyond the
/// first few are blackholed (read, never answered or executed; reset when [`interrupt`] lifts
/// the rule). So the transfer cannot finish before the stop however slowly the checkpoint that
/// reports parts is written (CI once saw all nine parts of a download land before its first
/// checkpoint fsync; the stop came during the final rename, which runs to its end), and no part
/// lands after the interruption. Exactly `after` UploadParts go through (a part is sent twice
/// only after 10 s without an answer); a download's ranged GETs may be hedged (a hedge takes a
/// pass), so all but the last of its `parts` do.
fn stopper(env: &Env, opts: &mut TransferOptions, after: u32, operation: &str, parts: u32) -> Stop {
    let pass = match operation {
        "UploadPart" => after,
        _ => parts - 1,
    };
    let hold = serde_json::json!({"rules": [{
        "match": {"operations": [operation]},
        "skip_first": pass,
        "fault": {"kind": "outage", "refuse_ms": 0},
    }]});
    env.emu
        .faults()
        .install(FaultConfig::parse(&hold.to_string()).unwrap())
        .unwrap();
    let stop = Stop {
        notify: Arc::new(Notify::new()),
        parts: Arc::new(AtomicU32::new(0)),
    };
    let s = stop.clone();
    opts.progress = Some(Arc::new(move |p: Progress| {
        s.parts.fetch_max(p.parts_done, Ordering::SeqCst);
        if p.parts_done >= after {
            s.notify.notify_one();
        }
    }));
    stop
}

#[derive(Clone)]
struct Stop {
    notify: Arc<Notify>,
    /// Most parts reported done before the interruption.
    parts: Arc<AtomicU32>,
}

/// Runs `fut` until `stop` fires, then drops it (as a killed process would), lifts the
/// stopper's hold and waits until the checkpoint lock is released: a checkpoint write the
/// dropped transfer left on the blocking pool holds the lock until it has landed, so the test
/// then sees the checkpoint a rerun would. Returns how many parts the transfer had reported
/// done; panics if it finished first.
async fn interrupt<T, F: Future<Output = T>>(env: &Env, fut: F, stop: Stop) -> u32 {
    tokio::select! {
        biased;
        _ = stop.notify.notified() => {}
        _ = fut => panic!("the transfer finished before the interruption"),
    }
    env.emu.faults().clear();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while env.locks().next().is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "a checkpoint write of the dropped transfer still runs after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.parts.load(Ordering::SeqCst)
}

/// A part is reported done once a checkpoint records it, so a rerun resumes at least the parts
/// reported; the checkpoint write under way when the future was dropped may add a few more.
fn assert_resumed(resumed: u32, reported: u32) {
    assert!(
        resumed >= reported,
        "resumed {resumed} parts, {reported} were reported done"
    );
}

/// `(parts resumed, parts transferred)` as the progress log tells it.
fn resumed_and_sent(log: &[Progress]) -> (u32, u32) {
    let first = log.first().expect("an initial progress report");
    let last = log.last().unwrap();
    assert_eq!(last.parts_done, last.parts_total, "{log:?}");
    assert_eq!(last.bytes_done, last.bytes_total, "{log:?}");
    assert!(
        log.windows(2)
            .all(|w| w[1].parts_done == w[0].parts_done + 1 && w[1].bytes_done > w[0].bytes_done),
        "{log:?}"
    );
    (first.parts_done, log.len() as u32 - 1)
}

#[tokio::test]
async fn round_trips_at_the_edges() {
    let env = Env::new().await;
    let t = 100 * KIB; // part size = threshold = the minimum part size
    let opts = env.opts(t, 3);
    for (i, (len, key)) in [
        (0, "empty"),
        (1, "one"),
        (t - 1, "below"),
        (t, "at-threshold"),
        (t + 1, "above"),
        (3 * t + 17, "dir/ünï cödé +%.bin"),
    ]
    .into_iter()
    .enumerate()
    {
        let bytes = data(len, i as u64);
        let src = env.write(&format!("src-{i}"), &bytes);
        let out = env
            .c
            .upload_file(&src, env.bucket, key, &opts)
            .await
            .unwrap();
        let multipart = len >= t;
        assert_eq!(
            out.etag.contains('-'),
            multipart,
            "{len} bytes: {}",
            out.etag
        );
        if multipart {
            let parts = len.div_ceil(t);
            assert!(out.etag.ends_with(&format!("-{parts}\"")), "{}", out.etag);
        }
        assert_eq!(
            out.crc64,
            Some(ossguard_proto::crc64::checksum(&bytes)),
            "{key}"
        );
        assert_eq!(env.object_sha(key).await, sha(&bytes), "{key}");

        let dst = env.path(&format!("dst-{i}"));
        let meta = env
            .c
            .download_file(env.bucket, key, &dst, &opts)
            .await
            .unwrap();
        assert_eq!(meta.size, len);
        assert_eq!(sha(&std::fs::read(&dst).unwrap()), sha(&bytes), "{key}");
        assert_eq!(env.temp_files(), Vec::<String>::new(), "{key}");
    }
    assert!(env.open_uploads().await.is_empty());
    assert!(env.checkpoints().is_empty(), "{:?}", env.checkpoints());
}

#[tokio::test]
async fn large_file_in_parallel_parts() {
    let env = Env::new().await;
    let len = 25 * MIB + 12_345;
    let bytes = data(len, 7);
    let src = env.write("big", &bytes);
    let mut opts = env.opts(MIB, 4);
    opts.put.content_type = Some("application/x-big".into());
    let log = recorder(&mut opts);
    let out = env
        .c
        .upload_file(&src, env.bucket, "big", &opts)
        .await
        .unwrap();
    assert!(out.etag.ends_with("-26\""), "{}", out.etag);
    let up = log.lock().unwrap().clone();
    assert_eq!(resumed_and_sent(&up), (0, 26));
    assert_eq!(up[0].bytes_total, len);
    let head = env.c.head_object(env.bucket, "big").await.unwrap();
    assert_eq!(head.content_type.as_deref(), Some("application/x-big"));

    log.lock().unwrap().clear();
    let dst = env.path("big-copy");
    std::fs::write(&dst, b"old contents are replaced").unwrap();
    let meta = env
        .c
        .download_file(env.bucket, "big", &dst, &opts)
        .await
        .unwrap();
    assert_eq!((meta.size, meta.etag), (len, out.etag));
    // 26 ranged GETs, not one.
    assert_eq!(resumed_and_sent(&log.lock().unwrap()), (0, 26));
    assert_eq!(sha(&std::fs::read(&dst).unwrap()), sha(&bytes));
    assert!(env.checkpoints().is_empty());
}

#[tokio::test]
async fn upload_stream_buffers_parts() {
    let env = Env::new().await;
    let opts = env.opts(100 * KIB, 2);
    for (len, key) in [
        (0, "s-empty"),
        (5_000, "s-small"),
        (100 * KIB * 3 + 1, "s-big"),
    ] {
        let bytes = data(len, len);
        let out = env
            .c
            .upload_stream(&bytes[..], env.bucket, key, &opts)
            .await
            .unwrap();
        assert_eq!(out.etag.ends_with("-4\""), len > 300 * KIB, "{}", out.etag);
        assert_eq!(env.object_sha(key).await, sha(&bytes));
    }
    assert!(env.open_uploads().await.is_empty());
}

#[tokio::test]
async fn upload_resumes_after_interruption() {
    let env = Env::new().await;
    let bytes = data(16 * 256 * KIB - 1000, 11);
    let src = env.write("resume-up", &bytes);
    let mut opts = env.opts(256 * KIB, 2);
    let stop = stopper(&env, &mut opts, 5, "UploadPart", 16);
    let reported = interrupt(
        &env,
        env.c.upload_file(&src, env.bucket, "r/up", &opts),
        stop,
    )
    .await;

    // The interrupted upload is still open on the server, with the parts the stopper let
    // through, each recorded in the checkpoint.
    let open = env.open_uploads().await;
    assert_eq!(open.len(), 1);
    let on_server = env
        .c
        .list_parts(env.bucket, "r/up", &open[0])
        .await
        .unwrap();
    assert_eq!((reported, on_server.len()), (5, 5), "{on_server:?}");
    assert_eq!(env.checkpoints().len(), 1);
    // Two parts finished after the last checkpoint save, as a killed process leaves them: the
    // rerun adopts part 15 (its size and CRC-64 match the file) and sends part 16 again (same
    // size, other bytes).
    let part = |n: u64| {
        bytes[((n - 1) * 256 * KIB) as usize..(n * 256 * KIB).min(bytes.len() as u64) as usize]
            .to_vec()
    };
    let mut wrong = part(16);
    wrong[7] ^= 1;
    for (n, body) in [(15, part(15)), (16, wrong)] {
        env.c
            .upload_part(env.bucket, "r/up", &open[0], n, body.into())
            .await
            .unwrap();
    }

    let log = recorder(&mut opts);
    env.c
        .upload_file(&src, env.bucket, "r/up", &opts)
        .await
        .unwrap();
    let (resumed, sent) = resumed_and_sent(&log.lock().unwrap());
    assert_eq!(
        (resumed, sent),
        (6, 10),
        "the recorded parts and part 15 are reused"
    );
    assert_eq!(env.object_sha("r/up").await, sha(&bytes));
    assert!(env.open_uploads().await.is_empty());
    assert!(env.checkpoints().is_empty());
}

#[tokio::test]
async fn download_resumes_after_interruption() {
    let env = Env::new().await;
    let bytes = data(20 * 128 * KIB + 3, 12);
    env.put("r/down", &bytes).await;
    let dst = env.path("nested/dir/down.bin");
    let tmp = env.path("nested/dir/down.bin.ossguard-tmp");
    let mut opts = env.opts(128 * KIB, 3);
    let stop = stopper(&env, &mut opts, 6, "GetObject", 21);
    let reported = interrupt(
        &env,
        env.c.download_file(env.bucket, "r/down", &dst, &opts),
        stop,
    )
    .await;
    assert!(tmp.exists() && !dst.exists());
    assert_eq!(env.checkpoints().len(), 1);

    let log = recorder(&mut opts);
    env.c
        .download_file(env.bucket, "r/down", &dst, &opts)
        .await
        .unwrap();
    let (resumed, sent) = resumed_and_sent(&log.lock().unwrap());
    assert!(reported >= 6);
    assert_resumed(resumed, reported);
    assert_eq!(resumed + sent, 21, "only the missing ranges are fetched");
    assert_eq!(sha(&std::fs::read(&dst).unwrap()), sha(&bytes));
    assert!(!tmp.exists());
    assert!(env.checkpoints().is_empty());
}

#[tokio::test]
async fn damaged_download_temp_file_is_fetched_again() {
    let env = Env::new().await;
    let bytes = data(8 * 128 * KIB, 13);
    env.put("d/tmp", &bytes).await;
    let dst = env.path("tmp-damage");
    let tmp = env.path("tmp-damage.ossguard-tmp");
    let mut opts = env.opts(128 * KIB, 1);
    let stop = stopper(&env, &mut opts, 4, "GetObject", 8);
    let reported = interrupt(
        &env,
        env.c.download_file(env.bucket, "d/tmp", &dst, &opts),
        stop,
    )
    .await;
    // Flip a byte of part 2 in the temporary file: its recorded CRC no longer matches.
    let mut t = std::fs::read(&tmp).unwrap();
    t[128 * 1024 + 5] ^= 0xFF;
    std::fs::write(&tmp, &t).unwrap();
    let log = recorder(&mut opts);
    env.c
        .download_file(env.bucket, "d/tmp", &dst, &opts)
        .await
        .unwrap();
    let (resumed, sent) = resumed_and_sent(&log.lock().unwrap());
    // Every recorded part but part 2 is kept.
    assert_resumed(resumed + 1, reported);
    assert_eq!(resumed + sent, 8);
    assert_eq!(sha(&std::fs::read(&dst).unwrap()), sha(&bytes));
}

#[tokio::test]
async fn modified_source_restarts_cleanly() {
    let env = Env::new().await;
    let mut bytes = data(10 * 128 * KIB, 21);
    let src = env.write("changing", &bytes);
    let mut opts = env.opts(128 * KIB, 2);
    let stop = stopper(&env, &mut opts, 3, "UploadPart", 10);
    interrupt(
        &env,
        env.c.upload_file(&src, env.bucket, "m/up", &opts),
        stop,
    )
    .await;
    let old = env.open_uploads().await;
    assert_eq!(old.len(), 1);

    // Same size, different bytes in the middle (and a new mtime).
    tokio::time::sleep(Duration::from_millis(20)).await;
    bytes[5 * 128 * 1024 + 1] ^= 0x55;
    std::fs::write(&src, &bytes).unwrap();

    let log = recorder(&mut opts);
    env.c
        .upload_file(&src, env.bucket, "m/up", &opts)
        .await
        .unwrap();
    assert_eq!(resumed_and_sent(&log.lock().unwrap()), (0, 10));
    assert_eq!(env.object_sha("m/up").await, sha(&bytes));
    assert!(
        env.open_uploads().await.is_empty(),
        "the old upload is aborted"
    );
    assert!(env.checkpoints().is_empty());

    // A changed part size is a different layout: restart as well.
    let stop = stopper(&env, &mut opts, 3, "UploadPart", 10);
    interrupt(
        &env,
        env.c.upload_file(&src, env.bucket, "m/up", &opts),
        stop,
    )
    .await;
    let mut opts2 = env.opts(256 * KIB, 2);
    let log = recorder(&mut opts2);
    env.c
        .upload_file(&src, env.bucket, "m/up", &opts2)
        .await
        .unwrap();
    assert_eq!(resumed_and_sent(&log.lock().unwrap()), (0, 5));
    assert!(env.open_uploads().await.is_empty());
}

#[tokio::test]
async fn a_file_now_small_goes_up_whole_and_its_old_upload_is_aborted() {
    let env = Env::new().await;
    let src = env.write("shrinking", &data(10 * 128 * KIB, 22));
    let mut opts = env.opts(128 * KIB, 2);
    let stop = stopper(&env, &mut opts, 3, "UploadPart", 10);
    interrupt(
        &env,
        env.c.upload_file(&src, env.bucket, "m/shrunk", &opts),
        stop,
    )
    .await;
    assert_eq!(env.open_uploads().await.len(), 1);
    assert_eq!(env.checkpoints().len(), 1);

    let small = data(5 * KIB, 23);
    std::fs::write(&src, &small).unwrap();
    let opts = env.opts(128 * KIB, 2);
    env.c
        .upload_file(&src, env.bucket, "m/shrunk", &opts)
        .await
        .unwrap();
    assert_eq!(env.object_sha("m/shrunk").await, sha(&small));
    assert!(
        env.open_uploads().await.is_empty(),
        "the old upload is aborted"
    );
    assert!(env.checkpoints().is_empty());

    // With nothing to clear, a small file takes no lock: two at once both succeed.
    let (a, b) = tokio::join!(
        env.c.upload_file(&src, env.bucket, "m/shrunk", &opts),
        env.c.upload_file(&src, env.bucket, "m/shrunk", &opts)
    );
    assert_eq!(a.unwrap().etag, b.unwrap().etag);
    assert!(env.checkpoints().is_empty());
}

#[cfg(unix)]
#[tokio::test]
async fn a_fifo_is_refused_without_waiting_for_a_writer() {
    let env = Env::new().await;
    let fifo = env.path("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let r = tokio::time::timeout(
        Duration::from_secs(10),
        env.c
            .upload_file(&fifo, env.bucket, "m/fifo", &env.opts(128 * KIB, 1)),
    )
    .await
    .expect("upload_file returned");
    assert!(r.unwrap_err().to_string().contains("not a regular file"));
}

#[tokio::test]
async fn modified_object_restarts_download_cleanly() {
    let env = Env::new().await;
    let v1 = data(6 * 128 * KIB, 31);
    env.put("m/down", &v1).await;
    let dst = env.path("m-down");
    let mut opts = env.opts(128 * KIB, 1);
    let stop = stopper(&env, &mut opts, 2, "GetObject", 6);
    interrupt(
        &env,
        env.c.download_file(env.bucket, "m/down", &dst, &opts),
        stop,
    )
    .await;
    let v2 = data(6 * 128 * KIB, 32);
    env.put("m/down", &v2).await;
    let log = recorder(&mut opts);
    env.c
        .download_file(env.bucket, "m/down", &dst, &opts)
        .await
        .unwrap();
    assert_eq!(resumed_and_sent(&log.lock().unwrap()), (0, 6));
    assert_eq!(sha(&std::fs::read(&dst).unwrap()), sha(&v2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn object_replaced_mid_download_fails_cleanly() {
    let env = Env::new().await;
    let v1 = data(6 * 128 * KIB, 41);
    env.put("m/mid", &v1).await;
    let dst = env.path("m-mid");
    let mut opts = env.opts(128 * KIB, 1);
    // Every ranged GET after the second is held (blackholed) until the object has been
    // replaced, which happens once the first part is recorded; lifting the hold resets those
    // GETs, and their retries (If-Match) find the new object. The pipeline does not wait for
    // progress callbacks, so the hold is what puts the replacement between two GETs, however
    // slow the machine.
    let hold = r#"{"rules": [{"match": {"operations": ["GetObject"]}, "skip_first": 2,
        "fault": {"kind": "outage", "refuse_ms": 0}}]}"#;
    env.emu
        .faults()
        .install(FaultConfig::parse(hold).unwrap())
        .unwrap();
    let (c, bucket, faults) = (env.c.clone(), env.bucket, env.emu.faults().clone());
    opts.progress = Some(Arc::new(move |p: Progress| {
        if p.parts_done == 1 {
            // Replace the object between two ranged GETs.
            tokio::task::block_in_place(|| {
                tokio::runtime::Handle::current().block_on(async {
                    c.put_object(bucket, "m/mid", b"v2".to_vec().into(), Default::default())
                        .await
                        .unwrap();
                })
            });
            faults.clear();
        }
    }));
    let e = env
        .c
        .download_file(env.bucket, "m/mid", &dst, &opts)
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(412), "{e}");
    assert!(!dst.exists() && !env.path("m-mid.ossguard-tmp").exists());
    assert!(
        env.checkpoints().is_empty(),
        "a stale checkpoint is dropped"
    );
}

#[tokio::test]
async fn corrupt_checkpoint_restarts_cleanly() {
    let env = Env::new().await;
    let bytes = data(8 * 128 * KIB + 9, 51);
    let src = env.write("corrupt", &bytes);
    let mut opts = env.opts(128 * KIB, 2);

    // 1. Garbage: the upload id is unreadable, the upload restarts (the old one stays open for
    //    the bucket's lifecycle rule; nothing names it any more).
    let stop = stopper(&env, &mut opts, 3, "UploadPart", 9);
    interrupt(
        &env,
        env.c.upload_file(&src, env.bucket, "c/up", &opts),
        stop,
    )
    .await;
    let orphan = env.open_uploads().await;
    let cps = env.checkpoints();
    assert_eq!((orphan.len(), cps.len()), (1, 1));
    std::fs::write(&cps[0], b"\x00\xff{not json at all\x13").unwrap();
    let log = recorder(&mut opts);
    env.c
        .upload_file(&src, env.bucket, "c/up", &opts)
        .await
        .unwrap();
    assert_eq!(resumed_and_sent(&log.lock().unwrap()), (0, 9));
    assert_eq!(env.object_sha("c/up").await, sha(&bytes));
    assert_eq!(env.open_uploads().await, orphan);
    env.c
        .abort_multipart_upload(env.bucket, "c/up", &orphan[0])
        .await
        .unwrap();

    // 2. Damaged but legible (a number changed; the checkpoint's own CRC catches it): the
    //    upload id is salvaged and that upload aborted.
    let stop = stopper(&env, &mut opts, 3, "UploadPart", 9);
    interrupt(
        &env,
        env.c.upload_file(&src, env.bucket, "c/up", &opts),
        stop,
    )
    .await;
    let cp = &env.checkpoints()[0];
    let text = std::fs::read_to_string(cp).unwrap();
    let damaged = text.replacen("\"part_number\": 1,", "\"part_number\": 7,", 1);
    assert_ne!(text, damaged);
    std::fs::write(cp, damaged).unwrap();
    let log = recorder(&mut opts);
    env.c
        .upload_file(&src, env.bucket, "c/up", &opts)
        .await
        .unwrap();
    assert_eq!(resumed_and_sent(&log.lock().unwrap()), (0, 9));
    assert!(env.open_uploads().await.is_empty());

    // 3. Downloads: a garbage checkpoint means fetching everything again.
    let dst = env.path("corrupt-down");
    let stop = stopper(&env, &mut opts, 3, "GetObject", 9);
    interrupt(
        &env,
        env.c.download_file(env.bucket, "c/up", &dst, &opts),
        stop,
    )
    .await;
    std::fs::write(&env.checkpoints()[0], b"garbage").unwrap();
    let log = recorder(&mut opts);
    env.c
        .download_file(env.bucket, "c/up", &dst, &opts)
        .await
        .unwrap();
    assert_eq!(resumed_and_sent(&log.lock().unwrap()), (0, 9));
    assert_eq!(sha(&std::fs::read(&dst).unwrap()), sha(&bytes));
    assert!(env.checkpoints().is_empty());
}

#[tokio::test]
async fn non_resumable_drop_aborts_the_upload() {
    let env = Env::new().await;
    let bytes = data(10 * 128 * KIB, 61);
    let src = env.write("nr", &bytes);
    let mut opts = env.opts(128 * KIB, 2);
    opts.resumable = false;
    let stop = stopper(&env, &mut opts, 2, "UploadPart", 10);
    interrupt(&env, env.c.upload_file(&src, env.bucket, "nr", &opts), stop).await;
    // The drop guard's abort runs on the runtime shortly after.
    let mut open = env.open_uploads().await;
    for _ in 0..100 {
        if open.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        open = env.open_uploads().await;
    }
    assert!(open.is_empty(), "{open:?}");
    assert!(
        env.checkpoints().is_empty(),
        "non-resumable transfers write none"
    );

    // Downloads: the temporary file goes with the dropped future.
    env.put("nr", &bytes).await;
    let dst = env.path("nr-down");
    let stop = stopper(&env, &mut opts, 2, "GetObject", 10);
    interrupt(
        &env,
        env.c.download_file(env.bucket, "nr", &dst, &opts),
        stop,
    )
    .await;
    assert!(!env.path("nr-down.ossguard-tmp").exists() && !dst.exists());
}

#[tokio::test]
async fn an_upload_dropped_during_its_complete_is_recognised_by_its_checkpoint() {
    let env = Env::new().await;
    let bytes = data(4 * 128 * KIB + 5, 67);
    let src = env.write("committing", &bytes);
    let opts = env.opts(128 * KIB, 2);
    // The server completes the upload, then holds its answer: the caller gives up meanwhile.
    let hold = r#"{"seed": 1, "rules": [{"match": {"operations": ["CompleteMultipartUpload"]},
        "limit": 1, "fault": {"kind": "stall_before_headers", "stall_ms": 3000}}]}"#;
    env.emu
        .faults()
        .install(FaultConfig::parse(hold).unwrap())
        .unwrap();
    tokio::select! {
        r = env.c.upload_file(&src, env.bucket, "committing", &opts) => {
            panic!("finished before the drop: {r:?}")
        }
        fired = env.emu.faults().wait_injected(1, Duration::from_secs(10)) => {
            assert!(fired, "no Complete within 10 s");
        }
    }
    assert_eq!(env.checkpoints().len(), 1, "kept by the dropped upload");
    // The rerun finds the upload gone and the object exactly what the recorded parts make:
    // nothing is sent again.
    count_rules(
        &env,
        &[
            "UploadPart",
            "CompleteMultipartUpload",
            "InitiateMultipartUpload",
        ],
    );
    env.c
        .upload_file(&src, env.bucket, "committing", &opts)
        .await
        .unwrap();
    assert!(
        counted(&env).iter().all(|(_, n)| *n == 0),
        "{:?}",
        counted(&env)
    );
    assert!(env.checkpoints().is_empty(), "{:?}", env.checkpoints());
    assert_eq!(env.object_sha("committing").await, sha(&bytes));
    assert!(env.open_uploads().await.is_empty());
}

#[tokio::test]
async fn failed_part_keeps_resumable_uploads_and_aborts_the_others() {
    let env = Env::new().await;
    let bytes = data(6 * 128 * KIB, 71);
    for resumable in [true, false] {
        let src = env.write("vanishing", &bytes);
        let mut opts = env.opts(128 * KIB, 1);
        opts.resumable = resumable;
        // The file disappears once the first part is recorded: a later part (or the final
        // check that the file did not change) cannot read it.
        let p = src.clone();
        opts.progress = Some(Arc::new(move |pr: Progress| {
            if pr.parts_done == 1 {
                std::fs::remove_file(&p).unwrap();
            }
        }));
        let e = env
            .c
            .upload_file(&src, env.bucket, "f/up", &opts)
            .await
            .unwrap_err();
        assert!(matches!(e.kind(), ossguard::ErrorKind::Io(_)), "{e}");
        let open = env.open_uploads().await;
        if resumable {
            assert_eq!(open.len(), 1, "kept for a rerun");
            assert_eq!(env.checkpoints().len(), 1);
            let parts = env
                .c
                .list_parts(env.bucket, "f/up", &open[0])
                .await
                .unwrap();
            assert!((1..=6).contains(&parts.len()), "{parts:?}");
            // Giving up explicitly aborts it.
            assert!(env
                .c
                .discard_upload_checkpoint(&src, env.bucket, "f/up", &opts)
                .await
                .unwrap());
            assert!(env.checkpoints().is_empty());
        }
        assert!(
            env.open_uploads().await.is_empty(),
            "resumable: {resumable}"
        );
    }
}

fn _assert_api_shapes(c: &Client, p: &Path, o: &TransferOptions) {
    // The CLI codes against these exact signatures.
    let _u = c.upload_file(p, "b", "k", o);
    let _d = c.download_file("b", "k", p, o);
    let _: fn(Progress) -> (u64, u64, u32, u32) =
        |p| (p.bytes_done, p.bytes_total, p.parts_done, p.parts_total);
}

/// Requests the server saw per rule, for rules that only count (a zero latency).
fn count_rules(env: &Env, ops: &[&str]) {
    let rules: Vec<String> = ops
        .iter()
        .map(|op| {
            format!(
                r#"{{"name": "{op}", "match": {{"operations": ["{op}"]}},
                    "fault": {{"kind": "latency", "delay_ms": 0}}}}"#
            )
        })
        .collect();
    let json = format!(r#"{{"seed": 1, "rules": [{}]}}"#, rules.join(","));
    env.emu
        .faults()
        .install(FaultConfig::parse(&json).unwrap())
        .unwrap();
}

fn counted(env: &Env) -> Vec<(String, u64)> {
    env.emu
        .faults()
        .stats()
        .rules
        .iter()
        .map(|r| (r.name.clone(), r.matched))
        .collect()
}

#[tokio::test]
async fn a_listed_small_object_comes_in_one_get_without_a_head() {
    let env = Env::new().await;
    let bytes = data(100 * KIB + 7, 81);
    let put = env.put("h/small", &bytes).await;
    let dst = env.path("h-small");
    let mut opts = env.opts(128 * KIB, 2);
    opts.download_size_hint = Some(bytes.len() as u64);
    count_rules(&env, &["HeadObject", "GetObject"]);
    let meta = env
        .c
        .download_file(env.bucket, "h/small", &dst, &opts)
        .await
        .unwrap();
    assert_eq!(
        counted(&env),
        [("HeadObject".into(), 0), ("GetObject".into(), 1)]
    );
    assert_eq!((meta.size, &meta.etag), (bytes.len() as u64, &put.etag));
    assert_eq!(sha(&std::fs::read(&dst).unwrap()), sha(&bytes));

    // Without the hint (or with one at the threshold) the download starts with a HEAD.
    for hint in [None, Some(128 * KIB)] {
        opts.download_size_hint = hint;
        count_rules(&env, &["HeadObject", "GetObject"]);
        env.c
            .download_file(env.bucket, "h/small", &dst, &opts)
            .await
            .unwrap();
        assert_eq!(
            counted(&env),
            [("HeadObject".into(), 1), ("GetObject".into(), 1)],
            "hint {hint:?}"
        );
    }
}

#[tokio::test]
async fn a_listed_small_object_replaces_an_interrupted_download_of_its_destination() {
    let env = Env::new().await;
    let big = data(8 * 128 * KIB, 83);
    env.put("h/shrank", &big).await;
    let dst = env.path("shrank/x");
    let tmp = env.path("shrank/x.ossguard-tmp");
    let mut opts = env.opts(128 * KIB, 1);
    let stop = stopper(&env, &mut opts, 2, "GetObject", 8);
    interrupt(
        &env,
        env.c.download_file(env.bucket, "h/shrank", &dst, &opts),
        stop,
    )
    .await;
    assert!(tmp.exists() && !dst.exists());
    assert_eq!(env.checkpoints().len(), 1);

    // Now small, and listed as such: its checkpoint and temporary file go, the bytes land.
    let small = data(3 * KIB, 84);
    env.put("h/shrank", &small).await;
    let mut opts = env.opts(128 * KIB, 1);
    opts.download_size_hint = Some(small.len() as u64);
    env.c
        .download_file(env.bucket, "h/shrank", &dst, &opts)
        .await
        .unwrap();
    assert_eq!(std::fs::read(&dst).unwrap(), small);
    assert!(!tmp.exists());
    assert!(env.checkpoints().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listed_small_downloads_of_one_destination_at_once_all_land_whole() {
    let env = Env::new().await;
    let bytes = data(40 * KIB + 1, 85);
    env.put("h/same", &bytes).await;
    let dst = env.path("same/new/dir/f");
    let mut opts = env.opts(128 * KIB, 1);
    opts.download_size_hint = Some(bytes.len() as u64);
    let all = futures_util::future::join_all(
        (0..8).map(|_| env.c.download_file(env.bucket, "h/same", &dst, &opts)),
    )
    .await;
    for r in all {
        assert_eq!(r.unwrap().size, bytes.len() as u64);
    }
    assert_eq!(std::fs::read(&dst).unwrap(), bytes);
    let left: Vec<_> = std::fs::read_dir(env.path("same/new/dir"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["f"], "no temporary file is left");
    assert!(env.checkpoints().is_empty());
}

#[tokio::test]
async fn a_stale_size_hint_still_downloads_the_current_object_checked() {
    let env = Env::new().await;
    // Listed small, now 5 parts' worth: one GET streams all of it.
    let bytes = data(5 * 128 * KIB + 3, 82);
    env.put("h/grew", &bytes).await;
    let dst = env.path("h-grew");
    let mut opts = env.opts(128 * KIB, 4);
    opts.download_size_hint = Some(10);
    let meta = env
        .c
        .download_file(env.bucket, "h/grew", &dst, &opts)
        .await
        .unwrap();
    assert_eq!(meta.size, bytes.len() as u64);
    assert_eq!(sha(&std::fs::read(&dst).unwrap()), sha(&bytes));

    // Without a HEAD the body is still checked against the GET's CRC-64: a flipped byte on the
    // first GET is caught and the read repeated; nothing wrong reaches the file.
    let json = r#"{"seed": 1, "rules": [{"match": {"operations": ["GetObject"]}, "limit": 1,
        "fault": {"kind": "corrupt_bytes", "offsets": [1000]}}]}"#;
    env.emu
        .faults()
        .install(FaultConfig::parse(json).unwrap())
        .unwrap();
    std::fs::remove_file(&dst).unwrap();
    env.c
        .download_file(env.bucket, "h/grew", &dst, &opts)
        .await
        .unwrap();
    assert_eq!(env.emu.faults().stats().injected, 1);
    assert_eq!(sha(&std::fs::read(&dst).unwrap()), sha(&bytes));
}
