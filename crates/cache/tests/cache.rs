//! Behaviour of the cache: round trips, hostile keys, corruption, LRU, TTL, freshness,
//! single flight, aborts, reopen. Virtual time via `ManualClock`; no sleeps.

mod common;

use std::sync::{Arc, Barrier};
use std::time::{Duration, SystemTime};

use common::{body, files, meta_for, with_ext};
use ossguard_cache::{Cache, CacheConfig, CacheError, FillMeta, Freshness, ManualClock};

fn fast() -> CacheConfig {
    // fsync is exercised by the crash test and the bench; here it would only cost time.
    CacheConfig::default().durable(false)
}

fn open(dir: &std::path::Path, config: CacheConfig) -> (Cache, ManualClock) {
    let clock = ManualClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000));
    let cache = Cache::open_with_clock(dir, config, Arc::new(clock.clone())).unwrap();
    (cache, clock)
}

fn put(cache: &Cache, key: &str, data: &[u8]) {
    cache
        .insert("b", key, meta_for(data, "\"e\""), data)
        .unwrap()
        .expect("stored");
}

#[test]
fn fill_then_get_returns_the_bytes_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, _) = open(dir.path(), fast());
    let data = body(1, 100_000);
    let mut meta = meta_for(&data, "\"etag-1\"");
    meta.user_meta.insert("owner".into(), "alice".into());
    meta.last_modified = Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    let mut f = cache.fill("b", "k", meta.clone()).unwrap().unwrap();
    for chunk in data.chunks(7_777) {
        f.write(chunk).unwrap();
    }
    let stored = f.commit().unwrap();
    let hit = cache.get("b", "k").unwrap().unwrap();
    assert_eq!(hit.meta, stored);
    assert_eq!(hit.meta.etag.as_deref(), Some("\"etag-1\""));
    assert_eq!(hit.meta.user_meta["owner"], "alice");
    assert_eq!(hit.meta.last_modified, meta.last_modified);
    assert_eq!(hit.bytes().unwrap(), data);
    assert!(cache.get("b", "other").unwrap().is_none());
    let s = cache.stats();
    assert_eq!(
        (s.entries, s.bytes, s.hits, s.misses, s.fills),
        (1, 100_000, 1, 1, 1)
    );
}

#[test]
fn hostile_keys_never_become_paths_and_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("cache");
    let (cache, _) = open(&root, fast());
    let long = "x".repeat(1023);
    let keys = [
        "../../../../etc/passwd",
        "/absolute",
        "a\0b",
        "..",
        ".",
        "",
        "a/b/../../../c",
        "..\\..\\windows",
        "\u{202e}evil\u{fffd}键",
        long.as_str(),
    ];
    for (i, key) in keys.iter().enumerate() {
        put(&cache, key, &body(i as u64, 10 + i));
    }
    // Same bytes split differently between bucket and key are different entries.
    cache
        .insert("ab", "c", meta_for(b"1", "x"), b"1")
        .unwrap()
        .unwrap();
    cache
        .insert("a", "bc", meta_for(b"2", "x"), b"2")
        .unwrap()
        .unwrap();
    for (i, key) in keys.iter().enumerate() {
        let hit = cache.get("b", key).unwrap().expect(key);
        assert_eq!(hit.meta.key, *key);
        assert_eq!(hit.bytes().unwrap(), body(i as u64, 10 + i));
    }
    assert_eq!(
        &cache.get("ab", "c").unwrap().unwrap().bytes().unwrap()[..],
        b"1"
    );
    assert_eq!(
        &cache.get("a", "bc").unwrap().unwrap().bytes().unwrap()[..],
        b"2"
    );
    // Nothing outside the cache directory; every data file name is ours (hex), never the key.
    assert_eq!(files(dir.path()), files(&root));
    for f in files(&root.join("data")) {
        let name = f.file_name().unwrap().to_str().unwrap();
        let stem = name.split(['.', '-']).next().unwrap();
        assert_eq!(stem.len(), 32, "{name}");
        assert!(stem.bytes().all(|b| b.is_ascii_hexdigit()), "{name}");
    }
    assert_eq!(with_ext(&root, "meta").len(), keys.len() + 2);
    assert_eq!(cache.entries().len(), keys.len() + 2);
}

fn only(dir: &std::path::Path, ext: &str) -> std::path::PathBuf {
    let mut found = with_ext(dir, ext);
    assert_eq!(found.len(), 1, "{found:?}");
    found.pop().unwrap()
}

