//! The email: an address of at most 254 characters, with no quoted local
//! part and a dotted DNS name as domain.

use reqwest::StatusCode;

use super::{assert_invalid, signup};
use crate::support::spawn_app;

/// A syntactically valid address of exactly `len` characters (local part at
/// most 64, labels at most 63, as RFC 5321 requires).
fn email_of_length(len: usize) -> String {
    let local = "a".repeat(64);
    let fixed = local.len() + "@".len() + 63 + 1 + 63 + 1 + ".com".len();
    format!(
        "{local}@{}.{}.{}.com",
        "b".repeat(63),
        "c".repeat(63),
        "d".repeat(len - fixed)
    )
}

#[tokio::test]
async fn email_of_254_characters_is_accepted() {
    let app = spawn_app().await;
    let email = email_of_length(254);
    assert_eq!(email.chars().count(), 254);

    let response = app.post_user(&signup(&email, "Long")).await;

    assert_eq!(response.status(), StatusCode::CREATED);
    app.stop().await;
}

#[tokio::test]
async fn email_over_254_characters_is_422() {
    let app = spawn_app().await;
    let email = email_of_length(255);
    assert_eq!(email.chars().count(), 255);

    let response = app.post_user(&signup(&email, "Long")).await;

    assert_invalid(response, &["email"]).await;
    app.stop().await;
}

#[tokio::test]
async fn email_that_is_not_an_address_is_422() {
    let app = spawn_app().await;

    for email in [
        "not-an-email",
        "a@",
        "@example.com",
        "Ada <ada@example.com>",
        "",
    ] {
        let response = app.post_user(&signup(email, "Ada")).await;
        assert_invalid(response, &["email"]).await;
    }
    app.stop().await;
}

#[tokio::test]
async fn email_with_a_quoted_local_part_is_422() {
    let app = spawn_app().await;

    for email in ["\"ada\"@example.com", "\"ada lovelace\"@example.com"] {
        let response = app.post_user(&signup(email, "Ada")).await;
        assert_invalid(response, &["email"]).await;
    }
    app.stop().await;
}

#[tokio::test]
async fn email_whose_domain_is_not_a_dotted_dns_name_is_422() {
    let app = spawn_app().await;

    for email in [
        "ada@localhost",
        "ada@example",
        "ada@[127.0.0.1]",
        "ada@127.0.0.1",
        "ada@[IPv6:::1]",
        "ada@exa_mple.com",
    ] {
        let response = app.post_user(&signup(email, "Ada")).await;
        assert_invalid(response, &["email"]).await;
    }
    app.stop().await;
}
