//! Guessable passwords refused with the reason, at sign-up and on PATCH,
//! even at 15 characters or more: a bundled-list entry in any case, one
//! character or a shorter string repeated, a run, and one that contains the
//! account's email local part or name (as they are after the change).

use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

use super::{assert_invalid, error_message};
use crate::support::{spawn_app, TestApp, PASSWORD};

/// The reason given for `password` in a 422 that names only that field.
async fn password_refusal(response: Response) -> String {
    let problem = assert_invalid(response, &["password"]).await;
    error_message(&problem, "password")
}

/// `PATCH /users/{id}` of one's own account, with `current_password`.
async fn patch_own(app: &TestApp, id: i64, token: &str, mut body: Value) -> Response {
    body["current_password"] = json!(PASSWORD);
    app.client
        .patch(app.url(&format!("/users/{id}")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap()
}

/// Each guessable password, as sent, and a word its refusal must name.
const GUESSABLE: [(&str, &str); 7] = [
    // Ranks 83,505 and 93,246 of the source list: past the 10,000 once bundled.
    ("perasperaadastra", "commonly used"),
    ("MANCHESTERUNITED", "commonly used"),
    ("aaaaaaaaaaaaaaa", "one character repeated"),
    ("horse battery horse battery ", "shorter string repeated"),
    ("123456789012345", "run of consecutive"),
    ("QWERTYUIOPASDFG", "run of consecutive"),
    ("zyxwvutsrqponmlk", "run of consecutive"),
];

#[tokio::test]
async fn signup_with_a_guessable_password_is_422_with_the_reason() {
    let app = spawn_app().await;

    for (password, reason) in GUESSABLE {
        let body = json!({"email": "ada@example.com", "name": "Ada", "password": password});
        let message = password_refusal(app.post_user(&body).await).await;
        assert!(message.contains(reason), "{password}: {message}");
    }
    app.stop().await;
}

#[tokio::test]
async fn patch_to_a_guessable_password_is_422_with_the_reason() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;

    for (password, reason) in GUESSABLE {
        let response = patch_own(&app, id, &token, json!({"password": password})).await;
        let message = password_refusal(response).await;
        assert!(message.contains(reason), "{password}: {message}");
    }
    app.stop().await;
}

#[tokio::test]
async fn signup_with_a_password_containing_a_word_of_the_name_is_422() {
    let app = spawn_app().await;
    let body = json!({"email": "gh@example.com", "name": "Grace Hopper", "password": "admiral HOPPER of cobol"});

    let message = password_refusal(app.post_user(&body).await).await;

    assert!(message.contains("name"), "{message}");
    app.stop().await;
}

#[tokio::test]
async fn signup_with_a_password_containing_the_email_local_part_is_422() {
    let app = spawn_app().await;
    let body = json!({"email": "grace.hopper@example.com", "name": "G", "password": "Grace.Hopper rules 1906"});

    let message = password_refusal(app.post_user(&body).await).await;

    assert!(message.contains("email"), "{message}");
    app.stop().await;
}

#[tokio::test]
async fn signup_with_a_password_containing_a_three_character_name_is_created() {
    let app = spawn_app().await;
    // "ada" is the whole local part and a word of the name: under 4 characters.
    let body = json!({"email": "ada@example.com", "name": "Ada Lovelace", "password": "ada rides a tall horse"});

    let response = app.post_user(&body).await;

    assert_eq!(response.status(), StatusCode::CREATED);
    app.stop().await;
}

#[tokio::test]
async fn patch_to_a_password_containing_the_stored_name_is_422() {
    let app = spawn_app().await;
    // `user_with_token` names the account "Test User".
    let (id, token) = app.user_with_token("ada@example.com").await;

    let response = patch_own(
        &app,
        id,
        &token,
        json!({"password": "the best user of tea"}),
    )
    .await;

    let message = password_refusal(response).await;
    assert!(message.contains("name"), "{message}");
    app.stop().await;
}

#[tokio::test]
async fn patch_checks_the_password_against_the_name_and_email_it_sets() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;

    let new_name = json!({"name": "Grace Hopper", "password": "admiral hopper of cobol"});
    let message = password_refusal(patch_own(&app, id, &token, new_name).await).await;
    assert!(message.contains("name"), "{message}");
    let new_email =
        json!({"email": "grace.hopper@example.com", "password": "grace.hopper rules 1906"});
    let message = password_refusal(patch_own(&app, id, &token, new_email).await).await;
    assert!(message.contains("email"), "{message}");
    // The name "Test User" is replaced in the same PATCH, so "user" is fine.
    let renamed = json!({"name": "Grace Hopper", "password": "the best user of tea"});
    let response = patch_own(&app, id, &token, renamed).await;
    assert_eq!(response.status(), StatusCode::OK);
    app.stop().await;
}
