//! ListObjects v1 / v2 (prefix, delimiter, max-keys, markers, continuation tokens,
//! `encoding-type=url`) and ListBuckets.

use http::Method;
use ossguard_proto::xml::{url_decode_key, ListAllMyBucketsResult, ListBucketResult};
use ossguard_proto::Request;

use crate::client::{Sig, TestServer};

const KEYS: &[&str] = &[
    "a/1",
    "a/2",
    "a/b/3",
    "a/b/4",
    "b/5",
    "c",
    "d%+ é.txt",
    "e/\u{7f}x",
];

async fn server() -> TestServer {
    let s = TestServer::start().await;
    s.create_bucket("lst").await;
    for k in KEYS {
        assert_eq!(s.put("lst", k, k.as_bytes()).await.status, 200, "{k:?}");
    }
    s
}

async fn list(s: &TestServer, params: &[(&str, &str)], sig: Sig) -> ListBucketResult {
    let mut req = Request::new(Method::GET, Some("lst"), None);
    for (k, v) in params {
        req = req.with_query(k, v);
    }
    let r = s.send(req, vec![], sig).await;
    assert_eq!(r.status, 200, "{params:?}: {}", r.text());
    r.xml()
}

fn keys(r: &ListBucketResult) -> Vec<String> {
    r.contents.iter().map(|c| c.key.clone()).collect()
}

fn prefixes(r: &ListBucketResult) -> Vec<String> {
    r.common_prefixes.iter().map(|c| c.prefix.clone()).collect()
}

#[tokio::test]
async fn prefix_and_delimiter() {
    let s = server().await;
    for v2 in [false, true] {
        let mut p = vec![("prefix", "a/"), ("delimiter", "/")];
        if v2 {
            p.push(("list-type", "2"));
        }
        let r = list(&s, &p, Sig::V1).await;
        assert_eq!(keys(&r), ["a/1", "a/2"]);
        assert_eq!(prefixes(&r), ["a/b/"]);
        assert!(!r.is_truncated);
        assert_eq!(r.key_count, v2.then_some(3));

        let top = list(&s, &[("delimiter", "/")], Sig::V4).await;
        assert_eq!(keys(&top), ["c", "d%+ é.txt"]);
        assert_eq!(prefixes(&top), ["a/", "b/", "e/"]);

        let none = list(&s, &[("prefix", "zzz")], Sig::V4).await;
        assert!(none.contents.is_empty() && none.common_prefixes.is_empty());
    }
    // Sizes and ETags are reported.
    let all = list(&s, &[], Sig::V4).await;
    assert_eq!(keys(&all), KEYS);
    for c in &all.contents {
        assert_eq!(c.size as usize, c.key.len());
        assert_eq!(c.object_type, "Normal");
        assert!(c.etag.starts_with('"') && c.etag.len() == 34, "{}", c.etag);
    }
}

#[tokio::test]
async fn v1_pages_with_markers() {
    let s = server().await;
    let mut seen = Vec::new();
    let mut marker = String::new();
    for _ in 0..KEYS.len() {
        let r = list(&s, &[("max-keys", "3"), ("marker", &marker)], Sig::V1).await;
        assert!(r.contents.len() <= 3);
        seen.extend(keys(&r));
        if !r.is_truncated {
            break;
        }
        marker = r.next_marker.expect("NextMarker when truncated");
    }
    assert_eq!(seen, KEYS);
    // A marker skips everything up to and including it.
    let r = list(&s, &[("marker", "b/5")], Sig::V1).await;
    assert_eq!(keys(&r), &KEYS[5..]);
    // Pages of prefixes count towards max-keys.
    let r = list(&s, &[("delimiter", "/"), ("max-keys", "2")], Sig::V1).await;
    assert_eq!(prefixes(&r), ["a/", "b/"]);
    assert!(r.is_truncated);
    let r = list(
        &s,
        &[("delimiter", "/"), ("marker", &r.next_marker.unwrap())],
        Sig::V1,
    )
    .await;
    assert_eq!(keys(&r), ["c", "d%+ é.txt"]);
    assert_eq!(prefixes(&r), ["e/"]);
}

