//! The resilience pipeline against real sockets on 127.0.0.1.

use std::time::{Duration, Instant};

use ossguard::{BreakerState, Client, Credentials, ErrorKind, Policy};

/// A port on 127.0.0.1 that refuses connections (bound, then released).
fn dead_endpoint() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}

fn client(endpoint: &str, policy: Policy) -> Client {
    Client::builder()
        .endpoint(endpoint)
        .credentials(Credentials::new("ak", "sk"))
        .policy(policy)
        .build()
        .unwrap()
}

#[tokio::test]
async fn dead_endpoint_trips_the_breaker_and_fails_fast() {
    let ep = dead_endpoint();
    let resilient = client(&ep, Policy::default());
    let naive = client(&ep, Policy::none());
    let n = 200;
    let started = Instant::now();
    let mut open_errors = 0;
    for _ in 0..n {
        let e = resilient.head_object("bucket", "key").await.unwrap_err();
        if matches!(e.kind(), ErrorKind::CircuitOpen) {
            open_errors += 1;
        }
    }
    let took = started.elapsed();
    for _ in 0..n {
        naive.head_object("bucket", "key").await.unwrap_err();
    }
    let (r, nv) = (resilient.stats(), naive.stats());
    println!(
        "dead endpoint, {n} ops each: resilient sent {} attempts ({} retries, {open_errors} failed fast, breaker {:?}) in {took:?}; naive sent {}",
        r.attempts,
        r.retries,
        resilient.breaker_state(),
        nv.attempts
    );
    assert_eq!(resilient.breaker_state(), BreakerState::Open);
    assert!(
        open_errors >= n - 10,
        "the breaker sheds nearly everything once open"
    );
    assert_eq!(
        nv.attempts, n as u64,
        "the naive client makes exactly one attempt per op"
    );
    assert!(
        r.attempts <= 20,
        "the resilient client stops sending to a dead endpoint: {r:?}"
    );
    assert!(took < Duration::from_secs(10));
    let e = resilient.head_object("bucket", "key").await.unwrap_err();
    assert!(e.to_string().contains("circuit breaker"), "{e}");
}

mod under_faults {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    use futures_util::StreamExt;
    use ossguard::{Body, Client, Credentials, Policy};
    use ossguard_emulator::faults::FaultConfig;
    use ossguard_emulator::server::{Emulator, EmulatorConfig};

    const AK: &str = "pipe-ak";
    const SK: &str = "pipe-sk";

    async fn start() -> (Emulator, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = EmulatorConfig::local(dir.path().join("data"), AK, SK);
        cfg.sync = false;
        (Emulator::start(cfg).await.unwrap(), dir)
    }

    fn client(emu: &Emulator, policy: Policy) -> Client {
        Client::builder()
            .endpoint(emu.endpoint())
            .credentials(Credentials::new(AK, SK))
            .policy(policy)
            .build()
            .unwrap()
    }

    fn faults(emu: &Emulator, json: &str) {
        emu.faults()
            .install(FaultConfig::parse(json).unwrap())
            .unwrap();
    }

    /// One of five mixed operations on key `i`; `Ok(())` when the op did what it should.
    async fn mixed_op(c: &Client, i: u64) -> Result<(), ossguard::Error> {
        let key = format!("k/{}", i % 50);
        match i % 5 {
            0 | 1 => c
                .put_object(
                    "f1-bucket",
                    &key,
                    Body::from(vec![(i % 251) as u8; 1000 + (i % 7) as usize * 1000]),
                    Default::default(),
                )
                .await
                .map(|_| ()),
            2 => c
                .get_object("f1-bucket", &key, Default::default())
                .await?
                .bytes()
                .await
                .map(|_| ()),
            3 => c.head_object("f1-bucket", &key).await.map(|_| ()),
            _ => c
                .list_objects_page("f1-bucket", &Default::default(), None)
                .await
                .map(|_| ()),
        }
    }

