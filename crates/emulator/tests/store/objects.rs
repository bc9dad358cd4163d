//! Put / get / head / delete / copy / ACL round trips.

use std::collections::BTreeMap;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use base64::Engine as _;
use ossguard_emulator::store::{
    CopyOptions, MetadataDirective, ObjectAcl, ObjectHeaders, ObjectType, PutOptions, StorageClass,
    Store, StoreError,
};
use ossguard_proto::crc64;
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};

use crate::common::*;

fn headers() -> ObjectHeaders {
    ObjectHeaders {
        content_type: Some("text/plain".into()),
        content_encoding: Some("identity".into()),
        content_disposition: Some("attachment; filename=\"a.txt\"".into()),
        cache_control: Some("no-cache".into()),
        expires: Some("Wed, 21 Oct 2015 07:28:00 GMT".into()),
        content_language: Some("en".into()),
        user_meta: BTreeMap::from([("Author".into(), "Alice".into()), ("x".into(), "1".into())]),
        acl: ObjectAcl::PublicRead,
        storage_class: StorageClass::InfrequentAccess,
        tags: BTreeMap::from([("team".into(), "storage".into())]),
        sse: Some("AES256".into()),
        sse_key_id: None,
    }
}

#[tokio::test]
async fn put_get_head_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = TestClock::at(1_700_000_000_123);
    let store = Store::open_with(data_dir(&tmp), clock.config(true))
        .await
        .unwrap();
    store
        .create_bucket(BUCKET, Default::default())
        .await
        .unwrap();
    let data = content(1, 300_000);
    let opts = PutOptions {
        headers: headers(),
        ..Default::default()
    };
    let info = store
        .put_object(BUCKET, "dir/a.txt", &data[..], opts)
        .await
        .unwrap();

    assert_eq!(info.key, "dir/a.txt");
    assert_eq!(info.size, data.len() as u64);
    assert_eq!(info.etag, format!("\"{}\"", md5_hex(&data)));
    let md5 = hex::decode(md5_hex(&data)).unwrap();
    assert_eq!(
        info.content_md5.as_deref(),
        Some(
            base64::engine::general_purpose::STANDARD
                .encode(md5)
                .as_str()
        )
    );
    assert_eq!(info.crc64, crc64::checksum(&data));
    assert_eq!(info.last_modified_ms, 1_700_000_000_123);
    assert_eq!(info.object_type, ObjectType::Normal);
    assert_eq!(info.next_append_position(), None);
    let mut expected_headers = headers();
    expected_headers.user_meta =
        BTreeMap::from([("author".into(), "Alice".into()), ("x".into(), "1".into())]);
    assert_eq!(
        info.headers, expected_headers,
        "user metadata names lower-cased"
    );

    assert_eq!(read_all(&store, BUCKET, "dir/a.txt").await.unwrap(), data);
    assert_eq!(store.head_object(BUCKET, "dir/a.txt").await.unwrap(), info);

    // Ranges: inside, clamped end, empty at the end, beyond the end.
    let mut part = store
        .get_object(BUCKET, "dir/a.txt", Some(10..20))
        .await
        .unwrap();
    assert_eq!(part.range, 10..20);
    assert_eq!(part.body.remaining(), 10);
    let mut got = Vec::new();
    part.body.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, &data[10..20]);
    assert_eq!(
        part.info, info,
        "range reads carry the whole object's metadata"
    );
    let tail = store
        .get_object(BUCKET, "dir/a.txt", Some(299_990..u64::MAX))
        .await
        .unwrap();
    assert_eq!(tail.range, 299_990..300_000);
    let empty = store
        .get_object(BUCKET, "dir/a.txt", Some(300_000..300_000))
        .await
        .unwrap();
    assert_eq!(empty.body.remaining(), 0);
    let err = store
        .get_object(BUCKET, "dir/a.txt", Some(300_001..300_002))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidRange { .. }), "{err}");
    assert_eq!(err.http_status(), 416);

    // Everything survives a reopen.
    drop(store);
    let store = Store::open(data_dir(&tmp)).await.unwrap();
    assert_eq!(store.head_object(BUCKET, "dir/a.txt").await.unwrap(), info);
    assert_eq!(read_all(&store, BUCKET, "dir/a.txt").await.unwrap(), data);
}

