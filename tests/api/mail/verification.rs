//! `email_verified`, `POST /email-verification` and its `/confirm`: a new
//! account is mailed a link, the link verifies once, an email change
//! starts over (and tells the old address), admins may set the field.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{spawn_mail_app, MailApp};
use crate::support::smtp::{link, link_token, SmtpSink};
use crate::support::{problem, PASSWORD};

const VERIFY: &str = "Confirm your email address";

async fn patch(app: &MailApp, id: &Value, token: &str, body: Value) -> reqwest::Response {
    app.client
        .patch(app.url(&format!("/users/{id}")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_new_account_is_unverified_and_its_link_verifies_it_once() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let app = spawn_mail_app(&sink, &[]).await;
    let user = app.sign_up("ada@example.com").await;
    assert_eq!(user["email_verified"], false);
    let mail = sink.wait_for("ada@example.com", VERIFY, 0).await;
    assert!(link(&mail).starts_with("https://id.example.com/email-verification?token="));
    assert_eq!(mail["from"], "User API <noreply@example.com>");

    let confirmed = app.confirm_verification(&link_token(&mail)).await;
    assert_eq!(confirmed.status(), StatusCode::OK);
    let body: Value = confirmed.json().await.unwrap();
    assert_eq!(body["id"], user["id"]);
    assert_eq!(body["email_verified"], true);

    let again = app.confirm_verification(&link_token(&mail)).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert_eq!(problem(again).await["detail"], "Invalid or expired token");
}

#[tokio::test]
async fn verifying_emits_user_updated_with_email_verified() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let app = spawn_mail_app(&sink, &[]).await;
    let user = app.sign_up("ada@example.com").await;
    let token = link_token(&sink.wait_for("ada@example.com", VERIFY, 0).await);
    app.confirm_verification(&token).await;
    let admin = app.admin_token().await;
    let events: Vec<Value> = app.get("/events", &admin).await.json().await.unwrap();
    let updated: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "user.updated" && e["data"]["user"]["id"] == user["id"])
        .collect();
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0]["data"]["changed"], json!(["email_verified"]));
    assert_eq!(updated[0]["data"]["user"]["email_verified"], true);
}

#[tokio::test]
async fn a_signed_in_user_asks_again_and_only_the_newest_link_works() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let app = spawn_mail_app(&sink, &[]).await;
    let (_, token) = app.user_with_token("ada@example.com").await;
    let first = link_token(&sink.wait_for("ada@example.com", VERIFY, 0).await);
    let asked = app
        .client
        .post(app.url("/email-verification"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status(), StatusCode::ACCEPTED);
    assert_eq!(asked.text().await.unwrap(), r#"{"status":"accepted"}"#);
    let second = link_token(&sink.wait_for("ada@example.com", VERIFY, 1).await);
    assert_eq!(
        app.confirm_verification(&first).await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.confirm_verification(&second).await.status(),
        StatusCode::OK
    );
    let verified = app
        .client
        .post(app.url("/email-verification"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(verified.status(), StatusCode::CONFLICT);
}

#[tokio::test]
async fn neither_a_token_nor_a_body_is_401() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let app = spawn_mail_app(&sink, &[]).await;
    let bare = app
        .client
        .post(app.url("/email-verification"))
        .send()
        .await
        .unwrap();
    assert_eq!(bare.status(), StatusCode::UNAUTHORIZED);
    let bad = app
        .client
        .post(app.url("/email-verification"))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_email_change_starts_over_and_tells_the_old_address() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let app = spawn_mail_app(&sink, &[]).await;
    let (id, token) = app.user_with_token("ada@example.com").await;
    let old_link = link_token(&sink.wait_for("ada@example.com", VERIFY, 0).await);
    let changed = patch(
        &app,
        &json!(id),
        &token,
        json!({"email": "lovelace@example.com", "current_password": PASSWORD}),
    )
    .await;
    assert_eq!(changed.status(), StatusCode::OK);
    let body: Value = changed.json().await.unwrap();
    assert_eq!(body["email_verified"], false);
    let notice = sink
        .wait_for("ada@example.com", "Your email address was changed", 0)
        .await;
    assert!(notice["text"]
        .as_str()
        .unwrap()
        .contains("lovelace@example.com"));
    let new_link = link_token(&sink.wait_for("lovelace@example.com", VERIFY, 0).await);
    assert_eq!(
        app.confirm_verification(&old_link).await.status(),
        StatusCode::BAD_REQUEST,
        "the old address's link is void"
    );
    assert_eq!(
        app.confirm_verification(&new_link).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_verified_users_email_change_unverifies_it() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let app = spawn_mail_app(&sink, &[]).await;
    let (id, token) = app.user_with_token("ada@example.com").await;
    let link = link_token(&sink.wait_for("ada@example.com", VERIFY, 0).await);
    app.confirm_verification(&link).await;
    let changed = patch(
        &app,
        &json!(id),
        &token,
        json!({"email": "lovelace@example.com", "current_password": PASSWORD}),
    )
    .await;
    let body: Value = changed.json().await.unwrap();
    assert_eq!(body["email_verified"], false);
}

#[tokio::test]
async fn admins_may_set_email_verified_and_no_one_else() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let app = spawn_mail_app(&sink, &[]).await;
    let admin = app.admin_token().await;
    let created = app
        .client
        .post(app.url("/users"))
        .bearer_auth(&admin)
        .json(&json!({"email": "grace@example.com", "name": "Grace", "password": PASSWORD, "email_verified": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let grace: Value = created.json().await.unwrap();
    assert_eq!(grace["email_verified"], true);

    let refused = app
        .post_user(&json!({"email": "eve@example.com", "name": "Eve", "password": PASSWORD, "email_verified": true}))
        .await;
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let (id, token) = app.user_with_token("ada@example.com").await;
    let own = patch(&app, &json!(id), &token, json!({"email_verified": true})).await;
    assert_eq!(own.status(), StatusCode::FORBIDDEN);
    let by_admin = patch(&app, &json!(id), &admin, json!({"email_verified": true})).await;
    assert_eq!(by_admin.status(), StatusCode::OK);
    assert_eq!(
        by_admin.json::<Value>().await.unwrap()["email_verified"],
        true
    );
}

#[tokio::test]
async fn require_verified_email_refuses_only_the_right_password_of_an_unverified_user() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let app = spawn_mail_app(&sink, &["--require-verified-email"]).await;
    app.sign_up("ada@example.com").await;
    let refused = app.login("ada@example.com", PASSWORD).await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        refused.json::<Value>().await.unwrap(),
        json!({"error": "invalid_grant", "error_description": "Email not verified"})
    );
    let wrong = app
        .login("ada@example.com", "not the password at all 9")
        .await;
    assert_eq!(
        wrong.json::<Value>().await.unwrap()["error_description"],
        "Incorrect email or password"
    );
    let link = link_token(&sink.wait_for("ada@example.com", VERIFY, 0).await);
    app.confirm_verification(&link).await;
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
}
