//! The fallback chain against real emulators (issue 12's acceptance): an outage served from a
//! warm cache, a replica taking over and handing back, writes spooled and replayed in order
//! with a conflict kept, and pending writes surviving the end of a process.

use std::time::{Duration, Instant};

use bytes::Bytes;
use ossguard::cache::CacheConfig;
use ossguard::fallback::{DefaultResource, SpoolOptions};
use ossguard::spool::Expect;
use ossguard::{BreakerState, Client, Credentials, Fallback, Policy, Source, WriteOutcome};
use ossguard_emulator::faults::FaultConfig;
use ossguard_emulator::server::{Emulator, EmulatorConfig};

const AK: &str = "fb-ak";
const SK: &str = "fb-sk";

async fn emulator(dir: &std::path::Path, name: &str) -> Emulator {
    let mut cfg = EmulatorConfig::local(dir.join(name), AK, SK);
    cfg.sync = false;
    Emulator::start(cfg).await.unwrap()
}

/// The default policy with a short deadline and a fast breaker probe, so an outage is
/// detected and a recovery noticed within a test's time.
fn policy() -> Policy {
    let mut p = Policy {
        deadline: Duration::from_secs(2),
        transfer_deadline: Some(Duration::from_secs(2)),
        ..Policy::default()
    };
    if let Some(b) = p.breaker.as_mut() {
        b.probe_interval = Duration::from_millis(200);
        b.ramp = Duration::from_millis(200);
    }
    p
}

fn client(emu: &Emulator) -> Client {
    Client::builder()
        .endpoint(emu.endpoint())
        .credentials(Credentials::new(AK, SK))
        .policy(policy())
        .build()
        .unwrap()
}

