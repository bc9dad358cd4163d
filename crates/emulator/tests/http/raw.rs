//! HTTP/1.1 by hand over a tokio `TcpStream`, for what reqwest will not send: `..` path segments
//! (its URL parser folds them), mixed-case header names, bodies shorter than Content-Length.

use std::net::SocketAddr;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};
use ossguard_proto::Request;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::client::Reply;

const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// The request head: request line, the given headers verbatim, `Host`, `Content-Length`,
/// `Connection: close`.
pub fn head(
    method: &str,
    path: &str,
    headers: &[(String, String)],
    content_length: usize,
) -> String {
    let mut h = format!("{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\n");
    for (n, v) in headers {
        h.push_str(&format!("{n}: {v}\r\n"));
    }
    h.push_str(&format!(
        "content-length: {content_length}\r\nconnection: close\r\n\r\n"
    ));
    h
}

/// The headers of a signed `Request` as (name, value) text pairs.
pub fn header_pairs(req: &Request) -> Vec<(String, String)> {
    req.headers
        .iter()
        .filter(|(n, _)| *n != "host" && *n != "content-length")
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_owned()))
        .collect()
}

/// Sends a signed `req` with `path` verbatim on the request line.
pub async fn send_path(addr: SocketAddr, req: &Request, path: &str, body: &[u8]) -> Reply {
    let head = head(req.method.as_str(), path, &header_pairs(req), body.len());
    exchange(addr, head.as_bytes(), body).await
}

/// Writes `head` + `body`, reads the whole answer (the server closes: `Connection: close`).
pub async fn exchange(addr: SocketAddr, head: &[u8], body: &[u8]) -> Reply {
    parse_response(&exchange_bytes(addr, head, body).await)
}

/// [`exchange`], returning the raw answer.
pub async fn exchange_bytes(addr: SocketAddr, head: &[u8], body: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(head).await.unwrap();
    s.write_all(body).await.unwrap();
    let mut buf = Vec::new();
    tokio::time::timeout(IO_TIMEOUT, s.read_to_end(&mut buf))
        .await
        .expect("the emulator answers in time")
        .unwrap();
    buf
}

/// Sends `head` and only `partial` of the body it announces, then closes our side. Returns
/// whatever the server answered (maybe nothing).
pub async fn send_truncated(addr: SocketAddr, head: &str, partial: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(partial).await.unwrap();
    s.flush().await.unwrap();
    // Let the server start on the body before the connection ends mid-way.
    tokio::time::sleep(Duration::from_millis(100)).await;
    s.shutdown().await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(IO_TIMEOUT, s.read_to_end(&mut buf)).await;
    buf
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Parses a complete HTTP/1.1 response (Content-Length, chunked or read-to-close framing).
pub fn parse_response(raw: &[u8]) -> Reply {
    let end = find(raw, b"\r\n\r\n").expect("a complete response head");
    let head = std::str::from_utf8(&raw[..end]).expect("ASCII response head");
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let mut headers = HeaderMap::new();
    for l in lines {
        let (n, v) = l.split_once(':').expect("name: value");
        headers.append(
            HeaderName::from_bytes(n.trim().as_bytes()).unwrap(),
            HeaderValue::from_str(v.trim()).unwrap(),
        );
    }
    let rest = &raw[end + 4..];
    let chunked = headers
        .get("transfer-encoding")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"chunked"));
    let body = if chunked {
        dechunk(rest)
    } else {
        match headers
            .get("content-length")
            .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        {
            Some(n) if status != 304 => rest[..n.min(rest.len())].to_vec(),
            _ => rest.to_vec(),
        }
    };
    Reply {
        status,
        headers,
        body,
    }
}

fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = find(rest, b"\r\n") {
        let size_text = std::str::from_utf8(&rest[..i]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.extend_from_slice(&rest[i + 2..i + 2 + size]);
        rest = &rest[i + 2 + size + 2..];
    }
    out
}
