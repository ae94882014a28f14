//! `GET /health` and `GET /health/ready`.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::spawn_app;

#[tokio::test]
async fn health_answers_healthy() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"status": "healthy"})
    );
    app.stop().await;
}

#[tokio::test]
async fn ready_answers_ready_when_the_database_answers() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"status": "ready"})
    );
    app.stop().await;
}
