//! Local servers and measuring helpers for the chaos tests (127.0.0.1 only).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ossguard_chaos::{Chaos, NewToxic, ProxyConfig, Stream, ToxicKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Every network wait in the tests is bounded by this.
pub const LIMIT: Duration = Duration::from_secs(20);

pub async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, f).await.expect("bounded wait")
}

/// Echoes every byte back; after the client's FIN, finishes echoing and closes.
pub async fn echo_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let _ = s.set_nodelay(true);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if s.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
                let _ = s.shutdown().await;
            });
        }
    });
    addr
}

/// On each connection writes `payload` in one write, then closes its side and drains.
pub async fn source_server(payload: Vec<u8>) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let payload = std::sync::Arc::new(payload);
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let payload = payload.clone();
            tokio::spawn(async move {
                let _ = s.set_nodelay(true);
                let _ = s.write_all(&payload).await;
                let _ = s.shutdown().await;
                let mut sink = [0u8; 1024];
                while let Ok(n) = s.read(&mut sink).await {
                    if n == 0 {
                        break;
                    }
                }
            });
        }
    });
    addr
}

/// A proxy named `name` in front of `upstream`; returns its address.
pub async fn proxy(chaos: &Chaos, name: &str, upstream: SocketAddr) -> SocketAddr {
    chaos
        .create_proxy(ProxyConfig::new(name, upstream.to_string()))
        .await
        .unwrap()
        .listen_addr()
        .unwrap()
}

pub async fn add(chaos: &Chaos, proxy: &str, stream: Stream, kind: ToxicKind) {
    chaos
        .add_toxic(proxy, NewToxic::new(kind).stream(stream))
        .await
        .unwrap();
}

pub async fn connect(addr: SocketAddr) -> TcpStream {
    let s = bounded(TcpStream::connect(addr)).await.unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// One 1-byte round trip through an echo server.
pub async fn rtt(s: &mut TcpStream) -> Duration {
    let start = Instant::now();
    s.write_all(b"x").await.unwrap();
    let mut b = [0u8; 1];
    bounded(s.read_exact(&mut b)).await.unwrap();
    start.elapsed()
}

pub async fn rtts(s: &mut TcpStream, n: usize) -> Vec<Duration> {
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(rtt(s).await);
    }
    v
}

pub fn p50(v: &[Duration]) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    v[v.len() / 2]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Reads until EOF or error; returns (bytes, number of reads, the error if any).
pub async fn read_all(s: &mut TcpStream) -> (Vec<u8>, usize, Option<std::io::Error>) {
    let mut out = Vec::new();
    let mut reads = 0;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match bounded(s.read(&mut buf)).await {
            Ok(0) => return (out, reads, None),
            Ok(n) => {
                reads += 1;
                out.extend_from_slice(&buf[..n]);
            }
            Err(e) => return (out, reads, Some(e)),
        }
    }
}
