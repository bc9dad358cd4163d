//! Each toxic's measured effect on real loopback connections (127.0.0.1 only, bounded).

mod common;

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use common::*;
use ossguard_chaos::{Chaos, NewToxic, ProxyConfig, Stream, ToxicKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_200ms_adds_200ms_at_p50() {
    let chaos = Chaos::new();
    let addr = proxy(&chaos, "p", echo_server().await).await;
    let mut s = connect(addr).await;
    let base = p50(&rtts(&mut s, 21).await);
    add(
        &chaos,
        "p",
        Stream::Downstream,
        ToxicKind::Latency {
            latency: 200,
            jitter: 0,
        },
    )
    .await;
    let with = rtts(&mut s, 21).await;
    let added = ms(p50(&with)) - ms(base);
    println!(
        "latency 200: base p50 {:.2} ms, p50 with toxic {:.2} ms, added {added:.1} ms",
        ms(base),
        ms(p50(&with))
    );
    assert!((180.0..=220.0).contains(&added), "added {added} ms");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_latency_delays_requests() {
    let chaos = Chaos::new();
    let addr = proxy(&chaos, "p", echo_server().await).await;
    add(
        &chaos,
        "p",
        Stream::Upstream,
        ToxicKind::Latency {
            latency: 100,
            jitter: 0,
        },
    )
    .await;
    let mut s = connect(addr).await;
    let v = rtts(&mut s, 5).await;
    println!("upstream latency 100: p50 {:.1} ms", ms(p50(&v)));
    assert!(v.iter().all(|d| ms(*d) >= 98.0), "{v:?}");
    assert!(ms(p50(&v)) < 130.0, "{v:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jitter_stays_within_its_bounds() {
    let chaos = Chaos::new();
    let addr = proxy(&chaos, "p", echo_server().await).await;
    add(
        &chaos,
        "p",
        Stream::Downstream,
        ToxicKind::Latency {
            latency: 100,
            jitter: 40,
        },
    )
    .await;
    let mut s = connect(addr).await;
    let v: Vec<f64> = rtts(&mut s, 30).await.into_iter().map(ms).collect();
    let (lo, hi) = v
        .iter()
        .fold((f64::MAX, 0f64), |(a, b), &x| (a.min(x), b.max(x)));
    println!("latency 100 ± 40: min {lo:.1} ms, max {hi:.1} ms");
    // delay is uniform in [60, 140) ms, plus a little loopback and scheduling time
    assert!(lo >= 59.0, "min {lo}");
    assert!(hi < 160.0, "max {hi}");
    // and it does vary (30 uniform draws spread far more than 20 ms)
    assert!(hi - lo > 20.0, "no jitter: {v:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bandwidth_1000kbps_within_15_percent() {
    const N: usize = 2 * 1024 * 1024;
    let chaos = Chaos::new();
    let addr = proxy(&chaos, "p", source_server(vec![7u8; N]).await).await;

    // control: without the toxic 2 MiB take a few ms
    let start = Instant::now();
    let (got, _, err) = read_all(&mut connect(addr).await).await;
    let free = start.elapsed();
    assert!(err.is_none() && got.len() == N);

    add(
        &chaos,
        "p",
        Stream::Downstream,
        ToxicKind::Bandwidth { rate: 1000 },
    )
    .await;
    let start = Instant::now();
    let (got, _, err) = read_all(&mut connect(addr).await).await;
    let took = start.elapsed().as_secs_f64();
    assert!(err.is_none(), "{err:?}");
    assert_eq!(got.len(), N);
    let rate = N as f64 / took / 1000.0;
    println!(
        "bandwidth 1000 KB/s: 2 MiB in {took:.3} s = {rate:.0} KB/s (without toxic: {:.1} ms)",
        ms(free)
    );
    assert!((850.0..=1150.0).contains(&rate), "{rate} KB/s");
    assert!(free.as_secs_f64() < took / 4.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_peer_gives_econnreset() {
    let chaos = Chaos::new();
    let addr = proxy(&chaos, "p", echo_server().await).await;
    add(
        &chaos,
        "p",
        Stream::Downstream,
        ToxicKind::ResetPeer { timeout: 0 },
    )
    .await;
    let mut s = connect(addr).await;
    s.write_all(b"ping").await.unwrap();
    let (got, _, err) = read_all(&mut s).await;
    assert!(got.is_empty(), "no data passes: {got:?}");
    assert_eq!(err.map(|e| e.kind()), Some(ErrorKind::ConnectionReset));

    // with a timeout: the reset comes that long after the first data
    chaos
        .update_toxic(
            "p",
            "reset_peer_downstream",
            Some(ToxicKind::ResetPeer { timeout: 300 }),
            None,
        )
        .await
        .unwrap();
    let mut s = connect(addr).await;
    let start = Instant::now();
    s.write_all(b"ping").await.unwrap();
    let (_, _, err) = read_all(&mut s).await;
    let after = ms(start.elapsed());
    println!("reset_peer timeout 300: reset after {after:.1} ms");
    assert_eq!(err.map(|e| e.kind()), Some(ErrorKind::ConnectionReset));
    assert!((290.0..1000.0).contains(&after), "{after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_holds_then_closes() {
    let chaos = Chaos::new();
    let addr = proxy(&chaos, "p", echo_server().await).await;
    add(
        &chaos,
        "p",
        Stream::Downstream,
        ToxicKind::Timeout { timeout: 500 },
    )
    .await;
    let start = Instant::now();
    let mut s = connect(addr).await;
    s.write_all(b"hello").await.unwrap();
    let (got, _, err) = read_all(&mut s).await;
    let after = ms(start.elapsed());
    println!("timeout 500: closed after {after:.1} ms ({err:?})");
    assert!(got.is_empty(), "nothing passes: {got:?}");
    assert!((490.0..1500.0).contains(&after), "{after}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_zero_holds_until_removed() {
    let chaos = Chaos::new();
    let addr = proxy(&chaos, "p", echo_server().await).await;
    add(
        &chaos,
        "p",
        Stream::Downstream,
        ToxicKind::Timeout { timeout: 0 },
    )
    .await;
    let mut s = connect(addr).await;
    s.write_all(b"hello").await.unwrap();
    let mut b = [0u8; 5];
    let held = tokio::time::timeout(Duration::from_millis(600), s.read(&mut b)).await;
    assert!(held.is_err(), "data passed a timeout toxic: {held:?}");
    chaos.remove_toxic("p", "timeout_downstream").await.unwrap();
    bounded(s.read_exact(&mut b)).await.unwrap();
    assert_eq!(
        &b, b"hello",
        "held data flows intact once the toxic is gone"
    );
    assert!(ms(rtt(&mut s).await) < 100.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slicer_splits_writes() {
    let payload: Vec<u8> = (0..4000u32).map(|i| i as u8).collect();
    let chaos = Chaos::new();
    let addr = proxy(&chaos, "p", source_server(payload.clone()).await).await;

    let (got, plain_reads, _) = read_all(&mut connect(addr).await).await;
    assert_eq!(got, payload);

    add(
        &chaos,
        "p",
        Stream::Downstream,
        ToxicKind::Slicer {
            average_size: 100,
            size_variation: 20,
            delay: 3000,
        },
    )
    .await;
    let (got, reads, err) = read_all(&mut connect(addr).await).await;
    println!("slicer 100±20 B, 3 ms: 4000 B in {reads} reads (without: {plain_reads})");
    assert!(err.is_none());
    assert_eq!(got, payload, "slices arrive complete and in order");
    assert!(plain_reads <= 3, "control: {plain_reads}");
    assert!(reads >= 25, "only {reads} reads");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_data_closes_after_n_bytes() {
    let chaos = Chaos::new();
    let addr = proxy(&chaos, "p", source_server(vec![1u8; 10_000]).await).await;
    add(
        &chaos,
        "p",
        Stream::Downstream,
        ToxicKind::LimitData { bytes: 1000 },
    )
    .await;
    let (got, _, _) = read_all(&mut connect(addr).await).await;
    assert_eq!(got.len(), 1000);
    // a limit larger than the stream changes nothing
    chaos
        .update_toxic(
            "p",
            "limit_data_downstream",
            Some(ToxicKind::LimitData { bytes: 20_000 }),
            None,
        )
        .await
        .unwrap();
    let (got, _, err) = read_all(&mut connect(addr).await).await;
    assert!(err.is_none());
    assert_eq!(got.len(), 10_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_close_delays_the_fin() {
    let chaos = Chaos::new();
    let addr = proxy(&chaos, "p", source_server(b"bye".to_vec()).await).await;

    let start = Instant::now();
    let (got, _, _) = read_all(&mut connect(addr).await).await;
    let plain = ms(start.elapsed());
    assert_eq!(got, b"bye");

    add(
        &chaos,
        "p",
        Stream::Downstream,
        ToxicKind::SlowClose { delay: 500 },
    )
    .await;
    let start = Instant::now();
    let mut s = connect(addr).await;
    let mut b = [0u8; 3];
    bounded(s.read_exact(&mut b)).await.unwrap();
    let data_at = ms(start.elapsed());
    let (rest, _, err) = read_all(&mut s).await;
    let fin_at = ms(start.elapsed());
    println!("slow_close 500: data after {data_at:.1} ms, FIN after {fin_at:.1} ms (without: {plain:.1} ms)");
    assert!(rest.is_empty() && err.is_none());
    assert!(data_at < 200.0, "data is not delayed: {data_at}");
    assert!((495.0..1500.0).contains(&fin_at), "{fin_at}");
    assert!(plain < 200.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toxicity_half_affects_about_half_of_200_connections() {
    let chaos = Chaos::new();
    let addr = proxy(&chaos, "p", echo_server().await).await;
    chaos
        .add_toxic(
            "p",
            NewToxic::new(ToxicKind::Latency {
                latency: 100,
                jitter: 0,
            })
            .toxicity(0.5),
        )
        .await
        .unwrap();
    let mut affected = 0;
    for _batch in 0..4 {
        let mut tasks = Vec::new();
        for _ in 0..50 {
            tasks.push(tokio::spawn(async move {
                let mut s = connect(addr).await;
                rtt(&mut s).await
            }));
        }
        for t in tasks {
            if ms(t.await.unwrap()) >= 90.0 {
                affected += 1;
            }
        }
    }
    println!("toxicity 0.5: {affected} of 200 connections affected");
    assert!((70..=130).contains(&affected), "{affected}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_proxy_refuses_and_drops_connections() {
    let chaos = Chaos::new();
    let addr = proxy(&chaos, "p", echo_server().await).await;
    let mut live = connect(addr).await;
    assert!(ms(rtt(&mut live).await) < 100.0);

    chaos.set_enabled("p", false).await.unwrap();
    let err = TcpStream::connect(addr)
        .await
        .expect_err("a disabled proxy must refuse");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    let (got, _, _) = read_all(&mut live).await; // EOF or reset, not a hang
    assert!(got.is_empty());

    let info = chaos.set_enabled("p", true).await.unwrap();
    assert_eq!(info.listen_addr(), Some(addr), "back on the same port");
    let mut s = connect(addr).await;
    assert!(ms(rtt(&mut s).await) < 100.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loss_delays_a_fraction_of_chunks_by_the_rto() {
    let chaos = Chaos::with_seed(7);
    let addr = proxy(&chaos, "p", echo_server().await).await;
    add(
        &chaos,
        "p",
        Stream::Downstream,
        ToxicKind::Loss {
            probability: 0.3,
            rto: 100,
        },
    )
    .await;
    let mut s = connect(addr).await;
    let v = rtts(&mut s, 60).await;
    let hit = v.iter().filter(|d| ms(**d) >= 95.0).count();
    println!("loss 0.3, rto 100: {hit} of 60 round trips delayed");
    assert!((6..=33).contains(&hit), "{hit}");
    assert!(v.iter().all(|d| ms(*d) < 180.0), "one rto at most: {v:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toxics_act_on_live_connections_and_leave_again() {
    let chaos = Chaos::new();
    let addr = proxy(&chaos, "p", echo_server().await).await;
    let mut s = connect(addr).await;
    assert!(ms(p50(&rtts(&mut s, 3).await)) < 50.0);
    add(
        &chaos,
        "p",
        Stream::Downstream,
        ToxicKind::Latency {
            latency: 150,
            jitter: 0,
        },
    )
    .await;
    let slow = rtts(&mut s, 3).await;
    assert!(slow.iter().all(|d| ms(*d) >= 148.0), "{slow:?}");
    chaos.remove_toxic("p", "latency_downstream").await.unwrap();
    let fast = rtts(&mut s, 3).await;
    assert!(fast.iter().all(|d| ms(*d) < 50.0), "{fast:?}");
}

/// 1 MiB of varied bytes through echo with slicing and latency, half-closed by the client:
/// every byte comes back in order and the FIN arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_and_half_close_survive_toxics() {
    let data: Vec<u8> = (0..1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let chaos = Chaos::new();
    let addr = proxy(&chaos, "p", echo_server().await).await;
    for toxics in [false, true] {
        if toxics {
            add(
                &chaos,
                "p",
                Stream::Upstream,
                ToxicKind::Slicer {
                    average_size: 9000,
                    size_variation: 3000,
                    delay: 0,
                },
            )
            .await;
            add(
                &chaos,
                "p",
                Stream::Downstream,
                ToxicKind::Latency {
                    latency: 5,
                    jitter: 5,
                },
            )
            .await;
        }
        let s = connect(addr).await;
        let (mut r, mut w) = s.into_split();
        let d = data.clone();
        let writer = tokio::spawn(async move {
            w.write_all(&d).await.unwrap();
            w.shutdown().await.unwrap();
        });
        let mut back = Vec::new();
        bounded(r.read_to_end(&mut back)).await.unwrap();
        writer.await.unwrap();
        assert!(back == data, "echo differs (toxics: {toxics})");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_upstream_closes_the_client() {
    // a port that was just free
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let chaos = Chaos::new();
    let addr = chaos
        .create_proxy(ProxyConfig::new("p", dead.to_string()))
        .await
        .unwrap()
        .listen_addr()
        .unwrap();
    let start = Instant::now();
    let mut s = connect(addr).await;
    let (got, _, _) = read_all(&mut s).await;
    assert!(got.is_empty());
    assert!(start.elapsed() < Duration::from_secs(2));
}
