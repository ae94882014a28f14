//! The contract's protections against guessing, flooding and retries
//! ("Tokens", "Changes and retries", "Limits and behaviour under load"):
//! each file holds one protection, and each test fails if the protection is
//! removed. Outcomes are asserted, never speed.

mod idempotency;
mod in_flight;
mod pruning;
mod rehash;
mod signin_throttle;
mod signup_rate;
mod slow_clients;

use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Response, StatusCode};
use serde_json::Value;

use crate::support::TestApp;

/// A 429 as the contract gives it: problem+json with `Retry-After` in whole
/// seconds, at least 1 and at most `max` (the wait the rule allows).
pub(super) async fn assert_too_many(response: Response, max: u64) -> Value {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = response
        .headers()
        .get(RETRY_AFTER)
        .expect("Retry-After header")
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds");
    assert!(
        (1..=max).contains(&wait),
        "Retry-After {wait} not in 1..={max}"
    );
    assert_eq!(response.headers()[CONTENT_TYPE], "application/problem+json");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], 429);
    body
}

/// `POST /token` from the address `X-Forwarded-For` names.
pub(super) async fn login_from(app: &TestApp, email: &str, password: &str, from: &str) -> Response {
    app.client
        .post(app.url("/token"))
        .header("x-forwarded-for", from)
        .form(&[("username", email), ("password", password)])
        .send()
        .await
        .unwrap()
}

/// Two services on one database, as two instances behind a load balancer.
pub(super) async fn two_instances(flags: &[&str]) -> (TestApp, TestApp) {
    let db = std::sync::Arc::new(crate::support::TestDb::fresh());
    let first = crate::support::spawn_app_on(db.clone(), flags).await;
    let second = crate::support::spawn_app_on(db, flags).await;
    (first, second)
}

/// The problem+json body of a response that must have `status`.
pub(super) async fn expect_problem(response: Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    crate::support::problem(response).await
}
