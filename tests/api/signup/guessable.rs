//! Guessable passwords refused with the reason, at sign-up and on PATCH,
//! even at 15 characters or more: a bundled-list entry in any case, one
//! character or a shorter string repeated, a run, and one that contains the
//! account's email local part or name (as they are after the change).
//!
//! Each test asserts its own rule's reason, so it fails when that rule is
//! removed even where another rule would still refuse the password
//! (`passwordpassword` is on the list too).

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

/// The reasons given when `password` is offered at a sign-up (as Grace
/// Hopper) and in a PATCH of the account `id`: neither's name or email is
/// in any of the passwords below.
async fn refusals(app: &TestApp, id: i64, token: &str, password: &str) -> [String; 2] {
    let body = json!({"email": "gh@example.com", "name": "Grace Hopper", "password": password});
    let signup = password_refusal(app.post_user(&body).await).await;
    let patch = password_refusal(patch_own(app, id, token, json!({"password": password})).await);
    [signup, patch.await]
}

#[tokio::test]
async fn a_list_entry_of_15_characters_or_more_is_422_in_any_case() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;

    // Ranks 83,505 and 93,246 of the source list: past the 10,000 once bundled.
    for password in ["perasperaadastra", "MANCHESTERUNITED"] {
        for message in refusals(&app, id, &token, password).await {
            assert!(message.contains("commonly used"), "{password}: {message}");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn one_character_repeated_is_422() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;

    for password in ["aaaaaaaaaaaaaaa", "ZzZzZzZzZzZzZzZz"] {
        for message in refusals(&app, id, &token, password).await {
            assert!(
                message.contains("one character repeated"),
                "{password}: {message}"
            );
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn a_shorter_string_repeated_is_422() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;

    for password in ["passwordpassword", "horse battery horse battery "] {
        for message in refusals(&app, id, &token, password).await {
            assert!(
                message.contains("shorter string repeated"),
                "{password}: {message}"
            );
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn a_run_of_letters_digits_or_keyboard_keys_either_way_is_422() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;

    for password in ["123456789012345", "QWERTYUIOPASDFG", "zyxwvutsrqponmlk"] {
        for message in refusals(&app, id, &token, password).await {
            assert!(
                message.contains("run of consecutive"),
                "{password}: {message}"
            );
        }
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

    let body = json!({"password": "the best user of tea"});
    let message = password_refusal(patch_own(&app, id, &token, body).await).await;

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
