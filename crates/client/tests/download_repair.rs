//! A ranged download whose parts combine to the wrong CRC-64 re-reads parts (bounded) until
//! they match, instead of throwing every part away.

use ossguard::{Body, Client, Credentials, ErrorKind, TransferOptions};
use ossguard_emulator::faults::FaultConfig;
use ossguard_emulator::server::{Emulator, EmulatorConfig};

const AK: &str = "dr-ak";
const SK: &str = "dr-sk";
const PART: usize = 100 * 1024;
const PARTS: usize = 4;

async fn setup() -> (Emulator, tempfile::TempDir, Client, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = EmulatorConfig::local(dir.path().join("data"), AK, SK);
    cfg.sync = false;
    let emu = Emulator::start(cfg).await.unwrap();
    let c = Client::builder()
        .endpoint(emu.endpoint())
        .credentials(Credentials::new(AK, SK))
        .build()
        .unwrap();
    c.create_bucket("dr-bucket", Default::default())
        .await
        .unwrap();
    let data: Vec<u8> = (0..PART * PARTS).map(|i| (i * 7 % 251) as u8).collect();
    c.put_object(
        "dr-bucket",
        "o",
        Body::from(data.clone()),
        Default::default(),
    )
    .await
    .unwrap();
    (emu, dir, c, data)
}

async fn put(c: &Client, key: &str, data: &[u8]) {
    c.put_object(
        "dr-bucket",
        key,
        Body::from(data.to_vec()),
        Default::default(),
    )
    .await
    .unwrap();
}

fn opts(dir: &tempfile::TempDir) -> TransferOptions {
    // One part at a time: the order of the GETs, and so which part is hit, is fixed.
    TransferOptions {
        checkpoint_dir: Some(dir.path().join("cp")),
        ..TransferOptions::default()
            .with_part_size(PART as u64)
            .with_concurrency(1)
    }
}

fn corrupt(emu: &Emulator, rule: &str) {
    let json = format!(r#"{{"seed": 1, "rules": [{rule}]}}"#);
    emu.faults()
        .install(FaultConfig::parse(&json).unwrap())
        .unwrap();
}

fn gets(emu: &Emulator) -> u64 {
    emu.faults().stats().rules[0].matched
}

#[tokio::test]
async fn one_corrupted_part_is_re_read_not_the_whole_object() {
    let (emu, dir, c, data) = setup().await;
    // The second ranged GET (part 2) has a flipped byte.
    corrupt(
        &emu,
        r#"{"every_nth": 2, "limit": 1, "match": {"operations": ["GetObject"]}, "fault": {"kind": "corrupt_bytes", "offsets": [100]}}"#,
    );
    let dest = dir.path().join("out.bin");
    c.download_file("dr-bucket", "o", &dest, &opts(&dir))
        .await
        .expect("repaired by re-reading parts");
    assert!(std::fs::read(&dest).unwrap() == data, "byte-identical");
    assert_eq!(emu.faults().stats().injected, 1);
    // 4 parts, then parts 1 (unchanged) and 2 (repaired): 6 GETs; starting over would be 8.
    assert_eq!(gets(&emu), (PARTS + 2) as u64);
    assert_eq!(c.stats().integrity_failures, 1);
}

#[tokio::test]
async fn persistent_corruption_stops_after_bounded_re_reads() {
    let (emu, dir, c, _) = setup().await;
    corrupt(
        &emu,
        r#"{"match": {"operations": ["GetObject"]}, "fault": {"kind": "corrupt_bytes", "offsets": [5]}}"#,
    );
    let dest = dir.path().join("out.bin");
    let e = c
        .download_file("dr-bucket", "o", &dest, &opts(&dir))
        .await
        .unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Integrity { .. }), "{e}");
    // The first pass and a repair round per further attempt of the policy, no more.
    let attempts = ossguard::Policy::default().retry.max_attempts as usize;
    assert_eq!(gets(&emu), (PARTS * attempts) as u64);
    assert!(!dest.exists());
}

