//! `GET /openapi.json`, `user-api openapi`, the committed `openapi.json`,
//! and the 404/405 answers of the router.

use std::collections::BTreeSet;
use std::process::Command;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::support::{binary, problem, spawn_app, TestApp};

/// Every operation of the contract's endpoint table that this listener
/// serves (`/metrics` has its own address).
const OPERATIONS: &[(&str, &str)] = &[
    ("/health", "get"),
    ("/health/ready", "get"),
    ("/users", "post"),
    ("/users", "get"),
    ("/users/me", "get"),
    ("/users/{id}", "get"),
    ("/users/{id}", "patch"),
    ("/users/{id}", "delete"),
    ("/token", "post"),
    ("/token/revoke", "post"),
    ("/ws/{client_id}", "get"),
];

/// Operations the contract lets only a bearer-token holder call.
const BEARER_OPERATIONS: &[(&str, &str)] = &[
    ("/users", "get"),
    ("/users/me", "get"),
    ("/users/{id}", "get"),
    ("/users/{id}", "patch"),
    ("/users/{id}", "delete"),
    ("/token/revoke", "post"),
];

async fn served_document(app: &TestApp) -> Value {
    let response = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.expect("the document is JSON")
}

async fn send(app: &TestApp, method: Method, path: &str) -> reqwest::Response {
    app.client
        .request(method, app.url(path))
        .send()
        .await
        .unwrap()
}

/// The methods of an `Allow` header, upper-cased, without `HEAD` (which
/// axum adds to every `GET` route).
fn allowed_methods(response: &reqwest::Response) -> BTreeSet<String> {
    let allow = response
        .headers()
        .get("allow")
        .expect("a 405 carries an Allow header")
        .to_str()
        .unwrap();
    allow
        .split(',')
        .map(|m| m.trim().to_ascii_uppercase())
        .filter(|m| !m.is_empty() && m != "HEAD")
        .collect()
}

fn set(methods: &[&str]) -> BTreeSet<String> {
    methods.iter().map(|m| m.to_string()).collect()
}

#[tokio::test]
async fn openapi_json_is_an_openapi_3_1_document() {
    let app = spawn_app().await;

    let response = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let document: Value = response.json().await.unwrap();
    let version = document["openapi"].as_str().expect("an openapi field");
    assert!(version.starts_with("3.1"), "openapi is {version}");
    app.stop().await;
}

#[tokio::test]
async fn openapi_json_documents_every_operation_of_the_contract() {
    let app = spawn_app().await;

    let document = served_document(&app).await;

    let missing: Vec<_> = OPERATIONS
        .iter()
        .filter(|(path, method)| document["paths"][path][method].is_null())
        .collect();
    assert!(missing.is_empty(), "undocumented operations: {missing:?}");
    app.stop().await;
}

#[tokio::test]
async fn openapi_json_does_not_document_metrics_which_has_its_own_listener() {
    let app = spawn_app().await;

    let document = served_document(&app).await;

    assert!(document["paths"].is_object());
    assert!(document["paths"]["/metrics"].is_null());
    app.stop().await;
}

#[tokio::test]
async fn openapi_json_defines_a_bearer_security_scheme() {
    let app = spawn_app().await;

    let document = served_document(&app).await;

    let schemes = document["components"]["securitySchemes"]
        .as_object()
        .expect("components.securitySchemes");
    let bearer = schemes.values().find(|scheme| {
        scheme["type"] == "http"
            && scheme["scheme"]
                .as_str()
                .is_some_and(|s| s.eq_ignore_ascii_case("bearer"))
    });
    assert!(bearer.is_some(), "no http bearer scheme in {schemes:?}");
    app.stop().await;
}

#[tokio::test]
async fn operations_that_need_a_token_require_the_bearer_scheme() {
    let app = spawn_app().await;

    let document = served_document(&app).await;

    let schemes = &document["components"]["securitySchemes"];
    let lacking: Vec<_> = BEARER_OPERATIONS
        .iter()
        .filter(|(path, method)| {
            let security = document["paths"][path][method]["security"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            !security.iter().any(|requirement| {
                requirement.as_object().is_some_and(|names| {
                    names.keys().any(|name| {
                        schemes[name]["scheme"]
                            .as_str()
                            .is_some_and(|s| s.eq_ignore_ascii_case("bearer"))
                    })
                })
            })
        })
        .collect();
    assert!(lacking.is_empty(), "no bearer requirement on {lacking:?}");
    app.stop().await;
}

#[tokio::test]
async fn the_openapi_command_prints_the_served_document() {
    let app = spawn_app().await;
    let served = served_document(&app).await;

    let output = tokio::task::spawn_blocking(|| {
        Command::new(binary())
            .arg("openapi")
            .output()
            .expect("user-api openapi runs")
    })
    .await
    .unwrap();

    assert!(
        output.status.success(),
        "user-api openapi failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed: Value =
        serde_json::from_slice(&output.stdout).expect("user-api openapi prints JSON");
    assert!(
        printed == served,
        "user-api openapi differs from /openapi.json"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_committed_openapi_json_matches_the_served_document() {
    let app = spawn_app().await;
    let served = served_document(&app).await;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");

    let committed = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "cannot read {path}: {e}; regenerate it with `cargo run -q -- openapi > openapi.json`"
        )
    });
    let committed: Value = serde_json::from_str(&committed).expect("openapi.json is JSON");

    assert!(
        committed == served,
        "{path} is stale; regenerate it with `cargo run -q -- openapi > openapi.json` and commit it"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_path_is_404_problem_json() {
    let app = spawn_app().await;

    let response = send(&app, Method::GET, "/no/such/path").await;

    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body = problem(response).await;
    assert_eq!(body["status"], 404);
    assert!(body["title"].is_string(), "{body}");
    assert!(body["detail"].is_string(), "{body}");
    app.stop().await;
}

#[tokio::test]
async fn put_on_users_is_405_problem_json_allowing_get_and_post() {
    let app = spawn_app().await;

    let response = send(&app, Method::PUT, "/users").await;

    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(allowed_methods(&response), set(&["GET", "POST"]));
    let body = problem(response).await;
    assert_eq!(body["status"], 405);
    assert!(body["detail"].is_string(), "{body}");
    app.stop().await;
}

#[tokio::test]
async fn delete_on_health_is_405_problem_json_allowing_get() {
    let app = spawn_app().await;

    let response = send(&app, Method::DELETE, "/health").await;

    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(allowed_methods(&response), set(&["GET"]));
    let body = problem(response).await;
    assert_eq!(body["status"], 405);
    assert!(body["detail"].is_string(), "{body}");
    app.stop().await;
}
