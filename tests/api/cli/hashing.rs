//! Password hashing stays bounded by `--hash-concurrency` even when clients
//! give up: an abandoned `POST /token` must not leave an argon2 computation
//! running outside the bound (the contract: "bounded concurrency … instead of
//! queueing without bound"). Seen from outside, in the process's threads.

use std::time::Duration;

use reqwest::StatusCode;

use super::{client, serve, sign_in, sign_up, POLL};

/// Threads of `pid` that are running or runnable right now.
fn runnable_threads(pid: u32) -> usize {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .filter_map(Result::ok)
        .filter_map(|t| std::fs::read_to_string(t.path().join("stat")).ok())
        // The state follows the parenthesised thread name.
        .filter(|stat| {
            stat.rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('R'))
        })
        .count()
}

#[test]
fn abandoned_sign_ins_do_not_run_more_hashes_than_hash_concurrency() {
    let dir = tempfile::tempdir().unwrap();
    // One slot, and a hash slow enough (~1 s) to still run while we look.
    let app = serve(
        &dir,
        &[
            "--hash-concurrency",
            "1",
            "--argon2-memory-kib",
            "16384",
            "--argon2-iterations",
            "40",
        ],
        &[],
    );
    let quick = reqwest::blocking::Client::builder()
        .timeout(Duration::from_millis(50))
        .build()
        .unwrap();
    for i in 0..8 {
        // Each client gives up long before its hash could finish.
        let _ = quick
            .post(app.url("/token"))
            .form(&[
                ("username", format!("nobody{i}@example.com")),
                ("password", "x".repeat(20)),
            ])
            .send();
    }
    // Sample the process for a while: one hashing thread may run (and the
    // two async workers, briefly); eight abandoned hashes must not.
    let mut most = 0;
    for _ in 0..50 {
        most = most.max(runnable_threads(app.child.id()));
        std::thread::sleep(POLL);
    }
    assert!(
        most <= 2,
        "{most} threads ran at once with --hash-concurrency 1"
    );
    let health = client().get(app.url("/health")).send().unwrap();
    assert_eq!(health.status(), reqwest::StatusCode::OK);
}

/// `password_hashes_total` as the process's `/metrics` shows it.
fn hashes_computed(metrics_url: &str) -> u64 {
    let text = client().get(metrics_url).send().unwrap().text().unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("password_hashes_total "))
        .map_or(0, |n| n.trim().parse().unwrap())
}

#[test]
fn passwords_over_the_maximum_are_refused_before_any_hashing() {
    let dir = tempfile::tempdir().unwrap();
    let app = serve(&dir, &["--metrics-addr", "127.0.0.1:0"], &[]);
    let metrics = app.metrics_url();
    let too_long = "x".repeat(129);

    assert_eq!(
        sign_in(&app, "nobody@example.com", &too_long).status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        sign_up(&app, "ada@example.com", &too_long).status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(hashes_computed(&metrics), 0, "nothing was hashed");

    // The counter does count: a password of a normal length is hashed.
    let normal = sign_in(&app, "nobody@example.com", "a normal length password");
    assert_eq!(normal.status(), StatusCode::BAD_REQUEST);
    assert_eq!(hashes_computed(&metrics), 1);
}
