//! `/users`, `/users/me` and `/users/{id}`: reading, listing, changing and
//! deleting users; `ETag`/`If-Match`; the last-admin rule; when role and
//! activity changes take effect. Who may do what is `authorization.rs`.
//!
//! Longer than 400 lines on purpose: `main.rs` has one module per contract
//! area, and this is the whole of the user resource. Sections follow the
//! contract's order.

use std::collections::HashMap;

use reqwest::header::{ETAG, IF_MATCH, LINK, WWW_AUTHENTICATE};
use reqwest::{Response, StatusCode, Url};
use serde_json::{json, Value};

use crate::support::{problem, spawn_app, TestApp, ADMIN_PASSWORD, PASSWORD};

// ---------------------------------------------------------------------------
// Helpers: they send requests and return responses; the tests assert.

/// Signs up `email` with `name`; returns the new id (setup, so 201 is
/// required).
async fn sign_up_named(app: &TestApp, email: &str, name: &str) -> i64 {
    let response = app
        .post_user(&json!({"email": email, "name": name, "password": PASSWORD}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED, "sign-up of {email}");
    response.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap()
}

/// `GET /users` with these query parameters (encoded by the client).
async fn list(app: &TestApp, token: &str, query: &[(&str, &str)]) -> Response {
    app.client
        .get(app.url("/users"))
        .query(query)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn patch(app: &TestApp, id: i64, token: &str, body: Value) -> Response {
    patch_if_match(app, id, token, None, body).await
}

async fn patch_if_match(
    app: &TestApp,
    id: i64,
    token: &str,
    if_match: Option<&str>,
    body: Value,
) -> Response {
    let mut request = app
        .client
        .patch(app.url(&format!("/users/{id}")))
        .bearer_auth(token)
        .json(&body);
    if let Some(tag) = if_match {
        request = request.header(IF_MATCH, tag);
    }
    request.send().await.unwrap()
}

async fn delete(app: &TestApp, id: i64, token: &str, if_match: Option<&str>) -> Response {
    let mut request = app
        .client
        .delete(app.url(&format!("/users/{id}")))
        .bearer_auth(token);
    if let Some(tag) = if_match {
        request = request.header(IF_MATCH, tag);
    }
    request.send().await.unwrap()
}

/// The id of the token's holder, from `GET /users/me`.
async fn id_of(app: &TestApp, token: &str) -> i64 {
    let me: Value = app.get("/users/me", token).await.json().await.unwrap();
    me["id"].as_i64().unwrap()
}

async fn user(app: &TestApp, id: i64, token: &str) -> Value {
    app.get(&format!("/users/{id}"), token)
        .await
        .json()
        .await
        .unwrap()
}

async fn ids(response: Response) -> Vec<i64> {
    let users: Vec<Value> = response.json().await.unwrap();
    users.iter().map(|u| u["id"].as_i64().unwrap()).collect()
}

fn header(response: &Response, name: impl reqwest::header::AsHeaderName) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

fn etag(response: &Response) -> String {
    header(response, ETAG).expect("ETag header")
}

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

// ---------------------------------------------------------------------------
// Reading

#[tokio::test]
async fn get_me_returns_the_caller() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;
    app.user_with_token("grace@example.com").await;

    let response = app.get("/users/me", &token).await;

    assert_eq!(response.status(), StatusCode::OK);
    let me: Value = response.json().await.unwrap();
    assert_eq!(me["id"], id);
    assert_eq!(me["email"], "ada@example.com");
    assert_eq!(me["role"], "user");
    assert_eq!(me["is_active"], true);
}

#[tokio::test]
async fn get_user_returns_the_user_with_a_strong_etag() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;

    let response = app.get(&format!("/users/{id}"), &token).await;

    assert_eq!(response.status(), StatusCode::OK);
    let tag = etag(&response);
    assert!(
        !tag.starts_with("W/") && tag.len() > 2 && tag.starts_with('"') && tag.ends_with('"'),
        "a strong entity tag, got {tag}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["id"], id);
    assert_eq!(body["email"], "ada@example.com");
}

#[tokio::test]
async fn etag_changes_after_a_patch() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;
    let before = etag(&app.get(&format!("/users/{id}"), &token).await);

    let patched = patch(&app, id, &token, json!({"name": "Ada King"})).await;
    assert_eq!(patched.status(), StatusCode::OK);

    let after = etag(&app.get(&format!("/users/{id}"), &token).await);
    assert_ne!(before, after);
}

