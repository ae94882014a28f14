//! `POST /token`, `POST /token/revoke` and bearer tokens: how they are
//! issued, sent, refused and ended.

use std::time::Duration;

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use crate::support::{problem, spawn_app, spawn_app_with, TestApp, PASSWORD};

const EMAIL: &str = "ada@example.com";
const REALM: &str = "Bearer realm=\"user-api\"";
/// The contract's challenge for a malformed, expired or revoked token.
const INVALID_TOKEN: &str = "Bearer error=\"invalid_token\"";

/// `POST /token` with a form body of exactly these pairs.
async fn token_form(app: &TestApp, pairs: &[(&str, &str)]) -> Response {
    app.client
        .post(app.url("/token"))
        .form(pairs)
        .send()
        .await
        .unwrap()
}

async fn token_json(app: &TestApp, body: &Value) -> Response {
    app.client
        .post(app.url("/token"))
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn patch(app: &TestApp, id: i64, token: &str, body: &Value) -> Response {
    app.client
        .patch(app.url(&format!("/users/{id}")))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn delete(app: &TestApp, id: i64, token: &str) -> Response {
    app.client
        .delete(app.url(&format!("/users/{id}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn revoke(app: &TestApp, token: &str) -> Response {
    app.client
        .post(app.url("/token/revoke"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

fn header(response: &Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
        .to_owned()
}

/// The `error` of an RFC 6749 §5.2 body, after checking it is not problem+json.
async fn oauth_error(response: Response) -> String {
    assert_eq!(header(&response, "content-type"), "application/json");
    let body: Value = response.json().await.unwrap();
    body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error in {body}"))
        .to_owned()
}

/// Asserts `GET /users/me` with `token` is 401 `invalid_token`.
async fn assert_token_refused(app: &TestApp, token: &str) {
    let response = app.get("/users/me", token).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = header(&response, "www-authenticate");
    assert_eq!(challenge, INVALID_TOKEN);
    assert_eq!(problem(response).await["status"], 401);
}

/// Asserts `GET /users/me` with `token` is 200 and answers `email`.
async fn assert_token_works(app: &TestApp, token: &str, email: &str) {
    let response = app.get("/users/me", token).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["email"], email);
}

// --- Issuing ---

#[tokio::test]
async fn token_with_form_body_is_200_bearer_for_an_hour_not_cached() {
    let app = spawn_app().await;
    app.sign_up(EMAIL).await;

    let response = token_form(&app, &[("username", EMAIL), ("password", PASSWORD)]).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "cache-control"), "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 3600);
    let token = body["access_token"].as_str().unwrap();
    assert_token_works(&app, token, EMAIL).await;
    app.stop().await;
}

#[tokio::test]
async fn token_with_json_body_is_200_bearer_for_an_hour_not_cached() {
    let app = spawn_app().await;
    app.sign_up(EMAIL).await;

    let response = token_json(&app, &json!({"username": EMAIL, "password": PASSWORD})).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, "cache-control"), "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 3600);
    let token = body["access_token"].as_str().unwrap();
    assert_token_works(&app, token, EMAIL).await;
    app.stop().await;
}

#[tokio::test]
async fn token_is_opaque_random_and_at_least_22_characters() {
    let app = spawn_app().await;
    app.sign_up(EMAIL).await;

    let first = app.token(EMAIL, PASSWORD).await;
    let second = app.token(EMAIL, PASSWORD).await;

    // 22 base64 characters carry 132 bits: at least the contract's 128.
    assert!(first.len() >= 22, "{first}");
    assert_ne!(first, second);
    // Opaque: not a JWT, and nothing of the account readable in it.
    assert_ne!(first.matches('.').count(), 2, "{first} looks like a JWT");
    assert!(!first.contains(EMAIL), "{first}");
    // Nor the email base64-encoded, as a self-contained token would carry it.
    assert!(!first.contains("YWRhQGV4YW1wbGUuY29t"), "{first}");
    app.stop().await;
}

#[tokio::test]
async fn token_without_grant_type_is_issued() {
    let app = spawn_app().await;
    app.sign_up(EMAIL).await;

    let response = token_form(&app, &[("username", EMAIL), ("password", PASSWORD)]).await;

    assert_eq!(response.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn token_with_grant_type_password_is_issued() {
    let app = spawn_app().await;
    app.sign_up(EMAIL).await;

    let response = token_form(
        &app,
        &[
            ("grant_type", "password"),
            ("username", EMAIL),
            ("password", PASSWORD),
        ],
    )
    .await;

    assert_eq!(response.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn token_with_grant_type_client_credentials_is_400_unsupported_grant_type() {
    let app = spawn_app().await;
    app.sign_up(EMAIL).await;

    let response = token_form(
        &app,
        &[
            ("grant_type", "client_credentials"),
            ("username", EMAIL),
            ("password", PASSWORD),
        ],
    )
    .await;

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(oauth_error(response).await, "unsupported_grant_type");
    app.stop().await;
}

#[tokio::test]
async fn token_without_username_is_400_invalid_request() {
    let app = spawn_app().await;
    app.sign_up(EMAIL).await;

    let response = token_form(&app, &[("password", PASSWORD)]).await;

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(oauth_error(response).await, "invalid_request");
    app.stop().await;
}

#[tokio::test]
async fn token_without_password_is_400_invalid_request() {
    let app = spawn_app().await;
    app.sign_up(EMAIL).await;

    let response = token_json(&app, &json!({"username": EMAIL})).await;

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(oauth_error(response).await, "invalid_request");
    app.stop().await;
}

#[tokio::test]
async fn wrong_password_unknown_email_and_inactive_user_get_the_same_invalid_grant() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.sign_up(EMAIL).await;
    let (inactive, _) = app.user_with_token("grace@example.com").await;
    let deactivated = patch(&app, inactive, &admin, &json!({"is_active": false})).await;
    assert_eq!(deactivated.status(), StatusCode::OK);

    let wrong_password = app.login(EMAIL, "not the right password").await;
    let unknown_email = app.login("nobody@example.com", PASSWORD).await;
    let inactive_user = app.login("grace@example.com", PASSWORD).await;

    let mut bodies = Vec::new();
    for response in [wrong_password, unknown_email, inactive_user] {
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(header(&response, "content-type"), "application/json");
        bodies.push(response.bytes().await.unwrap());
    }
    let body: Value = serde_json::from_slice(&bodies[0]).unwrap();
    assert_eq!(body["error"], "invalid_grant");
    assert_eq!(bodies[0], bodies[1], "wrong password vs unknown email");
    assert_eq!(bodies[0], bodies[2], "wrong password vs inactive user");
    app.stop().await;
}

#[tokio::test]
async fn email_is_case_insensitive_at_sign_in() {
    let app = spawn_app().await;
    app.sign_up(EMAIL).await;

    let response = app.login("  ADA@Example.COM ", PASSWORD).await;

    assert_eq!(response.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn password_is_case_sensitive_at_sign_in() {
    let app = spawn_app().await;
    app.sign_up(EMAIL).await;

    let response = app.login(EMAIL, &PASSWORD.to_uppercase()).await;

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(oauth_error(response).await, "invalid_grant");
    app.stop().await;
}

#[tokio::test]
async fn token_with_text_plain_body_is_415_problem() {
    let app = spawn_app().await;
    app.sign_up(EMAIL).await;

    let response = app
        .client
        .post(app.url("/token"))
        .header("content-type", "text/plain")
        .body(format!("username={EMAIL}&password={PASSWORD}"))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(problem(response).await["status"], 415);
    app.stop().await;
}

#[tokio::test]
async fn token_with_body_over_65536_bytes_is_413_problem() {
    let app = spawn_app().await;
    app.sign_up(EMAIL).await;
    let padding = "x".repeat(65_536);

    let response = token_form(
        &app,
        &[
            ("username", EMAIL),
            ("password", PASSWORD),
            ("scope", &padding),
        ],
    )
    .await;

    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(problem(response).await["status"], 413);
    app.stop().await;
}

// --- Sending ---

#[tokio::test]
async fn token_in_the_access_token_query_parameter_is_not_accepted() {
    let app = spawn_app().await;
    app.sign_up(EMAIL).await;
    let token = app.token(EMAIL, PASSWORD).await;

    let response = app
        .client
        .get(app.url(&format!("/users/me?access_token={token}")))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(problem(response).await["status"], 401);
    app.stop().await;
}

#[tokio::test]
async fn request_without_authorization_is_401_with_the_realm_challenge() {
    let app = spawn_app().await;

    let response = app.client.get(app.url("/users/me")).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&response, "www-authenticate"), REALM);
    assert_eq!(problem(response).await["status"], 401);
    app.stop().await;
}

#[tokio::test]
async fn malformed_authorization_is_401_invalid_token() {
    let app = spawn_app().await;
    app.sign_up(EMAIL).await;
    let token = app.token(EMAIL, PASSWORD).await;

    for value in [
        "Bearer".to_owned(),
        "Bearer ".to_owned(),
        format!("Bearer {token} extra"),
        "Bearer not/a\"token".to_owned(),
        format!("Bearer {}", "a".repeat(10_000)),
    ] {
        let response = app
            .client
            .get(app.url("/users/me"))
            .header("authorization", &value)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{value:.40}");
        let challenge = header(&response, "www-authenticate");
        assert_eq!(challenge, INVALID_TOKEN, "{value:.40}");
    }
    app.stop().await;
}

#[tokio::test]
async fn another_auth_scheme_is_401_like_a_missing_token() {
    // RFC 6750 §3.1: no error code when the request carries no bearer
    // credentials, e.g. it used another scheme.
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/users/me"))
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&response, "www-authenticate"), REALM);
    app.stop().await;
}

#[tokio::test]
async fn unknown_token_is_401_invalid_token() {
    let app = spawn_app().await;
    app.sign_up(EMAIL).await;
    let token = app.token(EMAIL, PASSWORD).await;
    // Same shape as a real token, one character different.
    let mut forged = token.clone().into_bytes();
    forged[0] = if forged[0] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();

    assert_token_refused(&app, &forged).await;
    assert_token_works(&app, &token, EMAIL).await;
    app.stop().await;
}

// --- Ending ---

#[tokio::test]
async fn revoked_token_is_401_invalid_token() {
    let app = spawn_app().await;
    app.sign_up(EMAIL).await;
    let token = app.token(EMAIL, PASSWORD).await;
    assert_token_works(&app, &token, EMAIL).await;

    let response = revoke(&app, &token).await;

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_token_refused(&app, &token).await;
    app.stop().await;
}

#[tokio::test]
async fn revoking_one_token_leaves_the_users_other_tokens_working() {
    let app = spawn_app().await;
    app.sign_up(EMAIL).await;
    let revoked = app.token(EMAIL, PASSWORD).await;
    let kept = app.token(EMAIL, PASSWORD).await;

    let response = revoke(&app, &revoked).await;

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_token_refused(&app, &revoked).await;
    assert_token_works(&app, &kept, EMAIL).await;
    app.stop().await;
}

#[tokio::test]
async fn revoke_without_a_token_is_401() {
    let app = spawn_app().await;

    let response = app
        .client
        .post(app.url("/token/revoke"))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&response, "www-authenticate"), REALM);
    app.stop().await;
}

#[tokio::test]
async fn changing_own_password_keeps_the_token_used_and_ends_the_others() {
    let app = spawn_app().await;
    let (id, used) = app.user_with_token(EMAIL).await;
    let other = app.token(EMAIL, PASSWORD).await;
    let new_password = "a completely new passphrase 2";

    let response = patch(
        &app,
        id,
        &used,
        &json!({"password": new_password, "current_password": PASSWORD}),
    )
    .await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_token_works(&app, &used, EMAIL).await;
    assert_token_refused(&app, &other).await;
    assert_eq!(
        app.login(EMAIL, new_password).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.login(EMAIL, PASSWORD).await.status(),
        StatusCode::BAD_REQUEST
    );
    app.stop().await;
}

#[tokio::test]
async fn an_admin_setting_a_users_password_ends_all_their_tokens() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, first) = app.user_with_token(EMAIL).await;
    let second = app.token(EMAIL, PASSWORD).await;

    let response = patch(
        &app,
        id,
        &admin,
        &json!({"password": "set by the admin for ada 3"}),
    )
    .await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_token_refused(&app, &first).await;
    assert_token_refused(&app, &second).await;
    assert_token_works(&app, &admin, crate::support::ADMIN_EMAIL).await;
    app.stop().await;
}

#[tokio::test]
async fn token_ttl_of_one_second_is_announced_as_expires_in_1() {
    let app = spawn_app_with(&["--token-ttl", "1s"]).await;
    app.sign_up(EMAIL).await;

    let response = app.login(EMAIL, PASSWORD).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["expires_in"], 1);
    app.stop().await;
}

#[tokio::test]
async fn token_stops_working_once_its_lifetime_is_over() {
    let app = spawn_app_with(&["--token-ttl", "1s"]).await;
    app.sign_up(EMAIL).await;
    let token = app.token(EMAIL, PASSWORD).await;

    // Poll for at most about 5 s: a 1 s token must be refused well before.
    let mut last = StatusCode::OK;
    for _ in 0..50 {
        last = app.get("/users/me", &token).await.status();
        if last == StatusCode::UNAUTHORIZED {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    assert_eq!(last, StatusCode::UNAUTHORIZED, "token outlived its 1 s TTL");
    assert_token_refused(&app, &token).await;
    app.stop().await;
}

#[tokio::test]
async fn deleting_a_user_ends_their_tokens() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, token) = app.user_with_token(EMAIL).await;
    assert_token_works(&app, &token, EMAIL).await;

    let response = delete(&app, id, &admin).await;

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_token_refused(&app, &token).await;
    app.stop().await;
}

#[tokio::test]
async fn deleting_yourself_ends_your_tokens() {
    let app = spawn_app().await;
    let (id, used) = app.user_with_token(EMAIL).await;
    let other = app.token(EMAIL, PASSWORD).await;

    let response = delete(&app, id, &used).await;

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_token_refused(&app, &used).await;
    assert_token_refused(&app, &other).await;
    app.stop().await;
}

#[tokio::test]
async fn deactivating_a_user_ends_their_tokens() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, token) = app.user_with_token(EMAIL).await;

    let response = patch(&app, id, &admin, &json!({"is_active": false})).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_token_refused(&app, &token).await;
    app.stop().await;
}

#[tokio::test]
async fn unknown_parameters_and_empty_values_are_ignored_as_rfc_6749_says() {
    // RFC 6749 §3.2: unrecognised parameters are ignored; §3.1: a parameter
    // sent without a value is treated as omitted.
    let app = spawn_app().await;
    app.sign_up(EMAIL).await;
    let response = app
        .client
        .post(app.url("/token"))
        .form(&[
            ("username", EMAIL),
            ("password", PASSWORD),
            ("grant_type", ""),
            ("scope", ""),
            ("audience", "something-else"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    app.stop().await;
}
