//! Bucket lifecycle, configuration and the error table.

use ossguard_emulator::store::{
    BucketAcl, CreateBucketOptions, ObjectHeaders, StorageClass, Store, StoreError,
};

use crate::common::*;

#[tokio::test]
async fn create_list_info_delete() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = TestClock::at(1_600_000_000_000);
    let store = Store::open_with(data_dir(&tmp), clock.config(true))
        .await
        .unwrap();
    assert!(store.list_buckets().await.is_empty());

    let b = store
        .create_bucket(
            "zeta-1",
            CreateBucketOptions {
                acl: BucketAcl::PublicRead,
                storage_class: StorageClass::Archive,
                location: Some("oss-cn-shanghai".into()),
            },
        )
        .await
        .unwrap();
    assert_eq!(b.created_ms, 1_600_000_000_000);
    assert_eq!(
        (b.acl, b.storage_class, b.location.as_str()),
        (
            BucketAcl::PublicRead,
            StorageClass::Archive,
            "oss-cn-shanghai"
        )
    );
    clock.set(1_600_000_000_500);
    let a = store
        .create_bucket("alpha", Default::default())
        .await
        .unwrap();
    assert_eq!(
        (a.acl, a.location.as_str(), a.created_ms),
        (BucketAcl::Private, "oss-cn-hangzhou", 1_600_000_000_500)
    );

    let names: Vec<String> = store
        .list_buckets()
        .await
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(names, ["alpha", "zeta-1"]);
    assert_eq!(store.bucket_info("zeta-1").await.unwrap(), b);

    let err = store
        .create_bucket("alpha", Default::default())
        .await
        .unwrap_err();
    assert_eq!(
        (err.oss_code(), err.http_status()),
        ("BucketAlreadyExists", 409)
    );

    store.delete_bucket("alpha").await.unwrap();
    assert!(matches!(
        store.bucket_info("alpha").await,
        Err(StoreError::NoSuchBucket(_))
    ));
    assert!(matches!(
        store.delete_bucket("alpha").await,
        Err(StoreError::NoSuchBucket(_))
    ));

    // Recreated under the same name: a new, empty bucket.
    store
        .create_bucket("alpha", Default::default())
        .await
        .unwrap();
    let listing = store
        .list_objects("alpha", &Default::default())
        .await
        .unwrap();
    assert!(listing.objects.is_empty());
    drop(store);
    let store = Store::open(data_dir(&tmp)).await.unwrap();
    let names: Vec<String> = store
        .list_buckets()
        .await
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert_eq!(names, ["alpha", "zeta-1"]);
    assert_eq!(store.bucket_info("zeta-1").await.unwrap(), b);
    assert!(
        files_ending(&data_dir(&tmp).join("tmp"), "").is_empty(),
        "nothing staged left over"
    );
}

#[tokio::test]
async fn bucket_not_empty_until_objects_and_uploads_are_gone() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_with_bucket(&tmp).await;
    put(&store, "k", b"x").await;
    let err = store.delete_bucket(BUCKET).await.unwrap_err();
    assert_eq!((err.oss_code(), err.http_status()), ("BucketNotEmpty", 409));
    store.delete_object(BUCKET, "k").await.unwrap();
    let upload = store
        .initiate_multipart(BUCKET, "m", ObjectHeaders::default())
        .await
        .unwrap();
    assert!(matches!(
        store.delete_bucket(BUCKET).await,
        Err(StoreError::BucketNotEmpty(_))
    ));
    store
        .abort_multipart(BUCKET, "m", &upload.upload_id)
        .await
        .unwrap();
    store.delete_bucket(BUCKET).await.unwrap();
    assert!(!data_dir(&tmp).join("buckets").join(BUCKET).exists());
    let err = store
        .put_object(BUCKET, "k", &b"x"[..], Default::default())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NoSuchBucket(_)));
}

