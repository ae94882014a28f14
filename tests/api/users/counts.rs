//! `X-Total-Count` without `q` comes from counter rows (migration 8), not
//! from counting the table: these tests hold it to a count of the table
//! itself, for every role and state filter, after every kind of write that
//! adds, moves or removes a user — sign-up, admin create, PATCH of role and
//! of `is_active`, delete, import (and a dry run that writes nothing),
//! writes side by side — and on a store made before the counters existed.

use std::sync::Arc;

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

use super::{ids, list, patch, sign_up_named};
use crate::support::{backend, spawn_app_on, Backend, TestApp, TestDb, ADMIN_PASSWORD};

/// Every filter combination of role and state, as query parameters and as
/// the SQL condition that counts the same users.
const FILTERS: [(&[(&str, &str)], &str); 9] = [
    (&[], "TRUE"),
    (&[("role", "user")], "role = 'user'"),
    (&[("role", "admin")], "role = 'admin'"),
    (&[("is_active", "true")], "is_active = TRUE"),
    (&[("is_active", "false")], "is_active = FALSE"),
    (
        &[("role", "user"), ("is_active", "true")],
        "role = 'user' AND is_active = TRUE",
    ),
    (
        &[("role", "user"), ("is_active", "false")],
        "role = 'user' AND is_active = FALSE",
    ),
    (
        &[("role", "admin"), ("is_active", "true")],
        "role = 'admin' AND is_active = TRUE",
    ),
    (
        &[("role", "admin"), ("is_active", "false")],
        "role = 'admin' AND is_active = FALSE",
    ),
];

