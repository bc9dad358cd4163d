//! `GET /metrics` next to the toxiproxy API: connections, bytes per direction and toxics
//! applied, checked by value and by `promtool check metrics` (scripts/test-all installs it).

mod common;

use common::*;
use ossguard_chaos::{Chaos, Stream, ToxicKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn sample(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(name_and_labels)
                .and_then(|rest| rest.strip_prefix(' '))
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_connections_bytes_and_toxics() {
    let chaos = Chaos::new();
    let addr = proxy(&chaos, "oss", echo_server().await).await;
    add(
        &chaos,
        "oss",
        Stream::Downstream,
        ToxicKind::Latency {
            latency: 1,
            jitter: 0,
        },
    )
    .await;
    for _ in 0..2 {
        let mut s = connect(addr).await;
        s.write_all(&[7u8; 1000]).await.unwrap();
        let mut back = vec![0u8; 1000];
        s.read_exact(&mut back).await.unwrap();
    }
    let api = chaos.serve_api("127.0.0.1:0").await.unwrap();
    let text = reqwest::get(format!("{}/metrics", api.url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        sample(&text, "ossguard_chaos_connections_total{proxy=\"oss\"}"),
        2.0,
        "{text}"
    );
    let flow = |d: &str| {
        sample(
            &text,
            &format!("ossguard_chaos_forwarded_bytes_total{{proxy=\"oss\",direction=\"{d}\"}}"),
        )
    };
    assert_eq!(flow("upstream"), 2000.0, "{text}");
    assert_eq!(flow("downstream"), 2000.0, "{text}");
    assert_eq!(
        sample(
            &text,
            "ossguard_chaos_toxics_applied_total{proxy=\"oss\",type=\"latency\"}"
        ),
        2.0,
        "one per connection (downstream only): {text}"
    );

    if let Err(e) = ossguard_exposition::promtool_check_metrics(&text) {
        panic!("{e}\n{text}");
    }
}
