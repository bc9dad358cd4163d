//! `Client::copy_large` and `Client::upload_part_copy` against the in-process emulator on
//! 127.0.0.1: CopyObject below the threshold, UploadPartCopy parts above it (bytes, metadata,
//! CRC-64), the If-Match pin when the source changes mid-copy, the fallback when the server
//! refuses a CopyObject as too large, and a big copy (6 GiB with `OSSGUARD_BIG_COPY=1`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ossguard::{
    Body, Client, CompletedPart, Credentials, ErrorKind, PartCopySource, Progress,
    PutObjectOptions, TransferOptions,
};
use ossguard_emulator::server::{Emulator, EmulatorConfig, MAX_COPY_OBJECT_SIZE};
use ossguard_proto::crc64::checksum;

const AK: &str = "copy-ak";
const SK: &str = "copy-sk";
const KIB: u64 = 1024;
const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

struct Env {
    emu: Emulator,
    c: Client,
    _dir: tempfile::TempDir,
}

impl Env {
    async fn new() -> Self {
        Self::with(|_| {}).await
    }

    async fn with(tune: impl FnOnce(&mut EmulatorConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = EmulatorConfig::local(dir.path().join("data"), AK, SK);
        cfg.sync = false;
        tune(&mut cfg);
        let emu = Emulator::start(cfg).await.unwrap();
        let c = Client::builder()
            .endpoint(emu.endpoint())
            .credentials(Credentials::new(AK, SK))
            .build()
            .unwrap();
        for b in ["src-bucket", "dst-bucket"] {
            c.create_bucket(b, Default::default()).await.unwrap();
        }
        Env { emu, c, _dir: dir }
    }

    async fn bytes(&self, bucket: &str, key: &str) -> Vec<u8> {
        self.c
            .get_object(bucket, key, Default::default())
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec()
    }

    async fn open_uploads(&self, bucket: &str) -> usize {
        self.c
            .list_multipart_uploads(bucket, "")
            .await
            .unwrap()
            .len()
    }
}

/// Deterministic bytes at any offset: word `i` of the stream is a hash of `i`, so a range can
/// be generated (and checked) without the rest.
fn fill(buf: &mut [u8], offset: u64, seed: u64) {
    let word = |i: u64| {
        let mut z = i
            .wrapping_add(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15))
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)).to_le_bytes()
    };
    for (j, b) in buf.iter_mut().enumerate() {
        let pos = offset + j as u64;
        *b = word(pos / 8)[(pos % 8) as usize];
    }
}

/// Like [`fill`], but only the first 64 KiB of every MiB carry data, the rest is zeros: the
/// emulator keeps zero blocks as holes, so a 6 GiB object takes ~400 MiB of disk.
fn fill_sparse(buf: &mut [u8], offset: u64, seed: u64) {
    buf.fill(0);
    let end = offset + buf.len() as u64;
    let mut stripe = offset / MIB * MIB;
    while stripe < end {
        let (a, b) = (stripe.max(offset), (stripe + 64 * KIB).min(end));
        if a < b {
            fill(
                &mut buf[(a - offset) as usize..(b - offset) as usize],
                a,
                seed,
            );
        }
        stripe += MIB;
    }
}

fn data(len: u64, seed: u64) -> Vec<u8> {
    let mut v = vec![0u8; len as usize];
    fill(&mut v, 0, seed);
    v
}

fn source_options() -> PutObjectOptions {
    PutObjectOptions {
        content_type: Some("text/csv".into()),
        cache_control: Some("max-age=60".into()),
        content_disposition: Some("attachment; filename=\"a.csv\"".into()),
        content_encoding: Some("identity".into()),
        metadata: BTreeMap::from([
            ("owner".to_owned(), "alice".to_owned()),
            ("MixedCase".to_owned(), "v 1".to_owned()),
        ]),
        ..Default::default()
    }
}

fn copy_opts(threshold: u64, part_size: u64, concurrency: usize) -> TransferOptions {
    TransferOptions {
        copy_threshold: threshold,
        ..TransferOptions::default()
            .with_part_size(part_size)
            .with_concurrency(concurrency)
    }
}

