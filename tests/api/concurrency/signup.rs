//! `POST /users` racing: sign-ups of distinct emails all succeed with distinct
//! ids, and one `Idempotency-Key` creates one user.

use std::collections::{BTreeMap, HashSet};

use reqwest::header::LOCATION;
use reqwest::StatusCode;
use serde_json::Value;

use super::{get, header, ids_of, send_all, sign_up, status_counts, total_count, MANY_HASHES};
use crate::support::spawn_app_with;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_concurrent_sign_ups_of_distinct_emails_are_all_201_with_distinct_ids() {
    let app = spawn_app_with(&MANY_HASHES).await;
    let emails: Vec<String> = (0..30).map(|i| format!("user{i}@example.com")).collect();

    let responses = send_all(emails.iter().map(|email| sign_up(&app, email))).await;

    assert_eq!(status_counts(&responses), BTreeMap::from([(201, 30)]));
    let mut ids = HashSet::new();
    for (response, email) in responses.into_iter().zip(&emails) {
        let location = header(&response, LOCATION).expect("Location header");
        let user: Value = response.json().await.unwrap();
        assert_eq!(user["email"], email.as_str());
        let id = user["id"].as_i64().unwrap();
        assert_eq!(location, format!("/users/{id}"));
        assert!(ids.insert(id), "id {id} given twice");
    }
    let admin = app.admin_token().await;
    let listed = get(&app, "/users?limit=100&role=user", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), StatusCode::OK);
    assert_eq!(total_count(&listed), 30);
    let listed: HashSet<i64> = ids_of(&listed.json().await.unwrap()).into_iter().collect();
    assert_eq!(listed, ids);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sign_ups_with_one_idempotency_key_create_one_user() {
    let app = spawn_app_with(&MANY_HASHES).await;

    let responses = send_all(
        (0..10).map(|_| sign_up(&app, "ada@example.com").header("idempotency-key", "signup-1")),
    )
    .await;

    // A retry that finds the first request finished gets its response; one
    // that finds it still running gets 409. Nothing else, and one user.
    let counts = status_counts(&responses);
    assert!(
        counts.keys().all(|s| [201, 409].contains(s)) && counts.contains_key(&201),
        "each answer is 201 or 409, at least one 201; got {counts:?}"
    );
    let mut created = HashSet::new();
    for response in responses {
        if response.status() == StatusCode::CREATED {
            created.insert(response.json::<Value>().await.unwrap()["id"].clone());
        }
    }
    assert_eq!(created.len(), 1, "every 201 is the first response");
    let admin = app.admin_token().await;
    let listed = get(&app, "/users?q=ada%40example.com", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(total_count(&listed), 1);
    app.stop().await;
}