/// Single-GET downloads either side of the in-memory limit (256 KiB): a flipped byte in the
/// first GET is caught by the CRC-64 and read again, the file is the object, no temp is left;
/// a byte flipped in every GET fails the download and leaves no file.
#[tokio::test]
async fn whole_downloads_re_read_a_corrupted_body_on_both_paths() {
    let (emu, dir, c, _) = setup().await;
    let opts = TransferOptions {
        checkpoint_dir: Some(dir.path().join("cp")),
        ..TransferOptions::default().with_part_size(4 << 20)
    };
    for (i, len) in [1usize, 256 * 1024, 256 * 1024 + 1, (1 << 20) + 3]
        .into_iter()
        .enumerate()
    {
        let data: Vec<u8> = (0..len).map(|j| (j * 13 % 251) as u8).collect();
        let key = format!("whole-{i}");
        put(&c, &key, &data).await;
        corrupt(
            &emu,
            r#"{"limit": 1, "match": {"operations": ["GetObject"]}, "fault": {"kind": "corrupt_bytes", "offsets": [0]}}"#,
        );
        let dest = dir.path().join(format!("whole-{i}.bin"));
        c.download_file("dr-bucket", &key, &dest, &opts)
            .await
            .unwrap_or_else(|e| panic!("{len} bytes: {e}"));
        assert!(std::fs::read(&dest).unwrap() == data, "{len} bytes");
        assert_eq!(gets(&emu), 2, "{len} bytes: the corrupted GET and one more");
        assert_eq!(temp_files(dir.path()), Vec::<String>::new(), "{len} bytes");

        corrupt(
            &emu,
            r#"{"match": {"operations": ["GetObject"]}, "fault": {"kind": "corrupt_bytes", "offsets": [0]}}"#,
        );
        let failed = dir.path().join(format!("failed-{i}.bin"));
        let e = c
            .download_file("dr-bucket", &key, &failed, &opts)
            .await
            .unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::Integrity { .. }),
            "{len} bytes: {e}"
        );
        assert!(!failed.exists(), "{len} bytes");
        assert_eq!(temp_files(dir.path()), Vec::<String>::new(), "{len} bytes");
    }
}

/// Without per-file fsyncs (a batch made durable once with `sync_filesystem`, as `cp -r` and
/// `sync` do) a download still lands whole on both paths and leaves no temporary file; flushing
/// a path that does not exist is an error that names it.
#[tokio::test]
async fn downloads_without_per_file_fsync_land_whole_and_the_batch_flush_reports_errors() {
    let (_emu, dir, c, _) = setup().await;
    let opts = TransferOptions {
        checkpoint_dir: Some(dir.path().join("cp")),
        sync_each_file: false,
        ..TransferOptions::default().with_part_size(4 << 20)
    };
    let out = dir.path().join("batch");
    for len in [1usize, 256 * 1024, 256 * 1024 + 1, (1 << 20) + 3] {
        let data: Vec<u8> = (0..len).map(|j| (j * 17 % 251) as u8).collect();
        let key = format!("nosync-{len}");
        put(&c, &key, &data).await;
        let dest = out.join(format!("{len}.bin"));
        c.download_file("dr-bucket", &key, &dest, &opts)
            .await
            .unwrap_or_else(|e| panic!("{len} bytes: {e}"));
        assert!(std::fs::read(&dest).unwrap() == data, "{len} bytes");
        assert!(!out.join(format!("{len}.bin.ossguard-tmp")).exists());
    }
    ossguard::transfer::sync_filesystem(&out).await.unwrap();
    let missing = dir.path().join("no-such-dir");
    let e = ossguard::transfer::sync_filesystem(&missing)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("no-such-dir"), "{e}");
}

/// Temporary files of downloads left in `dir` (any writer's: `<dest>.ossguard-tmp` of a
/// streamed body, `<dest>.<pid>-<n>.ossguard-tmp` of a small one written without O_TMPFILE).
fn temp_files(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(ossguard::transfer::TEMP_SUFFIX))
        .collect()
}
