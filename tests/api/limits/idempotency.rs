//! "`Idempotency-Key` on `POST /users`: a retry returns the first response
//! and creates nothing; … reused with another body → 422; … scoped to the
//! key and the caller's client address, kept 24 hours; a retry while the
//! first request is still running gets 409."

use reqwest::header::{CONTENT_TYPE, ETAG, LOCATION};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};

use super::{expect_problem, two_instances};
use crate::support::{backend, spawn_app, spawn_app_with, Backend, TestApp, PASSWORD};

fn sign_up(app: &TestApp, key: &str, email: &str) -> RequestBuilder {
    app.client
        .post(app.url("/users"))
        .header("idempotency-key", key)
        .json(&json!({"email": email, "name": "Ada Lovelace", "password": PASSWORD}))
}

async fn users_named(app: &TestApp, email: &str) -> u64 {
    let admin = app.admin_token().await;
    let listed = app
        .get(&format!("/users?q={}", email.replace('@', "%40")), &admin)
        .await;
    listed.headers()["x-total-count"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// Status, the headers a client reads, and the exact body.
async fn parts(response: Response) -> (StatusCode, Option<String>, Option<String>, String) {
    let header = |name| {
        response
            .headers()
            .get(name)
            .map(|v: &reqwest::header::HeaderValue| v.to_str().unwrap().to_owned())
    };
    let (location, etag) = (header(LOCATION), header(ETAG));
    (
        response.status(),
        location,
        etag,
        response.text().await.unwrap(),
    )
}

#[tokio::test]
async fn a_retry_with_the_same_key_and_body_gets_the_first_response_and_creates_nothing() {
    let app = spawn_app().await;

    let first = parts(
        sign_up(&app, "k-1", "ada@example.com")
            .send()
            .await
            .unwrap(),
    )
    .await;
    let retry = parts(
        sign_up(&app, "k-1", "ada@example.com")
            .send()
            .await
            .unwrap(),
    )
    .await;

    assert_eq!(first.0, StatusCode::CREATED);
    assert_eq!(
        retry, first,
        "status, Location, ETag and body are the first ones"
    );
    assert_eq!(users_named(&app, "ada@example.com").await, 1);
    app.stop().await;
}

#[tokio::test]
async fn the_replay_is_the_first_response_even_after_the_user_changed() {
    let app = spawn_app().await;
    let first = parts(
        sign_up(&app, "k-1", "ada@example.com")
            .send()
            .await
            .unwrap(),
    )
    .await;
    let created: Value = serde_json::from_str(&first.3).unwrap();
    let token = app.token("ada@example.com", PASSWORD).await;
    let renamed = app
        .client
        .patch(app.url(&format!("/users/{}", created["id"])))
        .bearer_auth(&token)
        .json(&json!({"name": "Countess of Lovelace"}))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), StatusCode::OK);

    let retry = parts(
        sign_up(&app, "k-1", "ada@example.com")
            .send()
            .await
            .unwrap(),
    )
    .await;

    assert_eq!(retry, first);
    app.stop().await;
}

