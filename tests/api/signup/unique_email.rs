//! One account per email, whatever its case: a second sign-up is 400, also in
//! a race of fifty, and a deleted user's email may sign up again under a new,
//! larger id.

use reqwest::{Response, StatusCode};
use serde_json::Value;

use super::signup;
use crate::support::{problem, spawn_app, spawn_app_with};

#[tokio::test]
async fn signup_with_same_email_in_other_case_is_400() {
    let app = spawn_app().await;
    app.sign_up("Ada@Example.com").await;

    let response = app.post_user(&signup("aDA@eXAMPLE.COM", "Ada")).await;

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = problem(response).await;
    assert_eq!(body["detail"], "Email already registered");
    assert_eq!(body["status"], 400);
    app.stop().await;
}

#[tokio::test]
async fn signup_with_same_non_ascii_email_in_other_case_is_400() {
    let app = spawn_app().await;
    app.sign_up("élodie@example.com").await;

    let response = app.post_user(&signup("ÉLODIE@EXAMPLE.COM", "Élodie")).await;

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        problem(response).await["detail"],
        "Email already registered"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_signups_of_one_email_in_mixed_case_create_exactly_one_user() {
    // Enough hashing slots that none of the 50 is turned away with 503: the
    // test is about uniqueness, not about the hashing queue.
    let app = spawn_app_with(&["--hash-concurrency", "16"]).await;
    let emails: Vec<String> = (0..50)
        .map(|i| {
            "race@example.com"
                .chars()
                .enumerate()
                .map(|(j, c)| {
                    if (i >> (j % 6)) & 1 == 1 {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect()
        })
        .collect();
    let requests = emails.iter().map(|email| {
        let client = app.client.clone();
        let url = app.url("/users");
        let body = signup(email, "Racer");
        tokio::spawn(async move { client.post(url).json(&body).send().await.unwrap() })
    });

    let responses: Vec<Response> = futures_util::future::join_all(requests)
        .await
        .into_iter()
        .map(|joined| joined.unwrap())
        .collect();

    let mut created = 0;
    for response in responses {
        match response.status() {
            StatusCode::CREATED => created += 1,
            StatusCode::BAD_REQUEST => {
                assert_eq!(
                    problem(response).await["detail"],
                    "Email already registered"
                );
            }
            other => panic!("unexpected {other}: {}", response.text().await.unwrap()),
        }
    }
    assert_eq!(created, 1);
    let admin = app.admin_token().await;
    let listed = app.get("/users?q=race%40example.com", &admin).await;
    assert_eq!(listed.status(), StatusCode::OK);
    assert_eq!(listed.headers()["x-total-count"], "1");
    app.stop().await;
}

#[tokio::test]
async fn deleted_users_email_may_sign_up_again_with_a_new_larger_id() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let first = app.sign_up("ada@example.com").await["id"].as_i64().unwrap();
    let deleted = app
        .client
        .delete(app.url(&format!("/users/{first}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);

    let response = app.post_user(&signup("ADA@example.com", "Ada again")).await;

    assert_eq!(response.status(), StatusCode::CREATED);
    let again: Value = response.json().await.unwrap();
    assert_eq!(again["email"], "ada@example.com");
    // The deleted user had the highest id, the one a reusing store would
    // hand out again.
    assert!(again["id"].as_i64().unwrap() > first, "{again} vs {first}");
    app.stop().await;
}
