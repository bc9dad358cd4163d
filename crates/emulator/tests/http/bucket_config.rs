//! Bucket tags, lifecycle configuration (stored as sent; no rule is applied) and versioning
//! (never enabled here: GetBucketVersioning answers as for such a bucket).

use http::Method;
use ossguard_proto::xml::{Tagging, VersioningConfiguration};
use ossguard_proto::Request;

use crate::client::{Reply, Sig, TestServer};

async fn call(s: &TestServer, method: Method, sub: &str, body: &str, sig: Sig) -> Reply {
    let req = Request::new(method, Some("conf"), None).with_query(sub, "");
    s.send(req, body.as_bytes().to_vec(), sig).await
}

const LIFECYCLE: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<LifecycleConfiguration><Rule><ID>logs</ID><Prefix>logs/</Prefix><Status>Enabled</Status><Expiration><Days>3</Days></Expiration></Rule><Rule><ID>parts</ID><Prefix></Prefix><Status>Disabled</Status><AbortMultipartUpload><Days>1</Days></AbortMultipartUpload></Rule></LifecycleConfiguration>"#;

#[tokio::test]
async fn lifecycle_is_stored_returned_and_deleted() {
    let s = TestServer::start().await;
    s.create_bucket("conf").await;
    let r = call(&s, Method::GET, "lifecycle", "", Sig::V4).await;
    assert_eq!((r.status, r.code().as_str()), (404, "NoSuchLifecycle"));
    for sig in [Sig::V1, Sig::V4] {
        let r = call(&s, Method::PUT, "lifecycle", LIFECYCLE, sig).await;
        assert_eq!(r.status, 200, "{sig:?}: {}", r.text());
    }
    let r = call(&s, Method::GET, "lifecycle", "", Sig::V1).await;
    assert_eq!((r.status, r.text().as_str()), (200, LIFECYCLE));
    assert_eq!(r.header("content-type").as_deref(), Some("application/xml"));
    // Kept across a restart.
    let s = TestServer::start_in(s.stop().await).await;
    let r = call(&s, Method::GET, "lifecycle", "", Sig::V4).await;
    assert_eq!(r.text(), LIFECYCLE);

    for (bad, code) in [
        ("<LifecycleConfiguration></LifecycleConfiguration>", "InvalidArgument"),
        (
            "<LifecycleConfiguration><Rule><Status>On</Status></Rule></LifecycleConfiguration>",
            "InvalidArgument",
        ),
        (
            "<LifecycleConfiguration><Rule><ID>a</ID><Status>Enabled</Status></Rule><Rule><ID>a</ID><Status>Enabled</Status></Rule></LifecycleConfiguration>",
            "InvalidArgument",
        ),
        ("<LifecycleConfiguration><Rule>", "MalformedXML"),
        ("<CORSConfiguration/>", "MalformedXML"),
    ] {
        let r = call(&s, Method::PUT, "lifecycle", bad, Sig::V4).await;
        assert_eq!((r.status, r.code().as_str()), (400, code), "{bad}: {}", r.text());
    }
    assert_eq!(
        call(&s, Method::GET, "lifecycle", "", Sig::V4).await.text(),
        LIFECYCLE
    );

    let r = call(&s, Method::DELETE, "lifecycle", "", Sig::V4).await;
    assert_eq!(r.status, 204);
    let r = call(&s, Method::GET, "lifecycle", "", Sig::V4).await;
    assert_eq!(r.status, 404);
    // The bucket itself is still there (a DELETE ?lifecycle used to delete an empty bucket).
    assert_eq!(s.put("conf", "k", b"v").await.status, 200);
}

#[tokio::test]
async fn bucket_tags_are_stored_returned_and_deleted() {
    let s = TestServer::start().await;
    s.create_bucket("conf").await;
    let tags = |r: &Reply| r.xml::<Tagging>().into_pairs();
    let r = call(&s, Method::GET, "tagging", "", Sig::V4).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(tags(&r).is_empty());
    let doc = |n: usize| {
        let pairs = (0..n).map(|i| (format!("k{i:02}"), format!("v {i}")));
        ossguard_proto::xml::to_xml(&Tagging::from_pairs(pairs))
    };
    assert_eq!(
        call(&s, Method::PUT, "tagging", &doc(20), Sig::V1)
            .await
            .status,
        200
    );
    let got = tags(&call(&s, Method::GET, "tagging", "", Sig::V4).await);
    assert_eq!(got.len(), 20);
    assert_eq!(got[3], ("k03".to_owned(), "v 3".to_owned()));
    let r = call(&s, Method::PUT, "tagging", &doc(21), Sig::V4).await;
    assert_eq!((r.status, r.code().as_str()), (400, "InvalidTag"));
    assert_eq!(
        tags(&call(&s, Method::GET, "tagging", "", Sig::V4).await).len(),
        20
    );
    let r = call(&s, Method::DELETE, "tagging", "", Sig::V4).await;
    assert_eq!(r.status, 204);
    assert!(tags(&call(&s, Method::GET, "tagging", "", Sig::V4).await).is_empty());
    // Object tags are another resource.
    assert_eq!(s.put("conf", "k", b"v").await.status, 200);
    assert_eq!(s.get("conf", "k").await.body, b"v");
}

#[tokio::test]
async fn versioning_was_never_enabled() {
    let s = TestServer::start().await;
    s.create_bucket("conf").await;
    let r = call(&s, Method::GET, "versioning", "", Sig::V4).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.xml::<VersioningConfiguration>().status, None);
    let body = "<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>";
    let r = call(&s, Method::PUT, "versioning", body, Sig::V4).await;
    assert_eq!((r.status, r.code().as_str()), (501, "NotImplemented"));
    let r = s
        .send(
            Request::new(Method::GET, Some("absent"), None).with_query("versioning", ""),
            vec![],
            Sig::V4,
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (404, "NoSuchBucket"));
}
