//! `user-api db copy --from sqlite:… --to postgres://…` ("move a whole
//! store between backends"): users, password hashes, tokens and counts
//! arrive whole and verified, the service on the copy lets everyone in as
//! before, and a store that holds data is not overwritten unless told. The
//! outbox moves with them, both ways ("`db copy` and `db backup` carry the
//! events and their delivery state with everything else"): the same events
//! in the feed, how far it was pruned, each sink's cursor and parked
//! deliveries, and a new change numbered past every `seq` ever handed out.

use std::path::Path;

use reqwest::blocking::Response;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::cli::{client, run_to_exit, serve, sign_in, sign_up, Finished, Running, CHEAP_HASHING};
use crate::support::TestDb;

const PASSWORD: &str = "tangerine submarine 1947";
const ADMIN_EMAIL: &str = "root@example.com";
const ADMIN_PASSWORD: &str = "quiet orchard lantern 7301";

fn copy(from: &str, to: &str, extra: &[&str], cwd: &std::path::Path) -> Finished {
    let mut args = vec!["db", "copy", "--from", from, "--to", to];
    args.extend_from_slice(extra);
    run_to_exit(&args, &[], cwd, None)
}

fn token_of(response: reqwest::blocking::Response) -> String {
    assert_eq!(response.status(), StatusCode::OK);
    response.json::<Value>().unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn a_whole_sqlite_store_moves_to_postgresql_verified_and_keeps_working() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite:{}", dir.path().join("user-api.db").display());
    let source = serve(&dir, &["--signup-rate", "0"], &[]);
    for n in 0..20 {
        let created = sign_up(&source, &format!("user{n}@example.com"), PASSWORD);
        assert_eq!(created.status(), StatusCode::CREATED);
    }
    // The highest id is deleted: the copy must never hand it out again.
    let last = sign_up(&source, "last@example.com", PASSWORD);
    let last_id = last.json::<Value>().unwrap()["id"].as_i64().unwrap();
    let last_token = token_of(sign_in(&source, "last@example.com", PASSWORD));
    let deleted = client()
        .delete(source.url(&format!("/users/{last_id}")))
        .bearer_auth(&last_token)
        .send()
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let token = token_of(sign_in(&source, "user3@example.com", PASSWORD));
    // A failure count travels too.
    for _ in 0..5 {
        assert_eq!(
            sign_in(&source, "user7@example.com", "not the password at all").status(),
            StatusCode::BAD_REQUEST
        );
    }
    drop(source);

    let target = TestDb::fresh_postgres();
    let copied = copy(&sqlite, &target.url, &[], dir.path());
    assert!(copied.status.success(), "{copied:?}");
    assert!(copied.stdout.contains("20 users"), "{}", copied.stdout);
    assert!(
        copied.stdout.contains("verified (sha256 "),
        "{}",
        copied.stdout
    );
    assert_eq!(target.query_i64("SELECT count(*) FROM users"), 20);

    let moved = serve(
        &dir,
        &["--database-url", &target.url, "--signup-rate", "0"],
        &[],
    );
    let me = client()
        .get(moved.url("/users/me"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(
        me.status(),
        StatusCode::OK,
        "a token issued before the move"
    );
    assert_eq!(me.json::<Value>().unwrap()["email"], "user3@example.com");
    assert_eq!(
        sign_in(&moved, "user11@example.com", PASSWORD).status(),
        StatusCode::OK,
        "the password hash moved"
    );
    assert_eq!(
        sign_in(&moved, "user7@example.com", PASSWORD).status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the account's wait moved"
    );
    let next = sign_up(&moved, "next@example.com", PASSWORD);
    assert_eq!(next.status(), StatusCode::CREATED);
    assert!(next.json::<Value>().unwrap()["id"].as_i64().unwrap() > last_id);
    drop(moved);

    // Back again, into a new SQLite file: the same content, verified.
    let back = format!("sqlite:{}", dir.path().join("back.db").display());
    let returned = copy(&target.url, &back, &[], dir.path());
    assert!(returned.status.success(), "{returned:?}");
    assert!(returned.stdout.contains("21 users"), "{}", returned.stdout);
}

#[test]
fn a_target_that_holds_data_is_refused_unless_overwrite_is_given() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite:{}", dir.path().join("user-api.db").display());
    let source = serve(&dir, &[], &[]);
    assert_eq!(
        sign_up(&source, "ada@example.com", PASSWORD).status(),
        StatusCode::CREATED
    );
    drop(source);
    let target = TestDb::fresh_postgres();
    assert!(copy(&sqlite, &target.url, &[], dir.path()).status.success());
    target.execute(
        "INSERT INTO users (email, name, name_lower, role, password_hash, created_at, updated_at)
         VALUES ('only-in-target@example.com', 'T', 't', 'user', 'x', 0, 0)",
    );

    let refused = copy(&sqlite, &target.url, &[], dir.path());
    assert!(refused.failed(), "{refused:?}");
    assert_eq!(refused.stderr_lines().len(), 1, "{refused:?}");
    assert!(refused.stderr.contains("--overwrite"), "{refused:?}");
    assert_eq!(
        target.query_i64("SELECT count(*) FROM users"),
        2,
        "untouched"
    );

    let replaced = copy(&sqlite, &target.url, &["--overwrite"], dir.path());
    assert!(replaced.status.success(), "{replaced:?}");
    assert_eq!(
        target.query_text("SELECT string_agg(email, ',') FROM users"),
        "ada@example.com"
    );
}

#[test]
fn a_missing_source_file_is_refused_and_nothing_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.db");
    let target = TestDb::fresh_postgres();
    let refused = copy(
        &format!("sqlite:{}", missing.display()),
        &target.url,
        &[],
        dir.path(),
    );
    assert!(refused.failed(), "{refused:?}");
    assert!(refused.stderr.contains("does not exist"), "{refused:?}");
    assert!(!missing.exists());
}

