//! A successful sign-up: 201 with `Location`, a strong `ETag` and the user,
//! never the password or its hash; the email is trimmed and lower-cased, the
//! name trimmed.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use serde_json::Value;

use super::{set, signup};
use crate::support::{spawn_app, PASSWORD};

fn assert_rfc3339_utc(value: &Value) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{value} not a string"));
    assert!(text.ends_with('Z'), "{text} is not UTC");
    let at = humantime::parse_rfc3339(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    // Written just now: a timestamp off by hours would be local time
    // mislabelled as UTC.
    let skew = match at.duration_since(SystemTime::now()) {
        Ok(ahead) => ahead,
        Err(behind) => behind.duration(),
    };
    assert!(skew < Duration::from_secs(300), "{text} is not now");
}

#[tokio::test]
async fn signup_is_201_with_location_etag_and_the_user() {
    let app = spawn_app().await;

    let response = app
        .post_user(&signup("ada@example.com", "Ada Lovelace"))
        .await;

    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    assert!(
        etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2,
        "strong ETag: {etag}"
    );
    let user: Value = response.json().await.unwrap();
    let id = user["id"].as_i64().expect("integer id");
    assert!(id > 0);
    assert_eq!(location, format!("/users/{id}"));
    assert_eq!(user["email"], "ada@example.com");
    assert_eq!(user["name"], "Ada Lovelace");
    assert_eq!(user["role"], "user");
    assert_eq!(user["is_active"], true);
    assert_rfc3339_utc(&user["created_at"]);
    assert_rfc3339_utc(&user["updated_at"]);
    app.stop().await;
}

#[tokio::test]
async fn signup_body_has_the_user_fields_and_never_the_password_or_its_hash() {
    let app = spawn_app().await;

    let response = app.post_user(&signup("ada@example.com", "Ada")).await;

    assert_eq!(response.status(), StatusCode::CREATED);
    let text = response.text().await.unwrap();
    let user: Value = serde_json::from_str(&text).unwrap();
    let keys: BTreeSet<String> = user.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        set(&[
            "created_at",
            "email",
            "email_verified",
            "id",
            "is_active",
            "name",
            "role",
            "updated_at"
        ])
    );
    assert!(!text.contains(PASSWORD), "{text}");
    assert!(!text.to_lowercase().contains("argon2"), "{text}");
    assert!(!text.to_lowercase().contains("password"), "{text}");
    app.stop().await;
}

#[tokio::test]
async fn signup_trims_and_unicode_lower_cases_the_email() {
    let app = spawn_app().await;

    let response = app
        .post_user(&signup("  ÉLODIE.Ÿ@Example.COM \t", "Élodie"))
        .await;

    assert_eq!(response.status(), StatusCode::CREATED);
    let user: Value = response.json().await.unwrap();
    assert_eq!(user["email"], "élodie.ÿ@example.com");
    app.stop().await;
}

#[tokio::test]
async fn signup_trims_the_name() {
    let app = spawn_app().await;

    let response = app
        .post_user(&signup("ada@example.com", "  Ada Lovelace \t "))
        .await;

    assert_eq!(response.status(), StatusCode::CREATED);
    let user: Value = response.json().await.unwrap();
    assert_eq!(user["name"], "Ada Lovelace");
    app.stop().await;
}
