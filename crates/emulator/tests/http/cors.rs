//! Bucket CORS: configuration round trip, preflight, headers on actual requests, delete.

use http::{HeaderMap, Method};
use ossguard_proto::xml::CorsConfiguration;
use ossguard_proto::Request;

use crate::client::{with_headers, Reply, Sig, TestServer};

const CONFIG: &str = "<CORSConfiguration>\
<CORSRule><AllowedOrigin>https://app.example.com</AllowedOrigin><AllowedOrigin>https://*.example.org</AllowedOrigin>\
<AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod>\
<AllowedHeader>x-oss-*</AllowedHeader><AllowedHeader>content-type</AllowedHeader>\
<ExposeHeader>ETag</ExposeHeader><ExposeHeader>x-oss-request-id</ExposeHeader><MaxAgeSeconds>600</MaxAgeSeconds></CORSRule>\
<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>HEAD</AllowedMethod></CORSRule>\
<ResponseVary>false</ResponseVary></CORSConfiguration>";

async fn preflight(s: &TestServer, origin: &str, method: &str, headers: Option<&str>) -> Reply {
    let mut h = HeaderMap::new();
    h.insert("origin", origin.parse().unwrap());
    h.insert("access-control-request-method", method.parse().unwrap());
    if let Some(v) = headers {
        h.insert("access-control-request-headers", v.parse().unwrap());
    }
    let url = format!("{}/web/index.html", s.endpoint());
    s.send_url(Method::OPTIONS, &url, &h, vec![]).await
}

async fn get_cors(s: &TestServer) -> Reply {
    s.send(
        Request::new(Method::GET, Some("web"), None).with_query("cors", ""),
        vec![],
        Sig::V4,
    )
    .await
}

#[tokio::test]
async fn cors_round_trip_preflight_and_delete() {
    let s = TestServer::start().await;
    s.create_bucket("web").await;
    // No configuration yet: 404, and preflights are refused.
    assert_eq!(get_cors(&s).await.code(), "NoSuchCORSConfiguration");
    assert_eq!(
        preflight(&s, "https://app.example.com", "GET", None)
            .await
            .status,
        403
    );

    let r = s
        .send(
            Request::new(Method::PUT, Some("web"), None).with_query("cors", ""),
            CONFIG.as_bytes().to_vec(),
            Sig::V4,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let got: CorsConfiguration = get_cors(&s).await.xml();
    let want: CorsConfiguration = ossguard_proto::xml::from_xml(CONFIG.as_bytes()).unwrap();
    assert_eq!(got, want);

    // Preflights that match a rule.
    let r = preflight(
        &s,
        "https://app.example.com",
        "PUT",
        Some("x-oss-meta-a, Content-Type"),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.header("access-control-allow-origin").as_deref(),
        Some("https://app.example.com")
    );
    let methods = r.header("access-control-allow-methods").unwrap();
    assert!(
        methods.contains("PUT") && methods.contains("GET"),
        "{methods}"
    );
    let allowed = r
        .header("access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase();
    assert!(allowed.contains("x-oss-meta-a") && allowed.contains("content-type"));
    assert_eq!(r.header("access-control-max-age").as_deref(), Some("600"));
    let r = preflight(&s, "https://cdn.example.org", "GET", None).await;
    assert_eq!(
        r.header("access-control-allow-origin").as_deref(),
        Some("https://cdn.example.org")
    );
    let r = preflight(&s, "https://anything.test", "HEAD", None).await;
    assert_eq!(
        r.header("access-control-allow-origin").as_deref(),
        Some("*")
    );

    // Preflights that match nothing: 403 without allow headers.
    for (origin, method, headers) in [
        ("https://evil.example.net", "GET", None),
        ("https://app.example.com", "DELETE", None),
        ("https://app.example.com", "PUT", Some("authorization")),
        ("https://anything.test", "GET", None),
    ] {
        let r = preflight(&s, origin, method, headers).await;
        assert_eq!(r.status, 403, "{origin} {method} {headers:?}");
        assert!(r.header("access-control-allow-origin").is_none());
    }
    // A preflight without Access-Control-Request-Method is not one.
    let mut h = HeaderMap::new();
    h.insert("origin", "https://app.example.com".parse().unwrap());
    let url = format!("{}/web/index.html", s.endpoint());
    assert_eq!(
        s.send_url(Method::OPTIONS, &url, &h, vec![]).await.status,
        403
    );

    // Actual requests from an allowed origin carry the CORS headers.
    assert_eq!(s.put("web", "index.html", b"<html/>").await.status, 200);
    let req = with_headers(
        Request::new(Method::GET, Some("web"), Some("index.html")),
        &[("origin", "https://app.example.com")],
    );
    let r = s.send(req, vec![], Sig::V4).await;
    assert_eq!(
        r.header("access-control-allow-origin").as_deref(),
        Some("https://app.example.com")
    );
    assert!(r
        .header("access-control-expose-headers")
        .unwrap()
        .contains("ETag"));
    let req = with_headers(
        Request::new(Method::GET, Some("web"), Some("index.html")),
        &[("origin", "https://evil.example.net")],
    );
    let r = s.send(req, vec![], Sig::V4).await;
    assert_eq!(r.status, 200);
    assert!(r.header("access-control-allow-origin").is_none());

    // Delete: 204, then 404 and preflights refused again.
    let r = s
        .send(
            Request::new(Method::DELETE, Some("web"), None).with_query("cors", ""),
            vec![],
            Sig::V4,
        )
        .await;
    assert_eq!(r.status, 204);
    let r = get_cors(&s).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (404, "NoSuchCORSConfiguration")
    );
    assert_eq!(
        preflight(&s, "https://app.example.com", "GET", None)
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn invalid_cors_configurations_are_refused() {
    let s = TestServer::start().await;
    s.create_bucket("web").await;
    let rule =
        "<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule>";
    for body in [
        "<CORSConfiguration></CORSConfiguration>".to_owned(),
        format!("<CORSConfiguration>{}</CORSConfiguration>", rule.repeat(11)),
        "<CORSConfiguration><CORSRule><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>".to_owned(),
        "<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin></CORSRule></CORSConfiguration>".to_owned(),
    ] {
        let r = s
            .send(
                Request::new(Method::PUT, Some("web"), None).with_query("cors", ""),
                body.clone().into_bytes(),
                Sig::V4,
            )
            .await;
        assert_eq!(r.status, 400, "{body}: {}", r.text());
    }
    assert_eq!(get_cors(&s).await.code(), "NoSuchCORSConfiguration");
    // Preflight on a bucket that does not exist: no 500.
    let mut h = HeaderMap::new();
    h.insert("origin", "https://a.test".parse().unwrap());
    h.insert("access-control-request-method", "GET".parse().unwrap());
    let url = format!("{}/nosuchbucket/x", s.endpoint());
    let r = s.send_url(Method::OPTIONS, &url, &h, vec![]).await;
    assert!(matches!(r.status, 403 | 404), "{}", r.status);
}
