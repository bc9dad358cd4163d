//! What the client puts on the wire, read by a raw TCP server: request framing headers that a
//! strict server or proxy would judge.

use std::sync::{Arc, Mutex};

use ossguard::{Body, Client, Credentials, Policy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Reads one request head (through the blank line); `None` when the peer closed.
async fn read_head(s: &mut tokio::net::TcpStream) -> Option<String> {
    let mut buf = Vec::new();
    let mut b = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        if s.read(&mut b).await.unwrap_or(0) == 0 {
            return None;
        }
        buf.push(b[0]);
    }
    Some(String::from_utf8_lossy(&buf).to_lowercase())
}

/// Answers every request with 200, an ETag and (for GET) a two-byte body; records each head.
async fn recording_server() -> (String, Arc<Mutex<Vec<String>>>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let heads = Arc::new(Mutex::new(Vec::new()));
    let seen = heads.clone();
    tokio::spawn(async move {
        for _ in 0..20 {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            let seen = seen.clone();
            tokio::spawn(async move {
                for _ in 0..20 {
                    let Some(head) = read_head(&mut s).await else {
                        return;
                    };
                    let body: &[u8] = if head.starts_with("get ") { b"hi" } else { b"" };
                    seen.lock().unwrap().push(head);
                    let h = format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\netag: \"e1\"\r\n\r\n",
                        body.len()
                    );
                    s.write_all(h.as_bytes()).await.unwrap();
                    s.write_all(body).await.unwrap();
                }
            });
        }
    });
    (format!("http://{addr}"), heads)
}

fn head_of<'a>(heads: &'a [String], method: &str) -> &'a str {
    heads
        .iter()
        .find(|h| h.starts_with(method))
        .unwrap_or_else(|| panic!("no {method} request in {heads:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_carry_no_content_length_and_an_empty_put_says_zero() {
    let (ep, heads) = recording_server().await;
    let c = Client::builder()
        .endpoint(ep)
        .credentials(Credentials::new("ak", "sk"))
        .policy(Policy::default())
        .build()
        .unwrap();
    let got = c
        .get_object("bucket", "key", Default::default())
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&got[..], b"hi");
    c.head_object("bucket", "key").await.unwrap();
    c.put_object("bucket", "empty", Body::empty(), Default::default())
        .await
        .unwrap();
    let heads = heads.lock().unwrap().clone();
    // RFC 9110 §8.6: no Content-Length on a request without content whose method gives it no
    // meaning; a PUT of nothing must still say 0 (OSS answers 411 without a length).
    for m in ["get ", "head "] {
        let h = head_of(&heads, m);
        assert!(!h.contains("content-length"), "{m}carries a length: {h}");
        assert!(!h.contains("transfer-encoding"), "{m}is chunked: {h}");
    }
    let put = head_of(&heads, "put ");
    assert!(put.contains("content-length: 0\r\n"), "{put}");
}
