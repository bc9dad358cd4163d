//! Bucket access logging: one line per request, in the OSS access log format, delivered as an
//! object into the target bucket.

use std::collections::HashMap;

use http::Method;
use ossguard_proto::xml::{BucketLoggingStatus, ListBucketResult};
use ossguard_proto::Request;

use crate::client::{Reply, Sig, TestServer};

/// Splits a log line into fields: bare words, `"quoted strings"`, `[bracketed times]`.
fn fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            ' ' => {
                chars.next();
            }
            '"' | '[' => {
                let close = if c == '"' { '"' } else { ']' };
                chars.next();
                out.push(chars.by_ref().take_while(|&x| x != close).collect());
            }
            _ => {
                let mut w = String::new();
                while let Some(&x) = chars.peek() {
                    if x == ' ' {
                        break;
                    }
                    w.push(x);
                    chars.next();
                }
                out.push(w);
            }
        }
    }
    out
}

async fn put_logging(s: &TestServer, body: &str) -> Reply {
    s.send(
        Request::new(Method::PUT, Some("site"), None).with_query("logging", ""),
        body.as_bytes().to_vec(),
        Sig::V4,
    )
    .await
}

#[tokio::test]
async fn requests_to_a_logged_bucket_are_written_to_the_target() {
    let s = TestServer::start().await;
    s.create_bucket("site").await;
    s.create_bucket("logs").await;
    // A target that does not exist is refused.
    let r = put_logging(&s, "<BucketLoggingStatus><LoggingEnabled><TargetBucket>nowhere</TargetBucket><TargetPrefix>x/</TargetPrefix></LoggingEnabled></BucketLoggingStatus>").await;
    assert_eq!(r.status, 400, "{}", r.text());
    // Requests whose lines we expect, by request id: (status, body length, operation, key).
    let mut expected: HashMap<String, (u16, usize, &str, &str)> = HashMap::new();
    let mut note = |r: &Reply, op: &'static str, key: &'static str| {
        let id = r.header("x-oss-request-id").unwrap();
        expected.insert(id, (r.status, r.body.len(), op, key));
    };
    let r = put_logging(&s, "<BucketLoggingStatus><LoggingEnabled><TargetBucket>logs</TargetBucket><TargetPrefix>access/</TargetPrefix></LoggingEnabled></BucketLoggingStatus>").await;
    assert_eq!(r.status, 200, "{}", r.text());
    note(&r, "PutBucketLogging", "");
    let r = s
        .send(
            Request::new(Method::GET, Some("site"), None).with_query("logging", ""),
            vec![],
            Sig::V4,
        )
        .await;
    note(&r, "GetBucketLogging", "");
    let enabled = r
        .xml::<BucketLoggingStatus>()
        .logging_enabled
        .expect("logging enabled");
    assert_eq!(
        (
            enabled.target_bucket.as_str(),
            enabled.target_prefix.as_str()
        ),
        ("logs", "access/")
    );
    let r = s.put("site", "page one.html", b"<p>1</p>").await;
    note(&r, "PutObject", "page%20one.html");
    let r = s.get("site", "page one.html").await;
    note(&r, "GetObject", "page%20one.html");
    let r = s.get("site", "missing").await;
    assert_eq!(r.status, 404);
    note(&r, "GetObject", "missing");
    let r = s
        .send(
            Request::new(Method::GET, Some("site"), Some("page one.html")),
            vec![],
            Sig::None,
        )
        .await;
    assert_eq!(r.status, 403);
    note(&r, "GetObject", "page%20one.html");
    // A request whose signature fails is logged too, with its error code.
    let forged = ossguard_proto::Credentials::new(crate::client::AK, "not-the-secret");
    let r = s
        .send_as(
            Request::new(Method::GET, Some("site"), Some("forged")),
            vec![],
            Sig::V4,
            &forged,
            std::time::SystemTime::now(),
        )
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (403, "SignatureDoesNotMatch")
    );
    note(&r, "GetObject", "forged");
    let r = s
        .send(
            Request::new(Method::GET, Some("site"), None),
            vec![],
            Sig::V1,
        )
        .await;
    note(&r, "ListObjects", "");
    // Requests to other buckets are not logged here.
    assert_eq!(s.put("logs", "unrelated", b"x").await.status, 200);

    // Shutting down flushes the buffered lines; restart on the same data to read them.
    let dir = s.stop().await;
    let s = TestServer::start_in(dir).await;
    let listing: ListBucketResult = s
        .send(
            Request::new(Method::GET, Some("logs"), None).with_query("prefix", "access/"),
            vec![],
            Sig::V4,
        )
        .await
        .xml();
    assert!(!listing.contents.is_empty(), "no log object was written");
    let mut lines = Vec::new();
    for o in &listing.contents {
        assert!(o.key.starts_with("access/site"), "{}", o.key);
        let r = s.get("logs", &o.key).await;
        lines.extend(r.text().lines().map(str::to_owned));
    }
    let mut seen = HashMap::new();
    for line in &lines {
        let f = fields(line);
        assert!(f.len() >= 20, "too few fields: {line}");
        // IP, two reserved, [time], "request-uri", status, sent bytes, ms, "referer",
        // "user-agent", "host", "request id", "logging flag", "requester", "operation",
        // "bucket", "key", ...
        assert_eq!(f[0], "127.0.0.1", "{line}");
        assert_eq!((f[1].as_str(), f[2].as_str()), ("-", "-"));
        assert!(
            f[3].ends_with("+0000") && f[3].contains('/'),
            "time: {line}"
        );
        assert!(
            f[4].ends_with(" HTTP/1.1") && f[4].contains("/site/"),
            "{line}"
        );
        let status: u16 = f[5].parse().expect("numeric status");
        assert!(
            f[6].parse::<u64>().is_ok() && f[7].parse::<u64>().is_ok(),
            "{line}"
        );
        assert_eq!(f[15], "site", "{line}");
        let (st, len, op, key) = expected.get(&f[11]).expect("a request we made");
        let key = if key.is_empty() { "-" } else { key };
        assert_eq!(
            (status, f[6].as_str(), f[14].as_str(), f[16].as_str()),
            (*st, len.to_string().as_str(), *op, key),
            "status, sent bytes, operation, key: {line}"
        );
        *seen.entry(f[11].clone()).or_insert(0) += 1;
    }
    for id in expected.keys() {
        assert_eq!(
            seen.get(id),
            Some(&1),
            "request {id} logged {:?} times",
            seen.get(id)
        );
    }
    // An error line records its error code.
    let missing = lines.iter().find(|l| l.contains("\"missing\"")).unwrap();
    assert!(missing.contains("\"NoSuchKey\""), "{missing}");
    let forged = lines.iter().find(|l| l.contains("\"forged\"")).unwrap();
    assert!(forged.contains("\"SignatureDoesNotMatch\""), "{forged}");
}

