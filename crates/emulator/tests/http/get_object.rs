//! GetObject: ranges (good and bad), conditional requests, response overrides, user metadata.

use std::time::{Duration, SystemTime};

use http::Method;
use ossguard_proto::Request;

use crate::client::{with_headers, Reply, Sig, TestServer};
use crate::raw;

const BODY: &[u8] = b"0123456789";

async fn server() -> TestServer {
    let s = TestServer::start().await;
    s.create_bucket("get").await;
    assert_eq!(s.put("get", "digits", BODY).await.status, 200);
    s
}

async fn get_with(s: &TestServer, headers: &[(&str, &str)]) -> Reply {
    let req = with_headers(
        Request::new(Method::GET, Some("get"), Some("digits")),
        headers,
    );
    s.send(req, vec![], Sig::V4).await
}

#[tokio::test]
async fn byte_ranges() {
    let s = server().await;
    let whole_crc = ossguard_proto::crc64::checksum(BODY).to_string();
    for (range, body, content_range) in [
        ("bytes=0-4", &b"01234"[..], "bytes 0-4/10"),
        ("bytes=5-", b"56789", "bytes 5-9/10"),
        ("bytes=-3", b"789", "bytes 7-9/10"),
        ("bytes=3-3", b"3", "bytes 3-3/10"),
        // Several ranges: OSS answers the first.
        ("bytes=0-1,3-4", b"01", "bytes 0-1/10"),
    ] {
        let r = get_with(&s, &[("range", range)]).await;
        assert_eq!(r.status, 206, "{range}");
        assert_eq!(r.body, body, "{range}");
        assert_eq!(r.header("content-range").as_deref(), Some(content_range));
        assert_eq!(
            r.header("content-length"),
            Some(body.len().to_string()),
            "{range}"
        );
        assert_eq!(r.header("x-oss-hash-crc64ecma"), Some(whole_crc.clone()));
    }
}

#[tokio::test]
async fn malformed_ranges_give_the_whole_object() {
    let s = server().await;
    for range in [
        "bytes=abc",
        "bytes=5-1",
        "bytes=",
        "bytes=-",
        "items=0-1",
        "bytes=--1",
        "bytes=99999999999999999999999-",
    ] {
        for strict in [false, true] {
            let mut h = vec![("range", range)];
            if strict {
                h.push(("x-oss-range-behavior", "standard"));
            }
            let req = with_headers(Request::new(Method::GET, Some("get"), Some("digits")), &h);
            let r = s.send(req, vec![], Sig::V4).await;
            assert_eq!(
                (r.status, r.body.as_slice()),
                (200, BODY),
                "{range:?} strict={strict}"
            );
            assert!(r.header("content-range").is_none());
        }
    }
}

/// OSS's range documentation: a range reaching past the object is ignored (200, whole
/// object) unless `x-oss-range-behavior: standard` asks for it clamped (206).
#[tokio::test]
async fn ranges_past_the_end_are_ignored_unless_standard_behaviour_is_asked_for() {
    let s = server().await;
    for (range, clamped, content_range) in [
        ("bytes=8-100", &b"89"[..], "bytes 8-9/10"),
        ("bytes=0-10", BODY, "bytes 0-9/10"),
        ("bytes=-100", BODY, "bytes 0-9/10"),
    ] {
        let r = get_with(&s, &[("range", range)]).await;
        assert_eq!((r.status, r.body.as_slice()), (200, BODY), "{range}");
        assert!(r.header("content-range").is_none(), "{range}");
        let r = get_with(
            &s,
            &[("range", range), ("x-oss-range-behavior", "standard")],
        )
        .await;
        assert_eq!((r.status, r.body.as_slice()), (206, clamped), "{range}");
        assert_eq!(r.header("content-range").as_deref(), Some(content_range));
    }
}

#[tokio::test]
async fn unsatisfiable_ranges() {
    let s = server().await;
    for range in ["bytes=10-", "bytes=10-20", "bytes=100-200", "bytes=-0"] {
        // Legacy OSS: ignore the range, send everything.
        let r = get_with(&s, &[("range", range)]).await;
        assert_eq!((r.status, r.body.as_slice()), (200, BODY), "{range}");
        // Standard behaviour on request: 416 InvalidRange.
        let r = get_with(
            &s,
            &[("range", range), ("x-oss-range-behavior", "standard")],
        )
        .await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (416, "InvalidRange"),
            "{range}: {}",
            r.text()
        );
        assert_eq!(r.header("content-range").as_deref(), Some("bytes */10"));
    }
    // An empty object has no satisfiable range at all.
    assert_eq!(s.put("get", "empty", b"").await.status, 200);
    let req = with_headers(
        Request::new(Method::GET, Some("get"), Some("empty")),
        &[("range", "bytes=0-0"), ("x-oss-range-behavior", "standard")],
    );
    assert_eq!(s.send(req, vec![], Sig::V4).await.status, 416);
}