fn flip_byte(path: &std::path::Path, at: usize) {
    let mut b = std::fs::read(path).unwrap();
    b[at] ^= 0x40;
    std::fs::write(path, b).unwrap();
}

#[test]
fn a_flipped_body_byte_is_never_served_and_the_entry_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, _) = open(dir.path(), fast());
    put(&cache, "k", &body(2, 50_000));
    flip_byte(&only(dir.path(), "body"), 31_337);
    // Metadata and size still check out: the lookup hits, the read refuses.
    let hit = cache.get("b", "k").unwrap().unwrap();
    let err = hit.bytes().unwrap_err();
    assert!(err.is_corrupt(), "{err}");
    assert!(cache.get("b", "k").unwrap().is_none());
    assert!(with_ext(dir.path(), "body").is_empty() && with_ext(dir.path(), "meta").is_empty());
    let s = cache.stats();
    assert_eq!((s.entries, s.bytes, s.corrupt_discarded), (0, 0, 1));
}

#[test]
fn corrupt_metadata_is_a_miss_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, _) = open(dir.path(), fast());
    put(&cache, "k", &body(3, 5_000));
    let meta = only(dir.path(), "meta");
    let len = std::fs::metadata(&meta).unwrap().len() as usize;
    flip_byte(&meta, len - 10);
    assert!(cache.get("b", "k").unwrap().is_none());
    assert!(files(&dir.path().join("data")).is_empty());
    let s = cache.stats();
    assert_eq!(
        (s.entries, s.bytes, s.corrupt_discarded, s.misses),
        (0, 0, 1, 1)
    );
}

#[test]
fn a_truncated_or_grown_body_is_a_miss_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, _) = open(dir.path(), fast());
    put(&cache, "short", &body(4, 5_000));
    let f = only(dir.path(), "body");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&f)
        .unwrap()
        .set_len(4_999)
        .unwrap();
    assert!(cache.get("b", "short").unwrap().is_none());

    // Truncated after the lookup (between get and bytes): the read refuses.
    put(&cache, "late", &body(5, 5_000));
    let hit = cache.get("b", "late").unwrap().unwrap();
    let f = only(dir.path(), "body");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&f)
        .unwrap()
        .set_len(100)
        .unwrap();
    assert!(hit.bytes().unwrap_err().is_corrupt());

    put(&cache, "long", &body(6, 5_000));
    let hit = cache.get("b", "long").unwrap().unwrap();
    let f = only(dir.path(), "body");
    std::fs::OpenOptions::new()
        .append(true)
        .open(&f)
        .unwrap()
        .set_len(5_001)
        .unwrap();
    assert!(hit.bytes().unwrap_err().is_corrupt());

    assert!(files(&dir.path().join("data")).is_empty());
    assert_eq!(cache.stats().corrupt_discarded, 3);
    assert_eq!(cache.stats().bytes, 0);
}

#[test]
fn a_missing_body_or_metadata_file_is_a_miss_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, _) = open(dir.path(), fast());
    put(&cache, "k", &body(7, 1_000));
    std::fs::remove_file(only(dir.path(), "body")).unwrap();
    assert!(cache.get("b", "k").unwrap().is_none());
    assert!(with_ext(dir.path(), "meta").is_empty());

    put(&cache, "k", &body(7, 1_000));
    std::fs::remove_file(only(dir.path(), "meta")).unwrap();
    assert!(cache.get("b", "k").unwrap().is_none());
    assert!(with_ext(dir.path(), "body").is_empty());
    let s = cache.stats();
    assert_eq!((s.entries, s.bytes, s.corrupt_discarded), (0, 0, 2));
}

