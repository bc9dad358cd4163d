//! CORS evaluation against a bucket's rules, for preflight `OPTIONS` and for actual requests.

use ossguard_proto::xml::{CorsConfiguration, CorsRule};

use super::keys::glob_match;

/// Headers to add to a response for a matched rule.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CorsHeaders {
    pub headers: Vec<(&'static str, String)>,
}

fn origin_ok(rule: &CorsRule, origin: &str) -> bool {
    rule.allowed_origins.iter().any(|o| glob_match(o, origin))
}

fn method_ok(rule: &CorsRule, method: &str) -> bool {
    rule.allowed_methods
        .iter()
        .any(|m| m.eq_ignore_ascii_case(method))
}

fn headers_ok(rule: &CorsRule, requested: &[String]) -> bool {
    requested.iter().all(|h| {
        rule.allowed_headers
            .iter()
            .any(|a| glob_match(&a.to_ascii_lowercase(), &h.to_ascii_lowercase()))
    })
}

/// The first rule allowing `origin` + `method` (+ `request_headers` for preflight).
pub fn find_rule<'a>(
    cfg: &'a CorsConfiguration,
    origin: &str,
    method: &str,
    request_headers: &[String],
) -> Option<&'a CorsRule> {
    cfg.rules
        .iter()
        .find(|r| origin_ok(r, origin) && method_ok(r, method) && headers_ok(r, request_headers))
}

/// Response headers for a request allowed by `rule`. `preflight` adds the allow-lists.
pub fn response_headers(
    rule: &CorsRule,
    origin: &str,
    request_headers: &[String],
    preflight: bool,
) -> CorsHeaders {
    let any_origin = rule.allowed_origins.iter().any(|o| o == "*");
    let mut h = vec![(
        "access-control-allow-origin",
        if any_origin {
            "*".to_owned()
        } else {
            origin.to_owned()
        },
    )];
    if preflight {
        h.push((
            "access-control-allow-methods",
            rule.allowed_methods.join(", "),
        ));
        if !request_headers.is_empty() {
            h.push(("access-control-allow-headers", request_headers.join(", ")));
        }
        if let Some(age) = rule.max_age_seconds {
            h.push(("access-control-max-age", age.to_string()));
        }
    }
    if !rule.expose_headers.is_empty() {
        h.push((
            "access-control-expose-headers",
            rule.expose_headers.join(", "),
        ));
    }
    h.push(("access-control-allow-credentials", "true".to_owned()));
    h.push((
        "vary",
        "Origin, Access-Control-Request-Headers, Access-Control-Request-Method".to_owned(),
    ));
    CorsHeaders { headers: h }
}

/// Parses `Access-Control-Request-Headers` (comma separated).
pub fn split_header_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

use axum::response::Response;
use ossguard_proto::Operation;

use super::context::Ctx;
use super::error::ApiError;
use crate::store::BucketInfo;

/// The bucket's CORS rules, if any.
pub fn config_of(b: &BucketInfo) -> Option<CorsConfiguration> {
    b.cors
        .as_deref()
        .and_then(|x| ossguard_proto::xml::from_xml(x.as_bytes()).ok())
}

/// Answers `OPTIONS`: 200 with the allow headers, or 403 when no rule matches.
pub async fn preflight(ctx: &Ctx) -> Result<Response, ApiError> {
    let forbidden = || {
        ApiError::new(
            403,
            "AccessForbidden",
            "CORSResponse: This CORS request is not allowed.",
        )
    };
    let origin = ctx.header("origin").ok_or_else(forbidden)?;
    let method = ctx
        .header("access-control-request-method")
        .ok_or_else(forbidden)?;
    let req_headers = ctx
        .header("access-control-request-headers")
        .map(|h| split_header_list(&h))
        .unwrap_or_default();
    let info = ctx.st.store.bucket_info(ctx.bucket()?).await?;
    let cfg = config_of(&info).ok_or_else(forbidden)?;
    let rule = find_rule(&cfg, &origin, &method, &req_headers).ok_or_else(forbidden)?;
    let mut resp = super::response::status(200);
    super::response::set_headers(
        &mut resp,
        &response_headers(rule, &origin, &req_headers, true).headers,
    );
    Ok(resp)
}

/// Adds CORS headers to an actual (non-preflight) response when a rule allows the origin.
pub async fn apply_to_response(
    st: &super::AppState,
    bucket: &str,
    origin: &str,
    op: Operation,
    resp: &mut Response,
) {
    if op == Operation::Options {
        return;
    }
    let Ok(info) = st.store.bucket_info(bucket).await else {
        return;
    };
    let Some(cfg) = config_of(&info) else {
        return;
    };
    // The method the operation was sent with (what the browser asked CORS about).
    let method = op.method();
    if let Some(rule) = find_rule(&cfg, origin, method.as_str(), &[]) {
        super::response::set_headers(resp, &response_headers(rule, origin, &[], false).headers);
    }
}
