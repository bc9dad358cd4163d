//! Query strings, as presigned URLs carry their signature: parse, then verify. No panic, and
//! nothing verifies.
#![no_main]
use http::Method;
use libfuzzer_sys::fuzz_target;
use ossguard_proto::auth::verify::{verify, KnownKey, VerifyOptions};
use ossguard_proto::encoding::parse_query;
use ossguard_proto::time::from_unix_seconds;
use ossguard_proto::Request;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(query) = parse_query(s) else {
        return;
    };
    let mut req = Request::new(Method::GET, Some("bucket"), Some("key"));
    req.query = query;
    let keys = |ak: &str| (!ak.is_empty()).then(|| KnownKey::permanent("secret"));
    let r = verify(
        &req,
        &keys,
        from_unix_seconds(1_700_000_000),
        &VerifyOptions::default(),
    );
    if let Ok(p) = r {
        // Only an unsigned request may pass (as anonymous): a signature never verifies.
        assert!(
            matches!(p, ossguard_proto::auth::verify::Principal::Anonymous),
            "a fuzzed presigned query verified: {s:?}"
        );
    }
});
