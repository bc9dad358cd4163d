//! Concurrent writers of one key end with exactly one complete version; readers never see a mix.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ossguard_emulator::store::{ListObjectsParams, ObjectAcl, PutOptions, Store, StoreError};
use ossguard_proto::crc64;

use crate::common::*;

const WRITERS: u64 = 16;

fn version(i: u64) -> Vec<u8> {
    content(1000 + i, 150_000 + (i as usize) * 1111)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_writers_one_key() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_with_bucket(&tmp).await;
    put(&store, "hot", b"initial").await;
    let versions: Arc<Vec<Vec<u8>>> = Arc::new((0..WRITERS).map(version).collect());

    // Readers run throughout and must only ever see a whole version.
    let done = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (store, versions, done) = (store.clone(), versions.clone(), done.clone());
            tokio::spawn(async move {
                let mut reads = 0;
                while !done.load(Ordering::SeqCst) || reads == 0 {
                    let got = read_all(&store, BUCKET, "hot").await.unwrap();
                    assert!(
                        got == b"initial" || versions.contains(&got),
                        "torn read of {} bytes",
                        got.len()
                    );
                    reads += 1;
                }
                reads
            })
        })
        .collect();

    let writers: Vec<_> = (0..WRITERS)
        .map(|i| {
            let (store, versions) = (store.clone(), versions.clone());
            tokio::spawn(async move {
                let data = &versions[i as usize];
                // Small reads so writers interleave.
                let body = tokio::io::BufReader::with_capacity(997, &data[..]);
                store
                    .put_object(BUCKET, "hot", body, PutOptions::default())
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut etags = Vec::new();
    for w in writers {
        etags.push(w.await.unwrap().etag);
    }
    done.store(true, Ordering::SeqCst);
    for r in readers {
        assert!(r.await.unwrap() > 0);
    }

    let info = store.head_object(BUCKET, "hot").await.unwrap();
    let got = read_all(&store, BUCKET, "hot").await.unwrap();
    let winner = versions
        .iter()
        .position(|v| *v == got)
        .expect("final object is one writer's bytes");
    assert_eq!(
        info.etag, etags[winner],
        "metadata belongs to the same writer"
    );
    assert_eq!(info.crc64, crc64::checksum(&got));
    assert_eq!(
        files_ending(&data_dir(&tmp), ".data").len(),
        1,
        "losers' data removed"
    );
    assert!(files_ending(&data_dir(&tmp), ".tmp").is_empty());

    // Disk agrees with the index.
    drop(store);
    let store = Store::open(data_dir(&tmp)).await.unwrap();
    assert_eq!(store.recovery_report().orphan_data_removed, 0);
    assert_eq!(read_all(&store, BUCKET, "hot").await.unwrap(), got);
    assert_eq!(store.head_object(BUCKET, "hot").await.unwrap(), info);
}

/// A storm of puts, deletes, ACL changes and copies over a few keys; afterwards the index,
/// a reopened store and the files on disk all agree, and every object is intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mixed_operations_keep_index_and_disk_consistent() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_with_bucket(&tmp).await;
    let keys = ["k0", "k1", "k2"];
    let tasks: Vec<_> = (0..24u64)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                for j in 0..6u64 {
                    let key = keys[((i + j) % 3) as usize];
                    let result = match (i + j) % 4 {
                        0 | 1 => {
                            put(&store, key, &content(i * 100 + j, 5_000 + j as usize)).await;
                            Ok(())
                        }
                        2 => store.delete_object(BUCKET, key).await,
                        _ => match store
                            .set_object_acl(BUCKET, key, ObjectAcl::PublicRead)
                            .await
                        {
                            Ok(_) | Err(StoreError::NoSuchKey(_)) => Ok(()),
                            Err(e) => Err(e),
                        },
                    };
                    result.unwrap();
                    if j == 3 {
                        match store
                            .copy_object(BUCKET, key, BUCKET, "copy", Default::default())
                            .await
                        {
                            Ok(_) | Err(StoreError::NoSuchKey(_)) => {}
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let listing = store
        .list_objects(BUCKET, &ListObjectsParams::default())
        .await
        .unwrap();
    for o in &listing.objects {
        let bytes = read_all(&store, BUCKET, &o.key).await.unwrap();
        assert_eq!(o.crc64, crc64::checksum(&bytes));
        assert_eq!(o.etag, format!("\"{}\"", md5_hex(&bytes)));
    }
    assert_eq!(
        files_ending(&data_dir(&tmp), ".data").len(),
        listing.objects.len()
    );
    drop(store);
    let store = Store::open(data_dir(&tmp)).await.unwrap();
    let report = store.recovery_report().clone();
    assert_eq!(
        (report.orphan_data_removed, report.temp_files_removed),
        (0, 0),
        "{report:?}"
    );
    let reopened = store
        .list_objects(BUCKET, &ListObjectsParams::default())
        .await
        .unwrap();
    assert_eq!(reopened, listing);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_uploads_of_one_part_number() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_with_bucket(&tmp).await;
    let up = store
        .initiate_multipart(BUCKET, "k", Default::default())
        .await
        .unwrap();
    let tasks: Vec<_> = (0..8u64)
        .map(|i| {
            let (store, id) = (store.clone(), up.upload_id.clone());
            tokio::spawn(async move {
                store
                    .upload_part(BUCKET, "k", &id, 1, &content(i, 30_000)[..])
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut etags = Vec::new();
    for t in tasks {
        etags.push(t.await.unwrap().etag);
    }
    let parts = store.list_parts(BUCKET, "k", &up.upload_id).await.unwrap();
    assert_eq!(parts.len(), 1);
    assert!(etags.contains(&parts[0].etag));
    assert_eq!(files_ending(&data_dir(&tmp), ".data").len(), 1);
    store
        .complete_multipart_all(BUCKET, "k", &up.upload_id)
        .await
        .unwrap();
    let got = read_all(&store, BUCKET, "k").await.unwrap();
    assert_eq!(format!("\"{}\"", md5_hex(&got)), parts[0].etag);
}

/// A body that sends `bytes`, then never ends (a stalled client).
fn stalled_body(bytes: Vec<u8>) -> (tokio::io::DuplexStream, tokio::task::JoinHandle<()>) {
    let (mut tx, rx) = tokio::io::duplex(1 << 20);
    let keep_open = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        tx.write_all(&bytes).await.unwrap();
        std::future::pending::<()>().await;
    });
    (rx, keep_open)
}

/// Request handlers get dropped when clients go away: nothing half-done may remain, and the
/// key must stay usable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_writes_leave_nothing_behind() {
    use std::time::Duration;
    let tmp = tempfile::tempdir().unwrap();
    let store = store_with_bucket(&tmp).await;
    store
        .append_object(BUCKET, "log", 0, &b"abc"[..], Default::default())
        .await
        .unwrap();

    let (body, feeder) = stalled_body(content(1, 300_000));
    let put = store.put_object(BUCKET, "put", body, PutOptions::default());
    assert!(tokio::time::timeout(Duration::from_millis(300), put)
        .await
        .is_err());
    feeder.abort();
    let (body, feeder) = stalled_body(content(2, 300_000));
    let append = store.append_object(BUCKET, "log", 3, body, Default::default());
    assert!(tokio::time::timeout(Duration::from_millis(300), append)
        .await
        .is_err());
    feeder.abort();

    assert!(matches!(
        store.head_object(BUCKET, "put").await,
        Err(StoreError::NoSuchKey(_))
    ));
    // The key lock was released and the half-written append left no trace in the object.
    let next = tokio::time::timeout(
        Duration::from_secs(10),
        store.append_object(BUCKET, "log", 3, &b"def"[..], Default::default()),
    )
    .await
    .expect("key lock released")
    .unwrap();
    assert_eq!(next.crc64, crc64::checksum(b"abcdef"));
    assert_eq!(read_all(&store, BUCKET, "log").await.unwrap(), b"abcdef");
    // Give the dropped writers' background work a moment, then count files.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        files_ending(&data_dir(&tmp), ".data").len(),
        1,
        "only the log's data"
    );
    assert!(files_ending(&data_dir(&tmp), ".tmp").is_empty());
    let len = std::fs::metadata(&files_ending(&data_dir(&tmp), ".data")[0])
        .unwrap()
        .len();
    assert_eq!(len, 6, "the dropped append's bytes were cut off");
}
