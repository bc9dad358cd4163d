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
use super::ram_policy::PolicyDocument;
use super::AppState;
use ossguard_proto::auth::verify::{verify, Principal, VerifyOptions};
use ossguard_proto::encoding::parse_query;
use ossguard_proto::Request;

/// `POST /-/sts`: STS AssumeRole's parameters, as JSON. Unknown fields are refused: a request
/// is never silently widened.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StsRequest {
    #[serde(default = "default_duration", alias = "DurationSeconds")]
    duration_seconds: u64,
    /// A RAM policy document, as an object or as the JSON string STS takes.
    #[serde(default, alias = "Policy")]
    policy: Option<serde_json::Value>,
    /// The emulator's simple form: one Allow statement of these actions on these resources.
    #[serde(default)]
    actions: Option<Vec<String>>,
    #[serde(default)]
    resources: Option<Vec<String>>,
    /// Accepted for compatibility with AssumeRole; the emulator has no roles.
    #[serde(default, alias = "RoleArn")]
    #[allow(dead_code)]
    role_arn: Option<String>,
    #[serde(default, alias = "RoleSessionName")]
    #[allow(dead_code)]
    role_session_name: Option<String>,
}

fn default_duration() -> u64 {
    3600
}

impl StsRequest {
    fn policies(&self) -> Result<Vec<PolicyDocument>, ApiError> {
        let bad = |e: super::ram_policy::PolicyError| {
            ApiError::new(400, "InvalidParameter.PolicyGrammar", e.to_string())
        };
        match (&self.policy, &self.actions, &self.resources) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => Err(ApiError::invalid_argument(
                "give either a policy document or actions/resources, not both",
            )),
            (Some(doc), None, None) => Ok(vec![PolicyDocument::from_value(doc).map_err(bad)?]),
            (None, None, None) => Ok(Vec::new()),
            (None, a, r) => {
                let a = a.clone().unwrap_or_else(|| vec!["oss:*".into()]);
                let r = r.clone().unwrap_or_else(|| vec!["*".into()]);
                Ok(vec![PolicyDocument::allow(&a, &r).map_err(bad)?])
            }
        }
    }
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
    if (&parts.method, path) == (&Method::GET, "/-/health") {
        return Ok(json(&serde_json::json!({"status": "ok"})));
    }
    if (&parts.method, path) == (&Method::GET, "/-/metrics") {
        let accept = parts.headers.get("accept").and_then(|v| v.to_str().ok());
        let (content_type, text) = ossguard_exposition::encode(st.metrics().registry(), accept);
        let mut r = Response::new(Body::from(text));
        r.headers_mut()
            .insert("content-type", http::HeaderValue::from_static(content_type));
        return Ok(r);
    }
    let issuer = authenticate(st, parts, path)?;
    if crate::faults::admin_owns(path) {
        return crate::faults::admin_handle(st, parts, body, path).await;
    }
    match (&parts.method, path) {
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
            // The token can do at most what its issuer can: the issuer's documents stay in force.
            let mut policies = req.policies()?;
            if let Some(issuer) = issuer {
                policies.extend(st.keys.policies(&issuer));
            }
            let creds =
                st.keys
                    .issue_sts(st.now(), Duration::from_secs(req.duration_seconds), policies);
            Ok(json(&creds))
        }
        _ => Err(ApiError::new(
            404,
            "NoSuchAdminEndpoint",
            "Admin endpoints: GET /-/health, GET /-/metrics, POST /-/sts, GET/PUT/DELETE /-/faults, GET /-/faults/stats.",
        )),
    }
}

/// Admin requests other than `/-/health` must be signed (V1 or V4, header or presigned) with a
/// permanent key, unless the server runs with `admin_open` (loopback only). Returns the
/// issuer's access key id (`None` when open and unsigned).
fn authenticate(st: &AppState, parts: &Parts, path: &str) -> Result<Option<String>, ApiError> {
    let signed = parts.headers.contains_key("authorization")
        || parts
            .uri
            .query()
            .is_some_and(|q| q.contains("Signature") || q.contains("x-oss-signature"));
    if st.admin_open() && !signed {
        return Ok(None);
    }
    let denied = |why: &str| {
        ApiError::access_denied(format!(
            "{why}: the admin API needs a request signed with a permanent access key \
             (V1 or V4, as any OSS request to bucket \"-\"), or `ossguard serve --admin-open` \
             on a loopback address"
        ))
    };
    if !signed {
        return Err(denied("unsigned admin request"));
    }
    let query = parse_query(parts.uri.query().unwrap_or(""))
        .map_err(|e| ApiError::invalid_argument(e.to_string()))?;
    // `/-/faults/stats` is bucket `-`, key `faults/stats`: what a client signs for that path.
    let key = path.strip_prefix("/-/").filter(|k| !k.is_empty());
    let req = Request {
        method: parts.method.clone(),
        bucket: Some("-".into()),
        key: key.map(str::to_owned),
        query,
        headers: parts.headers.clone(),
    };
    match verify(&req, &st.keys, st.now(), &VerifyOptions::default())? {
        Principal::Key { access_key_id, .. } if st.keys.is_permanent(&access_key_id) => {
            Ok(Some(access_key_id))
        }
        Principal::Key { .. } => Err(denied("STS keys cannot use the admin API")),
        Principal::Anonymous => Err(denied("unsigned admin request")),
    }
}
