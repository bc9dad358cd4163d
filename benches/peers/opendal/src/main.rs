//! OpenDAL (`services-oss`) peer of benches/peers/run. Contract: argv[1] = JSON spec, one JSON
//! line out (benches/peers/README.md); env OSS_ENDPOINT, OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET.
//!
//! OpenDAL speaks virtual-hosted addressing only: `<bucket>.localhost:PORT` is resolved to the
//! server's 127.0.0.1 by the reqwest client (no /etc/hosts edit). Defaults are OpenDAL's own:
//! no RetryLayer, one part in flight. With `"threads": n` in the spec (the tuned row): a
//! RetryLayer and `concurrent(n)` on writers and readers.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use futures::{StreamExt, TryStreamExt};
use opendal::layers::{HttpClientLayer, RetryLayer};
use opendal::raw::HttpClient;
use opendal::{services::Oss, Operator};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Part (chunk) size of whole-file transfers: 8 MiB, as the Go driver.
const CHUNK: usize = 8 << 20;

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

fn now() -> f64 {
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

fn operator(spec: &Value) -> Result<Operator, String> {
    let endpoint = std::env::var("OSS_ENDPOINT").map_err(|_| "OSS_ENDPOINT not set")?;
    let bucket = s(spec, "bucket");
    let port = endpoint
        .rsplit(':')
        .next()
        .unwrap_or("80")
        .trim_end_matches('/');
    let addr: SocketAddr = format!("127.0.0.1:{port}")
        .parse()
        .map_err(|e| format!("{e}"))?;
    let client = reqwest::Client::builder()
        .resolve(&format!("{bucket}.localhost"), addr)
        .build()
        .map_err(|e| e.to_string())?;
    let builder = Oss::default()
        .bucket(&bucket)
        .endpoint(&format!("http://localhost:{port}"))
        .access_key_id(&std::env::var("OSS_ACCESS_KEY_ID").unwrap_or_default())
        .access_key_secret(&std::env::var("OSS_ACCESS_KEY_SECRET").unwrap_or_default());
    let op = Operator::new(builder)
        .map_err(|e| e.to_string())?
        .layer(HttpClientLayer::new(HttpClient::with(client)));
    Ok(if spec.get("threads").is_some() {
        op.layer(RetryLayer::new()).finish()
    } else {
        op.finish()
    })
}

fn pct(lat: &[f64], p: f64) -> Value {
    if lat.is_empty() {
        return Value::Null;
    }
    let i = ((p * lat.len() as f64) as usize).min(lat.len() - 1);
    json!(lat[i])
}

async fn many<F, Fut>(spec: &Value, one: F) -> Value
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<bool, String>>,
{
    let (count, conc) = (n(spec, "n", 0) as usize, n(spec, "conc", 16) as usize);
    let prefix = s(spec, "prefix");
    let t0 = Instant::now();
    let outcomes: Vec<(f64, Result<bool, String>)> = futures::stream::iter(0..count)
        .map(|i| {
            let k = format!("{prefix}{i:06}");
            let fut = one(k);
            async move {
                let t = Instant::now();
                let r = fut.await;
                (t.elapsed().as_secs_f64() * 1000.0, r)
            }
        })
        .buffer_unordered(conc)
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
    let mut out = json!({"ok": errors == 0 && corrupt == 0, "n": count, "conc": conc, "secs": secs,
        "ops_per_s": count as f64 / secs, "errors": errors, "corrupt": corrupt,
        "p50_ms": pct(&lat, 0.5), "p99_ms": pct(&lat, 0.99), "p999_ms": pct(&lat, 0.999),
        "max_ms": pct(&lat, 1.0)});
    if let Some(e) = first {
        out["error"] = json!(e);
    }
    out
}

async fn run(spec: &Value) -> Result<Value, String> {
    let op = operator(spec)?;
    let threads = n(spec, "threads", 1) as usize;
    let size = n(spec, "size", 4096) as usize;
    let err = |e: opendal::Error| e.to_string();
    match s(spec, "op").as_str() {
        "upload" => {
            let mut f = tokio::fs::File::open(s(spec, "file"))
                .await
                .map_err(|e| e.to_string())?;
            let mut w = op
                .writer_with(&s(spec, "key"))
                .chunk(CHUNK)
                .concurrent(threads)
                .await
                .map_err(err)?;
            let mut buf = vec![0u8; CHUNK];
            loop {
                let got = f.read(&mut buf).await.map_err(|e| e.to_string())?;
                if got == 0 {
                    break;
                }
                w.write(bytes::Bytes::copy_from_slice(&buf[..got]))
                    .await
                    .map_err(err)?;
            }
            w.close().await.map_err(err)?;
            Ok(json!({"ok": true}))
        }
        "download" => {
            let r = op
                .reader_with(&s(spec, "key"))
                .chunk(CHUNK)
                .concurrent(threads)
                .await
                .map_err(err)?;
            let mut stream = r.into_bytes_stream(..).await.map_err(err)?;
            let mut f = tokio::fs::File::create(s(spec, "file"))
                .await
                .map_err(|e| e.to_string())?;
            while let Some(b) = stream.try_next().await.map_err(|e| e.to_string())? {
                f.write_all(&b).await.map_err(|e| e.to_string())?;
            }
            f.flush().await.map_err(|e| e.to_string())?;
            Ok(json!({"ok": true}))
        }
        "put" => {
            let op = Arc::new(op);
            Ok(many(spec, |k| {
                let op = op.clone();
                async move {
                    op.write(&k, content(&k, size))
                        .await
                        .map(|_| true)
                        .map_err(err)
                }
            })
            .await)
        }
        "get" => {
            let op = Arc::new(op);
            Ok(many(spec, |k| {
                let op = op.clone();
                async move {
                    op.read(&k)
                        .await
                        .map(|b| is_content(&k, size, &b.to_bytes()))
                        .map_err(err)
                }
            })
            .await)
        }
        "list" => {
            let entries = op
                .list_with(&s(spec, "prefix"))
                .recursive(true)
                .await
                .map_err(err)?;
            let count = entries.iter().filter(|e| !e.path().ends_with('/')).count();
            Ok(json!({"ok": true, "count": count}))
        }
        "probe" => {
            let key = s(spec, "key");
            let want = content(&key, size);
            let end = now() + spec.get("duration").and_then(Value::as_f64).unwrap_or(1.0);
            let mut events = Vec::new();
            while now() < end && events.len() < 100_000 {
                let t = now();
                let good = matches!(op.read(&key).await, Ok(b) if b.to_vec() == want);
                events.push(json!([t, now(), good]));
                if !good {
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
    let arg = std::env::args().nth(1).unwrap_or_default();
    let Ok(spec) = serde_json::from_str::<Value>(&arg) else {
        eprintln!("usage: opendal-peer-bench '<json spec>'");
        std::process::exit(2);
    };
    let t0 = Instant::now();
    let mut res = run(&spec)
        .await
        .unwrap_or_else(|e| json!({"ok": false, "error": e}));
    if res.get("secs").is_none() {
        res["secs"] = json!(t0.elapsed().as_secs_f64());
    }
    res["peer"] = json!("opendal");
    res["op"] = json!(s(&spec, "op"));
    println!("{res}");
}
