//! CopyObject's size limit (1 GiB by default, configurable so the test needs no gigabytes) and
//! UploadPartCopy's copy-source conditions, which large copies rely on.

use std::time::Duration;

use http::Method;
use ossguard_emulator::server::{Emulator, EmulatorConfig, MAX_COPY_OBJECT_SIZE};
use ossguard_proto::crc64::checksum;
use ossguard_proto::Request;

use crate::client::{initiate, with_headers, Reply, Sig, TestServer, AK, SK};

const LIMIT: u64 = 256 * 1024;

/// A server whose CopyObject copies at most [`LIMIT`] bytes.
async fn limited() -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = EmulatorConfig::local(dir.path().join("data"), AK, SK);
    cfg.sync = false;
    cfg.max_copy_object_size = LIMIT;
    let emulator = Emulator::start(cfg).await.unwrap();
    let s = TestServer {
        emulator,
        dir,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
    };
    s.create_bucket("lim").await;
    s
}

fn bytes(len: u64, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(13).wrapping_add(seed))
        .collect()
}

async fn copy(s: &TestServer, src: &str, dst: &str, headers: &[(&str, &str)]) -> Reply {
    let source = format!("/lim/{src}");
    let mut h = vec![("x-oss-copy-source", source.as_str())];
    h.extend_from_slice(headers);
    s.send(
        with_headers(Request::new(Method::PUT, Some("lim"), Some(dst)), &h),
        vec![],
        Sig::V4,
    )
    .await
}

async fn part_copy(s: &TestServer, dst: &str, id: &str, n: u32, headers: &[(&str, &str)]) -> Reply {
    let req = Request::new(Method::PUT, Some("lim"), Some(dst))
        .with_query("partNumber", &n.to_string())
        .with_query("uploadId", id);
    s.send(with_headers(req, headers), vec![], Sig::V4).await
}

#[test]
fn the_default_limit_is_1_gib() {
    assert_eq!(MAX_COPY_OBJECT_SIZE, 1_073_741_824);
    let cfg = EmulatorConfig::local("/nonexistent", AK, SK);
    assert_eq!(cfg.max_copy_object_size, MAX_COPY_OBJECT_SIZE);
}

#[tokio::test]
async fn copy_object_refuses_a_source_over_the_limit() {
    let s = limited().await;
    let at_limit = bytes(LIMIT, 1);
    let over = bytes(LIMIT + 1, 2);
    assert_eq!(s.put("lim", "at", &at_limit).await.status, 200);
    assert_eq!(s.put("lim", "over", &over).await.status, 200);

    // Exactly the limit copies.
    let r = copy(&s, "at", "at-copy", &[]).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(s.get("lim", "at-copy").await.body == at_limit);

    // One byte more: 400 EntityTooLarge (inferred code), nothing created.
    let r = copy(&s, "over", "over-copy", &[]).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "EntityTooLarge"),
        "{}",
        r.text()
    );
    assert_eq!(s.get("lim", "over-copy").await.status, 404);
    // Also with REPLACE metadata, and the conditions come first (a failed one is a 412).
    let r = copy(
        &s,
        "over",
        "over-copy",
        &[("x-oss-metadata-directive", "REPLACE")],
    )
    .await;
    assert_eq!(r.code(), "EntityTooLarge", "{}", r.text());
    let r = copy(
        &s,
        "over",
        "over-copy",
        &[(
            "x-oss-copy-source-if-match",
            "\"00000000000000000000000000000000\"",
        )],
    )
    .await;
    assert_eq!(r.status, 412, "{}", r.text());

    // UploadPartCopy is not bound by the CopyObject limit: the whole source as one part.
    let id = initiate(&s, "lim", "over-parts").await;
    let r = part_copy(
        &s,
        "over-parts",
        &id,
        1,
        &[("x-oss-copy-source", "/lim/over")],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("x-oss-hash-crc64ecma"),
        Some(checksum(&over).to_string())
    );
}

#[tokio::test]
async fn upload_part_copy_honours_range_and_conditions() {
    let s = limited().await;
    let src = bytes(300 * 1024, 3);
    let put = s.put("lim", "src", &src).await;
    let etag = put.header("etag").unwrap();
    let id = initiate(&s, "lim", "dst").await;
    let source = ("x-oss-copy-source", "/lim/src");

    // The range is inclusive and the part's CRC is that of exactly those bytes.
    let r = part_copy(
        &s,
        "dst",
        &id,
        1,
        &[source, ("x-oss-copy-source-range", "bytes=1000-205799")],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("x-oss-hash-crc64ecma"),
        Some(checksum(&src[1000..=205_799]).to_string())
    );

    // If-Match pins the source: right ETag copies, a wrong one is 412.
    let r = part_copy(
        &s,
        "dst",
        &id,
        2,
        &[source, ("x-oss-copy-source-if-match", &etag)],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let wrong = "\"0123456789ABCDEF0123456789ABCDEF\"";
    for cond in [
        ("x-oss-copy-source-if-match", wrong),
        ("x-oss-copy-source-if-none-match", etag.as_str()),
        (
            "x-oss-copy-source-if-unmodified-since",
            "Mon, 01 Jan 2001 00:00:00 GMT",
        ),
        (
            "x-oss-copy-source-if-modified-since",
            "Fri, 01 Jan 2100 00:00:00 GMT",
        ),
    ] {
        let r = part_copy(&s, "dst", &id, 3, &[source, cond]).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (412, "PreconditionFailed"),
            "{cond:?}: {}",
            r.text()
        );
    }

    // After the source changes, the old ETag no longer matches.
    assert_eq!(s.put("lim", "src", b"replaced").await.status, 200);
    let r = part_copy(
        &s,
        "dst",
        &id,
        3,
        &[source, ("x-oss-copy-source-if-match", &etag)],
    )
    .await;
    assert_eq!(r.status, 412, "{}", r.text());
}
