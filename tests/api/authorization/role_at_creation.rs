//! Only admins choose a role at creation: from an anonymous caller or a
//! regular user, `role` is 422 and no one is created.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{problem, spawn_app, PASSWORD};

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
