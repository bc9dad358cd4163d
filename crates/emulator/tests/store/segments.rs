//! Objects completed from parts keep the part files as segments (no copy at Complete): reads
//! across segment boundaries, reads racing overwrites and deletes, copies, recovery of a broken
//! segment list, and the upgrade of a format-1 store.

use ossguard_emulator::store::{CopyOptions, ObjectHeaders, Store, StoreConfig, MIN_PART_SIZE};
use tokio::io::AsyncReadExt;

use crate::common::*;

/// Uploads `sizes.len()` parts of the given sizes as `key` and returns the whole object's bytes.
async fn segmented(store: &Store, key: &str, sizes: &[usize], seed: u64) -> Vec<u8> {
    let up = store
        .initiate_multipart(BUCKET, key, ObjectHeaders::default())
        .await
        .unwrap();
    let mut whole = Vec::new();
    for (i, &size) in sizes.iter().enumerate() {
        let bytes = content(seed + i as u64, size);
        store
            .upload_part(BUCKET, key, &up.upload_id, i as u32 + 1, &bytes[..])
            .await
            .unwrap();
        whole.extend_from_slice(&bytes);
    }
    store
        .complete_multipart_all(BUCKET, key, &up.upload_id)
        .await
        .unwrap();
    whole
}

async fn read_range(store: &Store, key: &str, range: std::ops::Range<u64>) -> Vec<u8> {
    let mut out = store.get_object(BUCKET, key, Some(range)).await.unwrap();
    let mut bytes = Vec::new();
    out.body.read_to_end(&mut bytes).await.unwrap();
    bytes
}

fn objects_dir(tmp: &tempfile::TempDir) -> std::path::PathBuf {
    data_dir(tmp).join("buckets").join(BUCKET).join("objects")
}

const P: usize = MIN_PART_SIZE as usize;

#[tokio::test]
async fn ranges_across_segment_boundaries_read_the_right_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_with_bucket(&tmp).await;
    let sizes = [P, P + 17, P, 333];
    let whole = segmented(&store, "k", &sizes, 1).await;
    assert_eq!(files_ending(&objects_dir(&tmp), ".data").len(), 4);
    let n = whole.len() as u64;
    let p = P as u64;
    for range in [
        0..n,
        0..1,
        p - 1..p + 1,
        p..2 * p + 17,
        p + 5..3 * p + 100,
        n - 333..n,
        n - 1..n,
        3..n + 1000, // end clamped
        n..n,
    ] {
        let want = &whole[range.start as usize..range.end.min(n) as usize];
        assert!(
            read_range(&store, "k", range.clone()).await == want,
            "{range:?}"
        );
    }
    // Narrowing after the open (what a conditional ranged GET does) works on segments too.
    let out = store.get_object(BUCKET, "k", None).await.unwrap();
    let mut body = out.body.narrow(p - 10, 20).await.unwrap();
    assert_eq!(body.remaining(), 20);
    let mut bytes = Vec::new();
    body.read_to_end(&mut bytes).await.unwrap();
    assert_eq!(bytes, &whole[P - 10..P + 10]);
}

/// A read that started keeps yielding its version while the key is overwritten and deleted;
/// the old segment files go once the read is done.
#[tokio::test]
async fn a_read_keeps_its_version_through_overwrite_and_delete() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_with_bucket(&tmp).await;
    let old = segmented(&store, "k", &[P, P, P], 10).await;
    let mut reading = store.get_object(BUCKET, "k", None).await.unwrap();
    let mut first = vec![0u8; 1000];
    reading.body.read_exact(&mut first).await.unwrap();

    let new = segmented(&store, "k", &[P, 10], 20).await;
    assert_eq!(read_all(&store, BUCKET, "k").await.unwrap(), new);
    store.delete_object(BUCKET, "k").await.unwrap();
    // The reader's three files are still there; nothing else is.
    assert_eq!(files_ending(&objects_dir(&tmp), ".data").len(), 3);

    let mut rest = Vec::new();
    reading.body.read_to_end(&mut rest).await.unwrap();
    first.extend(rest);
    assert!(first == old, "the reader saw its own version to the end");
    drop(reading);
    assert_eq!(files_ending(&objects_dir(&tmp), ".data").len(), 0);
}

#[tokio::test]
async fn copies_share_segments_and_survive_the_source() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_with_bucket(&tmp).await;
    let whole = segmented(&store, "src", &[P, 7], 30).await;
    let src = store.head_object(BUCKET, "src").await.unwrap();
    let copy = store
        .copy_object(BUCKET, "src", BUCKET, "dst", CopyOptions::default())
        .await
        .unwrap();
    assert_eq!(
        (copy.etag.as_str(), copy.crc64),
        (src.etag.as_str(), src.crc64)
    );
    store.delete_object(BUCKET, "src").await.unwrap();
    assert_eq!(read_all(&store, BUCKET, "dst").await.unwrap(), whole);
    assert_eq!(files_ending(&objects_dir(&tmp), ".data").len(), 2);
    // A part copied from a range of a segmented object.
    let up = store
        .initiate_multipart(BUCKET, "pc", ObjectHeaders::default())
        .await
        .unwrap();
    let part = store
        .upload_part_copy(
            BUCKET,
            "pc",
            &up.upload_id,
            1,
            BUCKET,
            "dst",
            Some(5..P as u64 + 3),
        )
        .await
        .unwrap();
    assert_eq!(part.size, P as u64 - 2);
}