    /// F1: 10 % random 500 / 503 / connection resets (3.4 % each), 2,000 mixed operations.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn random_errors_resilient_vs_naive() {
        let (emu, _d) = start().await;
        let setup = client(&emu, Policy::default());
        setup
            .create_bucket("f1-bucket", Default::default())
            .await
            .unwrap();
        for i in 0..50u64 {
            setup
                .put_object(
                    "f1-bucket",
                    &format!("k/{i}"),
                    Body::from(vec![1u8; 1000]),
                    Default::default(),
                )
                .await
                .unwrap();
        }
        faults(
            &emu,
            r#"{"seed": 7, "rules": [
                {"probability": 0.034, "match": {"buckets": ["f1-bucket"]}, "fault": {"kind": "status", "status": 500}},
                {"probability": 0.034, "match": {"buckets": ["f1-bucket"]}, "fault": {"kind": "status", "status": 503, "code": "ServiceUnavailable", "qos_delay_ms": 20}},
                {"probability": 0.034, "match": {"buckets": ["f1-bucket"]}, "fault": {"kind": "reset"}}
            ]}"#,
        );
        let mut report = Vec::new();
        for (name, policy) in [("resilient", Policy::default()), ("naive", Policy::none())] {
            let c = client(&emu, policy);
            let ok = Arc::new(AtomicU64::new(0));
            let n = 2000u64;
            futures_util::stream::iter(0..n)
                .for_each_concurrent(32, |i| {
                    let (c, ok) = (c.clone(), ok.clone());
                    async move {
                        match mixed_op(&c, i).await {
                            Ok(()) => {
                                ok.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(e) if std::env::var("OSSGUARD_DEBUG_F1").is_ok() => {
                                eprintln!("op {i}: {e}")
                            }
                            Err(_) => {}
                        }
                    }
                })
                .await;
            let s = c.stats();
            let ok = ok.load(Ordering::Relaxed);
            println!(
                "F1 10% errors, {name}: {ok}/{n} succeeded ({:.2}%), {:.3} attempts/op, {} retries, {} integrity failures, {} breaker rejections",
                100.0 * ok as f64 / n as f64,
                s.attempts as f64 / s.operations as f64,
                s.retries,
                s.integrity_failures,
                s.breaker_rejections
            );
            report.push((name, ok, n, s));
        }
        let (_, ok, n, s) = report[0];
        assert!(ok as f64 >= 0.999 * n as f64, "resilient success {ok}/{n}");
        assert!(s.attempts as f64 / s.operations as f64 <= 1.15);
        assert_eq!(s.integrity_failures, 0);
        let (_, naive_ok, _, _) = report[1];
        assert!(naive_ok < ok, "the naive client must do worse");
        emu.shutdown().await.unwrap();
    }

    /// A 64 MiB GET whose connection is reset mid-body 3 times completes (Range + If-Match
    /// resume), CRC-64 checked across the seams, with ≤ 1.1× its size sent by the server.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn get_resumes_after_three_mid_body_resets() {
        let (emu, _d) = start().await;
        let c = client(&emu, Policy::default());
        c.create_bucket("big-bucket", Default::default())
            .await
            .unwrap();
        let size = 64usize << 20;
        let data: Vec<u8> = (0..size)
            .map(|i| (i as u32).wrapping_mul(2_654_435_761) as u8)
            .collect();
        c.put_object(
            "big-bucket",
            "big",
            Body::from(data.clone()),
            Default::default(),
        )
        .await
        .unwrap();
        faults(
            &emu,
            r#"{"seed": 1, "rules": [{"limit": 3, "match": {"operations": ["GetObject"]}, "fault": {"kind": "reset_mid_body", "after_bytes": 16000000}}]}"#,
        );
        let got = c
            .get_object("big-bucket", "big", Default::default())
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert!(got.as_ref() == data.as_slice(), "resumed body differs");
        let stats = emu.faults().stats();
        let s = c.stats();
        // Server side: each broken response sent at most `after_bytes` (plus socket buffers the
        // reset discards); the last one sends the rest.
        let sent_upper = 3 * 16_000_000u64 + (size as u64 - 3 * 16_000_000);
        println!(
            "64 MiB GET with 3 mid-body resets: {} body resumes, faults injected {}, server sent ≤ {:.3}x the object",
            s.body_resumes,
            stats.injected,
            sent_upper as f64 / size as f64
        );
        assert_eq!(s.body_resumes, 3);
        assert_eq!(stats.injected, 3, "the fault bit three times");
        assert!(sent_upper as f64 <= 1.1 * size as f64);
        emu.shutdown().await.unwrap();
    }

    /// F8: the server clock is 20 minutes ahead; operations succeed after one correction.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn clock_skew_is_learned_once() {
        let (emu, _d) = start().await;
        faults(
            &emu,
            r#"{"seed": 1, "rules": [{"fault": {"kind": "clock_skew", "skew_ms": 1200000}}]}"#,
        );
        let c = client(&emu, Policy::default());
        c.create_bucket("skew-bucket", Default::default())
            .await
            .unwrap();
        for i in 0..20 {
            c.put_object(
                "skew-bucket",
                &format!("o{i}"),
                Body::from("x"),
                Default::default(),
            )
            .await
            .unwrap();
        }
        let naive = client(&emu, Policy::none());
        let e = naive.head_object("skew-bucket", "o1").await.unwrap_err();
        let s = c.stats();
        println!(
            "clock skew 20 min: 21 ops ok after {} correction(s); naive client: {}",
            s.skew_corrections,
            e.code().unwrap_or("?")
        );
        assert_eq!(s.skew_corrections, 1);
        assert_eq!(e.code(), Some("RequestTimeTooSkewed"));
        emu.shutdown().await.unwrap();
    }
}

