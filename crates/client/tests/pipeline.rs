//! The resilience pipeline against real sockets on 127.0.0.1.

use std::time::{Duration, Instant};

use ossguard::{BreakerState, Client, Credentials, ErrorKind, Policy};

/// A port on 127.0.0.1 that refuses connections (bound, then released).
fn dead_endpoint() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("http://127.0.0.1:{port}")
}

fn client(endpoint: &str, policy: Policy) -> Client {
    Client::builder()
        .endpoint(endpoint)
        .credentials(Credentials::new("ak", "sk"))
        .policy(policy)
        .build()
        .unwrap()
}

#[tokio::test]
async fn dead_endpoint_trips_the_breaker_and_fails_fast() {
    let ep = dead_endpoint();
    let resilient = client(&ep, Policy::default());
    let naive = client(&ep, Policy::none());
    let n = 200;
    let started = Instant::now();
    let mut open_errors = 0;
    for _ in 0..n {
        let e = resilient.head_object("bucket", "key").await.unwrap_err();
        if matches!(e.kind(), ErrorKind::CircuitOpen) {
            open_errors += 1;
        }
    }
    let took = started.elapsed();
    for _ in 0..n {
        naive.head_object("bucket", "key").await.unwrap_err();
    }
    let (r, nv) = (resilient.stats(), naive.stats());
    println!(
        "dead endpoint, {n} ops each: resilient sent {} attempts ({} retries, {open_errors} failed fast, breaker {:?}) in {took:?}; naive sent {}",
        r.attempts,
        r.retries,
        resilient.breaker_state(),
        nv.attempts
    );
    assert_eq!(resilient.breaker_state(), BreakerState::Open);
    assert!(
        open_errors >= n - 10,
        "the breaker sheds nearly everything once open"
    );
    assert_eq!(
        nv.attempts, n as u64,
        "the naive client makes exactly one attempt per op"
    );
    assert!(
        r.attempts <= 20,
        "the resilient client stops sending to a dead endpoint: {r:?}"
    );
    assert!(took < Duration::from_secs(10));
    let e = resilient.head_object("bucket", "key").await.unwrap_err();
    assert!(e.to_string().contains("circuit breaker"), "{e}");
}
