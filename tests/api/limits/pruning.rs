//! "Expired tokens, keys and counts are pruned in the background": rows the
//! contract no longer needs leave the database without any request asking.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::support::{spawn_app_with, TestApp, PASSWORD};

fn count(app: &TestApp, sql: &str) -> i64 {
    app.db.query_i64(sql)
}

fn age(app: &TestApp, sql: &str) {
    assert!(app.db.execute(sql) > 0, "{sql} changed nothing");
}

/// Waits (boundedly) until `sql` counts zero rows.
async fn gone(app: &TestApp, sql: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if count(app, sql) == 0 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn expired_tokens_old_keys_and_stale_failure_counts_are_deleted_in_the_background() {
    let app = spawn_app_with(&["--prune-interval", "200ms", "--token-ttl", "1s"]).await;
    let user = app.sign_up("ada@example.com").await;
    let token = app.token("ada@example.com", PASSWORD).await;
    let keyed = app
        .client
        .post(app.url("/users"))
        .header("idempotency-key", "k-1")
        .json(&serde_json::json!({"email": "grace@example.com", "name": "Grace", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(keyed.status(), StatusCode::CREATED);
    let failed = app
        .login("ada@example.com", "not the password at all")
        .await;
    assert_eq!(failed.status(), StatusCode::BAD_REQUEST);
    assert_eq!(count(&app, "SELECT count(*) FROM signin_failures"), 2);

    // A day passes for the key and the failure counts; the token expires
    // on its own (TTL 1 s).
    age(
        &app,
        "UPDATE idempotency_keys SET created_at = created_at - 86400",
    );
    age(
        &app,
        "UPDATE signin_failures SET window_start = window_start - 86400",
    );

    assert!(
        gone(&app, "SELECT count(*) FROM tokens").await,
        "expired token kept"
    );
    assert!(
        gone(&app, "SELECT count(*) FROM idempotency_keys").await,
        "old key kept"
    );
    assert!(
        gone(&app, "SELECT count(*) FROM signin_failures").await,
        "stale count kept"
    );
    assert_eq!(
        app.get("/users/me", &token).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        count(&app, "SELECT count(*) FROM users"),
        2,
        "users are kept"
    );
    assert!(user["id"].as_i64().is_some());
    app.stop().await;
}

#[tokio::test]
async fn live_tokens_keys_and_waits_are_kept() {
    let app = spawn_app_with(&["--prune-interval", "100ms"]).await;
    let token = app.user_with_token("ada@example.com").await.1;
    for _ in 0..5 {
        app.login("ada@example.com", "not the password at all")
            .await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    assert_eq!(count(&app, "SELECT count(*) FROM tokens"), 1);
    assert_eq!(count(&app, "SELECT count(*) FROM signin_failures"), 2);
    assert_eq!(app.get("/users/me", &token).await.status(), StatusCode::OK);
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    app.stop().await;
}