#[tokio::test]
async fn the_same_key_with_another_body_is_422_and_creates_nothing() {
    let app = spawn_app().await;
    let first = sign_up(&app, "k-1", "ada@example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);

    let other = sign_up(&app, "k-1", "grace@example.com")
        .send()
        .await
        .unwrap();

    let body = expect_problem(other, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(body["errors"][0]["field"], "Idempotency-Key");
    assert_eq!(users_named(&app, "grace@example.com").await, 0);
    app.stop().await;
}

#[tokio::test]
async fn key_order_and_whitespace_in_the_body_do_not_make_another_body() {
    let app = spawn_app().await;
    let first = sign_up(&app, "k-1", "ada@example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);

    let reordered = format!(
        "{{ \"password\": \"{PASSWORD}\",\n \"name\": \"Ada Lovelace\", \"email\": \"ada@example.com\" }}"
    );
    let retry = app
        .client
        .post(app.url("/users"))
        .header("idempotency-key", "k-1")
        .header(CONTENT_TYPE, "application/json")
        .body(reordered)
        .send()
        .await
        .unwrap();

    assert_eq!(retry.status(), StatusCode::CREATED);
    assert_eq!(users_named(&app, "ada@example.com").await, 1);
    app.stop().await;
}

#[tokio::test]
async fn a_retry_while_the_first_request_runs_gets_409() {
    // A slow hash keeps the first request running.
    let app = spawn_app_with(&["--argon2-memory-kib", "65536", "--argon2-iterations", "12"]).await;
    let first = tokio::spawn(sign_up(&app, "k-1", "ada@example.com").send());
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;

    let retry = sign_up(&app, "k-1", "ada@example.com")
        .send()
        .await
        .unwrap();

    assert_eq!(first.await.unwrap().unwrap().status(), StatusCode::CREATED);
    let body = expect_problem(retry, StatusCode::CONFLICT).await;
    assert!(body["detail"].as_str().unwrap().contains("Idempotency-Key"));
    let later = sign_up(&app, "k-1", "ada@example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(later.status(), StatusCode::CREATED);
    app.stop().await;
}

#[tokio::test]
async fn a_failed_first_request_keeps_nothing_so_the_retry_runs_again() {
    let app = spawn_app().await;
    let taken = app.sign_up("ada@example.com").await;

    let first = sign_up(&app, "k-1", "ada@example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::BAD_REQUEST);
    let admin = app.admin_token().await;
    let deleted = app
        .client
        .delete(app.url(&format!("/users/{}", taken["id"])))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);

    let retry = sign_up(&app, "k-1", "ada@example.com")
        .send()
        .await
        .unwrap();

    assert_eq!(retry.status(), StatusCode::CREATED);
    app.stop().await;
}

#[tokio::test]
async fn keys_live_in_the_database_and_hold_across_instances() {
    let (first, second) = two_instances(&[]).await;

    let created = parts(
        sign_up(&first, "k-1", "ada@example.com")
            .send()
            .await
            .unwrap(),
    )
    .await;
    let retried = parts(
        sign_up(&second, "k-1", "ada@example.com")
            .send()
            .await
            .unwrap(),
    )
    .await;

    assert_eq!(created.0, StatusCode::CREATED);
    assert_eq!(retried, created);
    first.stop().await;
    second.stop().await;
}

#[tokio::test]
async fn a_key_is_scoped_to_the_client_address() {
    let app = spawn_app_with(&["--trusted-proxies", "127.0.0.1"]).await;
    let from = |address: &str| {
        sign_up(&app, "k-1", "ada@example.com").header("x-forwarded-for", address.to_owned())
    };

    let first = from("198.51.100.1").send().await.unwrap();
    let other_client = from("198.51.100.2").send().await.unwrap();

    assert_eq!(first.status(), StatusCode::CREATED);
    // Not a replay: the second client's request ran, and found the email taken.
    expect_problem(other_client, StatusCode::BAD_REQUEST).await;
    app.stop().await;
}

#[tokio::test]
async fn a_key_older_than_24_hours_is_forgotten() {
    let app = spawn_app().await;
    let first = sign_up(&app, "k-1", "ada@example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    // A day passes for the key (the store keeps unix seconds).
    let aged = app
        .db
        .execute("UPDATE idempotency_keys SET created_at = created_at - 86400");
    assert_eq!(aged, 1);

    let reused = sign_up(&app, "k-1", "grace@example.com")
        .send()
        .await
        .unwrap();

    assert_eq!(
        reused.status(),
        StatusCode::CREATED,
        "not 422: the key expired"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_malformed_key_is_422_naming_the_header() {
    let app = spawn_app().await;
    for key in [String::new(), "x".repeat(256), "tab\there".into()] {
        let response = sign_up(&app, &key, "ada@example.com").send().await.unwrap();
        let body = expect_problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(body["errors"][0]["field"], "Idempotency-Key", "key {key:?}");
    }
    assert_eq!(users_named(&app, "ada@example.com").await, 0);
    app.stop().await;
}

/// "What is stored for a key lets no one test a password faster than the
/// argon2 hash does": the stored fingerprint is the same whatever the
/// password was, so it carries nothing of it.
#[tokio::test]
async fn the_stored_fingerprint_is_the_same_whatever_the_password() {
    let mut stored = Vec::new();
    for password in [PASSWORD, "a different secret of 2 words"] {
        let app = spawn_app().await;
        let created = app
            .client
            .post(app.url("/users"))
            .header("idempotency-key", "k-1")
            .json(
                &json!({"email": "ada@example.com", "name": "Ada Lovelace", "password": password}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), StatusCode::CREATED);
        let hex = match backend() {
            Backend::Sqlite => {
                "SELECT lower(hex(fingerprint)) || ' ' || body FROM idempotency_keys"
            }
            Backend::Postgres => {
                "SELECT encode(fingerprint, 'hex') || ' ' || body FROM idempotency_keys"
            }
        };
        let row = app.db.query_text(hex);
        assert!(!row.contains(password), "the password is stored: {row}");
        stored.push(row.split(' ').next().unwrap().to_owned());
        app.stop().await;
    }
    assert_eq!(
        stored[0], stored[1],
        "the fingerprint depends on the password"
    );
}

/// The password is left out of the fingerprint, so a retry's password is
/// checked against the created account's hash instead.
#[tokio::test]
async fn the_same_key_and_fields_with_another_password_is_422_and_creates_nothing() {
    let app = spawn_app().await;
    let first = sign_up(&app, "k-1", "ada@example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);

    let retry = app
        .client
        .post(app.url("/users"))
        .header("idempotency-key", "k-1")
        .json(&json!({"email": "ada@example.com", "name": "Ada Lovelace", "password": "a different secret of 2 words"}))
        .send()
        .await
        .unwrap();

    expect_problem(retry, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(users_named(&app, "ada@example.com").await, 1);
    let old = app.login("ada@example.com", PASSWORD).await;
    assert_eq!(
        old.status(),
        StatusCode::OK,
        "the first password still signs in"
    );
    app.stop().await;
}