#[test]
fn open_drops_bad_entries_and_crash_leftovers() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (cache, _) = open(dir.path(), fast());
        for i in 0..5 {
            put(&cache, &format!("k{i}"), &body(i, 2_000));
        }
    }
    let metas = with_ext(dir.path(), "meta");
    flip_byte(&metas[0], 40);
    // A body that lost its tail, and one that vanished.
    let bodies = with_ext(dir.path(), "body");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&bodies[1])
        .unwrap()
        .set_len(3)
        .unwrap();
    std::fs::remove_file(&bodies[2]).unwrap();
    // A fill cut short, and a body renamed in whose metadata never arrived.
    std::fs::write(dir.path().join("tmp/deadbeef.tmp"), b"partial").unwrap();
    let orphan = bodies[3].with_file_name(format!(
        "{}-00000000000000ff.body",
        bodies[3]
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .split('-')
            .next()
            .unwrap()
    ));
    std::fs::write(&orphan, b"orphan").unwrap();

    let (cache, _) = open(dir.path(), fast());
    let r = cache.recovery().clone();
    // Which entries lost what depends on file order; 3 distinct bad files may hit 2 or 3 entries.
    assert!((2..=3).contains(&r.corrupt_discarded), "{r:?}");
    assert_eq!((r.temp_removed, r.orphans_removed >= 1), (1, true), "{r:?}");
    let entries = cache.entries();
    assert_eq!(r.entries as usize, entries.len());
    assert_eq!(
        cache.stats().bytes,
        entries.iter().map(|e| e.size).sum::<u64>()
    );
    assert_eq!(with_ext(dir.path(), "body").len(), entries.len());
    assert_eq!(with_ext(dir.path(), "meta").len(), entries.len());
    assert!(files(&dir.path().join("tmp")).is_empty());
    for e in entries {
        let i: u64 = e.key[1..].parse().unwrap();
        assert_eq!(
            cache.get("b", &e.key).unwrap().unwrap().bytes().unwrap(),
            body(i, 2_000)
        );
    }
}

#[test]
fn lru_eviction_keeps_total_bytes_within_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let limit = 20_000;
    let (cache, _) = open(dir.path(), fast().max_bytes(limit));
    put(&cache, "a", &[1; 6_000]);
    put(&cache, "b", &[2; 6_000]);
    put(&cache, "c", &[3; 6_000]);
    cache.get("b", "a").unwrap().unwrap(); // a is now more recent than b
    put(&cache, "d", &[4; 6_000]);
    assert!(
        cache.get("b", "b").unwrap().is_none(),
        "least recently used goes first"
    );
    for k in ["a", "c", "d"] {
        assert!(cache.get("b", k).unwrap().is_some(), "{k}");
    }
    let mut rng = fastrand::Rng::with_seed(9);
    for i in 0..300 {
        let len = rng.usize(1..=8_000);
        put(&cache, &format!("r{}", rng.usize(0..40)), &body(i, len));
        if rng.bool() {
            let _ = cache.get("b", &format!("r{}", rng.usize(0..40))).unwrap();
        }
        let s = cache.stats();
        assert!(s.bytes <= limit, "step {i}: {} > {limit}", s.bytes);
        let on_disk: u64 = with_ext(dir.path(), "body")
            .iter()
            .map(|p| std::fs::metadata(p).unwrap().len())
            .sum();
        assert_eq!(on_disk, s.bytes, "step {i}");
    }
    assert!(cache.stats().evictions > 0);
    // An entry larger than the whole cache is not taken.
    assert!(cache
        .fill(
            "b",
            "huge",
            FillMeta {
                size: limit + 1,
                ..Default::default()
            }
        )
        .unwrap()
        .is_none());
}

#[test]
fn oversized_objects_are_not_filled() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, _) = open(dir.path(), fast().max_entry_bytes(1_000));
    let big = FillMeta {
        size: 1_001,
        ..Default::default()
    };
    assert!(cache.fill("b", "k", big).unwrap().is_none());
    assert!(cache
        .insert("b", "k", meta_for(&[0; 1_000], "e"), &[0; 1_000])
        .unwrap()
        .is_some());
}

#[test]
fn ttl_clean_up_removes_only_entries_older_than_the_ttl() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, clock) = open(dir.path(), fast());
    put(&cache, "old", b"old");
    clock.advance(Duration::from_secs(6 * 86_400));
    put(&cache, "new", b"new");
    assert_eq!(cache.clean_expired().unwrap(), 0);
    clock.advance(Duration::from_secs(86_400));
    assert_eq!(
        cache.clean_expired().unwrap(),
        1,
        "old is exactly 7 days old"
    );
    assert!(cache.get("b", "old").unwrap().is_none());
    assert!(cache.get("b", "new").unwrap().is_some());
    let s = cache.stats();
    assert_eq!(
        (s.entries, s.bytes, s.expired_removed, s.corrupt_discarded),
        (1, 3, 1, 0)
    );
    assert_eq!(with_ext(dir.path(), "body").len(), 1);
}

