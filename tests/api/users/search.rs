//! `q` through the trigram index (migration 8: SQLite FTS5 `trigram`,
//! PostgreSQL `pg_trgm`) answers exactly what the contract's rule does — a
//! literal substring of the email or the name, both folded by the service
//! — on input that trips up indexes and query languages: `%`, `_`, `\`,
//! quotes, Unicode beyond ASCII, emoji, combining marks, 1- and
//! 2-character queries (which no trigram index can answer: a scan), a
//! whole email. The expected answer is computed here from the users as
//! created, with the service's own folding (`domain::fold`), never by the
//! store.

use reqwest::StatusCode;
use serde_json::{json, Value};
use user_api::domain::fold::fold;

use super::{ids, list, patch, sign_up_named};
use crate::support::{backend, spawn_app, Backend, TestApp};

/// Emails and names chosen so that a wildcard, a query-syntax character or
/// a second folding by the database would change what matches.
const USERS: &[(&str, &str)] = &[
    ("ada+tag@example.com", "Ada Lovelace"),
    ("o'brien@example.com", "Bob \"The Builder\" O'Brien"),
    ("sale@example.com", "Sale 50% off"),
    ("sale2@example.com", "Sale 500 off"),
    ("snake@example.com", "snake_case name"),
    ("snakex@example.com", "snakeXcase name"),
    ("slash@example.com", "back\\slash and a\\b"),
    ("apfel@example.com", "Äpfel Straße"),
    ("strasse@example.com", "STRASSE Mann"),
    ("ärger@bücher.example", "Jürgen Weiß"),
    ("rocket@example.com", "Rocket 🚀 Man"),
    ("family@example.com", "Family 👨‍👩‍👧 Trip"),
    ("dot@example.com", "Taq\u{0307}i with a dot above"),
    ("kostas@example.com", "Κώστας Ιωάννου"),
    ("yamada@example.com", "山田太郎"),
    ("percent@example.com", "100%_sure"),
    ("quote@example.com", "say \"\"hi\"\" twice"),
];

/// Queries for `USERS`: every tricky class above, and lengths 1, 2, 3 and
/// more (below 3 the store scans; from 3 it asks the index).
const QUERIES: &[&str] = &[
    "%",
    "_",
    "50%",
    "0%",
    "%_",
    "e_c",
    "_case",
    "\\",
    "k\\s",
    "a\\b",
    "'",
    "o'b",
    "\"",
    "\"the",
    "\"\"hi\"\"",
    "\"\"",
    "ä",
    "Äpf",
    "ÄPFEL",
    "ß",
    "straße",
    "STRASSE",
    "weiß",
    "bücher",
    "ÄRGER@",
    "🚀",
    "t 🚀",
    "🚀 m",
    "👩‍👧",
    "\u{0307}",
    "q\u{0307}",
    "aq\u{0307}i",
    "ΚΏΣΤΑΣ",
    "στας",
    "山田",
    "山田太",
    "a",
    "ad",
    "ada",
    "ada+tag@example.com",
    "o'brien@example.com",
    "@example.com",
    "example",
    "nobody-has-this",
];

/// The users whose email or name contains `q`, both folded by the
/// service's rule: the contract, written out.
fn expected(users: &[(i64, String, String)], q: &str) -> Vec<i64> {
    let q = fold(q);
    users
        .iter()
        .filter(|(_, email, name)| email.contains(&q) || fold(name).contains(&q))
        .map(|(id, _, _)| *id)
        .collect()
}

/// Signs up `USERS`; returns each as `(id, stored email, name)`.
async fn seed(app: &TestApp, admin: &str) -> Vec<(i64, String, String)> {
    let mut users = Vec::new();
    for (email, name) in USERS {
        let id = sign_up_named(app, email, name).await;
        let stored: Value = app
            .get(&format!("/users/{id}"), admin)
            .await
            .json()
            .await
            .unwrap();
        users.push((
            id,
            stored["email"].as_str().unwrap().to_owned(),
            (*name).to_owned(),
        ));
    }
    users
}

