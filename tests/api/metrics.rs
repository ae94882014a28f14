//! `/metrics`: Prometheus text on `--metrics-addr` only, never beside the API.

use reqwest::StatusCode;

use crate::support::{spawn_app, spawn_app_with, PASSWORD};

#[tokio::test]
async fn metrics_are_not_served_on_the_api_address() {
    let app = spawn_app_with(&["--metrics-addr", "127.0.0.1:0"]).await;
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn metrics_are_off_by_default() {
    let app = spawn_app().await;
    assert!(app.metrics_addr.is_none());
    app.stop().await;
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status_with_latency_histograms() {
    let app = spawn_app_with(&["--metrics-addr", "127.0.0.1:0"]).await;
    app.client.get(app.url("/health")).send().await.unwrap();
    app.client.get(app.url("/users/me")).send().await.unwrap();
    app.sign_up("metrics@example.com").await;
    app.login("metrics@example.com", PASSWORD).await;
    app.login("metrics@example.com", "wrong password for metrics")
        .await;

    let url = format!("http://{}/metrics", app.metrics_addr.unwrap());
    let response = app.client.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    let has = |needle: &str| {
        text.lines()
            .any(|l| !l.starts_with('#') && l.contains(needle))
    };
    assert!(
        has(r#"http_requests_total{method="GET",route="/health",status="200"}"#),
        "{text}"
    );
    assert!(has(r#"route="/users/me",status="401""#), "{text}");
    assert!(has("http_request_duration_seconds_bucket"), "{text}");
    assert!(has(r#"signin_attempts_total{outcome="success"}"#), "{text}");
    assert!(
        has(r#"signin_attempts_total{outcome="invalid_credentials"}"#),
        "{text}"
    );
    assert!(has("password_hashing_in_use"), "{text}");
    let pool_gauge = match crate::support::backend() {
        crate::support::Backend::Sqlite => "db_read_connections",
        crate::support::Backend::Postgres => "db_pool_connections",
    };
    assert!(has(pool_gauge), "{text}");
    app.stop().await;
}

#[tokio::test]
async fn unusual_methods_share_one_label_so_clients_cannot_grow_the_series() {
    let app = spawn_app_with(&["--metrics-addr", "127.0.0.1:0"]).await;
    for method in ["FROB", "XYZZY"] {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = app
            .client
            .request(method, app.url("/users"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    }
    let url = format!("http://{}/metrics", app.metrics_addr.unwrap());
    let text = app
        .client
        .get(url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!text.contains("FROB") && !text.contains("XYZZY"), "{text}");
    assert!(text.contains(r#"method="other""#), "{text}");
    app.stop().await;
}