#[tokio::test]
async fn patch_returns_the_new_etag_that_a_following_get_returns() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;
    let before = etag(&app.get(&format!("/users/{id}"), &token).await);

    let patched = patch(&app, id, &token, json!({"name": "Ada King"})).await;

    assert_eq!(patched.status(), StatusCode::OK);
    let from_patch = etag(&patched);
    assert_ne!(from_patch, before, "the PATCH's ETag is the new one");
    let from_get = etag(&app.get(&format!("/users/{id}"), &token).await);
    assert_eq!(from_patch, from_get);
}

// ---------------------------------------------------------------------------
// Listing

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

#[tokio::test]
async fn q_matches_part_of_the_email_ignoring_case() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let ada = sign_up_named(&app, "ada.lovelace@example.com", "Someone").await;
    sign_up_named(&app, "grace@example.com", "Someone").await;

    let response = list(&app, &admin, &[("q", "LoveLace")]).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(ids(response).await, [ada]);
}

#[tokio::test]
async fn q_matches_part_of_the_name_ignoring_case() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let grace = sign_up_named(&app, "g@example.com", "Grace Hopper").await;
    sign_up_named(&app, "a@example.com", "Ada Lovelace").await;

    let response = list(&app, &admin, &[("q", "hOPPer")]).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(ids(response).await, [grace]);
}

#[tokio::test]
async fn q_takes_percent_literally() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let literal = sign_up_named(&app, "a@example.com", "Sale 50% off").await;
    // As a LIKE pattern, `50%` would match this one too.
    sign_up_named(&app, "b@example.com", "Sale 500 off").await;

    let response = list(&app, &admin, &[("q", "50%")]).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(ids(response).await, [literal]);
}

#[tokio::test]
async fn q_takes_underscore_literally() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let literal = sign_up_named(&app, "a@example.com", "snake_case").await;
    // As a LIKE pattern, `e_c` would match this one too.
    sign_up_named(&app, "b@example.com", "snakeXcase").await;

    let response = list(&app, &admin, &[("q", "e_c")]).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(ids(response).await, [literal]);
}

#[tokio::test]
async fn q_ignores_case_beyond_ascii() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let elodie = sign_up_named(&app, "e@example.com", "ÉLODIE").await;
    sign_up_named(&app, "f@example.com", "Someone Else").await;

    let response = list(&app, &admin, &[("q", "élodie")]).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(ids(response).await, [elodie]);
}

#[tokio::test]
async fn is_active_false_lists_only_deactivated_users() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    sign_up_named(&app, "a@example.com", "Someone").await;
    let gone = sign_up_named(&app, "b@example.com", "Someone").await;
    sign_up_named(&app, "c@example.com", "Someone").await;
    let deactivated = patch(&app, gone, &admin, json!({"is_active": false})).await;
    assert_eq!(deactivated.status(), StatusCode::OK);

    let response = list(&app, &admin, &[("is_active", "false")]).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(ids(response).await, [gone]);
}

#[tokio::test]
async fn role_admin_lists_only_admins() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let first_admin = id_of(&app, &admin).await;
    sign_up_named(&app, "a@example.com", "Someone").await;
    let second_admin = app.create_admin("boss@example.com", ADMIN_PASSWORD).await;
    sign_up_named(&app, "b@example.com", "Someone").await;

    let response = list(&app, &admin, &[("role", "admin")]).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(ids(response).await, [first_admin, second_admin]);
}

// ---------------------------------------------------------------------------
// Changing

#[tokio::test]
async fn a_user_changes_their_own_name_and_a_get_shows_it() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;

    let response = patch(&app, id, &token, json!({"name": "Ada King"})).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["name"], "Ada King");
    assert_eq!(user(&app, id, &token).await["name"], "Ada King");
}

#[tokio::test]
async fn a_user_changes_their_own_email_with_current_password_and_a_get_shows_it() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;

    let response = patch(
        &app,
        id,
        &token,
        json!({"email": "ada.king@example.com", "current_password": PASSWORD}),
    )
    .await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Value>().await.unwrap()["email"],
        "ada.king@example.com"
    );
    assert_eq!(
        user(&app, id, &token).await["email"],
        "ada.king@example.com"
    );
}

#[tokio::test]
async fn patch_with_if_match_equal_to_the_current_etag_is_200() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;
    let current = etag(&app.get(&format!("/users/{id}"), &token).await);

    let response = patch_if_match(
        &app,
        id,
        &token,
        Some(&current),
        json!({"name": "Ada King"}),
    )
    .await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(user(&app, id, &token).await["name"], "Ada King");
}

