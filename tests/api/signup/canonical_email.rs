//! One canonical form per address (`API.md`, "The user resource"): trimmed,
//! NFKC, simple case folding, NFKC; the domain through IDNA and kept in
//! Unicode. A second spelling of a registered address is 400, and the
//! response shows the stored, canonical form.

use reqwest::StatusCode;
use serde_json::Value;

use super::signup;
use crate::support::{problem, spawn_app, TestApp};

/// Signs `email` up and returns the email the response shows.
async fn created_email(app: &TestApp, email: &str) -> String {
    let response = app.post_user(&signup(email, "Someone")).await;
    assert_eq!(response.status(), StatusCode::CREATED, "{email}");
    let body: Value = response.json().await.unwrap();
    body["email"].as_str().unwrap().to_owned()
}

async fn assert_already_registered(app: &TestApp, email: &str) {
    let response = app.post_user(&signup(email, "Someone")).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{email}");
    assert_eq!(
        problem(response).await["detail"],
        "Email already registered",
        "{email}"
    );
}

#[tokio::test]
async fn capital_final_and_small_sigma_are_one_email() {
    let app = spawn_app().await;
    assert_eq!(
        created_email(&app, "ασ@example.com").await,
        "ασ@example.com"
    );

    assert_already_registered(&app, "ΑΣ@example.com").await;
    assert_already_registered(&app, "ας@example.com").await;
    app.stop().await;
}

#[tokio::test]
async fn fullwidth_letters_are_the_ascii_email() {
    let app = spawn_app().await;
    assert_eq!(
        created_email(&app, "ＡＢ@example.com").await,
        "ab@example.com"
    );

    assert_already_registered(&app, "ab@example.com").await;
    assert_already_registered(&app, "ａｂ＠ＥＸＡＭＰＬＥ．ＣＯＭ").await;
    app.stop().await;
}

#[tokio::test]
async fn sharp_s_and_ss_are_two_emails() {
    let app = spawn_app().await;
    assert_eq!(
        created_email(&app, "STRAẞE@example.com").await,
        "straße@example.com"
    );

    assert_eq!(
        created_email(&app, "strasse@example.com").await,
        "strasse@example.com"
    );
    app.stop().await;
}

#[tokio::test]
async fn punycode_domain_is_stored_and_shown_in_unicode() {
    let app = spawn_app().await;
    assert_eq!(
        created_email(&app, "ada@xn--bcher-kva.example").await,
        "ada@bücher.example"
    );

    assert_already_registered(&app, "ada@BÜCHER.example").await;
    assert_already_registered(&app, "ADA@XN--BCHER-KVA.EXAMPLE").await;
    app.stop().await;
}

#[tokio::test]
async fn patch_to_another_spelling_of_a_taken_email_is_400() {
    let app = spawn_app().await;
    app.sign_up("ασ@example.com").await;
    let (id, token) = app.user_with_token("grace@example.com").await;

    let response = app
        .client
        .patch(app.url(&format!("/users/{id}")))
        .bearer_auth(&token)
        .json(&serde_json::json!({
            "email": "ΑΣ@example.com",
            "current_password": crate::support::PASSWORD,
        }))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        problem(response).await["detail"],
        "Email already registered"
    );
    app.stop().await;
}
