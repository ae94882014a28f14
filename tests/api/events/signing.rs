//! Webhook requests per Standard Webhooks: a `POST` of the event's JSON with
//! `webhook-id` (the event id), `webhook-timestamp` (unix seconds of the
//! attempt) and `webhook-signature`: `v1,<base64 HMAC-SHA256>` of
//! `{id}.{timestamp}.{body}` per secret, space-separated, keyed with the
//! base64 after `whsec_`. The HMAC is computed here, independently of the
//! service's code.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::receiver::{delivered, Receiver, Request};
use super::{all_events, seq, SECOND_SECRET, SECRET};
use crate::support::{spawn_app_with, TestApp};

/// `v1,` + the signature `secret` gives the request.
fn signature(secret: &str, request: &Request) -> String {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").expect("a whsec_ secret"))
        .expect("base64");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    let signed = format!(
        "{}.{}.{}",
        request.header("webhook-id"),
        request.header("webhook-timestamp"),
        request.body
    );
    mac.update(signed.as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

fn signatures(request: &Request) -> Vec<&str> {
    request.header("webhook-signature").split(' ').collect()
}

/// A sign-up and the admin: the service's deliveries of both events.
async fn two_deliveries(app: &TestApp, receiver: &Receiver) -> Vec<Request> {
    let admin = app.admin_token().await;
    app.sign_up("ada@example.com").await;
    let ids: Vec<String> = all_events(app, &admin)
        .await
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    receiver.requests_when_delivered(&ids).await
}

#[tokio::test]
async fn each_webhook_is_a_post_of_the_event_as_the_feed_shows_it_with_webhook_id_its_id() {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(&["--webhook-url", &receiver.url(), "--webhook-secret", SECRET]).await;
    let admin = app.admin_token().await;
    app.sign_up("ada@example.com").await;
    let events = all_events(&app, &admin).await;
    let ids: Vec<String> = events
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();

    let requests = receiver.requests_when_delivered(&ids).await;

    let mut bodies: Vec<_> = delivered(&requests).iter().map(Request::json).collect();
    bodies.sort_by_key(seq);
    assert_eq!(bodies, events);
    for request in &requests {
        assert_eq!(request.header("webhook-id"), request.json()["id"]);
        assert!(
            request
                .header("content-type")
                .starts_with("application/json"),
            "{request:?}"
        );
    }
}

#[tokio::test]
async fn each_webhook_is_signed_v1_with_the_secret_over_its_id_timestamp_and_body() {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(&["--webhook-url", &receiver.url(), "--webhook-secret", SECRET]).await;

    let requests = two_deliveries(&app, &receiver).await;

    assert_eq!(requests.len(), 2);
    for request in &requests {
        assert_eq!(
            signatures(request),
            [signature(SECRET, request)],
            "{request:?}"
        );
    }
}

#[tokio::test]
async fn each_webhook_timestamp_is_the_unix_time_of_its_attempt() {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(&["--webhook-url", &receiver.url(), "--webhook-secret", SECRET]).await;

    let requests = two_deliveries(&app, &receiver).await;

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert_eq!(requests.len(), 2);
    for request in &requests {
        let timestamp: i64 = request.header("webhook-timestamp").parse().unwrap();
        assert!((now - timestamp).abs() <= 5, "{timestamp} vs now {now}");
    }
}

#[tokio::test]
async fn with_two_secrets_each_webhook_carries_two_v1_signatures_one_by_each() {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(&[
        "--webhook-url",
        &receiver.url(),
        "--webhook-secret",
        &format!("{SECRET},{SECOND_SECRET}"),
    ])
    .await;

    let requests = two_deliveries(&app, &receiver).await;

    assert_eq!(requests.len(), 2);
    for request in &requests {
        let mut got = signatures(request);
        got.sort();
        let mut expected = [
            signature(SECRET, request),
            signature(SECOND_SECRET, request),
        ];
        expected.sort();
        assert_eq!(got, expected, "{request:?}");
    }
}

#[tokio::test]
async fn a_webhook_is_not_signed_with_a_secret_that_was_not_configured() {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(&["--webhook-url", &receiver.url(), "--webhook-secret", SECRET]).await;

    let requests = two_deliveries(&app, &receiver).await;

    assert_eq!(requests.len(), 2);
    for request in &requests {
        assert!(
            !signatures(request).contains(&signature(SECOND_SECRET, request).as_str()),
            "{request:?}"
        );
    }
}
