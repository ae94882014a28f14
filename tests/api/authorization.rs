//! Who may read, change and delete whom: regular users see only themselves
//! (others' ids are 404, as if they did not exist), only admins list users
//! and change `role` and `is_active`, changing one's own email or password
//! takes `current_password`, and no token or a hostile `Authorization` header
//! is 401, never a 500.

use reqwest::header::{HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{Method, Response, StatusCode};
use serde_json::{json, Value};

use crate::support::{problem, spawn_app, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD};

const NEW_PASSWORD: &str = "marmalade lighthouse 2031";
const WRONG_PASSWORD: &str = "not the password at all 55";

// ---------------------------------------------------------------------------
// Helpers: they send requests and return responses; the tests assert.

async fn patch(app: &TestApp, id: i64, token: &str, body: Value) -> Response {
    app.client
        .patch(app.url(&format!("/users/{id}")))
        .bearer_auth(token)
        .json(&body)
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

/// `GET /users/me` with this exact `Authorization` header value.
async fn me_with_authorization(app: &TestApp, value: HeaderValue) -> Response {
    app.client
        .get(app.url("/users/me"))
        .header(AUTHORIZATION, value)
        .send()
        .await
        .unwrap()
}

async fn user(app: &TestApp, id: i64, token: &str) -> Value {
    app.get(&format!("/users/{id}"), token)
        .await
        .json()
        .await
        .unwrap()
}

async fn id_of(app: &TestApp, token: &str) -> i64 {
    user_me(app, token).await["id"].as_i64().unwrap()
}

async fn user_me(app: &TestApp, token: &str) -> Value {
    app.get("/users/me", token).await.json().await.unwrap()
}

fn challenge(response: &Response) -> String {
    response
        .headers()
        .get(WWW_AUTHENTICATE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// An id no user has.
const MISSING_ID: i64 = 999_999;

// ---------------------------------------------------------------------------
// A regular user sees and changes only themself

#[tokio::test]
async fn a_user_listing_users_is_403() {
    let app = spawn_app().await;
    let (_, token) = app.user_with_token("ada@example.com").await;

    let response = app.get("/users", &token).await;

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    problem(response).await;
}

#[tokio::test]
async fn a_user_getting_another_user_gets_the_same_404_as_for_a_missing_id() {
    let app = spawn_app().await;
    let (_, token) = app.user_with_token("ada@example.com").await;
    let other = app.sign_up("grace@example.com").await["id"]
        .as_i64()
        .unwrap();

    let response = app.get(&format!("/users/{other}"), &token).await;
    let missing = app.get(&format!("/users/{MISSING_ID}"), &token).await;

    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(problem(response).await, problem(missing).await);
}

#[tokio::test]
async fn a_user_patching_another_user_gets_the_same_404_as_for_a_missing_id() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, token) = app.user_with_token("ada@example.com").await;
    let other = app.sign_up("grace@example.com").await["id"]
        .as_i64()
        .unwrap();

    let response = patch(&app, other, &token, json!({"name": "Mallory"})).await;
    let missing = patch(&app, MISSING_ID, &token, json!({"name": "Mallory"})).await;

    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(problem(response).await, problem(missing).await);
    assert_eq!(user(&app, other, &admin).await["name"], "Test User");
}

#[tokio::test]
async fn a_user_deleting_another_user_gets_the_same_404_as_for_a_missing_id() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, token) = app.user_with_token("ada@example.com").await;
    let other = app.sign_up("grace@example.com").await["id"]
        .as_i64()
        .unwrap();

    let response = delete(&app, other, &token).await;
    let missing = delete(&app, MISSING_ID, &token).await;

    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(problem(response).await, problem(missing).await);
    assert_eq!(
        app.get(&format!("/users/{other}"), &admin).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_user_changing_their_own_role_is_403_and_changes_nothing() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;
    let before = user(&app, id, &token).await;

    let response = patch(&app, id, &token, json!({"role": "admin"})).await;

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    problem(response).await;
    assert_eq!(user(&app, id, &token).await, before);
    assert_eq!(
        app.get("/users", &token).await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_user_changing_their_own_is_active_is_403_and_changes_nothing() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;
    let before = user(&app, id, &token).await;

    let response = patch(&app, id, &token, json!({"is_active": false})).await;

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    problem(response).await;
    assert_eq!(user(&app, id, &token).await, before);
}

// ---------------------------------------------------------------------------
// Own email and password need current_password

#[tokio::test]
async fn changing_own_password_without_current_password_is_403() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;

    let response = patch(&app, id, &token, json!({"password": NEW_PASSWORD})).await;

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    problem(response).await;
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status(),
        StatusCode::OK,
        "the old password still works"
    );
}

