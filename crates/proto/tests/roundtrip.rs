//! Property tests: whatever we sign survives the wire (path + query encoding, server-side
//! addressing and decoding) and verifies; a one-character change to the signature never does.

use std::time::{Duration, SystemTime};

use http::Method;
use ossguard_proto::addressing::resolve;
use ossguard_proto::auth::presign::{presign_v1, presign_v4};
use ossguard_proto::auth::verify::{verify, AuthErrorCode, KnownKey, VerifyOptions};
use ossguard_proto::auth::{v1, v4};
use ossguard_proto::encoding::parse_query;
use ossguard_proto::time::from_unix_seconds;
use ossguard_proto::{AddressingStyle, Credentials, Request};
use proptest::prelude::*;

const AK: &str = "AKID";
const SECRET: &str = "s3cr3t";

fn keys(ak: &str) -> Option<KnownKey> {
    (ak == AK).then(|| KnownKey::permanent(SECRET))
}

#[derive(Debug, Clone, Copy)]
enum Scheme {
    V1Date,
    V1XOssDate,
    V4,
    V1Presign,
    V4Presign,
}

fn scheme() -> impl Strategy<Value = Scheme> {
    prop_oneof![
        Just(Scheme::V1Date),
        Just(Scheme::V1XOssDate),
        Just(Scheme::V4),
        Just(Scheme::V1Presign),
        Just(Scheme::V4Presign)
    ]
}

fn key() -> impl Strategy<Value = String> {
    // Any non-empty UTF-8 key, as OSS allows; bias towards the troublesome characters.
    prop_oneof![
        "[a-zA-Z0-9 +%&=?#/~()!*'._-]{1,40}",
        "\\PC{1,30}",
        "(\\.\\./){1,3}[a-z]{1,5}",
    ]
}

fn query() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = prop_oneof![
        Just("acl".to_owned()),
        Just("uploadId".to_owned()),
        Just("partNumber".to_owned()),
        Just("response-content-type".to_owned()),
        Just("x-oss-process".to_owned()),
        Just("prefix".to_owned()),
        Just("continuation-token".to_owned()),
        "[a-z][a-z0-9-]{0,10}",
    ];
    proptest::collection::vec((name, "\\PC{0,20}"), 0..4).prop_map(|mut v| {
        // Parameter names are unique on real requests; keep the first of each.
        let mut seen = std::collections::HashSet::new();
        v.retain(|(k, _)| {
            !matches!(
                k.as_str(),
                "x-oss-signature" | "signature" | "ossaccesskeyid"
            ) && !k.starts_with("x-oss-")
                && seen.insert(k.clone())
        });
        v
    })
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::vec(
        (
            prop_oneof![
                "x-oss-meta-[a-z0-9]{1,8}",
                Just("content-type".to_owned()),
                Just("content-md5".to_owned()),
                Just("range".to_owned()),
                Just("cache-control".to_owned())
            ],
            "[!-~]([ -~]{0,20}[!-~])?",
        ),
        0..4,
    )
}

fn now() -> impl Strategy<Value = SystemTime> {
    (1_600_000_000u64..2_000_000_000).prop_map(from_unix_seconds)
}

/// Signs, serialises to path + query, parses like the server, returns the received request.
fn sign_and_receive(
    scheme: Scheme,
    key: &str,
    query: &[(String, String)],
    headers: &[(String, String)],
    t: SystemTime,
) -> Request {
    let mut req = Request::new(Method::GET, Some("bucket-1"), Some(key));
    req.query = query.to_vec();
    for (k, v) in headers {
        req.set_header(k, v).unwrap();
    }
    let creds = Credentials::new(AK, SECRET);
    let extra = ["range", "cache-control"];
    match scheme {
        Scheme::V1Date => v1::sign(&mut req, &creds, t, v1::DateHeader::Date).unwrap(),
        Scheme::V1XOssDate => v1::sign(&mut req, &creds, t, v1::DateHeader::XOssDate).unwrap(),
        Scheme::V4 => v4::sign(&mut req, &creds, "cn-hangzhou", t, &extra).unwrap(),
        Scheme::V1Presign => presign_v1(&mut req, &creds, t + Duration::from_secs(60)).unwrap(),
        Scheme::V4Presign => presign_v4(
            &mut req,
            &creds,
            "cn-hangzhou",
            t,
            Duration::from_secs(60),
            &extra,
        )
        .unwrap(),
    }
    let wire = req.path_and_query(AddressingStyle::Path);
    let (path, q) = wire.split_once('?').unwrap_or((&wire, ""));
    let target = resolve("127.0.0.1:9000", path, &[]).unwrap().remove(0);
    Request {
        method: req.method.clone(),
        bucket: target.bucket,
        key: target.key,
        query: parse_query(q).unwrap(),
        headers: req.headers.clone(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn signed_requests_verify(s in scheme(), k in key(), q in query(), h in headers(), t in now(), skew in 0u64..59) {
        let recv = sign_and_receive(s, &k, &q, &h, t);
        prop_assert_eq!(recv.key.as_deref(), Some(k.as_str()));
        let at = t + Duration::from_secs(skew);
        let got = verify(&recv, &keys, at, &VerifyOptions::default());
        prop_assert!(got.is_ok(), "{:?}: {:?}", s, got);
    }

    #[test]
    fn one_changed_query_value_fails(s in scheme(), k in key(), q in query().prop_filter("non-empty", |q| !q.is_empty()), t in now()) {
        let mut recv = sign_and_receive(s, &k, &q, &[], t);
        // V1 signs only sub-resources, so change one that every scheme signs.
        let signed = ["acl", "uploadId", "partNumber", "response-content-type", "x-oss-process", "continuation-token"];
        let Some(i) = recv.query.iter().position(|(n, _)| signed.contains(&n.as_str())) else { return Ok(()); };
        recv.query[i].1.push('x');
        let err = verify(&recv, &keys, t, &VerifyOptions::default()).unwrap_err();
        prop_assert_eq!(err.code, AuthErrorCode::SignatureDoesNotMatch);
    }

    #[test]
    fn one_changed_key_char_fails(s in scheme(), k in key(), t in now()) {
        let mut recv = sign_and_receive(s, &k, &[], &[], t);
        recv.key = Some(format!("{k}x"));
        let err = verify(&recv, &keys, t, &VerifyOptions::default()).unwrap_err();
        prop_assert_eq!(err.code, AuthErrorCode::SignatureDoesNotMatch);
    }
}
