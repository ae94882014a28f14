//! CORS: no headers unless `--cors-origins` names origins; then exactly
//! those origins (never `*`), no credentials, and the headers browser
//! clients must read exposed.

use reqwest::header::HeaderMap;
use reqwest::{Method, Response};

use crate::support::{spawn_app, spawn_app_with, TestApp};

const ORIGINS: &str = "https://app.example.com,https://admin.example.com";
const ALLOWED: &str = "https://admin.example.com";
const DISALLOWED: &str = "https://evil.example";

/// A CORS preflight for `PATCH /users/{id}`-style calls, sent to `/users`.
async fn preflight(app: &TestApp, origin: &str) -> Response {
    app.client
        .request(Method::OPTIONS, app.url("/users"))
        .header("origin", origin)
        .header("access-control-request-method", "PATCH")
        .header(
            "access-control-request-headers",
            "authorization,if-match,content-type",
        )
        .send()
        .await
        .unwrap()
}

/// A simple cross-origin `GET /health`.
async fn get_from(app: &TestApp, origin: &str) -> Response {
    app.client
        .get(app.url("/health"))
        .header("origin", origin)
        .send()
        .await
        .unwrap()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().unwrap())
}

/// The comma-separated items of a header, lower-cased.
fn items(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .flat_map(|v| v.to_str().unwrap().split(','))
        .map(|item| item.trim().to_ascii_lowercase())
        .filter(|item| !item.is_empty())
        .collect()
}

#[tokio::test]
async fn without_cors_origins_a_request_with_origin_gets_no_allow_origin() {
    let app = spawn_app().await;

    let response = get_from(&app, "https://app.example.com").await;

    assert!(response.status().is_success());
    assert_eq!(
        header(response.headers(), "access-control-allow-origin"),
        None
    );
    app.stop().await;
}

#[tokio::test]
async fn without_cors_origins_a_preflight_gets_no_allow_origin() {
    let app = spawn_app().await;

    let response = preflight(&app, "https://app.example.com").await;

    assert_eq!(
        header(response.headers(), "access-control-allow-origin"),
        None
    );
    app.stop().await;
}

#[tokio::test]
async fn a_preflight_from_an_allowed_origin_echoes_that_origin() {
    let app = spawn_app_with(&["--cors-origins", ORIGINS]).await;

    let response = preflight(&app, ALLOWED).await;

    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(
        header(response.headers(), "access-control-allow-origin"),
        Some(ALLOWED)
    );
    app.stop().await;
}

#[tokio::test]
async fn a_preflight_from_an_allowed_origin_allows_the_methods_the_api_uses() {
    let app = spawn_app_with(&["--cors-origins", ORIGINS]).await;

    let response = preflight(&app, ALLOWED).await;

    let methods = items(response.headers(), "access-control-allow-methods");
    for method in ["get", "post", "patch", "delete"] {
        assert!(
            methods.iter().any(|m| m == method),
            "{method} missing from Access-Control-Allow-Methods {methods:?}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_preflight_from_an_allowed_origin_allows_authorization_if_match_and_content_type() {
    let app = spawn_app_with(&["--cors-origins", ORIGINS]).await;

    let response = preflight(&app, ALLOWED).await;

    let allowed = items(response.headers(), "access-control-allow-headers");
    for name in ["authorization", "if-match", "content-type"] {
        assert!(
            allowed.iter().any(|h| h == name),
            "{name} missing from Access-Control-Allow-Headers {allowed:?}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_get_from_an_allowed_origin_exposes_the_headers_clients_read() {
    let app = spawn_app_with(&["--cors-origins", ORIGINS]).await;

    let response = get_from(&app, ALLOWED).await;

    assert_eq!(
        header(response.headers(), "access-control-allow-origin"),
        Some(ALLOWED)
    );
    let exposed = items(response.headers(), "access-control-expose-headers");
    for name in ["location", "etag", "x-total-count", "link", "retry-after"] {
        assert!(
            exposed.iter().any(|h| h == name),
            "{name} missing from Access-Control-Expose-Headers {exposed:?}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_get_from_a_disallowed_origin_gets_no_allow_origin() {
    let app = spawn_app_with(&["--cors-origins", ORIGINS]).await;

    let response = get_from(&app, DISALLOWED).await;

    assert_eq!(
        header(response.headers(), "access-control-allow-origin"),
        None
    );
    app.stop().await;
}

#[tokio::test]
async fn a_preflight_from_a_disallowed_origin_gets_no_allow_origin() {
    let app = spawn_app_with(&["--cors-origins", ORIGINS]).await;

    let response = preflight(&app, DISALLOWED).await;

    assert_eq!(
        header(response.headers(), "access-control-allow-origin"),
        None
    );
    app.stop().await;
}

#[tokio::test]
async fn cors_responses_never_allow_credentials() {
    let app = spawn_app_with(&["--cors-origins", ORIGINS]).await;

    let from_preflight = preflight(&app, ALLOWED).await;
    let from_get = get_from(&app, ALLOWED).await;

    // Sanity: these are CORS responses, so a credentials header would count.
    assert_eq!(
        header(from_get.headers(), "access-control-allow-origin"),
        Some(ALLOWED)
    );
    for response in [&from_preflight, &from_get] {
        assert_ne!(
            header(response.headers(), "access-control-allow-credentials"),
            Some("true"),
            "{} {}",
            response.url(),
            response.status()
        );
    }
    app.stop().await;
}
