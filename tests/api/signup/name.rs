//! The name: stored and returned literally (SQL metacharacters, emoji,
//! right-to-left text), with no control characters and at most 100 characters.

use reqwest::StatusCode;
use serde_json::Value;

use super::{assert_invalid, signup};
use crate::support::spawn_app;

#[tokio::test]
async fn name_with_sql_metacharacters_is_stored_and_returned_literally() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let name = "Robert'); DROP TABLE users;-- \" % _ \\ ;";

    let response = app.post_user(&signup("bobby@example.com", name)).await;

    assert_eq!(response.status(), StatusCode::CREATED);
    let user: Value = response.json().await.unwrap();
    assert_eq!(user["name"], name);
    let stored: Value = app
        .get(&format!("/users/{}", user["id"]), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stored["name"], name);
    app.stop().await;
}

#[tokio::test]
async fn name_with_emoji_and_right_to_left_text_is_stored_and_returned_literally() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let name = "Zoë 🦀👩‍💻 שלום مرحبا";

    let response = app.post_user(&signup("zoe@example.com", name)).await;

    assert_eq!(response.status(), StatusCode::CREATED);
    let user: Value = response.json().await.unwrap();
    assert_eq!(user["name"], name);
    let stored: Value = app
        .get(&format!("/users/{}", user["id"]), &admin)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stored["name"], name);
    app.stop().await;
}

#[tokio::test]
async fn name_with_a_control_character_is_422() {
    let app = spawn_app().await;

    for name in ["Ada\nLovelace", "Ada\u{0}", "Ada\u{7}Lovelace", "Ada\u{9b}"] {
        let response = app.post_user(&signup("ada@example.com", name)).await;
        assert_invalid(response, &["name"]).await;
    }
    app.stop().await;
}

#[tokio::test]
async fn name_of_101_characters_is_422_and_100_is_accepted() {
    let app = spawn_app().await;

    let too_long = app
        .post_user(&signup("ada@example.com", &"é".repeat(101)))
        .await;
    assert_invalid(too_long, &["name"]).await;
    let longest = app
        .post_user(&signup("ada@example.com", &"é".repeat(100)))
        .await;
    assert_eq!(longest.status(), StatusCode::CREATED);
    app.stop().await;
}