mod inherited_deadline {
    use std::time::{Duration, Instant};

    use ossguard::pipeline::deadline::with_deadline;
    use ossguard::{Client, Credentials, Policy, TransferOptions};
    use ossguard_emulator::faults::FaultConfig;
    use ossguard_emulator::server::{Emulator, EmulatorConfig};

    /// The parts of a multipart upload (spawned tasks) stop at the caller's overall deadline.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn multipart_parts_inherit_the_remaining_budget() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = EmulatorConfig::local(dir.path().join("data"), "ak", "sk");
        cfg.sync = false;
        let emu = Emulator::start(cfg).await.unwrap();
        let c = Client::builder()
            .endpoint(emu.endpoint())
            .credentials(Credentials::new("ak", "sk"))
            .policy(Policy::default())
            .build()
            .unwrap();
        c.create_bucket("deadline-bucket", Default::default())
            .await
            .unwrap();
        emu.faults()
            .install(FaultConfig::parse(r#"{"seed": 1, "rules": [{"match": {"operations": ["UploadPart"]}, "fault": {"kind": "latency", "delay_ms": 3000}}]}"#).unwrap())
            .unwrap();
        let src = dir.path().join("src.bin");
        std::fs::write(&src, vec![7u8; 3 * 200 * 1024]).unwrap();
        let opts = TransferOptions {
            resumable: false,
            ..TransferOptions::default().with_part_size(200 * 1024)
        };
        let started = Instant::now();
        let r = with_deadline(
            Duration::from_millis(800),
            c.upload_file(&src, "deadline-bucket", "k", &opts),
        )
        .await;
        let took = started.elapsed();
        println!(
            "upload under an 800 ms overall deadline with 3 s part latency: {:?} after {took:?}",
            r.as_ref().err().map(|e| e.to_string())
        );
        let e = r.unwrap_err();
        assert!(
            e.to_string().contains("deadline") || e.to_string().contains("no response"),
            "{e}"
        );
        assert!(
            took < Duration::from_millis(2500),
            "parts waited past the inherited deadline: {took:?}"
        );
        emu.shutdown().await.unwrap();
    }
}

mod hedging {
    use std::time::{Duration, Instant};

    use ossguard::{Body, Client, Credentials, Policy};
    use ossguard_emulator::faults::FaultConfig;
    use ossguard_emulator::server::{Emulator, EmulatorConfig};

