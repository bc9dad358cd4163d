//! Shared loaders for the protocol ground truth in `../shared/oss-protocol`.
#![allow(dead_code)]

use std::path::PathBuf;

use http::Method;
use ossguard_proto::auth::verify::{KnownKey, VerifyOptions};
use ossguard_proto::Request;
use serde_json::Value;

/// The protocol notes directory: `$OSSGUARD_PROTOCOL_DIR` or `../shared/oss-protocol` beside the
/// repository. Missing ground truth is a failure, never a skip.
pub fn protocol_dir() -> PathBuf {
    if let Ok(d) = std::env::var("OSSGUARD_PROTOCOL_DIR") {
        return PathBuf::from(d);
    }
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = here.join("../../../shared/oss-protocol");
    assert!(
        dir.is_dir(),
        "protocol ground truth not found at {} (set OSSGUARD_PROTOCOL_DIR)",
        dir.display()
    );
    dir
}

pub fn load_json(rel: &str) -> Value {
    let path = protocol_dir().join(rel);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad JSON in {}: {e}", path.display()))
}

pub fn load_jsonl(rel: &str) -> Vec<Value> {
    let path = protocol_dir().join(rel);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("bad JSON line"))
        .collect()
}

pub fn capture_files() -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(protocol_dir().join("captures"))
        .expect("captures dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("raw_") && n.ends_with(".jsonl"))
        .collect();
    out.sort();
    out
}

pub fn s(v: &Value) -> &str {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
}

/// The request a vector case describes, without any headers.
pub fn case_request(case: &Value) -> Request {
    let method = Method::from_bytes(s(&case["method"]).as_bytes()).unwrap();
    let mut req = Request::new(method, case["bucket"].as_str(), case["key"].as_str());
    for q in case["query"].as_array().unwrap() {
        req.query
            .push((s(&q[0]).to_owned(), q[1].as_str().unwrap_or("").to_owned()));
    }
    req
}

pub fn case_by_id<'a>(cases: &'a Value, id: &str) -> &'a Value {
    cases["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no case {id}"))
}

/// Sets every header of a JSON object on the request, skipping `skip` (lower-case names).
pub fn set_headers(req: &mut Request, headers: &Value, skip: &[&str]) {
    if let Some(map) = headers.as_object() {
        for (k, v) in map {
            if !skip.contains(&k.to_ascii_lowercase().as_str()) {
                req.set_header(k, s(v)).unwrap();
            }
        }
    }
}

pub const AK: &str = "LTAI-test-id";
pub const SECRET: &str = "test-secret";
pub const TOKEN: &str = "CAIS-test-token+/=";

/// The test key; for STS cases it only works with its token.
pub fn keys(sts: bool) -> impl Fn(&str) -> Option<KnownKey> {
    move |ak: &str| {
        (ak == AK).then(|| KnownKey {
            secret: SECRET.into(),
            security_token: sts.then(|| TOKEN.into()),
            expires: None,
        })
    }
}

pub fn opts() -> VerifyOptions {
    VerifyOptions::default()
}
