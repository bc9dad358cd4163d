//! Acceptance (issue 12): kill -9 during 1,000 concurrent cache fills, then reopen — every entry
//! either verifies with exactly the expected bytes or is discarded, and size accounting equals
//! the sum of what remains.

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{files, with_ext};
use ossguard_cache::{stress, Cache, CacheConfig, FillMeta};

const FILLS: usize = 1_000;
/// Keys that already hold a version-1 entry, so the crash also hits replacements.
const PREFILLED: usize = 600;
/// About 14 MiB of bodies are prefilled: commits during the run evict.
const MAX_BYTES: u64 = 16 << 20;
/// Kill after this many commits: most of the 1,000 fills are still writing or committing.
const KILL_AFTER: usize = 150;
const DEADLINE: Duration = Duration::from_secs(60);

#[test]
fn kill_9_during_1000_concurrent_fills_then_reopen_serves_only_verified_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let config = CacheConfig::default().max_bytes(MAX_BYTES);
    {
        // Version 1, not durable: the OS survives a kill -9, so fsync is irrelevant to the setup.
        let cache = Cache::open(dir.path(), config.clone().durable(false)).unwrap();
        for i in 0..PREFILLED {
            let key = stress::key(i);
            let body = stress::content(&key, "v1");
            let meta = FillMeta {
                etag: Some("v1".into()),
                size: body.len() as u64,
                ..Default::default()
            };
            cache.insert("b", &key, meta, &body).unwrap().unwrap();
        }
    }

    let mut child = Command::new(env!("CARGO_BIN_EXE_cache-fill-stress"))
        .args([
            dir.path().to_str().unwrap(),
            &FILLS.to_string(),
            "8",
            "v2",
            &MAX_BYTES.to_string(),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let start = Instant::now();
    let (mut started, mut committed) = (false, HashSet::new());
    while !(started && committed.len() >= KILL_AFTER) {
        let left = DEADLINE.checked_sub(start.elapsed()).unwrap_or_default();
        match rx.recv_timeout(left) {
            Ok(line) if line.starts_with("started") => started = true,
            Ok(line) if line.starts_with("committed ") => {
                committed.insert(line["committed ".len()..].to_owned());
            }
            Ok(line) => panic!("unexpected line from the stress binary: {line}"),
            Err(e) => {
                let _ = child.kill();
                panic!(
                    "stress binary: {e:?} after {:?}, {} commits",
                    start.elapsed(),
                    committed.len()
                );
            }
        }
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    reader.join().unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            status.signal(),
            Some(9),
            "killed mid-way, not finished: {status:?}"
        );
    }
    // Commits the binary made after the last line we read are fine too; these we know of.
    let known: Vec<String> = committed.into_iter().collect();

    let cache = Cache::open(dir.path(), config.clone()).unwrap();
    let recovery = cache.recovery().clone();
    eprintln!(
        "after kill -9 at {} known commits: {recovery:?}",
        known.len()
    );
    assert!(
        recovery.temp_removed > 0,
        "the kill must have cut fills short: {recovery:?}"
    );

    let entries = cache.entries();
    let listed = entries.len();
    let (mut v1, mut v2, mut discarded) = (0, 0, 0);
    for e in &entries {
        let tag = e.etag.as_deref().unwrap();
        let i: usize = e.key["stress/".len()..].parse().unwrap();
        assert!(
            tag == "v2" || (tag == "v1" && i < PREFILLED),
            "{} is {tag}",
            e.key
        );
        let Some(hit) = cache.get("b", &e.key).unwrap() else {
            discarded += 1;
            continue;
        };
        match hit.bytes() {
            Ok(bytes) => {
                assert_eq!(bytes, stress::content(&e.key, tag), "{} {tag}", e.key);
                if tag == "v1" {
                    v1 += 1
                } else {
                    v2 += 1
                }
            }
            Err(err) => {
                assert!(err.is_corrupt(), "{err}");
                discarded += 1;
            }
        }
    }
    eprintln!(
        "entries: {} (v1 {v1}, v2 {v2}, discarded on read {discarded})",
        entries.len()
    );
    // A commit reported before the kill survived it (no newer fill of the key can exist).
    for key in &known {
        let hit = cache
            .get("b", key)
            .unwrap()
            .unwrap_or_else(|| panic!("{key} lost"));
        assert_eq!(hit.meta.etag.as_deref(), Some("v2"), "{key}");
    }

    // Accounting equals what remains, in the index and on disk, within the limit.
    let s = cache.stats();
    let entries = cache.entries();
    let sum: u64 = entries.iter().map(|e| e.size).sum();
    let on_disk: u64 = with_ext(dir.path(), "body")
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert_eq!((s.entries as usize, s.bytes), (entries.len(), sum));
    assert_eq!(on_disk, sum);
    assert_eq!(with_ext(dir.path(), "body").len(), entries.len());
    assert_eq!(with_ext(dir.path(), "meta").len(), entries.len());
    assert!(files(&dir.path().join("tmp")).is_empty());
    assert!(s.bytes <= MAX_BYTES);
    assert_eq!(entries.len(), listed - discarded);
    assert!(v2 >= known.len(), "v2 {v2} < {} known commits", known.len());

    // A second open finds nothing more to repair.
    drop(cache);
    let again = Cache::open(dir.path(), config).unwrap();
    let r = again.recovery();
    assert_eq!(
        (
            r.entries,
            r.bytes,
            r.temp_removed,
            r.orphans_removed,
            r.corrupt_discarded
        ),
        (entries.len() as u64, sum, 0, 0, 0)
    );
}
