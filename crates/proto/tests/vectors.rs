//! Reproduces every signature vector the official SDKs produced (../shared/oss-protocol/vectors),
//! verifies each one, and checks that mutated copies are rejected with the right OSS code.

mod common;

use std::time::{Duration, SystemTime};

use common::*;
use ossguard_proto::auth::header;
use ossguard_proto::auth::presign::{presign_v1_with, presign_v4};
use ossguard_proto::auth::v1::{self, Subresources};
use ossguard_proto::auth::v4;
use ossguard_proto::auth::verify::{verify, AuthErrorCode, KnownKey};
use ossguard_proto::encoding::parse_query;
use ossguard_proto::time::{from_unix_seconds, iso8601_basic, rfc1123};
use ossguard_proto::{Credentials, Request};
use serde_json::Value;

const REGION: &str = "cn-hangzhou";

fn frozen() -> SystemTime {
    from_unix_seconds(1_672_223_261)
}

fn creds(sts: bool) -> Credentials {
    let c = Credentials::new(AK, SECRET);
    if sts {
        c.with_security_token(TOKEN)
    } else {
        c
    }
}

fn is_sts(case: &Value) -> bool {
    case["use_sts"].as_bool().unwrap_or(false)
}

/// Asserts `req` is rejected at `now` with `code`; returns 1 for the tally.
fn rejected(req: &Request, now: SystemTime, sts: bool, code: AuthErrorCode, what: &str) -> usize {
    let keys = keys(sts);
    match verify(req, &keys, now, &opts()) {
        Err(e) => assert_eq!(e.code, code, "{what}: wrong code ({e})"),
        Ok(p) => panic!("{what}: mutated request accepted as {p:?}"),
    }
    1
}

/// Changes one character of `sig` to another of the same alphabet.
fn flip_one(sig: &str) -> String {
    let mut c: Vec<char> = sig.chars().collect();
    let i = c.len() / 2;
    c[i] = if c[i] == 'a' { 'b' } else { 'a' };
    c.into_iter().collect()
}

fn with_header(req: &Request, name: &str, value: &str) -> Request {
    let mut r = req.clone();
    r.set_header(name, value).unwrap();
    r
}

/// The first header signed by every scheme that the request carries.
fn signed_header(req: &Request, extra: &[String]) -> Option<&'static str> {
    [
        "content-md5",
        "content-type",
        "x-oss-meta-author",
        "x-oss-security-token",
        "range",
    ]
    .into_iter()
    .find(|h| req.headers.contains_key(*h) && (*h != "range" || extra.iter().any(|e| e == h)))
}

#[derive(Default, Debug)]
struct Tally {
    vectors: usize,
    reproduced: usize,
    via_signer: usize,
    verified: usize,
    mutations_rejected: usize,
}

/// Mutations shared by V1 and V4 header vectors.
fn header_mutations(
    recv: &Request,
    auth: &str,
    sts: bool,
    additional: &[String],
    date_name: &str,
) -> usize {
    let now = frozen();
    let sig = match header::parse(auth).unwrap() {
        header::Authorization::V1 { signature, .. }
        | header::Authorization::V4 { signature, .. } => signature,
    };
    let mut n = 0;
    let r = with_header(recv, "authorization", &auth.replace(&sig, &flip_one(&sig)));
    n += rejected(
        &r,
        now,
        sts,
        AuthErrorCode::SignatureDoesNotMatch,
        "signature byte",
    );
    let r = with_header(recv, "authorization", &auth.replace(AK, "LTAI-test-iX"));
    n += rejected(
        &r,
        now,
        sts,
        AuthErrorCode::InvalidAccessKeyId,
        "access key id",
    );
    if let Some(h) = signed_header(recv, additional) {
        let v = recv.header(h).unwrap();
        let r = with_header(recv, h, &format!("{v}x"));
        let code = if h == "x-oss-security-token" {
            AuthErrorCode::InvalidAccessKeyId
        } else {
            AuthErrorCode::SignatureDoesNotMatch
        };
        n += rejected(&r, now, sts, code, h);
    }
    let later = now + Duration::from_secs(1);
    let new_date = if recv.header(date_name).unwrap().contains(',') {
        rfc1123(later)
    } else {
        iso8601_basic(later)
    };
    let r = with_header(recv, date_name, &new_date);
    n += rejected(&r, now, sts, AuthErrorCode::SignatureDoesNotMatch, "date");
    let skew = Duration::from_secs(16 * 60);
    n += rejected(
        recv,
        now + skew,
        sts,
        AuthErrorCode::RequestTimeTooSkewed,
        "clock ahead",
    );
    n += rejected(
        recv,
        now - skew,
        sts,
        AuthErrorCode::RequestTimeTooSkewed,
        "clock behind",
    );
    if sts {
        let mut r = recv.clone();
        r.headers.remove("x-oss-security-token");
        r.headers.remove("security-token");
        n += rejected(
            &r,
            now,
            sts,
            AuthErrorCode::InvalidAccessKeyId,
            "token dropped",
        );
    }
    n
}

