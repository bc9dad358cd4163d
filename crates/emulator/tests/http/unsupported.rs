//! APIs the emulator does not implement (symlinks, bucket website, policy …) are named by a
//! sub-resource on a method that alone would route to a plain operation. They are answered 501
//! NotImplemented and not executed: run as PutObject, `PUT /k?symlink` replaced the object with
//! an empty one and answered 200 (as `PUT /k?tagging` did with the tag XML before tagging was
//! implemented); `DELETE /?website` deleted an empty bucket (as `?lifecycle` did).

use http::Method;
use ossguard_proto::Request;

use crate::client::{Reply, Sig, TestServer};

const TAGS: &str = "<Tagging><TagSet><Tag><Key>a</Key><Value>1</Value></Tag></TagSet></Tagging>";

async fn call(s: &TestServer, method: Method, key: Option<&str>, sub: &str, sig: Sig) -> Reply {
    let mut req = Request::new(method.clone(), Some("keep"), key);
    for pair in sub.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        req = req.with_query(name, value);
    }
    let body = if method == Method::PUT {
        TAGS.as_bytes().to_vec()
    } else {
        vec![]
    };
    s.send(req, body, sig).await
}

#[tokio::test]
async fn unimplemented_apis_are_refused_and_change_nothing() {
    let s = TestServer::start().await;
    s.create_bucket("keep").await;
    assert_eq!(s.put("keep", "k", b"the object").await.status, 200);
    let k = Some("k");
    for sig in [Sig::V1, Sig::V4] {
        for (method, key, sub) in [
            (Method::PUT, k, "symlink"),
            (Method::PUT, k, "tagging&versionId=CAEQNhiBgM"),
            (Method::GET, k, "symlink"),
            (Method::DELETE, k, "versionId=CAEQNhiBgM"),
            (Method::GET, k, "x-oss-process=image/resize,w_10"),
            (Method::PUT, None, "website"),
            (Method::GET, None, "website"),
            (Method::GET, None, "referer"),
            (Method::PUT, None, "versioning"),
            (Method::DELETE, None, "encryption"),
            (Method::DELETE, None, "website"),
            (Method::DELETE, None, "policy"),
            (Method::GET, None, "inventory"),
            (Method::GET, None, "versions"),
            (Method::POST, k, "restore"),
            (Method::POST, k, "x-oss-process=image/resize,w_10"),
            (Method::POST, None, "worm"),
        ] {
            let r = call(&s, method.clone(), key, sub, sig).await;
            let what = format!("{sig:?} {method} {key:?}?{sub}");
            assert_eq!(
                (r.status, r.code().as_str()),
                (501, "NotImplemented"),
                "{what}: {}",
                r.text()
            );
            // The parameter named is the one not implemented (here: the last).
            let name = sub.rsplit('&').next().unwrap().split('=').next().unwrap();
            assert!(
                r.text().contains(&format!("'{name}'")),
                "{what}: {}",
                r.text()
            );
        }
    }
    // Nothing was executed: the object and the (otherwise empty) bucket are as they were.
    let got = s.get("keep", "k").await;
    assert_eq!((got.status, &got.body[..]), (200, &b"the object"[..]));
    let r = s
        .send(
            Request::new(Method::DELETE, Some("keep"), Some("k")),
            vec![],
            Sig::V4,
        )
        .await;
    assert_eq!(r.status, 204);
    let r = call(&s, Method::DELETE, None, "website", Sig::V4).await;
    assert_eq!(r.status, 501);
    let r = s
        .send(
            Request::new(Method::GET, Some("keep"), None).with_query("bucketInfo", ""),
            vec![],
            Sig::V4,
        )
        .await;
    assert_eq!(
        r.status,
        200,
        "the empty bucket is still there: {}",
        r.text()
    );
}

/// A bad signature still comes first; an anonymous request is refused too (nothing runs).
#[tokio::test]
async fn unimplemented_apis_still_need_a_valid_signature() {
    let s = TestServer::start().await;
    s.create_bucket("keep").await;
    assert_eq!(s.put("keep", "k", b"the object").await.status, 200);
    let req = || Request::new(Method::PUT, Some("keep"), Some("k")).with_query("symlink", "");
    let wrong = ossguard_proto::Credentials::new(crate::client::AK, "not-the-secret");
    let r = s
        .send_as(
            req(),
            TAGS.into(),
            Sig::V4,
            &wrong,
            std::time::SystemTime::now(),
        )
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (403, "SignatureDoesNotMatch"),
        "{}",
        r.text()
    );
    let r = s.send(req(), TAGS.into(), Sig::None).await;
    assert!(matches!(r.status, 403 | 501), "{}", r.text());
    assert_eq!(s.get("keep", "k").await.body, b"the object");
}