    /// F4-style stalls: 2 % of GETs hold their headers for 2 s. Once the client has seen 200
    /// answers it hedges after the observed p99, so stalled reads finish in milliseconds.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hedged_gets_cut_stalls() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = EmulatorConfig::local(dir.path().join("data"), "ak", "sk");
        cfg.sync = false;
        let emu = Emulator::start(cfg).await.unwrap();
        let c = Client::builder()
            .endpoint(emu.endpoint())
            .credentials(Credentials::new("ak", "sk"))
            .policy(Policy::default())
            .build()
            .unwrap();
        c.create_bucket("hedge-bucket", Default::default())
            .await
            .unwrap();
        c.put_object(
            "hedge-bucket",
            "small",
            Body::from(vec![5u8; 4096]),
            Default::default(),
        )
        .await
        .unwrap();
        for _ in 0..250 {
            c.get_object("hedge-bucket", "small", Default::default())
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
        }
        emu.faults()
            .install(FaultConfig::parse(r#"{"seed": 9, "rules": [{"probability": 0.02, "match": {"operations": ["GetObject"]}, "fault": {"kind": "stall_before_headers", "stall_ms": 2000}}]}"#).unwrap())
            .unwrap();
        let before = c.stats();
        let mut lat = Vec::new();
        for _ in 0..500 {
            let t = Instant::now();
            c.get_object("hedge-bucket", "small", Default::default())
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            lat.push(t.elapsed());
        }
        lat.sort();
        let s = c.stats();
        let hedges = s.hedges - before.hedges;
        let stalls = emu.faults().stats().injected;
        let p999 = lat[(lat.len() * 999 / 1000).min(lat.len() - 1)];
        println!(
            "hedging vs 2% stalls of 2 s: {stalls} stalls injected, {hedges} hedges for 500 GETs ({:.1}%), p50 {:?}, p99.9 {p999:?}, max {:?}",
            100.0 * hedges as f64 / 500.0,
            lat[250],
            lat[499]
        );
        assert!(stalls >= 3, "the fault must bite");
        assert!(
            p999 < Duration::from_millis(1000),
            "stalls were not hedged: {p999:?}"
        );
        assert!(hedges as f64 <= 0.05 * 500.0 + 1.0);
        emu.shutdown().await.unwrap();
    }
}

mod idle_timeout {
    use std::time::Duration;

    use futures_util::StreamExt;
    use ossguard::{Body, Client, Credentials, Policy};
    use ossguard_emulator::faults::FaultConfig;
    use ossguard_emulator::server::{Emulator, EmulatorConfig};

    async fn setup() -> (Emulator, Client, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = EmulatorConfig::local(dir.path().join("data"), "ak", "sk");
        cfg.sync = false;
        let emu = Emulator::start(cfg).await.unwrap();
        let c = Client::builder()
            .endpoint(emu.endpoint())
            .credentials(Credentials::new("ak", "sk"))
            .read_timeout(Duration::from_millis(500))
            .policy(Policy::none())
            .build()
            .unwrap();
        c.create_bucket("idle-bucket", Default::default())
            .await
            .unwrap();
        c.put_object(
            "idle-bucket",
            "o",
            Body::from(vec![3u8; 8 << 20]),
            Default::default(),
        )
        .await
        .unwrap();
        (emu, c, dir)
    }

    /// A caller that pauses longer than the idle timeout between reads is not a stall.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn slow_consumer_is_not_a_stall() {
        let (emu, c, _d) = setup().await;
        let mut body = c
            .get_object("idle-bucket", "o", Default::default())
            .await
            .unwrap()
            .body;
        let mut n = 0usize;
        let mut pauses = 0;
        while let Some(chunk) = body.next().await {
            n += chunk.expect("a slow consumer must not see a timeout").len();
            if pauses < 3 {
                tokio::time::sleep(Duration::from_millis(1200)).await;
                pauses += 1;
            }
        }
        assert_eq!(n, 8 << 20);
        emu.shutdown().await.unwrap();
    }