#[test]
fn freshness_windows_follow_the_injected_clock_and_refresh_restarts_them() {
    let dir = tempfile::tempdir().unwrap();
    let config = fast()
        .max_age(Duration::from_secs(60))
        .stale_if_error(Duration::from_secs(3_600));
    let (cache, clock) = open(dir.path(), config);
    put(&cache, "k", b"v");
    let hit = cache.get("b", "k").unwrap().unwrap();
    let t0 = cache.now();
    assert_eq!(hit.age(), Duration::ZERO);
    assert_eq!(hit.freshness(t0), Freshness::Fresh);
    assert_eq!(
        hit.freshness(t0 + Duration::from_secs(59)),
        Freshness::Fresh
    );
    assert_eq!(
        hit.freshness(t0 + Duration::from_secs(60)),
        Freshness::Stale
    );
    assert_eq!(
        hit.freshness(t0 + Duration::from_secs(3_659)),
        Freshness::Stale
    );
    assert_eq!(
        hit.freshness(t0 + Duration::from_secs(3_660)),
        Freshness::Expired
    );
    // A clock that went back never makes an entry older.
    assert_eq!(hit.freshness(t0 - Duration::from_secs(5)), Freshness::Fresh);

    clock.advance(Duration::from_secs(600));
    let hit = cache.get("b", "k").unwrap().unwrap();
    assert_eq!(hit.age(), Duration::from_secs(600));
    assert_eq!(hit.freshness(cache.now()), Freshness::Stale);
    // Revalidated by a 304: fresh again, and it survives a reopen.
    let refreshed = cache.refresh("b", "k").unwrap().unwrap();
    assert_eq!(refreshed.stored_at, cache.now());
    let hit = cache.get("b", "k").unwrap().unwrap();
    assert_eq!(hit.freshness(cache.now()), Freshness::Fresh);
    assert_eq!(&hit.bytes().unwrap()[..], b"v");
    assert!(cache.refresh("b", "absent").unwrap().is_none());
    drop(cache);
    let cache = Cache::open_with_clock(dir.path(), fast(), Arc::new(clock.clone())).unwrap();
    assert_eq!(cache.entries()[0].stored_at, refreshed.stored_at);
}

#[test]
fn single_flight_one_fill_per_key_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, _) = open(dir.path(), fast());
    let m = || meta_for(b"abc", "e");
    let first = cache.fill("b", "k", m()).unwrap().unwrap();
    assert!(cache.fill("b", "k", m()).unwrap().is_none());
    assert!(cache.insert("b", "k", m(), b"abc").unwrap().is_none());
    let other = cache.fill("b", "other", m()).unwrap();
    assert!(other.is_some());
    assert_eq!(cache.stats().fills_in_flight, 2);
    drop(first);
    let again = cache.fill("b", "k", m()).unwrap();
    assert!(again.is_some(), "an aborted fill frees the key");

    // Racing threads: exactly one wins each round.
    for round in 0..20 {
        let barrier = Arc::new(Barrier::new(8));
        let key = format!("race{round}");
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (cache, barrier, key) = (cache.clone(), barrier.clone(), key.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    let f = cache.fill("b", &key, meta_for(b"abc", "e")).unwrap();
                    let won = f.is_some();
                    barrier.wait(); // hold the filler until everyone has tried
                    if let Some(mut f) = f {
                        f.write(b"abc").unwrap();
                        f.commit().unwrap();
                    }
                    won
                })
            })
            .collect();
        let winners = threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .filter(|w| *w)
            .count();
        assert_eq!(winners, 1, "round {round}");
    }
    assert_eq!(cache.stats().fills_in_flight, 2, "k and other still open");
    drop((again, other));
    assert_eq!(cache.stats().fills_in_flight, 0);
}

