//! `POST /token` and `POST /token/revoke` racing: concurrent sign-ins each get
//! a working token, racing wrong passwords buy no extra tries, and revoking
//! ends only the tokens revoked.

use std::collections::{BTreeMap, HashSet};

use reqwest::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use reqwest::{RequestBuilder, StatusCode};
use serde_json::Value;

use super::{get, header, send_all, status_counts, MANY_HASHES};
use crate::support::{spawn_app, spawn_app_with, TestApp, PASSWORD};

fn sign_in(app: &TestApp, email: &str, password: &str) -> RequestBuilder {
    app.client
        .post(app.url("/token"))
        .form(&[("username", email), ("password", password)])
}

fn revoke(app: &TestApp, token: &str) -> RequestBuilder {
    app.client.post(app.url("/token/revoke")).bearer_auth(token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_sign_ins_of_one_account_get_twenty_distinct_working_tokens() {
    let app = spawn_app_with(&MANY_HASHES).await;
    let id = app.sign_up("ada@example.com").await["id"].as_i64().unwrap();

    let responses = send_all((0..20).map(|_| sign_in(&app, "ada@example.com", PASSWORD))).await;

    assert_eq!(status_counts(&responses), BTreeMap::from([(200, 20)]));
    let mut tokens = Vec::new();
    for response in responses {
        let body: Value = response.json().await.unwrap();
        tokens.push(body["access_token"].as_str().unwrap().to_owned());
    }
    let distinct: HashSet<&String> = tokens.iter().collect();
    assert_eq!(distinct.len(), 20, "every sign-in gets its own token");
    let checks = send_all(tokens.iter().map(|t| get(&app, "/users/me", t))).await;
    assert_eq!(status_counts(&checks), BTreeMap::from([(200, 20)]));
    for check in checks {
        assert_eq!(check.json::<Value>().await.unwrap()["id"], id);
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_concurrent_wrong_passwords_for_one_account_get_five_invalid_grants_and_five_429() {
    let app = spawn_app_with(&MANY_HASHES).await;
    app.sign_up("ada@example.com").await;

    let responses =
        send_all((0..10).map(|_| sign_in(&app, "ada@example.com", "not the password at all")))
            .await;

    // Five failures for an account, then a wait: racing attempts must not
    // buy a guesser more than five tries.
    assert_eq!(
        status_counts(&responses),
        BTreeMap::from([(400, 5), (429, 5)])
    );
    for response in responses {
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(
                header(&response, RETRY_AFTER).is_some(),
                "429 has Retry-After"
            );
        } else {
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"], "invalid_grant");
        }
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_concurrent_revokes_of_one_token_are_204_or_401_and_the_token_ends() {
    let app = spawn_app().await;
    let (_, token) = app.user_with_token("ada@example.com").await;

    let responses = send_all((0..10).map(|_| revoke(&app, &token))).await;

    let counts = status_counts(&responses);
    assert!(
        counts.keys().all(|s| [204, 401].contains(s)) && counts.contains_key(&204),
        "each answer is 204 or 401, at least one 204; got {counts:?}"
    );
    let after = app.get("/users/me", &token).await;
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
    let challenge = header(&after, WWW_AUTHENTICATE).expect("WWW-Authenticate header");
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_ten_tokens_while_ten_others_are_used_ends_only_the_revoked_ones() {
    let app = spawn_app().await;
    app.sign_up("ada@example.com").await;
    let mut tokens = Vec::new();
    for _ in 0..20 {
        tokens.push(app.token("ada@example.com", PASSWORD).await);
    }
    let (revoked, kept) = tokens.split_at(10);

    let requests = revoked
        .iter()
        .zip(kept)
        .flat_map(|(r, k)| [revoke(&app, r), get(&app, "/users/me", k)]);
    let responses = send_all(requests).await;

    let (revokes, reads): (Vec<_>, Vec<_>) =
        responses.iter().enumerate().partition(|(i, _)| i % 2 == 0);
    assert_eq!(
        status_counts(revokes.into_iter().map(|(_, r)| r)),
        BTreeMap::from([(204, 10)])
    );
    assert_eq!(
        status_counts(reads.into_iter().map(|(_, r)| r)),
        BTreeMap::from([(200, 10)])
    );
    let revoked_after = send_all(revoked.iter().map(|t| get(&app, "/users/me", t))).await;
    assert_eq!(status_counts(&revoked_after), BTreeMap::from([(401, 10)]));
    let kept_after = send_all(kept.iter().map(|t| get(&app, "/users/me", t))).await;
    assert_eq!(status_counts(&kept_after), BTreeMap::from([(200, 10)]));
    app.stop().await;
}
