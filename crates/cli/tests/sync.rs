//! `ossguard sync` end to end: the real binary against the in-process emulator, with every
//! transfer counted by the server (`GET /-/metrics`), not by the client.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use common::{hold_beyond, Env};

const FILES: usize = 2000;

/// `ossguard_server_requests_total` by operation (all statuses).
async fn server_requests(env: &Env) -> BTreeMap<String, u64> {
    let text = reqwest::get(format!("{}/-/metrics", env.endpoint()))
        .await
        .expect("GET /-/metrics")
        .text()
        .await
        .expect("metrics body");
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("ossguard_server_requests_total{") else {
            continue;
        };
        let Some(op) = rest
            .split("operation=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
        else {
            continue;
        };
        let n: f64 = rest.rsplit(' ').next().unwrap().parse().unwrap();
        *out.entry(op.to_owned()).or_insert(0) += n as u64;
    }
    out
}

/// What the server counted between two snapshots, for the operations that move or delete data.
fn delta(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .filter(|(k, _)| {
            [
                "PutObject",
                "InitiateMultipartUpload",
                "UploadPart",
                "CompleteMultipartUpload",
                "CopyObject",
                "GetObject",
                "HeadObject",
                "DeleteObject",
                "DeleteMultipleObjects",
            ]
            .contains(&k.as_str())
        })
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect()
}

