//! "No event carries a password, a hash or a token": not in the feed, not
//! in a webhook body, whatever the change was.

use reqwest::StatusCode;
use serde_json::json;

use super::receiver::{delivered, Receiver};
use super::{all_events, id, NEW_PASSWORD, SECRET};
use crate::support::{spawn_app_with, ADMIN_PASSWORD, PASSWORD};
use crate::users::{delete, patch};

const THIRD_PASSWORD: &str = "saffron harbour kettle 88";

#[tokio::test]
async fn no_event_in_the_feed_or_at_a_webhook_carries_a_password_a_hash_or_a_token() {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(&["--webhook-url", &receiver.url(), "--webhook-secret", SECRET]).await;
    let admin = app.admin_token().await;
    let (ada, ada_token) = app.user_with_token("ada@example.com").await;
    let own = patch(
        &app,
        ada,
        &ada_token,
        json!({"password": NEW_PASSWORD, "current_password": PASSWORD, "email": "ada.king@example.com"}),
    )
    .await;
    assert_eq!(own.status(), StatusCode::OK);
    let ada_again = app.token("ada.king@example.com", NEW_PASSWORD).await;
    let set = patch(&app, ada, &admin, json!({"password": THIRD_PASSWORD})).await;
    assert_eq!(set.status(), StatusCode::OK);
    let grace = app.sign_up("grace@example.com").await;
    let off = patch(&app, id(&grace), &admin, json!({"is_active": false})).await;
    assert_eq!(off.status(), StatusCode::OK);
    let gone = delete(&app, ada, &admin, None).await;
    assert_eq!(gone.status(), StatusCode::NO_CONTENT);

    let feed = app
        .get("/events?limit=1000", &admin)
        .await
        .text()
        .await
        .unwrap();
    let events = all_events(&app, &admin).await;
    let ids: Vec<String> = events
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    let bodies: Vec<String> = delivered(&receiver.requests_when_delivered(&ids).await)
        .into_iter()
        .map(|r| r.body)
        .collect();

    assert_eq!(events.len(), 10, "{feed}");
    assert_eq!(
        bodies.len(),
        events.len(),
        "every event reached the webhook"
    );
    let secrets = [
        PASSWORD,
        NEW_PASSWORD,
        THIRD_PASSWORD,
        ADMIN_PASSWORD,
        &admin,
        &ada_token,
        &ada_again,
        "$argon2",
        "password_hash",
    ];
    for text in bodies.iter().chain([&feed]) {
        for secret in secrets {
            assert!(!text.contains(secret), "{secret:?} in {text}");
        }
    }
}
