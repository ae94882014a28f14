//! Another connection holds the database's lock: the test opens its own
//! connection on the service's file, as a backup tool or a second process
//! would, and keeps a transaction open. Root cannot bypass a lock.

use std::collections::BTreeMap;
use std::time::Instant;

use futures_util::future::join_all;
use reqwest::StatusCode;
use rusqlite::Connection;

use super::{
    assert_fails_fast, assert_unavailable, connect, copy_database, eventually, json_of, me, ready,
    ready_status, remove_wal_and_shm, rename, sign_in, sign_up, status_of, timed, FAST, RECOVERY,
};
use crate::support::{spawn_app_with, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_get_503_fast_while_another_connection_holds_the_write_lock_then_succeed() {
    let app = spawn_app_with(&[]).await;
    let (id, token) = app.user_with_token("ada@example.com").await;

    // WAL mode: `BEGIN IMMEDIATE` takes the write lock and leaves readers be.
    let holder = connect(app.db.sqlite_path());
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();

    let first = assert_fails_fast(sign_up(&app, "bob@example.com"), "sign-up, lock held").await;
    let patch = assert_fails_fast(rename(&app, id, &token, "Ada L"), "PATCH, lock held").await;
    let login = assert_fails_fast(sign_in(&app, "ada@example.com"), "sign-in, lock held").await;
    let readiness = assert_fails_fast(ready(&app), "/health/ready, lock held").await;
    eprintln!(
        "lock held: sign-up 503 in {first:?}, PATCH in {patch:?}, sign-in in {login:?}, ready in {readiness:?}"
    );
    // Reads are not blocked by a write lock in WAL mode, and liveness is
    // not about the database.
    let user = json_of(
        me(&app, &token).send().await.unwrap(),
        StatusCode::OK,
        "GET /users/me, lock held",
    )
    .await;
    assert_eq!(user["name"], "Test User", "the 503 PATCH changed nothing");
    assert_eq!(
        status_of(app.client.get(app.url("/health"))).await,
        StatusCode::OK
    );

    holder.execute_batch("ROLLBACK").unwrap();
    let released = Instant::now();

    let recovered = eventually(RECOVERY, "/health/ready 200 after the lock", || async {
        ready_status(&app).await == StatusCode::OK
    })
    .await;
    let (response, _) = timed(sign_up(&app, "bob@example.com")).await;
    let bob = json_of(response, StatusCode::CREATED, "sign-up after the lock").await;
    assert_eq!(bob["email"], "bob@example.com");
    let ada = json_of(
        rename(&app, id, &token, "Ada L").send().await.unwrap(),
        StatusCode::OK,
        "PATCH after the lock",
    )
    .await;
    assert_eq!(ada["name"], "Ada L");
    assert_eq!(
        status_of(sign_in(&app, "ada@example.com")).await,
        StatusCode::OK
    );
    eprintln!(
        "lock released: ready 200 after {recovered:?}, writes back after {:?}",
        released.elapsed()
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_queued_sign_ups_all_get_503_fast_while_the_write_lock_is_held() {
    // Each write waits up to a couple of seconds for a lock; twenty of them
    // queued one after another on the one writer would take far longer than
    // the time limit, unless the queue fails fast once a write has failed.
    let app = spawn_app_with(&["--hash-concurrency", "4"]).await;
    let holder = connect(app.db.sqlite_path());
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();

    let emails: Vec<String> = (0..20).map(|i| format!("user{i}@example.com")).collect();
    let started = Instant::now();
    let answers = join_all(emails.iter().map(|email| timed(sign_up(&app, email)))).await;
    let all_answered = started.elapsed();

    let slowest = answers.iter().map(|(_, took)| *took).max().unwrap();
    let mut statuses = BTreeMap::new();
    for (response, _) in answers {
        *statuses.entry(response.status().as_u16()).or_insert(0) += 1;
        assert_unavailable(response, "queued sign-up, lock held").await;
    }
    assert_eq!(statuses, BTreeMap::from([(503, 20)]));
    assert!(
        all_answered < FAST,
        "20 queued sign-ups answered in {all_answered:?}, not within {FAST:?}"
    );
    eprintln!(
        "20 sign-ups under a held lock: all 503 within {all_answered:?}, slowest {slowest:?}"
    );

    // None of them left anything behind: after the lock, each email signs
    // up as new.
    holder.execute_batch("ROLLBACK").unwrap();
    let answers = join_all(emails.iter().map(|email| status_of(sign_up(&app, email)))).await;
    assert!(
        answers.iter().all(|s| *s == StatusCode::CREATED),
        "every email signs up after the lock: {answers:?}"
    );
    app.stop().await;
}

/// A copy of the service's database, put in place of its file while
/// another connection still holds the copy in exclusive locking mode (a
/// restore tool not done with it): the service must reopen the file and
/// finds it locked even for reading. (The exclusive mode cannot be taken on
/// the file the service has open: in WAL mode its connections keep a shared
/// lock, and the other connection gets `SQLITE_BUSY`.) The stale `-wal` and
/// `-shm` of the replaced file go with it, as `file` explains.
fn replace_with_an_exclusively_held_copy(app: &TestApp) -> Connection {
    let replacement = app
        .db
        .sqlite_path()
        .parent()
        .unwrap()
        .join("replacement.db");
    copy_database(app.db.sqlite_path(), &replacement);
    let holder = connect(&replacement);
    let mode: String = holder
        .query_row("PRAGMA locking_mode = EXCLUSIVE", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "exclusive");
    // The first write takes the exclusive lock, and keeps it.
    holder
        .execute_batch("BEGIN IMMEDIATE; CREATE TABLE held (x); COMMIT;")
        .unwrap();
    std::fs::rename(&replacement, app.db.sqlite_path()).unwrap();
    remove_wal_and_shm(app.db.sqlite_path());
    holder
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_held_in_exclusive_locking_mode_gives_503_to_reads_too_then_recovers() {
    let app = spawn_app_with(&[]).await;
    let (id, token) = app.user_with_token("ada@example.com").await;

    let holder = replace_with_an_exclusively_held_copy(&app);

    let noticed = eventually(FAST, "a read answers 503 after the switch", || async {
        status_of(me(&app, &token)).await == StatusCode::SERVICE_UNAVAILABLE
    })
    .await;
    let read = assert_fails_fast(me(&app, &token), "GET /users/me, exclusive lock").await;
    let patch = assert_fails_fast(rename(&app, id, &token, "Ada L"), "PATCH, exclusive").await;
    let readiness = assert_fails_fast(ready(&app), "/health/ready, exclusive lock").await;
    assert_eq!(
        status_of(app.client.get(app.url("/health"))).await,
        StatusCode::OK
    );
    eprintln!(
        "exclusive lock: reads 503 after {noticed:?}; then GET 503 in {read:?}, \
         PATCH in {patch:?}, ready in {readiness:?}"
    );

    drop(holder);
    let recovered = eventually(RECOVERY, "/health/ready 200 after the lock", || async {
        ready_status(&app).await == StatusCode::OK
    })
    .await;
    let user = json_of(
        rename(&app, id, &token, "Ada L").send().await.unwrap(),
        StatusCode::OK,
        "PATCH after the lock",
    )
    .await;
    assert_eq!(user["name"], "Ada L");
    assert_eq!(
        status_of(sign_up(&app, "bob@example.com")).await,
        StatusCode::CREATED
    );
    eprintln!("exclusive lock given back: ready 200 after {recovered:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_ups_get_503_fast_while_the_file_is_held_in_exclusive_locking_mode() {
    let app = spawn_app_with(&["--hash-concurrency", "4"]).await;
    app.sign_up("ada@example.com").await;
    let holder = replace_with_an_exclusively_held_copy(&app);
    eventually(FAST, "/health/ready 503 after the switch", || async {
        ready_status(&app).await == StatusCode::SERVICE_UNAVAILABLE
    })
    .await;

    let started = Instant::now();
    let answers =
        join_all((0..10).map(|i| timed(sign_up(&app, &format!("u{i}@example.com"))))).await;
    let all_answered = started.elapsed();
    let took: Vec<_> = answers.iter().map(|(_, took)| *took).collect();
    assert!(
        all_answered < FAST,
        "10 sign-ups answered in {all_answered:?} (each: {took:?}), not within {FAST:?}"
    );
    for (response, _) in answers {
        assert_unavailable(response, "sign-up, file held exclusively").await;
    }

    drop(holder);
    eventually(RECOVERY, "a sign-up after the lock", || async {
        status_of(sign_up(&app, "bob@example.com")).await == StatusCode::CREATED
    })
    .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_is_503_while_another_connection_holds_the_write_lock_before_any_write() {
    let app = spawn_app_with(&[]).await;
    let holder = connect(app.db.sqlite_path());
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();

    assert_fails_fast(ready(&app), "/health/ready, lock held, no write yet").await;

    holder.execute_batch("ROLLBACK").unwrap();
    eventually(RECOVERY, "/health/ready 200 after the lock", || async {
        ready_status(&app).await == StatusCode::OK
    })
    .await;
    app.stop().await;
}
