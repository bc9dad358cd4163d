//! `upload_stream`: memory bounded by part size × concurrency; lengths that cannot fit in
//! 10 000 parts, or streams longer than they said, are refused before the excess is sent.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use ossguard::{Client, Credentials, TransferOptions};
use ossguard_emulator::faults::FaultConfig;
use ossguard_emulator::server::{Emulator, EmulatorConfig};
use tokio::io::{AsyncRead, ReadBuf};

const AK: &str = "us-ak";
const SK: &str = "us-sk";
const B: &str = "us-bucket";
const PART: u64 = 100 * 1024;

async fn setup() -> (Emulator, tempfile::TempDir, Client) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = EmulatorConfig::local(dir.path().join("data"), AK, SK);
    cfg.sync = false;
    let emu = Emulator::start(cfg).await.unwrap();
    let c = Client::builder()
        .endpoint(emu.endpoint())
        .credentials(Credentials::new(AK, SK))
        .build()
        .unwrap();
    c.create_bucket(B, Default::default()).await.unwrap();
    (emu, dir, c)
}

/// Bytes taken from the reader minus bytes of finished parts, at its highest.
#[derive(Default)]
struct Held {
    read: AtomicU64,
    done: AtomicU64,
    max: AtomicU64,
}

struct Counting<'a> {
    data: &'a [u8],
    held: Arc<Held>,
}

impl AsyncRead for Counting<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let n = buf.remaining().min(self.data.len());
        buf.put_slice(&self.data[..n]);
        self.data = &self.data[n..];
        let h = &self.held;
        let read = h.read.fetch_add(n as u64, Ordering::SeqCst) + n as u64;
        h.max
            .fetch_max(read - h.done.load(Ordering::SeqCst), Ordering::SeqCst);
        Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn memory_is_bounded_by_part_size_times_concurrency() {
    let (emu, _d, c) = setup().await;
    // Slow parts: the reader would run ahead if it could.
    emu.faults()
        .install(
            FaultConfig::parse(r#"{"seed": 1, "rules": [{"match": {"operations": ["UploadPart"]}, "fault": {"kind": "latency", "delay_ms": 50}}]}"#)
                .unwrap(),
        )
        .unwrap();
    let data: Vec<u8> = (0..PART * 8 + 10).map(|i| (i % 253) as u8).collect();
    let held = Arc::new(Held::default());
    let h = held.clone();
    let opts = TransferOptions::default()
        .with_part_size(PART)
        .with_concurrency(2)
        .with_progress(move |p| h.done.store(p.bytes_done, Ordering::SeqCst));
    let reader = Counting {
        data: &data,
        held: held.clone(),
    };
    let out = c.upload_stream(reader, B, "s", &opts).await.unwrap();
    assert!(out.etag.ends_with("-9\""), "{}", out.etag);
    let max = held.max.load(Ordering::SeqCst);
    assert!(
        max <= 2 * PART,
        "held {max} bytes, more than 2 parts of {PART}"
    );
    let got = c
        .get_object(B, "s", Default::default())
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(got[..] == data[..]);
}

#[tokio::test]
async fn a_length_beyond_10000_parts_is_refused_before_sending() {
    let (_emu, _d, c) = setup().await;
    let opts = TransferOptions {
        stream_len: Some(5 * 1024 * 1024 * 1024 * 10_000 + 1),
        ..Default::default()
    };
    let before = c.stats().operations;
    let e = c
        .upload_stream(&b"abc"[..], B, "huge", &opts)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("10000 parts"), "{e}");
    assert_eq!(c.stats().operations, before, "nothing was sent");
}

#[tokio::test]
async fn a_stream_longer_than_it_said_stops_before_the_excess() {
    let (emu, _d, c) = setup().await;
    emu.faults()
        .install(
            FaultConfig::parse(r#"{"seed": 1, "rules": [{"match": {"operations": ["UploadPart"]}, "fault": {"kind": "latency", "delay_ms": 0}}]}"#)
                .unwrap(),
        )
        .unwrap();
    let data = vec![7u8; 4 * PART as usize];
    let opts = TransferOptions {
        stream_len: Some(2 * PART + PART / 2),
        ..TransferOptions::default().with_part_size(PART)
    };
    let e = c
        .upload_stream(&data[..], B, "long", &opts)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("stream_len"), "{e}");
    // The third part would pass the declared length: it was never sent (parts 1 and 2 may
    // have been, before the upload was aborted).
    assert!(emu.faults().stats().rules[0].matched <= 2);
    assert!(c
        .list_multipart_uploads(B, "long")
        .await
        .unwrap()
        .is_empty());
    assert!(c.head_object(B, "long").await.is_err());
    // A stream shorter than it said is not completed either.
    let opts = TransferOptions {
        stream_len: Some(3 * PART),
        ..TransferOptions::default().with_part_size(PART)
    };
    let e = c
        .upload_stream(&data[..2 * PART as usize], B, "short", &opts)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("stream_len"), "{e}");
    assert!(c.head_object(B, "short").await.is_err());
}
