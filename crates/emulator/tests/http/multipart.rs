//! Multipart uploads over HTTP: the happy path, every Complete error, listing, abort,
//! UploadPartCopy with ranges, `x-oss-complete-all`.

use http::Method;
use ossguard_proto::crc64::checksum;
use ossguard_proto::xml::{ListMultipartUploadsResult, ListPartsResult};
use ossguard_proto::Request;

use crate::client::{
    complete, complete_xml, initiate, upload_part, with_headers, Reply, Sig, TestServer,
};

const KIB: usize = 1024;

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

async fn server() -> TestServer {
    let s = TestServer::start().await;
    s.create_bucket("mpu").await;
    s
}

async fn list_parts(s: &TestServer, key: &str, id: &str) -> Reply {
    s.send(
        Request::new(Method::GET, Some("mpu"), Some(key)).with_query("uploadId", id),
        vec![],
        Sig::V4,
    )
    .await
}

#[tokio::test]
async fn three_parts_complete_into_one_object() {
    let s = server().await;
    let parts = [pattern(100 * KIB, 1), pattern(150 * KIB, 2), pattern(7, 3)];
    let id = initiate(&s, "mpu", "big object").await;
    let mut etags = Vec::new();
    for (i, p) in parts.iter().enumerate() {
        etags.push(upload_part(&s, "mpu", "big object", &id, i as u32 + 1, p).await);
    }
    // ListParts shows the three parts with sizes and CRCs.
    let l: ListPartsResult = list_parts(&s, "big object", &id).await.xml();
    assert_eq!(l.upload_id, id);
    let got: Vec<(u32, u64, String)> = l
        .parts
        .iter()
        .map(|p| (p.part_number, p.size, p.etag.clone()))
        .collect();
    let want: Vec<(u32, u64, String)> = (0..3)
        .map(|i| (i as u32 + 1, parts[i].len() as u64, etags[i].clone()))
        .collect();
    assert_eq!(got, want);
    assert_eq!(
        l.parts[1].hash_crc64ecma,
        Some(checksum(&parts[1]).to_string())
    );

    let body = complete_xml(&[(1, &etags[0]), (2, &etags[1]), (3, &etags[2])]);
    let r = complete(&s, "mpu", "big object", &id, &body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let whole: Vec<u8> = parts.concat();
    assert_eq!(
        r.header("x-oss-hash-crc64ecma"),
        Some(checksum(&whole).to_string())
    );
    let result: ossguard_proto::xml::CompleteMultipartUploadResult = r.xml();
    assert!(result.etag.ends_with("-3\""), "{}", result.etag);
    assert_eq!(result.key, "big object");

    let g = s.get("mpu", "big object").await;
    assert!(g.body == whole, "completed object differs");
    assert_eq!(g.header("x-oss-object-type").as_deref(), Some("Multipart"));
    // The upload is gone.
    let r = list_parts(&s, "big object", &id).await;
    assert_eq!((r.status, r.code().as_str()), (404, "NoSuchUpload"));
}

#[tokio::test]
async fn complete_errors() {
    let s = server().await;
    let id = initiate(&s, "mpu", "k").await;
    let small = [pattern(10, 1), pattern(10, 2)];
    let e1 = upload_part(&s, "mpu", "k", &id, 1, &small[0]).await;
    let e2 = upload_part(&s, "mpu", "k", &id, 2, &small[1]).await;
    let bogus = "\"0123456789ABCDEF0123456789ABCDEF\"";
    for (parts, status, code) in [
        (
            vec![(1, e1.as_str()), (2, e2.as_str())],
            400,
            "EntityTooSmall",
        ),
        (vec![(1, bogus), (2, e2.as_str())], 400, "InvalidPart"),
        (vec![(1, e1.as_str()), (3, e2.as_str())], 400, "InvalidPart"),
        (
            vec![(2, e2.as_str()), (1, e1.as_str())],
            400,
            "InvalidPartOrder",
        ),
        (
            vec![(1, e1.as_str()), (1, e1.as_str())],
            400,
            "InvalidPartOrder",
        ),
    ] {
        let r = complete(&s, "mpu", "k", &id, &complete_xml(&parts)).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (status, code),
            "{parts:?}: {}",
            r.text()
        );
    }
    assert_eq!(s.get("mpu", "k").await.code(), "NoSuchKey");
    // A single small part is fine: only non-last parts have a minimum.
    let r = complete(&s, "mpu", "k", &id, &complete_xml(&[(1, &e1)])).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(s.get("mpu", "k").await.body, small[0]);
    // Unknown upload id: well-formed but not ours, and not one at all.
    for bad_id in ["0123456789ABCDEF0123456789ABCDEF", "../../etc", "x"] {
        let r = complete(&s, "mpu", "k", bad_id, &complete_xml(&[(1, &e1)])).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (404, "NoSuchUpload"),
            "{bad_id}"
        );
        let r = upload_part_raw(&s, "k", bad_id, "1").await;
        assert_eq!(r.code(), "NoSuchUpload", "{bad_id}");
    }
}

