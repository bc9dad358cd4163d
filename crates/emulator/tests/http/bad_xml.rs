//! Malformed and oversized XML bodies get 400 MalformedXML, never a 500, and change nothing.

use http::Method;
use ossguard_proto::Request;

use crate::client::{complete, initiate, upload_part, with_headers, Reply, Sig, TestServer};

fn md5_of(body: &[u8]) -> String {
    use base64::Engine;
    use md5::Digest;
    base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(body))
}

/// Bodies no OSS XML parser accepts: cut off, not XML, wrong types, binary, absurdly deep.
fn garbage() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("not xml", b"this is not xml".to_vec()),
        ("unclosed", b"<a><b></a>".to_vec()),
        (
            "cut off",
            b"<?xml version=\"1.0\"?><Part><PartNumber>1</Part".to_vec(),
        ),
        ("two roots", b"<a/><b/>".to_vec()),
        ("invalid utf-8", b"<a>\xff\xfe</a>".to_vec()),
        ("NUL byte", b"<a>\0</a>".to_vec()),
        ("undefined entity", b"<a>&bogus;</a>".to_vec()),
        (
            "deep nesting",
            format!("{}{}", "<a>".repeat(20_000), "</a>".repeat(20_000)).into_bytes(),
        ),
    ]
}

fn assert_malformed(r: &Reply, what: &str) {
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "MalformedXML"),
        "{what}: {}",
        r.text()
    );
}

async fn put_config(s: &TestServer, bucket: &str, sub: &str, body: Vec<u8>) -> Reply {
    s.send(
        Request::new(Method::PUT, Some(bucket), None).with_query(sub, ""),
        body,
        Sig::V4,
    )
    .await
}

#[tokio::test]
async fn complete_multipart_upload_with_bad_xml() {
    let s = TestServer::start().await;
    s.create_bucket("bxml").await;
    let id = initiate(&s, "bxml", "k").await;
    let etag = upload_part(&s, "bxml", "k", &id, 1, b"data").await;
    let mut bodies = garbage();
    bodies.push((
        "part number not a number",
        format!("<CompleteMultipartUpload><Part><PartNumber>one</PartNumber><ETag>{etag}</ETag></Part></CompleteMultipartUpload>").into_bytes(),
    ));
    bodies.push(("empty", Vec::new()));
    for (what, body) in bodies {
        let r = s
            .send(
                Request::new(Method::POST, Some("bxml"), Some("k")).with_query("uploadId", &id),
                body,
                Sig::V4,
            )
            .await;
        assert_malformed(&r, what);
    }
    // Nothing was completed and the upload is still usable.
    assert_eq!(s.get("bxml", "k").await.status, 404);
    let ok = complete(
        &s,
        "bxml",
        "k",
        &id,
        &crate::client::complete_xml(&[(1, &etag)]),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.text());
}

#[tokio::test]
async fn delete_multiple_objects_with_bad_xml() {
    let s = TestServer::start().await;
    s.create_bucket("bxml").await;
    assert_eq!(s.put("bxml", "keep", b"x").await.status, 200);
    let mut bodies = garbage();
    bodies.push((
        "quiet not a bool",
        b"<Delete><Quiet>maybe</Quiet><Object><Key>keep</Key></Object></Delete>".to_vec(),
    ));
    for (what, body) in bodies {
        let req = with_headers(
            Request::new(Method::POST, Some("bxml"), None).with_query("delete", ""),
            &[("content-md5", &md5_of(&body))],
        );
        let r = s.send(req, body, Sig::V4).await;
        assert_malformed(&r, what);
    }
    assert_eq!(s.get("bxml", "keep").await.status, 200);
}

#[tokio::test]
async fn bucket_configuration_with_bad_xml() {
    let s = TestServer::start().await;
    s.create_bucket("bxml").await;
    for (what, body) in garbage() {
        for sub in ["cors", "logging"] {
            let r = put_config(&s, "bxml", sub, body.clone()).await;
            assert_malformed(&r, &format!("{sub}: {what}"));
        }
        // CreateBucketConfiguration: the bucket must not come into existence.
        let r = s
            .send(Request::new(Method::PUT, Some("newb"), None), body, Sig::V4)
            .await;
        assert_malformed(&r, &format!("create bucket: {what}"));
        let info = s
            .send(
                Request::new(Method::GET, Some("newb"), None).with_query("bucketInfo", ""),
                vec![],
                Sig::V4,
            )
            .await;
        assert_eq!(info.code(), "NoSuchBucket", "{what}");
    }
    // Nothing got stored.
    let r = s
        .send(
            Request::new(Method::GET, Some("bxml"), None).with_query("cors", ""),
            vec![],
            Sig::V4,
        )
        .await;
    assert_eq!(r.code(), "NoSuchCORSConfiguration");
}

#[tokio::test]
async fn xml_bodies_over_one_mib_are_refused() {
    let s = TestServer::start().await;
    s.create_bucket("bxml").await;
    // Well-formed and otherwise acceptable, just too big.
    let mut big = String::from("<Delete><Quiet>true</Quiet>");
    while big.len() <= (1 << 20) + 1024 {
        big.push_str("<Object><Key>some/fairly/long/key/name/to/fill/space</Key></Object>");
    }
    big.push_str("</Delete>");
    let r = s
        .send(
            Request::new(Method::POST, Some("bxml"), None).with_query("delete", ""),
            big.into_bytes(),
            Sig::V4,
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text());
    let mut cors = String::from("<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>");
    while cors.len() <= (1 << 20) + 1024 {
        cors.push_str("<AllowedHeader>x-some-header</AllowedHeader>");
    }
    cors.push_str("</CORSRule></CORSConfiguration>");
    let r = put_config(&s, "bxml", "cors", cors.into_bytes()).await;
    assert_eq!(r.status, 400, "{}", r.text());
}
