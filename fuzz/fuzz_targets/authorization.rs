//! The Authorization header parser and the verifier behind it: no panic on any header.
#![no_main]
use http::{HeaderValue, Method};
use libfuzzer_sys::fuzz_target;
use ossguard_proto::auth::header;
use ossguard_proto::auth::verify::{verify, KnownKey, VerifyOptions};
use ossguard_proto::time::from_unix_seconds;
use ossguard_proto::Request;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = header::parse(s);
    let mut req = Request::new(Method::PUT, Some("bucket"), Some("key"));
    if let Ok(v) = HeaderValue::from_str(s) {
        req.headers.insert("authorization", v);
        req.headers
            .insert("x-oss-date", HeaderValue::from_static("20231114T221320Z"));
        req.headers.insert(
            "date",
            HeaderValue::from_static("Tue, 14 Nov 2023 22:13:20 GMT"),
        );
        let keys = |ak: &str| (!ak.is_empty()).then(|| KnownKey::permanent("secret"));
        let r = verify(
            &req,
            &keys,
            from_unix_seconds(1_700_000_000),
            &VerifyOptions::default(),
        );
        // A made-up header must never verify against a secret it cannot know.
        assert!(r.is_err(), "verified a fuzzed Authorization header: {s:?}");
    }
});
