//! Bucket lifecycle: create (with configuration), info, delete (empty and not), DeleteMultiple.

use base64::Engine;
use http::Method;
use md5::Digest;
use ossguard_proto::xml::{BucketInfo, DeleteResult};
use ossguard_proto::Request;

use crate::client::{initiate, with_headers, Reply, Sig, TestServer};

async fn delete_bucket(s: &TestServer, name: &str) -> Reply {
    s.send(
        Request::new(Method::DELETE, Some(name), None),
        vec![],
        Sig::V4,
    )
    .await
}

#[tokio::test]
async fn delete_bucket_only_when_empty() {
    let s = TestServer::start().await;
    s.create_bucket("full").await;
    assert_eq!(s.put("full", "k", b"v").await.status, 200);
    let r = delete_bucket(&s, "full").await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (409, "BucketNotEmpty"),
        "{}",
        r.text()
    );
    assert_eq!(s.get("full", "k").await.body, b"v");

    let r = s
        .send(
            Request::new(Method::DELETE, Some("full"), Some("k")),
            vec![],
            Sig::V4,
        )
        .await;
    assert_eq!(r.status, 204);
    // Deleting a missing key is also 204.
    let r = s
        .send(
            Request::new(Method::DELETE, Some("full"), Some("k")),
            vec![],
            Sig::V4,
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(delete_bucket(&s, "full").await.status, 204);
    let r = delete_bucket(&s, "full").await;
    assert_eq!((r.status, r.code().as_str()), (404, "NoSuchBucket"));
    assert_eq!(s.put("full", "k", b"v").await.code(), "NoSuchBucket");
}

#[tokio::test]
async fn delete_bucket_with_an_open_upload() {
    let s = TestServer::start().await;
    s.create_bucket("upl").await;
    let _id = initiate(&s, "upl", "k").await;
    // OSS refuses while multipart uploads are pending.
    let r = delete_bucket(&s, "upl").await;
    assert_eq!(r.status, 409, "{}", r.text());
}

#[tokio::test]
async fn create_bucket_with_configuration_and_acl() {
    let s = TestServer::start().await;
    let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CreateBucketConfiguration><StorageClass>IA</StorageClass><DataRedundancyType>LRS</DataRedundancyType></CreateBucketConfiguration>";
    let req = with_headers(
        Request::new(Method::PUT, Some("cold"), None),
        &[("x-oss-acl", "public-read")],
    );
    let r = s.send(req, body.as_bytes().to_vec(), Sig::V4).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let info: BucketInfo = s
        .send(
            Request::new(Method::GET, Some("cold"), None).with_query("bucketInfo", ""),
            vec![],
            Sig::V4,
        )
        .await
        .xml();
    assert_eq!(info.bucket.name, "cold");
    assert_eq!(info.bucket.storage_class, "IA");
    assert_eq!(info.bucket.access_control_list.grant, "public-read");
    // An unknown storage class is refused and creates nothing.
    let r = s
        .send(
            Request::new(Method::PUT, Some("weird"), None),
            b"<CreateBucketConfiguration><StorageClass>Lukewarm</StorageClass></CreateBucketConfiguration>".to_vec(),
            Sig::V4,
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text());
    let r = s
        .send(
            Request::new(Method::GET, Some("weird"), None).with_query("location", ""),
            vec![],
            Sig::V4,
        )
        .await;
    assert_eq!(r.code(), "NoSuchBucket");
}

