//! "Several instances share one database, and everything (uniqueness,
//! revocation, last-admin rule) holds across them": two real `user-api`
//! processes on one PostgreSQL database, as behind a load balancer.

use std::sync::{Arc, Barrier};
use std::thread;

use reqwest::blocking::Response;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::cli::{client, serve, sign_in, sign_up, Running};
use crate::support::TestDb;

const PASSWORD: &str = "tangerine submarine 1947";

/// Two processes on one fresh database; the database outlives them. Enough
/// hashing slots that 50 sign-ups at once on one instance all reach the
/// database instead of some getting the hashing queue's 503.
fn two_processes(db: &TestDb) -> (Running, Running, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let flags = [
        "--database-url",
        db.url.as_str(),
        "--signup-rate",
        "0",
        "--hash-concurrency",
        "64",
    ];
    let first = serve(&dir, &flags, &[]);
    let second = serve(&dir, &flags, &[]);
    (first, second, dir)
}

fn token(app: &Running, email: &str) -> String {
    let response = sign_in(app, email, PASSWORD);
    assert_eq!(response.status(), StatusCode::OK, "sign-in of {email}");
    response.json::<Value>().unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn user_id(app: &Running, email: &str) -> i64 {
    let created = sign_up(app, email, PASSWORD);
    assert_eq!(created.status(), StatusCode::CREATED, "sign-up of {email}");
    created.json::<Value>().unwrap()["id"].as_i64().unwrap()
}

fn get(app: &Running, path: &str, token: &str) -> Response {
    client()
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .unwrap()
}

fn patch(app: &Running, id: i64, token: &str, body: Value) -> Response {
    client()
        .patch(app.url(&format!("/users/{id}")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .unwrap()
}

fn make_admin(db: &TestDb, id: i64) {
    assert_eq!(
        db.execute(&format!(
            "UPDATE users SET role = 'admin', is_active = true WHERE id = {id}"
        )),
        1
    );
}

#[test]
fn a_token_issued_by_one_instance_works_on_the_other_and_its_revocation_is_seen_at_once() {
    let db = TestDb::fresh_postgres();
    let (first, second, _dir) = two_processes(&db);
    let id = user_id(&first, "ada@example.com");
    let token = token(&first, "ada@example.com");

    let me = get(&second, "/users/me", &token);
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(me.json::<Value>().unwrap()["id"], id);

    let revoked = client()
        .post(second.url("/token/revoke"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        get(&first, "/users/me", &token).status(),
        StatusCode::UNAUTHORIZED,
        "revoked on the second instance, refused on the first"
    );
}

#[test]
fn deactivation_deletion_and_role_changes_on_one_instance_take_effect_at_once_on_the_other() {
    let db = TestDb::fresh_postgres();
    let (first, second, _dir) = two_processes(&db);
    let admin_id = user_id(&first, "root@example.com");
    make_admin(&db, admin_id);
    let admin = token(&first, "root@example.com");
    let ada = user_id(&first, "ada@example.com");
    let ada_token = token(&first, "ada@example.com");
    let grace = user_id(&first, "grace@example.com");
    let grace_token = token(&first, "grace@example.com");

    // A role change: Ada's same token may list users on the other instance.
    assert_eq!(
        get(&second, "/users", &ada_token).status(),
        StatusCode::FORBIDDEN
    );
    let promoted = patch(&first, ada, &admin, json!({"role": "admin"}));
    assert_eq!(promoted.status(), StatusCode::OK);
    assert_eq!(get(&second, "/users", &ada_token).status(), StatusCode::OK);

    // Deactivation on the second instance ends Ada's token on the first.
    let deactivated = patch(&second, ada, &admin, json!({"is_active": false}));
    assert_eq!(deactivated.status(), StatusCode::OK);
    assert_eq!(
        get(&first, "/users/me", &ada_token).status(),
        StatusCode::UNAUTHORIZED
    );

    // Deletion on the first instance ends Grace's token on the second.
    assert_eq!(
        get(&second, "/users/me", &grace_token).status(),
        StatusCode::OK
    );
    let deleted = client()
        .delete(first.url(&format!("/users/{grace}")))
        .bearer_auth(&admin)
        .send()
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        get(&second, "/users/me", &grace_token).status(),
        StatusCode::UNAUTHORIZED
    );
}

#[test]
fn one_hundred_parallel_sign_ups_of_one_email_in_many_cases_over_two_instances_create_one_user() {
    let db = TestDb::fresh_postgres();
    let (first, second, _dir) = two_processes(&db);
    let instances = Arc::new([first.url("/users"), second.url("/users")]);
    let start = Arc::new(Barrier::new(100));
    let racers: Vec<_> = (0..100)
        .map(|i| {
            let instances = instances.clone();
            let start = start.clone();
            thread::spawn(move || {
                let email = match i % 4 {
                    0 => "ada@example.com",
                    1 => "ADA@example.com",
                    2 => "Ada@Example.COM",
                    _ => "  ada@EXAMPLE.com ",
                };
                start.wait();
                let response = client()
                    .post(&instances[i % 2])
                    .json(&json!({"email": email, "name": "Ada", "password": PASSWORD}))
                    .send()
                    .unwrap();
                let status = response.status();
                let body: Value = response.json().unwrap();
                (status, body)
            })
        })
        .collect();
    let outcomes: Vec<(StatusCode, Value)> =
        racers.into_iter().map(|r| r.join().unwrap()).collect();

    let created = outcomes
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1, "{outcomes:?}");
    for (status, body) in outcomes.iter().filter(|(s, _)| *s != StatusCode::CREATED) {
        assert_eq!(*status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["detail"], "Email already registered");
    }
    assert_eq!(
        db.query_i64("SELECT count(*) FROM users WHERE email = 'ada@example.com'"),
        1
    );
}

#[test]
fn two_admins_demoting_themselves_at_once_on_two_instances_never_leave_no_admin() {
    let db = TestDb::fresh_postgres();
    let (first, second, _dir) = two_processes(&db);
    let a = user_id(&first, "a@example.com");
    let b = user_id(&first, "b@example.com");
    // Enough rounds that the two requests overlap in the database.
    for round in 0..15 {
        make_admin(&db, a);
        make_admin(&db, b);
        let a_token = token(&first, "a@example.com");
        let b_token = token(&second, "b@example.com");
        let start = Arc::new(Barrier::new(2));
        let (first_url, second_url) = (first.url(""), second.url(""));
        let demote = |base: String, id: i64, token: String, start: Arc<Barrier>| {
            thread::spawn(move || {
                let request = client()
                    .patch(format!("{base}/users/{id}"))
                    .bearer_auth(token)
                    .json(&json!({"role": "user"}));
                start.wait();
                request.send().unwrap().status()
            })
        };
        let on_first = demote(first_url, a, a_token, start.clone());
        let on_second = demote(second_url, b, b_token, start);
        let mut statuses = [on_first.join().unwrap(), on_second.join().unwrap()];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::CONFLICT],
            "round {round}: one demotion wins, the other would leave no admin"
        );
        assert_eq!(
            db.query_i64("SELECT count(*) FROM users WHERE role = 'admin' AND is_active"),
            1,
            "round {round}"
        );
    }
}

