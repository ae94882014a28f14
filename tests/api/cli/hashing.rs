//! Password hashing stays bounded by `--hash-concurrency` even when clients
//! give up: an abandoned `POST /token` must not leave an argon2 computation
//! running outside the bound (the contract: "bounded concurrency … instead of
//! queueing without bound"). Seen from outside, in the process's threads.

use std::time::Duration;

use super::{client, serve, POLL};

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
