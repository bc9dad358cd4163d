//! Requests that must not get in: unsigned, mis-signed, unknown key, skewed clock, forged or
//! expired presigned URLs, garbage Authorization headers.

use std::time::{Duration, SystemTime};

use base64::Engine;
use http::{HeaderMap, Method};
use ossguard_proto::{Credentials, Request};

use crate::client::{Reply, Sig, TestServer, AK, SK};

async fn server_with_object() -> TestServer {
    let s = TestServer::start().await;
    s.create_bucket("auth").await;
    assert_eq!(s.put("auth", "obj", b"secret bytes").await.status, 200);
    s
}

fn get_obj() -> Request {
    Request::new(Method::GET, Some("auth"), Some("obj"))
}

fn assert_refused(r: &Reply, status: u16, code: &str, what: &str) {
    assert_eq!(
        (r.status, r.code().as_str()),
        (status, code),
        "{what}: {}",
        r.text()
    );
    assert_ne!(r.body, b"secret bytes", "{what}: the object leaked");
}

#[tokio::test]
async fn unsigned_request_to_private_bucket_is_denied() {
    let s = server_with_object().await;
    let r = s.send(get_obj(), vec![], Sig::None).await;
    assert_refused(&r, 403, "AccessDenied", "anonymous GET");
    let r = s
        .send(
            Request::new(Method::PUT, Some("auth"), Some("new")),
            b"x".to_vec(),
            Sig::None,
        )
        .await;
    assert_refused(&r, 403, "AccessDenied", "anonymous PUT");
    let r = s
        .send(
            Request::new(Method::GET, Some("auth"), None),
            vec![],
            Sig::None,
        )
        .await;
    assert_refused(&r, 403, "AccessDenied", "anonymous list");
    assert_eq!(s.get("auth", "new").await.status, 404);
}

