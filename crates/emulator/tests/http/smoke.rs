use http::Method;
use ossguard_proto::Request;

use crate::client::{Sig, TestServer};

#[tokio::test]
async fn put_get_head_delete_round_trip_v1_and_v4() {
    let s = TestServer::start().await;
    s.create_bucket("smoke").await;
    for sig in [Sig::V1, Sig::V4] {
        let key = "dir/ünï cödé+%.txt";
        let r = s
            .send(
                Request::new(Method::PUT, Some("smoke"), Some(key)),
                b"hello".to_vec(),
                sig,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(
            r.header("x-oss-hash-crc64ecma").unwrap(),
            ossguard_proto::crc64::checksum(b"hello").to_string()
        );
        let r = s
            .send(
                Request::new(Method::GET, Some("smoke"), Some(key)),
                vec![],
                sig,
            )
            .await;
        assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
        let r = s
            .send(
                Request::new(Method::HEAD, Some("smoke"), Some(key)),
                vec![],
                sig,
            )
            .await;
        assert_eq!(r.header("content-length").as_deref(), Some("5"));
        let r = s
            .send(
                Request::new(Method::DELETE, Some("smoke"), Some(key)),
                vec![],
                sig,
            )
            .await;
        assert_eq!(r.status, 204);
        let r = s
            .send(
                Request::new(Method::HEAD, Some("smoke"), Some(key)),
                vec![],
                sig,
            )
            .await;
        assert_eq!((r.status, r.code().as_str()), (404, "NoSuchKey"));
    }
}
