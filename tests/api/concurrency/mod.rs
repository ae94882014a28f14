//! Every endpoint under concurrent input: the contract's answers must stay
//! exact when requests race (one winner, no lost update, no torn read).
//! Outcomes are counted, never timed; speed belongs in `bench/`.
//!
//! One file per endpoint of the contract's table, so each endpoint's races sit
//! side by side. The helpers here send requests and return responses; the
//! tests assert.

mod delete;
mod health;
mod list;
mod patch;
mod read;
mod signup;
mod token;
mod websocket;

use std::collections::BTreeMap;
use std::future::Future;

use futures_util::future::join_all;
use reqwest::header::ETAG;
use reqwest::{RequestBuilder, Response};
use serde_json::{json, Value};

use crate::support::{TestApp, ADMIN_PASSWORD, PASSWORD};

/// Enough argon2 slots that no racing request is turned away with 503: these
/// tests are about correctness under concurrency, not about the hashing
/// queue's limit.
pub(super) const MANY_HASHES: [&str; 2] = ["--hash-concurrency", "16"];

/// Runs every future on its own task, all at once, and returns the outputs
/// in the order given.
pub(super) async fn all_at_once<F>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let tasks: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    join_all(tasks)
        .await
        .into_iter()
        .map(|joined| joined.unwrap())
        .collect()
}

/// Sends every request at once; the responses come back in the order given.
pub(super) async fn send_all(requests: impl IntoIterator<Item = RequestBuilder>) -> Vec<Response> {
    let responses = all_at_once(requests.into_iter().map(RequestBuilder::send)).await;
    responses.into_iter().map(|r| r.unwrap()).collect()
}

/// How many responses had each status.
pub(super) fn status_counts<'a>(
    responses: impl IntoIterator<Item = &'a Response>,
) -> BTreeMap<u16, usize> {
    let mut counts = BTreeMap::new();
    for response in responses {
        *counts.entry(response.status().as_u16()).or_default() += 1;
    }
    counts
}

pub(super) fn header(
    response: &Response,
    name: impl reqwest::header::AsHeaderName,
) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

pub(super) fn etag(response: &Response) -> String {
    header(response, ETAG).expect("ETag header")
}

pub(super) fn total_count(response: &Response) -> u64 {
    header(response, "x-total-count")
        .expect("X-Total-Count header")
        .parse()
        .unwrap()
}

pub(super) fn ids_of(users: &Value) -> Vec<i64> {
    users
        .as_array()
        .expect("a JSON array")
        .iter()
        .map(|u| u["id"].as_i64().unwrap())
        .collect()
}

pub(super) fn get(app: &TestApp, path: &str, token: &str) -> RequestBuilder {
    app.client.get(app.url(path)).bearer_auth(token)
}

pub(super) fn sign_up(app: &TestApp, email: &str) -> RequestBuilder {
    app.client
        .post(app.url("/users"))
        .json(&json!({"email": email, "name": "Test User", "password": PASSWORD}))
}

pub(super) fn patch(app: &TestApp, id: i64, token: &str, body: Value) -> RequestBuilder {
    app.client
        .patch(app.url(&format!("/users/{id}")))
        .bearer_auth(token)
        .json(&body)
}

/// Two admins, each with a token: `(first id, first token, second id,
/// second token)`.
pub(super) async fn two_admins(app: &TestApp) -> (i64, String, i64, String) {
    let first_token = app.admin_token().await;
    let first: Value = app
        .get("/users/me", &first_token)
        .await
        .json()
        .await
        .unwrap();
    let second = app.create_admin("second@example.com", ADMIN_PASSWORD).await;
    let second_token = app.token("second@example.com", ADMIN_PASSWORD).await;
    (
        first["id"].as_i64().unwrap(),
        first_token,
        second,
        second_token,
    )
}
