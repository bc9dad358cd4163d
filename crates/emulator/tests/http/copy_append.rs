//! CopyObject (COPY vs REPLACE metadata, copy-source conditions) and AppendObject positions.

use http::Method;
use ossguard_proto::crc64::checksum;
use ossguard_proto::Request;

use crate::client::{with_headers, Reply, Sig, TestServer};

async fn copy(s: &TestServer, dst: &str, headers: &[(&str, &str)]) -> Reply {
    let mut h = vec![("x-oss-copy-source", "/cpy/src%20file")];
    h.extend_from_slice(headers);
    s.send(
        with_headers(Request::new(Method::PUT, Some("cpy"), Some(dst)), &h),
        vec![],
        Sig::V4,
    )
    .await
}

#[tokio::test]
async fn copy_object_copy_and_replace_metadata() {
    let s = TestServer::start().await;
    s.create_bucket("cpy").await;
    let put = with_headers(
        Request::new(Method::PUT, Some("cpy"), Some("src file")),
        &[("x-oss-meta-a", "1"), ("content-type", "text/plain")],
    );
    let r = s.send(put, b"copy me".to_vec(), Sig::V4).await;
    assert_eq!(r.status, 200);
    let src_etag = r.header("etag").unwrap();

    // COPY (the default): source metadata, request metadata ignored.
    let r = copy(
        &s,
        "dst-copy",
        &[("x-oss-meta-b", "2"), ("content-type", "x/y")],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let result: ossguard_proto::xml::CopyObjectResult = r.xml();
    assert_eq!(result.etag, src_etag);
    assert_eq!(
        r.header("x-oss-hash-crc64ecma"),
        Some(checksum(b"copy me").to_string())
    );
    let g = s.get("cpy", "dst-copy").await;
    assert_eq!(g.body, b"copy me");
    assert_eq!(g.header("x-oss-meta-a").as_deref(), Some("1"));
    assert_eq!(g.header("x-oss-meta-b"), None);
    assert_eq!(g.header("content-type").as_deref(), Some("text/plain"));

    // REPLACE: only the request's metadata.
    let r = copy(
        &s,
        "dst-replace",
        &[
            ("x-oss-metadata-directive", "REPLACE"),
            ("x-oss-meta-b", "2"),
            ("content-type", "application/json"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let g = s.get("cpy", "dst-replace").await;
    assert_eq!(g.body, b"copy me");
    assert_eq!(g.header("x-oss-meta-a"), None);
    assert_eq!(g.header("x-oss-meta-b").as_deref(), Some("2"));
    assert_eq!(
        g.header("content-type").as_deref(),
        Some("application/json")
    );
}

#[tokio::test]
async fn copy_source_conditions_and_errors() {
    let s = TestServer::start().await;
    s.create_bucket("cpy").await;
    let etag = s
        .put("cpy", "src file", b"abc")
        .await
        .header("etag")
        .unwrap();
    let wrong = "\"0123456789ABCDEF0123456789ABCDEF\"";
    let r = copy(&s, "d1", &[("x-oss-copy-source-if-match", wrong)]).await;
    assert_eq!((r.status, r.code().as_str()), (412, "PreconditionFailed"));
    let r = copy(&s, "d1", &[("x-oss-copy-source-if-none-match", &etag)]).await;
    assert_eq!((r.status, r.code().as_str()), (412, "PreconditionFailed"));
    assert_eq!(s.get("cpy", "d1").await.code(), "NoSuchKey");
    let r = copy(&s, "d1", &[("x-oss-copy-source-if-match", &etag)]).await;
    assert_eq!(r.status, 200, "{}", r.text());

    // Missing source, missing source bucket, unparsable source.
    for (src, code) in [
        ("/cpy/nothing-here", "NoSuchKey"),
        ("/nobucket/x", "NoSuchBucket"),
        ("garbage", "InvalidArgument"),
        ("/cpy/", "InvalidArgument"),
        ("/cpy/%ff", "InvalidArgument"),
        ("/../cpy/src%20file", "InvalidBucketName"),
        ("/%2E%2E/buckets", "InvalidBucketName"),
    ] {
        let req = with_headers(
            Request::new(Method::PUT, Some("cpy"), Some("d2")),
            &[("x-oss-copy-source", src)],
        );
        let r = s.send(req, vec![], Sig::V4).await;
        assert_eq!(r.code(), code, "{src}: {}", r.text());
    }
    // Onto itself without REPLACE is refused; with REPLACE it rewrites the metadata.
    let r = copy(&s, "src file", &[]).await;
    assert_eq!(r.status, 400, "{}", r.text());
    let r = copy(
        &s,
        "src file",
        &[
            ("x-oss-metadata-directive", "REPLACE"),
            ("x-oss-meta-n", "v"),
        ],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let g = s.get("cpy", "src file").await;
    assert_eq!(
        (g.body.as_slice(), g.header("x-oss-meta-n")),
        (&b"abc"[..], Some("v".into()))
    );
}

async fn append(s: &TestServer, key: &str, position: u64, body: &[u8]) -> Reply {
    s.send(
        Request::new(Method::POST, Some("app"), Some(key))
            .with_query("append", "")
            .with_query("position", &position.to_string()),
        body.to_vec(),
        Sig::V4,
    )
    .await
}

#[tokio::test]
async fn append_object_positions() {
    let s = TestServer::start().await;
    s.create_bucket("app").await;
    let mut all = Vec::new();
    for chunk in [&b"abc"[..], b"", b"defgh", b"i"] {
        let r = append(&s, "log", all.len() as u64, chunk).await;
        all.extend_from_slice(chunk);
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(
            r.header("x-oss-next-append-position"),
            Some(all.len().to_string())
        );
        assert_eq!(
            r.header("x-oss-hash-crc64ecma"),
            Some(checksum(&all).to_string())
        );
    }
    // Wrong positions: 409 with the right next position; nothing appended.
    for wrong in [0, 3, 100] {
        let r = append(&s, "log", wrong, b"zzz").await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (409, "PositionNotEqualToLength"),
            "{wrong}"
        );
        assert_eq!(
            r.header("x-oss-next-append-position"),
            Some(all.len().to_string())
        );
    }
    let g = s.get("app", "log").await;
    assert_eq!(g.body, all);
    assert_eq!(g.header("x-oss-object-type").as_deref(), Some("Appendable"));
    assert_eq!(
        g.header("x-oss-next-append-position"),
        Some(all.len().to_string())
    );

    // A new object must start at 0.
    let r = append(&s, "fresh", 5, b"x").await;
    assert_eq!(r.code(), "PositionNotEqualToLength");
    assert_eq!(r.header("x-oss-next-append-position").as_deref(), Some("0"));
    assert_eq!(s.get("app", "fresh").await.status, 404);

    // Normal objects cannot be appended to.
    assert_eq!(s.put("app", "normal", b"n").await.status, 200);
    let r = append(&s, "normal", 1, b"x").await;
    assert_eq!((r.status, r.code().as_str()), (409, "ObjectNotAppendable"));
    assert_eq!(s.get("app", "normal").await.body, b"n");

    // A missing or non-numeric position is a client error.
    for q in [None, Some("abc"), Some("-1")] {
        let mut req = Request::new(Method::POST, Some("app"), Some("log")).with_query("append", "");
        if let Some(p) = q {
            req = req.with_query("position", p);
        }
        let r = s.send(req, b"x".to_vec(), Sig::V4).await;
        assert_eq!(r.status, 400, "{q:?}: {}", r.text());
    }
    assert_eq!(s.get("app", "log").await.body, all);
}

/// One HTTP/1.1 response from a keep-alive connection: status and body (Content-Length framed).
async fn read_response(sock: &mut tokio::net::TcpStream) -> Option<(u16, Vec<u8>)> {
    use tokio::io::AsyncReadExt;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some((status, buf[head_end..head_end + len].to_vec()))
}

/// A wrong-position append is refused before its body is read; the connection must stay
/// usable for the next request (oss2 and the Go SDK reuse it and failed ~5 % of the time).
#[tokio::test]
async fn a_refused_append_leaves_the_keep_alive_connection_usable() {
    use tokio::io::AsyncWriteExt;
    let s = TestServer::start().await;
    s.create_bucket("app").await;
    assert_eq!(append(&s, "log", 0, b"hello").await.status, 200);
    let mut sock = tokio::net::TcpStream::connect(s.addr()).await.unwrap();
    let pairs = |req: &Request| -> String {
        req.headers
            .iter()
            .filter(|(n, _)| *n != "host" && *n != "content-length")
            .map(|(n, v)| format!("{n}: {}\r\n", v.to_str().unwrap()))
            .collect()
    };
    for round in 0..3 {
        let req = s.sign(
            Request::new(Method::POST, Some("app"), Some("log"))
                .with_query("append", "")
                .with_query("position", "1"),
            Sig::V4,
        );
        let head = format!(
            "POST /app/log?append&position=1 HTTP/1.1\r\nhost: 127.0.0.1\r\n{}content-length: 3\r\n\r\n",
            pairs(&req)
        );
        sock.write_all(head.as_bytes()).await.unwrap();
        // The body arrives after the server has decided (its answer does not wait for it).
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        sock.write_all(b"abc").await.unwrap();
        let (status, _) = read_response(&mut sock).await.expect("an answer");
        assert_eq!(status, 409, "round {round}");

        let req = s.sign(Request::new(Method::GET, Some("app"), Some("log")), Sig::V4);
        let head = format!(
            "GET /app/log HTTP/1.1\r\nhost: 127.0.0.1\r\n{}content-length: 0\r\n\r\n",
            pairs(&req)
        );
        sock.write_all(head.as_bytes()).await.unwrap();
        let got = read_response(&mut sock).await;
        assert_eq!(
            got,
            Some((200, b"hello".to_vec())),
            "round {round}: the connection was closed after the refused append"
        );
    }
}
