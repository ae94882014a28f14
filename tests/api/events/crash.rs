//! "A kill -9 at any moment loses no event of an acknowledged change": the
//! real binary killed again and again while sign-ups run, a webhook
//! receiver up all along; after the last restart every sign-up that was
//! answered 201 has its `user.created` at the receiver (at least once).

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rand::Rng;
use reqwest::StatusCode;
use serde_json::Value;

use super::harness::{serve, sign_up};
use super::receiver::{delivered, Receiver};
use super::SECRET;
use crate::support::TestDb;

const ROUNDS: usize = 20;
const PASSWORD: &str = "tangerine submarine 1947";

#[test]
fn every_sign_up_answered_201_reaches_the_webhook_across_repeated_kill_9() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let receiver = runtime.block_on(Receiver::start());
    let db = TestDb::fresh();
    let dir = tempfile::tempdir().unwrap();
    let url = receiver.url();
    let flags = [
        "--database-url",
        db.url.as_str(),
        "--signup-rate",
        "0",
        "--webhook-url",
        url.as_str(),
        "--webhook-secret",
        SECRET,
        "--webhook-retry-schedule",
        "1s,1s,1s,1s,1s",
    ];
    let acknowledged = Arc::new(Mutex::new(HashSet::new()));
    for round in 0..ROUNDS {
        let mut app = serve(&dir, &flags, &[]);
        let running = Arc::new(AtomicBool::new(true));
        let load = {
            let (base, acknowledged, running) =
                (app.url(""), acknowledged.clone(), running.clone());
            thread::spawn(move || {
                let mut n = 0;
                while running.load(Ordering::SeqCst) {
                    n += 1;
                    let email = format!("r{round}n{n}@example.com");
                    let Ok(response) = reqwest::blocking::Client::new()
                        .post(format!("{base}/users"))
                        .json(&serde_json::json!({"email": email, "name": "Ada", "password": PASSWORD}))
                        .send()
                    else {
                        return;
                    };
                    if response.status() == StatusCode::CREATED {
                        if let Ok(body) = response.json::<Value>() {
                            acknowledged
                                .lock()
                                .unwrap()
                                .insert(body["id"].as_i64().unwrap());
                        }
                    }
                }
            })
        };
        thread::sleep(Duration::from_millis(rand::rng().random_range(50..400)));
        app.child.kill().unwrap();
        app.wait_for_exit();
        running.store(false, Ordering::SeqCst);
        load.join().unwrap();
    }
    let app = serve(&dir, &flags, &[]);
    // The service still takes sign-ups after all that.
    assert_eq!(
        sign_up(&app, "after@example.com", PASSWORD).status(),
        StatusCode::CREATED
    );
    let acknowledged = acknowledged.lock().unwrap().clone();
    let arrived = |requests: &[super::receiver::Request]| -> HashSet<i64> {
        delivered(requests)
            .iter()
            .map(|r| r.json())
            .filter(|e| e["type"] == "user.created")
            .filter_map(|e| e["data"]["user"]["id"].as_i64())
            .collect()
    };
    let started = Instant::now();
    let requests =
        runtime.block_on(receiver.requests_when(|r| acknowledged.is_subset(&arrived(r))));
    let arrived = arrived(&requests);
    let missing: Vec<_> = acknowledged.difference(&arrived).collect();
    eprintln!(
        "events crash: {ROUNDS} kill -9 rounds, {} sign-ups acknowledged, {} missing at the receiver \
         ({:.1} s after the last restart)",
        acknowledged.len(),
        missing.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(!acknowledged.is_empty(), "no sign-up was acknowledged");
    assert!(
        missing.is_empty(),
        "user.created never arrived for {missing:?}"
    );
}
