//! Webhook delivery: at least once, every configured endpoint; an answer
//! other than 2xx is retried after the waits of `--webhook-retry-schedule`
//! with the same `webhook-id` and body, then given up; an endpoint that is
//! down at first gets everything once it is up; per user in order, a
//! failing event holding back only that user's later events, and only at
//! that endpoint.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use super::receiver::{delivered, delivered_ids, Receiver, Request};
use super::{all_events, id, SECRET};
use crate::support::{spawn_app_with, TestApp};
use crate::users::patch;

/// The service posting to these receivers, retrying on `schedule`.
async fn posting_to(receivers: &[&Receiver], schedule: &str) -> TestApp {
    let urls: Vec<String> = receivers.iter().map(|r| r.url()).collect();
    spawn_app_with(&[
        "--webhook-url",
        &urls.join(","),
        "--webhook-secret",
        SECRET,
        "--webhook-retry-schedule",
        schedule,
    ])
    .await
}

/// The user id and version an event carries.
fn user_version(request: &Request) -> (i64, i64) {
    let user = &request.json()["data"]["user"];
    (
        user["id"].as_i64().unwrap(),
        user["version"].as_i64().unwrap(),
    )
}

fn event_ids(events: &[serde_json::Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn every_configured_endpoint_receives_every_event() {
    let first = Receiver::start().await;
    let second = Receiver::start().await;
    let app = posting_to(&[&first, &second], "1s").await;
    let admin = app.admin_token().await;
    app.sign_up("ada@example.com").await;
    let ids = event_ids(&all_events(&app, &admin).await);

    let at_first = first.requests_when_delivered(&ids).await;
    let at_second = second.requests_when_delivered(&ids).await;

    let mut sorted = ids.clone();
    sorted.sort();
    for requests in [at_first, at_second] {
        let mut got = delivered_ids(&requests);
        got.sort();
        assert_eq!(got, sorted);
    }
}

#[tokio::test]
async fn a_retry_after_a_500_carries_the_same_webhook_id_and_body_signed_at_its_own_time() {
    let receiver = Receiver::failing_first(1).await;
    let app = posting_to(&[&receiver], "1s,1s").await;

    let ada = app.sign_up("ada@example.com").await;

    let requests = receiver.requests_when(|r| r.len() >= 2).await;
    assert_eq!(requests.len(), 2, "{requests:?}");
    let (failed, retry) = (&requests[0], &requests[1]);
    assert!(!failed.accepted && retry.accepted);
    assert_eq!(failed.json()["data"]["user"]["id"], ada["id"]);
    assert_eq!(retry.header("webhook-id"), failed.header("webhook-id"));
    assert_eq!(retry.body, failed.body);
    let at = |r: &Request| r.header("webhook-timestamp").parse::<i64>().unwrap();
    assert!(at(retry) > at(failed), "{requests:?}");
    assert_ne!(
        retry.header("webhook-signature"),
        failed.header("webhook-signature")
    );
}

#[tokio::test]
async fn after_the_whole_schedule_an_event_is_given_up_and_the_users_later_events_go_on() {
    let receiver = Receiver::failing_first(2).await;
    let app = posting_to(&[&receiver], "1s").await;
    let (id, token) = app.user_with_token("ada@example.com").await;
    let first = receiver.requests_when(|r| !r.is_empty()).await;
    assert_eq!(first.len(), 1, "the sign-up's first attempt");

    let renamed = patch(&app, id, &token, json!({"name": "Ada King"})).await;
    assert_eq!(renamed.status(), StatusCode::OK);

    let requests = receiver
        .requests_when(|r| r.iter().any(|r| r.accepted))
        .await;
    let created = first[0].header("webhook-id");
    let attempts: Vec<bool> = requests
        .iter()
        .filter(|r| r.header("webhook-id") == created)
        .map(|r| r.accepted)
        .collect();
    assert_eq!(attempts, [false, false], "one attempt and one retry");
    let accepted: Vec<_> = delivered(&requests).iter().map(user_version).collect();
    assert_eq!(accepted, [(id, 2)]);
}

#[tokio::test]
async fn a_failing_event_holds_back_its_users_later_events_and_no_one_elses() {
    let receiver = Receiver::failing_first(1).await;
    let app = posting_to(&[&receiver], "1s,1s").await;
    let (ada, token) = app.user_with_token("ada@example.com").await;
    let failed = receiver.requests_when(|r| !r.is_empty()).await;
    assert_eq!(failed.len(), 1, "ada's creation failed once");

    let renamed = patch(&app, ada, &token, json!({"name": "Ada King"})).await;
    assert_eq!(renamed.status(), StatusCode::OK);
    let grace = id(&app.sign_up("grace@example.com").await);

    let requests = receiver.requests_when(|r| delivered(r).len() >= 3).await;
    let order: Vec<_> = delivered(&requests).iter().map(user_version).collect();
    assert_eq!(order, [(grace, 1), (ada, 1), (ada, 2)]);
}

#[tokio::test]
async fn an_endpoint_that_keeps_failing_holds_back_nothing_at_another() {
    let failing = Receiver::failing_first(usize::MAX).await;
    let healthy = Receiver::start().await;
    let app = posting_to(&[&failing, &healthy], "1s,1s").await;

    let (ada, token) = app.user_with_token("ada@example.com").await;
    let renamed = patch(&app, ada, &token, json!({"name": "Ada King"})).await;
    assert_eq!(renamed.status(), StatusCode::OK);

    let requests = healthy.requests_when(|r| delivered(r).len() >= 2).await;
    let order: Vec<_> = delivered(&requests).iter().map(user_version).collect();
    assert_eq!(order, [(ada, 1), (ada, 2)]);
    assert!(failing.requests().iter().all(|r| !r.accepted));
}

#[tokio::test]
async fn an_endpoint_that_is_down_at_first_receives_every_event_once_it_is_up() {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("http://{addr}/hooks/user-api");
    let app = spawn_app_with(&[
        "--webhook-url",
        &url,
        "--webhook-secret",
        SECRET,
        "--webhook-retry-schedule",
        "1s,1s,1s",
    ])
    .await;
    app.sign_up("ada@example.com").await;
    app.sign_up("grace@example.com").await;
    // Both first attempts were made (and refused) before the endpoint is up.
    let deadline = Instant::now() + Duration::from_secs(10);
    while app
        .db
        .query_i64("SELECT count(*) FROM event_deliveries WHERE attempts >= 1")
        < 2
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let receiver = Receiver::on(addr, 0).await;

    let admin = app.admin_token().await;
    let ids = event_ids(&all_events(&app, &admin).await);
    let requests = receiver.requests_when_delivered(&ids).await;
    let mut got = delivered_ids(&requests);
    got.sort();
    let mut expected = ids;
    expected.sort();
    assert_eq!(got, expected);
}

#[tokio::test]
async fn each_users_events_arrive_in_version_order_while_deliveries_fail_and_are_retried() {
    let receiver = Receiver::failing_first(3).await;
    let app = posting_to(&[&receiver], "1s,1s,1s").await;
    let mut users = Vec::new();
    for name in ["ada", "grace", "edsger", "barbara"] {
        users.push(app.user_with_token(&format!("{name}@example.com")).await);
    }

    futures_util::future::join_all(users.iter().map(|(id, token)| {
        let app = &app;
        async move {
            for n in 0..10 {
                let response = patch(app, *id, token, json!({"name": format!("Name {n}")})).await;
                assert_eq!(response.status(), StatusCode::OK);
            }
        }
    }))
    .await;

    let requests = receiver
        .requests_when(|r| delivered(r).len() >= 4 * 11)
        .await;
    let mut versions: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for (user, version) in delivered(&requests).iter().map(user_version) {
        versions.entry(user).or_default().push(version);
    }
    assert!(
        requests.iter().any(|r| !r.accepted),
        "some deliveries failed"
    );
    let expected: Vec<i64> = (1..=11).collect();
    assert_eq!(versions.len(), 4);
    for (user, got) in versions {
        assert_eq!(got, expected, "user {user}");
    }
}
