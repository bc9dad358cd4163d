//! The toxiproxy-compatible API with arbitrary JSON bodies (toxic create/update, proxy update),
//! driven in-process through its router: no panic, and every answer is JSON with a status
//! toxiproxy would give. Proxy creation is left out (it binds listeners); the one proxy
//! listens on 127.0.0.1 and points at a closed port.
#![no_main]
use std::sync::OnceLock;

use axum::body::Body;
use libfuzzer_sys::fuzz_target;
use ossguard_chaos::{Chaos, ProxyConfig};
use tower::ServiceExt;

struct World {
    rt: tokio::runtime::Runtime,
    chaos: Chaos,
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let chaos = Chaos::new();
        rt.block_on(chaos.create_proxy(ProxyConfig::new("p", "127.0.0.1:9")))
            .expect("proxy created");
        World { rt, chaos }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    // Moving the listener elsewhere would bind a fuzzed address: keep it where it is.
    if body.windows(6).any(|w| w.eq_ignore_ascii_case(b"listen")) {
        return;
    }
    let w = world();
    let (method, path) = match which % 4 {
        0 => ("POST", "/proxies/p/toxics"),
        1 => ("POST", "/proxies/p/toxics/latency_downstream"),
        2 => ("POST", "/proxies/p"),
        _ => ("POST", "/proxies/p/toxics/t"),
    };
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_vec()))
        .unwrap();
    let status = w.rt.block_on(async {
        let resp = ossguard_chaos::router(w.chaos.clone())
            .oneshot(req)
            .await
            .expect("the router answers");
        let status = resp.status().as_u16();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        if status != 204 {
            assert!(
                serde_json::from_slice::<serde_json::Value>(&bytes).is_ok(),
                "non-JSON answer {status}: {:?}",
                String::from_utf8_lossy(&bytes)
            );
        }
        status
    });
    assert!(
        matches!(status, 200 | 204 | 400 | 404 | 409),
        "unexpected status {status}"
    );
    // Start every input from the same state: no toxics, proxy enabled.
    w.rt.block_on(async {
        let req = http::Request::builder()
            .method("POST")
            .uri("/reset")
            .body(Body::empty())
            .unwrap();
        let _ = ossguard_chaos::router(w.chaos.clone()).oneshot(req).await;
    });
});
