//! The query parameters of `GET /users`: a value out of range, or `skip` with
//! `after_id`, is 422 naming the parameter; the bounds themselves are accepted.

use reqwest::StatusCode;

use super::error_fields;
use crate::support::{problem, spawn_app};

/// `GET /users?{query}` as an admin: a 422 problem naming `field`.
async fn assert_list_query_refused(query: &str, field: &str) {
    let app = spawn_app().await;
    let admin = app.admin_token().await;

    let response = app.get(&format!("/users?{query}"), &admin).await;

    assert_eq!(
        response.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "{query}"
    );
    let body = problem(response).await;
    assert!(
        error_fields(&body).contains(field),
        "{query} should name {field}: {body}"
    );
    app.stop().await;
}

#[tokio::test]
async fn list_with_negative_skip_is_422() {
    assert_list_query_refused("skip=-1", "skip").await;
}

#[tokio::test]
async fn list_with_limit_0_is_422() {
    assert_list_query_refused("limit=0", "limit").await;
}

#[tokio::test]
async fn list_with_limit_101_is_422() {
    assert_list_query_refused("limit=101", "limit").await;
}

#[tokio::test]
async fn list_with_non_numeric_limit_is_422() {
    assert_list_query_refused("limit=abc", "limit").await;
}

#[tokio::test]
async fn list_with_skip_and_after_id_together_is_422() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;

    let response = app.get("/users?skip=5&after_id=1", &admin).await;

    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let fields = error_fields(&problem(response).await);
    assert!(
        fields.contains("skip") || fields.contains("after_id"),
        "{fields:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn list_with_is_active_maybe_is_422() {
    assert_list_query_refused("is_active=maybe", "is_active").await;
}

#[tokio::test]
async fn list_with_unknown_role_is_422() {
    assert_list_query_refused("role=root", "role").await;
}

#[tokio::test]
async fn list_accepts_the_bounds_of_every_parameter() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;

    for query in [
        "skip=0&limit=1",
        "limit=100",
        "after_id=0&limit=100",
        "is_active=true&role=admin",
        "is_active=false&role=user",
    ] {
        let response = app.get(&format!("/users?{query}"), &admin).await;
        assert_eq!(response.status(), StatusCode::OK, "{query}");
    }
    app.stop().await;
}
