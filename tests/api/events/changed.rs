//! `user.updated`'s `changed` lists exactly the resource's fields that
//! changed, plus `password` when one was set; a change that also ends tokens
//! (a password set, a deactivation) emits `user.updated` and then
//! `user.signed_out` with the next `seq`, the same `version` and its reason.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{changed, events_after, id, last_seq, seqs, types, NEW_PASSWORD};
use crate::support::{spawn_app, PASSWORD};
use crate::users::patch;

#[tokio::test]
async fn a_name_change_lists_only_name_as_changed() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, token) = app.user_with_token("ada@example.com").await;
    let before = last_seq(&app, &admin).await;

    let response = patch(&app, id, &token, json!({"name": "Ada King"})).await;

    assert_eq!(response.status(), StatusCode::OK);
    let events = events_after(&app, &admin, before).await;
    assert_eq!(types(&events), ["user.updated"]);
    assert_eq!(changed(&events[0]), ["name"]);
}

#[tokio::test]
async fn fields_sent_with_their_current_values_are_not_listed_as_changed() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let ada = app.sign_up("ada@example.com").await;
    let before = last_seq(&app, &admin).await;

    let response = patch(
        &app,
        id(&ada),
        &admin,
        json!({"name": "Ada King", "email": "ada@example.com", "role": "user", "is_active": true}),
    )
    .await;

    assert_eq!(response.status(), StatusCode::OK);
    let events = events_after(&app, &admin, before).await;
    assert_eq!(types(&events), ["user.updated"]);
    assert_eq!(changed(&events[0]), ["name"]);
}

#[tokio::test]
async fn an_own_email_and_password_change_lists_email_and_password_as_changed() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, token) = app.user_with_token("ada@example.com").await;
    let before = last_seq(&app, &admin).await;

    let response = patch(
        &app,
        id,
        &token,
        json!({"email": "ada.king@example.com", "password": NEW_PASSWORD, "current_password": PASSWORD}),
    )
    .await;

    assert_eq!(response.status(), StatusCode::OK);
    let events = events_after(&app, &admin, before).await;
    assert_eq!(types(&events)[0], "user.updated");
    assert_eq!(changed(&events[0]), ["email", "password"]);
    assert_eq!(events[0]["data"]["user"]["email"], "ada.king@example.com");
}

#[tokio::test]
async fn a_role_change_by_an_admin_lists_only_role_as_changed() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let ada = app.sign_up("ada@example.com").await;
    let before = last_seq(&app, &admin).await;

    let response = patch(&app, id(&ada), &admin, json!({"role": "admin"})).await;

    assert_eq!(response.status(), StatusCode::OK);
    let events = events_after(&app, &admin, before).await;
    assert_eq!(types(&events), ["user.updated"]);
    assert_eq!(changed(&events[0]), ["role"]);
    assert_eq!(events[0]["data"]["user"]["role"], "admin");
}

#[tokio::test]
async fn an_own_password_change_emits_updated_then_signed_out_with_the_next_seq_the_same_version_and_reason_password_changed(
) {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, token) = app.user_with_token("ada@example.com").await;
    let before = last_seq(&app, &admin).await;

    let response = patch(
        &app,
        id,
        &token,
        json!({"password": NEW_PASSWORD, "current_password": PASSWORD}),
    )
    .await;

    assert_eq!(response.status(), StatusCode::OK);
    let events = events_after(&app, &admin, before).await;
    assert_eq!(types(&events), ["user.updated", "user.signed_out"]);
    assert_eq!(changed(&events[0]), ["password"]);
    let seqs = seqs(&events);
    assert_eq!(seqs[1], seqs[0] + 1);
    assert_eq!(
        events[1]["data"],
        json!({"user": {"id": id, "version": 2}, "reason": "password_changed"})
    );
    assert_eq!(events[0]["data"]["user"]["version"], 2);
}

#[tokio::test]
async fn an_admin_setting_a_users_password_emits_updated_then_signed_out_with_reason_password_changed(
) {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let ada = app.sign_up("ada@example.com").await;
    let before = last_seq(&app, &admin).await;

    let response = patch(&app, id(&ada), &admin, json!({"password": NEW_PASSWORD})).await;

    assert_eq!(response.status(), StatusCode::OK);
    let events = events_after(&app, &admin, before).await;
    assert_eq!(types(&events), ["user.updated", "user.signed_out"]);
    assert_eq!(changed(&events[0]), ["password"]);
    assert_eq!(events[1]["data"]["reason"], "password_changed");
    assert_eq!(
        events[1]["data"]["user"]["version"],
        events[0]["data"]["user"]["version"]
    );
}

#[tokio::test]
async fn a_deactivation_emits_updated_with_is_active_then_signed_out_with_the_next_seq_the_same_version_and_reason_deactivated(
) {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let ada = app.sign_up("ada@example.com").await;
    let before = last_seq(&app, &admin).await;

    let response = patch(&app, id(&ada), &admin, json!({"is_active": false})).await;

    assert_eq!(response.status(), StatusCode::OK);
    let events = events_after(&app, &admin, before).await;
    assert_eq!(types(&events), ["user.updated", "user.signed_out"]);
    assert_eq!(changed(&events[0]), ["is_active"]);
    assert_eq!(events[0]["data"]["user"]["is_active"], false);
    let seqs = seqs(&events);
    assert_eq!(seqs[1], seqs[0] + 1);
    assert_eq!(
        events[1]["data"],
        json!({"user": {"id": id(&ada), "version": 2}, "reason": "deactivated"})
    );
}

#[tokio::test]
async fn a_reactivation_emits_user_updated_alone() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let ada = app.sign_up("ada@example.com").await;
    let deactivated = patch(&app, id(&ada), &admin, json!({"is_active": false})).await;
    assert_eq!(deactivated.status(), StatusCode::OK);
    let before = last_seq(&app, &admin).await;

    let response = patch(&app, id(&ada), &admin, json!({"is_active": true})).await;

    assert_eq!(response.status(), StatusCode::OK);
    let events = events_after(&app, &admin, before).await;
    assert_eq!(types(&events), ["user.updated"]);
    assert_eq!(changed(&events[0]), ["is_active"]);
    assert_eq!(events[0]["data"]["user"]["version"], 3);
}

#[tokio::test]
async fn an_updated_event_carries_the_user_as_the_patch_returned_it() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let ada = app.sign_up("ada@example.com").await;
    let before = last_seq(&app, &admin).await;

    let response = patch(
        &app,
        id(&ada),
        &admin,
        json!({"email": "ada.king@example.com", "name": "Ada King", "role": "admin"}),
    )
    .await;

    assert_eq!(response.status(), StatusCode::OK);
    let mut after: Value = response.json().await.unwrap();
    after["version"] = 2.into();
    let events = events_after(&app, &admin, before).await;
    assert_eq!(types(&events), ["user.updated"]);
    assert_eq!(events[0]["data"]["user"], after);
    assert_eq!(changed(&events[0]), ["email", "name", "role"]);
}
