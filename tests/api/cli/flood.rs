//! "While `/token` is saturated, `/health` and token-authenticated reads keep
//! their normal latency", with hashing bounded: 200 sign-ins at once against
//! the real binary with the contract's argon2 parameters. Every answer is
//! 200, 429 or 503 within the request time limit, the process's memory stays
//! bounded, and `/health` and `/users/me` keep answering 200 meanwhile. The
//! latency figures belong to the benchmark; here only outcomes are asserted.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use reqwest::StatusCode;

use super::{serve, sign_in, sign_up, Running};

const LOGINS: usize = 200;
const ACCOUNTS: usize = 100;
const PASSWORD: &str = "flood test passphrase 2026";
const TIME_LIMIT: Duration = Duration::from_secs(10);
/// Well above what bounded hashing needs (two 19 MiB argon2 blocks and the
/// service), far below what unbounded hashing takes (567 MiB were measured
/// with hashes on tokio's blocking pool; 200 at once would be 3.8 GiB).
const MEMORY_BOUND_KIB: u64 = 150 * 1024;

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Polls `path` until `stop`; returns every status seen.
fn poll(
    app: &Running,
    path: &str,
    token: Option<String>,
    stop: Arc<AtomicBool>,
) -> thread::JoinHandle<Vec<u16>> {
    let url = app.url(path);
    thread::spawn(move || {
        let client = Client::builder().timeout(TIME_LIMIT).build().unwrap();
        let mut seen = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let mut request = client.get(&url);
            if let Some(token) = &token {
                request = request.bearer_auth(token);
            }
            seen.push(request.send().map_or(0, |r| r.status().as_u16()));
            thread::sleep(Duration::from_millis(20));
        }
        seen
    })
}

#[test]
fn two_hundred_sign_ins_at_once_are_answered_in_time_and_health_keeps_answering() {
    let dir = tempfile::tempdir().unwrap();
    // The contract's argon2 cost, two hashes at a time.
    let app = serve(
        &dir,
        &[
            "--argon2-memory-kib",
            "19456",
            "--argon2-iterations",
            "2",
            "--hash-concurrency",
            "2",
            "--request-timeout",
            "10s",
            "--signup-rate",
            "0",
            // Each sign-in comes from its own address through a proxy, as
            // many clients would: the per-address limit is another test's.
            "--trusted-proxies",
            "127.0.0.1",
        ],
        &[],
    );
    for n in 0..ACCOUNTS {
        let created = sign_up(&app, &format!("user{n}@example.com"), PASSWORD);
        assert_eq!(created.status(), StatusCode::CREATED);
    }
    let token = sign_in(&app, "user0@example.com", PASSWORD)
        .json::<serde_json::Value>()
        .unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let stop = Arc::new(AtomicBool::new(false));
    let health = poll(&app, "/health", None, stop.clone());
    let me = poll(&app, "/users/me", Some(token), stop.clone());
    let pid = app.child.id();
    let memory = {
        let stop = stop.clone();
        thread::spawn(move || {
            let mut most = 0;
            while !stop.load(Ordering::Relaxed) {
                most = most.max(rss_kib(pid));
                thread::sleep(Duration::from_millis(10));
            }
            most
        })
    };

    let logins: Vec<_> = (0..LOGINS)
        .map(|n| {
            let url = app.url("/token");
            thread::spawn(move || {
                let client = Client::builder().timeout(TIME_LIMIT * 2).build().unwrap();
                // Most with the right password, some wrong, some unknown.
                let (email, password) = match n % 10 {
                    8 => (
                        format!("user{}@example.com", n % ACCOUNTS),
                        "wrong password here",
                    ),
                    9 => (format!("nobody{n}@example.com"), PASSWORD),
                    _ => (format!("user{}@example.com", n % ACCOUNTS), PASSWORD),
                };
                let started = Instant::now();
                let status = client
                    .post(url)
                    .header(
                        "x-forwarded-for",
                        format!("10.0.{}.{}", n / 250, n % 250 + 1),
                    )
                    .form(&[("username", email.as_str()), ("password", password)])
                    .send()
                    .map_or(0, |r| r.status().as_u16());
                (status, started.elapsed())
            })
        })
        .collect();
    let answers: Vec<(u16, Duration)> = logins.into_iter().map(|t| t.join().unwrap()).collect();
    stop.store(true, Ordering::Relaxed);
    let health = health.join().unwrap();
    let me = me.join().unwrap();
    let most_kib = memory.join().unwrap();

    let mut counts = BTreeMap::new();
    for (status, _) in &answers {
        *counts.entry(*status).or_insert(0) += 1;
    }
    let slowest = answers.iter().map(|(_, took)| *took).max().unwrap();
    eprintln!(
        "flood: {LOGINS} sign-ins at once: {counts:?} (200 served, 400 wrong password, 429 throttled, 503 shed); slowest answer {slowest:?}; /health {} polls, /users/me {} polls; peak RSS {} MiB",
        health.len(),
        me.len(),
        most_kib / 1024
    );
    assert!(
        counts.keys().all(|s| [200, 400, 429, 503].contains(s)),
        "only served, refused, throttled or shed: {counts:?}"
    );
    assert!(
        counts.contains_key(&200),
        "some sign-ins are served: {counts:?}"
    );
    assert!(
        slowest < TIME_LIMIT + Duration::from_secs(1),
        "every answer within the time limit; slowest {slowest:?}"
    );
    assert!(
        !health.is_empty() && health.iter().all(|s| *s == 200),
        "{health:?}"
    );
    assert!(!me.is_empty() && me.iter().all(|s| *s == 200), "{me:?}");
    assert!(most_kib < MEMORY_BOUND_KIB, "peak RSS {most_kib} KiB");
}
