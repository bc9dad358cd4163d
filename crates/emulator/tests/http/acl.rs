//! Bucket and object ACLs as seen by anonymous clients.

use http::Method;
use ossguard_proto::xml::AccessControlPolicy;
use ossguard_proto::Request;

use crate::client::{with_headers, Reply, Sig, TestServer};

async fn anonymous(s: &TestServer, method: Method, key: Option<&str>, body: &[u8]) -> Reply {
    s.send(
        Request::new(method, Some("acl"), key),
        body.to_vec(),
        Sig::None,
    )
    .await
}

async fn set_bucket_acl(s: &TestServer, acl: &str) {
    let req = with_headers(
        Request::new(Method::PUT, Some("acl"), None).with_query("acl", ""),
        &[("x-oss-acl", acl)],
    );
    let r = s.send(req, vec![], Sig::V4).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

async fn grant(s: &TestServer, key: Option<&str>) -> String {
    let r = s
        .send(
            Request::new(Method::GET, Some("acl"), key).with_query("acl", ""),
            vec![],
            Sig::V4,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.xml::<AccessControlPolicy>().access_control_list.grant
}

#[tokio::test]
async fn public_read_bucket_allows_anonymous_reads_only() {
    let s = TestServer::start().await;
    s.create_bucket("acl").await;
    assert_eq!(s.put("acl", "doc", b"public words").await.status, 200);
    assert_eq!(grant(&s, None).await, "private");
    assert_eq!(
        anonymous(&s, Method::GET, Some("doc"), b"").await.status,
        403
    );

    set_bucket_acl(&s, "public-read").await;
    assert_eq!(grant(&s, None).await, "public-read");
    let r = anonymous(&s, Method::GET, Some("doc"), b"").await;
    assert_eq!((r.status, r.body.as_slice()), (200, &b"public words"[..]));
    assert_eq!(
        anonymous(&s, Method::HEAD, Some("doc"), b"").await.status,
        200
    );
    assert_eq!(
        anonymous(&s, Method::GET, None, b"").await.status,
        200,
        "list"
    );

    // Writes stay closed.
    for (method, key) in [
        (Method::PUT, Some("doc")),
        (Method::PUT, Some("new")),
        (Method::DELETE, Some("doc")),
    ] {
        let r = anonymous(&s, method.clone(), key, b"vandalism").await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (403, "AccessDenied"),
            "{method}"
        );
    }
    assert_eq!(s.get("acl", "doc").await.body, b"public words");
    assert_eq!(s.get("acl", "new").await.status, 404);
    // So does bucket configuration.
    let req = with_headers(
        Request::new(Method::PUT, Some("acl"), None).with_query("acl", ""),
        &[("x-oss-acl", "public-read-write")],
    );
    assert_eq!(s.send(req, vec![], Sig::None).await.code(), "AccessDenied");
    assert_eq!(grant(&s, None).await, "public-read");

    set_bucket_acl(&s, "public-read-write").await;
    assert_eq!(
        anonymous(&s, Method::PUT, Some("new"), b"w").await.status,
        200
    );
    // An object's ACL and tags stay the owner's whatever the bucket's ACL (PutObjectAcl used to
    // pass as a "read").
    let tags = "<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value></Tag></TagSet></Tagging>";
    for (method, sub, body) in [
        (Method::PUT, "acl", ""),
        (Method::GET, "acl", ""),
        (Method::PUT, "tagging", tags),
        (Method::GET, "tagging", ""),
        (Method::DELETE, "tagging", ""),
    ] {
        let req = with_headers(
            Request::new(method.clone(), Some("acl"), Some("doc")).with_query(sub, ""),
            &[("x-oss-object-acl", "public-read-write")],
        );
        let r = s.send(req, body.as_bytes().to_vec(), Sig::None).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (403, "AccessDenied"),
            "{method} ?{sub}"
        );
    }
    assert_eq!(grant(&s, Some("doc")).await, "default");
    // A public write may not carry an ACL or tags, nor copy what the caller cannot read.
    let req = with_headers(
        Request::new(Method::PUT, Some("acl"), Some("closed-src")),
        &[("x-oss-object-acl", "private")],
    );
    assert_eq!(
        s.send(req, b"private words".to_vec(), Sig::V4).await.status,
        200
    );
    for (key, header) in [
        ("with-acl", ("x-oss-object-acl", "public-read")),
        ("with-tags", ("x-oss-tagging", "a=1")),
        ("copied", ("x-oss-copy-source", "/acl/closed-src")),
    ] {
        let req = with_headers(Request::new(Method::PUT, Some("acl"), Some(key)), &[header]);
        let r = s.send(req, b"w".to_vec(), Sig::None).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (403, "AccessDenied"),
            "{key}"
        );
        assert_eq!(s.get("acl", key).await.status, 404, "{key}");
    }
    let req = with_headers(
        Request::new(Method::PUT, Some("acl"), Some("copied")),
        &[("x-oss-copy-source", "/acl/doc")],
    );
    let r = s.send(req, vec![], Sig::None).await;
    assert_eq!(
        r.status,
        200,
        "a readable source may be copied: {}",
        r.text()
    );
    set_bucket_acl(&s, "private").await;
    assert_eq!(
        anonymous(&s, Method::GET, Some("new"), b"").await.status,
        403
    );

    // Nonsense ACL values are refused.
    let req = with_headers(
        Request::new(Method::PUT, Some("acl"), None).with_query("acl", ""),
        &[("x-oss-acl", "everyone")],
    );
    assert_eq!(s.send(req, vec![], Sig::V4).await.status, 400);
}

#[tokio::test]
async fn object_acl_overrides_bucket_acl() {
    let s = TestServer::start().await;
    s.create_bucket("acl").await;
    assert_eq!(s.put("acl", "open", b"o").await.status, 200);
    assert_eq!(s.put("acl", "closed", b"c").await.status, 200);
    assert_eq!(grant(&s, Some("open")).await, "default");

    let set = |key: &'static str, acl: &'static str| {
        let s = &s;
        async move {
            let req = with_headers(
                Request::new(Method::PUT, Some("acl"), Some(key)).with_query("acl", ""),
                &[("x-oss-object-acl", acl)],
            );
            s.send(req, vec![], Sig::V4).await
        }
    };
    assert_eq!(set("open", "public-read").await.status, 200);
    assert_eq!(grant(&s, Some("open")).await, "public-read");
    // Private bucket, public-read object: readable.
    let r = anonymous(&s, Method::GET, Some("open"), b"").await;
    assert_eq!((r.status, r.body.as_slice()), (200, &b"o"[..]));
    assert_eq!(
        anonymous(&s, Method::GET, Some("closed"), b"").await.status,
        403
    );

    // Public-read bucket, private object: not readable.
    set_bucket_acl(&s, "public-read").await;
    assert_eq!(set("closed", "private").await.status, 200);
    assert_eq!(
        anonymous(&s, Method::GET, Some("closed"), b"").await.status,
        403
    );

    // An ACL on an object that does not exist, and a nonsense value.
    assert_eq!(set("ghost", "private").await.code(), "NoSuchKey");
    assert_eq!(set("open", "everyone").await.status, 400);
    // The ACL set with the PUT itself.
    let req = with_headers(
        Request::new(Method::PUT, Some("acl"), Some("born-private")),
        &[("x-oss-object-acl", "private")],
    );
    assert_eq!(s.send(req, b"b".to_vec(), Sig::V4).await.status, 200);
    assert_eq!(grant(&s, Some("born-private")).await, "private");
    assert_eq!(
        anonymous(&s, Method::GET, Some("born-private"), b"")
            .await
            .status,
        403
    );
}
