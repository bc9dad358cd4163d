//! Replay against the in-memory fake: order, identity, conflicts, transient failures, restarts,
//! damaged entries, hostile keys.

mod common;

use std::sync::Arc;

use common::{names, open, open_with, FakeOss};
use ossguard_spool::{
    ConflictReason, EntryState, Expect, PutCondition, PutResult, ReplayBody, ReplayError,
    ReplayTarget, SpoolBody, SpoolError, SpoolId, SpoolOptions, SpoolPut, TargetError,
};

const B: &str = "bkt";

fn body(i: usize) -> Vec<u8> {
    format!("body {i} ").repeat(1 + i % 50).into_bytes()
}

#[tokio::test]
async fn hundred_puts_replay_in_order_and_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let spool = open(tmp.path());
    let mut ids = Vec::new();
    for i in 0..100 {
        // 20 keys written 5 times each; the writer never saw them on OSS.
        let expect = if i % 3 == 0 {
            Expect::Unknown
        } else {
            Expect::Absent
        };
        let put = SpoolPut::new(B, format!("obj/{}", i % 20))
            .expect(expect)
            .content_type("text/plain")
            .meta("i", i.to_string());
        ids.push(spool.enqueue(put, body(i)).await.unwrap());
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase");
    assert_eq!(spool.stats().pending, 100);

    let oss = FakeOss::default();
    let report = spool.replay(&oss).await;
    assert!(report.stopped.is_none(), "{:?}", report.stopped);
    assert!(report.conflicts.is_empty(), "{:?}", report.conflicts);
    let replayed: Vec<SpoolId> = report.replayed.iter().map(|r| r.id).collect();
    assert_eq!(replayed, ids, "replayed in enqueue order");
    let stored = oss.stored_calls();
    assert_eq!(stored.len(), 100);
    for (i, call) in stored.iter().enumerate() {
        assert_eq!(call.key, format!("obj/{}", i % 20), "PUT {i} in order");
        assert_eq!(call.body, body(i), "PUT {i} identical");
        assert_eq!(call.metadata["i"], i.to_string());
    }
    for k in 0..20 {
        let obj = oss.get(B, &format!("obj/{k}")).unwrap();
        assert_eq!(obj.body, body(80 + k), "the last write of obj/{k} wins");
        assert_eq!(obj.content_type.as_deref(), Some("text/plain"));
    }
    assert!(spool.pending().is_empty());
    let stats = spool.stats();
    assert_eq!(
        (stats.replayed_total, stats.bytes, stats.pending),
        (100, 0, 0)
    );
    assert!(
        names(&tmp.path().join("entries")).is_empty(),
        "nothing left on disk"
    );
}