#[tokio::test]
async fn conditional_gets() {
    let s = server().await;
    let etag = s.get("get", "digits").await.header("etag").unwrap();
    let fmt = |t: SystemTime| ossguard_proto::time::rfc1123(t);
    let past = fmt(SystemTime::now() - Duration::from_secs(3600));
    let future = fmt(SystemTime::now() + Duration::from_secs(3600));
    let other = "\"00000000000000000000000000000000\"";
    for (h, v, status) in [
        ("if-match", etag.as_str(), 200),
        ("if-match", other, 412),
        ("if-match", "*", 200),
        ("if-none-match", etag.as_str(), 304),
        ("if-none-match", other, 200),
        ("if-modified-since", past.as_str(), 200),
        ("if-modified-since", future.as_str(), 304),
        ("if-unmodified-since", past.as_str(), 412),
        ("if-unmodified-since", future.as_str(), 200),
    ] {
        let r = get_with(&s, &[(h, v)]).await;
        assert_eq!(r.status, status, "{h}: {v}: {}", r.text());
        match status {
            200 => assert_eq!(r.body, BODY),
            304 => {
                assert!(r.body.is_empty(), "304 with a body");
                assert_eq!(r.header("etag").as_deref(), Some(etag.as_str()));
            }
            _ => assert_eq!(r.code(), "PreconditionFailed"),
        }
        // HEAD answers the same way, without a body.
        let req = with_headers(
            Request::new(Method::HEAD, Some("get"), Some("digits")),
            &[(h, v)],
        );
        let r = s.send(req, vec![], Sig::V4).await;
        assert_eq!(r.status, status, "HEAD {h}: {v}");
        assert!(r.body.is_empty());
    }
    // If-Match wins over If-Unmodified-Since; If-None-Match over If-Modified-Since (RFC 7232).
    let r = get_with(&s, &[("if-match", &etag), ("if-unmodified-since", &past)]).await;
    assert_eq!(r.status, 200);
    let r = get_with(
        &s,
        &[("if-none-match", other), ("if-modified-since", &future)],
    )
    .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn response_header_overrides() {
    let s = server().await;
    for sig in [Sig::V1, Sig::V4] {
        let req = Request::new(Method::GET, Some("get"), Some("digits"))
            .with_query("response-content-type", "text/x-override; charset=utf-8")
            .with_query(
                "response-content-disposition",
                "attachment; filename=\"d.txt\"",
            )
            .with_query("response-cache-control", "no-cache");
        let r = s.send(req, vec![], sig).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("text/x-override; charset=utf-8")
        );
        assert_eq!(
            r.header("content-disposition").as_deref(),
            Some("attachment; filename=\"d.txt\"")
        );
        assert_eq!(r.header("cache-control").as_deref(), Some("no-cache"));
        assert_eq!(r.body, BODY);
    }
    // The override is signed: changing it after signing breaks the V1 signature.
    let mut req = s.sign(
        Request::new(Method::GET, Some("get"), Some("digits"))
            .with_query("response-content-type", "text/plain"),
        Sig::V1,
    );
    req.query[0].1 = "text/html".into();
    assert_eq!(
        s.send_raw(&req, vec![]).await.code(),
        "SignatureDoesNotMatch"
    );
}

#[tokio::test]
async fn user_metadata_round_trip_with_lower_cased_names() {
    let s = server().await;
    let req = s.sign(
        with_headers(
            Request::new(Method::PUT, Some("get"), Some("meta")),
            &[
                ("x-oss-meta-author", "Alice Smith"),
                ("x-oss-meta-project-id", "Demo-42"),
                ("content-type", "text/plain"),
                ("cache-control", "max-age=60"),
            ],
        ),
        Sig::V1,
    );
    // Header names in mixed case on the wire, as the Go SDK sends them.
    let headers: Vec<(String, String)> = raw::header_pairs(&req)
        .into_iter()
        .map(|(n, v)| (n.replace("x-oss-meta-", "X-Oss-Meta-").to_uppercase(), v))
        .collect();
    let head = raw::head("PUT", "/get/meta", &headers, 4);
    let r = raw::exchange(s.addr(), head.as_bytes(), b"data").await;
    assert_eq!(r.status, 200, "{}", r.text());

    for method in [Method::GET, Method::HEAD] {
        let r = s
            .send(
                Request::new(method.clone(), Some("get"), Some("meta")),
                vec![],
                Sig::V4,
            )
            .await;
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("x-oss-meta-author").as_deref(),
            Some("Alice Smith")
        );
        assert_eq!(
            r.header("x-oss-meta-project-id").as_deref(),
            Some("Demo-42")
        );
        assert_eq!(r.header("content-type").as_deref(), Some("text/plain"));
        assert_eq!(r.header("cache-control").as_deref(), Some("max-age=60"));
        // On the wire the names come back lower-cased.
        let req = s.sign(
            Request::new(method.clone(), Some("get"), Some("meta")),
            Sig::V4,
        );
        let head = raw::head(method.as_str(), "/get/meta", &raw::header_pairs(&req), 0);
        let answer = raw::exchange_bytes(s.addr(), head.as_bytes(), &[]).await;
        let text = String::from_utf8_lossy(&answer);
        let mut names: Vec<&str> = text
            .lines()
            .filter_map(|l| l.split_once(':').map(|(n, _)| n))
            .filter(|n| n.to_ascii_lowercase().starts_with("x-oss-meta-"))
            .collect();
        names.sort();
        assert_eq!(names, ["x-oss-meta-author", "x-oss-meta-project-id"]);
    }
}

