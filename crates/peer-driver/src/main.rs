//! ossguard's library as a peer of `benches/peers/run` (issue 13): the same driver contract as
//! the SDK drivers (`benches/peers/README.md`): `argv[1]` = a JSON spec, ONE JSON line out; env
//! `OSS_ENDPOINT`, `OSS_REGION`, `OSS_ACCESS_KEY_ID`, `OSS_ACCESS_KEY_SECRET`.
//!
//! The CLI row of the harness measures a process per workload (LIST, then one GET per key
//! into files); this row measures what a Rust program linking the library gets, like the other
//! drivers: `Policy::default()`, bodies in memory (CRC-64 checked), whole files through
//! `upload_file` / `download_file` at `TransferOptions::default()`.
#![forbid(unsafe_code)]

use std::path::Path;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use futures_util::{StreamExt, TryStreamExt};
use ossguard::{Body, Client, Credentials, ListOptions, SignatureVersion, TransferOptions};
use serde_json::{json, Value};

/// The body of key `k` of size `size`: `k + "\n"` repeated (the harness's `content`).
fn content(key: &str, size: usize) -> Vec<u8> {
    let unit = format!("{key}\n").into_bytes();
    let mut body = unit.repeat(size / unit.len() + 1);
    body.truncate(size);
    body
}

/// Whether `got` is [`content`] of `key` and `size`, compared in place: building the expected
/// body byte by byte for every GET was ~6 % of a small-GET run's CPU, the bench's not the client's.
fn is_content(key: &str, size: usize, got: &[u8]) -> bool {
    let unit = format!("{key}\n").into_bytes();
    got.len() == size && got.chunks(unit.len()).all(|c| c == &unit[..c.len()])
}

