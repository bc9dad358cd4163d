//! Bodies that do not arrive as announced: wrong Content-MD5, cut-off uploads. Neither may
//! create or change an object.

use std::time::Duration;

use base64::Engine;
use http::Method;
use md5::Digest;
use ossguard_proto::Request;

use crate::client::{initiate, with_headers, Sig, TestServer};
use crate::raw;

fn md5_b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(data))
}

#[tokio::test]
async fn content_md5_mismatch_is_invalid_digest_and_stores_nothing() {
    let s = TestServer::start().await;
    s.create_bucket("body").await;
    assert_eq!(s.put("body", "old", b"original").await.status, 200);
    for (md5, what) in [
        (md5_b64(b"something else"), "wrong digest"),
        ("not base64!!".to_owned(), "not base64"),
        (
            base64::engine::general_purpose::STANDARD.encode([1u8; 5]),
            "5 bytes",
        ),
    ] {
        for key in ["new", "old"] {
            let req = with_headers(
                Request::new(Method::PUT, Some("body"), Some(key)),
                &[("content-md5", &md5)],
            );
            let r = s.send(req, b"payload".to_vec(), Sig::V4).await;
            assert_eq!(
                (r.status, r.code().as_str()),
                (400, "InvalidDigest"),
                "{what}: {}",
                r.text()
            );
        }
        assert_eq!(s.get("body", "new").await.code(), "NoSuchKey", "{what}");
        assert_eq!(s.get("body", "old").await.body, b"original", "{what}");
    }
    // The right digest is accepted.
    let req = with_headers(
        Request::new(Method::PUT, Some("body"), Some("new")),
        &[("content-md5", &md5_b64(b"payload"))],
    );
    assert_eq!(s.send(req, b"payload".to_vec(), Sig::V4).await.status, 200);
}

#[tokio::test]
async fn content_md5_mismatch_on_upload_part_and_append() {
    let s = TestServer::start().await;
    s.create_bucket("body").await;
    let bad = md5_b64(b"other");
    let req = with_headers(
        Request::new(Method::POST, Some("body"), Some("app"))
            .with_query("append", "")
            .with_query("position", "0"),
        &[("content-md5", &bad)],
    );
    let r = s.send(req, b"data".to_vec(), Sig::V4).await;
    assert_eq!(r.code(), "InvalidDigest", "append: {}", r.text());
    assert_eq!(s.get("body", "app").await.status, 404);
    // Appending to an existing object: the bad chunk leaves no trace, a good one follows.
    let append = |position: &str, md5: Option<&str>, body: &[u8]| {
        let mut req = Request::new(Method::POST, Some("body"), Some("app"))
            .with_query("append", "")
            .with_query("position", position);
        if let Some(m) = md5 {
            req = with_headers(req, &[("content-md5", m)]);
        }
        s.send(req, body.to_vec(), Sig::V4)
    };
    assert_eq!(append("0", None, b"head-").await.status, 200);
    let r = append("5", Some(&bad), b"corrupted").await;
    assert_eq!(r.code(), "InvalidDigest", "{}", r.text());
    let r = append("5", Some(&md5_b64(b"tail")), b"tail").await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(s.get("body", "app").await.body, b"head-tail");

    let id = initiate(&s, "body", "mp").await;
    let req = with_headers(
        Request::new(Method::PUT, Some("body"), Some("mp"))
            .with_query("partNumber", "1")
            .with_query("uploadId", &id),
        &[("content-md5", &bad)],
    );
    let r = s.send(req, b"data".to_vec(), Sig::V4).await;
    assert_eq!(r.code(), "InvalidDigest", "upload part: {}", r.text());
    let r = s
        .send(
            Request::new(Method::GET, Some("body"), Some("mp")).with_query("uploadId", &id),
            vec![],
            Sig::V4,
        )
        .await;
    let parts: ossguard_proto::xml::ListPartsResult = r.xml();
    assert!(parts.parts.is_empty(), "a part with a bad digest was kept");
}