fn accept(recv: &Request, sts: bool, what: &str) {
    let keys = keys(sts);
    if let Err(e) = verify(recv, &keys, frozen(), &opts()) {
        panic!(
            "{what}: valid SDK request rejected: {e} (server signed {:?})",
            e.string_to_sign
        );
    }
}

#[test]
fn v1_header_vectors() {
    let cases = load_json("vectors/cases.json");
    let file = load_json("vectors/sig_v1_header.json");
    let mut t = Tally::default();
    for v in file["vectors"].as_array().unwrap() {
        t.vectors += 1;
        let case = case_by_id(&cases, s(&v["case"]));
        let sdk = s(&v["sdk"]);
        let what = format!("{sdk} / {} / {}", s(&v["case"]), s(&v["auth"]));
        let sts = is_sts(case);
        let set = if sdk.starts_with("alibabacloud-oss-v2") {
            Subresources::PythonV2
        } else {
            Subresources::Standard
        };
        let headers = if v["signed_request_headers"].is_object() {
            &v["signed_request_headers"]
        } else {
            &v["request_headers_given_to_signer"]
        };
        let mut req = case_request(case);
        set_headers(&mut req, headers, &["authorization"]);

        let expected = s(&v["authorization"]);
        assert_eq!(
            v1::authorization(&req, &creds(sts), set),
            expected,
            "{what}"
        );
        if let Some(sts_text) = v["string_to_sign"].as_str() {
            let date = v1::signed_date(&req).unwrap();
            assert_eq!(v1::string_to_sign(&req, &date, set), sts_text, "{what}");
        }
        t.reproduced += 1;

        // Through the signer our client uses, where it emits the same header set as the SDK.
        let (has_date, has_xdate) = (
            req.headers.contains_key("date"),
            req.headers.contains_key("x-oss-date"),
        );
        if set == Subresources::Standard && has_date != has_xdate {
            let dh = if has_xdate {
                v1::DateHeader::XOssDate
            } else {
                v1::DateHeader::Date
            };
            let mut fresh = case_request(case);
            set_headers(&mut fresh, &case["headers"], &[]);
            v1::sign(&mut fresh, &creds(sts), frozen(), dh).unwrap();
            assert_eq!(
                fresh.header("authorization").as_deref(),
                Some(expected),
                "{what} via signer"
            );
            t.via_signer += 1;
        }

        let recv = with_header(&req, "authorization", expected);
        accept(&recv, sts, &what);
        t.verified += 1;
        let date_name = if has_xdate { "x-oss-date" } else { "date" };
        t.mutations_rejected += header_mutations(&recv, expected, sts, &[], date_name);
    }
    println!("V1 header vectors: {t:?}");
    assert_eq!(t.reproduced, t.vectors);
    assert_eq!(t.verified, t.vectors);
    assert!(t.vectors >= 35 && t.via_signer >= 21, "{t:?}");
}

