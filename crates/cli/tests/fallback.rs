//! Degraded mode through the real binary (issue 12): `cat`/`cp` served from the cache during an
//! emulator `outage`, uploads spooled (exit 6) and replayed, runs killed with entries pending,
//! `cache verify|purge|clean|stats` and `spool list|replay|drop`.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Env, Out};
use http::Method;

const BUCKET: &str = "degraded";
/// Refused (connection reset) for the whole window: fast failures.
const OUTAGE: &str = r#"{"rules":[{"name":"down","fault":{"kind":"outage"}}]}"#;
/// Blackholed from the start: requests are read and never answered.
const BLACKHOLE: &str = r#"{"rules":[{"name":"hole","fault":{"kind":"outage","refuse_ms":0}}]}"#;

async fn setup() -> Env {
    let env = Env::start().await;
    env.ok(&["mb", &format!("oss://{BUCKET}")]).await;
    env
}

async fn put(env: &Env, key: &str, body: &[u8]) {
    env.client()
        .put_object(BUCKET, key, body.to_vec().into(), Default::default())
        .await
        .unwrap();
}

/// The object's bytes on the emulator, or `None` when it does not exist.
async fn stored(env: &Env, key: &str) -> Option<Vec<u8>> {
    match env
        .client()
        .get_object(BUCKET, key, Default::default())
        .await
    {
        Ok(o) => Some(o.bytes().await.unwrap().to_vec()),
        Err(e) if e.status() == Some(404) => None,
        Err(e) => panic!("GET {key}: {e}"),
    }
}

async fn clear_faults(env: &Env) {
    let r = env.admin(Method::DELETE, "/-/faults", String::new()).await;
    assert!(r.status().is_success(), "DELETE /-/faults: {}", r.status());
}

fn url(key: &str) -> String {
    format!("oss://{BUCKET}/{key}")
}

fn with(dir_flag: &str, dir: &Path, args: &[&str]) -> Vec<String> {
    let mut v = vec![dir_flag.to_owned(), dir.display().to_string()];
    v.extend(args.iter().map(|s| s.to_string()));
    v
}

async fn run(env: &Env, args: &[String]) -> Out {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    env.run(&a).await
}

