//! Object tagging as the SDKs use it: PutObjectTagging / GetObjectTagging /
//! DeleteObjectTagging, tags set by `x-oss-tagging` on PutObject, InitiateMultipartUpload and
//! AppendObject, `x-oss-tagging-count` on reads, CopyObject's `x-oss-tagging-directive`, OSS's
//! limits — and a tag change never touches the object's bytes.

use http::Method;
use ossguard_proto::xml::Tagging;
use ossguard_proto::Request;

use crate::client::{with_headers, Reply, Sig, TestServer};

fn doc(tags: &[(&str, &str)]) -> String {
    let pairs = tags.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
    ossguard_proto::xml::to_xml(&Tagging::from_pairs(pairs))
}

async fn tagging(s: &TestServer, method: Method, key: &str, body: String) -> Reply {
    let req = Request::new(method, Some("tags"), Some(key)).with_query("tagging", "");
    s.send(req, body.into_bytes(), Sig::V4).await
}

async fn tags_of(s: &TestServer, key: &str) -> Vec<(String, String)> {
    let r = tagging(s, Method::GET, key, String::new()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.xml::<Tagging>().into_pairs()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect()
}

async fn head(s: &TestServer, key: &str) -> Reply {
    s.send(
        Request::new(Method::HEAD, Some("tags"), Some(key)),
        vec![],
        Sig::V1,
    )
    .await
}

#[tokio::test]
async fn tags_are_set_read_and_deleted_without_touching_the_object() {
    let s = TestServer::start().await;
    s.create_bucket("tags").await;
    let put = s.put("tags", "k", b"the object").await;
    assert_eq!(put.status, 200);
    let etag = put.header("etag");
    assert!(tags_of(&s, "k").await.is_empty());
    assert_eq!(head(&s, "k").await.header("x-oss-tagging-count"), None);

    for sig in [Sig::V1, Sig::V4] {
        let req = Request::new(Method::PUT, Some("tags"), Some("k")).with_query("tagging", "");
        let body = doc(&[("project", "ossguard"), ("tier", "gold + silver")]);
        let r = s.send(req, body.into_bytes(), sig).await;
        assert_eq!(r.status, 200, "{sig:?}: {}", r.text());
    }
    assert_eq!(
        tags_of(&s, "k").await,
        pairs(&[("project", "ossguard"), ("tier", "gold + silver")])
    );
    let h = head(&s, "k").await;
    assert_eq!(h.header("x-oss-tagging-count").as_deref(), Some("2"));
    assert_eq!(h.header("etag"), etag, "tags leave the ETag alone");
    let got = s.get("tags", "k").await;
    assert_eq!(got.body, b"the object");
    assert_eq!(got.header("x-oss-tagging-count").as_deref(), Some("2"));

    // A new set replaces the old one.
    let r = tagging(&s, Method::PUT, "k", doc(&[("only", "one")])).await;
    assert_eq!(r.status, 200);
    assert_eq!(tags_of(&s, "k").await, pairs(&[("only", "one")]));

    let r = tagging(&s, Method::DELETE, "k", String::new()).await;
    assert_eq!(r.status, 204, "{}", r.text());
    assert!(tags_of(&s, "k").await.is_empty());
    assert_eq!(s.get("tags", "k").await.body, b"the object");

    // Tags are stored with the object: a restarted server still has them.
    assert_eq!(
        tagging(&s, Method::PUT, "k", doc(&[("kept", "yes")]))
            .await
            .status,
        200
    );
    let s = TestServer::start_in(s.stop().await).await;
    assert_eq!(tags_of(&s, "k").await, pairs(&[("kept", "yes")]));

    // An absent object has no tags to set or read.
    let r = tagging(&s, Method::PUT, "absent", doc(&[("a", "1")])).await;
    assert_eq!((r.status, r.code().as_str()), (404, "NoSuchKey"));
    let r = tagging(&s, Method::GET, "absent", String::new()).await;
    assert_eq!((r.status, r.code().as_str()), (404, "NoSuchKey"));
    assert_eq!(s.get("tags", "absent").await.status, 404);
}

#[tokio::test]
async fn bad_tags_are_refused_and_change_nothing() {
    let s = TestServer::start().await;
    s.create_bucket("tags").await;
    assert_eq!(s.put("tags", "k", b"v").await.status, 200);
    assert_eq!(
        tagging(&s, Method::PUT, "k", doc(&[("keep", "me")]))
            .await
            .status,
        200
    );
    let eleven: Vec<(String, String)> = (0..11).map(|i| (format!("k{i}"), "v".into())).collect();
    let eleven: Vec<(&str, &str)> = eleven
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let long = "x".repeat(129);
    for body in [
        doc(&eleven),
        doc(&[("a", "1"), ("a", "2")]),
        doc(&[("", "empty key")]),
        doc(&[(long.as_str(), "v")]),
        doc(&[("a", "x&y")]),
        doc(&[("a<b>", "1")]),
    ] {
        let r = tagging(&s, Method::PUT, "k", body).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "InvalidTag"),
            "{}",
            r.text()
        );
    }
    let r = tagging(&s, Method::PUT, "k", "<Tagging><TagSet>".into()).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "MalformedXML"),
        "{}",
        r.text()
    );
    assert_eq!(tags_of(&s, "k").await, pairs(&[("keep", "me")]));
    // The header is checked the same way, before anything is stored.
    let req = with_headers(
        Request::new(Method::PUT, Some("tags"), Some("new")),
        &[("x-oss-tagging", "a=1&a=2")],
    );
    let r = s.send(req, b"v".to_vec(), Sig::V4).await;
    assert_eq!((r.status, r.code().as_str()), (400, "InvalidTag"));
    assert_eq!(s.get("tags", "new").await.status, 404);
}