#[tokio::test]
async fn changed_object_is_a_conflict_never_overwritten_and_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let oss = FakeOss::default();
    let e0 = oss.put_direct(B, "a", b"v0");
    let spool = open(tmp.path());
    let first = spool
        .enqueue(
            SpoolPut::new(B, "a").expect(Expect::ETag(e0.clone())),
            b"mine 1".to_vec(),
        )
        .await
        .unwrap();
    let second = spool
        .enqueue(
            SpoolPut::new(B, "a").expect(Expect::ETag(e0.clone())),
            b"mine 2".to_vec(),
        )
        .await
        .unwrap();
    let other = spool
        .enqueue(SpoolPut::new(B, "b").expect(Expect::Absent), b"b".to_vec())
        .await
        .unwrap();
    let e1 = oss.put_direct(B, "a", b"theirs");

    let report = spool.replay(&oss).await;
    assert!(report.stopped.is_none());
    assert_eq!(report.replayed.len(), 1);
    assert_eq!(report.replayed[0].id, other);
    let conflicts: Vec<_> = report
        .conflicts
        .iter()
        .map(|c| (c.id, c.reason.clone()))
        .collect();
    assert_eq!(
        conflicts,
        vec![
            (
                first,
                ConflictReason::Changed {
                    expected: e0,
                    found: Some(e1.clone())
                }
            ),
            (second, ConflictReason::EarlierConflict { seq: first.0 }),
        ]
    );
    assert_eq!(oss.get(B, "a").unwrap().body, b"theirs", "not overwritten");
    assert!(oss.stored_calls().iter().all(|c| c.key != "a"));

    // Kept on disk, across a restart, and not retried.
    drop(spool);
    let spool = open(tmp.path());
    let pending = spool.pending();
    assert_eq!(pending.len(), 2);
    assert!(pending
        .iter()
        .all(|e| matches!(e.state, EntryState::Conflict { .. })));
    assert_eq!(spool.stats().conflicted, 2);
    let (puts, heads) = (
        oss.put_calls(),
        oss.heads.load(std::sync::atomic::Ordering::SeqCst),
    );
    let again = spool.replay(&oss).await;
    assert!(again.replayed.is_empty() && again.conflicts.is_empty() && again.stopped.is_none());
    assert_eq!(oss.put_calls(), puts, "a conflict is not retried");
    assert_eq!(oss.heads.load(std::sync::atomic::Ordering::SeqCst), heads);

    // A later write of the key stays blocked until the conflicts are dropped.
    let third = spool
        .enqueue(
            SpoolPut::new(B, "a").expect(Expect::ETag(e1.clone())),
            b"mine 3".to_vec(),
        )
        .await
        .unwrap();
    let blocked = spool.replay(&oss).await;
    assert_eq!(blocked.conflicts[0].id, third);
    assert_eq!(oss.get(B, "a").unwrap().body, b"theirs");
    for id in [first, second, third] {
        spool.drop_entry(id).unwrap();
    }
    assert!(spool.pending().is_empty());
    assert_eq!(spool.stats().dropped_total, 3);
}

#[tokio::test]
async fn created_or_deleted_meanwhile_are_conflicts() {
    let tmp = tempfile::tempdir().unwrap();
    let oss = FakeOss::default();
    let e0 = oss.put_direct(B, "gone", b"v0");
    let spool = open(tmp.path());
    let created = spool
        .enqueue(
            SpoolPut::new(B, "new").expect(Expect::Absent),
            b"mine".to_vec(),
        )
        .await
        .unwrap();
    let deleted = spool
        .enqueue(
            SpoolPut::new(B, "gone").expect(Expect::ETag(e0.clone())),
            b"mine".to_vec(),
        )
        .await
        .unwrap();
    let theirs = oss.put_direct(B, "new", b"theirs");
    oss.delete(B, "gone");
    let report = spool.replay(&oss).await;
    let conflicts: Vec<_> = report
        .conflicts
        .iter()
        .map(|c| (c.id, c.reason.clone()))
        .collect();
    assert_eq!(
        conflicts,
        vec![
            (created, ConflictReason::Exists { etag: Some(theirs) }),
            (
                deleted,
                ConflictReason::Changed {
                    expected: e0,
                    found: None
                }
            ),
        ]
    );
    assert_eq!(oss.get(B, "new").unwrap().body, b"theirs");
    assert!(oss.get(B, "gone").is_none(), "not resurrected");
}