/// A PUT whose head announces `announced` bytes but only `sent` arrive before the close.
async fn truncated_put(s: &TestServer, key: &str, announced: usize, sent: usize) {
    let req = s.sign(Request::new(Method::PUT, Some("body"), Some(key)), Sig::V4);
    let head = raw::head(
        "PUT",
        &format!("/body/{key}"),
        &raw::header_pairs(&req),
        announced,
    );
    let answer = raw::send_truncated(s.addr(), &head, &vec![b'z'; sent]).await;
    if !answer.is_empty() {
        let r = raw::parse_response(&answer);
        assert_ne!(r.status, 200, "a cut-off upload was acknowledged");
    }
}

#[tokio::test]
async fn truncated_bodies_never_create_or_change_objects() {
    let s = TestServer::start().await;
    s.create_bucket("body").await;
    assert_eq!(s.put("body", "existing", b"keep me").await.status, 200);
    for (announced, sent) in [(1000, 100), (1000, 0), (1 << 20, 300_000), (10, 9)] {
        truncated_put(&s, "fresh", announced, sent).await;
        truncated_put(&s, "existing", announced, sent).await;
    }
    // The server notices the close asynchronously; give it a moment, then look.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(s.get("body", "fresh").await.code(), "NoSuchKey");
    assert_eq!(s.get("body", "existing").await.body, b"keep me");
    // And it still serves normally.
    assert_eq!(s.put("body", "after", b"fine").await.status, 200);
}

#[tokio::test]
async fn oversized_announced_body_is_refused_before_reading() {
    let s = TestServer::start().await;
    s.create_bucket("body").await;
    let req = s.sign(
        Request::new(Method::PUT, Some("body"), Some("huge")),
        Sig::V4,
    );
    let head = raw::head("PUT", "/body/huge", &raw::header_pairs(&req), 6 << 30);
    let answer = raw::send_truncated(s.addr(), &head, b"").await;
    let r = raw::parse_response(&answer);
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "EntityTooLarge"),
        "{}",
        r.text()
    );
    assert_eq!(s.get("body", "huge").await.status, 404);

    // A part above 5 GiB likewise.
    let id = crate::client::initiate(&s, "body", "parts").await;
    let req = s.sign(
        Request::new(Method::PUT, Some("body"), Some("parts"))
            .with_query("partNumber", "1")
            .with_query("uploadId", &id),
        Sig::V4,
    );
    let path = format!("/body/parts?partNumber=1&uploadId={id}");
    let head = raw::head("PUT", &path, &raw::header_pairs(&req), (5 << 30) + 1);
    let r = raw::parse_response(&raw::send_truncated(s.addr(), &head, b"").await);
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "EntityTooLarge"),
        "{}",
        r.text()
    );
}

#[tokio::test]
async fn bad_object_headers_are_400_and_store_nothing() {
    let s = TestServer::start().await;
    s.create_bucket("body").await;
    let big_meta = "v".repeat(9 * 1024);
    for (name, value) in [
        ("x-oss-object-acl", "everyone"),
        ("x-oss-storage-class", "Lukewarm"),
        ("x-oss-meta-big", big_meta.as_str()),
    ] {
        let req = with_headers(
            Request::new(Method::PUT, Some("body"), Some("k")),
            &[(name, value)],
        );
        let r = s.send(req, b"x".to_vec(), Sig::V4).await;
        assert_eq!(r.status, 400, "{name}: {}", r.text());
        assert!(!r.code().is_empty());
        assert_eq!(s.get("body", "k").await.status, 404, "{name}");
    }
    // Malformed query escapes are refused before anything else.
    for path in ["/body/?prefix=%zz", "/body/k?acl=%ff", "/body/k?%"] {
        let req = s.sign(Request::new(Method::GET, Some("body"), Some("k")), Sig::V4);
        let r = raw::send_path(s.addr(), &req, path, &[]).await;
        assert_eq!(r.status, 400, "{path}: {}", r.text());
    }
}
