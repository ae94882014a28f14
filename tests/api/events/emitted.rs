//! Every successful change to a user emits exactly one event of its type,
//! committed with it: `user.created` (sign-up, admin create, `admin
//! create`), `user.updated` (a PATCH that changed something), `user.deleted`
//! (DELETE); each event has an `evt_` ULID id, a `seq`, a UTC timestamp and
//! `data`. A PATCH that changes nothing emits nothing.

use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{all_events, events_after, id, last_seq, seqs, types, versioned};
use crate::support::{spawn_app, ADMIN_EMAIL, PASSWORD};
use crate::users::{delete, etag, patch};

#[tokio::test]
async fn the_admin_created_as_admin_create_does_is_the_first_event_a_user_created() {
    let app = spawn_app().await;

    let admin = app.admin_token().await;

    let events = all_events(&app, &admin).await;
    assert_eq!(types(&events), ["user.created"]);
    assert_eq!(events[0]["data"]["user"]["email"], ADMIN_EMAIL);
    assert_eq!(events[0]["data"]["user"]["role"], "admin");
    assert_eq!(events[0]["data"]["user"]["version"], 1);
}

#[tokio::test]
async fn every_event_has_an_evt_ulid_id_a_seq_a_type_a_utc_timestamp_and_data() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let ada = app.sign_up("ada@example.com").await;
    let changed = patch(&app, id(&ada), &admin, json!({"name": "Ada King"})).await;
    assert_eq!(changed.status(), StatusCode::OK);

    let events = all_events(&app, &admin).await;

    assert_eq!(events.len(), 3);
    for event in &events {
        let mut keys: Vec<&str> = event.as_object().unwrap().keys().map(|k| &**k).collect();
        keys.sort();
        assert_eq!(keys, ["data", "id", "seq", "timestamp", "type"], "{event}");
        let ulid = event["id"].as_str().unwrap().strip_prefix("evt_");
        assert!(
            ulid.is_some_and(|u| ulid::Ulid::from_string(u).is_ok()),
            "{event}"
        );
        assert!(event["seq"].as_i64().unwrap() > 0, "{event}");
        let timestamp = event["timestamp"].as_str().unwrap();
        assert!(timestamp.ends_with('Z'), "{event}");
        let at = humantime::parse_rfc3339(timestamp).unwrap();
        let age = SystemTime::now().duration_since(at).unwrap_or_default();
        assert!(age < Duration::from_secs(300), "{event}");
        assert!(event["data"]["user"].is_object(), "{event}");
    }
    let mut ids: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "event ids are unique");
    let seqs = seqs(&events);
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
}

#[tokio::test]
async fn a_sign_up_emits_one_user_created_carrying_the_new_user_at_version_1() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let before = last_seq(&app, &admin).await;

    let ada = app.sign_up("ada@example.com").await;

    let events = events_after(&app, &admin, before).await;
    assert_eq!(types(&events), ["user.created"]);
    assert_eq!(events[0]["data"], json!({"user": versioned(&ada, 1)}));
}

#[tokio::test]
async fn an_admin_creating_a_user_emits_one_user_created_carrying_that_user_at_version_1() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let before = last_seq(&app, &admin).await;

    let response = app
        .client
        .post(app.url("/users"))
        .bearer_auth(&admin)
        .json(&json!({"email": "boss@example.com", "name": "Boss", "password": PASSWORD, "role": "admin"}))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::CREATED);
    let boss: Value = response.json().await.unwrap();
    let events = events_after(&app, &admin, before).await;
    assert_eq!(types(&events), ["user.created"]);
    assert_eq!(events[0]["data"], json!({"user": versioned(&boss, 1)}));
}

#[tokio::test]
async fn a_sign_up_retried_with_its_idempotency_key_emits_no_second_event() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let before = last_seq(&app, &admin).await;
    let body = json!({"email": "ada@example.com", "name": "Ada", "password": PASSWORD});
    let send = || {
        app.client
            .post(app.url("/users"))
            .header("idempotency-key", "sign-up-1")
            .json(&body)
            .send()
    };

    let first = send().await.unwrap();
    let retry = send().await.unwrap();

    assert_eq!(first.status(), StatusCode::CREATED);
    assert_eq!(retry.status(), StatusCode::CREATED);
    let events = events_after(&app, &admin, before).await;
    assert_eq!(types(&events), ["user.created"]);
}

#[tokio::test]
async fn a_patch_that_changes_the_name_emits_one_user_updated_carrying_the_user_at_version_2() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, token) = app.user_with_token("ada@example.com").await;
    let before = last_seq(&app, &admin).await;

    let response = patch(&app, id, &token, json!({"name": "Ada King"})).await;

    assert_eq!(response.status(), StatusCode::OK);
    let ada: Value = response.json().await.unwrap();
    let events = events_after(&app, &admin, before).await;
    assert_eq!(types(&events), ["user.updated"]);
    assert_eq!(events[0]["data"]["user"], versioned(&ada, 2));
}

#[tokio::test]
async fn each_change_of_a_user_carries_a_version_one_above_the_last() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, token) = app.user_with_token("ada@example.com").await;

    for name in ["Ada King", "Ada Lovelace", "Augusta Ada"] {
        let response = patch(&app, id, &token, json!({"name": name})).await;
        assert_eq!(response.status(), StatusCode::OK);
    }

    let versions: Vec<i64> = all_events(&app, &admin)
        .await
        .iter()
        .filter(|e| e["data"]["user"]["id"] == id)
        .map(|e| e["data"]["user"]["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [1, 2, 3, 4]);
}

#[tokio::test]
async fn a_patch_that_changes_nothing_emits_no_event_and_keeps_the_version() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let ada = app.sign_up("ada@example.com").await;
    let tag = etag(&app.get(&format!("/users/{}", id(&ada)), &admin).await);
    let before = last_seq(&app, &admin).await;

    let response = patch(
        &app,
        id(&ada),
        &admin,
        json!({"name": ada["name"], "email": ada["email"], "role": "user", "is_active": true}),
    )
    .await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(etag(&response), tag);
    assert_eq!(
        events_after(&app, &admin, before).await,
        Vec::<Value>::new()
    );
}

#[tokio::test]
async fn a_delete_emits_one_user_deleted_carrying_id_email_and_the_next_version() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let ada = app.sign_up("ada@example.com").await;
    let renamed = patch(&app, id(&ada), &admin, json!({"name": "Ada King"})).await;
    assert_eq!(renamed.status(), StatusCode::OK);
    let before = last_seq(&app, &admin).await;

    let response = delete(&app, id(&ada), &admin, None).await;

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let events = events_after(&app, &admin, before).await;
    assert_eq!(types(&events), ["user.deleted"]);
    assert_eq!(
        events[0]["data"],
        json!({"user": {"id": id(&ada), "email": "ada@example.com", "version": 3}})
    );
}

#[tokio::test]
async fn a_user_deleting_themself_emits_one_user_deleted() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, token) = app.user_with_token("ada@example.com").await;
    let before = last_seq(&app, &admin).await;

    let response = delete(&app, id, &token, None).await;

    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let events = events_after(&app, &admin, before).await;
    assert_eq!(types(&events), ["user.deleted"]);
    assert_eq!(events[0]["data"]["user"]["id"], id);
}