    /// A server that stops sending mid-body is detected by the idle timeout.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn server_stall_mid_body_is_detected() {
        let (emu, c, _d) = setup().await;
        emu.faults()
            .install(FaultConfig::parse(r#"{"seed": 1, "rules": [{"fault": {"kind": "stall_mid_body", "after_bytes": 1000000, "stall_ms": 5000}}]}"#).unwrap())
            .unwrap();
        let t = std::time::Instant::now();
        let e = c
            .get_object("idle-bucket", "o", Default::default())
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap_err();
        println!("stall mid-body detected after {:?}: {e}", t.elapsed());
        assert!(e.to_string().contains("body_stalled"), "{e}");
        assert!(t.elapsed() < Duration::from_secs(3));
        emu.shutdown().await.unwrap();
    }
}

mod corruption {
    use std::path::Path;

    use ossguard::{Body, Client, Credentials, ErrorKind, Policy};
    use ossguard_emulator::faults::FaultConfig;
    use ossguard_emulator::server::{Emulator, EmulatorConfig};

    const RULE: &str = r#"{"seed": 1, "rules": [{"limit": 1, "match": {"operations": ["GetObject"]}, "fault": {"kind": "corrupt_bytes", "offsets": [12345]}}]}"#;

    /// F7: a flipped byte in transit is caught by ossguard's CRC-64 (naive client: an integrity
    /// error; resilient client: retried and correct) and by oss2's own check.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn flipped_bytes_are_caught_by_ossguard_and_oss2() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = EmulatorConfig::local(dir.path().join("data"), "ak", "sk");
        cfg.sync = false;
        let emu = Emulator::start(cfg).await.unwrap();
        let build = |p: Policy| {
            Client::builder()
                .endpoint(emu.endpoint())
                .credentials(Credentials::new("ak", "sk"))
                .policy(p)
                .build()
                .unwrap()
        };
        let (naive, resilient) = (build(Policy::none()), build(Policy::default()));
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 31) as u8).collect();
        naive
            .create_bucket("crc-bucket", Default::default())
            .await
            .unwrap();
        naive
            .put_object(
                "crc-bucket",
                "o",
                Body::from(data.clone()),
                Default::default(),
            )
            .await
            .unwrap();

        emu.faults()
            .install(FaultConfig::parse(RULE).unwrap())
            .unwrap();
        let e = naive
            .get_object("crc-bucket", "o", Default::default())
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap_err();
        assert!(matches!(e.kind(), ErrorKind::Integrity { .. }), "{e}");

        // The resilient client re-reads a whole object whose CRC-64 did not match.
        emu.faults()
            .install(FaultConfig::parse(RULE).unwrap())
            .unwrap();
        let path = dir.path().join("o.bin");
        resilient
            .download_file("crc-bucket", "o", &path, &Default::default())
            .await
            .unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            data,
            "after the corrupted read the data is correct"
        );
        let first = resilient.stats().integrity_failures;
        assert_eq!(
            first, 1,
            "exactly one corrupted read was detected and repeated"
        );

        emu.faults()
            .install(FaultConfig::parse(RULE).unwrap())
            .unwrap();
        let py = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/venv/bin/python");
        if !py.exists() {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "oss2 peer missing (run peers/install)"
            );
            eprintln!("WARNING: oss2 not installed; skipping its half");
        } else {
            let script = r#"
import oss2, sys
b = oss2.Bucket(oss2.Auth('ak', 'sk'), sys.argv[1], 'crc-bucket', region='cn-hangzhou')
try:
    b.get_object_to_file('o', sys.argv[2])
    print('NOT CAUGHT')
except oss2.exceptions.InconsistentError as e:
    print('CAUGHT', type(e).__name__)
"#;
            let out = std::process::Command::new(&py)
                .args([
                    "-c",
                    script,
                    &emu.endpoint(),
                    &dir.path().join("oss2.bin").display().to_string(),
                ])
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            println!("corrupted byte: ossguard naive -> {e}; resilient download_file -> {first} integrity failure, re-read, correct; oss2 -> {}", stdout.trim());
            assert!(
                stdout.contains("CAUGHT InconsistentError"),
                "oss2: {stdout} {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        emu.shutdown().await.unwrap();
    }
}
