//! The database file removed, or replaced by another database, under the
//! running service. Root can do both, and so can an operator restoring a
//! backup: the service must neither keep writing to a file no one will find
//! again nor need a restart to serve the file now at its path.
//!
//! The `-wal` and `-shm` beside the file belong to the file the service
//! opened. SQLite neither checkpoints nor deletes the `-wal` of a file that
//! was unlinked or renamed over when its last connection closes, so they
//! stay at the path; if they are still there when the next file is opened,
//! SQLite replays the old file's WAL onto it. Each scenario is run twice:
//! with the operator removing them too (`rm user-api.db*`), and leaving
//! them, which is the service's to handle.

use std::path::Path;
use std::time::Instant;

use reqwest::StatusCode;

use super::{
    assert_fails_fast, connect, copy_database, emails_in, eventually, json_of, me, ready,
    ready_status, remove_wal_and_shm, rename, sign_in, sign_up, status_of, FAST, RECOVERY,
};
use crate::support::spawn_app_with;

/// `PRAGMA integrity_check` of the file, by the test's own connection.
fn integrity(path: &Path) -> String {
    connect(path)
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

/// The database file is removed; the service answers 503 (reads, writes,
/// readiness) until a backup taken before is renamed into place, then serves
/// the backup's data, and its writes land in that file.
async fn removed_then_restored(remove_wal_too: bool) {
    let app = spawn_app_with(&[]).await;
    let (ada, token) = app.user_with_token("ada@example.com").await;
    let backup = app.db.sqlite_path().parent().unwrap().join("backup.db");
    copy_database(app.db.sqlite_path(), &backup);
    // Acknowledged after the backup, so in the removed file only (its WAL):
    // it must not come back with the backup.
    app.sign_up("carol@example.com").await;

    std::fs::remove_file(app.db.sqlite_path()).unwrap();
    if remove_wal_too {
        remove_wal_and_shm(app.db.sqlite_path());
    }
    let noticed = eventually(FAST, "a read answers 503 after the removal", || async {
        status_of(me(&app, &token)).await == StatusCode::SERVICE_UNAVAILABLE
    })
    .await;
    let read = assert_fails_fast(me(&app, &token), "GET /users/me, file removed").await;
    let write = assert_fails_fast(sign_up(&app, "bob@example.com"), "sign-up, file removed").await;
    assert_fails_fast(rename(&app, ada, &token, "Ada L"), "PATCH, file removed").await;
    assert_fails_fast(sign_in(&app, "ada@example.com"), "sign-in, file removed").await;
    let readiness = assert_fails_fast(ready(&app), "/health/ready, file removed").await;
    assert_eq!(
        status_of(app.client.get(app.url("/health"))).await,
        StatusCode::OK
    );
    assert!(
        !app.db.sqlite_path().exists(),
        "the service made no new, empty database at the path"
    );

    // Put the backup back whole, in one step: a rename, never a copy the
    // service could open half-written.
    std::fs::rename(&backup, app.db.sqlite_path()).unwrap();
    let recovered = eventually(RECOVERY, "/health/ready 200 after the restore", || async {
        ready_status(&app).await == StatusCode::OK
    })
    .await;

    // The backup's data: ada and her token, and no carol.
    let user = json_of(
        me(&app, &token).send().await.unwrap(),
        StatusCode::OK,
        "GET /users/me, restored",
    )
    .await;
    assert_eq!(user["id"], ada);
    assert_eq!(
        status_of(sign_in(&app, "carol@example.com")).await,
        StatusCode::BAD_REQUEST,
        "carol, not in the backup, cannot sign in"
    );
    json_of(
        sign_up(&app, "bob@example.com").send().await.unwrap(),
        StatusCode::CREATED,
        "sign-up, restored",
    )
    .await;
    assert_eq!(
        emails_in(app.db.sqlite_path()),
        ["ada@example.com", "bob@example.com"],
        "the file at the path holds the backup and the write after it"
    );
    assert_eq!(integrity(app.db.sqlite_path()), "ok");
    eprintln!(
        "file removed: reads 503 after {noticed:?}; then GET 503 in {read:?}, sign-up in \
         {write:?}, ready in {readiness:?}; restored: ready 200 after {recovered:?}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_database_file_with_its_wal_gives_503_until_a_backup_is_put_back() {
    removed_then_restored(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_database_file_gives_503_until_a_backup_is_put_back_then_serves_it() {
    removed_then_restored(false).await;
}

/// Another valid, checkpointed database is renamed over the file: after a
/// short while the service serves it, and a write acknowledged after the
/// switch is in it.
async fn replaced(remove_wal_too: bool) {
    let app = spawn_app_with(&[]).await;
    let (_, token) = app.user_with_token("ada@example.com").await;

    // Another service's file, with a user only it has, copied whole (one
    // file, no `-wal`) next to the first one.
    let other = spawn_app_with(&[]).await;
    other.sign_up("zoe@example.com").await;
    let replacement = app
        .db
        .sqlite_path()
        .parent()
        .unwrap()
        .join("replacement.db");
    copy_database(other.db.sqlite_path(), &replacement);
    other.stop().await;

    std::fs::rename(&replacement, app.db.sqlite_path()).unwrap();
    if remove_wal_too {
        remove_wal_and_shm(app.db.sqlite_path());
    }
    let switched = Instant::now();
    eventually(RECOVERY, "zoe, only in the new file, signs in", || async {
        status_of(sign_in(&app, "zoe@example.com")).await == StatusCode::OK
    })
    .await;
    let switched = switched.elapsed();

    // The old file's data went with it: ada and her token.
    assert_eq!(
        status_of(me(&app, &token)).await,
        StatusCode::UNAUTHORIZED,
        "a token of the old file"
    );
    assert_eq!(
        status_of(sign_in(&app, "ada@example.com")).await,
        StatusCode::BAD_REQUEST,
        "ada, only in the old file"
    );
    // A write acknowledged after the switch is in the new file.
    json_of(
        sign_up(&app, "bob@example.com").send().await.unwrap(),
        StatusCode::CREATED,
        "sign-up after the switch",
    )
    .await;
    assert_eq!(
        emails_in(app.db.sqlite_path()),
        ["zoe@example.com", "bob@example.com"]
    );
    assert_eq!(integrity(app.db.sqlite_path()), "ok");
    assert_eq!(ready_status(&app).await, StatusCode::OK);
    eprintln!("file replaced: the new file's user signs in after {switched:?}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_renamed_over_the_file_with_its_wal_removed_is_served_after_a_short_while() {
    replaced(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_renamed_over_the_file_is_served_after_a_short_while() {
    replaced(false).await;
}