fn recorder(opts: &mut TransferOptions) -> Arc<Mutex<Vec<Progress>>> {
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    opts.progress = Some(Arc::new(move |p| l.lock().unwrap().push(p)));
    log
}

#[tokio::test]
async fn above_the_threshold_copies_in_parts_with_metadata_and_crc() {
    let env = Env::new().await;
    // 5 MiB + 12345 bytes in 1 MiB parts: 6 parts, the last one short.
    let size = 5 * MIB + 12_345;
    let src = data(size, 1);
    env.c
        .put_object(
            "src-bucket",
            "dir/a b+c.csv",
            src.clone().into(),
            source_options(),
        )
        .await
        .unwrap();
    let mut opts = copy_opts(MIB, MIB, 3);
    let progress = recorder(&mut opts);
    let out = env
        .c
        .copy_large(
            "src-bucket",
            "dir/a b+c.csv",
            "dst-bucket",
            "copy/x.csv",
            &opts,
        )
        .await
        .unwrap();
    assert_eq!(out.parts, 6);
    assert_eq!(out.size, size);
    assert_eq!(out.crc64, Some(checksum(&src)));
    assert!(out.etag.ends_with("-6\""), "{}", out.etag);

    assert!(env.bytes("dst-bucket", "copy/x.csv").await == src);
    let copied = env.c.head_object("dst-bucket", "copy/x.csv").await.unwrap();
    assert_eq!(copied.crc64, Some(checksum(&src)));
    assert_eq!(copied.object_type.as_deref(), Some("Multipart"));
    // COPY-directive semantics: the source's metadata, as the emulator stored it.
    let store = &env.emu.state().store;
    let s = store
        .head_object("src-bucket", "dir/a b+c.csv")
        .await
        .unwrap();
    let d = store.head_object("dst-bucket", "copy/x.csv").await.unwrap();
    assert_eq!(d.headers.content_type.as_deref(), Some("text/csv"));
    assert_eq!(d.headers.cache_control.as_deref(), Some("max-age=60"));
    assert_eq!(
        d.headers.content_disposition.as_deref(),
        Some("attachment; filename=\"a.csv\"")
    );
    assert_eq!(d.headers.content_encoding.as_deref(), Some("identity"));
    assert_eq!(
        d.headers.user_meta,
        BTreeMap::from([
            ("owner".to_owned(), "alice".to_owned()),
            ("mixedcase".to_owned(), "v 1".to_owned()),
        ])
    );
    assert_eq!(d.headers.user_meta, s.headers.user_meta);

    let p = progress.lock().unwrap().clone();
    assert_eq!(p.first().map(|p| p.bytes_done), Some(0));
    let last = *p.last().unwrap();
    assert_eq!((last.bytes_done, last.bytes_total), (size, size));
    assert_eq!((last.parts_done, last.parts_total), (6, 6));
    assert_eq!(env.open_uploads("dst-bucket").await, 0);
}

