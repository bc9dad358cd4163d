//! Multipart uploads: happy path, every error, abort, listing, copy parts, reopen.

use std::collections::BTreeMap;

use md5::{Digest, Md5};
use ossguard_emulator::store::{
    ObjectHeaders, ObjectType, Store, StoreError, UploadInfo, MIN_PART_SIZE,
};
use ossguard_proto::crc64;

use crate::common::*;

const KIB: usize = 1024;

fn meta() -> ObjectHeaders {
    ObjectHeaders {
        content_type: Some("video/mp4".into()),
        user_meta: BTreeMap::from([("Origin".into(), "test".into())]),
        ..Default::default()
    }
}

async fn initiate(store: &Store, key: &str) -> UploadInfo {
    store.initiate_multipart(BUCKET, key, meta()).await.unwrap()
}

fn upload_dirs(tmp: &tempfile::TempDir) -> usize {
    std::fs::read_dir(data_dir(tmp).join("buckets").join(BUCKET).join("uploads"))
        .unwrap()
        .count()
}

#[tokio::test]
async fn three_parts_happy_path() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_with_bucket(&tmp).await;
    let up = initiate(&store, "video.mp4").await;
    assert_eq!(up.upload_id.len(), 32);
    assert!(up
        .upload_id
        .bytes()
        .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));
    assert_eq!(up.key, "video.mp4");
    assert_eq!(
        up.headers.user_meta.get("origin").map(String::as_str),
        Some("test")
    );

    let parts = [content(1, 200 * KIB), content(2, 150 * KIB), content(3, 10)];
    // Out of order, and part 2 first uploaded with other bytes, then replaced.
    store
        .upload_part(
            BUCKET,
            "video.mp4",
            &up.upload_id,
            2,
            &content(99, 300 * KIB)[..],
        )
        .await
        .unwrap();
    let mut infos = BTreeMap::new();
    for n in [3u32, 1, 2] {
        let data = &parts[n as usize - 1];
        let info = store
            .upload_part(BUCKET, "video.mp4", &up.upload_id, n, &data[..])
            .await
            .unwrap();
        assert_eq!(info.part_number, n);
        assert_eq!(info.etag, format!("\"{}\"", md5_hex(data)));
        assert_eq!(
            (info.size, info.crc64),
            (data.len() as u64, crc64::checksum(data))
        );
        infos.insert(n, info);
    }
    let listed = store
        .list_parts(BUCKET, "video.mp4", &up.upload_id)
        .await
        .unwrap();
    assert_eq!(listed, infos.values().cloned().collect::<Vec<_>>());
    assert_eq!(
        store.list_uploads(BUCKET, "").await.unwrap(),
        vec![up.clone()]
    );

    // ETags as clients send them: quoted or not, any case.
    let request = vec![
        (1, infos[&1].etag.clone()),
        (2, infos[&2].etag.trim_matches('"').to_lowercase()),
        (3, infos[&3].etag.to_lowercase()),
    ];
    let obj = store
        .complete_multipart(BUCKET, "video.mp4", &up.upload_id, &request)
        .await
        .unwrap();

    let whole = parts.concat();
    assert_eq!(read_all(&store, BUCKET, "video.mp4").await.unwrap(), whole);
    assert_eq!(obj.size, whole.len() as u64);
    assert_eq!(obj.crc64, crc64::checksum(&whole));
    assert_eq!(
        obj.crc64,
        crc64::combine_parts(infos.values().map(|p| (p.crc64, p.size)))
    );
    let mut md5s = Vec::new();
    for p in &parts {
        md5s.extend_from_slice(&Md5::digest(p));
    }
    assert_eq!(
        obj.etag,
        format!("\"{}-3\"", hex::encode_upper(Md5::digest(&md5s)))
    );
    assert_eq!(obj.object_type, ObjectType::Multipart);
    assert_eq!(obj.content_md5, None);
    assert_eq!(obj.headers.content_type.as_deref(), Some("video/mp4"));
    assert_eq!(store.head_object(BUCKET, "video.mp4").await.unwrap(), obj);

    // The upload is gone, with all its files.
    assert!(store.list_uploads(BUCKET, "").await.unwrap().is_empty());
    assert!(matches!(
        store.list_parts(BUCKET, "video.mp4", &up.upload_id).await,
        Err(StoreError::NoSuchUpload(_))
    ));
    assert_eq!(upload_dirs(&tmp), 0);
    // Completed without a copy: the object keeps its three part files (hard links).
    assert_eq!(files_ending(&data_dir(&tmp), ".data").len(), 3);
    drop(store);
    let store = Store::open(data_dir(&tmp)).await.unwrap();
    assert_eq!(read_all(&store, BUCKET, "video.mp4").await.unwrap(), whole);
    assert_eq!(store.recovery_report().orphan_data_removed, 0);
}

