//! The admin API under the reserved prefix `/-/` (no bucket can be named `-`):
//! `GET /-/health`, `POST /-/sts`, and the fault rules under `/-/faults` ([`crate::faults`]).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use http::request::Parts;
use http::Method;
use serde::Deserialize;

use super::error::ApiError;
use super::keys::Policy;
use super::AppState;

#[derive(Debug, Deserialize)]
struct StsRequest {
    #[serde(default = "default_duration")]
    duration_seconds: u64,
    #[serde(default)]
    actions: Option<Vec<String>>,
    #[serde(default)]
    resources: Option<Vec<String>>,
}

fn default_duration() -> u64 {
    3600
}

fn json(value: &impl serde::Serialize) -> Response {
    let mut r = Response::new(Body::from(serde_json::to_vec(value).unwrap_or_default()));
    r.headers_mut().insert(
        "content-type",
        http::HeaderValue::from_static("application/json"),
    );
    r
}

pub async fn handle(
    st: &Arc<AppState>,
    parts: &Parts,
    body: Body,
    path: &str,
) -> Result<Response, ApiError> {
    if crate::faults::admin_owns(path) {
        return crate::faults::admin_handle(st, parts, body, path).await;
    }
    match (&parts.method, path) {
        (&Method::GET, "/-/health") => Ok(json(&serde_json::json!({"status": "ok"}))),
        (&Method::POST, "/-/sts") => {
            let bytes = axum::body::to_bytes(body, 64 * 1024)
                .await
                .map_err(|_| ApiError::invalid_argument("STS request body too large"))?;
            let req: StsRequest = if bytes.is_empty() {
                serde_json::from_str("{}").expect("empty object parses")
            } else {
                serde_json::from_slice(&bytes)
                    .map_err(|e| ApiError::invalid_argument(format!("bad STS request JSON: {e}")))?
            };
            if !(900..=43_200).contains(&req.duration_seconds) {
                return Err(ApiError::invalid_argument(
                    "duration_seconds must be 900 to 43200, as in STS",
                ));
            }
            let policy = match (req.actions, req.resources) {
                (None, None) => None,
                (a, r) => Some(Policy {
                    actions: a.unwrap_or_else(|| vec!["oss:*".into()]),
                    resources: r.unwrap_or_else(|| vec!["*".into()]),
                }),
            };
            let creds =
                st.keys
                    .issue_sts(st.now(), Duration::from_secs(req.duration_seconds), policy);
            Ok(json(&creds))
        }
        _ => Err(ApiError::new(
            404,
            "NoSuchAdminEndpoint",
            "Admin endpoints: GET /-/health, POST /-/sts, GET/PUT/DELETE /-/faults, GET /-/faults/stats.",
        )),
    }
}