#[tokio::test]
async fn at_or_below_the_threshold_one_copy_object() {
    let env = Env::new().await;
    let src = data(MIB, 2);
    let put = env
        .c
        .put_object("src-bucket", "small", src.clone().into(), source_options())
        .await
        .unwrap();
    let mut opts = copy_opts(MIB, 256 * KIB, 2);
    let progress = recorder(&mut opts);
    let out = env
        .c
        .copy_large("src-bucket", "small", "src-bucket", "small-copy", &opts)
        .await
        .unwrap();
    // CopyObject keeps the source's ETag: no parts were made.
    assert_eq!((out.parts, out.size), (0, MIB));
    assert_eq!(out.etag, put.etag);
    assert_eq!(out.crc64, Some(checksum(&src)));
    assert!(env.bytes("src-bucket", "small-copy").await == src);
    let last = *progress.lock().unwrap().last().unwrap();
    assert_eq!(last.bytes_done, MIB);

    // A listing's size and ETag spare the HEAD; a stale ETag (the source changed since the
    // listing) falls back to a HEAD and copies the current version.
    let hinted = |etag: &str| TransferOptions {
        copy_hint: Some(ossguard::transfer::CopyHint {
            size: MIB,
            etag: etag.to_owned(),
        }),
        ..opts.clone()
    };
    let out = env
        .c
        .copy_large(
            "src-bucket",
            "small",
            "dst-bucket",
            "hinted",
            &hinted(&put.etag),
        )
        .await
        .unwrap();
    assert_eq!((out.parts, out.etag.as_str()), (0, put.etag.as_str()));
    let newer = data(MIB - 1, 9);
    env.c
        .put_object(
            "src-bucket",
            "small",
            newer.clone().into(),
            Default::default(),
        )
        .await
        .unwrap();
    let out = env
        .c
        .copy_large(
            "src-bucket",
            "small",
            "dst-bucket",
            "hinted",
            &hinted(&put.etag),
        )
        .await
        .unwrap();
    assert_eq!((out.parts, out.size), (0, MIB - 1));
    assert!(env.bytes("dst-bucket", "hinted").await == newer);

    // An empty object, and the same object as source and destination.
    env.c
        .put_object("src-bucket", "empty", Body::empty(), Default::default())
        .await
        .unwrap();
    let out = env
        .c
        .copy_large("src-bucket", "empty", "dst-bucket", "empty", &opts)
        .await
        .unwrap();
    assert_eq!((out.parts, out.size, out.crc64), (0, 0, Some(0)));
    let e = env
        .c
        .copy_large("src-bucket", "empty", "src-bucket", "empty", &opts)
        .await
        .unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::InvalidInput(_)), "{e}");
    let e = env
        .c
        .copy_large("src-bucket", "missing", "dst-bucket", "x", &opts)
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(404), "{e}");
}

/// The source is overwritten after the first part: the next part's
/// `x-oss-copy-source-if-match` fails, nothing is completed and the upload is aborted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_replaced_mid_copy_fails_instead_of_mixing_versions() {
    let env = Env::new().await;
    let old = data(4 * MIB, 3);
    let new = data(4 * MIB, 4);
    env.c
        .put_object(
            "src-bucket",
            "moving",
            old.clone().into(),
            Default::default(),
        )
        .await
        .unwrap();
    // One part at a time: the overwrite lands between part 1 and part 2.
    let mut opts = copy_opts(MIB, MIB, 1);
    let (c, replacement) = (env.c.clone(), new.clone());
    let replaced = Arc::new(Mutex::new(false));
    let flag = replaced.clone();
    let handle = tokio::runtime::Handle::current();
    opts.progress = Some(Arc::new(move |p: Progress| {
        let mut done = flag.lock().unwrap();
        if p.parts_done == 1 && !*done {
            *done = true;
            let body: Body = replacement.clone().into();
            tokio::task::block_in_place(|| {
                handle
                    .block_on(c.put_object("src-bucket", "moving", body, Default::default()))
                    .unwrap()
            });
        }
    }));
    let e = env
        .c
        .copy_large("src-bucket", "moving", "dst-bucket", "moved", &opts)
        .await
        .unwrap_err();
    assert!(*replaced.lock().unwrap());
    assert_eq!(e.code(), Some("PreconditionFailed"), "{e}");
    assert_eq!(e.status(), Some(412));
    // Nothing completed, nothing left open.
    let gone = env.c.head_object("dst-bucket", "moved").await.unwrap_err();
    assert_eq!(gone.status(), Some(404));
    assert_eq!(env.open_uploads("dst-bucket").await, 0);
    assert!(env.bytes("src-bucket", "moving").await == new);

    // Run again: the new version copies whole.
    opts.progress = None;
    let out = env
        .c
        .copy_large("src-bucket", "moving", "dst-bucket", "moved", &opts)
        .await
        .unwrap();
    assert_eq!(out.crc64, Some(checksum(&new)));
    assert!(env.bytes("dst-bucket", "moved").await == new);
}