#[test]
fn failed_sign_ins_on_two_instances_count_against_one_account() {
    let db = TestDb::fresh_postgres();
    let (first, second, _dir) = two_processes(&db);
    user_id(&first, "ada@example.com");
    // Five failures (the default), alternating between the instances.
    for attempt in 0..5 {
        let app = if attempt % 2 == 0 { &first } else { &second };
        assert_eq!(
            sign_in(app, "ADA@example.com", "not the password at all").status(),
            StatusCode::BAD_REQUEST
        );
    }
    for app in [&first, &second] {
        let throttled = sign_in(app, "ada@example.com", PASSWORD);
        assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(throttled.headers().contains_key("retry-after"));
    }
}

#[test]
fn the_sign_up_rate_of_one_address_holds_across_two_instances() {
    let db = TestDb::fresh_postgres();
    let dir = tempfile::tempdir().unwrap();
    let flags = ["--database-url", db.url.as_str(), "--signup-rate", "3"];
    let first = serve(&dir, &flags, &[]);
    let second = serve(&dir, &flags, &[]);
    // Three sign-ups from 127.0.0.1, alternating instances: all taken.
    for (n, app) in [&first, &second, &first].into_iter().enumerate() {
        let email = format!("user{n}@example.com");
        assert_eq!(sign_up(app, &email, PASSWORD).status(), StatusCode::CREATED);
    }
    // The fourth, on either instance, finds the allowance used up.
    for app in [&second, &first] {
        let refused = sign_up(app, "user9@example.com", PASSWORD);
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        let wait: u64 = refused.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=20).contains(&wait), "one in 20 s comes back: {wait}");
    }
    assert_eq!(db.query_i64("SELECT count(*) FROM users"), 3);
    assert_eq!(
        db.query_i64("SELECT count(*) FROM signup_allowances"),
        1,
        "one row for the address"
    );
}