#[tokio::test]
async fn empty_object_and_missing_things() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_with_bucket(&tmp).await;
    let info = put(&store, "empty", b"").await;
    assert_eq!(info.size, 0);
    assert_eq!(info.etag, "\"D41D8CD98F00B204E9800998ECF8427E\"");
    assert_eq!(info.crc64, 0);
    assert_eq!(read_all(&store, BUCKET, "empty").await.unwrap(), b"");

    let err = store.head_object(BUCKET, "nope").await.unwrap_err();
    assert_eq!((err.oss_code(), err.http_status()), ("NoSuchKey", 404));
    assert!(matches!(
        read_all(&store, BUCKET, "nope").await,
        Err(StoreError::NoSuchKey(_))
    ));
    let err = store
        .put_object("no-such-bucket", "k", &b"x"[..], PutOptions::default())
        .await
        .unwrap_err();
    assert_eq!((err.oss_code(), err.http_status()), ("NoSuchBucket", 404));
    assert!(matches!(
        store.get_object("no-such-bucket", "k", None).await,
        Err(StoreError::NoSuchBucket(_))
    ));
}

#[tokio::test]
async fn overwrite_delete_and_no_leftover_files() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_with_bucket(&tmp).await;
    put(&store, "k", b"first").await;
    put(&store, "k", b"second version").await;
    assert_eq!(
        read_all(&store, BUCKET, "k").await.unwrap(),
        b"second version"
    );
    let dir = data_dir(&tmp);
    assert_eq!(
        files_ending(&dir, ".data").len(),
        1,
        "old version's data removed"
    );

    store.delete_object(BUCKET, "k").await.unwrap();
    store.delete_object(BUCKET, "k").await.unwrap(); // deleting a missing key is fine
    assert!(matches!(
        store.head_object(BUCKET, "k").await,
        Err(StoreError::NoSuchKey(_))
    ));
    assert!(files_ending(&dir, ".data").is_empty());
    assert!(files_ending(&dir, ".tmp").is_empty());
    assert_eq!(
        files_ending(&dir.join("buckets"), ".json").len(),
        1,
        "only bucket.json"
    );
}

#[tokio::test]
async fn forbid_overwrite_and_content_md5() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_with_bucket(&tmp).await;
    put(&store, "k", b"original").await;
    let forbid = PutOptions {
        forbid_overwrite: true,
        ..Default::default()
    };
    let err = store
        .put_object(BUCKET, "k", &b"new"[..], forbid.clone())
        .await
        .unwrap_err();
    assert_eq!(
        (err.oss_code(), err.http_status()),
        ("FileAlreadyExists", 409)
    );
    assert_eq!(read_all(&store, BUCKET, "k").await.unwrap(), b"original");
    store
        .put_object(BUCKET, "fresh", &b"ok"[..], forbid)
        .await
        .unwrap();

    let good = PutOptions {
        expected_md5: Some(hex::decode(md5_hex(b"body")).unwrap().try_into().unwrap()),
        ..Default::default()
    };
    store
        .put_object(BUCKET, "md5", &b"body"[..], good.clone())
        .await
        .unwrap();
    let err = store
        .put_object(BUCKET, "md5-bad", &b"other"[..], good)
        .await
        .unwrap_err();
    assert_eq!((err.oss_code(), err.http_status()), ("InvalidDigest", 400));
    assert!(matches!(
        store.head_object(BUCKET, "md5-bad").await,
        Err(StoreError::NoSuchKey(_))
    ));
    assert_eq!(
        files_ending(&data_dir(&tmp), ".data").len(),
        3,
        "rejected body not kept"
    );
}

/// Yields `good` bytes in small chunks, then fails: like a client that disconnects mid-body.
struct BrokenBody {
    good: usize,
    sent: usize,
}

