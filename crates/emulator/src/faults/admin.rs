//! `/-/faults`: read, replace and clear the rules at run time, and read their counters.
//!
//! - `GET /-/faults` → the installed [`FaultConfig`] as JSON (`{"seed": …, "rules": […]}`);
//! - `PUT /-/faults` with a `FaultConfig` body (JSON; YAML when `Content-Type` says yaml) →
//!   validates, installs, answers the installed config; a bad body is `400 InvalidArgument`
//!   naming the rule and field;
//! - `DELETE /-/faults` → clears the rules (`204`);
//! - `GET /-/faults/stats` → [`FaultStats`](super::FaultStats).

use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;
use http::request::Parts;
use http::{HeaderValue, Method, StatusCode};

use super::FaultConfig;
use crate::server::error::ApiError;
use crate::server::AppState;

const MAX_BODY: usize = 1024 * 1024;

fn json(value: &impl serde::Serialize) -> Response {
    let mut r = Response::new(Body::from(serde_json::to_vec(value).unwrap_or_default()));
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    r
}

/// Whether `path` belongs to this API.
pub(crate) fn owns(path: &str) -> bool {
    path == "/-/faults" || path.starts_with("/-/faults/")
}

/// Handles `path` (`/-/faults` or below).
pub(crate) async fn handle(
    st: &Arc<AppState>,
    parts: &Parts,
    body: Body,
    path: &str,
) -> Result<Response, ApiError> {
    let faults = st.faults();
    match (path, &parts.method) {
        ("/-/faults", &Method::GET) => Ok(json(&faults.config())),
        ("/-/faults", &Method::PUT) => {
            let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
                Ok(b) => b,
                Err(_) => {
                    return Err(ApiError::invalid_argument(
                        "fault rules body too large (1 MiB at most)",
                    ))
                }
            };
            let text = String::from_utf8_lossy(&bytes);
            let yaml = parts
                .headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("yaml"));
            let parsed = if yaml {
                FaultConfig::parse(&text)
            } else {
                serde_json::from_str::<FaultConfig>(&text)
                    .map_err(|e| super::ConfigError(format!("bad fault JSON: {e}")))
            };
            match parsed.and_then(|cfg| faults.install(cfg.clone()).map(|()| cfg)) {
                Ok(cfg) => Ok(json(&cfg)),
                Err(e) => Err(ApiError::invalid_argument(e.0)),
            }
        }
        ("/-/faults", &Method::DELETE) => {
            faults.clear();
            let mut r = Response::new(Body::empty());
            *r.status_mut() = StatusCode::NO_CONTENT;
            Ok(r)
        }
        ("/-/faults/stats", &Method::GET) => Ok(json(&faults.stats())),
        ("/-/faults", _) | ("/-/faults/stats", _) => Err(ApiError::method_not_allowed()),
        _ => Err(ApiError::new(
            404,
            "NoSuchAdminEndpoint",
            "Fault endpoints: GET/PUT/DELETE /-/faults, GET /-/faults/stats.",
        )),
    }
}