fn wall() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn s(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn n(v: &Value, k: &str, def: u64) -> u64 {
    v.get(k).and_then(Value::as_u64).unwrap_or(def)
}

fn client() -> Result<Client, String> {
    let env = |k: &str| std::env::var(k).map_err(|_| format!("{k} is not set"));
    // V4 is the default and what the harness measures; `OSSGUARD_SIGNATURE=v1` is for
    // measuring what V4 costs (OpenDAL signs V1).
    let signature = match std::env::var("OSSGUARD_SIGNATURE").as_deref() {
        Ok("v1") => SignatureVersion::V1,
        _ => SignatureVersion::V4,
    };
    Client::builder()
        .signature_version(signature)
        .endpoint(env("OSS_ENDPOINT")?)
        .region(std::env::var("OSS_REGION").unwrap_or_else(|_| "cn-hangzhou".into()))
        .credentials(Credentials::new(
            env("OSS_ACCESS_KEY_ID")?,
            env("OSS_ACCESS_KEY_SECRET")?,
        ))
        .build()
        .map_err(|e| e.to_string())
}

fn pct(lat: &[f64], p: f64) -> Value {
    if lat.is_empty() {
        return Value::Null;
    }
    json!(lat[((p * lat.len() as f64) as usize).min(lat.len() - 1)])
}

/// `n` keys `prefix%06d`, `conc` at once; `one` answers whether the bytes were right.
async fn many<F, Fut>(spec: &Value, one: F) -> Value
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<bool, String>>,
{
    let (count, conc) = (n(spec, "n", 0) as usize, n(spec, "conc", 16) as usize);
    let prefix = s(spec, "prefix");
    let t0 = Instant::now();
    let outcomes: Vec<(f64, Result<bool, String>)> = futures_util::stream::iter(0..count)
        .map(|i| {
            let fut = one(format!("{prefix}{i:06}"));
            async move {
                let t = Instant::now();
                let r = fut.await;
                (t.elapsed().as_secs_f64() * 1000.0, r)
            }
        })
        .buffer_unordered(conc.max(1))
        .collect()
        .await;
    let secs = t0.elapsed().as_secs_f64();
    let (mut lat, mut errors, mut corrupt, mut first) = (Vec::new(), 0, 0, None);
    for (ms, r) in outcomes {
        match r {
            Ok(good) => {
                lat.push(ms);
                corrupt += usize::from(!good);
            }
            Err(e) => {
                errors += 1;
                first.get_or_insert(e);
            }
        }
    }
    lat.sort_by(f64::total_cmp);
    let mut out = json!({"ok": errors == 0 && corrupt == 0, "n": count, "conc": conc,
        "secs": secs, "ops_per_s": count as f64 / secs, "errors": errors, "corrupt": corrupt,
        "p50_ms": pct(&lat, 0.5), "p99_ms": pct(&lat, 0.99), "p999_ms": pct(&lat, 0.999),
        "max_ms": pct(&lat, 1.0)});
    if let Some(e) = first {
        out["error"] = json!(e);
    }
    out
}

async fn run(spec: &Value, c: &Client) -> Result<Value, String> {
    let bucket = s(spec, "bucket");
    let size = n(spec, "size", 4096) as usize;
    let err = |e: ossguard::Error| e.to_string();
    let t0 = Instant::now();
    match s(spec, "op").as_str() {
        "upload" => {
            let file = s(spec, "file");
            c.upload_file(
                Path::new(&file),
                &bucket,
                &s(spec, "key"),
                &TransferOptions::default(),
            )
            .await
            .map_err(err)?;
            Ok(json!({"ok": true, "secs": t0.elapsed().as_secs_f64()}))
        }
        "download" => {
            let file = s(spec, "file");
            c.download_file(
                &bucket,
                &s(spec, "key"),
                Path::new(&file),
                &TransferOptions::default(),
            )
            .await
            .map_err(err)?;
            Ok(json!({"ok": true, "secs": t0.elapsed().as_secs_f64()}))
        }
        "put" => Ok(many(spec, |k| {
            let (c, bucket) = (c.clone(), bucket.clone());
            async move {
                let body = Body::from(content(&k, size));
                c.put_object(&bucket, &k, body, Default::default())
                    .await
                    .map(|_| true)
                    .map_err(|e| e.to_string())
            }
        })
        .await),
        "get" => Ok(many(spec, |k| {
            let (c, bucket) = (c.clone(), bucket.clone());
            async move {
                let got = c
                    .get_object(&bucket, &k, Default::default())
                    .await
                    .map_err(|e| e.to_string())?
                    .bytes()
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(is_content(&k, size, &got))
            }
        })
        .await),
        "list" => {
            let pages = c.list_objects(
                &bucket,
                ListOptions {
                    prefix: s(spec, "prefix"),
                    ..Default::default()
                },
            );
            let count = pages
                .try_fold(0usize, |acc, p| async move { Ok(acc + p.objects.len()) })
                .await
                .map_err(err)?;
            Ok(json!({"ok": true, "count": count, "secs": t0.elapsed().as_secs_f64()}))
        }
        "probe" => {
            // Sequential GETs for `duration` seconds: when did the peer work again after the
            // outage? Each event is [start, end, ok] in wall-clock seconds.
            let key = s(spec, "key");
            let want = content(&key, size);
            let duration = spec.get("duration").and_then(Value::as_f64).unwrap_or(5.0);
            let mut events = Vec::new();
            while t0.elapsed().as_secs_f64() < duration && events.len() < 100_000 {
                let start = wall();
                let got = match c.get_object(&bucket, &key, Default::default()).await {
                    Ok(out) => out.bytes().await.ok(),
                    Err(_) => None,
                };
                let ok = got.is_some_and(|b| b[..] == want[..]);
                events.push(json!([start, wall(), ok]));
                if !ok {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            }
            Ok(json!({"ok": true, "events": events}))
        }
        other => Err(format!("unknown op {other:?}")),
    }
}

#[tokio::main]
async fn main() {
    let spec: Value = match std::env::args().nth(1).map(|a| serde_json::from_str(&a)) {
        Some(Ok(v)) => v,
        _ => {
            eprintln!("usage: ossguard-peer-driver '<json spec>' (benches/peers/README.md)");
            std::process::exit(2);
        }
    };
    let mut out = match client() {
        Ok(c) => {
            let mut out = match run(&spec, &c).await {
                Ok(v) => v,
                Err(e) => json!({"ok": false, "error": e}),
            };
            // What the pipeline sent for it: hedges and retries cost the server requests.
            let st = c.stats();
            out["client"] = json!({"operations": st.operations, "attempts": st.attempts,
                "retries": st.retries, "hedges": st.hedges});
            out
        }
        Err(e) => json!({"ok": false, "error": e}),
    };
    out["peer"] = json!("ossguard-lib");
    out["op"] = json!(s(&spec, "op"));
    println!("{out}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_the_key_line_repeated_and_the_check_catches_any_difference() {
        let body = content("k1", 10);
        assert_eq!(body, b"k1\nk1\nk1\nk");
        assert!(is_content("k1", 10, &body));
        for i in 0..body.len() {
            let mut bad = body.clone();
            bad[i] ^= 0x20;
            assert!(!is_content("k1", 10, &bad), "flipped byte {i} passed");
        }
        assert!(!is_content("k1", 10, &body[..9]));
        assert!(!is_content("k1", 9, &body));
        assert!(!is_content("k2", 10, &body));
        assert!(is_content("k", 0, b""));
    }
}
