//! Sending: a token travels only in `Authorization: Bearer`; none, another
//! scheme, a malformed or an unknown token is 401 with the contract's
//! challenge.

use reqwest::StatusCode;

use super::{assert_token_refused, assert_token_works, header, EMAIL, INVALID_TOKEN, REALM};
use crate::support::{problem, spawn_app, PASSWORD};

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