async fn upload_part_raw(s: &TestServer, key: &str, id: &str, n: &str) -> Reply {
    s.send(
        Request::new(Method::PUT, Some("mpu"), Some(key))
            .with_query("partNumber", n)
            .with_query("uploadId", id),
        b"x".to_vec(),
        Sig::V4,
    )
    .await
}

#[tokio::test]
async fn bad_part_numbers_are_invalid_arguments() {
    let s = server().await;
    let id = initiate(&s, "mpu", "k").await;
    for n in ["0", "10001", "-1", "one", "4294967297"] {
        let r = upload_part_raw(&s, "k", &id, n).await;
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "InvalidArgument"),
            "{n}"
        );
    }
}

#[tokio::test]
async fn list_uploads_and_abort() {
    let s = server().await;
    let a = initiate(&s, "mpu", "dir/a").await;
    let b = initiate(&s, "mpu", "dir/b").await;
    let c = initiate(&s, "mpu", "top").await;
    upload_part(&s, "mpu", "dir/a", &a, 1, b"part").await;

    let list = |params: Vec<(&'static str, &'static str)>| {
        let s = &s;
        async move {
            let mut req = Request::new(Method::GET, Some("mpu"), None).with_query("uploads", "");
            for (k, v) in params {
                req = req.with_query(k, v);
            }
            let r = s.send(req, vec![], Sig::V4).await;
            assert_eq!(r.status, 200, "{}", r.text());
            r.xml::<ListMultipartUploadsResult>()
        }
    };
    let l = list(vec![]).await;
    let mut ids: Vec<(String, String)> = l
        .uploads
        .iter()
        .map(|u| (u.key.clone(), u.upload_id.clone()))
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        [
            ("dir/a".to_owned(), a.clone()),
            ("dir/b".to_owned(), b.clone()),
            ("top".to_owned(), c.clone())
        ]
    );
    let l = list(vec![("delimiter", "/")]).await;
    assert_eq!(l.uploads.len(), 1);
    assert_eq!(l.common_prefixes[0].prefix, "dir/");
    let l = list(vec![("prefix", "dir/"), ("max-uploads", "1")]).await;
    assert_eq!(l.uploads.len(), 1);
    assert!(l.is_truncated);

    // Abort: 204, then the upload is gone everywhere.
    let abort = |id: String| {
        let s = &s;
        async move {
            s.send(
                Request::new(Method::DELETE, Some("mpu"), Some("dir/a"))
                    .with_query("uploadId", &id),
                vec![],
                Sig::V4,
            )
            .await
        }
    };
    assert_eq!(abort(a.clone()).await.status, 204);
    assert_eq!(abort(a.clone()).await.code(), "NoSuchUpload");
    assert_eq!(list_parts(&s, "dir/a", &a).await.code(), "NoSuchUpload");
    let r = upload_part_raw(&s, "dir/a", &a, "2").await;
    assert_eq!(r.code(), "NoSuchUpload");
    assert_eq!(list(vec![]).await.uploads.len(), 2);
    // The upload id belongs to its key.
    let r = list_parts(&s, "top", &b).await;
    assert_eq!(r.code(), "NoSuchUpload", "{}", r.text());
}

