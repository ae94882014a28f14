//! `GET /users` during concurrent sign-ups: every page agrees with its
//! `X-Total-Count` and its `Link`, and no user vanishes.

use std::collections::{BTreeMap, HashSet};

use futures_util::future::join_all;
use reqwest::header::LINK;
use reqwest::{Response, StatusCode};

use super::{all_at_once, get, header, ids_of, sign_up, status_counts, total_count, MANY_HASHES};
use crate::support::{spawn_app_with, TestApp};

/// `GET /users` as the admin, once per limit given, one after another.
async fn list_repeatedly(app: &TestApp, admin: &str, limits: &[u32]) -> Vec<Response> {
    let mut responses = Vec::new();
    for limit in limits {
        let request = get(app, &format!("/users?limit={limit}"), admin);
        responses.push(request.send().await.unwrap());
    }
    responses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_during_twenty_concurrent_sign_ups_is_consistent_with_x_total_count() {
    let app = spawn_app_with(&MANY_HASHES).await;
    let admin = app.admin_token().await;
    let limits = [100, 5, 100, 5, 100, 5, 100, 5, 100, 5];

    let sign_ups = all_at_once((0..20).map(|i| sign_up(&app, &format!("u{i}@example.com")).send()));
    let (sign_ups, listings) = tokio::join!(
        sign_ups,
        join_all((0..4).map(|_| list_repeatedly(&app, &admin, &limits)))
    );

    let sign_ups: Vec<Response> = sign_ups.into_iter().map(|r| r.unwrap()).collect();
    assert_eq!(status_counts(&sign_ups), BTreeMap::from([(201, 20)]));
    for (lister, responses) in listings.into_iter().enumerate() {
        let mut last_total = 0;
        let mut last_full: HashSet<i64> = HashSet::new();
        for (response, limit) in responses.into_iter().zip(limits) {
            assert_eq!(response.status(), StatusCode::OK, "lister {lister}");
            let total = total_count(&response);
            let has_next = header(&response, LINK).is_some();
            let ids = ids_of(&response.json().await.unwrap());
            let context = format!("lister {lister}, limit {limit}, total {total}, ids {ids:?}");
            assert!((1..=21).contains(&total), "{context}");
            assert!(total >= last_total, "X-Total-Count went back: {context}");
            assert!(ids.windows(2).all(|w| w[0] < w[1]), "{context}");
            assert_eq!(ids.len() as u64, total.min(limit.into()), "{context}");
            assert_eq!(has_next, total > limit.into(), "Link next: {context}");
            if limit == 100 {
                let full: HashSet<i64> = ids.into_iter().collect();
                assert!(full.is_superset(&last_full), "a user vanished: {context}");
                last_full = full;
            }
            last_total = total;
        }
    }
    let after = get(&app, "/users?limit=100", &admin).send().await.unwrap();
    assert_eq!(total_count(&after), 21, "twenty users and the admin");
    app.stop().await;
}
