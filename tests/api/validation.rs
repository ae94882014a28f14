//! Hostile and malformed input: bodies, media types, sizes, field types,
//! query parameters and path ids. Every error is problem+json with `status`,
//! `title` and `detail`, names every bad field, and shows nothing internal.

use std::collections::BTreeSet;

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};

use crate::support::{problem, spawn_app, TestApp, ADMIN_PASSWORD, PASSWORD};

/// The contract's body limit.
const LIMIT: usize = 65_536;

/// A request with an optional bearer token.
fn request(app: &TestApp, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
    let builder = app.client.request(method, app.url(path));
    match token {
        Some(token) => builder.bearer_auth(token),
        None => builder,
    }
}

/// Sends `body` as it is, with the given `Content-Type` (none when `None`).
async fn send_raw(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> Response {
    let mut builder = request(app, method, path, token).body(body);
    if let Some(content_type) = content_type {
        builder = builder.header("content-type", content_type);
    }
    builder.send().await.unwrap()
}

/// `POST /users` with a raw JSON body.
async fn post_json_text(app: &TestApp, body: impl Into<reqwest::Body>) -> Response {
    send_raw(
        app,
        Method::POST,
        "/users",
        None,
        Some("application/json"),
        body,
    )
    .await
}

async fn patch_json(app: &TestApp, id: i64, token: &str, body: &Value) -> Response {
    request(app, Method::PATCH, &format!("/users/{id}"), Some(token))
        .json(body)
        .send()
        .await
        .unwrap()
}

/// A sign-up body of exactly `size` bytes, its name padded (and so too long).
fn signup_body_of_size(size: usize) -> Vec<u8> {
    let head = format!(r#"{{"email":"ada@example.com","password":"{PASSWORD}","name":""#);
    let tail = r#""}"#;
    let body = format!("{head}{}{tail}", "x".repeat(size - head.len() - tail.len()));
    assert_eq!(body.len(), size);
    body.into_bytes()
}

/// The `field` of every entry of a validation problem's `errors`.
fn error_fields(problem: &Value) -> BTreeSet<String> {
    problem["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors array in {problem}"))
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect()
}

fn set(fields: &[&str]) -> BTreeSet<String> {
    fields.iter().map(|f| f.to_string()).collect()
}

/// A regular user's id and token, and an admin's token.
async fn user_and_admin(app: &TestApp) -> (i64, String, String) {
    let admin = app.admin_token().await;
    let (id, token) = app.user_with_token("ada@example.com").await;
    (id, token, admin)
}

// --- Bodies: syntax, media type, size ---

#[tokio::test]
async fn malformed_json_is_400_problem() {
    let app = spawn_app().await;

    let response = post_json_text(&app, r#"{"email": "ada@example.com", "name": "#).await;

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = problem(response).await;
    assert_eq!(body["status"], 400);
    assert!(body["detail"].is_string());
    app.stop().await;
}

#[tokio::test]
async fn text_plain_body_is_415_problem() {
    let app = spawn_app().await;
    let json = json!({"email": "ada@example.com", "name": "Ada", "password": PASSWORD});

    let response = send_raw(
        &app,
        Method::POST,
        "/users",
        None,
        Some("text/plain"),
        json.to_string(),
    )
    .await;

    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(problem(response).await["status"], 415);
    app.stop().await;
}

#[tokio::test]
async fn body_without_content_type_is_415_problem() {
    let app = spawn_app().await;
    let json = json!({"email": "ada@example.com", "name": "Ada", "password": PASSWORD});

    let response = send_raw(&app, Method::POST, "/users", None, None, json.to_string()).await;

    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(problem(response).await["status"], 415);
    app.stop().await;
}

#[tokio::test]
async fn json_content_type_with_charset_is_accepted() {
    let app = spawn_app().await;
    let json = json!({"email": "ada@example.com", "name": "Ada", "password": PASSWORD});

    let response = send_raw(
        &app,
        Method::POST,
        "/users",
        None,
        Some("application/json; charset=utf-8"),
        json.to_string(),
    )
    .await;

    assert_eq!(response.status(), StatusCode::CREATED);
    app.stop().await;
}

#[tokio::test]
async fn body_over_65536_bytes_is_413_problem() {
    let app = spawn_app().await;

    let response = post_json_text(&app, signup_body_of_size(LIMIT + 1)).await;

    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(problem(response).await["status"], 413);
    app.stop().await;
}

#[tokio::test]
async fn body_of_exactly_65536_bytes_is_read_and_validated() {
    let app = spawn_app().await;

    let response = post_json_text(&app, signup_body_of_size(LIMIT)).await;

    // Not 413: the body is read, and its only fault is the name's length.
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&problem(response).await), set(&["name"]));
    app.stop().await;
}