/// A server whose CopyObject limit is below the threshold refuses with `EntityTooLarge`; the
/// copy goes on in parts.
#[tokio::test]
async fn copy_object_refused_as_too_large_falls_back_to_parts() {
    let env = Env::with(|cfg| cfg.max_copy_object_size = MIB).await;
    let src = data(2 * MIB + 1, 5);
    env.c
        .put_object("src-bucket", "big", src.clone().into(), Default::default())
        .await
        .unwrap();
    // The raw CopyObject is refused (400, inferred code) and creates nothing.
    let e = env
        .c
        .copy_object("src-bucket", "big", "dst-bucket", "raw", Default::default())
        .await
        .unwrap_err();
    assert_eq!(
        (e.status(), e.code()),
        (Some(400), Some("EntityTooLarge")),
        "{e}"
    );
    assert!(env.c.head_object("dst-bucket", "raw").await.is_err());
    // copy_large with the default 100 MiB threshold tries CopyObject, then parts.
    let opts = TransferOptions::default().with_part_size(MIB);
    let out = env
        .c
        .copy_large("src-bucket", "big", "dst-bucket", "big", &opts)
        .await
        .unwrap();
    assert_eq!(out.parts, 3);
    assert_eq!(out.crc64, Some(checksum(&src)));
    assert!(env.bytes("dst-bucket", "big").await == src);
}

#[tokio::test]
async fn upload_part_copy_ranges_and_conditions() {
    let env = Env::new().await;
    let src = data(300 * KIB, 6);
    let put = env
        .c
        .put_object("src-bucket", "s", src.clone().into(), Default::default())
        .await
        .unwrap();
    let id = env
        .c
        .initiate_multipart_upload("dst-bucket", "d", &Default::default())
        .await
        .unwrap();
    let ranges = [(0, 200 * KIB - 1), (200 * KIB, 300 * KIB - 1)];
    let mut parts = Vec::new();
    for (i, (a, b)) in ranges.into_iter().enumerate() {
        let source = PartCopySource::new("src-bucket", "s", a, b).if_match(&put.etag);
        let part = env
            .c
            .upload_part_copy("dst-bucket", "d", &id, i as u32 + 1, &source)
            .await
            .unwrap();
        assert_eq!(part.size, b - a + 1);
        assert_eq!(part.crc64, Some(checksum(&src[a as usize..=b as usize])));
        parts.push(CompletedPart::from(&part));
    }
    // Conditions: a wrong ETag, a matching If-None-Match and an old If-Unmodified-Since are
    // all 412 (never 304 for a copy).
    let base = PartCopySource::new("src-bucket", "s", 0, 100 * KIB);
    let hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    let failing = [
        base.clone()
            .if_match("\"0123456789ABCDEF0123456789ABCDEF\""),
        PartCopySource {
            if_none_match: Some(put.etag.clone()),
            ..base.clone()
        },
        PartCopySource {
            if_unmodified_since: Some(hour_ago),
            ..base.clone()
        },
    ];
    for source in &failing {
        let e = env
            .c
            .upload_part_copy("dst-bucket", "d", &id, 9, source)
            .await
            .unwrap_err();
        assert_eq!(e.code(), Some("PreconditionFailed"), "{source:?}: {e}");
    }
    let ok = PartCopySource {
        if_modified_since: Some(hour_ago),
        ..base.clone()
    };
    env.c
        .upload_part_copy("dst-bucket", "d", &id, 9, &ok)
        .await
        .unwrap();
    // Bad input is refused before anything is sent.
    let backwards = PartCopySource::new("src-bucket", "s", 10, 9);
    assert!(env
        .c
        .upload_part_copy("dst-bucket", "d", &id, 1, &backwards)
        .await
        .is_err());
    assert!(env
        .c
        .upload_part_copy("dst-bucket", "d", &id, 10_001, &base)
        .await
        .is_err());
    // A range beyond the source.
    let outside = PartCopySource::new("src-bucket", "s", 400 * KIB, 500 * KIB);
    let e = env
        .c
        .upload_part_copy("dst-bucket", "d", &id, 8, &outside)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some("InvalidRange"), "{e}");

    // Complete checks the object's CRC-64 against the parts'.
    let out = env
        .c
        .complete_multipart_upload("dst-bucket", "d", &id, &parts)
        .await
        .unwrap();
    assert_eq!(out.crc64, Some(checksum(&src)));
    assert!(env.bytes("dst-bucket", "d").await == src);
}

#[test]
fn the_emulator_limit_defaults_to_1_gib() {
    assert_eq!(MAX_COPY_OBJECT_SIZE, 1_073_741_824);
    assert_eq!(
        MAX_COPY_OBJECT_SIZE,
        ossguard::transfer::MAX_COPY_OBJECT_SIZE
    );
    let cfg = EmulatorConfig::local("/nonexistent", AK, SK);
    assert_eq!(cfg.max_copy_object_size, MAX_COPY_OBJECT_SIZE);
}