fn code<T: std::fmt::Debug>(r: Result<T, StoreError>) -> &'static str {
    r.unwrap_err().oss_code()
}

#[tokio::test]
async fn complete_errors_leave_the_upload_usable() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_with_bucket(&tmp).await;
    let up = initiate(&store, "k").await;
    let id = up.upload_id.as_str();
    let small = store
        .upload_part(BUCKET, "k", id, 1, &content(1, 1000)[..])
        .await
        .unwrap();
    let big = store
        .upload_part(BUCKET, "k", id, 2, &content(2, MIN_PART_SIZE as usize)[..])
        .await
        .unwrap();
    let last = store
        .upload_part(BUCKET, "k", id, 3, &content(3, 5)[..])
        .await
        .unwrap();
    let e = |n: u32, etag: &str| (n, etag.to_owned());

    assert_eq!(
        code(
            store
                .complete_multipart(BUCKET, "k", id, &[e(2, &big.etag), e(4, &last.etag)])
                .await
        ),
        "InvalidPart"
    );
    assert_eq!(
        code(
            store
                .complete_multipart(BUCKET, "k", id, &[e(2, &small.etag)])
                .await
        ),
        "InvalidPart"
    );
    assert_eq!(
        code(
            store
                .complete_multipart(BUCKET, "k", id, &[e(2, &big.etag), e(1, &small.etag)])
                .await
        ),
        "InvalidPartOrder"
    );
    assert_eq!(
        code(
            store
                .complete_multipart(BUCKET, "k", id, &[e(2, &big.etag), e(2, &big.etag)])
                .await
        ),
        "InvalidPartOrder"
    );
    let err = store
        .complete_multipart(BUCKET, "k", id, &[e(1, &small.etag), e(2, &big.etag)])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::EntityTooSmall {
                part_number: 1,
                size: 1000
            }
        ),
        "{err}"
    );
    assert_eq!(err.http_status(), 400);
    assert_eq!(
        code(store.complete_multipart_all(BUCKET, "k", id).await),
        "EntityTooSmall"
    );
    assert_eq!(
        code(store.complete_multipart(BUCKET, "k", id, &[]).await),
        "InvalidArgument"
    );
    assert_eq!(
        code(
            store
                .complete_multipart(BUCKET, "other-key", id, &[e(3, &last.etag)])
                .await
        ),
        "NoSuchUpload"
    );
    assert_eq!(
        code(
            store
                .complete_multipart(BUCKET, "k", "0123456789ABCDEF0123456789ABCDEF", &[])
                .await
        ),
        "NoSuchUpload"
    );
    assert_eq!(
        code(store.upload_part(BUCKET, "k", id, 0, &b"x"[..]).await),
        "InvalidArgument"
    );
    assert_eq!(
        code(store.upload_part(BUCKET, "k", id, 10_001, &b"x"[..]).await),
        "InvalidArgument"
    );
    assert_eq!(
        code(
            store
                .upload_part(BUCKET, "k", "../../x", 1, &b"x"[..])
                .await
        ),
        "NoSuchUpload"
    );
    assert!(
        matches!(
            store.head_object(BUCKET, "k").await,
            Err(StoreError::NoSuchKey(_))
        ),
        "nothing appeared"
    );

    // Still intact: a valid subset completes (the last part may be small).
    let obj = store
        .complete_multipart(BUCKET, "k", id, &[e(2, &big.etag), e(3, &last.etag)])
        .await
        .unwrap();
    let whole = [content(2, MIN_PART_SIZE as usize), content(3, 5)].concat();
    assert_eq!(read_all(&store, BUCKET, "k").await.unwrap(), whole);
    assert!(obj.etag.ends_with("-2\""));
    assert_eq!(
        code(store.complete_multipart_all(BUCKET, "k", id).await),
        "NoSuchUpload"
    );
    assert_eq!(
        files_ending(&data_dir(&tmp), ".data").len(),
        2,
        "the object's two part files; unused part 1 removed"
    );
}