fn total(response: &reqwest::Response) -> u64 {
    response.headers()["x-total-count"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn q_finds_exactly_the_users_whose_email_or_name_contains_it_on_tricky_input() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let mut users = seed(&app, &admin).await;
    // The admin is a user too: `root@example.com`, named "Admin".
    let me: Value = app.get("/users/me", &admin).await.json().await.unwrap();
    users.push((
        me["id"].as_i64().unwrap(),
        me["email"].as_str().unwrap().to_owned(),
        me["name"].as_str().unwrap().to_owned(),
    ));
    users.sort_by_key(|u| u.0);

    let mut answered = Vec::new();
    let mut wanted = Vec::new();
    for q in QUERIES {
        let response = list(&app, &admin, &[("q", q), ("limit", "100")]).await;
        assert_eq!(response.status(), StatusCode::OK, "q={q:?}");
        let count = total(&response);
        answered.push((*q, count, ids(response).await));
        let matches = expected(&users, q);
        wanted.push((*q, matches.len() as u64, matches));
    }

    assert_eq!(answered, wanted);
    // The queries are worth asking: most match someone, few everyone.
    let matching = wanted.iter().filter(|(_, n, _)| *n > 0).count();
    assert!(matching > QUERIES.len() * 3 / 4, "{wanted:?}");
}

#[tokio::test]
async fn q_with_filters_counts_and_pages_the_filtered_matches_only() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let mut blue = Vec::new();
    for i in 0..7 {
        blue.push(sign_up_named(&app, &format!("blue{i}@example.com"), "Blue Team").await);
    }
    sign_up_named(&app, "red@example.com", "Red Team").await;
    for id in [blue[1], blue[4], blue[5]] {
        let response = patch(&app, id, &admin, json!({"is_active": false})).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let response = patch(&app, blue[5], &admin, json!({"role": "admin"})).await;
    assert_eq!(response.status(), StatusCode::OK);

    // Page by page, two at a time, through the `Link` cursor's `after_id`.
    let mut seen = Vec::new();
    let mut totals = Vec::new();
    let mut after = "0".to_owned();
    loop {
        let query = [
            ("q", "BLUE"),
            ("is_active", "true"),
            ("role", "user"),
            ("limit", "2"),
            ("after_id", after.as_str()),
        ];
        let response = list(&app, &admin, &query).await;
        assert_eq!(response.status(), StatusCode::OK);
        totals.push(total(&response));
        let page = ids(response).await;
        match page.last() {
            Some(last) => after = last.to_string(),
            None => break,
        }
        seen.extend(page);
    }
    let inactive = list(&app, &admin, &[("q", "blue"), ("is_active", "false")]).await;
    let inactive_total = total(&inactive);
    let inactive_ids = ids(inactive).await;
    let admins = list(&app, &admin, &[("q", "blue"), ("role", "admin")]).await;

    assert_eq!(seen, [blue[0], blue[2], blue[3], blue[6]]);
    assert_eq!(totals, [4, 4, 4]);
    assert_eq!(inactive_total, 3);
    assert_eq!(inactive_ids, [blue[1], blue[4], blue[5]]);
    assert_eq!(ids(admins).await, [blue[5]]);
}

#[tokio::test]
async fn q_follows_a_changed_name_or_email_and_forgets_a_deleted_user() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let ada = sign_up_named(&app, "ada@example.com", "Ada Lovelace").await;
    let grace = sign_up_named(&app, "grace@example.com", "Grace Hopper").await;
    let renamed = patch(&app, ada, &admin, json!({"name": "Augusta King"})).await;
    assert_eq!(renamed.status(), StatusCode::OK);
    let moved = patch(
        &app,
        grace,
        &admin,
        json!({"email": "amazing@navy.example"}),
    )
    .await;
    assert_eq!(moved.status(), StatusCode::OK);

    let old_name = ids(list(&app, &admin, &[("q", "lovelace")]).await).await;
    let new_name = ids(list(&app, &admin, &[("q", "augusta")]).await).await;
    let old_email = ids(list(&app, &admin, &[("q", "grace@")]).await).await;
    let new_email = ids(list(&app, &admin, &[("q", "navy.exa")]).await).await;
    let deleted = super::delete(&app, grace, &admin, None).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let after_delete = list(&app, &admin, &[("q", "hopper")]).await;

    assert_eq!(old_name, Vec::<i64>::new());
    assert_eq!(new_name, [ada]);
    assert_eq!(old_email, Vec::<i64>::new());
    assert_eq!(new_email, [grace]);
    assert_eq!(total(&after_delete), 0);
    assert_eq!(ids(after_delete).await, Vec::<i64>::new());
    if backend() == Backend::Sqlite {
        // FTS5 checks its index against `users`: it fails if a trigger
        // indexed something else than the rows hold.
        app.db
            .execute("INSERT INTO users_search (users_search) VALUES ('integrity-check')");
    }
}

#[tokio::test]
async fn q_with_a_nul_character_matches_no_one_and_is_no_error() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    sign_up_named(&app, "ada@example.com", "Ada Lovelace").await;

    let response = list(&app, &admin, &[("q", "ada\u{0}")]).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(total(&response), 0);
    assert_eq!(ids(response).await, Vec::<i64>::new());
}

#[tokio::test]
async fn an_empty_q_matches_everyone() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    sign_up_named(&app, "ada@example.com", "Ada Lovelace").await;
    sign_up_named(&app, "grace@example.com", "Grace Hopper").await;

    let response = list(&app, &admin, &[("q", "")]).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(total(&response), 3, "two users and the admin");
    assert_eq!(ids(response).await.len(), 3);
}

#[tokio::test]
async fn an_imported_user_is_found_by_q_folded_as_a_signed_up_one() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("users.jsonl");
    // Fullwidth letters: NFKC makes them ASCII, lower-casing alone does not.
    std::fs::write(
        &file,
        format!(
            "{}\n",
            json!({"email": "imported@example.com", "name": "ＡＤＡ Ｋｉｎｇ"})
        ),
    )
    .unwrap();
    let imported = crate::cli::run_to_exit(
        &[
            "users",
            "import",
            "--database-url",
            &app.db.url,
            "--format",
            "user-api",
            "--from",
            file.to_str().unwrap(),
        ],
        &[],
        dir.path(),
        None,
    );
    assert!(imported.status.success(), "{imported:?}");

    let by_ascii = list(&app, &admin, &[("q", "ada k")]).await;
    let by_fullwidth = list(&app, &admin, &[("q", "ａｄａ ｋ")]).await;

    assert_eq!(total(&by_ascii), 1);
    assert_eq!(total(&by_fullwidth), 1);
}