/// Paging one upload at a time with the returned markers lists every upload exactly once, also
/// several uploads of one key (ordered by initiation, not by id) and a rolled-up prefix.
#[tokio::test]
async fn upload_listing_pages_by_markers_without_gaps_or_repeats() {
    let s = server().await;
    let mut want = Vec::new();
    for key in ["same", "same", "same", "same", "dir/x", "dir/y", "zz"] {
        want.push((key.to_owned(), initiate(&s, "mpu", key).await));
    }
    let (mut key_marker, mut id_marker) = (String::new(), String::new());
    let (mut seen, mut prefixes) = (Vec::new(), Vec::new());
    for _ in 0..20 {
        let req = Request::new(Method::GET, Some("mpu"), None)
            .with_query("uploads", "")
            .with_query("max-uploads", "1")
            .with_query("delimiter", "/")
            .with_query("key-marker", &key_marker)
            .with_query("upload-id-marker", &id_marker);
        let r = s.send(req, vec![], Sig::V4).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let l = r.xml::<ListMultipartUploadsResult>();
        seen.extend(
            l.uploads
                .iter()
                .map(|u| (u.key.clone(), u.upload_id.clone())),
        );
        prefixes.extend(l.common_prefixes.iter().map(|p| p.prefix.clone()));
        if !l.is_truncated {
            break;
        }
        (key_marker, id_marker) = (l.next_key_marker, l.next_upload_id_marker);
    }
    assert_eq!(prefixes, ["dir/"]);
    let mut want: Vec<_> = want
        .into_iter()
        .filter(|(k, _)| !k.starts_with("dir/"))
        .collect();
    want.sort();
    seen.sort();
    assert_eq!(seen, want);
}

#[tokio::test]
async fn upload_part_copy_with_ranges_and_complete_all() {
    let s = server().await;
    let src = pattern(300 * KIB, 9);
    assert_eq!(s.put("mpu", "source", &src).await.status, 200);
    let id = initiate(&s, "mpu", "copied").await;
    let ranges = [
        (0, 100 * KIB - 1),
        (100 * KIB, 250 * KIB - 1),
        (250 * KIB, 300 * KIB - 1),
    ];
    for (i, (a, b)) in ranges.iter().enumerate() {
        let req = with_headers(
            Request::new(Method::PUT, Some("mpu"), Some("copied"))
                .with_query("partNumber", &(i + 1).to_string())
                .with_query("uploadId", &id),
            &[
                ("x-oss-copy-source", "/mpu/source"),
                ("x-oss-copy-source-range", &format!("bytes={a}-{b}")),
            ],
        );
        let r = s.send(req, vec![], Sig::V4).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let result: ossguard_proto::xml::CopyPartResult = r.xml();
        assert_eq!(r.header("etag"), Some(result.etag));
        assert_eq!(
            r.header("x-oss-hash-crc64ecma"),
            Some(checksum(&src[*a..=*b]).to_string())
        );
    }
    // A range outside the source is refused.
    let req = with_headers(
        Request::new(Method::PUT, Some("mpu"), Some("copied"))
            .with_query("partNumber", "9")
            .with_query("uploadId", &id),
        &[
            ("x-oss-copy-source", "/mpu/source"),
            ("x-oss-copy-source-range", "bytes=400000-500000"),
        ],
    );
    let r = s.send(req, vec![], Sig::V4).await;
    assert_eq!(r.code(), "InvalidRange", "{}", r.text());

    // x-oss-complete-all: yes, no body, takes every uploaded part in order.
    let req = with_headers(
        Request::new(Method::POST, Some("mpu"), Some("copied")).with_query("uploadId", &id),
        &[("x-oss-complete-all", "yes")],
    );
    let r = s.send(req, vec![], Sig::V4).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("x-oss-hash-crc64ecma"),
        Some(checksum(&src).to_string())
    );
    assert!(s.get("mpu", "copied").await.body == src);

    // With complete-all a body is not allowed.
    let id = initiate(&s, "mpu", "other").await;
    let e = upload_part(&s, "mpu", "other", &id, 1, b"x").await;
    let req = with_headers(
        Request::new(Method::POST, Some("mpu"), Some("other")).with_query("uploadId", &id),
        &[("x-oss-complete-all", "yes")],
    );
    let r = s
        .send(req, complete_xml(&[(1, &e)]).into_bytes(), Sig::V4)
        .await;
    assert_eq!(r.status, 400, "{}", r.text());
}