#[test]
fn the_outbox_moves_to_postgresql_with_its_seqs_pruning_and_delivery_state() {
    let dir = tempfile::tempdir().unwrap();
    let source = TestDb::fresh_sqlite();
    admin_create(&source.url, dir.path());
    let app = serve(
        &dir,
        &["--database-url", &source.url, "--signup-rate", "0"],
        &[],
    );
    let admin = token_of(sign_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD));
    make_changes(&app, &admin);
    let all = events(&app, &admin, None);
    drop(app);
    let seqs: Vec<i64> = all.iter().map(seq).collect();
    age_the_outbox(&source, &all, 2);
    let kept = &all[2..all.len() - 1];
    let newest = *seqs.last().unwrap();

    let target = TestDb::fresh_postgres();
    // Its `event_log` row, there since the migration, is no data.
    let copied = copy(&source.url, &target.url, &[], dir.path());
    assert!(copied.status.success(), "{copied:?}");
    for part in [
        format!(" {} events,", kept.len()),
        " 2 event_sinks,".to_owned(),
        " 3 event_deliveries,".to_owned(),
    ] {
        assert!(
            copied.stdout.contains(&part),
            "{part:?} in {}",
            copied.stdout
        );
    }
    assert_eq!(delivery_state(&target), delivery_state(&source));
    assert_eq!(
        target.query_i64("SELECT pruned_through FROM event_log"),
        seqs[1]
    );

    let moved = serve(
        &dir,
        &["--database-url", &target.url, "--signup-rate", "0"],
        &[],
    );
    let admin = token_of(sign_in(&moved, ADMIN_EMAIL, ADMIN_PASSWORD));
    assert_eq!(
        events(&moved, &admin, None),
        kept,
        "the same events (id, seq, type, timestamp, data) in the feed"
    );
    assert_eq!(
        feed(&moved, &admin, Some(seqs[0])).status(),
        StatusCode::GONE,
        "events after {} were pruned on the source",
        seqs[0]
    );
    assert_eq!(events(&moved, &admin, Some(seqs[1])), kept);

    after_a_new_change(&moved, &admin, kept, newest);
}

#[test]
fn the_outbox_comes_back_from_postgresql_over_an_sqlite_store_with_an_outbox_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let source = TestDb::fresh_postgres();
    admin_create(&source.url, dir.path());
    let app = serve(
        &dir,
        &["--database-url", &source.url, "--signup-rate", "0"],
        &[],
    );
    let admin = token_of(sign_in(&app, ADMIN_EMAIL, ADMIN_PASSWORD));
    make_changes(&app, &admin);
    let all = events(&app, &admin, None);
    drop(app);
    let seqs: Vec<i64> = all.iter().map(seq).collect();
    age_the_outbox(&source, &all, 1);
    let kept = &all[1..all.len() - 1];
    let newest = *seqs.last().unwrap();

    // The SQLite store replaced holds events (seqs below `newest`) of its
    // own: its sequence must not outlive the copy.
    let target = TestDb::fresh_sqlite();
    admin_create(&target.url, dir.path());
    assert!(target.query_i64("SELECT seq FROM sqlite_sequence WHERE name = 'events'") < newest);
    let refused = copy(&source.url, &target.url, &[], dir.path());
    assert!(refused.failed(), "{refused:?}");
    let returned = copy(&source.url, &target.url, &["--overwrite"], dir.path());
    assert!(returned.status.success(), "{returned:?}");
    assert!(
        returned
            .stdout
            .contains(&format!(" {} events,", kept.len())),
        "{}",
        returned.stdout
    );
    assert_eq!(delivery_state(&target), delivery_state(&source));
    assert_eq!(
        target.query_text(
            "SELECT group_concat(name || '=' || seq, ',') FROM sqlite_sequence WHERE name = 'events'"
        ),
        format!("events={newest}"),
        "one row: the source's, which remembers the deleted newest event"
    );

    // There and back again: the same content, by the same checksum.
    let again = TestDb::fresh_postgres();
    let there = copy(&target.url, &again.url, &[], dir.path());
    assert!(there.status.success(), "{there:?}");
    assert_eq!(checksum(&there), checksum(&returned));

    let back = serve(
        &dir,
        &["--database-url", &target.url, "--signup-rate", "0"],
        &[],
    );
    let admin = token_of(sign_in(&back, ADMIN_EMAIL, ADMIN_PASSWORD));
    assert_eq!(events(&back, &admin, None), kept);
    assert_eq!(
        feed(&back, &admin, Some(0)).status(),
        StatusCode::GONE,
        "the first event was pruned on the source"
    );
    after_a_new_change(&back, &admin, kept, newest);
}

