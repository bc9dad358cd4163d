//! Hostile keys stay inside the data folder and read back; invalid names are rejected.

use std::path::Path;

use ossguard_emulator::store::{
    CopyOptions, ListObjectsParams, ObjectHeaders, PutOptions, Store, StoreError,
};

use crate::common::*;

fn hostile_keys() -> Vec<String> {
    let mut keys: Vec<String> = [
        "../../etc/passwd",
        "..",
        ".",
        "a/../../b",
        "../",
        "..\\..\\windows",
        "a\\b",
        "%2F",
        "%2e%2e%2f",
        "a+b c",
        " leading and trailing ",
        "tab\there",
        "new\nline",
        "日本語/ключ/😀",
        "a//b///c",
        "trailing/",
        "con",
        "nul.txt",
        "*?<>|:\"",
        "bucket.json",
        "store.json",
        "tmp",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    keys.push("k".repeat(1023));
    keys.push(format!("{}/{}", "../".repeat(300), "x")); // 1-kB climb
    keys.push("é".repeat(511)); // 1022 bytes of 2-byte characters
    keys.push("x".repeat(255)); // the usual file-name limit
    keys.push("x".repeat(256));
    keys
}

/// `copy/<key>`, cut to the 1023-byte limit at a character boundary.
fn copy_key(key: &str) -> String {
    let mut k = format!("copy/{key}");
    while k.len() > 1023 {
        k.pop();
    }
    k
}

fn assert_all_inside(tmp: &tempfile::TempDir, data: &Path) {
    // Nothing next to the data folder...
    let siblings: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(siblings, [std::ffi::OsString::from("data")]);
    // ...and everything inside it resolves to a path inside it.
    let root = data.canonicalize().unwrap();
    for path in walk(data) {
        let real = path.canonicalize().unwrap();
        assert!(
            real.starts_with(&root),
            "{} escapes {}",
            real.display(),
            root.display()
        );
        let name = path
            .file_name()
            .unwrap()
            .to_str()
            .expect("store file names are ASCII");
        assert!(name.len() <= 80, "file name derived from a key? {name}");
    }
}

#[tokio::test]
async fn hostile_keys_stay_inside_and_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_with_bucket(&tmp).await;
    let keys = hostile_keys();
    for (i, key) in keys.iter().enumerate() {
        assert!(key.len() <= 1023, "{}", key.len());
        let data = content(i as u64, 100 + i);
        store
            .put_object(BUCKET, key, &data[..], PutOptions::default())
            .await
            .unwrap();
        store
            .append_object(
                BUCKET,
                &format!("append-{i}"),
                0,
                &data[..],
                ObjectHeaders::default(),
            )
            .await
            .unwrap();
        let upload = store
            .initiate_multipart(BUCKET, key, ObjectHeaders::default())
            .await
            .unwrap();
        store
            .upload_part(BUCKET, key, &upload.upload_id, 1, &data[..])
            .await
            .unwrap();
        store
            .complete_multipart_all(BUCKET, key, &upload.upload_id)
            .await
            .unwrap();
        store
            .put_object(BUCKET, key, &data[..], PutOptions::default())
            .await
            .unwrap();
        store
            .copy_object(BUCKET, key, BUCKET, &copy_key(key), CopyOptions::default())
            .await
            .unwrap();
    }
    let data = data_dir(&tmp);
    assert_all_inside(&tmp, &data);

    let check = |store: Store| async move {
        for (i, key) in hostile_keys().iter().enumerate() {
            let got = read_all(&store, BUCKET, key).await.unwrap();
            assert_eq!(got, content(i as u64, 100 + i), "{key:?}");
        }
        let listing = store
            .list_objects(
                BUCKET,
                &ListObjectsParams {
                    max_keys: 10_000,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let listed: Vec<String> = listing.objects.into_iter().map(|o| o.key).collect();
        let mut expected: Vec<String> = hostile_keys();
        expected.extend(hostile_keys().iter().map(|k| copy_key(k)));
        expected.extend((0..hostile_keys().len()).map(|i| format!("append-{i}")));
        expected.sort();
        expected.dedup();
        assert_eq!(listed, expected, "byte order of keys");
    };
    check(store.clone()).await;
    drop(store);
    let store = Store::open(&data).await.unwrap();
    check(store.clone()).await;
    for key in hostile_keys() {
        store.delete_object(BUCKET, &key).await.unwrap();
    }
    assert_all_inside(&tmp, &data);
}

#[tokio::test]
async fn invalid_keys_rejected_everywhere() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_with_bucket(&tmp).await;
    put(&store, "ok", b"x").await;
    let too_long = "k".repeat(1024);
    let multibyte_too_long = "é".repeat(512);
    for key in [
        "",
        "/abs",
        "\\abs",
        "nul\0byte",
        too_long.as_str(),
        multibyte_too_long.as_str(),
    ] {
        let is_invalid = |r: Result<(), StoreError>| match r {
            Err(e @ StoreError::InvalidObjectName(_)) => assert_eq!(e.http_status(), 400),
            other => panic!("{key:?}: {other:?}"),
        };
        is_invalid(
            store
                .put_object(BUCKET, key, &b"x"[..], PutOptions::default())
                .await
                .map(drop),
        );
        is_invalid(store.get_object(BUCKET, key, None).await.map(drop));
        is_invalid(store.head_object(BUCKET, key).await.map(drop));
        is_invalid(store.delete_object(BUCKET, key).await);
        is_invalid(
            store
                .append_object(BUCKET, key, 0, &b"x"[..], ObjectHeaders::default())
                .await
                .map(drop),
        );
        is_invalid(
            store
                .initiate_multipart(BUCKET, key, ObjectHeaders::default())
                .await
                .map(drop),
        );
        is_invalid(
            store
                .copy_object(BUCKET, "ok", BUCKET, key, CopyOptions::default())
                .await
                .map(drop),
        );
        is_invalid(
            store
                .copy_object(BUCKET, key, BUCKET, "ok2", CopyOptions::default())
                .await
                .map(drop),
        );
    }
    assert_eq!(files_ending(&data_dir(&tmp), ".data").len(), 1);
}