#[test]
fn failed_or_aborted_fills_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, _) = open(dir.path(), fast());
    let data = body(8, 10_000);
    // Dropped half-way (the GET failed).
    let mut f = cache.fill("b", "k", meta_for(&data, "e")).unwrap().unwrap();
    f.write(&data[..5_000]).unwrap();
    assert_eq!(files(&dir.path().join("tmp")).len(), 1);
    drop(f);
    // Too short at commit.
    let mut f = cache.fill("b", "k", meta_for(&data, "e")).unwrap().unwrap();
    f.write(&data[..9_999]).unwrap();
    assert!(matches!(
        f.commit(),
        Err(CacheError::SizeMismatch { actual: 9_999, .. })
    ));
    // Too long while writing.
    let mut f = cache.fill("b", "k", meta_for(&data, "e")).unwrap().unwrap();
    f.write(&data).unwrap();
    assert!(matches!(
        f.write(b"x"),
        Err(CacheError::SizeMismatch { .. })
    ));
    drop(f);
    // Corrupted in transit: CRC-64 differs from what OSS announced.
    let mut bad = data.clone();
    bad[1] ^= 1;
    let mut f = cache.fill("b", "k", meta_for(&data, "e")).unwrap().unwrap();
    f.write(&bad).unwrap();
    assert!(matches!(f.commit(), Err(CacheError::CrcMismatch { .. })));
    assert!(
        files(dir.path())
            .iter()
            .all(|p| p.ends_with("CACHEDIR.TAG")),
        "{:?}",
        files(dir.path())
    );
    assert!(cache.get("b", "k").unwrap().is_none());
    let s = cache.stats();
    assert_eq!((s.entries, s.fills, s.fills_in_flight), (0, 0, 0));
    // Without an announced CRC the cache computes it.
    let mut m = meta_for(&data, "e");
    m.crc64 = None;
    let stored = cache.insert("b", "k", m, &data).unwrap().unwrap();
    assert_eq!(stored.crc64, ossguard_proto::crc64::checksum(&data));
}

#[test]
fn remove_and_purge_cancel_running_fills() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, _) = open(dir.path(), fast());
    put(&cache, "k", b"old");
    let mut f = cache
        .fill("b", "k", meta_for(b"new", "e2"))
        .unwrap()
        .unwrap();
    f.write(b"new").unwrap();
    assert!(cache.remove("b", "k").unwrap());
    assert!(!cache.remove("b", "k").unwrap());
    assert!(matches!(f.commit(), Err(CacheError::Cancelled { .. })));
    assert!(cache.get("b", "k").unwrap().is_none());

    for i in 0..10 {
        put(&cache, &format!("k{i}"), b"x");
    }
    let mut f = cache
        .fill("b", "late", meta_for(b"y", "e"))
        .unwrap()
        .unwrap();
    assert_eq!(cache.purge().unwrap(), 10);
    f.write(b"y").unwrap();
    assert!(matches!(f.commit(), Err(CacheError::Cancelled { .. })));
    assert!(files(&dir.path().join("data")).is_empty());
    assert!(files(&dir.path().join("tmp")).is_empty());
    let s = cache.stats();
    assert_eq!((s.entries, s.bytes), (0, 0));
}

#[test]
fn replacing_an_entry_keeps_one_body_and_open_hits_keep_their_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, _) = open(dir.path(), fast());
    put(&cache, "k", &body(10, 3_000));
    let old_hit = cache.get("b", "k").unwrap().unwrap();
    put(&cache, "k", &body(11, 4_000));
    assert_eq!(with_ext(dir.path(), "body").len(), 1);
    // The hit taken before the replacement reads what it looked up, and does not disturb the
    // new entry.
    assert_eq!(old_hit.bytes().unwrap(), body(10, 3_000));
    assert_eq!(
        cache.get("b", "k").unwrap().unwrap().bytes().unwrap(),
        body(11, 4_000)
    );
    let s = cache.stats();
    assert_eq!((s.entries, s.bytes, s.corrupt_discarded), (1, 4_000, 0));
}

#[test]
fn reopen_keeps_entries_bytes_and_accounting() {
    let dir = tempfile::tempdir().unwrap();
    let before = {
        let (cache, _) = open(dir.path(), fast());
        for i in 0..50 {
            put(&cache, &format!("k{i}"), &body(i, 100 + i as usize * 37));
        }
        cache.stats()
    };
    let (cache, _) = open(dir.path(), fast());
    let r = cache.recovery().clone();
    assert_eq!(
        (r.entries, r.bytes, r.corrupt_discarded, r.orphans_removed),
        (50, before.bytes, 0, 0)
    );
    assert_eq!(cache.stats().bytes, before.bytes);
    for i in 0..50 {
        let hit = cache.get("b", &format!("k{i}")).unwrap().unwrap();
        assert_eq!(hit.bytes().unwrap(), body(i, 100 + i as usize * 37));
    }
    // A smaller limit on reopen evicts the oldest down to it.
    drop(cache);
    let (cache, _) = open(dir.path(), fast().max_bytes(before.bytes / 2));
    assert!(cache.recovery().evicted > 0);
    assert_eq!(cache.stats().evictions, cache.recovery().evicted);
    assert!(cache.stats().bytes <= before.bytes / 2);
    assert_eq!(
        with_ext(dir.path(), "body").len() as u64,
        cache.stats().entries
    );
}

