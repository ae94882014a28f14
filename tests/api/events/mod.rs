//! The contract's "Events": every committed change to a user leaves the
//! service as exactly one event of its type (and a refused change as none),
//! carrying no secret; admins read them from `GET /events`, as a JSON page
//! or as Server-Sent Events; webhooks receive them signed, retried and in
//! each user's order; NATS JetStream stores them; the sink flags are
//! checked at start.
//!
//! One file per part of the contract. `receiver.rs` is the webhook endpoint
//! the tests run. The helpers here send requests and return what came back;
//! the tests assert. `PATCH` and `DELETE` are sent with the helpers of
//! `users/`.

mod changed;
mod crash;
mod delivery;
mod emitted;
mod feed;
mod nats;
mod refused;
mod secrets;
mod signing;
mod startup;
mod stream;

pub(crate) mod receiver;

/// The child-process harness of `cli/`, for the start-up checks of the
/// sink flags, which only the real binary shows. Loaded again here because
/// `cli` keeps it private (and `api_postgres` names it differently).
#[path = "../cli/harness.rs"]
#[allow(dead_code, clippy::duplicate_mod)]
mod harness;

use reqwest::{Response, StatusCode};
use serde_json::Value;

use crate::support::TestApp;

/// A Standard Webhooks secret (`whsec_` + base64 of a 31-byte key).
pub(crate) const SECRET: &str = "whsec_dXNlci1hcGkgdGVzdCBrZXkgb25lLCAzMiBieXRlcw==";
/// A second secret, as while rotating.
pub(super) const SECOND_SECRET: &str = "whsec_dXNlci1hcGkgdGVzdCBrZXkgdHdvLCAzMiBieXRlcw==";
/// A password that meets the policy and is not `support::PASSWORD`.
pub(super) const NEW_PASSWORD: &str = "marmalade lighthouse 2031";

/// `GET /events` with `query` (`""` or `"?after=3&limit=2"`) and a token.
pub(super) async fn feed(app: &TestApp, token: &str, query: &str) -> Response {
    app.get(&format!("/events{query}"), token).await
}

/// Every event after `after` (setup: the admin's read must be a 200).
pub(super) async fn events_after(app: &TestApp, admin: &str, after: i64) -> Vec<Value> {
    let response = feed(app, admin, &format!("?after={after}&limit=1000")).await;
    assert_eq!(response.status(), StatusCode::OK, "GET /events as an admin");
    response.json().await.unwrap()
}

/// Every event the feed holds.
pub(super) async fn all_events(app: &TestApp, admin: &str) -> Vec<Value> {
    events_after(app, admin, 0).await
}

/// The `seq` of the newest event (0 when there is none): where a test
/// starts to watch, so that the admin's own creation is left behind.
pub(super) async fn last_seq(app: &TestApp, admin: &str) -> i64 {
    all_events(app, admin).await.last().map_or(0, seq)
}

pub(super) fn seq(event: &Value) -> i64 {
    event["seq"].as_i64().expect("an integer seq")
}

pub(super) fn seqs(events: &[Value]) -> Vec<i64> {
    events.iter().map(seq).collect()
}

pub(super) fn types(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["type"].as_str().expect("a string type"))
        .collect()
}

/// The user resource with its `version`, as `user.created` and
/// `user.updated` carry it.
pub(super) fn versioned(user: &Value, version: i64) -> Value {
    let mut user = user.clone();
    user["version"] = version.into();
    user
}

/// `data.changed` of an event, sorted (the contract names the fields, not
/// their order).
pub(super) fn changed(event: &Value) -> Vec<String> {
    let mut fields: Vec<String> = event["data"]["changed"]
        .as_array()
        .expect("data.changed is an array")
        .iter()
        .map(|f| f.as_str().expect("a field name").to_owned())
        .collect();
    fields.sort();
    fields
}

/// The user's id from a resource.
pub(super) fn id(user: &Value) -> i64 {
    user["id"].as_i64().expect("an integer id")
}