/// The last stderr line, as JSON (cat --json puts its document there).
fn stderr_json(o: &Out) -> serde_json::Value {
    let line = o.stderr.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("stderr is not JSON ({e}): {}", o.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_object_is_served_stale_during_an_outage() {
    let env = setup().await;
    let body = common::random_bytes(300_000, 7);
    put(&env, "doc.bin", &body).await;
    let cache = env.path("cache");
    // Fresh for 1 ms: every later run finds the copy stale and must ask OSS first.
    let c = |args: &[&str]| {
        let mut v = with("--cache-dir", &cache, &["--cache-max-age", "1ms"]);
        v.extend(args.iter().map(|s| s.to_string()));
        v
    };

    let o = run(&env, &c(&["cat", &url("doc.bin")])).await;
    assert_eq!((o.code, o.raw == body), (0, true), "{}", o.stderr);
    assert!(
        !o.stderr.contains("served from"),
        "primary: no note: {}",
        o.stderr
    );
    let o = run(&env, &c(&["--json", "cat", &url("doc.bin")])).await;
    assert_eq!(o.raw, body);
    let doc = stderr_json(&o);
    assert_eq!(
        (doc["source"].as_str(), doc["stale"].as_bool()),
        (Some("primary"), Some(false))
    );

    env.install_faults(OUTAGE.into()).await;
    let started = Instant::now();
    let o = run(&env, &c(&["cat", &url("doc.bin")])).await;
    let stale_cat = started.elapsed();
    assert_eq!(o.code, 0, "served from the cache: {}", o.stderr);
    assert!(o.raw == body, "byte-identical");
    assert!(
        o.stderr.contains("served from cache (stale, age ") && o.stderr.contains("OSS failed"),
        "{}",
        o.stderr
    );
    let o = run(&env, &c(&["--json", "cat", &url("doc.bin")])).await;
    assert!(o.raw == body);
    let doc = stderr_json(&o);
    assert_eq!(doc["source"], "cache");
    assert_eq!(doc["stale"], true);
    assert!(doc["age_s"].is_u64(), "{doc}");
    let o = run(&env, &c(&["-q", "cat", &url("doc.bin")])).await;
    assert_eq!((o.code, o.stderr.as_str()), (0, ""), "--quiet: no note");

    // cp downloads the same way, written whole.
    let local = env.path("out/doc.bin");
    let o = run(
        &env,
        &c(&[
            "--json",
            "cp",
            &url("doc.bin"),
            &local.display().to_string(),
        ]),
    )
    .await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(std::fs::read(&local).unwrap(), body);
    let doc = o.json();
    assert_eq!(
        (doc["served_from"].as_str(), doc["stale"].as_bool()),
        (Some("cache"), Some(true))
    );
    assert_eq!(doc["bytes"], 300_000);

    // Never a wrong answer: an uncached key and a run without the cache fail as before.
    let o = run(&env, &c(&["cat", &url("other")])).await;
    assert_eq!(o.code, 3, "{}", o.stderr);
    let o = env.run(&["cat", &url("doc.bin")]).await;
    assert_eq!((o.code, o.raw.len()), (3, 0), "{}", o.stderr);
    assert!(o.stderr.contains("error:"), "{}", o.stderr);
    println!("stale cat during the outage took {stale_cat:?}");
    assert!(stale_cat < Duration::from_secs(20), "{stale_cat:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_during_an_outage_is_spooled_then_replayed() {
    let env = setup().await;
    let spool = env.path("spool");
    let file = env.path("up.bin");
    let body = common::random_bytes(100_000, 11);
    std::fs::write(&file, &body).unwrap();
    let s = |args: &[&str]| with("--spool-dir", &spool, args);

    // Nothing was ever spooled: list is empty, replay has nothing to do.
    let o = run(&env, &s(&["spool", "list"])).await;
    assert_eq!((o.code, o.stdout.as_str()), (0, ""), "{}", o.stderr);

    env.install_faults(OUTAGE.into()).await;
    let f = file.display().to_string();
    let o = run(
        &env,
        &s(&[
            "cp",
            &f,
            &url("up.bin"),
            "--content-type",
            "application/x-test",
        ]),
    )
    .await;
    assert_eq!(
        o.code, 6,
        "accepted locally, not stored: {}\n{}",
        o.stderr, o.stdout
    );
    assert!(
        o.stderr.contains("spooled (id ")
            && o.stderr.contains("OSS unavailable: ")
            && o.stderr.contains("ossguard spool replay"),
        "{}",
        o.stderr
    );
    let o = run(&env, &s(&["--json", "cp", &f, &url("up2.bin")])).await;
    assert_eq!(o.code, 6, "{}", o.stderr);
    let doc = o.json();
    assert_eq!(
        (doc["spooled"].as_bool(), doc["stored"].as_bool()),
        (Some(true), Some(false))
    );
    let id2 = doc["id"].as_u64().unwrap();
    // Without a spool the same upload is an error, as before.
    let o = env.run(&["cp", &f, &url("up3.bin")]).await;
    assert_eq!(o.code, 3, "{}", o.stderr);

    let o = run(&env, &s(&["--json", "spool", "list"])).await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    let lines = o.json_lines();
    assert_eq!(lines.len(), 2, "{}", o.stdout);
    assert_eq!(lines[0]["key"], "up.bin");
    assert_eq!(lines[0]["content_type"], "application/x-test");
    assert_eq!(lines[0]["size"], 100_000);
    assert_eq!(lines[0]["state"], "pending");
    assert_eq!(lines[1]["id"].as_u64(), Some(id2));
    let o = run(&env, &s(&["spool", "list"])).await;
    assert!(o.stdout.contains("oss://degraded/up.bin") && o.stdout.contains("pending"));

    // Still down: the replay stops at the first entry and keeps everything.
    let o = run(&env, &s(&["--retries", "0", "spool", "replay"])).await;
    assert_eq!(o.code, 3, "{}\n{}", o.stderr, o.stdout);
    assert!(o.stderr.contains("still pending"), "{}", o.stderr);
    assert_eq!(
        run(&env, &s(&["--json", "spool", "list"]))
            .await
            .json_lines()
            .len(),
        2
    );

    clear_faults(&env).await;
    assert_eq!(stored(&env, "up.bin").await, None, "spooled is not stored");
    let o = run(&env, &s(&["--json", "spool", "replay"])).await;
    assert_eq!(o.code, 0, "{}\n{}", o.stderr, o.stdout);
    let doc = o.json();
    assert_eq!(doc["replayed"].as_array().unwrap().len(), 2, "{doc}");
    assert_eq!(doc["pending"], 0);
    assert_eq!(stored(&env, "up.bin").await.as_deref(), Some(&body[..]));
    assert_eq!(stored(&env, "up2.bin").await.as_deref(), Some(&body[..]));
    let head = env.client().head_object(BUCKET, "up.bin").await.unwrap();
    assert_eq!(head.content_type.as_deref(), Some("application/x-test"));
    let o = run(&env, &s(&["--json", "spool", "list"])).await;
    assert_eq!(o.stdout, "", "the spool is empty");

    // Concurrent runs share the spool (each waits for the other's lock), all acknowledged.
    env.install_faults(OUTAGE.into()).await;
    let args: Vec<_> = (0..3)
        .map(|i| s(&["-q", "cp", &f, &url(&format!("c{i}"))]))
        .collect();
    for o in futures_util::future::join_all(args.iter().map(|a| run(&env, a))).await {
        assert_eq!(o.code, 6, "{}", o.stderr);
    }
    assert_eq!(
        run(&env, &s(&["--json", "spool", "list"]))
            .await
            .json_lines()
            .len(),
        3
    );
    clear_faults(&env).await;
    assert_eq!(run(&env, &s(&["spool", "replay"])).await.code, 0);
    for i in 0..3 {
        assert_eq!(
            stored(&env, &format!("c{i}")).await.as_deref(),
            Some(&body[..])
        );
    }

    // When OSS is up, cp stores as usual (exit 0) and spools nothing.
    let o = run(&env, &s(&["cp", &f, &url("up4.bin")])).await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(run(&env, &s(&["spool", "list"])).await.stdout, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_runs_lose_no_acknowledged_upload() {
    let env = setup().await;
    let spool = env.path("spool");
    let s = |args: &[&str]| with("--spool-dir", &spool, args);
    env.install_faults(OUTAGE.into()).await;
    let mut bodies = Vec::new();
    for i in 0..3u64 {
        let file = env.path(&format!("f{i}"));
        let body = common::random_bytes(20_000 + i as usize, i);
        std::fs::write(&file, &body).unwrap();
        let o = run(
            &env,
            &s(&["cp", &file.display().to_string(), &url(&format!("k{i}"))]),
        )
        .await;
        assert_eq!(o.code, 6, "acknowledged as spooled: {}", o.stderr);
        bodies.push(body);
    }
    // An upload into a blackhole, killed before it is acknowledged …
    env.install_faults(BLACKHOLE.into()).await;
    let file = env.path("late");
    std::fs::write(&file, b"never acknowledged").unwrap();
    kill_when_held(&env, &s(&["cp", &file.display().to_string(), &url("late")])).await;
    // … and a replay killed holding the spool lock while its first PUT hangs.
    env.install_faults(BLACKHOLE.into()).await;
    kill_when_held(&env, &s(&["spool", "replay"])).await;
    let o = run(&env, &s(&["--json", "spool", "list"])).await;
    assert_eq!(
        o.json_lines().len(),
        3,
        "every acknowledged entry is still there: {}",
        o.stdout
    );

    clear_faults(&env).await;
    let o = run(&env, &s(&["spool", "replay"])).await;
    assert_eq!(
        o.code, 0,
        "the next run replays: {}\n{}",
        o.stderr, o.stdout
    );
    for (i, body) in bodies.iter().enumerate() {
        assert_eq!(
            stored(&env, &format!("k{i}")).await.as_ref(),
            Some(body),
            "k{i}"
        );
    }
    assert_eq!(
        stored(&env, "late").await,
        None,
        "never acknowledged, never stored"
    );
    assert_eq!(run(&env, &s(&["spool", "list"])).await.stdout, "");
}

/// Starts `ossguard args…`, waits (bounded) until the blackhole holds one of its requests,
/// then kills it with SIGKILL.
async fn kill_when_held(env: &Env, args: &[String]) {
    let mut c = env.cmd();
    c.args(args);
    let mut child = c.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let stats = env.fault_stats().await;
        if stats["rules"][0]["matched"].as_u64().unwrap_or(0) >= 1 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no request reached the blackhole: {stats}"
        );
        if let Ok(Some(status)) = child.try_wait() {
            panic!("ossguard {args:?} ended before it was killed: {status}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.start_kill().unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("killed within 10 s")
        .unwrap();
    assert!(!status.success(), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_verify_drops_changed_entries_and_purge_empties() {
    let env = setup().await;
    let cache = env.path("cache");
    let c = |args: &[&str]| with("--cache-dir", &cache, args);
    for k in ["same", "changed", "gone", "uploaded"] {
        put(&env, k, k.as_bytes()).await;
        let o = run(&env, &c(&["cat", &url(k)])).await;
        assert_eq!(o.raw, k.as_bytes());
    }
    let stats = run(&env, &c(&["--json", "cache", "stats"])).await.json();
    assert_eq!(
        (stats["entries"].as_u64(), stats["bytes"].as_u64()),
        (Some(4), Some(23))
    );
    assert_eq!(stats["fresh"], 4);

    // An upload through the CLI forgets the cached copy (read your writes).
    let file = env.path("new");
    std::fs::write(&file, b"uploaded v2").unwrap();
    env.ok(&c(&["cp", &file.display().to_string(), &url("uploaded")])
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>())
        .await;
    let o = run(&env, &c(&["cat", &url("uploaded")])).await;
    assert_eq!(o.raw, b"uploaded v2", "not the cached v1");

    put(&env, "changed", b"changed on OSS").await;
    env.client().delete_object(BUCKET, "gone").await.unwrap();
    let o = run(&env, &c(&["--json", "cache", "verify"])).await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    let v = o.json();
    assert_eq!(
        (
            v["checked"].as_u64(),
            v["kept"].as_u64(),
            v["dropped_changed"].as_u64(),
            v["dropped_gone"].as_u64()
        ),
        (Some(4), Some(2), Some(1), Some(1)),
        "{v}"
    );
    let o = run(&env, &c(&["cat", &url("changed")])).await;
    assert_eq!(o.raw, b"changed on OSS");

    // verify during an outage keeps what it cannot check and says so (exit 4).
    env.install_faults(OUTAGE.into()).await;
    let o = run(&env, &c(&["--retries", "0", "cache", "verify"])).await;
    assert_eq!(o.code, 4, "{}", o.stderr);
    clear_faults(&env).await;

    // clean: nothing is a week old; with a 1 ms TTL everything is.
    let o = run(&env, &c(&["--json", "cache", "clean"])).await;
    assert_eq!(o.json()["removed"], 0);
    let o = run(&env, &c(&["--json", "cache", "clean", "--ttl", "1ms"])).await;
    assert_eq!(o.json()["removed"], 3, "{}", o.stdout);
    run(&env, &c(&["cat", &url("same")])).await;
    let o = run(&env, &c(&["cache", "purge"])).await;
    assert_eq!(o.code, 0);
    assert!(o.stdout.contains("1 entries removed"), "{}", o.stdout);
    let stats = run(&env, &c(&["--json", "cache", "stats"])).await.json();
    assert_eq!(
        (stats["entries"].as_u64(), stats["bytes"].as_u64()),
        (Some(0), Some(0))
    );

    // The config file's `cachedir` names the same cache.
    let cfg = env.path("ossutilconfig");
    std::fs::write(
        &cfg,
        format!("[Credentials]\ncachedir={}\n", cache.display()),
    )
    .unwrap();
    let o = env
        .ok(&["--config", &cfg.display().to_string(), "cat", &url("same")])
        .await;
    assert_eq!(o.raw, b"same");
    let stats = run(&env, &c(&["--json", "cache", "stats"])).await.json();
    assert_eq!(
        stats["entries"], 1,
        "filled through the config file's cachedir"
    );

    // Usage errors say what is missing.
    let o = env.run(&["cache", "stats"]).await;
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("--cache-dir"), "{}", o.stderr);
    let o = env.run(&["spool", "list"]).await;
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("--spool-dir"), "{}", o.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_fail_over_to_a_replica_and_drop_spooled_entries() {
    let env = setup().await;
    let rdir = tempfile::tempdir().unwrap();
    let mut cfg = ossguard_emulator::server::EmulatorConfig::local(
        rdir.path().join("data"),
        common::AK,
        common::SK,
    );
    cfg.sync = false;
    let replica = ossguard_emulator::server::Emulator::start(cfg)
        .await
        .unwrap();
    let rc = ossguard::Client::builder()
        .endpoint(replica.endpoint())
        .credentials(ossguard::Credentials::new(common::AK, common::SK))
        .build()
        .unwrap();
    rc.create_bucket("replica-b", Default::default())
        .await
        .unwrap();
    rc.put_object(
        "replica-b",
        "r.txt",
        b"from the replica".to_vec().into(),
        Default::default(),
    )
    .await
    .unwrap();
    put(&env, "r.txt", b"from the primary").await;
    let r = |args: &[&str]| {
        let mut v = vec![
            "--replica-endpoint".to_owned(),
            replica.endpoint(),
            "--replica-bucket".to_owned(),
            "replica-b".to_owned(),
        ];
        v.extend(args.iter().map(|s| s.to_string()));
        v
    };
    let o = run(&env, &r(&["cat", &url("r.txt")])).await;
    assert_eq!((o.code, o.raw.as_slice()), (0, &b"from the primary"[..]));
    env.install_faults(OUTAGE.into()).await;
    let o = run(
        &env,
        &r(&["--retries", "1", "--json", "cat", &url("r.txt")]),
    )
    .await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.raw, b"from the replica");
    assert_eq!(stderr_json(&o)["source"], "replica");
    let o = run(&env, &r(&["--retries", "1", "cat", &url("r.txt")])).await;
    assert!(
        o.stderr.contains("served from replica: OSS failed: "),
        "{}",
        o.stderr
    );
    clear_faults(&env).await;
    let o = run(&env, &r(&["cat", &url("r.txt")])).await;
    assert_eq!(o.raw, b"from the primary", "back to the primary");

    // spool drop removes an entry that will then never be sent.
    let spool = env.path("spool");
    let s = |args: &[&str]| with("--spool-dir", &spool, args);
    let file = env.path("d");
    std::fs::write(&file, b"dropped").unwrap();
    env.install_faults(OUTAGE.into()).await;
    let o = run(
        &env,
        &s(&["--json", "cp", &file.display().to_string(), &url("d")]),
    )
    .await;
    let id = o.json()["id"].as_u64().unwrap().to_string();
    let o = run(&env, &s(&["spool", "drop", &id])).await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o = run(&env, &s(&["spool", "drop", &id])).await;
    assert_eq!(o.code, 1, "no such entry any more: {}", o.stderr);
    clear_faults(&env).await;
    let o = run(&env, &s(&["spool", "replay"])).await;
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(stored(&env, "d").await, None);
    replica.shutdown().await.unwrap();
}
