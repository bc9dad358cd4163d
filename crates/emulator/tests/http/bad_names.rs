//! Hostile names: `..` keys stay inside the data folder, NUL and invalid UTF-8 are refused,
//! invalid bucket names get InvalidBucketName.

use std::path::{Path, PathBuf};

use http::Method;
use ossguard_proto::Request;

use crate::client::{Sig, TestServer};
use crate::raw;

/// Every file and folder under `dir` (symlinks not followed).
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            out.push(e.path());
            if e.file_type().unwrap().is_dir() {
                todo.push(e.path());
            }
        }
    }
    out
}

#[tokio::test]
async fn dot_dot_keys_are_ordinary_keys_inside_the_data_dir() {
    let s = TestServer::start().await;
    s.create_bucket("names").await;
    let marker = format!("ossguard-escape-{}", std::process::id());
    let keys = [
        "..".to_owned(),
        "../x".to_owned(),
        "../../x".to_owned(),
        "a/../../b".to_owned(),
        "./.".to_owned(),
        "..\\..\\win".to_owned(),
        format!("{}{marker}", "../".repeat(12)),
        format!("../../../{marker}"),
    ];
    for (i, key) in keys.iter().enumerate() {
        let body = format!("body {i}").into_bytes();
        // Sent with the `..` segments literally on the request line (no client folding).
        let path = format!("/names/{key}").replace('\\', "%5C");
        let put = s.sign(Request::new(Method::PUT, Some("names"), Some(key)), Sig::V4);
        let r = raw::send_path(s.addr(), &put, &path, &body).await;
        assert_eq!(r.status, 200, "PUT {key:?}: {}", r.text());
        let get = s.sign(Request::new(Method::GET, Some("names"), Some(key)), Sig::V4);
        let r = raw::send_path(s.addr(), &get, &path, &[]).await;
        assert_eq!((r.status, &r.body), (200, &body), "GET {key:?}");
    }
    // The listing shows exactly these keys.
    let r = s
        .send(
            Request::new(Method::GET, Some("names"), None),
            vec![],
            Sig::V4,
        )
        .await;
    let mut listed: Vec<String> = r
        .xml::<ossguard_proto::xml::ListBucketResult>()
        .contents
        .into_iter()
        .map(|c| c.key)
        .collect();
    let mut want = keys.to_vec();
    listed.sort();
    want.sort();
    assert_eq!(listed, want);

    // Nothing outside the data folder; no file named after a key anywhere.
    let data = s.data_dir().canonicalize().unwrap();
    for p in walk(s.dir.path()) {
        let c = p.canonicalize().unwrap();
        assert!(c.starts_with(&data), "{} escaped the data dir", c.display());
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            !name.contains("ossguard-escape") && name != "x" && name != "b" && name != "win",
            "a key became a file name: {}",
            p.display()
        );
    }
    for above in [
        s.dir.path().join(&marker),
        std::env::temp_dir().join(&marker),
    ] {
        assert!(!above.exists(), "{} was created", above.display());
    }
}

#[tokio::test]
async fn nul_and_bad_keys_are_invalid_object_names() {
    let s = TestServer::start().await;
    s.create_bucket("names").await;
    for key in [
        "a\0b",
        "\0",
        "/leading-slash",
        "\\leading-backslash",
        &"k".repeat(1024),
    ] {
        let r = s
            .send(
                Request::new(Method::PUT, Some("names"), Some(key)),
                b"x".to_vec(),
                Sig::V4,
            )
            .await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "InvalidObjectName"),
            "{key:?}: {}",
            r.text()
        );
    }
    let r = s
        .send(
            Request::new(Method::GET, Some("names"), None),
            vec![],
            Sig::V4,
        )
        .await;
    assert!(r
        .xml::<ossguard_proto::xml::ListBucketResult>()
        .contents
        .is_empty());
}

#[tokio::test]
async fn invalid_utf8_and_bad_escapes_in_the_path_are_400() {
    let s = TestServer::start().await;
    s.create_bucket("names").await;
    // Signed for a harmless key; the path on the wire carries the bad bytes.
    for path in [
        "/names/%ff",
        "/names/a%C3%28",
        "/names/%e0%80%80",
        "/names/bad%zz",
        "/names/x%4",
    ] {
        for method in [Method::PUT, Method::GET] {
            let req = s.sign(
                Request::new(method.clone(), Some("names"), Some("k")),
                Sig::V4,
            );
            let r = raw::send_path(s.addr(), &req, path, b"x").await;
            assert_eq!(r.status, 400, "{method} {path}: {}", r.text());
            assert!(!r.code().is_empty(), "{path}: no error code");
        }
    }
}

#[tokio::test]
async fn invalid_bucket_names_are_refused() {
    let s = TestServer::start().await;
    for name in [
        "ab",
        "Upper",
        "a_b",
        "-ab",
        "ab-",
        "a.b",
        "a b",
        "ünï",
        &"a".repeat(64),
    ] {
        let r = s
            .send(Request::new(Method::PUT, Some(name), None), vec![], Sig::V4)
            .await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "InvalidBucketName"),
            "{name:?}: {}",
            r.text()
        );
    }
    let r = s
        .send(Request::new(Method::GET, None, None), vec![], Sig::V4)
        .await;
    let list: ossguard_proto::xml::ListAllMyBucketsResult = r.xml();
    assert!(list.buckets.bucket.is_empty());
    // Bucket names become folder names: a `..` bucket must not touch the data folder.
    let req = s.sign(Request::new(Method::PUT, Some(".."), None), Sig::V4);
    let r = raw::send_path(s.addr(), &req, "/../", &[]).await;
    assert!(r.status >= 400 && r.status < 500, "{}", r.text());
}

#[tokio::test]
async fn odd_host_headers_are_client_errors() {
    let s = TestServer::start().await;
    s.create_bucket("names").await;
    assert_eq!(s.put("names", "k", b"v").await.status, 200);
    let long = format!("{}.example.com", "b".repeat(300));
    for host in [
        ".",
        "..",
        "...example.com",
        "a..b",
        "-.example.com",
        "UPPER.example.com",
        "[::1",
        "names.oss-cn-hangzhou.aliyuncs.com:notaport",
        long.as_str(),
    ] {
        for path in ["/", "/k", "/names/k"] {
            let head = format!("GET {path} HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n");
            let r = raw::exchange(s.addr(), head.as_bytes(), &[]).await;
            assert!(
                (400..500).contains(&r.status),
                "Host {host:?} {path}: {} {}",
                r.status,
                r.text()
            );
            assert_ne!(r.body, b"v");
        }
    }
}