#[tokio::test]
async fn json_array_body_is_422() {
    let app = spawn_app().await;

    let response = post_json_text(
        &app,
        json!([{"email": "ada@example.com", "name": "Ada", "password": PASSWORD}]).to_string(),
    )
    .await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem(response).await["status"], 422);
    app.stop().await;
}

#[tokio::test]
async fn json_string_body_is_422() {
    let app = spawn_app().await;

    let response = post_json_text(&app, r#""ada@example.com""#).await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem(response).await["status"], 422);
    app.stop().await;
}

// --- Fields ---

#[tokio::test]
async fn unknown_fields_are_422_naming_each() {
    let app = spawn_app().await;

    let response = app
        .post_user(&json!({
            "email": "ada@example.com",
            "name": "Ada",
            "password": PASSWORD,
            "nickname": "countess",
            "is_active": false,
        }))
        .await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = problem(response).await;
    assert_eq!(error_fields(&body), set(&["is_active", "nickname"]));
    app.stop().await;
}

#[tokio::test]
async fn number_for_email_is_422_naming_email() {
    let app = spawn_app().await;

    let response = app
        .post_user(&json!({"email": 42, "name": "Ada", "password": PASSWORD}))
        .await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&problem(response).await), set(&["email"]));
    app.stop().await;
}

#[tokio::test]
async fn null_for_name_is_422_naming_name() {
    let app = spawn_app().await;

    let response = app
        .post_user(&json!({"email": "ada@example.com", "name": null, "password": PASSWORD}))
        .await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&problem(response).await), set(&["name"]));
    app.stop().await;
}

#[tokio::test]
async fn missing_fields_are_422_naming_each() {
    let app = spawn_app().await;

    let response = app.post_user(&json!({})).await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        error_fields(&problem(response).await),
        set(&["email", "name", "password"])
    );
    app.stop().await;
}

