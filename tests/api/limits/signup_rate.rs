//! "One client address may sign up at most 20 accounts a minute by default
//! (`--signup-rate`, 0 = no limit); past that, 429 with `Retry-After`."

use reqwest::StatusCode;
use serde_json::json;

use super::assert_too_many;
use crate::support::{spawn_app_with, TestApp, PASSWORD};

async fn sign_up_from(app: &TestApp, email: &str, from: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url("/users"))
        .json(&json!({"email": email, "name": "Test User", "password": PASSWORD}));
    if let Some(from) = from {
        request = request.header("x-forwarded-for", from);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn past_the_rate_an_address_gets_429_and_nothing_is_created() {
    let app = spawn_app_with(&["--signup-rate", "3"]).await;
    for n in 0..3 {
        let response = sign_up_from(&app, &format!("u{n}@example.com"), None).await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }

    // One every 20 s comes back at a rate of 3 a minute.
    assert_too_many(sign_up_from(&app, "u3@example.com", None).await, 20).await;

    let admin = app.admin_token().await;
    let listed = app.get("/users?q=u3%40example.com", &admin).await;
    assert_eq!(listed.headers()["x-total-count"], "0");
    app.stop().await;
}

#[tokio::test]
async fn the_default_rate_is_twenty_a_minute() {
    let flags = ["--signup-rate", "20"];
    let app = spawn_app_with(&flags).await;
    for n in 0..20 {
        let response = sign_up_from(&app, &format!("u{n}@example.com"), None).await;
        assert_eq!(response.status(), StatusCode::CREATED, "sign-up {n}");
    }
    assert_too_many(sign_up_from(&app, "u20@example.com", None).await, 3).await;
    app.stop().await;
}

#[tokio::test]
async fn each_client_behind_a_trusted_proxy_has_its_own_allowance() {
    let app = spawn_app_with(&["--signup-rate", "1", "--trusted-proxies", "127.0.0.1"]).await;

    let first = sign_up_from(&app, "a@example.com", Some("198.51.100.1")).await;
    let second = sign_up_from(&app, "b@example.com", Some("198.51.100.2")).await;
    let again = sign_up_from(&app, "c@example.com", Some("198.51.100.1")).await;

    assert_eq!(first.status(), StatusCode::CREATED);
    assert_eq!(second.status(), StatusCode::CREATED);
    assert_too_many(again, 60).await;
    app.stop().await;
}

#[tokio::test]
async fn admins_creating_accounts_are_not_rate_limited() {
    let app = spawn_app_with(&["--signup-rate", "1"]).await;
    let admin = app.admin_token().await;
    for n in 0..3 {
        let response = app
            .client
            .post(app.url("/users"))
            .bearer_auth(&admin)
            .json(&json!({"email": format!("u{n}@example.com"), "name": "Made By Admin", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    app.stop().await;
}

#[tokio::test]
async fn a_rate_of_zero_is_no_limit() {
    let app = spawn_app_with(&["--signup-rate", "0"]).await;
    for n in 0..30 {
        let response = sign_up_from(&app, &format!("u{n}@example.com"), None).await;
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    app.stop().await;
}