/// The requests that change data (HEAD and GET left out).
fn writes(d: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    d.iter()
        .filter(|(k, _)| !matches!(k.as_str(), "HeadObject" | "GetObject"))
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

fn count(d: &BTreeMap<String, u64>, op: &str) -> u64 {
    d.get(op).copied().unwrap_or(0)
}

/// Relative paths of the tree: nested directories, unicode and spaces in names.
fn rel_path(i: usize) -> String {
    let name = match i % 5 {
        0 => format!("файл-{i}.bin"),
        1 => format!("日本語 {i}.txt"),
        2 => format!("é-ü {i}.dat"),
        _ => format!("f{i}.bin"),
    };
    match i % 3 {
        0 => name,
        1 => format!("d{}/{name}", i % 17),
        _ => format!("d{}/sub {}/{name}", i % 11, i % 4),
    }
}

/// Sizes 0..64 KiB, and 1, 2, 3 MiB for three of them.
fn size_of(i: usize) -> usize {
    match i {
        7 => 1 << 20,
        700 => 2 << 20,
        1400 => 3 << 20,
        _ => (i * 7919) % (64 * 1024),
    }
}

/// Writes the tree (slices of one random buffer: fast in debug builds).
fn write_tree(root: &Path, files: usize, seed: u64) {
    let pool = common::random_bytes(4 << 20, seed);
    for i in 0..files {
        let p = root.join(rel_path(i));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let n = size_of(i);
        let off = (i * 4099) % (pool.len() - n.min(pool.len()) + 1);
        std::fs::write(&p, &pool[off..off + n]).unwrap();
    }
}

/// Every file under `root`, relative path → bytes.
fn read_tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                let rel = p
                    .strip_prefix(root)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .replace('\\', "/");
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

async fn keys(env: &Env, bucket: &str, prefix: &str) -> Vec<String> {
    use futures_util::TryStreamExt;
    let pages: Vec<_> = env
        .client()
        .list_objects(
            bucket,
            ossguard::ListOptions {
                prefix: prefix.into(),
                ..Default::default()
            },
        )
        .try_collect()
        .await
        .unwrap();
    pages
        .into_iter()
        .flat_map(|p| p.objects)
        .map(|o| o.key[prefix.len()..].to_owned())
        .collect()
}

/// `ossguard --checkpoint-dir … sync ARGS --json`: the summary document.
async fn sync(env: &Env, args: &[&str]) -> serde_json::Value {
    let cp = env.path("checkpoints");
    let mut all = vec!["--checkpoint-dir", cp.to_str().unwrap(), "--json", "sync"];
    all.extend_from_slice(args);
    let o = env.ok(&all).await;
    let doc = o
        .json_lines()
        .into_iter()
        .find(|l| l["operation"] == "sync")
        .expect("a summary line");
    assert_eq!(doc["operation"], "sync", "{}", o.stdout);
    doc
}

fn n(doc: &serde_json::Value, field: &str) -> u64 {
    doc[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} in {doc}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_2000_files_transfers_exactly_what_changed_counted_by_the_server() {
    let env = Env::start().await;
    env.ok(&["mb", "oss://bkt-sync"]).await;
    let src = env.path("src");
    write_tree(&src, FILES, 1);
    let src_s = src.to_str().unwrap().to_owned();
    let dst = "oss://bkt-sync/tree";

    // 1. Everything is new.
    let m0 = server_requests(&env).await;
    let t = Instant::now();
    let doc = sync(&env, &[&src_s, dst]).await;
    let first = t.elapsed();
    let d = delta(&m0, &server_requests(&env).await);
    assert_eq!(
        (n(&doc, "copied"), n(&doc, "failed")),
        (FILES as u64, 0),
        "{doc}"
    );
    assert_eq!(
        count(&d, "PutObject"),
        FILES as u64,
        "server-counted: {d:?}"
    );
    assert_eq!(keys(&env, "bkt-sync", "tree/").await.len(), FILES);
    eprintln!(
        "first sync: {FILES} files in {:.2} s ({:.0} files/s), server: {d:?}",
        first.as_secs_f64(),
        FILES as f64 / first.as_secs_f64()
    );

    // 2. Ten changed (five the same size, five not), five deleted.
    let changed: Vec<usize> = (0..10).map(|k| 13 + k * 197).collect();
    let deleted: Vec<usize> = (0..5).map(|k| 101 + k * 389).collect();
    for (j, &i) in changed.iter().enumerate() {
        let p = src.join(rel_path(i));
        let len = size_of(i) + if j % 2 == 0 { 0 } else { 1 + j };
        std::fs::write(&p, common::random_bytes(len, 1000 + i as u64)).unwrap();
    }
    for &i in &deleted {
        std::fs::remove_file(src.join(rel_path(i))).unwrap();
    }

    // --dry-run reports exactly that and changes nothing.
    let m1 = server_requests(&env).await;
    let o = env
        .ok(&["--json", "sync", "--delete", "--dry-run", &src_s, dst])
        .await;
    let lines = o.json_lines();
    let summary = lines.last().unwrap();
    assert_eq!(
        (
            n(summary, "copied"),
            n(summary, "deleted"),
            summary["dry_run"].as_bool()
        ),
        (10, 5, Some(true)),
        "{}",
        o.stdout
    );
    let mut planned: Vec<_> = lines[..lines.len() - 1]
        .iter()
        .map(|l| {
            (
                l["action"].as_str().unwrap().to_owned(),
                l["path"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut want: Vec<_> = changed
        .iter()
        .map(|&i| ("copy".to_owned(), rel_path(i)))
        .chain(deleted.iter().map(|&i| ("delete".to_owned(), rel_path(i))))
        .collect();
    want.sort_by(|a, b| a.1.cmp(&b.1));
    // Pairs settled by a HEAD (changed within the second they were uploaded) come after.
    planned.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(planned, want, "the plan");
    let d = delta(&m1, &server_requests(&env).await);
    assert_eq!(writes(&d), BTreeMap::new(), "dry run: no writes");
    assert_eq!(keys(&env, "bkt-sync", "tree/").await.len(), FILES);

    // The real run: exactly those ten PUTs and one batch delete of those five.
    let m2 = server_requests(&env).await;
    let doc = sync(&env, &["--delete", &src_s, dst]).await;
    let d = delta(&m2, &server_requests(&env).await);
    assert_eq!(
        (
            n(&doc, "copied"),
            n(&doc, "deleted"),
            n(&doc, "skipped"),
            n(&doc, "failed")
        ),
        (10, 5, (FILES - 15) as u64, 0),
        "{doc}"
    );
    assert_eq!(
        writes(&d),
        BTreeMap::from([
            ("DeleteMultipleObjects".to_owned(), 1),
            ("PutObject".to_owned(), 10)
        ]),
        "server-counted"
    );
    assert_eq!(count(&d, "GetObject"), 0);
    let left = keys(&env, "bkt-sync", "tree/").await;
    assert_eq!(left.len(), FILES - 5);
    for &i in &deleted {
        assert!(!left.contains(&rel_path(i)), "{} deleted", rel_path(i));
    }
    eprintln!("second sync (10 changed, 5 deleted): server {d:?}");

    // 3. Nothing left to do. (No hedges: the server counts each HEAD sent, and a hedged HEAD is
    // two.)
    let m3 = server_requests(&env).await;
    let doc = sync(&env, &["--no-hedge", "--delete", &src_s, dst]).await;
    assert_eq!((n(&doc, "copied"), n(&doc, "deleted")), (0, 0), "{doc}");
    let d = delta(&m3, &server_requests(&env).await);
    assert_eq!(writes(&d), BTreeMap::new());
    assert_eq!(
        count(&d, "HeadObject"),
        n(&doc, "checked"),
        "a HEAD per ambiguous pair only"
    );
    eprintln!(
        "third sync: nothing to do; {} HEADs (files changed within the second they were uploaded)",
        n(&doc, "checked")
    );

    // OSS → local mirrors back byte for byte; a second pull moves nothing.
    let back = env.path("back");
    let m4 = server_requests(&env).await;
    let t = Instant::now();
    // No hedged GETs, so the server's count is one per file.
    let doc = sync(&env, &["--no-hedge", dst, back.to_str().unwrap()]).await;
    let pull = t.elapsed();
    let d = delta(&m4, &server_requests(&env).await);
    assert_eq!(n(&doc, "copied"), (FILES - 5) as u64, "{doc}");
    assert_eq!(count(&d, "GetObject"), (FILES - 5) as u64, "{d:?}");
    let (a, b) = (read_tree(&src), read_tree(&back));
    assert_eq!(a.len(), b.len());
    assert!(a == b, "byte-identical mirror");
    eprintln!(
        "OSS → local: {} files in {:.2} s ({:.0} files/s)",
        FILES - 5,
        pull.as_secs_f64(),
        (FILES - 5) as f64 / pull.as_secs_f64()
    );
    let m5 = server_requests(&env).await;
    let doc = sync(&env, &[dst, back.to_str().unwrap()]).await;
    assert_eq!(n(&doc, "copied"), 0, "{doc}");
    assert_eq!(delta(&m5, &server_requests(&env).await), BTreeMap::new());

    // A same-size change with an old mtime escapes size + mtime; --checksum finds it.
    let sneaky = src.join(rel_path(3));
    let len = std::fs::metadata(&sneaky).unwrap().len() as usize;
    std::fs::write(&sneaky, common::random_bytes(len, 77)).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&sneaky)
        .unwrap()
        .set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000))
        .unwrap();
    let doc = sync(&env, &[&src_s, dst]).await;
    assert_eq!(n(&doc, "copied"), 0, "size + mtime cannot see it: {doc}");
    let m6 = server_requests(&env).await;
    let doc = sync(&env, &["--no-hedge", "--checksum", &src_s, dst]).await;
    let d = delta(&m6, &server_requests(&env).await);
    assert_eq!(
        (n(&doc, "copied"), n(&doc, "checked")),
        (1, (FILES - 5) as u64),
        "{doc}"
    );
    assert_eq!(count(&d, "PutObject"), 1, "{d:?}");
    assert_eq!(
        count(&d, "HeadObject"),
        (FILES - 5) as u64,
        "one HEAD per same-size pair"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_and_oss_to_oss_and_partial_failure() {
    let env = Env::start().await;
    env.ok(&["mb", "oss://bkt-a"]).await;
    env.ok(&["mb", "oss://bkt-b"]).await;
    let src = env.path("src");
    write_tree(&src, 60, 2);
    let src_s = src.to_str().unwrap();
    // Only .bin files, none under d3/.
    let doc = sync(
        &env,
        &[
            "--include",
            "*.bin",
            "--exclude",
            "d3/",
            src_s,
            "oss://bkt-a/p",
        ],
    )
    .await;
    let want: Vec<String> = {
        let mut v: Vec<String> = (0..60)
            .map(rel_path)
            .filter(|r| r.ends_with(".bin") && !r.starts_with("d3/"))
            .collect();
        v.sort();
        v
    };
    assert_eq!(n(&doc, "copied"), want.len() as u64, "{doc}");
    assert_eq!(keys(&env, "bkt-a", "p/").await, want);

    // OSS → OSS, server-side: CopyObject only, no bytes through the client.
    let m0 = server_requests(&env).await;
    let doc = sync(&env, &["oss://bkt-a/p", "oss://bkt-b/q"]).await;
    let d = delta(&m0, &server_requests(&env).await);
    assert_eq!(n(&doc, "copied"), want.len() as u64);
    assert_eq!(
        d,
        BTreeMap::from([("CopyObject".to_owned(), want.len() as u64)])
    );
    assert_eq!(keys(&env, "bkt-b", "q/").await, want);
    let doc = sync(&env, &["oss://bkt-a/p", "oss://bkt-b/q"]).await;
    assert_eq!(
        n(&doc, "copied"),
        0,
        "copies are newer than their sources: {doc}"
    );

    // An excluded destination object is never deleted.
    env.client()
        .put_object("bkt-b", "q/keep/x", "x".into(), Default::default())
        .await
        .unwrap();
    let doc = sync(
        &env,
        &[
            "--delete",
            "--exclude",
            "keep/",
            "oss://bkt-a/p",
            "oss://bkt-b/q",
        ],
    )
    .await;
    assert_eq!(n(&doc, "deleted"), 0, "{doc}");
    assert!(keys(&env, "bkt-b", "q/")
        .await
        .contains(&"keep/x".to_owned()));

    // Overlapping prefixes and two local sides are refused (exit 1).
    for args in [
        ["sync", "oss://bkt-a/p", "oss://bkt-a/p/sub"],
        ["sync", src_s, src_s],
    ] {
        let o = env.run(&args).await;
        assert_eq!(o.code, 1, "{args:?}: {}", o.stderr);
    }

    // A copy that fails (the object's local path is a directory) fails alone with exit 4, and
    // withholds --delete: the destination-only file under that directory stays.
    let local = env.path("pull");
    sync(&env, &["oss://bkt-a/p", local.to_str().unwrap()]).await;
    env.client()
        .put_object("bkt-a", "p/conflict", "x".into(), Default::default())
        .await
        .unwrap();
    std::fs::create_dir_all(local.join("conflict")).unwrap();
    std::fs::write(local.join("conflict/inner"), "keep").unwrap();
    let o = env
        .run(&[
            "--json",
            "sync",
            "--delete",
            "oss://bkt-a/p",
            local.to_str().unwrap(),
        ])
        .await;
    assert_eq!(o.code, 4, "{}\n{}", o.stdout, o.stderr);
    // The summary, then the error document of the exit.
    let doc = o
        .json_lines()
        .into_iter()
        .find(|l| l["operation"] == "sync")
        .expect("a summary");
    assert_eq!(
        (
            n(&doc, "failed"),
            n(&doc, "deleted"),
            n(&doc, "deletes_withheld")
        ),
        (1, 0, 1),
        "{doc}"
    );
    assert_eq!(doc["failures"][0]["path"], "conflict");
    assert!(o.stderr.contains("conflict"), "reported: {}", o.stderr);
    assert!(
        local.join("conflict/inner").exists(),
        "nothing deleted after a failed copy"
    );
    // Without the conflict the same command completes and deletes.
    std::fs::remove_dir_all(local.join("conflict")).unwrap();
    std::fs::write(local.join("stray"), "x").unwrap();
    let doc = sync(
        &env,
        &["--delete", "oss://bkt-a/p", local.to_str().unwrap()],
    )
    .await;
    assert_eq!((n(&doc, "copied"), n(&doc, "deleted")), (1, 1), "{doc}");
    assert!(!local.join("stray").exists());

    // Human output: the plan of a dry run, then the summary.
    std::fs::write(local.join("stray2"), "x").unwrap();
    let o = env
        .ok(&[
            "sync",
            "--dry-run",
            "--delete",
            "oss://bkt-a/p",
            local.to_str().unwrap(),
        ])
        .await;
    assert!(o.stdout.contains("would delete: stray2\n"), "{}", o.stdout);
    assert!(
        o.stdout
            .contains("dry run, nothing changed: would be 0 copied"),
        "{}",
        o.stdout
    );
    assert!(local.join("stray2").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_killed_midway_resends_at_most_the_files_in_flight() {
    const N: usize = 1500;
    const JOBS: u64 = 8;
    let env = Env::start().await;
    env.ok(&["mb", "oss://bkt-kill"]).await;
    let src = env.path("src");
    write_tree(&src, N, 3);
    let src_s = src.to_str().unwrap().to_owned();
    let cp = env.path("checkpoints");
    let m0 = server_requests(&env).await;

    let mut c = env.cmd();
    c.args([
        "--checkpoint-dir",
        cp.to_str().unwrap(),
        "sync",
        "--jobs",
        "8",
        &src_s,
        "oss://bkt-kill/t",
    ]);
    // A fifth of the PUTs go through; the rest are blackholed (read, never answered or
    // executed) until the kill, so the sync cannot end first however fast it runs.
    env.install_faults(hold_beyond("PutObject", N / 5)).await;
    let mut child = c.spawn().unwrap();
    // Wait (bounded) until a fifth of the files arrived, then SIGKILL.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let puts = count(&delta(&m0, &server_requests(&env).await), "PutObject");
        if puts >= (N / 5) as u64 {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the sync ended before it could be killed"
        );
        assert!(Instant::now() < deadline, "no progress: {puts} PUTs");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child.kill().await.unwrap();
    env.emu.faults().clear();
    let stored_at_kill = keys(&env, "bkt-kill", "t/").await.len();
    assert!(
        stored_at_kill < N,
        "killed midway ({stored_at_kill} of {N} stored)"
    );

    let m1 = server_requests(&env).await;
    let doc = sync(&env, &[&src_s, "oss://bkt-kill/t"]).await;
    let m2 = server_requests(&env).await;
    let first = count(&delta(&m0, &m1), "PutObject");
    let rerun = count(&delta(&m1, &m2), "PutObject");
    assert_eq!(n(&doc, "failed"), 0, "{doc}");
    assert_eq!(
        keys(&env, "bkt-kill", "t/").await.len(),
        N,
        "complete after the rerun"
    );
    assert!(
        first + rerun <= N as u64 + JOBS,
        "sent twice beyond those in flight: {first} before the kill + {rerun} after, {N} files"
    );
    assert!(
        rerun <= (N - stored_at_kill) as u64,
        "the rerun sent only what was not stored: {rerun} PUTs, {} missing",
        N - stored_at_kill
    );
    eprintln!(
        "kill test: {first} PUTs before SIGKILL, {stored_at_kill} stored, {rerun} PUTs in the rerun ({N} files)"
    );
    // Byte-identical in the end.
    let back = env.path("back");
    sync(&env, &["oss://bkt-kill/t", back.to_str().unwrap()]).await;
    assert!(read_tree(&src) == read_tree(&back));
}
