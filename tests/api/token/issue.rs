//! Issuing: `POST /token` with a form or a JSON body gives an opaque bearer
//! token for an hour, not cached; a wrong password, an unknown email and an
//! inactive user get the same `invalid_grant`, and a malformed request an
//! OAuth error or a problem.

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use super::{assert_token_works, header, patch, EMAIL};
use crate::support::{problem, spawn_app, TestApp, PASSWORD};

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

/// The `error` of an RFC 6749 §5.2 body, after checking it is not problem+json.
async fn oauth_error(response: Response) -> String {
    assert_eq!(header(&response, "content-type"), "application/json");
    let body: Value = response.json().await.unwrap();
    body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error in {body}"))
        .to_owned()
}

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
async fn email_is_compared_in_its_canonical_form_at_sign_in() {
    let app = spawn_app().await;
    app.sign_up("ασ@example.com").await;
    app.sign_up("ab@bücher.example").await;

    for username in [
        "ΑΣ@example.com",
        "ας@example.com",
        "ＡＢ@xn--bcher-kva.example",
    ] {
        let response = app.login(username, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK, "{username}");
    }
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

#[tokio::test]
async fn empty_json_strings_are_missing_values_as_in_a_form() {
    let app = spawn_app().await;
    for body in [
        serde_json::json!({"username": "", "password": ""}),
        serde_json::json!({"username": "ada@example.com", "password": ""}),
    ] {
        let response = app
            .client
            .post(app.url("/token"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::BAD_REQUEST);
        let error: serde_json::Value = response.json().await.unwrap();
        assert_eq!(error["error"], "invalid_request", "{body}");
    }
    app.stop().await;
}

/// A JSON sign-in that repeats a key is refused as a repeated form
/// parameter is (RFC 6749 §3.1), even when the last copy is right: a proxy
/// reading the first copy must never see another request.
#[tokio::test]
async fn token_with_a_repeated_json_key_is_400_invalid_request() {
    let app = spawn_app().await;
    app.sign_up(EMAIL).await;

    let response = app
        .client
        .post(app.url("/token"))
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"username": "{EMAIL}", "password": "wrong password here 12", "password": "{PASSWORD}"}}"#
        ))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(oauth_error(response).await, "invalid_request");
    app.stop().await;
}
