//! "Failed sign-ins are counted per account in the database … and per
//! client address": five failures for an account, then 429 with
//! `Retry-After`, the same for an unknown email; twenty failures a minute
//! for an address; `X-Forwarded-For` believed only from trusted proxies.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{assert_too_many, login_from, two_instances};
use crate::support::{spawn_app, spawn_app_with, TestApp, PASSWORD};

const WRONG: &str = "not the password at all";

async fn fail(app: &TestApp, email: &str, times: usize) {
    for attempt in 1..=times {
        let response = app.login(email, WRONG).await;
        assert_eq!(
            response.status(),
            StatusCode::BAD_REQUEST,
            "failure {attempt} of {email}"
        );
    }
}

#[tokio::test]
async fn after_five_failures_even_the_right_password_gets_429_for_about_a_minute() {
    let app = spawn_app().await;
    app.sign_up("ada@example.com").await;

    fail(&app, "ada@example.com", 5).await;

    let body = assert_too_many(app.login("ada@example.com", PASSWORD).await, 60).await;
    let text = body.to_string();
    assert!(!text.contains("ada@example.com"), "{text}");
    assert_too_many(app.login("ada@example.com", WRONG).await, 60).await;
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_email_is_throttled_exactly_like_a_real_account() {
    let app = spawn_app().await;
    app.sign_up("ada@example.com").await;

    fail(&app, "ada@example.com", 5).await;
    fail(&app, "nobody@example.com", 5).await;
    let real = app.login("ada@example.com", WRONG).await;
    let unknown = app.login("nobody@example.com", WRONG).await;

    assert_eq!(real.status(), unknown.status());
    let headers = |r: &reqwest::Response| {
        let mut names: Vec<String> = r
            .headers()
            .keys()
            .filter(|n| !["date", "x-request-id", "retry-after"].contains(&n.as_str()))
            .map(|n| n.to_string())
            .collect();
        names.sort();
        names
    };
    assert_eq!(headers(&real), headers(&unknown));
    let real: Value = real.json().await.unwrap();
    let unknown: Value = unknown.json().await.unwrap();
    assert_eq!(real, unknown, "a 429 must not tell the accounts apart");
    app.stop().await;
}

#[tokio::test]
async fn case_variants_of_an_email_are_one_account() {
    let app = spawn_app().await;
    app.sign_up("ada@example.com").await;

    for email in ["ADA@example.com", "Ada@Example.com", "ada@EXAMPLE.COM"] {
        fail(&app, email, 1).await;
    }
    fail(&app, "ada@example.com", 2).await;

    assert_too_many(app.login("aDa@example.com", PASSWORD).await, 60).await;
    app.stop().await;
}

#[tokio::test]
async fn a_success_resets_the_count() {
    let app = spawn_app().await;
    app.sign_up("ada@example.com").await;

    fail(&app, "ada@example.com", 4).await;
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
    fail(&app, "ada@example.com", 4).await;

    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
    app.stop().await;
}

#[tokio::test]
async fn an_admin_setting_the_password_ends_the_wait() {
    let app = spawn_app().await;
    let id = app.sign_up("ada@example.com").await["id"].as_i64().unwrap();
    let admin = app.admin_token().await;
    fail(&app, "ada@example.com", 5).await;
    assert_too_many(app.login("ada@example.com", PASSWORD).await, 60).await;

    let new_password = "a brand new passphrase 2026";
    let set = app
        .client
        .patch(app.url(&format!("/users/{id}")))
        .bearer_auth(&admin)
        .json(&json!({"password": new_password}))
        .send()
        .await
        .unwrap();
    assert_eq!(set.status(), StatusCode::OK);

    assert_eq!(
        app.login("ada@example.com", new_password).await.status(),
        StatusCode::OK
    );
    app.stop().await;
}

#[tokio::test]
async fn a_wrong_current_password_counts_as_a_failed_sign_in() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;

    for _ in 0..5 {
        let response = app
            .client
            .patch(app.url(&format!("/users/{id}")))
            .bearer_auth(&token)
            .json(&json!({"password": "another passphrase 2026", "current_password": WRONG}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
    }

    assert_too_many(app.login("ada@example.com", PASSWORD).await, 60).await;
    let guessing = app
        .client
        .patch(app.url(&format!("/users/{id}")))
        .bearer_auth(&token)
        .json(&json!({"password": "another passphrase 2026", "current_password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_too_many(guessing, 60).await;
    app.stop().await;
}

#[tokio::test]
async fn failure_counts_live_in_the_database_and_hold_across_instances() {
    let (first, second) = two_instances(&[]).await;
    first.sign_up("ada@example.com").await;

    fail(&first, "ada@example.com", 3).await;
    fail(&second, "ada@example.com", 2).await;

    assert_too_many(first.login("ada@example.com", PASSWORD).await, 60).await;
    assert_too_many(second.login("ada@example.com", PASSWORD).await, 60).await;
    first.stop().await;
    second.stop().await;
}

#[tokio::test]
async fn an_address_gets_twenty_failures_a_minute_whatever_the_accounts() {
    let app = spawn_app().await;
    app.sign_up("ada@example.com").await;

    // Five accounts, four failures each: no account reaches its own limit
    // before the address reaches twenty.
    for n in 0..20 {
        let email = format!("guess{}@example.com", n % 5);
        let response = app.login(&email, WRONG).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "failure {n}");
    }

    assert_too_many(app.login("ada@example.com", PASSWORD).await, 60).await;
    app.stop().await;
}

#[tokio::test]
async fn x_forwarded_for_from_a_trusted_proxy_names_the_client() {
    let app = spawn_app_with(&["--trusted-proxies", "127.0.0.1/32"]).await;
    app.sign_up("ada@example.com").await;

    for n in 0..20 {
        let email = format!("guess{}@example.com", n % 5);
        let response = login_from(&app, &email, WRONG, "198.51.100.7").await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    }

    assert_too_many(
        login_from(&app, "ada@example.com", PASSWORD, "198.51.100.7").await,
        60,
    )
    .await;
    let other_client = login_from(&app, "ada@example.com", PASSWORD, "203.0.113.5").await;
    assert_eq!(other_client.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn x_forwarded_for_from_an_untrusted_peer_is_ignored() {
    let app = spawn_app().await;
    app.sign_up("ada@example.com").await;

    // Each guess claims another address; the direct peer is what counts.
    for n in 0..20 {
        let email = format!("guess{}@example.com", n % 5);
        let response = login_from(&app, &email, WRONG, &format!("198.51.100.{n}")).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    }

    assert_too_many(
        login_from(&app, "ada@example.com", PASSWORD, "203.0.113.5").await,
        60,
    )
    .await;
    app.stop().await;
}