#[tokio::test]
async fn patch_with_stale_if_match_is_412_and_changes_nothing() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;
    let stale = etag(&app.get(&format!("/users/{id}"), &token).await);
    let first = patch(&app, id, &token, json!({"name": "Ada King"})).await;
    assert_eq!(first.status(), StatusCode::OK);
    let current = etag(&first);

    let response =
        patch_if_match(&app, id, &token, Some(&stale), json!({"name": "Ada Byron"})).await;

    assert_eq!(response.status(), StatusCode::PRECONDITION_FAILED);
    problem(response).await;
    let after = app.get(&format!("/users/{id}"), &token).await;
    assert_eq!(etag(&after), current);
    assert_eq!(after.json::<Value>().await.unwrap()["name"], "Ada King");
}

#[tokio::test]
async fn patch_with_if_match_star_is_200() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;

    let response = patch_if_match(&app, id, &token, Some("*"), json!({"name": "Ada King"})).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(user(&app, id, &token).await["name"], "Ada King");
}

#[tokio::test]
async fn delete_with_stale_if_match_is_412_and_the_user_remains() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;
    let stale = etag(&app.get(&format!("/users/{id}"), &token).await);
    let changed = patch(&app, id, &token, json!({"name": "Ada King"})).await;
    assert_eq!(changed.status(), StatusCode::OK);

    let response = delete(&app, id, &token, Some(&stale)).await;

    assert_eq!(response.status(), StatusCode::PRECONDITION_FAILED);
    problem(response).await;
    let still = app.get(&format!("/users/{id}"), &token).await;
    assert_eq!(still.status(), StatusCode::OK);
}

#[tokio::test]
async fn patch_email_to_one_taken_in_another_case_is_400_email_already_registered() {
    let app = spawn_app().await;
    app.sign_up("ada@example.com").await;
    let (id, token) = app.user_with_token("grace@example.com").await;

    let response = patch(
        &app,
        id,
        &token,
        json!({"email": "ADA@Example.COM", "current_password": PASSWORD}),
    )
    .await;

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        problem(response).await["detail"],
        "Email already registered"
    );
    assert_eq!(user(&app, id, &token).await["email"], "grace@example.com");
}

// ---------------------------------------------------------------------------
// Deleting

#[tokio::test]
async fn delete_is_204_and_then_the_user_is_404() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, token) = app.user_with_token("ada@example.com").await;

    let response = delete(&app, id, &token, None).await;

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let gone = app.get(&format!("/users/{id}"), &admin).await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    problem(gone).await;
}

#[tokio::test]
async fn a_deleted_users_token_is_401() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;
    let deleted = delete(&app, id, &token, None).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);

    let response = app.get("/users/me", &token).await;

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn ids_are_never_reused_even_after_deleting_the_highest() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.sign_up("ada@example.com").await;
    let highest = app.sign_up("grace@example.com").await["id"]
        .as_i64()
        .unwrap();
    let deleted = delete(&app, highest, &admin, None).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);

    let next = app.sign_up("edsger@example.com").await["id"]
        .as_i64()
        .unwrap();

    assert!(next > highest, "new id {next} after deleted {highest}");
}

// ---------------------------------------------------------------------------
// The last active admin

#[tokio::test]
async fn the_only_active_admin_demoting_themself_is_409() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = id_of(&app, &admin).await;

    let response = patch(&app, id, &admin, json!({"role": "user"})).await;

    assert_eq!(response.status(), StatusCode::CONFLICT);
    problem(response).await;
    assert_eq!(user(&app, id, &admin).await["role"], "admin");
}

#[tokio::test]
async fn the_only_active_admin_deactivating_themself_is_409() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = id_of(&app, &admin).await;

    let response = patch(&app, id, &admin, json!({"is_active": false})).await;

    assert_eq!(response.status(), StatusCode::CONFLICT);
    problem(response).await;
    assert_eq!(user(&app, id, &admin).await["is_active"], true);
}

