//! `GET /health` and `GET /health/ready`.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{spawn_app, spawn_app_with};

#[tokio::test]
async fn health_answers_healthy() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"status": "healthy"})
    );
    app.stop().await;
}

#[tokio::test]
async fn ready_answers_ready_when_the_database_answers() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"status": "ready"})
    );
    app.stop().await;
}

/// The parts of a `/health` answer that every client may rely on.
async fn liveness_parts(response: reqwest::Response) -> (StatusCode, String, String, u64, Value) {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .unwrap_or_else(|| panic!("/health has no {name}"))
            .to_str()
            .unwrap()
            .to_owned()
    };
    let parts = (
        response.status(),
        header("content-type"),
        header("x-content-type-options"),
        header("x-request-id")
            .parse()
            .expect("a numeric request id"),
    );
    (
        parts.0,
        parts.1,
        parts.2,
        parts.3,
        response.json().await.unwrap(),
    )
}

/// `GET /health` is answered in front of the router (issue 14), except a
/// request with an `Origin` when CORS is on, which the CORS layer answers:
/// both ways give the same answer, with the headers every response has.
#[tokio::test]
async fn health_is_the_same_answer_in_front_of_the_router_and_through_it() {
    let app = spawn_app_with(&["--cors-origins", "https://app.example.com"]).await;
    let front = app
        .client
        .get(app.url("/health?probe=1"))
        .send()
        .await
        .unwrap();
    let through = app
        .client
        .get(app.url("/health"))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(
        through
            .headers()
            .get("access-control-allow-origin")
            .unwrap(),
        "https://app.example.com"
    );
    assert!(front.headers().get("access-control-allow-origin").is_none());

    let front = liveness_parts(front).await;
    let through = liveness_parts(through).await;
    for parts in [&front, &through] {
        assert_eq!(parts.0, StatusCode::OK);
        assert_eq!(parts.1, "application/json");
        assert_eq!(parts.2, "nosniff");
        assert_eq!(parts.4, json!({"status": "healthy"}));
    }
    // One sequence of request ids for both ways.
    assert!(through.3 > front.3, "{} then {}", front.3, through.3);
    app.stop().await;
}

/// Only `GET /health` is short-cut: other methods and paths are routed.
#[tokio::test]
async fn health_other_methods_and_near_paths_are_routed_as_before() {
    let app = spawn_app().await;
    let post = app.client.post(app.url("/health")).send().await.unwrap();
    assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        post.headers().get("content-type").unwrap(),
        "application/problem+json"
    );
    let head = app.client.head(app.url("/health")).send().await.unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    let slash = app.client.get(app.url("/health/")).send().await.unwrap();
    assert_eq!(slash.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}