#[tokio::test]
async fn writes_take_tags_from_the_header_and_copies_by_directive() {
    let s = TestServer::start().await;
    s.create_bucket("tags").await;
    let req = with_headers(
        Request::new(Method::PUT, Some("tags"), Some("src")),
        &[("x-oss-tagging", "team=storage&note=a%20b%2Bc")],
    );
    assert_eq!(s.send(req, b"source".to_vec(), Sig::V4).await.status, 200);
    let want = pairs(&[("note", "a b+c"), ("team", "storage")]);
    assert_eq!(tags_of(&s, "src").await, want);

    // Copy: the source's tags by default, even with the metadata replaced …
    let copy = |dst: &str, extra: &[(&'static str, &'static str)]| {
        let mut h = vec![("x-oss-copy-source", "/tags/src")];
        h.extend_from_slice(extra);
        with_headers(Request::new(Method::PUT, Some("tags"), Some(dst)), &h)
    };
    let r = s.send(copy("c1", &[]), vec![], Sig::V4).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(tags_of(&s, "c1").await, want);
    let r = s
        .send(
            copy(
                "c2",
                &[
                    ("x-oss-metadata-directive", "REPLACE"),
                    ("x-oss-meta-x", "y"),
                ],
            ),
            vec![],
            Sig::V4,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(tags_of(&s, "c2").await, want);
    // A tag header the Copy directive ignores is not judged.
    let r = s
        .send(
            copy(
                "c2b",
                &[
                    ("x-oss-metadata-directive", "REPLACE"),
                    ("x-oss-tagging", "a=1&a=2"),
                ],
            ),
            vec![],
            Sig::V4,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(tags_of(&s, "c2b").await, want);
    // … the header's with Replace (none when there is no header).
    let r = s
        .send(
            copy(
                "c3",
                &[
                    ("x-oss-tagging-directive", "Replace"),
                    ("x-oss-tagging", "new=1"),
                ],
            ),
            vec![],
            Sig::V4,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(tags_of(&s, "c3").await, pairs(&[("new", "1")]));
    let r = s
        .send(
            copy("c4", &[("x-oss-tagging-directive", "REPLACE")]),
            vec![],
            Sig::V4,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(tags_of(&s, "c4").await.is_empty());
    let r = s
        .send(
            copy("c5", &[("x-oss-tagging-directive", "Merge")]),
            vec![],
            Sig::V4,
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (400, "InvalidArgument"));

    // Multipart: the tags given at initiation are the object's.
    let req = with_headers(
        Request::new(Method::POST, Some("tags"), Some("mp")).with_query("uploads", ""),
        &[("x-oss-tagging", "kind=multipart")],
    );
    let r = s.send(req, vec![], Sig::V4).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let upload = r
        .xml::<ossguard_proto::xml::InitiateMultipartUploadResult>()
        .upload_id;
    let part = vec![7u8; 100];
    let r = s
        .send(
            Request::new(Method::PUT, Some("tags"), Some("mp"))
                .with_query("partNumber", "1")
                .with_query("uploadId", &upload),
            part,
            Sig::V4,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let etag = r.header("etag").unwrap();
    let (req, body) =
        ossguard_proto::ops::complete_multipart_upload("tags", "mp", &upload, &[(1, etag)]);
    let r = s.send(req, body, Sig::V4).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(tags_of(&s, "mp").await, pairs(&[("kind", "multipart")]));

    // Append: the first append's header.
    let req = with_headers(
        ossguard_proto::ops::append_object("tags", "log", 0),
        &[("x-oss-tagging", "kind=log")],
    );
    let r = s.send(req, b"line\n".to_vec(), Sig::V4).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(tags_of(&s, "log").await, pairs(&[("kind", "log")]));
}
