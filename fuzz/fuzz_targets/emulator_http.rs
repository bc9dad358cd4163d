//! The emulator's HTTP request path: fuzzed method, path, query, headers and body, sent over
//! 127.0.0.1 to an in-process `ossguard serve` — half of them signed with its real key, so
//! the handlers behind authentication see fuzzed input too. No panic (a panic in a handler
//! kills the connection: the request fails without a status), and no 5xx except the ones OSS
//! documents for a body the server could not take.
#![no_main]
use std::sync::OnceLock;
use std::time::SystemTime;

use libfuzzer_sys::fuzz_target;
use ossguard_emulator::server::{Emulator, EmulatorConfig};
use ossguard_proto::auth::{v1, v4};
use ossguard_proto::{AddressingStyle, Credentials, Request};

struct World {
    rt: tokio::runtime::Runtime,
    endpoint: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
    _emu: Emulator,
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = EmulatorConfig::local(dir.path().join("data"), "fuzz-ak", "fuzz-sk");
        cfg.sync = false;
        let emu = rt.block_on(Emulator::start(cfg)).unwrap();
        let endpoint = emu.endpoint();
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(5))
            .build()
            .unwrap();
        let w = World {
            rt,
            endpoint,
            http,
            _dir: dir,
            _emu: emu,
        };
        // A bucket and an object for the fuzzed requests to find.
        w.rt.block_on(async {
            for (m, key, body) in [("PUT", None, ""), ("PUT", Some("obj"), "hello")] {
                let mut req = Request::new(m.parse().unwrap(), Some("fuzz"), key);
                sign(&mut req, true);
                send(&w, &req, body.as_bytes().to_vec()).await;
            }
        });
        w
    })
}

fn sign(req: &mut Request, v4_sig: bool) {
    let creds = Credentials::new("fuzz-ak", "fuzz-sk");
    let now = SystemTime::now();
    let _ = if v4_sig {
        v4::sign(req, &creds, "cn-hangzhou", now, &[])
    } else {
        v1::sign(req, &creds, now, v1::DateHeader::Date)
    };
}

async fn send(w: &World, req: &Request, body: Vec<u8>) -> Option<u16> {
    let url = format!(
        "{}{}",
        w.endpoint,
        req.path_and_query(AddressingStyle::Path)
    );
    let mut rb = w.http.request(req.method.clone(), url).body(body);
    for (n, v) in &req.headers {
        if n != "host" && n != "content-length" {
            rb = rb.header(n, v);
        }
    }
    let resp = rb.send().await.ok()?;
    let status = resp.status().as_u16();
    let _ = resp.bytes().await;
    Some(status)
}

fuzz_target!(|data: &[u8]| {
    // Layout: flags byte, then "method\npath-and-key\nquery\nheader: value\n...\n\nbody".
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let (head, body) = match rest.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&rest[..i], rest[i + 2..].to_vec()),
        None => (rest, Vec::new()),
    };
    let Ok(head) = std::str::from_utf8(head) else {
        return;
    };
    let mut lines = head.split('\n');
    let method = match lines.next().unwrap_or("").to_ascii_uppercase().as_str() {
        "PUT" => http::Method::PUT,
        "POST" => http::Method::POST,
        "DELETE" => http::Method::DELETE,
        "HEAD" => http::Method::HEAD,
        "OPTIONS" => http::Method::OPTIONS,
        _ => http::Method::GET,
    };
    let key = lines.next().filter(|k| !k.is_empty());
    let bucket = if flags & 4 == 0 { Some("fuzz") } else { None };
    let mut req = Request::new(method, bucket, key);
    if let Some(q) = lines.next() {
        if let Ok(query) = ossguard_proto::encoding::parse_query(q) {
            req.query = query;
        }
    }
    for l in lines {
        if let Some((n, v)) = l.split_once(':') {
            let _ = req.set_header(n.trim(), v.trim());
        }
    }
    if flags & 1 == 1 {
        sign(&mut req, flags & 2 == 2);
    }
    let w = world();
    let status = w.rt.block_on(send(w, &req, body));
    if let Some(s) = status {
        assert!(
            s < 500 || s == 501 || s == 503,
            "server error {s} for {req:?}"
        );
    }
});
