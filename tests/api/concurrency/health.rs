//! `GET /health` and `GET /health/ready` answer 100 concurrent requests alike.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{send_all, status_counts};
use crate::support::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_100_concurrent_requests_with_200_healthy() {
    let app = spawn_app().await;

    let responses = send_all((0..100).map(|_| app.client.get(app.url("/health")))).await;

    assert_eq!(status_counts(&responses), BTreeMap::from([(200, 100)]));
    for response in responses {
        assert_eq!(
            response.json::<Value>().await.unwrap(),
            json!({"status": "healthy"})
        );
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_answers_100_concurrent_requests_with_200_ready() {
    let app = spawn_app().await;

    let responses = send_all((0..100).map(|_| app.client.get(app.url("/health/ready")))).await;

    assert_eq!(status_counts(&responses), BTreeMap::from([(200, 100)]));
    for response in responses {
        assert_eq!(
            response.json::<Value>().await.unwrap(),
            json!({"status": "ready"})
        );
    }
    app.stop().await;
}