impl AsyncRead for BrokenBody {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.sent >= self.good {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "client went away",
            )));
        }
        let n = buf.remaining().min(1000).min(self.good - self.sent);
        buf.put_slice(&vec![b'z'; n]);
        self.sent += n;
        Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn failed_body_stores_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_with_bucket(&tmp).await;
    put(&store, "k", b"old").await;
    let err = store
        .put_object(
            BUCKET,
            "k",
            BrokenBody {
                good: 500_000,
                sent: 0,
            },
            PutOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Io(_)));
    assert_eq!(err.http_status(), 500);
    assert_eq!(read_all(&store, BUCKET, "k").await.unwrap(), b"old");
    assert_eq!(files_ending(&data_dir(&tmp), ".data").len(), 1);
}

/// A body delivered in many small reads, as from the network; 6 MiB checks streaming sums.
#[tokio::test]
async fn large_streamed_body() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_with_bucket(&tmp).await;
    let data = content(7, 6 * 1024 * 1024 + 13);
    let (mut writer, reader) = tokio::io::duplex(4096);
    let feed = data.clone();
    let feeder = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        for chunk in feed.chunks(7777) {
            writer.write_all(chunk).await.unwrap();
        }
    });
    let info = store
        .put_object(BUCKET, "big", reader, PutOptions::default())
        .await
        .unwrap();
    feeder.await.unwrap();
    assert_eq!(info.size, data.len() as u64);
    assert_eq!(info.crc64, crc64::checksum(&data));
    assert_eq!(info.etag, format!("\"{}\"", md5_hex(&data)));
    assert_eq!(read_all(&store, BUCKET, "big").await.unwrap(), data);
}

#[tokio::test]
async fn reads_started_before_overwrite_or_delete_see_old_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_with_bucket(&tmp).await;
    let old = content(1, 200_000);
    put(&store, "k", &old).await;
    let mut reader = store.get_object(BUCKET, "k", None).await.unwrap();
    let mut first = vec![0u8; 1000];
    reader.body.read_exact(&mut first).await.unwrap();
    put(&store, "k", &content(2, 50_000)).await;
    let mut ranged = store.get_object(BUCKET, "k", Some(0..10)).await.unwrap();
    store.delete_object(BUCKET, "k").await.unwrap();
    let mut rest = Vec::new();
    reader.body.read_to_end(&mut rest).await.unwrap();
    first.extend(rest);
    assert_eq!(first, old);
    let mut ten = Vec::new();
    ranged.body.read_to_end(&mut ten).await.unwrap();
    assert_eq!(ten, &content(2, 50_000)[..10]);
}