#[tokio::test]
async fn transient_failure_stops_and_next_replay_continues_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let spool = open(tmp.path());
    let mut ids = Vec::new();
    for i in 0..10 {
        let put = SpoolPut::new(B, format!("k{}", i % 3)).expect(Expect::Absent);
        ids.push(spool.enqueue(put, body(i)).await.unwrap());
    }
    let oss = FakeOss::default();
    oss.fail_puts.lock().unwrap().insert(4);
    let report = spool.replay(&oss).await;
    assert_eq!(
        report.replayed.iter().map(|r| r.id).collect::<Vec<_>>(),
        ids[..4]
    );
    let stop = report.stopped.expect("stopped");
    assert_eq!(stop.id, Some(ids[4]));
    assert!(matches!(
        stop.error,
        ReplayError::Target(TargetError {
            transient: true,
            ..
        })
    ));
    let pending: Vec<SpoolId> = spool.pending().iter().map(|e| e.id).collect();
    assert_eq!(
        pending,
        ids[4..],
        "the failed entry and all after it stay pending"
    );
    // k1's next write (entry 4) now expects what entry 1 left on OSS, durably.
    assert_eq!(
        spool.pending()[0].expect,
        Expect::ETag(oss.get(B, "k1").unwrap().etag)
    );

    // Restart in between: the order and the chained bases survive.
    drop(spool);
    let spool = open(tmp.path());
    let report = spool.replay(&oss).await;
    assert!(
        report.stopped.is_none() && report.conflicts.is_empty(),
        "{report:?}"
    );
    assert_eq!(
        report.replayed.iter().map(|r| r.id).collect::<Vec<_>>(),
        ids[4..]
    );
    let stored = oss.stored_calls();
    assert_eq!(stored.len(), 10);
    for (i, call) in stored.iter().enumerate() {
        assert_eq!(
            (call.key.as_str(), &call.body),
            (format!("k{}", i % 3).as_str(), &body(i))
        );
    }
    // Later writes of a key were checked against the previous spooled write's ETag.
    assert!(matches!(stored[3].condition, PutCondition::None));
    assert!(matches!(stored[0].condition, PutCondition::ForbidOverwrite));
}

#[tokio::test]
async fn lost_response_after_store_is_recognised_as_our_write() {
    let tmp = tempfile::tempdir().unwrap();
    let oss = FakeOss::default();
    let e0 = oss.put_direct(B, "etag", b"v0");
    let spool = open(tmp.path());
    let absent = spool
        .enqueue(
            SpoolPut::new(B, "absent").expect(Expect::Absent),
            b"one".to_vec(),
        )
        .await
        .unwrap();
    let etag = spool
        .enqueue(
            SpoolPut::new(B, "etag").expect(Expect::ETag(e0)),
            b"two".to_vec(),
        )
        .await
        .unwrap();
    oss.lose_responses.lock().unwrap().extend([0, 1, 2]);
    let r1 = spool.replay(&oss).await;
    assert_eq!(r1.stopped.unwrap().id, Some(absent));
    // Second run: the forbid-overwrite PUT meets our own object.
    let r2 = spool.replay(&oss).await;
    assert_eq!(r2.replayed.len(), 1);
    assert!(r2.replayed[0].already_present && r2.replayed[0].id == absent);
    assert_eq!(r2.stopped.unwrap().id, Some(etag));
    // Third run: the HEAD shows our own bytes, not the expected ETag: landed, not a conflict.
    let r3 = spool.replay(&oss).await;
    assert!(r3.conflicts.is_empty() && r3.stopped.is_none());
    assert!(r3.replayed[0].already_present && r3.replayed[0].id == etag);
    assert_eq!(oss.get(B, "etag").unwrap().body, b"two");
    assert!(spool.pending().is_empty());
}

#[tokio::test]
async fn reopen_after_drop_keeps_pending_and_ids_are_never_reused() {
    let tmp = tempfile::tempdir().unwrap();
    let spool = open(tmp.path());
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            spool
                .enqueue(SpoolPut::new(B, format!("k{i}")), body(i))
                .await
                .unwrap(),
        );
    }
    let dropped = spool.drop_entry(ids[1]).unwrap();
    assert_eq!(dropped.key, "k1");
    drop(spool);
    let spool = open(tmp.path());
    let pending: Vec<SpoolId> = spool.pending().iter().map(|e| e.id).collect();
    assert_eq!(pending, [ids[0], ids[2], ids[3], ids[4]]);
    assert!(matches!(
        spool.drop_entry(ids[1]),
        Err(SpoolError::NotFound(_))
    ));
    let oss = FakeOss::default();
    assert_eq!(spool.replay(&oss).await.replayed.len(), 4);
    drop(spool);
    // Empty spool, new process: the sequence goes on.
    let spool = open(tmp.path());
    let next = spool
        .enqueue(SpoolPut::new(B, "n"), b"n".to_vec())
        .await
        .unwrap();
    assert!(next > ids[4], "{next} after {}", ids[4]);
}

