//! No token, or a hostile `Authorization` header: every user route answers
//! 401 with a Bearer challenge and a problem body, never a 500.

use reqwest::header::{HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode};
use serde_json::json;

use super::user;
use crate::support::{problem, spawn_app, TestApp};

/// `GET /users/me` with this exact `Authorization` header value.
async fn me_with_authorization(app: &TestApp, value: HeaderValue) -> Response {
    app.client
        .get(app.url("/users/me"))
        .header(AUTHORIZATION, value)
        .send()
        .await
        .unwrap()
}

fn challenge(response: &Response) -> String {
    response
        .headers()
        .get(WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn every_user_route_without_a_token_is_401_with_a_bearer_realm_challenge() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = app.sign_up("ada@example.com").await["id"].as_i64().unwrap();
    let one = format!("/users/{id}");
    let routes = [
        (Method::GET, "/users"),
        (Method::GET, "/users/me"),
        (Method::GET, one.as_str()),
        (Method::PATCH, one.as_str()),
        (Method::DELETE, one.as_str()),
    ];

    for (method, path) in routes {
        let response = app
            .client
            .request(method.clone(), app.url(path))
            .json(&json!({"name": "Mallory"}))
            .send()
            .await
            .unwrap();

        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path}"
        );
        assert_eq!(
            challenge(&response),
            "Bearer realm=\"user-api\"",
            "{method} {path}"
        );
        problem(response).await;
    }
    let after = user(&app, id, &admin).await;
    assert_eq!(after["name"], "Test User", "nothing changed");
}

/// Asserts the contract's answer to a bad `Authorization` header: 401 with
/// a Bearer challenge and a problem body, never a 500.
async fn assert_rejected(response: Response, what: &str) {
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
    // RFC 6750 §3.1: no error code when no bearer credentials were sent
    // (another scheme), `invalid_token` when a bearer token is malformed.
    let challenge = challenge(&response);
    assert!(
        challenge == "Bearer realm=\"user-api\"" || challenge == "Bearer error=\"invalid_token\"",
        "{what}: {challenge}"
    );
    problem(response).await;
}

#[tokio::test]
async fn bearer_without_a_token_is_401() {
    let app = spawn_app().await;

    let response = me_with_authorization(&app, HeaderValue::from_static("Bearer")).await;

    assert_rejected(response, "Bearer").await;
}

#[tokio::test]
async fn bearer_followed_by_only_spaces_is_401() {
    let app = spawn_app().await;

    let response = me_with_authorization(&app, HeaderValue::from_static("Bearer  ")).await;

    assert_rejected(response, "Bearer + spaces").await;
}

#[tokio::test]
async fn basic_credentials_are_401() {
    let app = spawn_app().await;
    app.user_with_token("ada@example.com").await;

    let response = me_with_authorization(&app, HeaderValue::from_static("Basic xyz")).await;

    assert_rejected(response, "Basic xyz").await;
}

#[tokio::test]
async fn ten_kilobytes_of_garbage_is_401() {
    let app = spawn_app().await;
    let garbage: String = (0..10 * 1024)
        .map(|i| char::from(b'!' + (i % 94) as u8))
        .collect();

    let response = me_with_authorization(&app, HeaderValue::from_str(&garbage).unwrap()).await;

    assert_rejected(response, "10 KiB of garbage").await;
}

#[tokio::test]
async fn a_ten_kilobyte_bearer_token_is_401() {
    let app = spawn_app().await;
    let value = format!("Bearer {}", "A".repeat(10 * 1024));

    let response = me_with_authorization(&app, HeaderValue::from_str(&value).unwrap()).await;

    assert_rejected(response, "10 KiB bearer token").await;
}

#[tokio::test]
async fn sql_in_the_bearer_token_is_401() {
    let app = spawn_app().await;
    app.user_with_token("ada@example.com").await;

    let response =
        me_with_authorization(&app, HeaderValue::from_static("Bearer ' OR 1=1 --")).await;

    assert_rejected(response, "SQL in the token").await;
}

#[tokio::test]
async fn non_ascii_bytes_in_the_bearer_token_are_401() {
    let app = spawn_app().await;
    let value = HeaderValue::from_bytes(b"Bearer \xff\xfe\xc3\xa9t\xe9").unwrap();

    let response = me_with_authorization(&app, value).await;

    assert_rejected(response, "non-ASCII bytes").await;
}
