//! AppendObject semantics.

use ossguard_emulator::store::{CopyOptions, ObjectHeaders, ObjectType, Store, StoreError};
use ossguard_proto::crc64;

use crate::common::*;

async fn append(
    store: &Store,
    key: &str,
    pos: u64,
    data: &[u8],
) -> Result<ossguard_emulator::store::ObjectInfo, StoreError> {
    let headers = ObjectHeaders {
        content_type: Some("text/log".into()),
        ..Default::default()
    };
    store.append_object(BUCKET, key, pos, data, headers).await
}

#[tokio::test]
async fn appends_grow_the_object_and_continue_the_crc() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_with_bucket(&tmp).await;
    let err = append(&store, "log", 5, b"x").await.unwrap_err();
    assert!(matches!(
        err,
        StoreError::PositionNotEqualToLength { next_position: 0 }
    ));

    let a = content(1, 150_000);
    let first = append(&store, "log", 0, &a).await.unwrap();
    assert_eq!(first.object_type, ObjectType::Appendable);
    assert_eq!(first.next_append_position(), Some(a.len() as u64));
    assert_eq!(first.crc64, crc64::checksum(&a));
    assert_eq!(first.content_md5, None);
    assert!(first.etag.starts_with('"') && first.etag.ends_with('"'));

    let err = append(&store, "log", 3, b"zz").await.unwrap_err();
    assert_eq!(
        (err.oss_code(), err.http_status()),
        ("PositionNotEqualToLength", 409)
    );
    assert!(
        matches!(err, StoreError::PositionNotEqualToLength { next_position } if next_position == a.len() as u64)
    );

    let b = content(2, 70_001);
    let second = append(&store, "log", a.len() as u64, &b).await.unwrap();
    let whole = [a.clone(), b.clone()].concat();
    assert_eq!(second.size, whole.len() as u64);
    assert_eq!(second.crc64, crc64::checksum(&whole));
    assert_eq!(
        second.crc64,
        crc64::combine(first.crc64, crc64::checksum(&b), b.len() as u64)
    );
    assert_ne!(second.etag, first.etag);
    assert_eq!(second.headers.content_type.as_deref(), Some("text/log"));
    assert_eq!(read_all(&store, BUCKET, "log").await.unwrap(), whole);
    assert_eq!(store.head_object(BUCKET, "log").await.unwrap(), second);

    // Reopen and keep appending.
    drop(store);
    let store = Store::open(data_dir(&tmp)).await.unwrap();
    let third = append(&store, "log", whole.len() as u64, b"end")
        .await
        .unwrap();
    let whole = [whole, b"end".to_vec()].concat();
    assert_eq!(third.crc64, crc64::checksum(&whole));
    assert_eq!(read_all(&store, BUCKET, "log").await.unwrap(), whole);
}

#[tokio::test]
async fn normal_objects_are_not_appendable() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_with_bucket(&tmp).await;
    put(&store, "plain", b"abc").await;
    let err = append(&store, "plain", 3, b"d").await.unwrap_err();
    assert_eq!(
        (err.oss_code(), err.http_status()),
        ("ObjectNotAppendable", 409)
    );
    let err = append(&store, "plain", 0, b"d").await.unwrap_err();
    assert!(matches!(err, StoreError::ObjectNotAppendable(_)));
    assert_eq!(read_all(&store, BUCKET, "plain").await.unwrap(), b"abc");

    // A put replaces an appendable object with a normal one.
    append(&store, "log", 0, b"x").await.unwrap();
    put(&store, "log", b"normal").await;
    assert!(matches!(
        append(&store, "log", 6, b"y").await,
        Err(StoreError::ObjectNotAppendable(_))
    ));
}

#[tokio::test]
async fn copy_of_appendable_is_a_normal_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_with_bucket(&tmp).await;
    append(&store, "log", 0, b"hello ").await.unwrap();
    let copy = store
        .copy_object(BUCKET, "log", BUCKET, "snap", CopyOptions::default())
        .await
        .unwrap();
    assert_eq!(copy.object_type, ObjectType::Normal);
    assert_eq!(copy.etag, format!("\"{}\"", md5_hex(b"hello ")));
    assert!(copy.content_md5.is_some());
    append(&store, "log", 6, b"world").await.unwrap();
    assert_eq!(read_all(&store, BUCKET, "snap").await.unwrap(), b"hello ");
    assert_eq!(
        read_all(&store, BUCKET, "log").await.unwrap(),
        b"hello world"
    );
}

#[tokio::test]
async fn reader_of_an_older_length_is_not_disturbed() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_with_bucket(&tmp).await;
    append(&store, "log", 0, b"0123456789").await.unwrap();
    let mut reader = store.get_object(BUCKET, "log", None).await.unwrap();
    append(&store, "log", 10, b"abcdef").await.unwrap();
    let mut got = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut reader.body, &mut got)
        .await
        .unwrap();
    assert_eq!(
        got, b"0123456789",
        "the reader sees the length it started with"
    );
}

/// Many appenders race at the same position: exactly one wins, the rest learn the new length.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_appends_at_one_position() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_with_bucket(&tmp).await;
    append(&store, "log", 0, b"start").await.unwrap();
    let tasks: Vec<_> = (0..8u64)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(
                async move { append(&store, "log", 5, &content(i, 20_000 + i as usize)).await },
            )
        })
        .collect();
    let mut winners = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await.unwrap() {
            Ok(info) => winners.push((i, info)),
            Err(StoreError::PositionNotEqualToLength { next_position }) => {
                assert!(next_position > 5)
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one append at position 5 succeeds"
    );
    let (i, info) = &winners[0];
    let expected = [b"start".to_vec(), content(*i as u64, 20_000 + i)].concat();
    assert_eq!(read_all(&store, BUCKET, "log").await.unwrap(), expected);
    assert_eq!(info.crc64, crc64::checksum(&expected));
}