#[tokio::test]
async fn hostile_keys_are_stored_safely() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("spool");
    let keys = [
        "../x".to_string(),
        "../../../../etc/passwd".into(),
        "/abs".into(),
        "a\0b".into(),
        "line\nbreak\r\t\"'\\".into(),
        "k".repeat(1023),
        "日本/🦀".into(),
    ];
    let spool = open(&root);
    for k in &keys {
        spool
            .enqueue(SpoolPut::new(B, k.clone()), k.clone().into_bytes())
            .await
            .unwrap();
    }
    assert!(matches!(
        spool
            .enqueue(SpoolPut::new(B, "k".repeat(1024)), b"x".to_vec())
            .await,
        Err(SpoolError::InvalidPut(_))
    ));
    assert_eq!(
        names(tmp.path()),
        ["spool"],
        "nothing written outside the spool"
    );
    for name in names(&root.join("entries")) {
        let (stem, ext) = name.split_once('.').unwrap();
        assert!(
            stem.len() == 20 && stem.bytes().all(|b| b.is_ascii_digit()),
            "{name}"
        );
        assert!(ext == "rec" || ext == "body", "{name}");
    }
    drop(spool);
    let spool = open(&root);
    let got: Vec<String> = spool.pending().into_iter().map(|e| e.key).collect();
    assert_eq!(got, keys);
    let oss = FakeOss::default();
    assert_eq!(spool.replay(&oss).await.replayed.len(), keys.len());
    for k in &keys {
        assert_eq!(oss.get(B, k).unwrap().body, k.as_bytes());
    }
}

#[tokio::test]
async fn damaged_entries_are_quarantined_at_open_and_never_replayed() {
    let tmp = tempfile::tempdir().unwrap();
    let spool = open(tmp.path());
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(
            spool
                .enqueue(SpoolPut::new(B, format!("k{i}")), body(i + 10))
                .await
                .unwrap(),
        );
    }
    drop(spool);
    let entries = tmp.path().join("entries");
    let file = |id: SpoolId, ext: &str| entries.join(format!("{:020}.{ext}", id.0));
    // 0: a flipped body byte; 1: a torn record; 2: a missing body; 3 stays intact.
    let mut b = std::fs::read(file(ids[0], "body")).unwrap();
    b[3] ^= 1;
    std::fs::write(file(ids[0], "body"), b).unwrap();
    let r = std::fs::read(file(ids[1], "rec")).unwrap();
    std::fs::write(file(ids[1], "rec"), &r[..r.len() - 5]).unwrap();
    std::fs::remove_file(file(ids[2], "body")).unwrap();
    // Leftovers of unacknowledged writes.
    std::fs::write(file(SpoolId(999), "body"), b"orphan").unwrap();
    std::fs::write(entries.join("incoming-7.body.part"), b"half").unwrap();
    std::fs::write(entries.join("00000000000000000998.rec.part"), b"half").unwrap();

    let spool = open(tmp.path());
    let rec = spool.recovery();
    let mut q: Vec<SpoolId> = rec.quarantined.iter().filter_map(|q| q.id).collect();
    q.sort();
    assert_eq!(q, ids[..3]);
    assert_eq!(
        (rec.recovered, rec.orphans_removed, rec.temp_removed),
        (1, 1, 2)
    );
    assert_eq!(spool.stats().quarantined_total, 3);
    assert_eq!(
        spool.pending().iter().map(|e| e.id).collect::<Vec<_>>(),
        [ids[3]]
    );
    let oss = FakeOss::default();
    let report = spool.replay(&oss).await;
    assert_eq!(report.replayed.len(), 1);
    assert_eq!(oss.put_calls(), 1, "only the intact entry is sent");
    assert!(names(&tmp.path().join("quarantine")).len() >= 3);
    assert!(names(&entries).is_empty());
}

