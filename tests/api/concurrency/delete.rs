//! `DELETE /users/{id}` racing: one delete of a user wins, and two admins
//! deleting each other leave one admin.

use std::collections::BTreeMap;

use reqwest::{RequestBuilder, StatusCode};

use super::{get, ids_of, send_all, status_counts, total_count, two_admins};
use crate::support::{problem, spawn_app, TestApp};

fn delete(app: &TestApp, id: i64, token: &str) -> RequestBuilder {
    app.client
        .delete(app.url(&format!("/users/{id}")))
        .bearer_auth(token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_concurrent_deletes_of_one_user_are_one_204_and_nine_404() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, token) = app.user_with_token("ada@example.com").await;

    let responses = send_all((0..10).map(|_| delete(&app, id, &admin))).await;

    assert_eq!(
        status_counts(&responses),
        BTreeMap::from([(204, 1), (404, 9)])
    );
    for response in responses {
        if response.status() == StatusCode::NOT_FOUND {
            assert_eq!(problem(response).await["status"], 404);
        }
    }
    let gone = app.get(&format!("/users/{id}"), &admin).await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    let ended = app.get("/users/me", &token).await;
    assert_eq!(ended.status(), StatusCode::UNAUTHORIZED);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_admins_deleting_each_other_at_once_leave_exactly_one_admin() {
    let app = spawn_app().await;
    let (first, first_token, second, second_token) = two_admins(&app).await;

    let responses = send_all([
        delete(&app, second, &first_token),
        delete(&app, first, &second_token),
    ])
    .await;

    // The loser is refused by the last-admin rule (409), or, when its
    // request starts after it was deleted, its token has ended (401).
    let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    assert!(
        matches!(statuses[..], [204, 409 | 401] | [409 | 401, 204]),
        "one deletion succeeds, got {statuses:?}"
    );
    let (survivor, token) = if statuses[0] == 204 {
        (first, first_token)
    } else {
        (second, second_token)
    };
    let admins = get(&app, "/users?role=admin", &token).send().await.unwrap();
    assert_eq!(admins.status(), StatusCode::OK);
    assert_eq!(total_count(&admins), 1);
    assert_eq!(ids_of(&admins.json().await.unwrap()), [survivor]);
    app.stop().await;
}