#[tokio::test]
async fn v2_pages_with_continuation_tokens() {
    let s = server().await;
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..KEYS.len() {
        let mut p = vec![("list-type", "2"), ("max-keys", "2")];
        if let Some(t) = &token {
            p.push(("continuation-token", t));
        }
        let r = list(&s, &p, Sig::V4).await;
        assert_eq!(r.key_count, Some(r.contents.len() as u32));
        assert_eq!(r.continuation_token, token);
        seen.extend(keys(&r));
        if !r.is_truncated {
            assert!(r.next_continuation_token.is_none());
            break;
        }
        token = Some(r.next_continuation_token.expect("a token when truncated"));
    }
    assert_eq!(seen, KEYS);
    // start-after; oss2 sends empty parameters, which mean "absent".
    let r = list(&s, &[("list-type", "2"), ("start-after", "b/5")], Sig::V4).await;
    assert_eq!(keys(&r), &KEYS[5..]);
    let r = list(
        &s,
        &[
            ("list-type", "2"),
            ("prefix", "a/"),
            ("delimiter", ""),
            ("continuation-token", ""),
            ("start-after", ""),
            ("fetch-owner", "false"),
        ],
        Sig::V1,
    )
    .await;
    assert_eq!(keys(&r), &KEYS[..4]);
    assert!(r.contents.iter().all(|c| c.owner.is_none()));
}

#[tokio::test]
async fn bad_list_parameters_are_400() {
    let s = server().await;
    for p in [
        vec![("max-keys", "0")],
        vec![("max-keys", "1001")],
        vec![("max-keys", "-1")],
        vec![("max-keys", "many")],
        vec![("list-type", "2"), ("continuation-token", "!!not-ours!!")],
    ] {
        let mut req = Request::new(Method::GET, Some("lst"), None);
        for (k, v) in &p {
            req = req.with_query(k, v);
        }
        let r = s.send(req, vec![], Sig::V4).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "InvalidArgument"),
            "{p:?}"
        );
    }
    let r = s
        .send(
            Request::new(Method::GET, Some("nosuchbucket"), None),
            vec![],
            Sig::V4,
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (404, "NoSuchBucket"));
}

#[tokio::test]
async fn url_encoding_type() {
    let s = server().await;
    for v2 in [false, true] {
        let mut p = vec![
            ("encoding-type", "url"),
            ("prefix", "d%"),
            ("delimiter", "/"),
        ];
        if v2 {
            p.push(("list-type", "2"));
        }
        let r = list(&s, &p, Sig::V4).await;
        assert_eq!(r.encoding_type.as_deref(), Some("url"));
        let k = &r.contents[0].key;
        // `+`, space and non-ASCII never appear raw.
        assert!(!k.contains([' ', '+', 'é']), "{k:?}");
        assert_eq!(url_decode_key(k).unwrap(), "d%+ é.txt");
        assert_eq!(url_decode_key(&r.prefix).unwrap(), "d%");

        let mut p = vec![("encoding-type", "url"), ("prefix", "e/")];
        if v2 {
            p.push(("list-type", "2"));
        }
        let r = list(&s, &p, Sig::V4).await;
        assert_eq!(url_decode_key(&r.contents[0].key).unwrap(), "e/\u{7f}x");
    }
}

#[tokio::test]
async fn list_buckets() {
    let s = TestServer::start().await;
    for b in ["zeta", "alpha", "mid-1", "mid-2"] {
        s.create_bucket(b).await;
    }
    let all = |params: &[(&str, &str)]| {
        let mut req = Request::new(Method::GET, None, None);
        for (k, v) in params {
            req = req.with_query(k, v);
        }
        req
    };
    let r = s.send(all(&[]), vec![], Sig::V1).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let names = |r: &ListAllMyBucketsResult| -> Vec<String> {
        r.buckets.bucket.iter().map(|b| b.name.clone()).collect()
    };
    let l: ListAllMyBucketsResult = r.xml();
    assert_eq!(names(&l), ["alpha", "mid-1", "mid-2", "zeta"]);
    assert!(l
        .buckets
        .bucket
        .iter()
        .all(|b| b.location == "oss-cn-hangzhou"));

    let l: ListAllMyBucketsResult = s
        .send(all(&[("prefix", "mid")]), vec![], Sig::V4)
        .await
        .xml();
    assert_eq!(names(&l), ["mid-1", "mid-2"]);
    let l: ListAllMyBucketsResult = s
        .send(all(&[("max-keys", "3")]), vec![], Sig::V4)
        .await
        .xml();
    assert_eq!(names(&l), ["alpha", "mid-1", "mid-2"]);
    assert_eq!(l.is_truncated, Some(true));
    let next = l.next_marker.unwrap();
    let l: ListAllMyBucketsResult = s
        .send(all(&[("marker", &next)]), vec![], Sig::V4)
        .await
        .xml();
    assert_eq!(names(&l), ["zeta"]);

    // Anonymous ListBuckets is refused.
    let r = s.send(all(&[]), vec![], Sig::None).await;
    assert_eq!((r.status, r.code().as_str()), (403, "AccessDenied"));
}
