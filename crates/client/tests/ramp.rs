//! File transfers widen (`TransferOptions::max_concurrency`) where each connection is capped
//! on its own: `ossguard chaos` (in process) between the client and the emulator caps every TCP
//! connection at 2 MB/s each way. The decision itself (widen, keep, go back) is tested in virtual
//! time in `ossguard-resilience` (`ramp`); this proves the wiring: the width the transfer
//! reports through `Progress` ends at the ceiling (every doubling paid, which only a
//! per-connection bound makes it do), `with_concurrency` keeps it fixed, and the bytes arrive
//! whole.

use std::sync::{Arc, Mutex};

use ossguard::{Client, Credentials, Progress, TransferOptions};
use ossguard_chaos::{Chaos, NewToxic, ProxyConfig, Stream, ToxicKind};
use ossguard_emulator::server::{Emulator, EmulatorConfig};

const AK: &str = "ramp-ak";
const SK: &str = "ramp-sk";

/// Default options but small parts (so a 12 MiB file is 48 parts), recording every width seen.
fn opts(dir: &std::path::Path, widths: &Arc<Mutex<Vec<u32>>>) -> TransferOptions {
    let seen = widths.clone();
    TransferOptions {
        checkpoint_dir: Some(dir.join("checkpoints")),
        ..TransferOptions::default().with_part_size(256 * 1024)
    }
    .with_progress(move |p: Progress| seen.lock().unwrap().push(p.width))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_widen_through_a_per_connection_cap() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = EmulatorConfig::local(dir.path().join("data"), AK, SK);
    cfg.sync = false;
    let emu = Emulator::start(cfg).await.unwrap();
    let chaos = Chaos::new();
    let upstream = emu.endpoint().trim_start_matches("http://").to_owned();
    let info = chaos
        .create_proxy(ProxyConfig::new("link", upstream))
        .await
        .unwrap();
    for stream in [Stream::Upstream, Stream::Downstream] {
        let mut t = NewToxic::new(ToxicKind::Bandwidth { rate: 2000 });
        t.stream = stream;
        chaos.add_toxic("link", t).await.unwrap();
    }
    let c = Client::builder()
        .endpoint(format!("http://{}", info.listen))
        .credentials(Credentials::new(AK, SK))
        .build()
        .unwrap();
    c.create_bucket("ramp", Default::default()).await.unwrap();

    let data: Vec<u8> = (0..12u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let src = dir.path().join("src");
    std::fs::write(&src, &data).unwrap();

    let up = Arc::new(Mutex::new(Vec::new()));
    c.upload_file(&src, "ramp", "obj", &opts(dir.path(), &up))
        .await
        .unwrap();
    let dst = dir.path().join("dst");
    let down = Arc::new(Mutex::new(Vec::new()));
    c.download_file("ramp", "obj", &dst, &opts(dir.path(), &down))
        .await
        .unwrap();
    assert!(std::fs::read(&dst).unwrap() == data, "download differs");

    for (what, widths) in [("upload", up), ("download", down)] {
        let widths = widths.lock().unwrap().clone();
        let max = widths.iter().copied().max().unwrap();
        println!("{what}: widths reported {:?}", {
            let mut w = widths.clone();
            w.dedup();
            w
        });
        assert_eq!(widths[0], 4, "{what} starts at the default width");
        assert!(max <= 16, "{what} passed the ceiling: {widths:?}");
        assert_eq!(
            widths.last(),
            Some(&16),
            "{what} did not keep widening through the cap: {widths:?}"
        );
    }

    let fixed = Arc::new(Mutex::new(Vec::new()));
    c.upload_file(
        &src,
        "ramp",
        "fixed",
        &opts(dir.path(), &fixed).with_concurrency(4),
    )
    .await
    .unwrap();
    let fixed = fixed.lock().unwrap().clone();
    assert!(
        fixed.iter().all(|&w| w == 4),
        "with_concurrency(4) widened: {fixed:?}"
    );
    chaos.shutdown().await;
    emu.shutdown().await.unwrap();
}
