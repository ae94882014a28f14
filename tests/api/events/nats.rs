//! NATS JetStream as a sink: each event is published to `{prefix}.{type}`
//! with `Nats-Msg-Id` = the event id, into the stream `--nats-stream`
//! (subjects `{prefix}.>`), created when missing. Needs a NATS server with
//! JetStream at `USER_API_TEST_NATS` (default `nats://127.0.0.1:4222`, as
//! `.ci/nats` starts it); each test uses a stream and prefix of its own and
//! deletes the stream after.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream};
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::all_events;
use crate::support::{backend, spawn_app_with, Backend};
use crate::users::patch;

/// The NATS server to use, or `None` when none answers and none is
/// required: like PostgreSQL, `cargo test` on a machine without NATS says
/// it skipped these tests; `USER_API_REQUIRE_NATS=1` (CI sets it after
/// `.ci/nats`) makes that a failure.
fn nats_url() -> Option<String> {
    let url =
        std::env::var("USER_API_TEST_NATS").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned());
    let address = url
        .trim_start_matches("nats://")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let answers = std::net::ToSocketAddrs::to_socket_addrs(&address)
        .ok()
        .and_then(|mut addrs| addrs.next())
        .is_some_and(|addr| {
            std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_ok()
        });
    if answers {
        return Some(url);
    }
    let message = format!(
        "NATS tests SKIPPED: nothing answers at {url}; start one with `bash .ci/nats` \
         (USER_API_REQUIRE_NATS=1 makes this a failure)"
    );
    assert!(
        std::env::var_os("USER_API_REQUIRE_NATS").is_none(),
        "{message}"
    );
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "{message}");
    None
}

/// A stream name and a subject prefix no other test uses.
fn unique_names() -> (String, String) {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let run = match backend() {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let tag = format!(
        "{}_{}_{run}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    (
        format!("USER_API_TEST_{tag}"),
        format!("user-api-test-{tag}"),
    )
}

/// What JetStream holds: the stream, once it has `count` messages (or
/// after a bounded wait, as it is then).
async fn stream_with(js: &jetstream::Context, name: &str, count: u64) -> Option<stream::Stream> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(mut stream) = js.get_stream(name).await {
            let held = stream.info().await.map_or(0, |i| i.state.messages);
            if held >= count || Instant::now() >= deadline {
                return Some(stream);
            }
        } else if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Messages 1..=count of the stream: (subject, Nats-Msg-Id, payload).
async fn messages(stream: &stream::Stream, count: u64) -> Vec<(String, String, Value)> {
    let mut messages = Vec::new();
    for sequence in 1..=count {
        let Ok(message) = stream.get_raw_message(sequence).await else {
            break;
        };
        let msg_id = message
            .headers
            .get("Nats-Msg-Id")
            .map(|v| v.as_str().to_owned())
            .unwrap_or_default();
        let payload = serde_json::from_slice(&message.payload).expect("a JSON payload");
        messages.push((message.subject.to_string(), msg_id, payload));
    }
    messages
}

#[tokio::test]
async fn each_event_is_stored_under_prefix_dot_type_with_nats_msg_id_the_event_id() {
    let Some(url) = nats_url() else { return };
    let (name, prefix) = unique_names();
    let app = spawn_app_with(&[
        "--nats-url",
        &url,
        "--nats-stream",
        &name,
        "--nats-subject-prefix",
        &prefix,
    ])
    .await;
    let admin = app.admin_token().await;
    let (id, token) = app.user_with_token("ada@example.com").await;
    let renamed = patch(&app, id, &token, json!({"name": "Ada King"})).await;
    assert_eq!(renamed.status(), StatusCode::OK);
    let events = all_events(&app, &admin).await;
    let js = jetstream::new(
        async_nats::connect(url.as_str())
            .await
            .expect("NATS answers"),
    );

    let stream = stream_with(&js, &name, events.len() as u64).await;
    let mut stored = match &stream {
        Some(stream) => messages(stream, events.len() as u64 + 1).await,
        None => Vec::new(),
    };
    let _ = js.delete_stream(&name).await;

    stored.sort_by_key(|(_, _, payload)| payload["seq"].as_i64());
    let expected: Vec<(String, String, Value)> = events
        .iter()
        .map(|e| {
            (
                format!("{prefix}.{}", e["type"].as_str().unwrap()),
                e["id"].as_str().unwrap().to_owned(),
                e.clone(),
            )
        })
        .collect();
    assert_eq!(stored, expected);
}

#[tokio::test]
async fn a_missing_stream_is_created_with_the_subjects_prefix_dot_gt() {
    let Some(url) = nats_url() else { return };
    let (name, prefix) = unique_names();
    let app = spawn_app_with(&[
        "--nats-url",
        &url,
        "--nats-stream",
        &name,
        "--nats-subject-prefix",
        &prefix,
    ])
    .await;
    let js = jetstream::new(
        async_nats::connect(url.as_str())
            .await
            .expect("NATS answers"),
    );
    assert!(js.get_stream(&name).await.is_err(), "no stream yet");

    app.sign_up("ada@example.com").await;

    let subjects = match stream_with(&js, &name, 1).await {
        Some(mut stream) => stream
            .info()
            .await
            .map(|i| i.config.subjects.clone())
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let _ = js.delete_stream(&name).await;
    assert_eq!(subjects, [format!("{prefix}.>")]);
}