#[tokio::test]
async fn config_is_durable() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_with_bucket(&tmp).await;
    let cors = "<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin></CORSRule></CORSConfiguration>";
    let logging = r#"{"target_bucket":"logs","target_prefix":"a/"}"#;
    store
        .set_bucket_acl(BUCKET, BucketAcl::PublicReadWrite)
        .await
        .unwrap();
    store
        .set_bucket_cors(BUCKET, Some(cors.into()))
        .await
        .unwrap();
    let info = store
        .set_bucket_logging(BUCKET, Some(logging.into()))
        .await
        .unwrap();
    assert_eq!(info.acl, BucketAcl::PublicReadWrite, "earlier change kept");
    assert_eq!(info.cors.as_deref(), Some(cors));
    drop(store);
    let store = Store::open(data_dir(&tmp)).await.unwrap();
    let reopened = store.bucket_info(BUCKET).await.unwrap();
    assert_eq!(reopened, info);
    let cleared = store.set_bucket_cors(BUCKET, None).await.unwrap();
    assert_eq!(cleared.cors, None);
    assert_eq!(cleared.logging.as_deref(), Some(logging));
    assert!(matches!(
        store
            .set_bucket_acl("missing-bucket", BucketAcl::Private)
            .await,
        Err(StoreError::NoSuchBucket(_))
    ));
}

/// Concurrent config updates of one bucket must not lose each other's changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_config_updates_all_land() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_with_bucket(&tmp).await;
    let (s1, s2) = (store.clone(), store.clone());
    let a = tokio::spawn(async move { s1.set_bucket_cors(BUCKET, Some("cors".into())).await });
    let b = tokio::spawn(async move { s2.set_bucket_logging(BUCKET, Some("log".into())).await });
    a.await.unwrap().unwrap();
    b.await.unwrap().unwrap();
    let info = store.bucket_info(BUCKET).await.unwrap();
    assert_eq!(
        (info.cors.as_deref(), info.logging.as_deref()),
        (Some("cors"), Some("log"))
    );
}

#[tokio::test]
async fn invalid_bucket_names_rejected() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(data_dir(&tmp)).await.unwrap();
    for name in [
        "-",
        "ab",
        "Upper",
        "a_b",
        "-abc",
        "abc-",
        "../x",
        "a/b",
        "a.b",
        ".",
        "..",
        &"a".repeat(64),
    ] {
        let err = store
            .create_bucket(name, Default::default())
            .await
            .unwrap_err();
        assert_eq!(
            (err.oss_code(), err.http_status()),
            ("InvalidBucketName", 400),
            "{name}"
        );
        assert!(matches!(
            store.bucket_info(name).await,
            Err(StoreError::InvalidBucketName(_))
        ));
    }
    assert!(store.list_buckets().await.is_empty());
    assert_eq!(
        std::fs::read_dir(data_dir(&tmp).join("buckets"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn every_error_has_its_oss_code_and_status() {
    use std::io;
    let table: Vec<(StoreError, &str, u16)> = vec![
        (StoreError::NoSuchBucket("b".into()), "NoSuchBucket", 404),
        (
            StoreError::BucketAlreadyExists("b".into()),
            "BucketAlreadyExists",
            409,
        ),
        (
            StoreError::BucketNotEmpty("b".into()),
            "BucketNotEmpty",
            409,
        ),
        (
            StoreError::InvalidBucketName("b".into()),
            "InvalidBucketName",
            400,
        ),
        (StoreError::NoSuchKey("k".into()), "NoSuchKey", 404),
        (
            StoreError::InvalidObjectName("k".into()),
            "InvalidObjectName",
            400,
        ),
        (StoreError::NoSuchUpload("u".into()), "NoSuchUpload", 404),
        (StoreError::InvalidPart("p".into()), "InvalidPart", 400),
        (StoreError::InvalidPartOrder, "InvalidPartOrder", 400),
        (
            StoreError::EntityTooSmall {
                part_number: 1,
                size: 1,
            },
            "EntityTooSmall",
            400,
        ),
        (
            StoreError::PositionNotEqualToLength { next_position: 3 },
            "PositionNotEqualToLength",
            409,
        ),
        (
            StoreError::ObjectNotAppendable("k".into()),
            "ObjectNotAppendable",
            409,
        ),
        (
            StoreError::FileAlreadyExists("k".into()),
            "FileAlreadyExists",
            409,
        ),
        (StoreError::InvalidDigest, "InvalidDigest", 400),
        (
            StoreError::InvalidRange {
                start: 1,
                end: 2,
                size: 0,
            },
            "InvalidRange",
            416,
        ),
        (
            StoreError::InvalidArgument("x".into()),
            "InvalidArgument",
            400,
        ),
        (
            StoreError::Io(io::Error::other("disk")),
            "InternalError",
            500,
        ),
    ];
    for (err, code, status) in table {
        assert_eq!(
            (err.oss_code(), err.http_status()),
            (code, status),
            "{err:?}"
        );
        assert!(!err.to_string().is_empty());
    }
}