/// The OSS→OSS copy of a large object. Under CI: 40 MiB + 1 byte through the same mechanism
/// (the threshold lowered to 16 MiB, 4 MiB parts). With `OSSGUARD_BIG_COPY=1`: a 6 GiB source
/// (written as 96 parts of 64 MiB), copied with the default options (above the 100 MiB
/// threshold: 768 UploadPartCopy parts of 8 MiB, 4 at a time). The bytes are mostly zeros
/// ([`fill_sparse`]), which the emulator stores as holes (~1.2 GB of disk for source, parts and
/// copy); every byte is still hashed, so the 6 GiB case takes minutes in a debug build: run it
/// with `--release`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_copy_in_parts() {
    let big = std::env::var("OSSGUARD_BIG_COPY").is_ok_and(|v| v == "1");
    let (size, write_part, opts) = if big {
        (6 * GIB, 64 * MIB, TransferOptions::default())
    } else {
        (40 * MIB + 1, 8 * MIB, copy_opts(16 * MIB, 4 * MIB, 4))
    };
    let env = Env::new().await;
    const SEED: u64 = 7;

    // The source: a multipart upload of generated parts, two at a time.
    let started = Instant::now();
    let id = env
        .c
        .initiate_multipart_upload("src-bucket", "huge.bin", &source_options())
        .await
        .unwrap();
    let parts_total = size.div_ceil(write_part);
    let mut parts = Vec::new();
    let mut next = 1u64;
    let mut set = tokio::task::JoinSet::new();
    while next <= parts_total || !set.is_empty() {
        while next <= parts_total && set.len() < 2 {
            let (c, id, n) = (env.c.clone(), id.clone(), next);
            next += 1;
            set.spawn(async move {
                let offset = (n - 1) * write_part;
                let len = write_part.min(size - offset);
                let mut buf = vec![0u8; len as usize];
                fill_sparse(&mut buf, offset, SEED);
                c.upload_part("src-bucket", "huge.bin", &id, n as u32, buf.into())
                    .await
                    .unwrap()
            });
        }
        if let Some(done) = set.join_next().await {
            parts.push(CompletedPart::from(&done.unwrap()));
        }
    }
    parts.sort_by_key(|p| p.part_number);
    let src = env
        .c
        .complete_multipart_upload("src-bucket", "huge.bin", &id, &parts)
        .await
        .unwrap();
    let written = started.elapsed();

    let started = Instant::now();
    let out = env
        .c
        .copy_large(
            "src-bucket",
            "huge.bin",
            "dst-bucket",
            "huge-copy.bin",
            &opts,
        )
        .await
        .unwrap();
    let copied = started.elapsed();
    println!(
        "{} bytes: source written in {written:?}, copied in {copied:?} ({} parts)",
        size, out.parts
    );
    assert_eq!(out.size, size);
    assert!(out.parts > 1);
    assert_eq!(out.crc64, src.crc64);
    let head = env
        .c
        .head_object("dst-bucket", "huge-copy.bin")
        .await
        .unwrap();
    assert_eq!((head.size, head.crc64), (size, src.crc64));
    assert_eq!(head.content_type.as_deref(), Some("text/csv"));
    assert_eq!(
        head.metadata.get("owner").map(String::as_str),
        Some("alice")
    );
    // Spot checks of the bytes: the start, both sides of part boundaries, the end.
    let part = if big { 8 * MIB } else { 4 * MIB };
    for (first, len) in [
        (0, 4096),
        (part - 10, 20),
        (3 * part - 1, 2),
        (write_part - 7, 14),
        (size - 5000, 5000),
    ] {
        let got = env
            .c
            .get_object(
                "dst-bucket",
                "huge-copy.bin",
                ossguard::GetObjectOptions {
                    range: Some(ossguard_proto::range::ByteRange::Closed {
                        first,
                        last: first + len - 1,
                    }),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        let mut want = vec![0u8; len as usize];
        fill_sparse(&mut want, first, SEED);
        assert!(got[..] == want[..], "bytes {first}+{len}");
    }
    assert_eq!(env.open_uploads("dst-bucket").await, 0);
}
