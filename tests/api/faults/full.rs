//! A full disk, made with `--sqlite-max-mib 1` (`PRAGMA max_page_count`):
//! root cannot write past it. Sign-ups fill the file until one gets 503;
//! reads go on and keep everything acknowledged; once space is freed (old
//! events pruned, as retention does) deletes and sign-ups work again
//! without a restart. Every change writes an event, so on a full file a
//! delete needs room too: it is 503 until something frees a page.

use std::collections::BTreeSet;

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{assert_unavailable, json_of, ready_status, timed, FAST};
use crate::support::{spawn_app_with, TestApp, PASSWORD};

/// Sign-ups sent at once while filling the file.
const BATCH: usize = 16;

/// A sign-up as large as the contract allows: a 254-character email, a
/// 100-character name, and a 255-character `Idempotency-Key` whose reply
/// is kept too.
fn big_sign_up(app: &TestApp, n: usize) -> reqwest::RequestBuilder {
    let email = big_email(n);
    app.client
        .post(app.url("/users"))
        .header("idempotency-key", format!("{n:0>255}"))
        .json(&json!({
            "email": email,
            "name": format!("{n:n>100}"),
            "password": PASSWORD,
        }))
}

/// A valid email of 254 characters, distinct for each `n`.
fn big_email(n: usize) -> String {
    let local = format!("{n:u>64}");
    let domain = format!(
        "{}.{}.{}.example",
        "a".repeat(61),
        "b".repeat(61),
        "c".repeat(57)
    );
    let email = format!("{local}@{domain}");
    assert_eq!(email.len(), 254);
    email
}

/// Every user the admin can list, by id.
async fn listed_ids(app: &TestApp, admin: &str) -> BTreeSet<i64> {
    let mut ids = BTreeSet::new();
    let mut after = 0;
    loop {
        let page = json_of(
            app.get(&format!("/users?limit=100&after_id={after}"), admin)
                .await,
            StatusCode::OK,
            "GET /users",
        )
        .await;
        let page = page.as_array().unwrap();
        if page.is_empty() {
            return ids;
        }
        for user in page {
            after = user["id"].as_i64().unwrap();
            ids.insert(after);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_database_gives_503_for_writes_keeps_reads_and_recovers_when_space_is_freed() {
    let app = spawn_app_with(&["--sqlite-max-mib", "1", "--hash-concurrency", "4"]).await;
    let admin = app.admin_token().await;
    let (ada, ada_token) = app.user_with_token("ada@example.com").await;

    // Fill the file: sign-ups in batches until one is refused, then one
    // at a time until one is refused (racing sign-ups each claim their
    // idempotency key first, so a batch is refused before the file is full
    // for a single one).
    let mut created: Vec<(i64, String)> = Vec::new();
    let mut n = 0;
    let mut batched = true;
    let (refused, took) = loop {
        assert!(n < 5_000, "1 MiB never filled up");
        let size = if batched { BATCH } else { 1 };
        let answers = join_all((n..n + size).map(|i| timed(big_sign_up(&app, i)))).await;
        let mut refused = None;
        for (i, (response, took)) in (n..n + size).zip(answers) {
            if response.status() == StatusCode::CREATED {
                let user: Value = response.json().await.unwrap();
                created.push((user["id"].as_i64().unwrap(), big_email(i)));
            } else {
                assert!(took < FAST, "the refused sign-up took {took:?}");
                assert_unavailable(response, "sign-up into a full database").await;
                refused = Some((i, took));
            }
        }
        n += size;
        match refused {
            Some(found) if !batched => break found,
            Some(_) => batched = false,
            None => {}
        }
    };
    eprintln!(
        "full after {} sign-ups: the next got 503 in {took:?}; file {} bytes",
        created.len(),
        std::fs::metadata(app.db.sqlite_path()).unwrap().len()
    );

    // Still full: another write is refused, a read is served, and every
    // acknowledged user is there.
    let (response, took) = timed(big_sign_up(&app, refused)).await;
    assert!(took < FAST, "sign-up into a full database took {took:?}");
    assert_unavailable(response, "sign-up into a full database, again").await;
    let me = json_of(
        app.get("/users/me", &ada_token).await,
        StatusCode::OK,
        "GET /users/me, database full",
    )
    .await;
    assert_eq!(me["id"], ada);
    let ids = listed_ids(&app, &admin).await;
    for (id, email) in &created {
        assert!(
            ids.contains(id),
            "acknowledged user {id} ({email}) is listed"
        );
    }
    assert_eq!(ids.len(), created.len() + 2, "admin, ada and the 201s");

    // Free space as the event retention would, from outside the service
    // (an operator's `DELETE`): the outbox's pages go to the free list.
    // Then an admin deletes the most recent users; SQLite reuses the freed
    // pages for their events, and the refused sign-up goes through at its
    // first retry.
    assert!(app.db.execute("DELETE FROM events") > 0);
    let freed: Vec<_> = created.split_off(created.len() - 2 * BATCH);
    for (id, _) in &freed {
        let response = app
            .client
            .delete(app.url(&format!("/users/{id}")))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::NO_CONTENT,
            "delete {id} from a full database"
        );
    }
    let (response, took) = timed(big_sign_up(&app, refused)).await;
    json_of(
        response,
        StatusCode::CREATED,
        "the refused sign-up, after deletes",
    )
    .await;
    assert_eq!(ready_status(&app).await, StatusCode::OK);
    eprintln!(
        "after {} deletes the refused sign-up is 201 (in {took:?}); file {} bytes",
        freed.len(),
        std::fs::metadata(app.db.sqlite_path()).unwrap().len()
    );

    // Nothing acknowledged was lost on the way, and the deleted are gone.
    let ids = listed_ids(&app, &admin).await;
    for (id, email) in &created {
        assert!(
            ids.contains(id),
            "acknowledged user {id} ({email}) is listed"
        );
    }
    for (id, _) in &freed {
        assert!(!ids.contains(id), "deleted user {id} is gone");
    }
    assert_eq!(
        ids.len(),
        created.len() + 3,
        "admin, ada, the kept 201s, the new one"
    );
    app.stop().await;
}