#[tokio::test]
async fn wrong_secret_unknown_key_and_skew() {
    let s = server_with_object().await;
    let now = SystemTime::now();
    for sig in [Sig::V1, Sig::V4] {
        let wrong = Credentials::new(AK, "not-the-secret");
        let r = s.send_as(get_obj(), vec![], sig, &wrong, now).await;
        assert_refused(&r, 403, "SignatureDoesNotMatch", "wrong secret");

        let unknown = Credentials::new("LTAInobody", SK);
        let r = s.send_as(get_obj(), vec![], sig, &unknown, now).await;
        assert_refused(&r, 403, "InvalidAccessKeyId", "unknown key");

        for skew in [
            now - Duration::from_secs(20 * 60),
            now + Duration::from_secs(20 * 60),
        ] {
            let r = s.send_as(get_obj(), vec![], sig, &s.creds(), skew).await;
            assert_refused(&r, 403, "RequestTimeTooSkewed", "20 min off");
        }
        // Within the 15 minutes allowed: fine.
        let r = s
            .send_as(
                get_obj(),
                vec![],
                sig,
                &s.creds(),
                now - Duration::from_secs(600),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }
}

#[tokio::test]
async fn tampered_signed_request_is_refused() {
    let s = server_with_object().await;
    for sig in [Sig::V1, Sig::V4] {
        // Signed for one key, sent for another.
        let mut req = s.sign(get_obj(), sig);
        req.key = Some("other".into());
        let r = s.send_raw(&req, vec![]).await;
        assert_refused(&r, 403, "SignatureDoesNotMatch", "key swapped");
        // A signed x-oss- header changed after signing.
        let mut req = s.sign(
            crate::client::with_headers(
                Request::new(Method::PUT, Some("auth"), Some("m")),
                &[("x-oss-meta-a", "1")],
            ),
            sig,
        );
        req.set_header("x-oss-meta-a", "2").unwrap();
        let r = s.send_raw(&req, b"x".to_vec()).await;
        assert_refused(&r, 403, "SignatureDoesNotMatch", "header changed");
    }
    assert_eq!(s.get("auth", "m").await.status, 404);
}

/// Replaces the value of query parameter `name` in `url`.
fn replace_param(url: &str, name: &str, f: impl Fn(&str) -> String) -> String {
    let (base, q) = url.split_once('?').unwrap();
    let q: Vec<String> = q
        .split('&')
        .map(|p| match p.split_once('=') {
            Some((k, v)) if k == name => format!("{k}={}", f(v)),
            _ => p.to_owned(),
        })
        .collect();
    format!("{base}?{}", q.join("&"))
}

#[tokio::test]
async fn presigned_urls_work_until_forged_or_expired() {
    let s = server_with_object().await;
    let now = SystemTime::now();
    let sr = &s;
    let get = move |url: String| async move {
        sr.send_url(Method::GET, &url, &HeaderMap::new(), vec![])
            .await
    };

    let v1 = s.presign_v1(get_obj(), now + Duration::from_secs(300));
    let v4 = s.presign_v4(get_obj(), now, Duration::from_secs(300));
    for url in [&v1, &v4] {
        let r = get(url.clone()).await;
        assert_eq!((r.status, r.body.as_slice()), (200, &b"secret bytes"[..]));
    }

    // Forged: same URL, a different signature.
    let forged_v1 = replace_param(&v1, "Signature", |_| {
        let fake = base64::engine::general_purpose::STANDARD.encode([7u8; 20]);
        ossguard_proto::encoding::uri_encode(&fake)
    });
    let forged_v4 = replace_param(&v4, "x-oss-signature", |_| "ab".repeat(32));
    for url in [forged_v1, forged_v4] {
        let r = get(url).await;
        assert_refused(&r, 403, "SignatureDoesNotMatch", "forged presign");
    }
    // Forged: expiry pushed out after signing.
    let later_v1 = replace_param(&v1, "Expires", |e| {
        (e.parse::<u64>().unwrap() + 3600).to_string()
    });
    let r = get(later_v1).await;
    assert_refused(&r, 403, "SignatureDoesNotMatch", "V1 expiry extended");
    let later_v4 = replace_param(&v4, "x-oss-expires", |_| "3600".into());
    let r = get(later_v4).await;
    assert_refused(&r, 403, "SignatureDoesNotMatch", "V4 expiry extended");

    // Nonsense in the presign parameters: a client error, never a 500.
    for url in [
        replace_param(&v1, "Expires", |_| "soon".into()),
        replace_param(&v1, "OSSAccessKeyId", |_| String::new()),
        replace_param(&v4, "x-oss-expires", |_| "700000".into()),
        replace_param(&v4, "x-oss-expires", |_| "-5".into()),
        replace_param(&v4, "x-oss-date", |_| "yesterday".into()),
        replace_param(&v4, "x-oss-credential", |_| "nobody".into()),
        replace_param(&v4, "x-oss-signature-version", |_| "OSS9".into()),
    ] {
        let r = get(url.clone()).await;
        assert!(
            matches!(r.status, 400 | 403) && !r.code().is_empty(),
            "{url}: {} {}",
            r.status,
            r.text()
        );
        assert_ne!(r.body, b"secret bytes");
    }

    // Expired.
    let old_v1 = s.presign_v1(get_obj(), now - Duration::from_secs(60));
    let r = get(old_v1).await;
    assert_refused(&r, 403, "AccessDenied", "expired V1");
    let old_v4 = s.presign_v4(
        get_obj(),
        now - Duration::from_secs(3600),
        Duration::from_secs(60),
    );
    let r = get(old_v4).await;
    assert_refused(&r, 403, "AccessDenied", "expired V4");
}

#[tokio::test]
async fn garbage_authorization_headers_are_client_errors() {
    let s = server_with_object().await;
    let date = ossguard_proto::time::rfc1123(SystemTime::now());
    let long = "A".repeat(8000);
    for auth in [
        "garbage",
        "OSS",
        "OSS ",
        "OSS nocolon",
        "OSS :",
        "OSS ak:",
        "OSS4-HMAC-SHA256",
        "OSS4-HMAC-SHA256 ",
        "OSS4-HMAC-SHA256 Credential=",
        "OSS4-HMAC-SHA256 Credential=ak/2024/cn/oss",
        "OSS4-HMAC-SHA256 Credential=test-ak/x/y/z/w,Signature=zz",
        "OSS4-HMAC-SHA256 Signature=,,,,=,=",
        "Bearer abc.def.ghi",
        "AWS4-HMAC-SHA256 Credential=a/b/c/s3/aws4_request, Signature=00",
        &long,
    ] {
        let mut h = HeaderMap::new();
        h.insert("authorization", auth.parse().unwrap());
        h.insert("date", date.parse().unwrap());
        let url = format!("{}/auth/obj", s.endpoint());
        let r = s.send_url(Method::GET, &url, &h, vec![]).await;
        assert!(
            matches!(
                (r.status, r.code().as_str()),
                (400, "InvalidArgument")
                    | (403, "AccessDenied")
                    | (403, "SignatureDoesNotMatch")
                    | (403, "InvalidAccessKeyId")
            ),
            "{auth:?}: {} {}",
            r.status,
            r.text()
        );
        assert_ne!(r.body, b"secret bytes");
    }
}

#[tokio::test]
async fn head_errors_carry_x_oss_err_and_no_body() {
    let s = server_with_object().await;
    let cases = [
        (
            s.send(
                Request::new(Method::HEAD, Some("auth"), Some("missing")),
                vec![],
                Sig::V4,
            )
            .await,
            404,
            "NoSuchKey",
        ),
        (
            s.send(
                Request::new(Method::HEAD, Some("auth"), Some("obj")),
                vec![],
                Sig::None,
            )
            .await,
            403,
            "AccessDenied",
        ),
        (
            s.send_as(
                Request::new(Method::HEAD, Some("auth"), Some("obj")),
                vec![],
                Sig::V1,
                &Credentials::new(AK, "wrong"),
                SystemTime::now(),
            )
            .await,
            403,
            "SignatureDoesNotMatch",
        ),
    ];
    for (r, status, code) in cases {
        assert_eq!(r.status, status);
        assert!(r.body.is_empty(), "HEAD error with a body: {}", r.text());
        let err = r.header("x-oss-err").expect("x-oss-err on a HEAD error");
        let xml = base64::engine::general_purpose::STANDARD
            .decode(err)
            .expect("x-oss-err is base64");
        let xml = String::from_utf8(xml).unwrap();
        assert!(xml.contains(&format!("<Code>{code}</Code>")), "{xml}");
        assert!(r.header("x-oss-request-id").is_some());
    }
}
