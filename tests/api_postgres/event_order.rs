//! "`seq` grows in commit order across the whole store: a reader that has
//! seen `seq` N never later finds a new event below N, on PostgreSQL with
//! many writers and instances too": two processes on one database,
//! concurrent writers through both, and a reader paging the feed with
//! `after` all along.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::cli::{client, serve, sign_in, sign_up, Running};
use crate::support::TestDb;

const PASSWORD: &str = "tangerine submarine 1947";
const WRITERS: usize = 6;
const CHANGES_EACH: usize = 25;

fn token(app: &Running, email: &str) -> String {
    let response = sign_in(app, email, PASSWORD);
    assert_eq!(response.status(), StatusCode::OK, "sign-in of {email}");
    response.json::<Value>().unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// The seqs of the events after `after` (up to 1000), read from the
/// instance at `base`.
fn page(base: &str, admin: &str, after: i64) -> Vec<i64> {
    let response = client()
        .get(format!("{base}/events?after={after}&limit=1000"))
        .bearer_auth(admin)
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response
        .json::<Vec<Value>>()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_i64().unwrap())
        .collect()
}

#[test]
fn a_reader_paging_with_after_never_misses_an_event_committed_later_on_another_instance() {
    let db = TestDb::fresh_postgres();
    let dir = tempfile::tempdir().unwrap();
    let flags = [
        "--database-url",
        db.url.as_str(),
        "--signup-rate",
        "0",
        "--hash-concurrency",
        "16",
    ];
    let instances = [serve(&dir, &flags, &[]), serve(&dir, &flags, &[])];
    // The processes stay here; the threads get their addresses.
    let bases: Arc<[String; 2]> = Arc::new([instances[0].url(""), instances[1].url("")]);
    let created = sign_up(&instances[0], "reader@example.com", PASSWORD);
    assert_eq!(created.status(), StatusCode::CREATED);
    let reader_id = created.json::<Value>().unwrap()["id"].as_i64().unwrap();
    db.execute(&format!(
        "UPDATE users SET role = 'admin' WHERE id = {reader_id}"
    ));
    let admin = token(&instances[0], "reader@example.com");

    let writers: Vec<(i64, String)> = (0..WRITERS)
        .map(|w| {
            let email = format!("writer{w}@example.com");
            let created = sign_up(&instances[w % 2], &email, PASSWORD);
            assert_eq!(created.status(), StatusCode::CREATED);
            let id = created.json::<Value>().unwrap()["id"].as_i64().unwrap();
            (id, token(&instances[w % 2], &email))
        })
        .collect();

    let writing = Arc::new(AtomicBool::new(true));
    let reader = {
        let (bases, admin, writing) = (bases.clone(), admin.clone(), writing.clone());
        thread::spawn(move || {
            let mut seen = BTreeSet::new();
            let mut after = 0;
            let mut turn = 0;
            loop {
                let done = !writing.load(Ordering::SeqCst);
                let seqs = page(&bases[turn % 2], &admin, after);
                turn += 1;
                if let Some(last) = seqs.last() {
                    after = *last;
                }
                seen.extend(seqs);
                if done {
                    return seen;
                }
            }
        })
    };
    let handles: Vec<_> = writers
        .into_iter()
        .enumerate()
        .map(|(w, (id, token))| {
            let bases = bases.clone();
            thread::spawn(move || {
                for change in 0..CHANGES_EACH {
                    let response = client()
                        .patch(format!("{}/users/{id}", bases[(w + change) % 2]))
                        .bearer_auth(&token)
                        .json(&json!({ "name": format!("Writer {w} change {change}") }))
                        .send()
                        .unwrap();
                    assert_eq!(response.status(), StatusCode::OK);
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    writing.store(false, Ordering::SeqCst);
    let seen = reader.join().unwrap();

    let all = page(&bases[1], &admin, 0);
    assert!(
        all.windows(2).all(|w| w[0] < w[1]),
        "the feed is in seq order"
    );
    // Sign-ups of the reader and the writers, and every change.
    assert_eq!(all.len(), 1 + WRITERS + WRITERS * CHANGES_EACH);
    let missed: Vec<_> = all.iter().filter(|s| !seen.contains(s)).collect();
    assert!(
        missed.is_empty(),
        "the reader paged past events that committed later: {missed:?}"
    );
}