#[test]
fn a_directory_with_foreign_files_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("thesis.tex"), b"precious").unwrap();
    let err = Cache::open(dir.path(), fast()).unwrap_err();
    assert!(matches!(err, CacheError::NotACacheDir { .. }), "{err}");
    assert!(err.to_string().contains("empty or dedicated directory"));
    assert_eq!(files(dir.path()).len(), 1);
    assert_eq!(
        std::fs::read(dir.path().join("thesis.tex")).unwrap(),
        b"precious"
    );
}

#[test]
fn remove_if_etag_spares_an_entry_refilled_since_the_listing() {
    let dir = tempfile::tempdir().unwrap();
    let (cache, _) = open(dir.path(), fast());
    cache
        .insert("b", "k", meta_for(b"1", "\"e1\""), b"1")
        .unwrap()
        .unwrap();
    let listed = cache.entries();
    cache
        .insert("b", "k", meta_for(b"2", "\"e2\""), b"2")
        .unwrap()
        .unwrap();
    // The check against OSS found listed[0]'s ETag outdated, but the entry is already newer.
    assert!(!cache
        .remove_if_etag("b", "k", listed[0].etag.as_deref())
        .unwrap());
    assert_eq!(
        &cache.get("b", "k").unwrap().unwrap().bytes().unwrap()[..],
        b"2"
    );
    assert!(cache.remove_if_etag("b", "k", Some("\"e2\"")).unwrap());
    assert!(cache.get("b", "k").unwrap().is_none());
    assert!(files(&dir.path().join("data")).iter().all(|p| p.is_dir()));
}

#[test]
fn handles_cross_threads() {
    fn shared<T: Send + Sync + Clone>() {}
    fn sendable<T: Send>() {}
    shared::<Cache>();
    sendable::<ossguard_cache::Filler>();
    sendable::<ossguard_cache::Hit>();
}

#[test]
fn concurrent_fills_gets_removes_and_evictions_never_serve_wrong_bytes() {
    use ossguard_cache::stress;
    let dir = tempfile::tempdir().unwrap();
    // ~24 KiB average bodies, 200 KiB limit: evictions all the time.
    let (cache, _) = open(dir.path(), fast().max_bytes(200 << 10));
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let cache = cache.clone();
            std::thread::spawn(move || {
                let mut rng = fastrand::Rng::with_seed(t);
                let mut served = 0;
                for _ in 0..300 {
                    let key = stress::key(rng.usize(0..20));
                    match rng.u8(0..10) {
                        0..=3 => {
                            let tag = format!("v{}", rng.u8(0..5));
                            let body = stress::content(&key, &tag);
                            if let Some(mut f) =
                                cache.fill("b", &key, meta_for(&body, &tag)).unwrap()
                            {
                                for chunk in body.chunks(5_000) {
                                    f.write(chunk).unwrap();
                                }
                                match f.commit() {
                                    Ok(_) | Err(CacheError::Cancelled { .. }) => {}
                                    Err(e) => panic!("{e}"),
                                }
                            }
                        }
                        4 => {
                            cache.remove("b", &key).unwrap();
                        }
                        _ => {
                            if let Some(hit) = cache.get("b", &key).unwrap() {
                                let tag = hit.meta.etag.clone().unwrap();
                                assert_eq!(hit.bytes().unwrap(), stress::content(&key, &tag));
                                served += 1;
                            }
                        }
                    }
                }
                served
            })
        })
        .collect();
    let served: u32 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let s = cache.stats();
    // Races (replacement, eviction, removal under a reader) are never mistaken for corruption.
    assert_eq!(s.corrupt_discarded, 0);
    assert!(served > 0 && s.evictions > 0, "{served} served, {s:?}");
    assert!(s.bytes <= 200 << 10);
    let sum: u64 = cache.entries().iter().map(|e| e.size).sum();
    let on_disk: u64 = with_ext(dir.path(), "body")
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert_eq!((s.bytes, on_disk), (sum, sum));
    assert!(files(&dir.path().join("tmp")).is_empty());
}