/// A ranged GET with If-Match races replacements of its object by a smaller one: the answer is
/// that version's range or 412, never a 416 for a range that held when the conditions were
/// checked, nor the other version's bytes (the server checked conditions and range on one
/// version and read another). Bounded: 600 GETs, 20 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conditions_and_range_hold_for_the_version_that_is_read() {
    let s = std::sync::Arc::new(server().await);
    let big: Vec<u8> = (0..256 * 1024u32).map(|i| (i % 251) as u8).collect();
    let put = s.put("get", "swap", &big).await;
    let etag = put.header("etag").unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (s, big, stop) = (s.clone(), big.clone(), stop.clone());
        tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && i < 20_000 {
                let body: &[u8] = if i % 2 == 0 { b"v2" } else { &big };
                assert_eq!(s.put("get", "swap", body).await.status, 200);
                i += 1;
            }
        })
    };
    let started = std::time::Instant::now();
    let (mut ranged, mut refused) = (0, 0);
    for _ in 0..600 {
        if started.elapsed() > Duration::from_secs(20) {
            break;
        }
        let req = with_headers(
            Request::new(Method::GET, Some("get"), Some("swap")),
            &[("range", "bytes=131072-262143"), ("if-match", &etag)],
        );
        let r = s.send(req, vec![], Sig::V4).await;
        match r.status {
            206 => {
                assert!(r.body == big[131072..], "206 with another version's bytes");
                ranged += 1;
            }
            412 => refused += 1,
            other => panic!("{other} {}: {}", r.code(), r.text()),
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.await.unwrap();
    println!("{ranged} ranges of the matching version, {refused} refused (412)");
    assert!(
        ranged > 0 && refused > 0,
        "{ranged} / {refused}: the race never ran"
    );
}

/// `x-oss-server-side-encryption` is recorded and reported on the write's answer and on reads
/// (the SDKs' encryption checks read it back); a value OSS does not know is refused and
/// nothing is stored.
#[tokio::test]
async fn server_side_encryption_is_reported_back() {
    let s = server().await;
    let put = |key: &'static str, headers: &'static [(&'static str, &'static str)]| {
        with_headers(Request::new(Method::PUT, Some("get"), Some(key)), headers)
    };
    let r = s
        .send(
            put("aes", &[("x-oss-server-side-encryption", "AES256")]),
            b"a".to_vec(),
            Sig::V4,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("x-oss-server-side-encryption").as_deref(),
        Some("AES256")
    );
    let kms = &[
        ("x-oss-server-side-encryption", "KMS"),
        ("x-oss-server-side-encryption-key-id", "key-1"),
    ];
    assert_eq!(
        s.send(put("kms", kms), b"k".to_vec(), Sig::V1).await.status,
        200
    );
    for (key, sse, id) in [
        ("aes", Some("AES256"), None),
        ("kms", Some("KMS"), Some("key-1")),
        ("digits", None, None),
    ] {
        for method in [Method::GET, Method::HEAD] {
            let r = s
                .send(
                    Request::new(method.clone(), Some("get"), Some(key)),
                    vec![],
                    Sig::V4,
                )
                .await;
            assert_eq!(r.status, 200);
            assert_eq!(
                r.header("x-oss-server-side-encryption").as_deref(),
                sse,
                "{method} {key}"
            );
            assert_eq!(
                r.header("x-oss-server-side-encryption-key-id").as_deref(),
                id,
                "{key}"
            );
        }
    }
    let r = s
        .send(
            put("des", &[("x-oss-server-side-encryption", "DES")]),
            b"d".to_vec(),
            Sig::V4,
        )
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "InvalidEncryptionAlgorithmError")
    );
    assert_eq!(s.get("get", "des").await.status, 404);
}