#[tokio::test]
async fn reopen_keeps_segmented_objects_and_drops_a_broken_one() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_with_bucket(&tmp).await;
    let good = segmented(&store, "good", &[P, P, 99], 40).await;
    segmented(&store, "broken", &[P, 5], 50).await;
    drop(store);
    // Damage "broken": cut one of its segments short.
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(record_path(&tmp, "broken")).unwrap()).unwrap();
    let second = record["segments"][1]["file"].as_str().unwrap().to_owned();
    assert_eq!(record["segments"].as_array().unwrap().len(), 2);
    std::fs::write(objects_dir(&tmp).join(&second), b"x").unwrap();

    let store = Store::open(data_dir(&tmp)).await.unwrap();
    assert_eq!(read_all(&store, BUCKET, "good").await.unwrap(), good);
    assert!(store.head_object(BUCKET, "broken").await.is_err());
    let report = store.recovery_report();
    assert_eq!(report.broken_records_removed, 1);
    assert_eq!(
        report.orphan_data_removed, 2,
        "both files of the broken object"
    );
    assert_eq!(files_ending(&objects_dir(&tmp), ".data").len(), 3);
}

fn record_path(tmp: &tempfile::TempDir, key: &str) -> std::path::PathBuf {
    use sha2::Digest;
    let name = format!("{}.json", hex::encode(sha2::Sha256::digest(key.as_bytes())));
    objects_dir(tmp).join(name)
}

#[tokio::test]
async fn a_format_1_store_is_upgraded_and_newer_ones_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_with_bucket(&tmp).await;
    put(&store, "old", b"from format 1").await;
    drop(store);
    let marker = data_dir(&tmp).join("store.json");
    std::fs::write(&marker, br#"{"format":1}"#).unwrap();
    let store = Store::open(data_dir(&tmp)).await.unwrap();
    assert_eq!(
        read_all(&store, BUCKET, "old").await.unwrap(),
        b"from format 1"
    );
    let upgraded: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&marker).unwrap()).unwrap();
    assert_eq!(upgraded["format"], 2);
    drop(store);

    std::fs::write(&marker, br#"{"format":3}"#).unwrap();
    let err = Store::open_with(data_dir(&tmp), StoreConfig::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("store format 3"), "{err}");
}

/// The two states a crash inside Complete can leave, made by hand: links to the parts but no
/// record (the upload must stay whole and usable), and a committed record with the upload
/// folder still there (the object must stay whole and the folder go).
#[tokio::test]
async fn a_crash_inside_complete_loses_neither_the_upload_nor_the_object() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_with_bucket(&tmp).await;
    let up = store
        .initiate_multipart(BUCKET, "k", ObjectHeaders::default())
        .await
        .unwrap();
    let parts = [content(60, P), content(61, 40)];
    for (i, part) in parts.iter().enumerate() {
        store
            .upload_part(BUCKET, "k", &up.upload_id, i as u32 + 1, &part[..])
            .await
            .unwrap();
    }
    drop(store);
    let upload_dir = data_dir(&tmp)
        .join("buckets")
        .join(BUCKET)
        .join("uploads")
        .join(&up.upload_id);
    // Crash after the links, before the record.
    for (i, part) in files_ending(&upload_dir, ".data").iter().enumerate() {
        let link = objects_dir(&tmp).join(format!("{:032X}.data", i + 1));
        std::fs::hard_link(part, link).unwrap();
    }
    let store = Store::open(data_dir(&tmp)).await.unwrap();
    assert_eq!(store.recovery_report().orphan_data_removed, 2);
    assert_eq!(
        store
            .list_parts(BUCKET, "k", &up.upload_id)
            .await
            .unwrap()
            .len(),
        2
    );
    // Crash after the record, before the upload folder went: keep a copy of it to put back.
    let aside = tmp.path().join("upload-copy");
    std::fs::create_dir(&aside).unwrap();
    for entry in std::fs::read_dir(&upload_dir).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, aside.join(path.file_name().unwrap())).unwrap();
    }
    store
        .complete_multipart_all(BUCKET, "k", &up.upload_id)
        .await
        .unwrap();
    drop(store);
    assert!(!upload_dir.exists());
    std::fs::rename(&aside, &upload_dir).unwrap();
    let store = Store::open(data_dir(&tmp)).await.unwrap();
    assert_eq!(store.recovery_report().uploads_removed, 1);
    assert!(!upload_dir.exists());
    assert_eq!(read_all(&store, BUCKET, "k").await.unwrap(), parts.concat());
}