#[tokio::test]
async fn several_bad_fields_at_once_are_422_naming_every_one() {
    let app = spawn_app().await;

    let response = app
        .post_user(&json!({
            "email": "not-an-email",
            "name": "   ",
            "password": "short",
            "colour": "blue",
        }))
        .await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = problem(response).await;
    assert_eq!(
        error_fields(&body),
        set(&["colour", "email", "name", "password"])
    );
    for error in body["errors"].as_array().unwrap() {
        assert!(
            !error["message"].as_str().unwrap().is_empty(),
            "{error} has no message"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn string_for_is_active_in_patch_is_422_naming_is_active() {
    let app = spawn_app().await;
    let (id, _, admin) = user_and_admin(&app).await;

    let response = patch_json(&app, id, &admin, &json!({"is_active": "false"})).await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&problem(response).await), set(&["is_active"]));
    app.stop().await;
}

// --- The shape of every error ---

#[tokio::test]
async fn every_error_body_carries_status_title_and_detail() {
    let app = spawn_app().await;
    let (_, token, _) = user_and_admin(&app).await;
    let signup = json!({"email": "ada@example.com", "name": "Ada", "password": PASSWORD});
    let responses = vec![
        post_json_text(&app, "{").await,
        app.post_user(&signup).await,
        app.client.get(app.url("/users/me")).send().await.unwrap(),
        app.get("/users/me", "not-a-token").await,
        app.get("/users", &token).await,
        app.get("/users/999999", &token).await,
        app.get("/no/such/path", &token).await,
        request(&app, Method::PUT, "/users", Some(&token))
            .send()
            .await
            .unwrap(),
        post_json_text(&app, signup_body_of_size(LIMIT + 1)).await,
        send_raw(
            &app,
            Method::POST,
            "/users",
            None,
            Some("text/plain"),
            signup.to_string(),
        )
        .await,
        app.post_user(&json!({"email": 1})).await,
        app.get("/users/abc", &token).await,
    ];
    let mut statuses = BTreeSet::new();

    for response in responses {
        let status = response.status();
        statuses.insert(status.as_u16());
        let body = problem(response).await;
        assert_eq!(body["status"], status.as_u16(), "{body}");
        assert!(
            body["title"].as_str().is_some_and(|t| !t.is_empty()),
            "{status}: {body}"
        );
        assert!(
            body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{status}: {body}"
        );
    }
    assert_eq!(
        statuses,
        [400, 401, 403, 404, 405, 413, 415, 422]
            .into_iter()
            .collect()
    );
    app.stop().await;
}

#[tokio::test]
async fn no_error_body_shows_a_stack_trace_sql_a_hash_or_a_token() {
    let app = spawn_app().await;
    let (id, token, admin) = user_and_admin(&app).await;
    let stranger = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let responses = vec![
        post_json_text(&app, "{\"email\": \"x' OR 1=1 --\"").await,
        app.post_user(&json!({"email": "ADA@example.com", "name": "Ada", "password": PASSWORD}))
            .await,
        app.post_user(&json!({"email": "x'; DROP TABLE users;--@example.com", "name": "\u{0}", "password": "Mailcreated5240"}))
            .await,
        app.get("/users/me", stranger).await,
        app.get("/users/me", &format!("{token}x")).await,
        app.get("/users", &token).await,
        app.get("/users/99999999999999999999", &token).await,
        app.get("/users/1%27%20OR%201=1", &admin).await,
        app.get("/users?limit=1;DROP%20TABLE%20users", &admin).await,
        patch_json(&app, id, &token, &json!({"email": "root@example.com", "current_password": PASSWORD}))
            .await,
        patch_json(&app, id, &token, &json!({"password": "a brand new passphrase 1", "current_password": "wrong wrong wrong"}))
            .await,
        patch_json(&app, id, &token, &json!({"role": "admin"})).await,
        app.login("ada@example.com", "wrong password here").await,
        app.login("root@example.com", &format!("{ADMIN_PASSWORD}x")).await,
        app.login("nobody@example.com", PASSWORD).await,
    ];
    let secrets = [
        token.as_str(),
        admin.as_str(),
        stranger,
        PASSWORD,
        ADMIN_PASSWORD,
        "Mailcreated5240",
        "wrong password here",
        "wrong wrong wrong",
    ];
    let forbidden = [
        "sql",
        "sqlite",
        "argon2",
        "$argon2",
        "panicked",
        "backtrace",
        "stack",
        ".rs:",
        "src/",
        "constraint",
        "rusqlite",
    ];

    for response in responses {
        let status = response.status();
        assert!(status.is_client_error(), "{status}");
        let text = response.text().await.unwrap();
        let lower = text.to_lowercase();
        for word in forbidden {
            assert!(!lower.contains(word), "{status} shows {word:?}: {text}");
        }
        for secret in secrets {
            assert!(!text.contains(secret), "{status} shows a secret: {text}");
        }
    }
    app.stop().await;
}

// --- GET /users query parameters ---

/// `GET /users?{query}` as an admin: a 422 problem naming `field`.
async fn assert_list_query_refused(query: &str, field: &str) {
    let app = spawn_app().await;
    let admin = app.admin_token().await;

    let response = app.get(&format!("/users?{query}"), &admin).await;

    assert_eq!(
        response.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "{query}"
    );
    let body = problem(response).await;
    assert!(
        error_fields(&body).contains(field),
        "{query} should name {field}: {body}"
    );
    app.stop().await;
}

#[tokio::test]
async fn list_with_negative_skip_is_422() {
    assert_list_query_refused("skip=-1", "skip").await;
}

#[tokio::test]
async fn list_with_limit_0_is_422() {
    assert_list_query_refused("limit=0", "limit").await;
}

#[tokio::test]
async fn list_with_limit_101_is_422() {
    assert_list_query_refused("limit=101", "limit").await;
}

#[tokio::test]
async fn list_with_non_numeric_limit_is_422() {
    assert_list_query_refused("limit=abc", "limit").await;
}

#[tokio::test]
async fn list_with_skip_and_after_id_together_is_422() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;

    let response = app.get("/users?skip=5&after_id=1", &admin).await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let fields = error_fields(&problem(response).await);
    assert!(
        fields.contains("skip") || fields.contains("after_id"),
        "{fields:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn list_with_is_active_maybe_is_422() {
    assert_list_query_refused("is_active=maybe", "is_active").await;
}

#[tokio::test]
async fn list_with_unknown_role_is_422() {
    assert_list_query_refused("role=root", "role").await;
}

#[tokio::test]
async fn list_accepts_the_bounds_of_every_parameter() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;

    for query in [
        "skip=0&limit=1",
        "limit=100",
        "after_id=0&limit=100",
        "is_active=true&role=admin",
        "is_active=false&role=user",
    ] {
        let response = app.get(&format!("/users?{query}"), &admin).await;
        assert_eq!(response.status(), StatusCode::OK, "{query}");
    }
    app.stop().await;
}

// --- Path ids ---