#[tokio::test]
async fn the_only_active_admin_deleting_themself_is_409() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = id_of(&app, &admin).await;

    let response = delete(&app, id, &admin, None).await;

    assert_eq!(response.status(), StatusCode::CONFLICT);
    problem(response).await;
    assert_eq!(
        app.get(&format!("/users/{id}"), &admin).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_inactive_second_admin_does_not_count_for_the_last_admin_rule() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = id_of(&app, &admin).await;
    let other = app.create_admin("boss@example.com", ADMIN_PASSWORD).await;
    let deactivated = patch(&app, other, &admin, json!({"is_active": false})).await;
    assert_eq!(deactivated.status(), StatusCode::OK);

    let response = patch(&app, id, &admin, json!({"role": "user"})).await;

    assert_eq!(response.status(), StatusCode::CONFLICT);
}

#[tokio::test]
async fn with_a_second_active_admin_an_admin_may_demote_themself() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = id_of(&app, &admin).await;
    app.create_admin("boss@example.com", ADMIN_PASSWORD).await;

    let response = patch(&app, id, &admin, json!({"role": "user"})).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["role"], "user");
}

#[tokio::test]
async fn with_a_second_active_admin_an_admin_may_deactivate_themself() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = id_of(&app, &admin).await;
    app.create_admin("boss@example.com", ADMIN_PASSWORD).await;

    let response = patch(&app, id, &admin, json!({"is_active": false})).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.json::<Value>().await.unwrap()["is_active"], false);
}

#[tokio::test]
async fn with_a_second_active_admin_an_admin_may_delete_themself() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = id_of(&app, &admin).await;
    app.create_admin("boss@example.com", ADMIN_PASSWORD).await;
    let boss = app.token("boss@example.com", ADMIN_PASSWORD).await;

    let response = delete(&app, id, &admin, None).await;

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.get(&format!("/users/{id}"), &boss).await.status(),
        StatusCode::NOT_FOUND
    );
}

// ---------------------------------------------------------------------------
// Role and activity changes take effect on the next request

#[tokio::test]
async fn promoting_a_user_lets_their_same_token_list_users() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, token) = app.user_with_token("ada@example.com").await;
    assert_eq!(
        list(&app, &token, &[]).await.status(),
        StatusCode::FORBIDDEN
    );

    let promoted = patch(&app, id, &admin, json!({"role": "admin"})).await;
    assert_eq!(promoted.status(), StatusCode::OK);

    assert_eq!(list(&app, &token, &[]).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn demoting_an_admin_takes_away_listing_on_their_next_request() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, token) = app.user_with_token("ada@example.com").await;
    let promoted = patch(&app, id, &admin, json!({"role": "admin"})).await;
    assert_eq!(promoted.status(), StatusCode::OK);
    assert_eq!(list(&app, &token, &[]).await.status(), StatusCode::OK);

    let demoted = patch(&app, id, &admin, json!({"role": "user"})).await;
    assert_eq!(demoted.status(), StatusCode::OK);

    assert_eq!(
        list(&app, &token, &[]).await.status(),
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_deactivated_users_token_is_401_invalid_token() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, token) = app.user_with_token("ada@example.com").await;
    let deactivated = patch(&app, id, &admin, json!({"is_active": false})).await;
    assert_eq!(deactivated.status(), StatusCode::OK);

    let response = app.get("/users/me", &token).await;

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = header(&response, WWW_AUTHENTICATE).unwrap_or_default();
    assert!(
        challenge.starts_with("Bearer") && challenge.contains("error=\"invalid_token\""),
        "{challenge}"
    );
}

#[tokio::test]
async fn a_deactivated_user_cannot_log_in() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let id = app.sign_up("ada@example.com").await["id"].as_i64().unwrap();
    let deactivated = patch(&app, id, &admin, json!({"is_active": false})).await;
    assert_eq!(deactivated.status(), StatusCode::OK);

    let response = app.login("ada@example.com", PASSWORD).await;

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
}

/// Observed and intended: deactivation deletes the user's tokens, so
/// reactivating them needs a fresh sign-in; an old token stays dead.
#[tokio::test]
async fn reactivating_a_user_does_not_revive_their_old_tokens() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, old_token) = app.user_with_token("ada@example.com").await;
    let off = patch(&app, id, &admin, json!({"is_active": false})).await;
    assert_eq!(off.status(), StatusCode::OK);
    let on = patch(&app, id, &admin, json!({"is_active": true})).await;
    assert_eq!(on.status(), StatusCode::OK);

    let response = app.get("/users/me", &old_token).await;

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let fresh = app.token("ada@example.com", PASSWORD).await;
    assert_eq!(
        app.get("/users/me", &fresh).await.status(),
        StatusCode::OK,
        "a reactivated user signs in again"
    );
}