#[test]
fn v4_header_vectors() {
    let cases = load_json("vectors/cases.json");
    let file = load_json("vectors/sig_v4_header.json");
    let mut t = Tally::default();
    for v in file["vectors"].as_array().unwrap() {
        t.vectors += 1;
        let case = case_by_id(&cases, s(&v["case"]));
        let what = format!("{} / {} / {}", s(&v["sdk"]), s(&v["case"]), s(&v["auth"]));
        let sts = is_sts(case);
        let headers = if v["signed_request_headers"].is_object() {
            &v["signed_request_headers"]
        } else {
            &v["request_headers_given_to_signer"]
        };
        let mut req = case_request(case);
        set_headers(&mut req, headers, &["authorization"]);
        let additional: Vec<&str> = case["additional_headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(s)
            .collect();

        let expected = s(&v["authorization"]);
        let ours = v4::authorization(&req, &creds(sts), REGION, &additional).unwrap();
        assert_eq!(
            header::parse(&ours).unwrap(),
            header::parse(expected).unwrap(),
            "{what}"
        );
        if !expected.contains(", ") {
            assert_eq!(ours, expected, "{what}: layout");
        }
        let add = v4::additional_headers(&req, &additional);
        if let Some(creq) = v["canonical_request"].as_str() {
            assert_eq!(v4::canonical_request(&req, &add), creq, "{what}");
        }
        if let Some(sts_text) = v["string_to_sign"].as_str() {
            let ts = v4::signed_timestamp(&req).unwrap();
            let scope = v4::scope(&ts[..8], REGION, "oss");
            assert_eq!(
                v4::string_to_sign(&ts, &scope, &v4::canonical_request(&req, &add)),
                sts_text,
                "{what}"
            );
        }
        t.reproduced += 1;

        let has_xdate = req.headers.contains_key("x-oss-date");
        if has_xdate {
            let mut fresh = case_request(case);
            set_headers(&mut fresh, &case["headers"], &[]);
            v4::sign(&mut fresh, &creds(sts), REGION, frozen(), &additional).unwrap();
            let got = fresh.header("authorization").unwrap();
            assert_eq!(
                header::parse(&got).unwrap(),
                header::parse(expected).unwrap(),
                "{what} via signer"
            );
            t.via_signer += 1;
        }

        let recv = with_header(&req, "authorization", expected);
        accept(&recv, sts, &what);
        t.verified += 1;
        let add_owned: Vec<String> = add.clone();
        t.mutations_rejected += header_mutations(
            &recv,
            expected,
            sts,
            &add_owned,
            if has_xdate { "x-oss-date" } else { "date" },
        );
    }
    println!("V4 header vectors: {t:?}");
    assert_eq!(t.reproduced, t.vectors);
    assert_eq!(t.verified, t.vectors);
    assert!(t.vectors >= 28 && t.via_signer >= 21, "{t:?}");
}

fn url_parts(url: &str) -> (String, Vec<(String, String)>) {
    let rest = url.split_once("://").unwrap().1;
    let path_q = &rest[rest.find('/').unwrap()..];
    let (path, q) = path_q.split_once('?').unwrap_or((path_q, ""));
    (path.to_owned(), parse_query(q).unwrap())
}

fn sorted(mut q: Vec<(String, String)>) -> Vec<(String, String)> {
    q.sort();
    q
}

#[test]
fn presign_vectors() {
    let cases = load_json("vectors/cases.json");
    let file = load_json("vectors/presign.json");
    let mut t = Tally::default();
    for v in file["vectors"].as_array().unwrap() {
        t.vectors += 1;
        let case = case_by_id(&cases, s(&v["case"]));
        let sdk = s(&v["sdk"]);
        let auth = s(&v["auth"]);
        let what = format!("{sdk} / {} / {auth}", s(&v["case"]));
        let sts = is_sts(case);
        let is_v4 = auth.starts_with("v4");
        let (_, url_query) = url_parts(s(&v["url"]));

        let mut req = case_request(case);
        set_headers(&mut req, &case["headers"], &[]);
        let sent = req.clone();
        if is_v4 {
            let add: Vec<String> = url_query
                .iter()
                .find(|(k, _)| k == "x-oss-additional-headers")
                .map(|(_, v)| v.split(';').map(str::to_owned).collect())
                .unwrap_or_default();
            let add: Vec<&str> = add.iter().map(String::as_str).collect();
            presign_v4(
                &mut req,
                &creds(sts),
                REGION,
                frozen(),
                Duration::from_secs(3600),
                &add,
            )
            .unwrap();
        } else {
            let set = if sdk.starts_with("alibabacloud-oss-v2") {
                Subresources::PythonV2
            } else {
                Subresources::Standard
            };
            presign_v1_with(
                &mut req,
                &creds(sts),
                frozen() + Duration::from_secs(3600),
                set,
            )
            .unwrap();
        }
        assert_eq!(
            sorted(req.query.clone()),
            sorted(url_query.clone()),
            "{what}"
        );
        t.reproduced += 1;

        // The server's view: the URL's query plus the headers the caller sends.
        let mut recv = sent.clone();
        recv.query = url_query.clone();
        accept(&recv, sts, &what);
        t.verified += 1;

        let now = frozen();
        let sig_name = if is_v4 {
            "x-oss-signature"
        } else {
            "Signature"
        };
        let set_param = |name: &str, f: &dyn Fn(&str) -> String| {
            let mut r = recv.clone();
            for (k, v) in r.query.iter_mut() {
                if k == name {
                    *v = f(v);
                }
            }
            r
        };
        let r = set_param(sig_name, &flip_one);
        t.mutations_rejected += rejected(
            &r,
            now,
            sts,
            AuthErrorCode::SignatureDoesNotMatch,
            "signature byte",
        );
        let ak_param = if is_v4 {
            "x-oss-credential"
        } else {
            "OSSAccessKeyId"
        };
        let r = set_param(ak_param, &|v| v.replace(AK, "LTAI-test-iX"));
        t.mutations_rejected += rejected(
            &r,
            now,
            sts,
            AuthErrorCode::InvalidAccessKeyId,
            "access key id",
        );
        let date_param = if is_v4 { "x-oss-date" } else { "Expires" };
        let r = set_param(date_param, &|v| {
            if is_v4 {
                iso8601_basic(now + Duration::from_secs(1))
            } else {
                format!("{}", v.parse::<u64>().unwrap() + 1)
            }
        });
        t.mutations_rejected += rejected(
            &r,
            now,
            sts,
            AuthErrorCode::SignatureDoesNotMatch,
            "date/expiry",
        );
        if recv.headers.contains_key("content-type") {
            let r = with_header(&recv, "content-type", "text/html");
            t.mutations_rejected += rejected(
                &r,
                now,
                sts,
                AuthErrorCode::SignatureDoesNotMatch,
                "content-type",
            );
        }
        let expired_at = now + Duration::from_secs(3601);
        t.mutations_rejected += rejected(
            &recv,
            expired_at,
            sts,
            AuthErrorCode::AccessDenied,
            "expired",
        );
    }
    println!("presign vectors: {t:?}");
    assert_eq!(t.reproduced, t.vectors);
    assert_eq!(t.verified, t.vectors);
    assert!(t.vectors >= 38, "{t:?}");
}

#[test]
fn sts_keys_expire() {
    let cases = load_json("vectors/cases.json");
    let case = case_by_id(&cases, "get_object_range_sts_additional");
    let mut req = case_request(case);
    v4::sign(&mut req, &creds(true), REGION, frozen(), &[]).unwrap();
    let expired_key = |ak: &str| {
        (ak == AK).then(|| KnownKey {
            secret: SECRET.into(),
            security_token: Some(TOKEN.into()),
            expires: Some(frozen() - Duration::from_secs(1)),
        })
    };
    let err = verify(&req, &expired_key, frozen(), &opts()).unwrap_err();
    assert_eq!(err.code, AuthErrorCode::SecurityTokenExpired);
}
