//! The admin API (`/-/sts`, `/-/faults`) needs a request signed with a permanent key; only
//! `/-/health` is open, unless the server runs with `admin_open` (loopback only).

use std::time::SystemTime;

use http::Method;
use ossguard_emulator::server::{Emulator, EmulatorConfig};
use ossguard_proto::{Credentials, Request};

use crate::client::{Reply, Sig, TestServer};

fn admin(method: Method, key: &str) -> Request {
    let mut req = Request::new(method, Some("-"), Some(key));
    req.set_header("content-type", "application/json").unwrap();
    req
}

const RULES: &str = r#"{"rules": [{"name": "x", "fault": {"kind": "status", "status": 503}}]}"#;

#[tokio::test]
async fn unsigned_admin_requests_are_refused() {
    let s = TestServer::start().await;
    for (method, key, body) in [
        (Method::POST, "sts", "{}"),
        (Method::GET, "faults", ""),
        (Method::PUT, "faults", RULES),
        (Method::DELETE, "faults", ""),
        (Method::GET, "faults/stats", ""),
    ] {
        let r = s.send_raw(&admin(method.clone(), key), body.into()).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (403, "AccessDenied"),
            "{method} /-/{key}: {}",
            r.text()
        );
        assert!(
            r.text().contains("--admin-open"),
            "says what to do: {}",
            r.text()
        );
    }
    assert!(s.emu_faults_empty(), "no rule was installed");
    let h = s
        .send_raw(
            &Request::new(Method::GET, Some("-"), Some("health")),
            vec![],
        )
        .await;
    assert_eq!(h.status, 200, "health stays open");
}

#[tokio::test]
async fn signed_admin_requests_work_with_v1_and_v4() {
    let s = TestServer::start().await;
    for sig in [Sig::V1, Sig::V4] {
        let r = s
            .send(admin(Method::PUT, "faults"), RULES.into(), sig)
            .await;
        assert_eq!(r.status, 200, "{sig:?}: {}", r.text());
        assert!(!s.emu_faults_empty());
        let r = s
            .send(admin(Method::GET, "faults/stats"), vec![], sig)
            .await;
        assert_eq!(r.status, 200, "{sig:?}: {}", r.text());
        let r = s.send(admin(Method::DELETE, "faults"), vec![], sig).await;
        assert_eq!(r.status, 204, "{sig:?}: {}", r.text());
        assert!(s.emu_faults_empty());
        let r = s
            .send(admin(Method::POST, "sts"), b"{}".to_vec(), sig)
            .await;
        assert_eq!(r.status, 200, "{sig:?}: {}", r.text());
    }
}

#[tokio::test]
async fn wrong_keys_cannot_use_the_admin_api() {
    let s = TestServer::start().await;
    let r = s
        .send(admin(Method::POST, "sts"), b"{}".to_vec(), Sig::V4)
        .await;
    assert_eq!(r.status, 200);
    let issued: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    let sts = Credentials::new(
        issued["access_key_id"].as_str().unwrap(),
        issued["access_key_secret"].as_str().unwrap(),
    )
    .with_security_token(issued["security_token"].as_str().unwrap());
    let wrong_secret = Credentials::new(crate::client::AK, "not-the-secret");
    for (what, creds) in [("an STS key", &sts), ("a wrong secret", &wrong_secret)] {
        for sig in [Sig::V1, Sig::V4] {
            let r: Reply = s
                .send_as(
                    admin(Method::POST, "sts"),
                    b"{}".to_vec(),
                    sig,
                    creds,
                    SystemTime::now(),
                )
                .await;
            assert_eq!(r.status, 403, "{what} {sig:?}: {}", r.text());
            let r: Reply = s
                .send_as(
                    admin(Method::PUT, "faults"),
                    RULES.into(),
                    sig,
                    creds,
                    SystemTime::now(),
                )
                .await;
            assert_eq!(r.status, 403, "{what} {sig:?}: {}", r.text());
        }
    }
    assert!(s.emu_faults_empty());
}

#[tokio::test]
async fn admin_open_takes_unsigned_requests_on_loopback_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = EmulatorConfig::local(dir.path().join("data"), "AK", "SK");
    cfg.admin_open = true;
    let emu = Emulator::start(cfg.clone()).await.unwrap();
    let http = reqwest::Client::new();
    let r = http
        .put(format!("{}/-/faults", emu.endpoint()))
        .body(RULES)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .post(format!("{}/-/sts", emu.endpoint()))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    emu.shutdown().await.unwrap();

    // Never on an address others can reach (checked before binding).
    cfg.addr = "0.0.0.0:0".parse().unwrap();
    let e = Emulator::start(cfg).await.err().expect("refused");
    assert!(e.to_string().contains("loopback"), "{e}");
}