#[tokio::test]
async fn copy_object_modes() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = TestClock::at(1_000);
    let store = Store::open_with(data_dir(&tmp), clock.config(true))
        .await
        .unwrap();
    store
        .create_bucket(BUCKET, Default::default())
        .await
        .unwrap();
    store
        .create_bucket("other-bucket", Default::default())
        .await
        .unwrap();
    let data = content(3, 123_456);
    let src = store
        .put_object(
            BUCKET,
            "src",
            &data[..],
            PutOptions {
                headers: headers(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    clock.set(2_000);

    // COPY: same bytes and metadata, new key and time.
    let copied = store
        .copy_object(BUCKET, "src", "other-bucket", "dst", CopyOptions::default())
        .await
        .unwrap();
    assert_eq!(copied.key, "dst");
    assert_eq!(copied.last_modified_ms, 2_000);
    assert_eq!(
        (copied.etag.as_str(), copied.crc64, copied.size),
        (src.etag.as_str(), src.crc64, src.size)
    );
    assert_eq!(copied.headers, src.headers);
    assert_eq!(read_all(&store, "other-bucket", "dst").await.unwrap(), data);

    // REPLACE plus ACL override.
    let replaced_headers = ObjectHeaders {
        content_type: Some("application/json".into()),
        user_meta: BTreeMap::from([("K".into(), "v".into())]),
        ..Default::default()
    };
    let replaced = store
        .copy_object(
            BUCKET,
            "src",
            BUCKET,
            "dst2",
            CopyOptions {
                metadata: MetadataDirective::Replace(Box::new(replaced_headers)),
                acl: Some(ObjectAcl::Private),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        replaced.headers.content_type.as_deref(),
        Some("application/json")
    );
    assert_eq!(
        replaced.headers.user_meta,
        BTreeMap::from([("k".into(), "v".into())])
    );
    assert_eq!(replaced.headers.acl, ObjectAcl::Private);
    assert_eq!(replaced.headers.storage_class, StorageClass::Standard);

    // Copy onto itself to change metadata.
    let same = store
        .copy_object(
            BUCKET,
            "src",
            BUCKET,
            "src",
            CopyOptions {
                metadata: MetadataDirective::Replace(Box::default()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    // Tags have a directive of their own (`tags: None`: the source's).
    let kept = ObjectHeaders {
        tags: headers().tags,
        ..ObjectHeaders::default()
    };
    assert_eq!(same.headers, kept);
    assert_eq!(read_all(&store, BUCKET, "src").await.unwrap(), data);

    // Copies are independent of the source's later fate.
    store.delete_object(BUCKET, "src").await.unwrap();
    assert_eq!(read_all(&store, "other-bucket", "dst").await.unwrap(), data);
    assert_eq!(read_all(&store, BUCKET, "dst2").await.unwrap(), data);

    let err = store
        .copy_object(BUCKET, "src", BUCKET, "x", CopyOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NoSuchKey(_)));
    let err = store
        .copy_object(
            BUCKET,
            "dst2",
            "other-bucket",
            "dst",
            CopyOptions {
                forbid_overwrite: true,
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::FileAlreadyExists(_)));

    drop(store);
    let store = Store::open(data_dir(&tmp)).await.unwrap();
    assert_eq!(read_all(&store, "other-bucket", "dst").await.unwrap(), data);
    assert_eq!(store.recovery_report().orphan_data_removed, 0);
}

#[tokio::test]
async fn object_acl_changes_only_the_acl() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = TestClock::at(5_000);
    let store = Store::open_with(data_dir(&tmp), clock.config(true))
        .await
        .unwrap();
    store
        .create_bucket(BUCKET, Default::default())
        .await
        .unwrap();
    let before = put(&store, "k", b"data").await;
    assert_eq!(before.headers.acl, ObjectAcl::Default);
    clock.set(9_000);
    let after = store
        .set_object_acl(BUCKET, "k", ObjectAcl::PublicReadWrite)
        .await
        .unwrap();
    assert_eq!(after.headers.acl, ObjectAcl::PublicReadWrite);
    let mut expected = before.clone();
    expected.headers.acl = ObjectAcl::PublicReadWrite;
    assert_eq!(after, expected, "Last-Modified and the rest unchanged");
    assert_eq!(read_all(&store, BUCKET, "k").await.unwrap(), b"data");
    assert!(matches!(
        store
            .set_object_acl(BUCKET, "missing", ObjectAcl::Private)
            .await,
        Err(StoreError::NoSuchKey(_))
    ));
    drop(store);
    let store = Store::open(data_dir(&tmp)).await.unwrap();
    assert_eq!(store.head_object(BUCKET, "k").await.unwrap(), expected);
}

#[test]
fn enum_wire_strings() {
    use ossguard_emulator::store::BucketAcl;
    assert_eq!(
        "public-read".parse::<BucketAcl>().unwrap(),
        BucketAcl::PublicRead
    );
    assert_eq!(BucketAcl::PublicReadWrite.as_str(), "public-read-write");
    assert_eq!("default".parse::<ObjectAcl>().unwrap(), ObjectAcl::Default);
    assert_eq!(
        "IA".parse::<StorageClass>().unwrap(),
        StorageClass::InfrequentAccess
    );
    assert_eq!(StorageClass::DeepColdArchive.to_string(), "DeepColdArchive");
    assert_eq!(ObjectType::Appendable.as_str(), "Appendable");
    let err = "world-writable".parse::<BucketAcl>().unwrap_err();
    assert_eq!(
        (err.oss_code(), err.http_status()),
        ("InvalidArgument", 400)
    );
}
