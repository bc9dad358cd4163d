//! A server certificate the client refuses (here: self-signed, issuer unknown) ends the
//! operation at once — one handshake, no retries, no breaker failure — and the fallback chain
//! does not serve a cached copy around it: a certificate problem must surface, not be hidden
//! behind stale data from an endpoint that may not be the one configured.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ossguard::cache::CacheConfig;
use ossguard::{Client, Credentials, ErrorKind, Fallback, Policy, Source, TransportFailure};
use ossguard_emulator::server::{Emulator, EmulatorConfig};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

const CERT: &[u8] = include_bytes!("fixtures/untrusted.crt");
const KEY: &[u8] = include_bytes!("fixtures/untrusted.key");

/// A TLS server on 127.0.0.1 presenting the untrusted certificate; counts handshakes begun.
async fn untrusted_server() -> (String, Arc<AtomicU32>, tokio::task::JoinHandle<()>) {
    let cert = CertificateDer::from_pem_slice(CERT).unwrap();
    let key = PrivateKeyDer::from_pem_slice(KEY).unwrap();
    let cfg = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let handshakes = Arc::new(AtomicU32::new(0));
    let seen = handshakes.clone();
    let task = tokio::spawn(async move {
        // Bounded: the tests make a handful of connections.
        for _ in 0..64 {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            seen.fetch_add(1, Ordering::SeqCst);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // The client aborts the handshake; nothing is ever served.
                let _ = tokio::time::timeout(Duration::from_secs(5), acceptor.accept(tcp)).await;
            });
        }
    });
    (format!("https://127.0.0.1:{port}"), handshakes, task)
}

fn client(endpoint: &str) -> Client {
    Client::builder()
        .endpoint(endpoint)
        .credentials(Credentials::new("ak", "sk"))
        .policy(Policy {
            deadline: Duration::from_secs(5),
            ..Policy::default()
        })
        .build()
        .unwrap()
}

fn failure(e: &ossguard::Error) -> Option<TransportFailure> {
    match e.kind() {
        ErrorKind::Transport { failure, .. } => Some(*failure),
        _ => None,
    }
}

#[tokio::test]
async fn a_refused_certificate_is_one_attempt_and_says_so() {
    let (endpoint, handshakes, server) = untrusted_server().await;
    let c = client(&endpoint);
    let e = c.head_object("b", "k").await.unwrap_err();
    assert_eq!(failure(&e), Some(TransportFailure::TlsCertificate), "{e}");
    let shown = e.to_string();
    assert!(shown.contains("certificate was refused"), "{shown}");
    assert!(
        shown.contains("UnknownIssuer"),
        "rustls' reason is shown: {shown}"
    );
    assert!(shown.contains("not retried"), "{shown}");
    assert!(!shown.contains("retrying usually helps"), "{shown}");
    // The default policy retries transient failures up to 4 more times: none here.
    assert_eq!(handshakes.load(Ordering::SeqCst), 1);
    assert_eq!(c.stats().attempts, 1);
    assert_eq!(c.stats().retries, 0);
    // Not an endpoint failure for the breaker: a second call is sent (and refused) again.
    for _ in 0..8 {
        let e = c.head_object("b", "k").await.unwrap_err();
        assert_eq!(failure(&e), Some(TransportFailure::TlsCertificate), "{e}");
    }
    assert_eq!(handshakes.load(Ordering::SeqCst), 9);
    assert_eq!(c.stats().breaker_rejections, 0);
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_certificate_is_not_served_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = EmulatorConfig::local(dir.path().join("data"), "ak", "sk");
    cfg.sync = false;
    let emu = Emulator::start(cfg).await.unwrap();
    let cache = dir.path().join("cache");
    let cache_cfg = || CacheConfig::default().max_age(Duration::ZERO);
    let up = client(&emu.endpoint());
    up.create_bucket("tls-bucket", Default::default())
        .await
        .unwrap();
    up.put_object(
        "tls-bucket",
        "k",
        b"cached".to_vec().into(),
        Default::default(),
    )
    .await
    .unwrap();
    let warm = Fallback::builder()
        .cache(&cache, cache_cfg())
        .build(up)
        .await
        .unwrap();
    assert_eq!(
        warm.get("tls-bucket", "k").await.unwrap().source,
        Source::Primary
    );
    drop(warm);

    // An endpoint that is down: the warm cache answers, flagged stale (the control).
    let down = Fallback::builder()
        .cache(&cache, cache_cfg())
        .build(client("http://127.0.0.1:1"))
        .await
        .unwrap();
    let s = down.get("tls-bucket", "k").await.unwrap();
    assert!(
        matches!(s.source, Source::Cache { stale: true, .. }),
        "{:?}",
        s.source
    );
    assert_eq!(&s.bytes[..], b"cached");
    drop(down);

    // An endpoint whose certificate is refused: the error, not the cached copy.
    let (endpoint, handshakes, server) = untrusted_server().await;
    let refused = Fallback::builder()
        .cache(&cache, cache_cfg())
        .build(client(&endpoint))
        .await
        .unwrap();
    let e = refused.get("tls-bucket", "k").await.unwrap_err();
    assert_eq!(failure(&e), Some(TransportFailure::TlsCertificate), "{e}");
    assert_eq!(handshakes.load(Ordering::SeqCst), 1);
    server.abort();
}