#[tokio::test]
async fn body_damaged_while_spooled_is_quarantined_at_replay() {
    let tmp = tempfile::tempdir().unwrap();
    let spool = open(tmp.path());
    let id = spool.enqueue(SpoolPut::new(B, "k"), body(7)).await.unwrap();
    let path = tmp
        .path()
        .join("entries")
        .join(format!("{:020}.body", id.0));
    let mut b = std::fs::read(&path).unwrap();
    b[0] ^= 0x80;
    std::fs::write(&path, b).unwrap();
    let oss = FakeOss::default();
    let report = spool.replay(&oss).await;
    assert_eq!(report.quarantined.len(), 1);
    assert_eq!(report.quarantined[0].id, Some(id));
    assert_eq!(oss.put_calls(), 0);
    assert!(spool.pending().is_empty());
}

#[tokio::test]
async fn second_open_of_a_directory_is_refused_but_inspect_lists() {
    let tmp = tempfile::tempdir().unwrap();
    let spool = open(tmp.path());
    let id = spool
        .enqueue(SpoolPut::new(B, "k").expect(Expect::Absent), b"v".to_vec())
        .await
        .unwrap();
    let err = ossguard_spool::Spool::open(tmp.path()).unwrap_err();
    assert!(matches!(err, SpoolError::Locked(_)), "{err}");
    assert!(err.to_string().contains("in use"));
    // Listing works meanwhile, read-only.
    assert_eq!(
        ossguard_spool::Spool::inspect(tmp.path()).unwrap(),
        spool.pending()
    );
    assert_eq!(spool.pending()[0].id, id);
    drop(spool);
    open(tmp.path());
}

#[tokio::test]
async fn large_file_body_streams_and_replays_identically_and_the_limit_holds() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src.bin");
    let data: Vec<u8> = (0..8u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&src, &data).unwrap();
    let dir = tmp.path().join("spool");
    let opts = SpoolOptions {
        max_bytes: Some(12 << 20),
        ..SpoolOptions::default()
    };
    let spool = open_with(&dir, opts);
    let id = spool
        .enqueue(SpoolPut::new(B, "big"), SpoolBody::file(&src))
        .await
        .unwrap();
    let e = &spool.pending()[0];
    assert_eq!(
        (e.id, e.size, e.crc64),
        (
            id,
            data.len() as u64,
            ossguard_proto::crc64::checksum(&data)
        )
    );
    // Over the limit, known up front and only after streaming: refused, nothing left behind.
    let full = spool
        .enqueue(SpoolPut::new(B, "f"), SpoolBody::file(&src))
        .await;
    assert!(matches!(full, Err(SpoolError::Full { .. })), "{full:?}");
    let reader = SpoolBody::reader(std::io::Cursor::new(data.clone()));
    let full = spool.enqueue(SpoolPut::new(B, "r"), reader).await;
    assert!(matches!(full, Err(SpoolError::Full { .. })), "{full:?}");
    assert_eq!(names(&dir.join("entries")).len(), 2, "only the one entry");
    let oss = FakeOss::default();
    assert_eq!(spool.replay(&oss).await.replayed.len(), 1);
    assert!(oss.get(B, "big").unwrap().body == data);
}

#[tokio::test]
async fn if_match_is_sent_only_when_enabled() {
    for send_if_match in [false, true] {
        let tmp = tempfile::tempdir().unwrap();
        let oss = FakeOss::default();
        let e0 = oss.put_direct(B, "k", b"v0");
        let opts = SpoolOptions {
            send_if_match,
            ..SpoolOptions::default()
        };
        let spool = open_with(tmp.path(), opts);
        spool
            .enqueue(
                SpoolPut::new(B, "k").expect(Expect::ETag(e0.clone())),
                b"v1".to_vec(),
            )
            .await
            .unwrap();
        assert_eq!(spool.replay(&oss).await.replayed.len(), 1);
        let want = match send_if_match {
            true => PutCondition::IfMatch(e0),
            false => PutCondition::None,
        };
        assert_eq!(oss.stored_calls()[0].condition, want);
    }
}

