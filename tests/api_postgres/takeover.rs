//! "On PostgreSQL with several instances one instance delivers at a time,
//! and another takes over within 10 s when it dies": two processes with
//! the same webhook; the one delivering is killed with SIGKILL, and the
//! other delivers what comes next.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::cli::{serve, sign_up};
use crate::events::receiver::{delivered, Receiver, Request};
use crate::events::SECRET;
use crate::support::TestDb;

const PASSWORD: &str = "tangerine submarine 1947";

fn metrics(app: &crate::cli::Running) -> String {
    crate::cli::client()
        .get(app.metrics_url())
        .send()
        .and_then(|r| r.text())
        .unwrap_or_default()
}

/// The ids of the users whose `user.created` arrived.
fn created(requests: &[Request]) -> Vec<i64> {
    delivered(requests)
        .iter()
        .map(|r| r.json())
        .filter(|e| e["type"] == "user.created")
        .filter_map(|e| e["data"]["user"]["id"].as_i64())
        .collect()
}

#[test]
fn when_the_delivering_instance_is_killed_the_other_delivers_within_10_seconds() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let receiver = runtime.block_on(Receiver::start());
    let db = TestDb::fresh_postgres();
    let dir = tempfile::tempdir().unwrap();
    let url = receiver.url();
    let flags = [
        "--database-url",
        db.url.as_str(),
        "--webhook-url",
        url.as_str(),
        "--webhook-secret",
        SECRET,
    ];
    // The first instance alone: it takes the deliverer's turn.
    let mut first = serve(&dir, &flags, &[]);
    let ada = sign_up(&first, "ada@example.com", PASSWORD);
    assert_eq!(ada.status(), StatusCode::CREATED);
    let ada = ada.json::<Value>().unwrap()["id"].as_i64().unwrap();
    let requests = runtime.block_on(receiver.requests_when(|r| created(r).contains(&ada)));
    assert!(
        created(&requests).contains(&ada),
        "the first instance delivers"
    );

    let mut second_flags = flags.to_vec();
    second_flags.extend(["--metrics-addr", "127.0.0.1:0"]);
    let second = serve(&dir, &second_flags, &[]);
    // Kill only once the second has asked for the turn and been told to
    // wait (`events_deliverer 0`), so the takeover is one it polls for.
    let asked = Instant::now();
    while !metrics(&second).contains("events_deliverer 0") {
        assert!(
            asked.elapsed() < Duration::from_secs(10),
            "the second instance never waited for the deliverer's turn"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    first.child.kill().unwrap();
    first.wait_for_exit();
    let killed = Instant::now();
    let bob = sign_up(&second, "bob@example.com", PASSWORD);
    assert_eq!(bob.status(), StatusCode::CREATED);
    let bob = bob.json::<Value>().unwrap()["id"].as_i64().unwrap();
    let requests = runtime.block_on(receiver.requests_when(|r| created(r).contains(&bob)));
    let took = killed.elapsed();
    assert!(
        created(&requests).contains(&bob),
        "the second instance took over"
    );
    eprintln!(
        "takeover: delivered {:.1} s after the kill",
        took.as_secs_f64()
    );
    assert!(took < Duration::from_secs(10), "took over after {took:?}");
}