#[tokio::test]
async fn changing_own_password_with_a_wrong_current_password_is_403() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;

    let response = patch(
        &app,
        id,
        &token,
        json!({"password": NEW_PASSWORD, "current_password": WRONG_PASSWORD}),
    )
    .await;

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    problem(response).await;
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status(),
        StatusCode::OK,
        "the old password still works"
    );
}

#[tokio::test]
async fn changing_own_password_with_the_right_current_password_is_200() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;

    let response = patch(
        &app,
        id,
        &token,
        json!({"password": NEW_PASSWORD, "current_password": PASSWORD}),
    )
    .await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        app.login("ada@example.com", NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status(),
        StatusCode::BAD_REQUEST,
        "the old password no longer works"
    );
}

#[tokio::test]
async fn changing_own_email_without_current_password_is_403() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;

    let response = patch(&app, id, &token, json!({"email": "ada.king@example.com"})).await;

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    problem(response).await;
    assert_eq!(user(&app, id, &token).await["email"], "ada@example.com");
}

#[tokio::test]
async fn changing_own_email_with_a_wrong_current_password_is_403() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;

    let response = patch(
        &app,
        id,
        &token,
        json!({"email": "ada.king@example.com", "current_password": WRONG_PASSWORD}),
    )
    .await;

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    problem(response).await;
    assert_eq!(user(&app, id, &token).await["email"], "ada@example.com");
}

#[tokio::test]
async fn changing_own_email_with_the_right_current_password_is_200() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;

    let response = patch(
        &app,
        id,
        &token,
        json!({"email": "ada.king@example.com", "current_password": PASSWORD}),
    )
    .await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        app.login("ada.king@example.com", PASSWORD).await.status(),
        StatusCode::OK,
        "signs in with the new email"
    );
}

// ---------------------------------------------------------------------------
// Admins change others without current_password, themselves with it

#[tokio::test]
async fn an_admin_sets_another_users_password_without_current_password() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = app.sign_up("ada@example.com").await["id"].as_i64().unwrap();

    let response = patch(&app, id, &admin, json!({"password": NEW_PASSWORD})).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        app.login("ada@example.com", NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_admin_changes_another_users_email_without_current_password() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = app.sign_up("ada@example.com").await["id"].as_i64().unwrap();

    let response = patch(&app, id, &admin, json!({"email": "ada.king@example.com"})).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        user(&app, id, &admin).await["email"],
        "ada.king@example.com"
    );
}

#[tokio::test]
async fn an_admin_changes_another_users_role_without_current_password() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = app.sign_up("ada@example.com").await["id"].as_i64().unwrap();

    let response = patch(&app, id, &admin, json!({"role": "admin"})).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(user(&app, id, &admin).await["role"], "admin");
}

#[tokio::test]
async fn an_admin_changes_another_users_is_active_without_current_password() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = app.sign_up("ada@example.com").await["id"].as_i64().unwrap();

    let response = patch(&app, id, &admin, json!({"is_active": false})).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(user(&app, id, &admin).await["is_active"], false);
}

#[tokio::test]
async fn an_admin_changing_their_own_password_without_current_password_is_403() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = id_of(&app, &admin).await;

    let response = patch(&app, id, &admin, json!({"password": NEW_PASSWORD})).await;

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    problem(response).await;
    assert_eq!(
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.status(),
        StatusCode::OK,
        "the old password still works"
    );
}

#[tokio::test]
async fn an_admin_changing_their_own_password_with_current_password_is_200() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = id_of(&app, &admin).await;

    let response = patch(
        &app,
        id,
        &admin,
        json!({"password": NEW_PASSWORD, "current_password": ADMIN_PASSWORD}),
    )
    .await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        app.login(ADMIN_EMAIL, NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
}

// ---------------------------------------------------------------------------
// No token, or a hostile one

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

// ---------------------------------------------------------------------------
// Only admins choose a role at creation

#[tokio::test]
async fn an_anonymous_sign_up_with_a_role_is_422_and_creates_no_one() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;

    let response = app
        .post_user(&json!({
            "email": "mallory@example.com",
            "name": "Mallory",
            "password": PASSWORD,
            "role": "admin",
        }))
        .await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = problem(response).await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert!(fields.contains(&"role"), "{body}");
    let listed = app.get("/users?q=mallory", &admin).await;
    assert_eq!(listed.headers()["x-total-count"], "0");
}

#[tokio::test]
async fn a_regular_user_creating_a_user_with_a_role_is_422_and_creates_no_one() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (_, token) = app.user_with_token("ada@example.com").await;

    let response = app
        .client
        .post(app.url("/users"))
        .bearer_auth(&token)
        .json(&json!({
            "email": "mallory@example.com",
            "name": "Mallory",
            "password": PASSWORD,
            "role": "admin",
        }))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    problem(response).await;
    let listed = app.get("/users?q=mallory", &admin).await;
    assert_eq!(listed.headers()["x-total-count"], "0");
}
