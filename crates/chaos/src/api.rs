//! toxiproxy's HTTP API (v2) over a [`Chaos`] collection.
//!
//! | method | path | success |
//! |---|---|---|
//! | GET | `/proxies` | 200 `{name: proxy}` |
//! | POST | `/proxies` | 201 proxy |
//! | POST | `/populate` | 201 `{proxies: [...]}` |
//! | GET | `/proxies/{proxy}` | 200 proxy |
//! | POST, PATCH | `/proxies/{proxy}` | 200 proxy |
//! | DELETE | `/proxies/{proxy}` | 204 |
//! | GET | `/proxies/{proxy}/toxics` | 200 `[toxic]` |
//! | POST | `/proxies/{proxy}/toxics` | 200 toxic |
//! | GET | `/proxies/{proxy}/toxics/{toxic}` | 200 toxic |
//! | POST, PATCH | `/proxies/{proxy}/toxics/{toxic}` | 200 toxic |
//! | DELETE | `/proxies/{proxy}/toxics/{toxic}` | 204 |
//! | POST | `/reset` | 204 |
//! | GET | `/version` | 200 `{"version": "..."}` |
//!
//! Errors are `{"error": "...", "status": N}` with toxiproxy's statuses and messages. As in
//! toxiproxy, a request whose `User-Agent` starts with `Mozilla/` is refused with 403, so a web
//! page cannot drive the proxy from a developer's browser.

use std::io;
use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Serialize;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::model::{parse_json, parse_proxy_input, ApiError, ProxyConfig, ProxyUpdate};
use crate::server::Chaos;

/// The version `GET /version` reports.
pub const VERSION: &str = concat!("ossguard-chaos ", env!("CARGO_PKG_VERSION"));

fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(b) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            b,
        )
            .into_response(),
        Err(e) => error(ApiError::internal(e.to_string())),
    }
}