fn outage(emu: &Emulator, refuse_ms: u64) {
    let rules =
        format!(r#"{{"rules": [{{"fault": {{"kind": "outage", "refuse_ms": {refuse_ms}}}}}]}}"#);
    emu.faults()
        .install(FaultConfig::parse(&rules).unwrap())
        .unwrap();
}

fn body(i: usize) -> Bytes {
    Bytes::from(
        (0..1000 + i * 37)
            .map(|j| (i * 31 + j) as u8)
            .collect::<Vec<u8>>(),
    )
}

fn p99(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[(v.len() * 99 / 100).min(v.len() - 1)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_is_served_stale_from_a_warm_cache() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(dir.path(), "primary").await;
    let primary = client(&emu);
    primary
        .create_bucket("fb-bucket", Default::default())
        .await
        .unwrap();
    let cfg = CacheConfig::default().max_age(Duration::ZERO);
    let fb = Fallback::builder()
        .cache(dir.path().join("cache"), cfg)
        .default_resource("missing/", DefaultResource::new("placeholder", None))
        .build(primary.clone())
        .await
        .unwrap();
    let keys = 50;
    for i in 0..keys {
        primary
            .put_object(
                "fb-bucket",
                &format!("k{i}"),
                body(i).into(),
                Default::default(),
            )
            .await
            .unwrap();
        let s = fb.get("fb-bucket", &format!("k{i}")).await.unwrap();
        assert_eq!((s.bytes, s.source), (body(i), Source::Primary));
    }
    // Revalidated with a 304 while OSS is up: the cached bytes, confirmed by the primary.
    let s = fb.get("fb-bucket", "k1").await.unwrap();
    assert_eq!((s.bytes, s.source), (body(1), Source::Primary));
    assert_eq!(fb.cache().unwrap().stats().entries, keys as u64);

    // Refused for 300 ms, then blackholed; reads for at least 1.5 s (and 2,000 reads).
    outage(&emu, 300);
    let (mut ok, mut stale, mut open_lat) = (0, 0, Vec::new());
    let started = Instant::now();
    let mut reads = 0;
    while reads < 20_000 && (reads < 2000 || started.elapsed() < Duration::from_millis(1500)) {
        let n = reads;
        reads += 1;
        let i = n % keys;
        let t = Instant::now();
        let open = primary.breaker_state() == BreakerState::Open;
        match fb.get("fb-bucket", &format!("k{i}")).await {
            Ok(s) => {
                assert_eq!(s.bytes, body(i), "wrong bytes for k{i}");
                if matches!(s.source, Source::Cache { stale: true, .. }) {
                    stale += 1;
                }
                ok += 1;
            }
            Err(e) => println!("read {n} failed: {e}"),
        }
        if open {
            open_lat.push(t.elapsed());
        }
    }
    // Nothing cached, nothing at OSS: the default resource for its prefix.
    let d = fb.get("fb-bucket", "missing/x.png").await.unwrap();
    assert_eq!(
        (&d.bytes[..], d.source),
        (&b"placeholder"[..], Source::Default)
    );
    let took = started.elapsed();
    println!(
        "outage: {ok}/{reads} reads succeeded ({stale} flagged stale) in {took:?}; breaker open for {} of them, their p99 {:?}",
        open_lat.len(),
        p99(open_lat.clone())
    );
    assert!(ok * 1000 >= reads * 999, "{ok}/{reads}");
    assert_eq!(stale, ok, "every answer during the outage is flagged stale");
    assert!(open_lat.len() > reads / 2, "the breaker opened early");
    let mut r = prometheus_client::registry::Registry::default();
    primary.register_metrics(&mut r);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &r).unwrap();
    assert!(
        text.contains(&format!(
            "ossguard_fallback_serves_total{{operation=\"GetObject\",source=\"cache_stale\"}} {stale}"
        )),
        "{text}"
    );
    assert!(text.contains("outcome=\"served_stale\""), "{text}");
    emu.faults().clear();
    emu.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_takes_over_during_an_outage_and_hands_back() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(dir.path(), "primary").await;
    let rep = emulator(dir.path(), "replica").await;
    let (primary, replica) = (client(&emu), client(&rep));
    primary
        .create_bucket("fb-bucket", Default::default())
        .await
        .unwrap();
    replica
        .create_bucket("fb-copy", Default::default())
        .await
        .unwrap();
    for i in 0..10 {
        let k = format!("k{i}");
        primary
            .put_object("fb-bucket", &k, body(i).into(), Default::default())
            .await
            .unwrap();
        replica
            .put_object("fb-copy", &k, body(i).into(), Default::default())
            .await
            .unwrap();
    }
    let fb = Fallback::builder()
        .replica(replica, Some("fb-copy".into()))
        .build(primary.clone())
        .await
        .unwrap();
    let mut counts = std::collections::BTreeMap::new();
    let mut phase = |name: &'static str, s: &Source| {
        *counts.entry((name, format!("{s:?}"))).or_insert(0u32) += 1;
    };
    for i in 0..10 {
        let s = fb.get("fb-bucket", &format!("k{i}")).await.unwrap();
        phase("before", &s.source);
    }
    outage(&emu, 500);
    for n in 0..200 {
        let i = n % 10;
        let s = fb.get("fb-bucket", &format!("k{i}")).await.unwrap();
        assert_eq!(s.bytes, body(i));
        assert_eq!(s.source, Source::Replica);
        phase("outage", &s.source);
    }
    emu.faults().clear();
    // Back to the primary once its breaker lets a probe through and it succeeds.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut back = 0;
    while back < 20 && Instant::now() < deadline {
        let s = fb.get("fb-bucket", "k3").await.unwrap();
        assert_eq!(s.bytes, body(3));
        phase("after", &s.source);
        if s.source == Source::Primary {
            back += 1;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("replica failover, reads by phase and source: {counts:?}");
    assert_eq!(back, 20, "reads came back to the primary");
    assert_eq!(primary.breaker_state(), BreakerState::Closed);
    emu.shutdown().await.unwrap();
    rep.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_spooled_during_an_outage_replay_in_order_and_keep_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(dir.path(), "primary").await;
    let primary = client(&emu);
    primary
        .create_bucket("fb-bucket", Default::default())
        .await
        .unwrap();
    // The writer saw `k7` (version 0) before the outage.
    let seen = primary
        .put_object("fb-bucket", "k7", body(0).into(), Default::default())
        .await
        .unwrap();
    let spool_dir = dir.path().join("spool");
    let fb = Fallback::builder()
        .spool(&spool_dir, SpoolOptions::default())
        .build(primary.clone())
        .await
        .unwrap();
    outage(&emu, 60_000);
    let mut ids = Vec::new();
    for n in 0..100 {
        let key = format!("k{}", n % 20);
        let expect = match key.as_str() {
            "k7" => Some(Expect::ETag(seen.etag.clone())),
            _ => Some(Expect::Unknown),
        };
        match fb
            .put("fb-bucket", &key, body(n), Default::default(), expect)
            .await
            .unwrap()
        {
            WriteOutcome::Spooled(id) => ids.push(id),
            WriteOutcome::Stored(_) => panic!("stored during an outage"),
        }
    }
    assert_eq!(fb.spool().unwrap().pending().len(), 100);
    // The process ends with everything pending: the next one opens the same spool.
    drop(fb);
    emu.faults().clear();
    // Meanwhile someone else changed k7 on OSS (a fresh client: this one's breaker is open
    // from the outage).
    let primary = client(&emu);
    primary
        .put_object(
            "fb-bucket",
            "k7",
            Bytes::from_static(b"theirs").into(),
            Default::default(),
        )
        .await
        .unwrap();
    // A fresh client: the old one's breaker is still open from the outage.
    let fb = Fallback::builder()
        .spool(&spool_dir, SpoolOptions::default())
        .build(client(&emu))
        .await
        .unwrap();
    assert_eq!(
        fb.spool().unwrap().pending().len(),
        100,
        "pending entries survived"
    );
    let report = fb.replay().await.unwrap();
    println!(
        "spool: {} spooled, {} replayed, {} conflicts, stopped: {:?}",
        ids.len(),
        report.replayed.len(),
        report.conflicts.len(),
        report.stopped
    );
    assert!(report.stopped.is_none(), "{:?}", report.stopped);
    assert_eq!(report.replayed.len(), 95);
    assert_eq!(report.conflicts.len(), 5, "k7's five writes");
    assert!(report.conflicts.iter().all(|c| c.key == "k7"));
    // In order: each key holds its last spooled write; k7 keeps the other writer's bytes.
    for k in 0..20 {
        let got = primary
            .get_object("fb-bucket", &format!("k{k}"), Default::default())
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        if k == 7 {
            assert_eq!(&got[..], b"theirs");
        } else {
            assert_eq!(got, body(80 + k), "k{k}");
        }
    }
    let replayed: Vec<u64> = report.replayed.iter().map(|r| r.id.0).collect();
    assert!(replayed.windows(2).all(|w| w[0] < w[1]), "in order");
    // The conflicts stay for a person to decide.
    assert_eq!(fb.spool().unwrap().pending().len(), 5);
    emu.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_drops_changed_and_deleted_entries_only() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(dir.path(), "primary").await;
    let primary = client(&emu);
    primary
        .create_bucket("fb-bucket", Default::default())
        .await
        .unwrap();
    let fb = Fallback::builder()
        .cache(dir.path().join("cache"), CacheConfig::default())
        .build(primary.clone())
        .await
        .unwrap();
    for i in 0..5 {
        let k = format!("k{i}");
        primary
            .put_object("fb-bucket", &k, body(i).into(), Default::default())
            .await
            .unwrap();
        fb.get("fb-bucket", &k).await.unwrap();
    }
    primary
        .put_object("fb-bucket", "k1", body(9).into(), Default::default())
        .await
        .unwrap();
    primary.delete_object("fb-bucket", "k2").await.unwrap();
    let r = fb.verify_cache().await.unwrap();
    assert_eq!((r.checked, r.dropped, r.unreachable), (5, 2, 0));
    let left: Vec<String> = fb
        .cache()
        .unwrap()
        .entries()
        .into_iter()
        .map(|e| e.key)
        .collect();
    assert_eq!(left, ["k0", "k3", "k4"]);
    // Fresh (max_age 60 s): served without asking OSS, counted apart.
    let s = fb.get("fb-bucket", "k0").await.unwrap();
    assert!(
        matches!(s.source, Source::Cache { stale: false, .. }),
        "{:?}",
        s.source
    );
    // During an outage verification keeps what it cannot check.
    outage(&emu, 60_000);
    let r = fb.verify_cache().await.unwrap();
    assert_eq!((r.checked, r.dropped, r.unreachable), (3, 0, 3));
    emu.faults().clear();
    emu.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_copy_goes_when_its_write_may_have_landed() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(dir.path(), "primary").await;
    let primary = client(&emu);
    primary
        .create_bucket("fb-bucket", Default::default())
        .await
        .unwrap();
    let fb = Fallback::builder()
        .cache(dir.path().join("cache"), CacheConfig::default()) // fresh for 60 s
        .spool(dir.path().join("spool"), SpoolOptions::default())
        .build(primary.clone())
        .await
        .unwrap();
    let cached =
        |fb: &Fallback, key: &str| fb.cache().unwrap().entries().iter().any(|e| e.key == key);
    for k in ["dropped", "spooled"] {
        primary
            .put_object("fb-bucket", k, body(0).into(), Default::default())
            .await
            .unwrap();
        fb.get("fb-bucket", k).await.unwrap();
        assert!(cached(&fb, k));
    }

    // The PUT is stored, its answer held; the caller gives up meanwhile.
    let hold = r#"{"rules": [{"match": {"operations": ["PutObject"]}, "limit": 1,
        "fault": {"kind": "stall_before_headers", "stall_ms": 3000}}]}"#;
    emu.faults()
        .install(FaultConfig::parse(hold).unwrap())
        .unwrap();
    tokio::select! {
        r = fb.put("fb-bucket", "dropped", body(1), Default::default(), None) => {
            panic!("answered before the drop: {r:?}")
        }
        fired = emu.faults().wait_injected(1, Duration::from_secs(10)) => {
            assert!(fired, "no PUT within 10 s");
        }
    }
    assert!(
        !cached(&fb, "dropped"),
        "the old copy would be served as fresh"
    );
    let s = fb.get("fb-bucket", "dropped").await.unwrap();
    assert_eq!(s.bytes, body(1));

    // Without a spool: every answer lost after the PUT was carried out. The write failed as
    // far as the caller knows, but OSS may hold the new bytes.
    let no_spool = Fallback::builder()
        .cache(dir.path().join("cache-2"), CacheConfig::default())
        .build(client(&emu))
        .await
        .unwrap();
    primary
        .put_object(
            "fb-bucket",
            "unanswered",
            body(0).into(),
            Default::default(),
        )
        .await
        .unwrap();
    no_spool.get("fb-bucket", "unanswered").await.unwrap();
    assert!(cached(&no_spool, "unanswered"));
    let lose = r#"{"rules": [{"match": {"operations": ["PutObject"]},
        "fault": {"kind": "reset", "after_processing": true}}]}"#;
    emu.faults()
        .install(FaultConfig::parse(lose).unwrap())
        .unwrap();
    let r = no_spool
        .put("fb-bucket", "unanswered", body(3), Default::default(), None)
        .await;
    assert!(r.is_err(), "{r:?}");
    assert!(
        !cached(&no_spool, "unanswered"),
        "the old copy would be served as fresh"
    );
    emu.faults().clear();

    // Spooled during an outage, replayed after: the cached copy is older than OSS's.
    emu.faults().clear();
    outage(&emu, 60_000);
    let w = fb
        .put("fb-bucket", "spooled", body(2), Default::default(), None)
        .await
        .unwrap();
    assert!(matches!(w, WriteOutcome::Spooled(_)), "{w:?}");
    emu.faults().clear();
    // A fresh chain over a fresh client (this one's breaker is open from the outage), the same
    // cache and spool.
    drop(fb);
    let fb = Fallback::builder()
        .cache(dir.path().join("cache"), CacheConfig::default())
        .spool(dir.path().join("spool"), SpoolOptions::default())
        .build(client(&emu))
        .await
        .unwrap();
    assert!(cached(&fb, "spooled"));
    let report = fb.replay().await.unwrap();
    assert_eq!(report.replayed.len(), 1, "{report:?}");
    assert!(!cached(&fb, "spooled"));
    let s = fb.get("fb-bucket", "spooled").await.unwrap();
    assert_eq!(s.bytes, body(2));
    emu.shutdown().await.unwrap();
}
