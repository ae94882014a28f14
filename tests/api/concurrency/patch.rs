//! `PATCH /users/{id}` racing: one `If-Match` lets exactly one change through,
//! one email goes to exactly one user, and two admins deactivating or demoting
//! at once leave one active admin.

use std::collections::BTreeMap;

use reqwest::header::IF_MATCH;
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{etag, get, ids_of, patch, send_all, status_counts, total_count, two_admins};
use crate::support::{problem, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_patches_with_one_if_match_are_one_200_and_nineteen_412() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;
    let tag = etag(&app.get(&format!("/users/{id}"), &token).await);

    let responses = send_all((0..20).map(|i| {
        patch(&app, id, &token, json!({"name": format!("Name {i}")})).header(IF_MATCH, &tag)
    }))
    .await;

    assert_eq!(
        status_counts(&responses),
        BTreeMap::from([(200, 1), (412, 19)])
    );
    let mut winner = None;
    for (i, response) in responses.into_iter().enumerate() {
        if response.status() == StatusCode::OK {
            winner = Some((i, etag(&response)));
        } else {
            assert_eq!(problem(response).await["status"], 412);
        }
    }
    let (winner, winner_tag) = winner.unwrap();
    let now = app.get(&format!("/users/{id}"), &token).await;
    assert_eq!(etag(&now), winner_tag);
    assert_eq!(
        now.json::<Value>().await.unwrap()["name"],
        format!("Name {winner}")
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_patches_of_twenty_users_to_one_email_are_one_200_and_nineteen_400() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let mut ids = Vec::new();
    for i in 0..20 {
        ids.push(
            app.sign_up(&format!("u{i}@example.com")).await["id"]
                .as_i64()
                .unwrap(),
        );
    }

    let responses = send_all(
        ids.iter()
            .map(|id| patch(&app, *id, &admin, json!({"email": "taken@example.com"}))),
    )
    .await;

    assert_eq!(
        status_counts(&responses),
        BTreeMap::from([(200, 1), (400, 19)])
    );
    for response in responses {
        if response.status() == StatusCode::BAD_REQUEST {
            assert_eq!(
                problem(response).await["detail"],
                "Email already registered"
            );
        }
    }
    let listed = get(&app, "/users?q=taken%40example.com", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(total_count(&listed), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_admins_deactivating_themselves_at_once_are_one_200_and_one_409() {
    let app = spawn_app().await;
    let (first, first_token, second, second_token) = two_admins(&app).await;

    let responses = send_all([
        patch(&app, first, &first_token, json!({"is_active": false})),
        patch(&app, second, &second_token, json!({"is_active": false})),
    ])
    .await;

    assert_eq!(
        status_counts(&responses),
        BTreeMap::from([(200, 1), (409, 1)])
    );
    let (survivor, token) = if responses[0].status() == StatusCode::CONFLICT {
        (first, first_token)
    } else {
        (second, second_token)
    };
    let admins = get(&app, "/users?role=admin&is_active=true", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(admins.status(), StatusCode::OK);
    assert_eq!(total_count(&admins), 1);
    assert_eq!(ids_of(&admins.json().await.unwrap()), [survivor]);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_admins_demoting_each_other_at_once_leave_exactly_one_active_admin() {
    let app = spawn_app().await;
    let (first, first_token, second, second_token) = two_admins(&app).await;

    let responses = send_all([
        patch(&app, second, &first_token, json!({"role": "user"})),
        patch(&app, first, &second_token, json!({"role": "user"})),
    ])
    .await;

    // The loser is refused by the last-admin rule (409), or, when its
    // request starts after its own demotion, no longer sees the other (404).
    let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    assert!(
        matches!(statuses[..], [200, 409 | 404] | [409 | 404, 200]),
        "one demotion succeeds, got {statuses:?}"
    );
    let (survivor, token) = if statuses[0] == 200 {
        (first, first_token)
    } else {
        (second, second_token)
    };
    let admins = get(&app, "/users?role=admin&is_active=true", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(admins.status(), StatusCode::OK);
    assert_eq!(total_count(&admins), 1);
    assert_eq!(ids_of(&admins.json().await.unwrap()), [survivor]);
    app.stop().await;
}
