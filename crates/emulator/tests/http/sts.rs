//! STS credentials from `POST /-/sts`: least-privilege policies and the security token.

use std::time::{Duration, SystemTime};

use http::Method;
use ossguard_proto::{Credentials, Request};

use crate::client::{Reply, Sig, TestServer};

#[derive(serde::Deserialize)]
struct Issued {
    access_key_id: String,
    access_key_secret: String,
    security_token: String,
    expiration: String,
}

/// `POST /-/sts` signed with the server's permanent key (the admin API requires it).
pub async fn issue(s: &TestServer, body: serde_json::Value) -> Reply {
    issue_raw(s, body.to_string().into_bytes()).await
}

async fn issue_raw(s: &TestServer, body: Vec<u8>) -> Reply {
    let mut req = Request::new(Method::POST, Some("-"), Some("sts"));
    req.set_header("content-type", "application/json").unwrap();
    let req = s.sign(req, Sig::V4);
    s.send_raw(&req, body).await
}

/// Credentials issued for a RAM policy document (`policy` as given: object or string).
async fn creds_for(s: &TestServer, policy: serde_json::Value) -> Credentials {
    let r = issue(
        s,
        serde_json::json!({"DurationSeconds": 900, "Policy": policy}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let c: Issued = serde_json::from_slice(&r.body).unwrap();
    Credentials::new(c.access_key_id, c.access_key_secret.as_str())
        .with_security_token(c.security_token.as_str())
}

async fn limited_creds(s: &TestServer) -> Credentials {
    let r = issue(
        s,
        serde_json::json!({
            "duration_seconds": 900,
            "actions": ["oss:GetObject", "oss:PutObject"],
            "resources": ["acs:oss:*:*:box/sts/*"],
        }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let c: Issued = serde_json::from_slice(&r.body).unwrap();
    assert!(c.expiration.ends_with('Z'), "{}", c.expiration);
    Credentials::new(c.access_key_id, c.access_key_secret.as_str())
        .with_security_token(c.security_token.as_str())
}

async fn as_creds(
    s: &TestServer,
    creds: &Credentials,
    method: Method,
    key: Option<&str>,
    body: &[u8],
    sig: Sig,
) -> Reply {
    s.send_as(
        Request::new(method, Some("box"), key),
        body.to_vec(),
        sig,
        creds,
        SystemTime::now(),
    )
    .await
}

#[tokio::test]
async fn sts_policy_limits_actions_and_resources() {
    let s = TestServer::start().await;
    s.create_bucket("box").await;
    assert_eq!(s.put("box", "private/secret", b"no").await.status, 200);
    let creds = limited_creds(&s).await;
    for sig in [Sig::V1, Sig::V4] {
        let r = as_creds(&s, &creds, Method::PUT, Some("sts/file"), b"mine", sig).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let r = as_creds(&s, &creds, Method::GET, Some("sts/file"), b"", sig).await;
        assert_eq!((r.status, r.body.as_slice()), (200, &b"mine"[..]));
        let r = as_creds(&s, &creds, Method::HEAD, Some("sts/file"), b"", sig).await;
        assert_eq!(r.status, 200);

        // Outside the resource, or an action not granted.
        for (method, key) in [
            (Method::PUT, Some("outside")),
            (Method::GET, Some("private/secret")),
            (Method::PUT, Some("st")),
            (Method::DELETE, Some("sts/file")),
            (Method::GET, None),
            (Method::DELETE, None),
        ] {
            let r = as_creds(&s, &creds, method.clone(), key, b"x", sig).await;
            assert_eq!(
                (r.status, r.code().as_str()),
                (403, "AccessDenied"),
                "{method} {key:?}: {}",
                r.text()
            );
        }
    }
    assert_eq!(s.get("box", "outside").await.status, 404);
    assert_eq!(s.get("box", "sts/file").await.body, b"mine");
    // Presigned with the STS key (token in the query) works too.
    let mut req = Request::new(Method::GET, Some("box"), Some("sts/file"));
    ossguard_proto::auth::presign::presign_v4(
        &mut req,
        &creds,
        "cn-hangzhou",
        SystemTime::now(),
        Duration::from_secs(60),
        &[],
    )
    .unwrap();
    let r = s.send_raw(&req, vec![]).await;
    assert_eq!((r.status, r.body.as_slice()), (200, &b"mine"[..]));
}

#[tokio::test]
async fn sts_keys_need_their_token() {
    let s = TestServer::start().await;
    s.create_bucket("box").await;
    let creds = limited_creds(&s).await;
    let other = limited_creds(&s).await;
    let wrong_token = Credentials::new(
        creds.access_key_id.clone(),
        creds.access_key_secret.expose(),
    )
    .with_security_token("CAISforged-token");
    let no_token = Credentials::new(
        creds.access_key_id.clone(),
        creds.access_key_secret.expose(),
    );
    let swapped = Credentials::new(
        creds.access_key_id.clone(),
        creds.access_key_secret.expose(),
    )
    .with_security_token(other.security_token.clone().unwrap().expose());
    for sig in [Sig::V1, Sig::V4] {
        for (what, c) in [
            ("wrong token", &wrong_token),
            ("no token", &no_token),
            ("other key's token", &swapped),
        ] {
            let r = as_creds(&s, c, Method::PUT, Some("sts/x"), b"x", sig).await;
            assert_eq!(r.status, 403, "{what}: {}", r.text());
            assert!(
                matches!(
                    r.code().as_str(),
                    "InvalidAccessKeyId" | "AccessDenied" | "InvalidSecurityToken"
                ),
                "{what}: {}",
                r.code()
            );
        }
    }
    assert_eq!(s.get("box", "sts/x").await.status, 404);
}

#[tokio::test]
async fn bad_sts_requests_are_400() {
    let s = TestServer::start().await;
    for body in [
        serde_json::json!({"duration_seconds": 10}),
        serde_json::json!({"duration_seconds": 100000}),
        serde_json::json!({"duration_seconds": "soon"}),
        serde_json::json!({"actions": "oss:*"}),
        serde_json::json!([1, 2, 3]),
    ] {
        let r = issue(&s, body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text());
    }
    let r = issue_raw(&s, b"{not json".to_vec()).await;
    assert_eq!(r.status, 400);
    let r = issue_raw(&s, vec![b'x'; 100 * 1024]).await;
    assert_eq!(r.status, 400);
}

/// The form STS AssumeRole takes: a RAM policy document, here GetObject on `box/prefix*`.
fn read_prefix_doc() -> serde_json::Value {
    serde_json::json!({"Version": "1", "Statement": [{"Effect": "Allow",
        "Action": ["oss:GetObject"], "Resource": ["acs:oss:*:*:box/prefix*"]}]})
}

#[tokio::test]
async fn a_ram_policy_document_limits_the_token() {
    let s = TestServer::start().await;
    s.create_bucket("box").await;
    assert_eq!(s.put("box", "prefix/a", b"in").await.status, 200);
    assert_eq!(s.put("box", "other/b", b"out").await.status, 200);
    // As a JSON object and as the JSON string STS takes: the same rights.
    for policy in [
        read_prefix_doc(),
        serde_json::Value::String(read_prefix_doc().to_string()),
    ] {
        let creds = creds_for(&s, policy).await;
        for sig in [Sig::V1, Sig::V4] {
            let r = as_creds(&s, &creds, Method::GET, Some("prefix/a"), b"", sig).await;
            assert_eq!((r.status, r.body.as_slice()), (200, &b"in"[..]));
            for (method, key) in [
                (Method::PUT, Some("prefix/new")),
                (Method::GET, Some("other/b")),
                (Method::DELETE, Some("prefix/a")),
                (Method::GET, None),
            ] {
                let r = as_creds(&s, &creds, method.clone(), key, b"x", sig).await;
                assert_eq!(
                    (r.status, r.code().as_str()),
                    (403, "AccessDenied"),
                    "{method} {key:?}: {}",
                    r.text()
                );
            }
        }
    }
    assert_eq!(
        s.get("box", "prefix/new").await.status,
        404,
        "nothing was written"
    );
    assert_eq!(s.get("box", "prefix/a").await.body, b"in");
}

#[tokio::test]
async fn a_deny_statement_wins_over_an_allow() {
    let s = TestServer::start().await;
    s.create_bucket("box").await;
    let creds = creds_for(
        &s,
        serde_json::json!({"Version": "1", "Statement": [
            {"Effect": "Allow", "Action": "oss:*", "Resource": "acs:oss:*:*:box/*"},
            {"Effect": "Deny", "Action": ["oss:PutObject"], "Resource": ["acs:oss:*:*:box/locked/*"]}
        ]}),
    )
    .await;
    for sig in [Sig::V1, Sig::V4] {
        let r = as_creds(&s, &creds, Method::PUT, Some("open/x"), b"ok", sig).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let r = as_creds(&s, &creds, Method::PUT, Some("locked/x"), b"no", sig).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (403, "AccessDenied"),
            "{}",
            r.text()
        );
        assert!(r.text().contains("Deny"), "{}", r.text());
    }
    assert_eq!(s.get("box", "locked/x").await.status, 404);
}

#[tokio::test]
async fn a_policy_that_cannot_be_read_exactly_issues_no_token() {
    let s = TestServer::start().await;
    for body in [
        // The field name STS does not know: before, this was ignored and the token had all rights.
        serde_json::json!({"policy_document": read_prefix_doc()}),
        serde_json::json!({"Policy": {"Version": "1", "Statement": [{"Effect": "Allow",
            "Action": ["oss:GetObject"], "Resource": ["acs:oss:*:*:box/prefix*"], "Extra": 1}]}}),
        serde_json::json!({"Policy": {"Version": "1", "Statement": [{"Effect": "Allow",
            "NotAction": ["oss:PutObject"], "Resource": ["*"]}]}}),
        serde_json::json!({"Policy": {"Version": "1", "Statement": [{"Effect": "Allow",
            "Action": ["oss:GetObject"], "Resource": ["*"],
            "Condition": {"IpAddress": {"acs:SourceIp": "10.0.0.0/8"}}}]}}),
        serde_json::json!({"Policy": "{\"Version\": \"1\""}),
        serde_json::json!({"Policy": read_prefix_doc(), "actions": ["oss:*"]}),
    ] {
        let r = issue(&s, body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text());
        assert!(!r.text().contains("access_key_secret"), "{body}");
    }
}

/// A copy reads its source: a key allowed to write one bucket cannot copy objects out of
/// another it may not read. Tags sent with a write need `oss:PutObjectTagging` too.
#[tokio::test]
async fn copies_need_their_source_and_tags_their_own_permission() {
    let s = TestServer::start().await;
    s.create_bucket("box").await;
    s.create_bucket("vault").await;
    assert_eq!(s.put("vault", "secret", b"not yours").await.status, 200);
    assert_eq!(s.put("box", "mine", b"yours").await.status, 200);
    let creds = creds_for(
        &s,
        serde_json::json!({"Version": "1", "Statement": [
            {"Effect": "Allow", "Action": "oss:*", "Resource": "acs:oss:*:*:box/*"},
            {"Effect": "Deny", "Action": "oss:PutObjectTagging", "Resource": "acs:oss:*:*:box/*"}
        ]}),
    )
    .await;
    let copy = |src: &str, dst: &str| {
        let mut req = Request::new(Method::PUT, Some("box"), Some(dst));
        req.set_header("x-oss-copy-source", src).unwrap();
        req
    };
    for sig in [Sig::V1, Sig::V4] {
        let now = SystemTime::now();
        let r = s
            .send_as(copy("/vault/secret", "stolen"), vec![], sig, &creds, now)
            .await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (403, "AccessDenied"),
            "{}",
            r.text()
        );
        assert!(
            r.text()
                .contains("oss:GetObject on acs:oss:*:*:vault/secret"),
            "{}",
            r.text()
        );
        let r = s
            .send_as(copy("/box/mine", "copy"), vec![], sig, &creds, now)
            .await;
        assert_eq!(r.status, 200, "{}", r.text());

        let mut tagged = Request::new(Method::PUT, Some("box"), Some("tagged"));
        tagged.set_header("x-oss-tagging", "a=1").unwrap();
        let r = s.send_as(tagged, b"v".to_vec(), sig, &creds, now).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (403, "AccessDenied"),
            "{}",
            r.text()
        );
        assert!(r.text().contains("oss:PutObjectTagging"), "{}", r.text());
        let plain = Request::new(Method::PUT, Some("box"), Some("plain"));
        assert_eq!(
            s.send_as(plain, b"v".to_vec(), sig, &creds, now)
                .await
                .status,
            200
        );
    }
    assert_eq!(s.get("box", "stolen").await.status, 404);
    assert_eq!(s.get("box", "tagged").await.status, 404);
}