#[tokio::test]
async fn delete_multiple_objects() {
    let s = TestServer::start().await;
    s.create_bucket("dmo").await;
    for k in ["a", "b", "c d"] {
        assert_eq!(s.put("dmo", k, b"x").await.status, 200);
    }
    let body = "<Delete><Quiet>false</Quiet><Object><Key>a</Key></Object><Object><Key>c d</Key></Object><Object><Key>never-existed</Key></Object></Delete>";
    let md5 = base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(body));
    let req = with_headers(
        Request::new(Method::POST, Some("dmo"), None)
            .with_query("delete", "")
            .with_query("encoding-type", "url"),
        &[("content-md5", &md5)],
    );
    let r = s.send(req, body.as_bytes().to_vec(), Sig::V4).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let result: DeleteResult = r.xml();
    let mut deleted: Vec<String> = result.deleted.iter().map(|d| d.key.clone()).collect();
    deleted.sort();
    assert_eq!(deleted, ["a", "c%20d", "never-existed"]);
    assert_eq!(s.get("dmo", "a").await.status, 404);
    assert_eq!(s.get("dmo", "b").await.status, 200);

    // Wrong Content-MD5 on the XML body: nothing deleted.
    let body = "<Delete><Object><Key>b</Key></Object></Delete>";
    let req = with_headers(
        Request::new(Method::POST, Some("dmo"), None).with_query("delete", ""),
        &[("content-md5", &md5)],
    );
    let r = s.send(req, body.as_bytes().to_vec(), Sig::V4).await;
    assert_eq!((r.status, r.code().as_str()), (400, "InvalidDigest"));
    assert_eq!(s.get("dmo", "b").await.status, 200);
    // More than 1000 keys is refused.
    let many: String = (0..1001)
        .map(|i| format!("<Object><Key>k{i}</Key></Object>"))
        .collect();
    let body = format!("<Delete>{many}</Delete>");
    let md5_many = base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(&body));
    let req = with_headers(
        Request::new(Method::POST, Some("dmo"), None).with_query("delete", ""),
        &[("content-md5", &md5_many)],
    );
    let r = s.send(req, body.into_bytes(), Sig::V4).await;
    assert_eq!((r.status, r.code().as_str()), (400, "MalformedXML"));
    // Without Content-MD5 nothing is deleted (OSS requires it for this operation).
    let body = "<Delete><Object><Key>b</Key></Object></Delete>";
    let r = s
        .send(
            Request::new(Method::POST, Some("dmo"), None).with_query("delete", ""),
            body.as_bytes().to_vec(),
            Sig::V4,
        )
        .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "MissingArgument"),
        "{}",
        r.text()
    );
    assert!(r.text().contains("Content-MD5"));
    assert_eq!(s.get("dmo", "b").await.status, 200);
}

async fn stat(s: &TestServer) -> ossguard_proto::xml::BucketStat {
    let req = Request::new(Method::GET, Some("stat"), None).with_query("stat", "");
    let r = s.send(req, vec![], Sig::V4).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.xml()
}

/// GetBucketStat counts what the bucket holds: bytes and objects (per storage class, IA billed
/// at 64 KiB at least), uploads in progress and their parts.
#[tokio::test]
async fn bucket_stat_counts_objects_and_uploads() {
    let s = TestServer::start().await;
    s.create_bucket("stat").await;
    assert_eq!(stat(&s).await, ossguard_proto::xml::BucketStat::default());

    assert_eq!(s.put("stat", "a", &[1; 10]).await.status, 200);
    assert_eq!(s.put("stat", "b", &[2; 20]).await.status, 200);
    let ia = with_headers(
        Request::new(Method::PUT, Some("stat"), Some("cold")),
        &[("x-oss-storage-class", "IA")],
    );
    assert_eq!(s.send(ia, vec![3; 5], Sig::V4).await.status, 200);
    let upload = initiate(&s, "stat", "big").await;
    let part = Request::new(Method::PUT, Some("stat"), Some("big"))
        .with_query("partNumber", "1")
        .with_query("uploadId", &upload);
    assert_eq!(s.send(part, vec![4; 100], Sig::V4).await.status, 200);

    let st = stat(&s).await;
    assert_eq!(
        (
            st.storage,
            st.object_count,
            st.multipart_upload_count,
            st.multipart_part_count
        ),
        (35, 3, 1, 1)
    );
    assert_eq!((st.standard_storage, st.standard_object_count), (30, 2));
    assert_eq!(
        (
            st.infrequent_access_storage,
            st.infrequent_access_real_storage,
            st.infrequent_access_object_count
        ),
        (64 * 1024, 5, 1)
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        now.abs_diff(st.last_modified_time) < 300,
        "{}",
        st.last_modified_time
    );
    // Another bucket's objects are not counted; an absent bucket is 404.
    s.create_bucket("other").await;
    assert_eq!(s.put("other", "x", b"x").await.status, 200);
    assert_eq!(stat(&s).await.object_count, 3);
    let r = s
        .send(
            Request::new(Method::GET, Some("absent"), None).with_query("stat", ""),
            vec![],
            Sig::V4,
        )
        .await;
    assert_eq!((r.status, r.code().as_str()), (404, "NoSuchBucket"));
}