/// `GET /users/{raw}` with a regular user's valid token: 422 problem.
async fn assert_user_id_refused(raw: &str) {
    let app = spawn_app().await;
    let (_, token) = app.user_with_token("ada@example.com").await;

    let response = app.get(&format!("/users/{raw}"), &token).await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{raw}");
    assert_eq!(problem(response).await["status"], 422);
    app.stop().await;
}

#[tokio::test]
async fn user_id_that_is_not_a_number_is_422() {
    assert_user_id_refused("abc").await;
}

#[tokio::test]
async fn user_id_0_is_422() {
    assert_user_id_refused("0").await;
}

#[tokio::test]
async fn negative_user_id_is_422() {
    assert_user_id_refused("-1").await;
}

#[tokio::test]
async fn user_id_beyond_64_bits_is_422() {
    assert_user_id_refused("99999999999999999999").await;
}

#[tokio::test]
async fn malformed_user_id_in_patch_and_delete_is_422() {
    let app = spawn_app().await;
    let (_, token) = app.user_with_token("ada@example.com").await;

    for method in [Method::PATCH, Method::DELETE] {
        let response = request(&app, method.clone(), "/users/abc", Some(&token))
            .json(&json!({"name": "Ada"}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{method}"
        );
        assert_eq!(problem(response).await["status"], 422);
    }
    app.stop().await;
}

// --- PATCH /users/{id} with hostile input ---

#[tokio::test]
async fn patch_with_malformed_json_is_400_problem() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;

    let response = send_raw(
        &app,
        Method::PATCH,
        &format!("/users/{id}"),
        Some(&token),
        Some("application/json"),
        r#"{"name": "Ada"#,
    )
    .await;

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(problem(response).await["status"], 400);
    app.stop().await;
}

#[tokio::test]
async fn patch_with_text_plain_body_is_415_problem() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;

    let response = send_raw(
        &app,
        Method::PATCH,
        &format!("/users/{id}"),
        Some(&token),
        Some("text/plain"),
        r#"{"name": "Ada"}"#,
    )
    .await;

    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(problem(response).await["status"], 415);
    app.stop().await;
}

#[tokio::test]
async fn patch_with_body_over_65536_bytes_is_413_problem() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;
    let head = r#"{"name":""#;
    let body = format!("{head}{}\"}}", "x".repeat(LIMIT + 1 - head.len() - 2));
    assert_eq!(body.len(), LIMIT + 1);

    let response = send_raw(
        &app,
        Method::PATCH,
        &format!("/users/{id}"),
        Some(&token),
        Some("application/json"),
        body,
    )
    .await;

    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(problem(response).await["status"], 413);
    app.stop().await;
}

#[tokio::test]
async fn patch_with_json_array_body_is_422() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;

    let response = patch_json(&app, id, &token, &json!([{"name": "Ada"}])).await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem(response).await["status"], 422);
    app.stop().await;
}

#[tokio::test]
async fn patch_with_unknown_fields_is_422_naming_each() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;

    let response = patch_json(
        &app,
        id,
        &token,
        &json!({"name": "Ada", "id": 1, "created_at": "2000-01-01T00:00:00Z"}),
    )
    .await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        error_fields(&problem(response).await),
        set(&["created_at", "id"])
    );
    app.stop().await;
}

#[tokio::test]
async fn patch_with_wrong_types_is_422_naming_each() {
    let app = spawn_app().await;
    let (id, _, admin) = user_and_admin(&app).await;

    let response = patch_json(
        &app,
        id,
        &admin,
        &json!({"email": 7, "name": null, "is_active": 1, "role": ["admin"]}),
    )
    .await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        error_fields(&problem(response).await),
        set(&["email", "is_active", "name", "role"])
    );
    app.stop().await;
}

#[tokio::test]
async fn patch_with_several_invalid_values_is_422_naming_every_one() {
    let app = spawn_app().await;
    let (id, _, admin) = user_and_admin(&app).await;

    let response = patch_json(
        &app,
        id,
        &admin,
        &json!({"email": "nope", "name": "Ada\nLovelace", "password": "short", "role": "root"}),
    )
    .await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        error_fields(&problem(response).await),
        set(&["email", "name", "password", "role"])
    );
    app.stop().await;
}

#[tokio::test]
async fn patch_that_fails_validation_changes_nothing() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;

    let response = patch_json(
        &app,
        id,
        &token,
        &json!({"name": "Grace", "email": "not-an-email"}),
    )
    .await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let me: Value = app.get("/users/me", &token).await.json().await.unwrap();
    assert_eq!(me["name"], "Test User");
    assert_eq!(me["email"], "ada@example.com");
    app.stop().await;
}
