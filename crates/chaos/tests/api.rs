//! The toxiproxy HTTP API: paths, status codes, JSON shapes and defaults.

mod common;

use common::*;
use ossguard_chaos::Chaos;
use serde_json::{json, Value};

struct Api {
    base: String,
    http: reqwest::Client,
    _server: ossguard_chaos::ApiServer,
}

impl Api {
    async fn start() -> Api {
        let chaos = Chaos::new();
        let server = chaos.serve_api("127.0.0.1:0").await.unwrap();
        Api {
            base: server.url(),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .unwrap(),
            _server: server,
        }
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value, String) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.http.request(m, format!("{}{}", self.base, path));
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let ctype = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let text = resp.text().await.unwrap();
        let v = serde_json::from_str(&text).unwrap_or(Value::Null);
        (status, v, ctype)
    }
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(|s| s.as_str()).collect();
    k.sort();
    k
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_lifecycle_status_codes_and_shapes() {
    let api = Api::start().await;
    let up = echo_server().await;

    let (s, v, ctype) = api.call("GET", "/proxies", None).await;
    assert_eq!((s, v), (200, json!({})));
    assert_eq!(ctype, "application/json");

    let (s, p, _) = api
        .call(
            "POST",
            "/proxies",
            Some(json!({"name": "oss", "listen": "127.0.0.1:0", "upstream": up.to_string()})),
        )
        .await;
    assert_eq!(s, 201);
    assert_eq!(
        keys(&p),
        ["enabled", "listen", "name", "toxics", "upstream"]
    );
    assert_eq!(p["enabled"], true, "enabled by default");
    assert_eq!(p["toxics"], json!([]));
    let listen: std::net::SocketAddr = p["listen"].as_str().unwrap().parse().unwrap();
    assert_ne!(listen.port(), 0, "port 0 is resolved to the real port");
    assert!(
        ms(rtt(&mut connect(listen).await).await) < 100.0,
        "and it forwards"
    );

    let (s, e, _) = api
        .call(
            "POST",
            "/proxies",
            Some(json!({"name": "oss", "upstream": up.to_string()})),
        )
        .await;
    assert_eq!(
        (s, e),
        (409, json!({"error": "proxy already exists", "status": 409}))
    );

    let (s, e, _) = api.call("GET", "/proxies/nope", None).await;
    assert_eq!(
        (s, e),
        (404, json!({"error": "proxy not found", "status": 404}))
    );
    for (m, path) in [
        ("POST", "/proxies/nope"),
        ("DELETE", "/proxies/nope"),
        ("GET", "/proxies/nope/toxics"),
    ] {
        let (s, _, _) = api.call(m, path, Some(json!({}))).await;
        assert_eq!(s, 404, "{m} {path}");
    }

    let (s, e, _) = api
        .call("POST", "/proxies", Some(json!({"upstream": "127.0.0.1:1"})))
        .await;
    assert_eq!(
        (s, e),
        (
            400,
            json!({"error": "missing required field: name", "status": 400})
        )
    );
    let (s, e, _) = api
        .call("POST", "/proxies", Some(json!({"name": "x"})))
        .await;
    assert_eq!(e["error"], "missing required field: upstream");
    assert_eq!(s, 400);
    let (s, e, _) = api.call("POST", "/proxies", Some(json!([1, 2]))).await;
    assert_eq!(s, 400);
    assert!(
        e["error"].as_str().unwrap().starts_with("bad request body"),
        "{e}"
    );

    let (s, all, _) = api.call("GET", "/proxies", None).await;
    assert_eq!(s, 200);
    assert_eq!(all["oss"], p, "GET /proxies is a map by name");
    let (s, one, _) = api.call("GET", "/proxies/oss", None).await;
    assert_eq!((s, &one), (200, &p));

    // down: refuses; up again: same port
    let (s, d, _) = api
        .call("POST", "/proxies/oss", Some(json!({"enabled": false})))
        .await;
    assert_eq!(s, 200);
    assert_eq!(d["enabled"], false);
    assert_eq!(d["listen"], p["listen"]);
    assert!(tokio::net::TcpStream::connect(listen).await.is_err());
    let (s, d, _) = api
        .call("PATCH", "/proxies/oss", Some(json!({"enabled": true})))
        .await;
    assert_eq!((s, &d["enabled"]), (200, &json!(true)));
    assert!(ms(rtt(&mut connect(listen).await).await) < 100.0);

    // disabled at creation: registered, not listening
    let (s, q, _) = api
        .call("POST", "/proxies", Some(json!({"name": "off", "listen": "127.0.0.1:0", "upstream": up.to_string(), "enabled": false})))
        .await;
    assert_eq!((s, &q["enabled"]), (201, &json!(false)));

    let (s, _, _) = api.call("DELETE", "/proxies/oss", None).await;
    assert_eq!(s, 204);
    assert!(
        tokio::net::TcpStream::connect(listen).await.is_err(),
        "deleted proxy stops listening"
    );
    let (s, _, _) = api.call("DELETE", "/proxies/oss", None).await;
    assert_eq!(s, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn toxic_lifecycle_status_codes_and_shapes() {
    let api = Api::start().await;
    let up = echo_server().await;
    api.call(
        "POST",
        "/proxies",
        Some(json!({"name": "p", "upstream": up.to_string()})),
    )
    .await;

    let (s, t, _) = api
        .call(
            "POST",
            "/proxies/p/toxics",
            Some(json!({"type": "latency", "attributes": {"latency": 50}})),
        )
        .await;
    assert_eq!(s, 200, "toxiproxy answers 200 (not 201) to a new toxic");
    assert_eq!(
        t,
        json!({"attributes": {"latency": 50, "jitter": 0}, "name": "latency_downstream",
               "type": "latency", "stream": "downstream", "toxicity": 1})
    );

    let (s, e, _) = api
        .call(
            "POST",
            "/proxies/p/toxics",
            Some(json!({"type": "latency"})),
        )
        .await;
    assert_eq!(
        (s, e),
        (409, json!({"error": "toxic already exists", "status": 409}))
    );
    let (s, e, _) = api
        .call(
            "POST",
            "/proxies/p/toxics",
            Some(json!({"type": "latency", "stream": "sideways"})),
        )
        .await;
    assert_eq!(
        (s, e),
        (
            400,
            json!({"error": "stream was invalid, can be either upstream or downstream", "status": 400})
        )
    );
    let (s, e, _) = api
        .call(
            "POST",
            "/proxies/p/toxics",
            Some(json!({"type": "gremlin"})),
        )
        .await;
    assert_eq!(
        (s, e),
        (400, json!({"error": "invalid toxic type", "status": 400}))
    );
    let (s, _, _) = api
        .call(
            "POST",
            "/proxies/p/toxics",
            Some(json!({"type": "bandwidth", "attributes": {"rate": "fast"}})),
        )
        .await;
    assert_eq!(s, 400);

    let (s, t2, _) = api
        .call(
            "POST",
            "/proxies/p/toxics",
            Some(json!({"name": "cut", "type": "reset_peer", "stream": "upstream", "toxicity": 0.25, "attributes": {"timeout": 10}})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(t2["stream"], "upstream");
    assert_eq!(t2["toxicity"], 0.25);

    // every toxic type toxiproxy has (plus ours) is accepted with its attribute names
    for (ty, attrs) in [
        ("bandwidth", json!({"rate": 100})),
        ("slow_close", json!({"delay": 100})),
        ("timeout", json!({"timeout": 100})),
        (
            "slicer",
            json!({"average_size": 10, "size_variation": 2, "delay": 5}),
        ),
        ("limit_data", json!({"bytes": 100})),
        ("noop", json!({})),
        ("loss", json!({"probability": 0.1, "rto": 200})),
    ] {
        let (s, t, _) = api
            .call(
                "POST",
                "/proxies/p/toxics",
                Some(json!({"type": ty, "stream": "upstream", "attributes": attrs})),
            )
            .await;
        assert_eq!(s, 200, "{ty}");
        assert_eq!(t["attributes"], attrs, "{ty}");
        assert_eq!(t["name"], format!("{ty}_upstream"));
    }

    let (s, list, _) = api.call("GET", "/proxies/p/toxics", None).await;
    assert_eq!(s, 200);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 9);
    assert_eq!(
        names.last(),
        Some(&"latency_downstream"),
        "upstream toxics are listed first"
    );
    let (_, proxy, _) = api.call("GET", "/proxies/p", None).await;
    assert_eq!(proxy["toxics"], list);

    let (s, one, _) = api
        .call("GET", "/proxies/p/toxics/latency_downstream", None)
        .await;
    assert_eq!((s, &one), (200, &t));
    let (s, e, _) = api.call("GET", "/proxies/p/toxics/nope", None).await;
    assert_eq!(
        (s, e),
        (404, json!({"error": "toxic not found", "status": 404}))
    );

    // update merges attributes and may change toxicity
    let (s, u, _) = api
        .call(
            "POST",
            "/proxies/p/toxics/latency_downstream",
            Some(json!({"attributes": {"jitter": 5}, "toxicity": 0.5})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(u["attributes"], json!({"latency": 50, "jitter": 5}));
    assert_eq!(u["toxicity"], 0.5);
    let (s, _, _) = api
        .call(
            "PATCH",
            "/proxies/p/toxics/nope",
            Some(json!({"attributes": {}})),
        )
        .await;
    assert_eq!(s, 404);

    let (s, _, _) = api
        .call("DELETE", "/proxies/p/toxics/latency_downstream", None)
        .await;
    assert_eq!(s, 204);
    let (s, _, _) = api
        .call("DELETE", "/proxies/p/toxics/latency_downstream", None)
        .await;
    assert_eq!(s, 404);

    // reset: every toxic gone, every proxy enabled
    api.call("POST", "/proxies/p", Some(json!({"enabled": false})))
        .await;
    let (s, _, _) = api.call("POST", "/reset", None).await;
    assert_eq!(s, 204);
    let (_, p, _) = api.call("GET", "/proxies/p", None).await;
    assert_eq!(p["toxics"], json!([]));
    assert_eq!(p["enabled"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn populate_version_and_guards() {
    let api = Api::start().await;
    let up = echo_server().await;
    let body = json!([
        {"name": "a", "listen": "127.0.0.1:0", "upstream": up.to_string()},
        {"name": "b", "listen": "127.0.0.1:0", "upstream": up.to_string(), "enabled": false},
    ]);
    let (s, v, _) = api.call("POST", "/populate", Some(body)).await;
    assert_eq!(s, 201);
    assert_eq!(keys(&v), ["proxies"]);
    let ps = v["proxies"].as_array().unwrap();
    assert_eq!(ps.len(), 2);
    assert_eq!(
        (&ps[0]["enabled"], &ps[1]["enabled"]),
        (&json!(true), &json!(false))
    );
    let a_listen = ps[0]["listen"].as_str().unwrap().to_string();
    assert!(!a_listen.ends_with(":0"));

    // populating the same (real) address again keeps the proxy
    let (s, v, _) = api
        .call(
            "POST",
            "/populate",
            Some(json!([{"name": "a", "listen": a_listen, "upstream": up.to_string()}])),
        )
        .await;
    assert_eq!(s, 201);
    assert_eq!(v["proxies"][0]["listen"], a_listen.as_str());

    let (s, v, _) = api
        .call(
            "POST",
            "/populate",
            Some(json!([{"name": "c", "upstream": up.to_string()}, {"name": "d"}])),
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(v["error"], "missing required field: upstream at proxy 2");
    assert_eq!(v["status"], 400);
    let (_, all, _) = api.call("GET", "/proxies", None).await;
    assert!(
        all.get("c").is_none(),
        "nothing is applied when an entry is invalid"
    );

    let (s, v, ctype) = api.call("GET", "/version", None).await;
    assert_eq!(s, 200);
    assert!(ctype.starts_with("application/json"));
    assert!(v["version"]
        .as_str()
        .unwrap()
        .contains(env!("CARGO_PKG_VERSION")));

    // browsers are refused (a web page must not drive the proxy); wrong methods are 405
    let resp = api
        .http
        .get(format!("{}/proxies", api.base))
        .header("user-agent", "Mozilla/5.0 (X11; Linux x86_64)")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    let (s, _, _) = api.call("PUT", "/proxies", None).await;
    assert_eq!(s, 405);
}
