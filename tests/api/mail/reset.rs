//! `POST /password-reset` and `/password-reset/confirm`: a reset link
//! works once, only the newest works, it expires, and using it ends every
//! access token, clears the sign-in wait and verifies the address.

use reqwest::StatusCode;
use serde_json::Value;

use super::{spawn_mail_app, NEW_PASSWORD};
use crate::support::smtp::{link, link_token, SmtpSink};
use crate::support::{problem, PASSWORD};

const RESET: &str = "Reset your password";

#[tokio::test]
async fn a_reset_link_sets_the_password_once() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let app = spawn_mail_app(&sink, &[]).await;
    app.sign_up("ada@example.com").await;
    let accepted = app.request_reset("ada@example.com").await;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    assert_eq!(accepted.text().await.unwrap(), r#"{"status":"accepted"}"#);

    let mail = sink.wait_for("ada@example.com", RESET, 0).await;
    assert!(link(&mail).starts_with("https://id.example.com/password-reset?token="));
    assert_eq!(mail["content_type"], "multipart/alternative");
    assert!(mail["html"]
        .as_str()
        .unwrap()
        .contains("/password-reset?token="));
    let token = link_token(&mail);
    assert_eq!(token.len(), 43, "256 bits, base64url");

    let used = app.confirm_reset(&token, NEW_PASSWORD).await;
    assert_eq!(used.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.login("ada@example.com", NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status(),
        StatusCode::BAD_REQUEST
    );
    let again = app.confirm_reset(&token, "another fine password 77").await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert_eq!(problem(again).await["detail"], "Invalid or expired token");
}

#[tokio::test]
async fn a_second_reset_request_kills_the_first_link() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let app = spawn_mail_app(&sink, &[]).await;
    app.sign_up("ada@example.com").await;
    app.request_reset("ada@example.com").await;
    let first = link_token(&sink.wait_for("ada@example.com", RESET, 0).await);
    app.request_reset("ada@example.com").await;
    let second = link_token(&sink.wait_for("ada@example.com", RESET, 1).await);
    assert_ne!(first, second);
    assert_eq!(
        app.confirm_reset(&first, NEW_PASSWORD).await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.confirm_reset(&second, NEW_PASSWORD).await.status(),
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn an_expired_reset_link_is_refused() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let app = spawn_mail_app(&sink, &["--password-reset-ttl", "1s"]).await;
    app.sign_up("ada@example.com").await;
    app.request_reset("ada@example.com").await;
    let token = link_token(&sink.wait_for("ada@example.com", RESET, 0).await);
    // Expiry is kept in whole seconds: past two, the link has expired.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let refused = app.confirm_reset(&token, NEW_PASSWORD).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert_eq!(problem(refused).await["detail"], "Invalid or expired token");
}

#[tokio::test]
async fn a_reset_ends_every_access_token_and_verifies_the_address() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let app = spawn_mail_app(&sink, &[]).await;
    let (id, old_token) = app.user_with_token("ada@example.com").await;
    let admin = app.admin_token().await;
    let after = app
        .get("/events", &admin)
        .await
        .json::<Vec<Value>>()
        .await
        .unwrap();
    let seen = after.last().map_or(0, |e| e["seq"].as_i64().unwrap());

    app.request_reset("ada@example.com").await;
    let token = link_token(&sink.wait_for("ada@example.com", RESET, 0).await);
    assert_eq!(
        app.confirm_reset(&token, NEW_PASSWORD).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.get("/users/me", &old_token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let fresh = app.token("ada@example.com", NEW_PASSWORD).await;
    let me: Value = app.get("/users/me", &fresh).await.json().await.unwrap();
    assert_eq!(me["email_verified"], true);

    let events: Vec<Value> = app
        .get(&format!("/events?after={seen}"), &admin)
        .await
        .json()
        .await
        .unwrap();
    let mine: Vec<&Value> = events
        .iter()
        .filter(|e| e["data"]["user"]["id"] == id)
        .collect();
    assert_eq!(mine.len(), 2, "{events:?}");
    assert_eq!(mine[0]["type"], "user.updated");
    assert_eq!(
        mine[0]["data"]["changed"],
        serde_json::json!(["email_verified", "password"])
    );
    assert_eq!(mine[1]["type"], "user.signed_out");
    assert_eq!(mine[1]["data"]["reason"], "password_reset");
    assert_eq!(
        mine[1]["seq"].as_i64().unwrap(),
        mine[0]["seq"].as_i64().unwrap() + 1
    );
}

#[tokio::test]
async fn a_reset_clears_the_sign_in_wait() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let app = spawn_mail_app(&sink, &[]).await;
    app.sign_up("ada@example.com").await;
    for _ in 0..5 {
        app.login("ada@example.com", "wrong password entirely 1")
            .await;
    }
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    app.request_reset("ada@example.com").await;
    let token = link_token(&sink.wait_for("ada@example.com", RESET, 0).await);
    app.confirm_reset(&token, NEW_PASSWORD).await;
    assert_eq!(
        app.login("ada@example.com", NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_refused_password_leaves_the_link_usable() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let app = spawn_mail_app(&sink, &[]).await;
    app.sign_up("ada@example.com").await;
    app.request_reset("ada@example.com").await;
    let token = link_token(&sink.wait_for("ada@example.com", RESET, 0).await);
    for weak in ["short", "passwordpassword", "my test password is long 12"] {
        let refused = app.confirm_reset(&token, weak).await;
        assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY, "{weak}");
        assert_eq!(problem(refused).await["errors"][0]["field"], "password");
    }
    assert_eq!(
        app.confirm_reset(&token, NEW_PASSWORD).await.status(),
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn the_token_is_checked_before_the_password() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let app = spawn_mail_app(&sink, &[]).await;
    let refused = app.confirm_reset("no-such-token", "short").await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert_eq!(problem(refused).await["detail"], "Invalid or expired token");
}

#[tokio::test]
async fn malformed_and_hostile_confirm_bodies_are_refused_clearly() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let app = spawn_mail_app(&sink, &[]).await;
    let url = app.url("/password-reset/confirm");
    let send = |body: &'static str, content_type: &'static str| {
        app.client
            .post(url.clone())
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    assert_eq!(send("{", "application/json").await.unwrap().status(), 400);
    assert_eq!(send("{}", "application/json").await.unwrap().status(), 422);
    assert_eq!(
        send(r#"{"token": 1, "password": []}"#, "application/json")
            .await
            .unwrap()
            .status(),
        422
    );
    assert_eq!(
        send(
            r#"{"token":"a","password":"b","role":"admin"}"#,
            "application/json"
        )
        .await
        .unwrap()
        .status(),
        422
    );
    assert_eq!(
        send(
            r#"{"token":"a","token":"b","password":"c"}"#,
            "application/json"
        )
        .await
        .unwrap()
        .status(),
        422
    );
    assert_eq!(send("token=a", "text/plain").await.unwrap().status(), 415);
    let huge = format!(r#"{{"token":"{}","password":"x"}}"#, "a".repeat(70_000));
    let too_big = app
        .client
        .post(url.clone())
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(too_big.status(), 413);
    let long = format!(
        r#"{{"token":"{}","password":"{NEW_PASSWORD}"}}"#,
        "a".repeat(10_000)
    );
    let long = app
        .client
        .post(url)
        .header("content-type", "application/json")
        .body(long)
        .send()
        .await
        .unwrap();
    assert_eq!(long.status(), 400);
}
