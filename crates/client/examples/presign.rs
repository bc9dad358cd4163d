//! Presigned URLs: let something that has no credentials — a browser, `curl`, another service —
//! read or write one object for a limited time. The URL carries the signature; any HTTP client
//! can use it (here plain `reqwest`).
//!
//! `cargo run -p ossguard --example presign` runs it against an OSS emulator it starts on
//! 127.0.0.1 (no credentials, no network). To use real OSS instead set `OSS_ENDPOINT`,
//! `OSS_ACCESS_KEY_ID`, `OSS_ACCESS_KEY_SECRET` and `OSS_BUCKET` (see `common/mod.rs`).

mod common;

use std::time::Duration;

use http::Method;
use ossguard::SignatureVersion;

#[tokio::main]
async fn main() -> common::Result {
    let env = common::Env::start().await?;
    let client = env.client()?;
    let key = env.key("presigned.txt");
    let valid = Duration::from_secs(300); // V4 URLs live 7 days at most

    // A PUT URL: whoever holds it may upload this one key, for 5 minutes.
    let put_url = client
        .presign_url(Method::PUT, &env.bucket, &key, valid, SignatureVersion::V4)
        .await?;
    println!("PUT {put_url}");
    let http = reqwest::Client::new();
    let response = http
        .put(&put_url)
        .body("uploaded without credentials")
        .send()
        .await?;
    assert!(response.status().is_success(), "{}", response.status());

    // A GET URL for the same object.
    let get_url = client
        .presign_url(Method::GET, &env.bucket, &key, valid, SignatureVersion::V4)
        .await?;
    println!("GET {get_url}");
    let text = http
        .get(&get_url)
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    assert_eq!(text, "uploaded without credentials");

    // The signature covers the method, bucket and key: the same URL cannot be used for
    // anything else (OSS answers 403 SignatureDoesNotMatch).
    let other = get_url.replacen("presigned.txt", "other.txt", 1);
    let status = http.get(&other).send().await?.status();
    println!("the GET URL edited to another key: {status}");
    assert_eq!(status, reqwest::StatusCode::FORBIDDEN);
    Ok(())
}