#[tokio::test]
async fn logging_can_be_read_back_and_turned_off() {
    let s = TestServer::start().await;
    s.create_bucket("site").await;
    s.create_bucket("logs").await;
    let get = || {
        s.send(
            Request::new(Method::GET, Some("site"), None).with_query("logging", ""),
            vec![],
            Sig::V4,
        )
    };
    assert!(get()
        .await
        .xml::<BucketLoggingStatus>()
        .logging_enabled
        .is_none());
    let r = put_logging(&s, "<BucketLoggingStatus><LoggingEnabled><TargetBucket>logs</TargetBucket><TargetPrefix></TargetPrefix></LoggingEnabled></BucketLoggingStatus>").await;
    assert_eq!(r.status, 200);
    assert!(get()
        .await
        .xml::<BucketLoggingStatus>()
        .logging_enabled
        .is_some());
    let r = s
        .send(
            Request::new(Method::DELETE, Some("site"), None).with_query("logging", ""),
            vec![],
            Sig::V4,
        )
        .await;
    assert_eq!(r.status, 204);
    assert!(get()
        .await
        .xml::<BucketLoggingStatus>()
        .logging_enabled
        .is_none());
    // With logging off nothing is written.
    assert_eq!(s.put("site", "k", b"v").await.status, 200);
    let dir = s.stop().await;
    let s = TestServer::start_in(dir).await;
    let l: ListBucketResult = s
        .send(
            Request::new(Method::GET, Some("logs"), None),
            vec![],
            Sig::V4,
        )
        .await
        .xml();
    let keys: Vec<&str> = l.contents.iter().map(|c| c.key.as_str()).collect();
    // The lines of requests made while logging was on may be there; none after it went off.
    for k in keys {
        let text = s.get("logs", k).await.text();
        assert!(!text.contains("PutObject"), "{text}");
    }
}