/// `X-Total-Count` for each of `FILTERS`, in order.
async fn totals(app: &TestApp, admin: &str) -> Vec<u64> {
    let mut totals = Vec::new();
    for (query, _) in FILTERS {
        let mut query = query.to_vec();
        query.push(("limit", "1"));
        let response = list(app, admin, &query).await;
        assert_eq!(response.status(), StatusCode::OK, "{query:?}");
        totals.push(
            response.headers()["x-total-count"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap(),
        );
    }
    totals
}

/// The users of each of `FILTERS`, counted in the table by SQL.
fn counted(db: &TestDb) -> Vec<u64> {
    FILTERS
        .iter()
        .map(|(_, condition)| {
            db.query_i64(&format!("SELECT count(*) FROM users WHERE {condition}")) as u64
        })
        .collect()
}

#[tokio::test]
async fn totals_stay_exact_through_sign_up_admin_create_role_and_state_changes_and_delete() {
    let db = Arc::new(TestDb::fresh());
    let app = spawn_app_on(db.clone(), &[]).await;
    let admin = app.admin_token().await;
    let mut steps = Vec::new();

    let mut users = Vec::new();
    for i in 0..6 {
        users.push(sign_up_named(&app, &format!("u{i}@example.com"), "Someone").await);
    }
    steps.push(("sign-up", totals(&app, &admin).await, counted(&db)));
    let boss = app.create_admin("boss@example.com", ADMIN_PASSWORD).await;
    steps.push(("admin create", totals(&app, &admin).await, counted(&db)));
    for id in [users[0], users[1]] {
        let changed = patch(&app, id, &admin, json!({"role": "admin"})).await;
        assert_eq!(changed.status(), StatusCode::OK);
    }
    steps.push(("PATCH role", totals(&app, &admin).await, counted(&db)));
    for id in [users[1], users[2], boss] {
        let changed = patch(&app, id, &admin, json!({"is_active": false})).await;
        assert_eq!(changed.status(), StatusCode::OK);
    }
    steps.push(("PATCH is_active", totals(&app, &admin).await, counted(&db)));
    // Both at once, and back: a user moves between two rows in one change.
    let both = patch(
        &app,
        users[1],
        &admin,
        json!({"role": "user", "is_active": true}),
    )
    .await;
    assert_eq!(both.status(), StatusCode::OK);
    let renamed = patch(&app, users[3], &admin, json!({"name": "Someone Else"})).await;
    assert_eq!(renamed.status(), StatusCode::OK);
    steps.push((
        "PATCH both, and a name",
        totals(&app, &admin).await,
        counted(&db),
    ));
    for id in [users[2], users[4], boss] {
        let deleted = super::delete(&app, id, &admin, None).await;
        assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    }
    steps.push(("delete", totals(&app, &admin).await, counted(&db)));

    for (step, totals, counted) in &steps {
        assert_eq!(totals, counted, "after {step}");
    }
    // What the table holds at the end, written out: root, users 0, 1, 3, 5.
    assert_eq!(steps[5].2, [5, 3, 2, 5, 0, 3, 0, 2, 0]);
}

#[tokio::test]
async fn totals_stay_exact_through_an_import_and_a_dry_run_changes_none() {
    let db = Arc::new(TestDb::fresh());
    let app = spawn_app_on(db.clone(), &[]).await;
    let admin = app.admin_token().await;
    sign_up_named(&app, "taken@example.com", "Someone").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.jsonl");
    std::fs::write(
        &file,
        [
            json!({"email": "i1@example.com", "name": "Imported One"}),
            json!({"email": "i2@example.com", "name": "Imported Two", "is_active": false}),
            json!({"email": "i3@example.com", "name": "Imported Boss", "role": "admin"}),
            json!({"email": "i4@example.com", "name": "Old Boss", "role": "admin", "is_active": false}),
            json!({"email": "taken@example.com", "name": "Already Here"}),
        ]
        .iter()
        .map(|v| format!("{v}\n"))
        .collect::<String>(),
    )
    .unwrap();
    let import = |extra: &[&str]| {
        let mut args = vec![
            "users",
            "import",
            "--database-url",
            &db.url,
            "--format",
            "user-api",
            "--from",
            file.to_str().unwrap(),
            "--on-conflict",
            "skip",
        ];
        args.extend_from_slice(extra);
        crate::cli::run_to_exit(&args, &[], dir.path(), None)
    };
    let before = totals(&app, &admin).await;

    let dry = import(&["--dry-run"]);
    let after_dry_run = totals(&app, &admin).await;
    let done = import(&[]);
    let after_import = totals(&app, &admin).await;

    assert!(dry.status.success(), "{dry:?}");
    assert!(done.status.success(), "{done:?}");
    assert_eq!(after_dry_run, before);
    assert_eq!(after_import, counted(&db));
    assert_eq!(after_import, [6, 3, 3, 4, 2, 2, 1, 2, 1]);
}

#[tokio::test]
async fn totals_stay_exact_when_sign_ups_and_changes_run_side_by_side() {
    let db = Arc::new(TestDb::fresh());
    let app = spawn_app_on(db.clone(), &[]).await;
    let admin = app.admin_token().await;
    let mut earlier = Vec::new();
    for i in 0..8 {
        earlier.push(sign_up_named(&app, &format!("early{i}@example.com"), "Someone").await);
    }

    let sign_ups = join_all((0..16).map(|i| {
        let app = &app;
        async move {
            app.post_user(&json!({
                "email": format!("late{i}@example.com"),
                "name": "Someone",
                "password": crate::support::PASSWORD,
            }))
            .await
            .status()
        }
    }));
    let changes = join_all(earlier.iter().enumerate().map(|(i, id)| {
        let (app, admin) = (&app, &admin);
        let body = if i % 2 == 0 {
            json!({"is_active": false})
        } else {
            json!({"role": "admin"})
        };
        async move { patch(app, *id, admin, body).await.status() }
    }));
    let (sign_ups, changes) = tokio::join!(sign_ups, changes);

    assert!(
        sign_ups.iter().all(|s| *s == StatusCode::CREATED),
        "{sign_ups:?}"
    );
    assert!(changes.iter().all(|s| *s == StatusCode::OK), "{changes:?}");
    assert_eq!(totals(&app, &admin).await, counted(&db));
    assert_eq!(counted(&db)[..3], [25, 20, 5]);
}

/// A store at schema version 7 (before the counters and the search index)
/// with users in it, as that version left them.
fn version_7_with_users(users: &[(&str, &str, &str, bool)]) -> TestDb {
    let db = TestDb::fresh();
    let scripts: Vec<&str> = match backend() {
        Backend::Sqlite => vec![
            include_str!("../../../migrations/sqlite/0001_users.sql"),
            include_str!("../../../migrations/sqlite/0002_throttle_and_idempotency.sql"),
            include_str!("../../../migrations/sqlite/0003_events.sql"),
            include_str!("../../../migrations/sqlite/0005_idempotency_without_password.sql"),
            include_str!("../../../migrations/sqlite/0006_signup_allowances.sql"),
            include_str!("../../../migrations/sqlite/0007_mail.sql"),
            "PRAGMA user_version = 7;",
        ],
        Backend::Postgres => vec![
            include_str!("../../../migrations/postgres/0001_users.sql"),
            include_str!("../../../migrations/postgres/0002_throttle_and_idempotency.sql"),
            include_str!("../../../migrations/postgres/0003_events.sql"),
            include_str!("../../../migrations/postgres/0005_idempotency_without_password.sql"),
            include_str!("../../../migrations/postgres/0006_signup_allowances.sql"),
            include_str!("../../../migrations/postgres/0007_mail.sql"),
            "CREATE TABLE user_api_schema (version BIGINT NOT NULL);
             INSERT INTO user_api_schema (version) VALUES (7);",
        ],
    };
    for script in scripts {
        db.execute_script(script);
    }
    for (email, name, role, is_active) in users {
        let active = if *is_active { "TRUE" } else { "FALSE" };
        db.execute(&format!(
            "INSERT INTO users (email, name, name_lower, role, is_active, password_hash, created_at, updated_at)
             VALUES ('{email}', '{name}', '{}', '{role}', {active}, 'x', 1764979200, 1764979200)",
            user_api::domain::fold::fold(name)
        ));
    }
    db
}

#[tokio::test]
async fn a_store_made_before_migration_8_is_counted_and_searchable_after_it() {
    let db = Arc::new(version_7_with_users(&[
        ("ada@example.com", "Ada Lovelace", "user", true),
        ("grace@example.com", "Grace Hopper", "user", false),
        ("alan@example.com", "Alan Turing", "admin", true),
        ("edsger@example.com", "Edsger Dijkstra", "admin", false),
        ("barbara@example.com", "Barbara Liskov", "user", true),
    ]));

    let app = spawn_app_on(db.clone(), &[]).await;
    let admin = app.admin_token().await;
    let found = ids(list(&app, &admin, &[("q", "hopper")]).await).await;
    let by_email = ids(list(&app, &admin, &[("q", "dsger@ex")]).await).await;

    assert_eq!(totals(&app, &admin).await, counted(&db));
    assert_eq!(counted(&db)[..3], [6, 3, 3]);
    assert_eq!(found, [2]);
    assert_eq!(by_email, [4]);
}