/// The copy's counters and search index (migration 8) describe its users,
/// both ways: `db copy`'s DELETE and its COPY (PostgreSQL) or inserts
/// (SQLite) go through the same triggers as every other write.
#[test]
fn a_copy_counts_and_indexes_its_users_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite:{}", dir.path().join("user-api.db").display());
    admin_create(&sqlite, dir.path());
    let source = serve(&dir, &["--database-url", &sqlite], &[]);
    let admin = token_of(sign_in(&source, ADMIN_EMAIL, ADMIN_PASSWORD));
    make_changes(&source, &admin);
    drop(source);

    let target = TestDb::fresh_postgres();
    let there = copy(&sqlite, &target.url, &[], dir.path());
    let moved = serve(&dir, &["--database-url", &target.url], &[]);
    let on_postgres = listing_totals(&moved, &admin);
    drop(moved);
    let back_path = dir.path().join("back.db");
    let back = format!("sqlite:{}", back_path.display());
    let returned_copy = copy(&target.url, &back, &[], dir.path());
    let index_check = rusqlite::Connection::open(&back_path).unwrap().execute(
        "INSERT INTO users_search (users_search) VALUES ('integrity-check')",
        [],
    );
    let returned = serve(&dir, &["--database-url", &back], &[]);
    let on_sqlite = listing_totals(&returned, &admin);

    assert!(there.status.success(), "{there:?}");
    assert!(returned_copy.status.success(), "{returned_copy:?}");
    // root (admin); user0 renamed, user1 deactivated, user3; user2 deleted.
    assert_eq!(on_postgres, [4, 1, 2, 1, 3, 1]);
    assert_eq!(on_sqlite, on_postgres);
    assert!(index_check.is_ok(), "{index_check:?}");
}

