//! Every client operation against the in-process emulator on 127.0.0.1.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::TryStreamExt;
use ossguard::{
    Body, Client, CompletedPart, Credentials, GetObjectOptions, ListOptions, PutObjectOptions,
    SignatureVersion,
};
use ossguard_emulator::server::{Emulator, EmulatorConfig};
use ossguard_proto::range::ByteRange;
use ossguard_proto::xml::{CorsConfiguration, CorsRule};

const AK: &str = "client-ak";
const SK: &str = "client-sk";

async fn setup(sig: SignatureVersion) -> (Emulator, Client, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = EmulatorConfig::local(dir.path().join("data"), AK, SK);
    cfg.sync = false;
    let emu = Emulator::start(cfg).await.unwrap();
    let client = Client::builder()
        .endpoint(emu.endpoint())
        .credentials(Credentials::new(AK, SK))
        .signature_version(sig)
        .build()
        .unwrap();
    (emu, client, dir)
}

#[tokio::test]
async fn object_lifecycle_v4_and_v1() {
    for sig in [SignatureVersion::V4, SignatureVersion::V1] {
        let (_emu, c, _d) = setup(sig).await;
        c.create_bucket("bkt-one", Default::default())
            .await
            .unwrap();
        assert_eq!(c.list_buckets().await.unwrap().len(), 1);
        assert_eq!(
            c.get_bucket_location("bkt-one").await.unwrap(),
            "oss-cn-hangzhou"
        );
        for (key, data) in [
            ("empty", vec![]),
            ("one", vec![7u8]),
            (
                "dir/ünï cödé +%.bin",
                (0..300_000u32).map(|i| i as u8).collect(),
            ),
        ] {
            let mut meta = BTreeMap::new();
            meta.insert("Author".to_owned(), "alice".to_owned());
            let put = c
                .put_object(
                    "bkt-one",
                    key,
                    data.clone().into(),
                    PutObjectOptions {
                        content_type: Some("application/x-test".into()),
                        metadata: meta,
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            assert_eq!(put.crc64, Some(ossguard_proto::crc64::checksum(&data)));
            let got = c
                .get_object("bkt-one", key, Default::default())
                .await
                .unwrap();
            assert_eq!(
                got.meta.metadata.get("author").map(String::as_str),
                Some("alice")
            );
            assert_eq!(got.bytes().await.unwrap().as_ref(), data.as_slice());
            let head = c.head_object("bkt-one", key).await.unwrap();
            assert_eq!(
                (head.size, head.content_type.as_deref()),
                (data.len() as u64, Some("application/x-test"))
            );
        }
        let part = c
            .get_object(
                "bkt-one",
                "dir/ünï cödé +%.bin",
                GetObjectOptions {
                    range: Some(ByteRange::Closed {
                        first: 10,
                        last: 19,
                    }),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(part.content_range, Some((10, 19, Some(300_000))));
        assert_eq!(
            part.bytes().await.unwrap().as_ref(),
            &(10..20u32).map(|i| i as u8).collect::<Vec<_>>()[..]
        );
        let e = c
            .get_object("bkt-one", "missing", Default::default())
            .await
            .unwrap_err();
        assert_eq!(e.code(), Some("NoSuchKey"));
        assert!(e.to_string().contains("NoSuchKey"), "{e}");
        let e = c.head_object("bkt-one", "missing").await.unwrap_err();
        assert_eq!(
            e.code(),
            Some("NoSuchKey"),
            "HEAD errors come from x-oss-err"
        );

        c.copy_object("bkt-one", "one", "bkt-one", "copy", Default::default())
            .await
            .unwrap();
        assert_eq!(
            c.get_object("bkt-one", "copy", Default::default())
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
                .as_ref(),
            &[7u8]
        );
        let (next, crc) = c
            .append_object("bkt-one", "log", 0, "abc".into(), None)
            .await
            .unwrap();
        let (next, _) = c
            .append_object("bkt-one", "log", next, "def".into(), crc)
            .await
            .unwrap();
        assert_eq!(next, 6);
        c.put_object_acl("bkt-one", "one", "public-read")
            .await
            .unwrap();
        assert_eq!(
            c.get_object_acl("bkt-one", "one").await.unwrap(),
            "public-read"
        );
        assert_eq!(c.get_object_meta("bkt-one", "one").await.unwrap().size, 1);

        let pages: Vec<_> = c
            .list_objects(
                "bkt-one",
                ListOptions {
                    max_keys: Some(2),
                    ..Default::default()
                },
            )
            .try_collect()
            .await
            .unwrap();
        let keys: Vec<String> = pages
            .iter()
            .flat_map(|p| p.objects.iter().map(|o| o.key.clone()))
            .collect();
        assert_eq!(
            keys,
            vec!["copy", "dir/ünï cödé +%.bin", "empty", "log", "one"]
        );
        assert_eq!(pages.len(), 3);
        let dirs = c
            .list_objects_page(
                "bkt-one",
                &ListOptions {
                    delimiter: "/".into(),
                    ..Default::default()
                },
                None,
            )
            .await
            .unwrap();
        assert_eq!(dirs.common_prefixes, vec!["dir/"]);

        let deleted = c.delete_objects("bkt-one", &keys, false).await.unwrap();
        assert_eq!(deleted.len(), keys.len());
        c.delete_bucket("bkt-one").await.unwrap();
    }
}

#[tokio::test]
async fn multipart_and_bucket_config() {
    let (_emu, c, _d) = setup(SignatureVersion::V4).await;
    c.create_bucket("mp-bucket", Default::default())
        .await
        .unwrap();
    let id = c
        .initiate_multipart_upload("mp-bucket", "big", &Default::default())
        .await
        .unwrap();
    let parts_data: Vec<Vec<u8>> = vec![vec![1; 102_400], vec![2; 102_400], vec![3; 10]];
    let mut parts = Vec::new();
    for (i, d) in parts_data.iter().enumerate() {
        parts.push(
            c.upload_part("mp-bucket", "big", &id, i as u32 + 1, d.clone().into())
                .await
                .unwrap(),
        );
    }
    assert_eq!(c.list_parts("mp-bucket", "big", &id).await.unwrap(), parts);
    assert_eq!(
        c.list_multipart_uploads("mp-bucket", "")
            .await
            .unwrap()
            .len(),
        1
    );
    let completed: Vec<CompletedPart> = parts.iter().map(CompletedPart::from).collect();
    let out = c
        .complete_multipart_upload("mp-bucket", "big", &id, &completed)
        .await
        .unwrap();
    assert!(out.etag.ends_with("-3\""), "{}", out.etag);
    let all = c
        .get_object("mp-bucket", "big", Default::default())
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(all.len(), 204_810);
    let id2 = c
        .initiate_multipart_upload("mp-bucket", "gone", &Default::default())
        .await
        .unwrap();
    c.abort_multipart_upload("mp-bucket", "gone", &id2)
        .await
        .unwrap();
    assert!(c
        .list_multipart_uploads("mp-bucket", "")
        .await
        .unwrap()
        .is_empty());

    c.put_bucket_acl("mp-bucket", "public-read").await.unwrap();
    assert_eq!(c.get_bucket_acl("mp-bucket").await.unwrap(), "public-read");
    assert!(c.get_bucket_cors("mp-bucket").await.unwrap().is_none());
    let cors = CorsConfiguration {
        rules: vec![CorsRule {
            allowed_origins: vec!["*".into()],
            allowed_methods: vec!["GET".into()],
            ..Default::default()
        }],
        ..Default::default()
    };
    c.put_bucket_cors("mp-bucket", &cors).await.unwrap();
    assert_eq!(
        c.get_bucket_cors("mp-bucket")
            .await
            .unwrap()
            .unwrap()
            .rules
            .len(),
        1
    );
    c.delete_bucket_cors("mp-bucket").await.unwrap();
    c.create_bucket("log-bucket", Default::default())
        .await
        .unwrap();
    c.put_bucket_logging("mp-bucket", "log-bucket", "access/")
        .await
        .unwrap();
    assert_eq!(
        c.get_bucket_logging("mp-bucket")
            .await
            .unwrap()
            .unwrap()
            .target_prefix,
        "access/"
    );
    c.delete_bucket_logging("mp-bucket").await.unwrap();
    assert!(c.get_bucket_logging("mp-bucket").await.unwrap().is_none());
    assert_eq!(
        c.get_bucket_info("mp-bucket").await.unwrap().bucket.name,
        "mp-bucket"
    );
    let e = c.delete_bucket("mp-bucket").await.unwrap_err();
    assert_eq!(e.code(), Some("BucketNotEmpty"));
}

#[tokio::test]
async fn presigned_urls_work_with_a_plain_http_client() {
    let (_emu, c, _d) = setup(SignatureVersion::V4).await;
    c.create_bucket("pre-bucket", Default::default())
        .await
        .unwrap();
    c.put_object(
        "pre-bucket",
        "a b+c.txt",
        Body::from("presigned"),
        Default::default(),
    )
    .await
    .unwrap();
    for v in [SignatureVersion::V1, SignatureVersion::V4] {
        let url = c
            .presign_url(
                http::Method::GET,
                "pre-bucket",
                "a b+c.txt",
                Duration::from_secs(60),
                v,
            )
            .await
            .unwrap();
        let body = reqwest::get(&url).await.unwrap().text().await.unwrap();
        assert_eq!(body, "presigned", "{url}");
    }
    let e = c
        .presign_url(
            http::Method::GET,
            "pre-bucket",
            "k",
            Duration::from_secs(8 * 86_400),
            SignatureVersion::V4,
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("7 days"), "{e}");
}

#[test]
fn debug_never_shows_secrets() {
    let c = Client::builder()
        .endpoint("http://127.0.0.1:1")
        .credentials(
            Credentials::new("AKID", "super-secret-value").with_security_token("tok-secret"),
        )
        .build()
        .unwrap();
    let d = format!("{c:?}");
    assert!(
        !d.contains("super-secret-value") && !d.contains("tok-secret"),
        "{d}"
    );
}

/// Real OSS endpoints are https: the transport speaks TLS (a plain-TCP peer makes the
/// handshake fail as a network error, not as an unsupported scheme).
#[tokio::test]
async fn https_endpoints_speak_tls() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            use tokio::io::AsyncWriteExt;
            let _ = s.write_all(b"HTTP/1.1 400 not tls\r\n\r\n").await;
        }
    });
    let c = Client::builder()
        .endpoint(format!("https://127.0.0.1:{port}"))
        .credentials(Credentials::new(AK, SK))
        .policy(ossguard::Policy::none())
        .build()
        .unwrap();
    let e = c.head_object("bucket", "key").await.unwrap_err();
    assert!(
        matches!(e.kind(), ossguard::ErrorKind::Transport { .. }),
        "{e}"
    );
    server.abort();
}

/// Every operation's future can be spawned: a `&Body` held across an await once made
/// `put_object` `!Send` (Body is not `Sync`), which only a spawning caller (the drill) saw.
#[test]
fn operation_futures_are_send() {
    fn spawnable<T: Send + 'static>(_: T) {}
    let c = ossguard::Client::builder()
        .endpoint("http://127.0.0.1:9")
        .credentials(ossguard::Credentials::new("ak", "sk"))
        .build()
        .unwrap();
    let c2 = c.clone();
    spawnable(async move {
        c2.put_object(
            "b",
            "k",
            bytes::Bytes::from_static(b"x").into(),
            Default::default(),
        )
        .await
    });
    let c3 = c.clone();
    spawnable(async move {
        c3.get_object("b", "k", Default::default())
            .await?
            .bytes()
            .await
    });
    spawnable(async move { c.head_object("b", "k").await });
}