/// A target whose first PUT waits for a signal, to look at the spool mid-replay.
struct Gated {
    inner: FakeOss,
    gated: std::sync::atomic::AtomicBool,
    entered: tokio::sync::Notify,
    release: tokio::sync::Notify,
}

impl ReplayTarget for Gated {
    async fn head_etag(&self, bucket: &str, key: &str) -> Result<Option<String>, TargetError> {
        self.inner.head_etag(bucket, key).await
    }

    async fn put(
        &self,
        put: &SpoolPut,
        body: &ReplayBody,
        condition: PutCondition,
    ) -> Result<PutResult, TargetError> {
        if self.gated.swap(false, std::sync::atomic::Ordering::SeqCst) {
            self.entered.notify_one();
            self.release.notified().await;
        }
        self.inner.put(put, body, condition).await
    }
}

#[tokio::test]
async fn one_replay_at_a_time_and_the_entry_in_flight_cannot_be_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let spool = open(tmp.path());
    let id = spool
        .enqueue(SpoolPut::new(B, "k"), b"v".to_vec())
        .await
        .unwrap();
    let target = Arc::new(Gated {
        inner: FakeOss::default(),
        gated: true.into(),
        entered: tokio::sync::Notify::new(),
        release: tokio::sync::Notify::new(),
    });
    let (s, t) = (spool.clone(), target.clone());
    let running = tokio::spawn(async move { s.replay(&*t).await });
    target.entered.notified().await;
    let second = spool.replay(&FakeOss::default()).await;
    assert!(matches!(
        second.stopped.map(|s| s.error),
        Some(ReplayError::AlreadyRunning)
    ));
    assert!(matches!(spool.drop_entry(id), Err(SpoolError::Busy(_))));
    // Enqueues go on during a replay (from another task: the future is Send).
    let s = spool.clone();
    let later = tokio::spawn(async move {
        let body = SpoolBody::reader(std::io::Cursor::new(b"w".to_vec()));
        s.enqueue(SpoolPut::new(B, "k"), body).await
    })
    .await
    .unwrap()
    .unwrap();
    target.release.notify_one();
    let report = running.await.unwrap();
    // The entry enqueued during the replay is replayed too, chained onto the first write
    // (a HEAD check against its ETag, then a plain PUT).
    assert_eq!(
        report.replayed.iter().map(|r| r.id).collect::<Vec<_>>(),
        [id, later]
    );
    assert!(spool.pending().is_empty());
    assert_eq!(target.inner.get(B, "k").unwrap().body, b"w");
    assert_eq!(
        target.inner.heads.load(std::sync::atomic::Ordering::SeqCst),
        1
    );
}

/// Gives 1000 bytes, then signals and never finishes.
struct Stall(Option<tokio::sync::oneshot::Sender<()>>, bool);

impl tokio::io::AsyncRead for Stall {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if !self.1 {
            self.1 = true;
            buf.put_slice(&[7u8; 1000]);
            return std::task::Poll::Ready(Ok(()));
        }
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
        std::task::Poll::Pending
    }
}

#[tokio::test]
async fn a_cancelled_enqueue_leaves_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let spool = open(tmp.path());
    let (tx, rx) = tokio::sync::oneshot::channel();
    let body = SpoolBody::reader(Stall(Some(tx), false));
    tokio::select! {
        r = spool.enqueue(SpoolPut::new(B, "k"), body) => panic!("enqueue finished: {r:?}"),
        _ = rx => {}
    }
    assert!(names(&tmp.path().join("entries")).is_empty());
    assert_eq!(spool.stats().enqueued_total, 0);
    assert!(spool.pending().is_empty());
}
