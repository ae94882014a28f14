//! `GET /users` page by page: ordered by id, ten by default, `skip`/`limit` and
//! `after_id` windows, `X-Total-Count` counting every match, and a
//! `Link: rel="next"` that keeps the filters until the last page.

use std::collections::HashMap;

use reqwest::header::LINK;
use reqwest::{Response, StatusCode, Url};
use serde_json::{json, Value};

use super::{header, id_of, ids, list, patch, sign_up_named};
use crate::support::{spawn_app, TestApp};

fn total_count(response: &Response) -> u64 {
    header(response, "x-total-count")
        .expect("X-Total-Count header")
        .parse()
        .unwrap()
}

/// The target of `Link: <…>; rel="next"`, if there is one.
fn next_link(response: &Response) -> Option<String> {
    let link = header(response, LINK)?;
    link.split(',').find_map(|part| {
        let (target, params) = part.trim().strip_prefix('<')?.split_once('>')?;
        params
            .split(';')
            .any(|p| p.trim() == "rel=\"next\"")
            .then(|| target.to_owned())
    })
}

/// The query parameters of a link target, decoded.
fn query_of(app: &TestApp, target: &str) -> HashMap<String, String> {
    let url = Url::parse(&app.url("/")).unwrap().join(target).unwrap();
    url.query_pairs().into_owned().collect()
}

#[tokio::test]
async fn list_is_a_json_array_ordered_by_id() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let mut created = vec![id_of(&app, &admin).await];
    for name in ["zed", "amy", "mo"] {
        created.push(sign_up_named(&app, &format!("{name}@example.com"), name).await);
    }

    let response = list(&app, &admin, &[("limit", "100")]).await;

    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let listed: Vec<i64> = body
        .as_array()
        .expect("a JSON array")
        .iter()
        .map(|u| u["id"].as_i64().unwrap())
        .collect();
    created.sort_unstable();
    assert_eq!(listed, created);
}

#[tokio::test]
async fn list_returns_ten_users_by_default() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    for i in 0..11 {
        sign_up_named(&app, &format!("u{i}@example.com"), "Someone").await;
    }

    let response = list(&app, &admin, &[]).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(ids(response).await.len(), 10);
}

#[tokio::test]
async fn x_total_count_is_the_number_of_users_not_the_page_size() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    for i in 0..6 {
        sign_up_named(&app, &format!("u{i}@example.com"), "Someone").await;
    }

    let response = list(&app, &admin, &[("limit", "2")]).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(total_count(&response), 7, "six users and the admin");
    assert_eq!(ids(response).await.len(), 2);
}

#[tokio::test]
async fn x_total_count_counts_the_matches_after_the_filters() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    for i in 0..5 {
        sign_up_named(&app, &format!("blue{i}@example.com"), "Blue Team").await;
    }
    for i in 0..3 {
        sign_up_named(&app, &format!("red{i}@example.com"), "Red Team").await;
    }

    let response = list(&app, &admin, &[("q", "blue"), ("limit", "2")]).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(total_count(&response), 5);
}

#[tokio::test]
async fn skip_and_limit_return_that_window_of_users() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    for i in 0..6 {
        sign_up_named(&app, &format!("u{i}@example.com"), "Someone").await;
    }
    let all = ids(list(&app, &admin, &[("limit", "100")]).await).await;

    let response = list(&app, &admin, &[("skip", "2"), ("limit", "3")]).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(ids(response).await, all[2..5]);
}

#[tokio::test]
async fn after_id_returns_the_users_after_that_id() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    for i in 0..6 {
        sign_up_named(&app, &format!("u{i}@example.com"), "Someone").await;
    }
    let all = ids(list(&app, &admin, &[("limit", "100")]).await).await;
    let after = all[2].to_string();

    let response = list(&app, &admin, &[("after_id", &after), ("limit", "3")]).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(ids(response).await, all[3..6]);
}

#[tokio::test]
async fn link_next_carries_after_id_limit_and_the_same_filters() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    for i in 0..4 {
        sign_up_named(&app, &format!("blue{i}@example.com"), "Blue Team").await;
    }

    let response = list(
        &app,
        &admin,
        &[
            ("q", "blue team"),
            ("is_active", "true"),
            ("role", "user"),
            ("limit", "2"),
        ],
    )
    .await;

    assert_eq!(response.status(), StatusCode::OK);
    let target = next_link(&response).expect("a Link rel=\"next\" header");
    let page = ids(response).await;
    let query = query_of(&app, &target);
    assert_eq!(
        query.get("after_id"),
        Some(&page[1].to_string()),
        "{target}"
    );
    assert_eq!(
        query.get("limit").map(String::as_str),
        Some("2"),
        "{target}"
    );
    assert_eq!(
        query.get("q").map(String::as_str),
        Some("blue team"),
        "{target}"
    );
    assert_eq!(
        query.get("is_active").map(String::as_str),
        Some("true"),
        "{target}"
    );
    assert_eq!(
        query.get("role").map(String::as_str),
        Some("user"),
        "{target}"
    );
}

#[tokio::test]
async fn following_link_next_yields_the_next_pages_of_the_same_filtered_list() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let mut blue = Vec::new();
    for i in 0..7 {
        blue.push(sign_up_named(&app, &format!("blue{i}@example.com"), "Blue Team").await);
        sign_up_named(&app, &format!("red{i}@example.com"), "Red Team").await;
    }
    // One blue user inactive and one an admin: the filters must drop both
    // on every page, not only the first.
    let deactivated = patch(&app, blue[2], &admin, json!({"is_active": false})).await;
    assert_eq!(deactivated.status(), StatusCode::OK);
    let promoted = patch(&app, blue[4], &admin, json!({"role": "admin"})).await;
    assert_eq!(promoted.status(), StatusCode::OK);
    let expected: Vec<i64> = blue
        .iter()
        .copied()
        .filter(|id| *id != blue[2] && *id != blue[4])
        .collect();

    let first = list(
        &app,
        &admin,
        &[
            ("q", "blue team"),
            ("is_active", "true"),
            ("role", "user"),
            ("limit", "2"),
        ],
    )
    .await;
    assert_eq!(first.status(), StatusCode::OK);
    let mut link = next_link(&first);
    let mut seen = ids(first).await;
    let mut pages = 1;
    while let Some(target) = link {
        pages += 1;
        assert!(pages <= expected.len(), "Link next never ends: {target}");
        let page = app.get(&target, &admin).await;
        assert_eq!(page.status(), StatusCode::OK, "{target}");
        link = next_link(&page);
        seen.extend(ids(page).await);
    }

    assert_eq!(seen, expected);
    assert_eq!(pages, 3, "five matches, two a page");
}

#[tokio::test]
async fn the_last_page_has_no_next_link() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    for i in 0..3 {
        sign_up_named(&app, &format!("u{i}@example.com"), "Someone").await;
    }
    // Four users, two a page: the second page is full and the last.
    let first = list(&app, &admin, &[("limit", "2")]).await;
    let target = next_link(&first).expect("the first page links to the next");

    let last = app.get(&target, &admin).await;

    assert_eq!(last.status(), StatusCode::OK);
    assert_eq!(next_link(&last), None);
    assert_eq!(ids(last).await.len(), 2);
}
