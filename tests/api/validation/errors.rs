//! The shape of every error: problem+json with `status`, `title` and `detail`,
//! and never a stack trace, SQL, a hash, a password or a token.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::json;

use super::{
    patch_json, post_json_text, request, send_raw, signup_body_of_size, user_and_admin, LIMIT,
};
use crate::support::{problem, spawn_app, ADMIN_PASSWORD, PASSWORD};

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