fn error(e: ApiError) -> Response {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut body = serde_json::to_vec(&e).unwrap_or_default();
    body.push(b'\n');
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

fn reply<T: Serialize>(status: StatusCode, r: Result<T, ApiError>) -> Response {
    match r {
        Ok(v) => json(status, &v),
        Err(e) => error(e),
    }
}

fn no_content(r: Result<(), ApiError>) -> Response {
    match r {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => error(e),
    }
}

async fn stop_browsers(req: Request, next: Next) -> Response {
    let ua = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ua.starts_with("Mozilla/") {
        return (StatusCode::FORBIDDEN, "User agent not allowed\n").into_response();
    }
    next.run(req).await
}

/// The API as an axum router (mount it, or use [`Chaos::serve_api`]).
pub fn router(chaos: Chaos) -> Router {
    Router::new()
        .route("/reset", post(reset))
        .route("/proxies", get(proxy_index).post(proxy_create))
        .route("/populate", post(populate))
        .route(
            "/proxies/{proxy}",
            get(proxy_show)
                .post(proxy_update)
                .patch(proxy_update)
                .delete(proxy_delete),
        )
        .route(
            "/proxies/{proxy}/toxics",
            get(toxic_index).post(toxic_create),
        )
        .route(
            "/proxies/{proxy}/toxics/{toxic}",
            get(toxic_show)
                .post(toxic_update)
                .patch(toxic_update)
                .delete(toxic_delete),
        )
        .route("/version", get(version))
        .route("/metrics", get(metrics))
        .layer(middleware::from_fn(stop_browsers))
        .with_state(chaos)
}

async fn reset(State(c): State<Chaos>) -> Response {
    no_content(c.reset().await)
}

async fn proxy_index(State(c): State<Chaos>) -> Response {
    json(StatusCode::OK, &c.proxies().await)
}

async fn proxy_create(State(c): State<Chaos>, body: Bytes) -> Response {
    let config = parse_json(&body)
        .and_then(|v| parse_proxy_input(&v))
        .map(|p| ProxyConfig {
            name: p.name.unwrap_or_default(),
            listen: p.listen.unwrap_or_default(),
            upstream: p.upstream.unwrap_or_default(),
            enabled: p.enabled.unwrap_or(true),
        });
    match config {
        Ok(config) => reply(StatusCode::CREATED, c.create_proxy(config).await),
        Err(e) => error(e),
    }
}

async fn populate(State(c): State<Chaos>, body: Bytes) -> Response {
    let (proxies, err) = c.populate_json(&body).await;
    let mut obj = serde_json::Map::new();
    let status = match &err {
        Some(e) => {
            obj.insert("error".into(), Value::String(e.message.clone()));
            obj.insert("status".into(), Value::from(e.status));
            StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
        }
        None => StatusCode::CREATED,
    };
    obj.insert(
        "proxies".into(),
        serde_json::to_value(&proxies).unwrap_or(Value::Array(Vec::new())),
    );
    json(status, &obj)
}

async fn proxy_show(State(c): State<Chaos>, Path(name): Path<String>) -> Response {
    reply(StatusCode::OK, c.proxy(&name).await)
}

async fn proxy_update(State(c): State<Chaos>, Path(name): Path<String>, body: Bytes) -> Response {
    // toxiproxy: 404 for an unknown proxy comes before the body is looked at
    if let Err(e) = c.proxy(&name).await {
        return error(e);
    }
    let update = parse_json(&body)
        .and_then(|v| parse_proxy_input(&v))
        .map(|p| ProxyUpdate {
            listen: p.listen,
            upstream: p.upstream,
            enabled: p.enabled,
        });
    match update {
        Ok(u) => reply(StatusCode::OK, c.update_proxy(&name, u).await),
        Err(e) => error(e),
    }
}

async fn proxy_delete(State(c): State<Chaos>, Path(name): Path<String>) -> Response {
    no_content(c.delete_proxy(&name).await)
}

async fn toxic_index(State(c): State<Chaos>, Path(name): Path<String>) -> Response {
    reply(StatusCode::OK, c.toxics(&name).await)
}

async fn toxic_create(State(c): State<Chaos>, Path(name): Path<String>, body: Bytes) -> Response {
    reply(StatusCode::OK, c.add_toxic_json(&name, &body).await)
}

async fn toxic_show(State(c): State<Chaos>, Path((p, t)): Path<(String, String)>) -> Response {
    reply(StatusCode::OK, c.toxic(&p, &t).await)
}

async fn toxic_update(
    State(c): State<Chaos>,
    Path((p, t)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    reply(StatusCode::OK, c.update_toxic_json(&p, &t, &body).await)
}

async fn toxic_delete(State(c): State<Chaos>, Path((p, t)): Path<(String, String)>) -> Response {
    no_content(c.remove_toxic(&p, &t).await)
}

/// Prometheus metrics (not part of toxiproxy's API; toxiproxy has none).
async fn metrics(State(c): State<Chaos>, headers: http::HeaderMap) -> Response {
    let accept = headers.get("accept").and_then(|v| v.to_str().ok());
    let (content_type, text) = ossguard_exposition::encode(c.metrics().registry(), accept);
    let mut r = Response::new(axum::body::Body::from(text));
    r.headers_mut()
        .insert("content-type", http::HeaderValue::from_static(content_type));
    r
}

async fn version() -> Response {
    let body = format!("{{\"version\": \"{VERSION}\"}}\n");
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json;charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

/// A running API server (see [`Chaos::serve_api`]).
pub struct ApiServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<io::Result<()>>,
}

impl ApiServer {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<addr>`: the base URL to give toxiproxy clients.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting API requests and waits for in-flight ones. The proxies keep running.
    pub async fn shutdown(mut self) -> io::Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        match (&mut self.task).await {
            Ok(r) => r,
            Err(e) => Err(io::Error::other(e)),
        }
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

impl Chaos {
    /// Serves the toxiproxy API on `addr` (port 0 picks one) in the background. Dropping the
    /// returned handle stops the API (not the proxies).
    pub async fn serve_api(&self, addr: impl tokio::net::ToSocketAddrs) -> io::Result<ApiServer> {
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let app = router(self.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await
        });
        Ok(ApiServer {
            addr: local,
            stop: Some(tx),
            task,
        })
    }
}
