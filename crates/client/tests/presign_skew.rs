//! Presigned URLs are dated by the server's clock once the client has learned its offset:
//! with the server 20 min ahead, a 60-s URL signed by the local clock is already expired.

use std::time::Duration;

use ossguard::{Body, Client, Credentials, SignatureVersion};
use ossguard_emulator::faults::FaultConfig;
use ossguard_emulator::server::{Emulator, EmulatorConfig};

const AK: &str = "ps-ak";
const SK: &str = "ps-sk";

fn client(emu: &Emulator) -> Client {
    Client::builder()
        .endpoint(emu.endpoint())
        .credentials(Credentials::new(AK, SK))
        .build()
        .unwrap()
}

#[tokio::test]
async fn presigned_urls_use_the_learned_clock_offset() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = EmulatorConfig::local(dir.path().join("data"), AK, SK);
    cfg.sync = false;
    let emu = Emulator::start(cfg).await.unwrap();
    let c = client(&emu);
    c.create_bucket("ps-bucket", Default::default())
        .await
        .unwrap();
    c.put_object("ps-bucket", "o", Body::from("hello"), Default::default())
        .await
        .unwrap();
    emu.faults()
        .install(
            FaultConfig::parse(
                r#"{"seed": 1, "rules": [{"fault": {"kind": "clock_skew", "skew_ms": 1200000}}]}"#,
            )
            .unwrap(),
        )
        .unwrap();
    let http = reqwest::Client::new();
    let fetch = |url: String| {
        let http = http.clone();
        async move { http.get(url).send().await.unwrap().status().as_u16() }
    };
    for v in [SignatureVersion::V4, SignatureVersion::V1] {
        // A client that has not learned the offset signs with local time: expired on arrival.
        let fresh = client(&emu);
        let url = fresh
            .presign_url(
                http::Method::GET,
                "ps-bucket",
                "o",
                Duration::from_secs(60),
                v,
            )
            .await
            .unwrap();
        assert_eq!(fetch(url).await, 403, "{v:?}: local time is 20 min behind");
        // One request teaches it the offset (RequestTimeTooSkewed, corrected, retried).
        fresh.head_object("ps-bucket", "o").await.unwrap();
        assert_eq!(fresh.stats().skew_corrections, 1);
        let url = fresh
            .presign_url(
                http::Method::GET,
                "ps-bucket",
                "o",
                Duration::from_secs(60),
                v,
            )
            .await
            .unwrap();
        assert_eq!(
            fetch(url).await,
            200,
            "{v:?}: dated by the learned server clock"
        );
    }
}
