//! The password policy: 15 to 128 characters by default (`--password-min-length`
//! lowers the minimum), counted in Unicode scalar values after NFKC, and not a
//! common password.

use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{assert_invalid, error_message};
use crate::support::{spawn_app, spawn_app_with};

/// A sign-up body for `ada@example.com` with the given password.
fn with_password(password: &str) -> Value {
    json!({"email": "ada@example.com", "name": "Ada", "password": password})
}

#[tokio::test]
async fn password_of_14_characters_is_refused_by_default() {
    let app = spawn_app().await;

    let response = app.post_user(&with_password("tangerine sub1")).await;

    let problem = assert_invalid(response, &["password"]).await;
    assert!(
        error_message(&problem, "password").contains("15"),
        "{problem}"
    );
    app.stop().await;
}

#[tokio::test]
async fn password_of_15_characters_is_accepted_by_default() {
    let app = spawn_app().await;

    let response = app.post_user(&with_password("tangerine sub19")).await;

    assert_eq!(response.status(), StatusCode::CREATED);
    app.stop().await;
}

#[tokio::test]
async fn password_min_length_8_accepts_8_characters() {
    let app = spawn_app_with(&["--password-min-length", "8"]).await;

    let response = app.post_user(&with_password("tngr1947")).await;

    assert_eq!(response.status(), StatusCode::CREATED);
    app.stop().await;
}

#[tokio::test]
async fn password_min_length_8_still_refuses_7_characters() {
    let app = spawn_app_with(&["--password-min-length", "8"]).await;

    let response = app.post_user(&with_password("tngr194")).await;

    assert_invalid(response, &["password"]).await;
    app.stop().await;
}

#[tokio::test]
async fn password_of_128_characters_is_accepted() {
    let app = spawn_app().await;

    let response = app
        .post_user(&with_password(&"tangerine".repeat(15)[..128]))
        .await;

    assert_eq!(response.status(), StatusCode::CREATED);
    app.stop().await;
}

#[tokio::test]
async fn password_over_128_characters_is_refused() {
    let app = spawn_app().await;

    let response = app
        .post_user(&with_password(&"tangerine".repeat(15)[..129]))
        .await;

    let problem = assert_invalid(response, &["password"]).await;
    assert!(
        error_message(&problem, "password").contains("128"),
        "{problem}"
    );
    app.stop().await;
}

#[tokio::test]
async fn password_length_counts_unicode_scalar_values_not_bytes() {
    let app = spawn_app().await;
    // 15 characters, 30 bytes in UTF-8: long enough.
    let password = "ñéüöäçàèìòùâêîô";

    let response = app.post_user(&with_password(password)).await;

    assert_eq!(response.status(), StatusCode::CREATED);
    app.stop().await;
}

#[tokio::test]
async fn password_length_is_counted_after_nfkc_composition() {
    let app = spawn_app().await;
    // 16 scalar values as sent ("n" + combining tilde, 8 times), but NFKC
    // composes each pair into one "ñ": 8 characters, too short.
    let password = "n\u{303}".repeat(8);

    let response = app.post_user(&with_password(&password)).await;

    assert_invalid(response, &["password"]).await;
    app.stop().await;
}

#[tokio::test]
async fn password_length_is_counted_after_nfkc_expansion() {
    let app = spawn_app().await;
    // 65 scalar values as sent, but NFKC turns each ligature "ﬁ" into "fi":
    // 130 characters, over the limit.
    let password = "ﬁ".repeat(65);

    let response = app.post_user(&with_password(&password)).await;

    assert_invalid(response, &["password"]).await;
    app.stop().await;
}

#[tokio::test]
async fn password_is_nfkc_normalised_so_a_compatible_spelling_signs_in() {
    let app = spawn_app().await;
    let fullwidth = "ｔａｎｇｅｒｉｎｅ submarine 1947";
    let created = app.post_user(&with_password(fullwidth)).await;
    assert_eq!(created.status(), StatusCode::CREATED);

    let response = app
        .login("ada@example.com", "tangerine submarine 1947")
        .await;

    assert_eq!(response.status(), StatusCode::OK);
    app.stop().await;
}

#[tokio::test]
async fn a_common_password_is_refused_with_the_reason() {
    let app = spawn_app().await;
    // On the bundled list and 15 characters long, so only its commonness
    // is wrong.
    let response = app.post_user(&with_password("Mailcreated5240")).await;

    let problem = assert_invalid(response, &["password"]).await;
    assert!(
        error_message(&problem, "password").contains("common"),
        "{problem}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_common_password_is_refused_with_min_length_8() {
    let app = spawn_app_with(&["--password-min-length", "8"]).await;

    for common in ["password", "football"] {
        let response = app.post_user(&with_password(common)).await;
        let problem = assert_invalid(response, &["password"]).await;
        assert!(
            error_message(&problem, "password").contains("common"),
            "{common}: {problem}"
        );
    }
    app.stop().await;
}