#[tokio::test]
async fn abort_removes_everything() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_with_bucket(&tmp).await;
    let up = initiate(&store, "k").await;
    store
        .upload_part(BUCKET, "k", &up.upload_id, 1, &content(1, 5000)[..])
        .await
        .unwrap();
    assert_eq!(upload_dirs(&tmp), 1);
    assert!(matches!(
        store.abort_multipart(BUCKET, "wrong", &up.upload_id).await,
        Err(StoreError::NoSuchUpload(_))
    ));
    store
        .abort_multipart(BUCKET, "k", &up.upload_id)
        .await
        .unwrap();
    assert_eq!(upload_dirs(&tmp), 0);
    assert!(files_ending(&data_dir(&tmp), ".data").is_empty());
    let err = store
        .abort_multipart(BUCKET, "k", &up.upload_id)
        .await
        .unwrap_err();
    assert_eq!((err.oss_code(), err.http_status()), ("NoSuchUpload", 404));
    assert!(matches!(
        store
            .upload_part(BUCKET, "k", &up.upload_id, 1, &b"x"[..])
            .await,
        Err(StoreError::NoSuchUpload(_))
    ));
}

#[tokio::test]
async fn complete_all_part_copy_and_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_with_bucket(&tmp).await;
    let source = content(5, 400 * KIB);
    put(&store, "source", &source).await;
    let up = initiate(&store, "assembled").await;
    let id = up.upload_id.clone();
    let p1 = store
        .upload_part_copy(
            BUCKET,
            "assembled",
            &id,
            1,
            BUCKET,
            "source",
            Some(0..(200 * KIB) as u64),
        )
        .await
        .unwrap();
    assert_eq!(p1.etag, format!("\"{}\"", md5_hex(&source[..200 * KIB])));
    store
        .upload_part(BUCKET, "assembled", &id, 2, &b"tail"[..])
        .await
        .unwrap();

    // Upload and parts survive a restart.
    drop(store);
    let store = Store::open(data_dir(&tmp)).await.unwrap();
    assert_eq!(store.recovery_report().uploads, 1);
    assert_eq!(
        store
            .list_parts(BUCKET, "assembled", &id)
            .await
            .unwrap()
            .len(),
        2
    );
    let obj = store
        .complete_multipart_all(BUCKET, "assembled", &id)
        .await
        .unwrap();
    let whole = [&source[..200 * KIB], b"tail"].concat();
    assert_eq!(read_all(&store, BUCKET, "assembled").await.unwrap(), whole);
    assert_eq!(obj.crc64, crc64::checksum(&whole));
    assert!(obj.etag.ends_with("-2\""));
    assert!(matches!(
        store
            .upload_part_copy(BUCKET, "x", &id, 1, BUCKET, "missing", None)
            .await,
        Err(StoreError::NoSuchKey(_))
    ));
}

#[tokio::test]
async fn uploads_listed_by_key_then_initiation() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = TestClock::at(100);
    let store = Store::open_with(data_dir(&tmp), clock.config(true))
        .await
        .unwrap();
    store
        .create_bucket(BUCKET, Default::default())
        .await
        .unwrap();
    let mut expected = Vec::new();
    for (t, key) in [(300, "b"), (200, "a"), (100, "a"), (50, "c/x")] {
        clock.set(t);
        let up = initiate(&store, key).await;
        expected.push((key.to_owned(), t, up.upload_id));
    }
    expected.sort();
    let got: Vec<_> = store
        .list_uploads(BUCKET, "")
        .await
        .unwrap()
        .into_iter()
        .map(|u| (u.key, u.initiated_ms, u.upload_id))
        .collect();
    assert_eq!(got, expected);
    assert_eq!(store.list_uploads(BUCKET, "c/").await.unwrap().len(), 1);
}
