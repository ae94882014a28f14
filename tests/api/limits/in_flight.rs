//! "Every request has a time limit", "a cap on concurrent connections and
//! on in-flight requests with load shedding (503) instead of unbounded
//! queueing", and hashing's bounded queue: past each bound the answer is a
//! 503 problem+json with `Retry-After`, at once.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqwest::header::RETRY_AFTER;
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::expect_problem;
use crate::support::{spawn_app_with, TestApp, PASSWORD};

/// Argon2 parameters that make one hash take a good fraction of a second,
/// so a request is surely still running when the next one arrives.
const SLOW_HASH: [&str; 4] = ["--argon2-memory-kib", "65536", "--argon2-iterations", "12"];

fn slow_sign_up(app: &TestApp, email: &str) -> reqwest::RequestBuilder {
    app.client
        .post(app.url("/users"))
        .json(&json!({"email": email, "name": "Slow Hash", "password": PASSWORD}))
}

async fn assert_shed(response: reqwest::Response) {
    assert!(response.headers().contains_key(RETRY_AFTER));
    expect_problem(response, StatusCode::SERVICE_UNAVAILABLE).await;
}

#[tokio::test]
async fn a_request_over_the_time_limit_gets_503_at_the_limit() {
    let mut flags = vec!["--request-timeout", "1s", "--argon2-memory-kib", "262144"];
    flags.extend(["--argon2-iterations", "20"]);
    let app = spawn_app_with(&flags).await;

    let started = Instant::now();
    let response = slow_sign_up(&app, "ada@example.com").send().await.unwrap();

    assert!(
        started.elapsed() < Duration::from_secs(10),
        "answered at the limit, not when the hash ended"
    );
    assert_shed(response).await;
    app.stop().await;
}

#[tokio::test]
async fn past_max_in_flight_a_request_is_shed_with_503_at_once() {
    let mut flags = vec!["--max-in-flight", "1"];
    flags.extend(SLOW_HASH);
    let app = spawn_app_with(&flags).await;
    let running = tokio::spawn(slow_sign_up(&app, "ada@example.com").send());
    tokio::time::sleep(Duration::from_millis(150)).await;

    // Any route but `/health` and `/health/ready` (outside the cap).
    let shed = app.client.get(app.url("/users/me")).send().await.unwrap();

    assert_shed(shed).await;
    assert_eq!(
        running.await.unwrap().unwrap().status(),
        StatusCode::CREATED
    );
    let after = app.client.get(app.url("/users/me")).send().await.unwrap();
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}

/// Opens a connection and keeps it open without sending a request.
async fn idle_connection(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.addr).await.unwrap()
}

/// What the service writes on a fresh connection that sends `GET /health`.
async fn raw_health(app: &TestApp) -> String {
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut answer))
        .await
        .expect("an answer, not a hang")
        .unwrap();
    answer
}

#[tokio::test]
async fn past_max_connections_a_connection_gets_503_and_is_closed() {
    let app = spawn_app_with(&["--max-connections", "2"]).await;
    let first = idle_connection(&app).await;
    let _second = idle_connection(&app).await;
    tokio::time::sleep(Duration::from_millis(100)).await;

    let refused = raw_health(&app).await;

    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(
        refused.to_ascii_lowercase().contains("retry-after: 1"),
        "{refused}"
    );
    assert!(refused.contains("application/problem+json"), "{refused}");
    drop(first);
    let mut served = String::new();
    for _ in 0..100 {
        served = raw_health(&app).await;
        if served.starts_with("HTTP/1.1 200") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        served.starts_with("HTTP/1.1 200"),
        "a slot comes back: {served}"
    );
    app.stop().await;
}

#[tokio::test]
async fn past_the_hashing_queue_sign_ins_get_503_at_once_and_none_waits_without_bound() {
    // One hash at a time and a queue of 16 behind it; 60 sign-ins at once,
    // each from its own address (through a trusted proxy) and for its own
    // email, so no throttle answers before the hashing queue does.
    let mut flags = vec!["--hash-concurrency", "1", "--trusted-proxies", "127.0.0.1"];
    flags.extend(["--argon2-memory-kib", "8192", "--argon2-iterations", "4"]);
    let app = spawn_app_with(&flags).await;

    let requests = (0..60).map(|n| {
        app.client
            .post(app.url("/token"))
            .header("x-forwarded-for", format!("198.51.100.{n}"))
            .form(&[
                ("username", format!("nobody{n}@example.com")),
                ("password", "not the password at all".to_owned()),
            ])
            .send()
    });
    let responses = futures_util::future::join_all(requests).await;

    let mut counts = BTreeMap::new();
    for response in responses {
        let response = response.unwrap();
        let status = response.status().as_u16();
        *counts.entry(status).or_insert(0) += 1;
        if status == 503 {
            assert_shed(response).await;
        }
    }
    assert_eq!(
        counts.keys().copied().collect::<Vec<_>>(),
        [400, 503],
        "{counts:?}"
    );
    assert!(
        counts[&400] >= 17,
        "the running hash and its queue are served: {counts:?}"
    );
    app.stop().await;
}
