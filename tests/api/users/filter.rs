//! `GET /users` filters: `q` matches part of the email or the name ignoring
//! case by the service's folding, as emails are compared (and takes `%` and
//! `_` literally); `is_active` and `role` keep only the
//! users they name.

use reqwest::StatusCode;
use serde_json::json;

use super::{id_of, ids, list, patch, sign_up_named};
use crate::support::{spawn_app, ADMIN_PASSWORD};

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
async fn q_is_folded_as_names_are_so_capital_sigma_finds_final_sigma() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let kostas = sign_up_named(&app, "k@example.com", "Κώστας Ιωάννου").await;
    sign_up_named(&app, "a@example.com", "Ada Lovelace").await;

    let response = list(&app, &admin, &[("q", "ΤΑΣ")]).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(ids(response).await, [kostas]);
}

#[tokio::test]
async fn q_is_folded_as_emails_are_so_fullwidth_finds_ascii() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let ada = sign_up_named(&app, "ada.lovelace@example.com", "Someone").await;
    let sigma = sign_up_named(&app, "ας@example.com", "Someone").await;
    sign_up_named(&app, "grace@example.com", "Someone").await;

    let fullwidth = list(&app, &admin, &[("q", "ＬＯＶＥ")]).await;
    let greek = list(&app, &admin, &[("q", "ΑΣ@")]).await;

    assert_eq!(ids(fullwidth).await, [ada]);
    assert_eq!(ids(greek).await, [sigma]);
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