/// `X-Total-Count` of: everyone, admins, active users, inactive users,
/// `q=user`, `q=renamed`.
fn listing_totals(app: &Running, admin: &str) -> Vec<u64> {
    let queries: [&[(&str, &str)]; 6] = [
        &[],
        &[("role", "admin")],
        &[("role", "user"), ("is_active", "true")],
        &[("is_active", "false")],
        &[("q", "user")],
        &[("q", "RENAMED")],
    ];
    queries
        .iter()
        .map(|query| {
            let response = client()
                .get(app.url("/users"))
                .query(query)
                .bearer_auth(admin)
                .send()
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response.headers()["x-total-count"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect()
}

/// `user-api admin create` on `url`, the password on stdin.
fn admin_create(url: &str, cwd: &Path) {
    let mut args = vec![
        "admin",
        "create",
        "--email",
        ADMIN_EMAIL,
        "--name",
        "Root",
        "--database-url",
        url,
    ];
    args.extend(CHEAP_HASHING);
    let created = run_to_exit(&args, &[], cwd, Some(&format!("{ADMIN_PASSWORD}\n")));
    assert!(created.status.success(), "{created:?}");
}

/// A change of each kind, so every event type is in the outbox: sign-ups
/// (`user.created`), a rename (`user.updated`), a deactivation
/// (`user.updated`, `user.signed_out`) and a deletion (`user.deleted`).
fn make_changes(app: &Running, admin: &str) {
    let ids: Vec<i64> = (0..4)
        .map(|n| {
            let created = sign_up(app, &format!("user{n}@example.com"), PASSWORD);
            assert_eq!(created.status(), StatusCode::CREATED);
            created.json::<Value>().unwrap()["id"].as_i64().unwrap()
        })
        .collect();
    let http = client();
    for (id, body) in [
        (ids[0], json!({"name": "Renamed"})),
        (ids[1], json!({"is_active": false})),
    ] {
        let patched = http
            .patch(app.url(&format!("/users/{id}")))
            .bearer_auth(admin)
            .json(&body)
            .send()
            .unwrap();
        assert_eq!(patched.status(), StatusCode::OK);
    }
    let deleted = http
        .delete(app.url(&format!("/users/{}", ids[2])))
        .bearer_auth(admin)
        .send()
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
}

/// `GET /events` as an admin, one page of up to 1000.
fn feed(app: &Running, admin: &str, after: Option<i64>) -> Response {
    let query = after.map_or(String::new(), |a| format!("&after={a}"));
    client()
        .get(app.url(&format!("/events?limit=1000{query}")))
        .bearer_auth(admin)
        .send()
        .unwrap()
}

fn events(app: &Running, admin: &str, after: Option<i64>) -> Vec<Value> {
    let page = feed(app, admin, after);
    assert_eq!(page.status(), StatusCode::OK);
    page.json().unwrap()
}

fn seq(event: &Value) -> i64 {
    event["seq"].as_i64().unwrap()
}

/// The outbox as a live store leaves it, written straight into `db`:
/// the oldest `pruned` events pruned (and `event_log.pruned_through`), the
/// newest deleted as pruning everything would, so only the sequence still
/// knows its `seq`; two sinks with cursors, and deliveries parked at them
/// (waiting for a retry, and failed for good).
fn age_the_outbox(db: &TestDb, all: &[Value], pruned: usize) {
    let types: std::collections::BTreeSet<&str> =
        all.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types.into_iter().collect::<Vec<_>>(),
        [
            "user.created",
            "user.deleted",
            "user.signed_out",
            "user.updated"
        ]
    );
    let through = seq(&all[pruned - 1]);
    let newest = seq(all.last().unwrap());
    db.execute(&format!(
        "DELETE FROM events WHERE seq <= {through} OR seq = {newest}"
    ));
    db.execute(&format!(
        "UPDATE event_log SET pruned_through = {through} WHERE id = 1"
    ));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let parked = |i: usize| (seq(&all[i]), all[i]["data"]["user"]["id"].as_i64().unwrap());
    let ((a, a_user), (b, b_user), (c, c_user)) =
        (parked(pruned), parked(pruned + 1), parked(pruned + 2));
    db.execute(&format!(
        "INSERT INTO event_sinks (sink, delivered_through)
         VALUES ('https://hooks.example.com/a', {c}), ('nats', {b})"
    ));
    db.execute(&format!(
        "INSERT INTO event_deliveries
             (sink, seq, user_id, attempts, next_attempt_at, failed_at, last_error)
         VALUES ('https://hooks.example.com/a', {a}, {a_user}, 8, {now}, {now}, 'HTTP 500'),
                ('https://hooks.example.com/a', {c}, {c_user}, 0, {now}, NULL, NULL),
                ('nats', {b}, {b_user}, 2, {}, NULL, 'no responders')",
        now + 300_000
    ));
}

/// Sinks, deliveries and the pruning mark, the same text on both backends.
fn delivery_state(db: &TestDb) -> String {
    db.query_text(
        "SELECT coalesce((SELECT string_agg(sink || '=' || delivered_through, ',' ORDER BY sink)
                          FROM event_sinks), '')
             || ' | ' ||
             coalesce((SELECT string_agg(sink || ' ' || seq || ' ' || user_id || ' ' || attempts
                                         || ' ' || next_attempt_at
                                         || ' ' || coalesce(CAST(failed_at AS TEXT), 'null')
                                         || ' ' || coalesce(last_error, 'null'),
                                         ',' ORDER BY sink, seq)
                       FROM event_deliveries), '')
             || ' | pruned through ' || (SELECT pruned_through FROM event_log WHERE id = 1)",
    )
}

/// A change on the copy is numbered past every `seq` the source handed
/// out (`newest` too, though its event is gone), and is the only new one.
fn after_a_new_change(app: &Running, admin: &str, kept: &[Value], newest: i64) {
    let created = sign_up(app, "after-the-copy@example.com", PASSWORD);
    assert_eq!(created.status(), StatusCode::CREATED);
    let new = events(app, admin, Some(seq(kept.last().unwrap())));
    assert_eq!(new.len(), 1, "{new:?}");
    assert_eq!(new[0]["type"], "user.created");
    assert!(
        seq(&new[0]) > newest,
        "seq {} after the copy, {newest} already handed out before it",
        seq(&new[0])
    );
    assert!(kept.iter().all(|e| e["id"] != new[0]["id"]));
}

/// The sha256 a copy's summary reports.
fn checksum(copied: &Finished) -> &str {
    let (_, rest) = copied
        .stdout
        .split_once("verified (sha256 ")
        .unwrap_or_else(|| panic!("a checksum in {}", copied.stdout));
    rest.split(')').next().unwrap()
}
