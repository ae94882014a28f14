//! `GET /users/me` and `GET /users/{id}` during concurrent renames: every read
//! shows a name that was written, and every body matches its `ETag`.

use std::collections::{HashMap, HashSet};

use reqwest::header::IF_MATCH;
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{etag, get, patch, send_all};
use crate::support::spawn_app;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_me_during_twenty_concurrent_renames_always_shows_a_name_that_was_written() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;

    // One rename in five requests, interleaved with the reads.
    let requests = (0..100).map(|i| {
        if i % 5 == 0 {
            patch(&app, id, &token, json!({"name": format!("Name {}", i / 5)}))
        } else {
            get(&app, "/users/me", &token)
        }
    });
    let responses = send_all(requests).await;

    let mut written: HashSet<String> = HashSet::from(["Test User".to_owned()]);
    let mut reads = Vec::new();
    for (i, response) in responses.into_iter().enumerate() {
        if i % 5 == 0 {
            assert_eq!(response.status(), StatusCode::OK, "rename {}", i / 5);
            written.insert(format!("Name {}", i / 5));
        } else {
            assert_eq!(response.status(), StatusCode::OK, "read {i}");
            reads.push(response.json::<Value>().await.unwrap());
        }
    }
    assert_eq!(reads.len(), 80);
    for me in reads {
        assert_eq!(me["id"], id);
        assert_eq!(me["email"], "ada@example.com");
        let name = me["name"].as_str().unwrap();
        assert!(written.contains(name), "{name:?} was never written");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_user_during_twenty_concurrent_renames_returns_bodies_that_match_their_etags() {
    let app = spawn_app().await;
    let (id, token) = app.user_with_token("ada@example.com").await;
    let path = format!("/users/{id}");
    let first = app.get(&path, &token).await;
    let first_tag = etag(&first);
    // Every version the row has had: its ETag and the name it carried.
    let mut versions: HashMap<String, String> = HashMap::from([(
        first_tag.clone(),
        first.json::<Value>().await.unwrap()["name"]
            .as_str()
            .unwrap()
            .to_owned(),
    )]);

    let requests = (0..100).map(|i| {
        if i % 5 == 0 {
            patch(&app, id, &token, json!({"name": format!("Name {}", i / 5)}))
        } else {
            get(&app, &path, &token)
        }
    });
    let responses = send_all(requests).await;

    let mut reads = Vec::new();
    for (i, response) in responses.into_iter().enumerate() {
        assert_eq!(response.status(), StatusCode::OK, "request {i}");
        let tag = etag(&response);
        let body: Value = response.json().await.unwrap();
        if i % 5 == 0 {
            assert_eq!(body["name"], format!("Name {}", i / 5));
            let earlier = versions.insert(tag.clone(), format!("Name {}", i / 5));
            assert_eq!(earlier, None, "two versions share the ETag {tag}");
        } else {
            reads.push((tag, body));
        }
    }
    assert_eq!(versions.len(), 21, "twenty renames, twenty new versions");
    for (tag, body) in reads {
        assert_eq!(body["id"], id);
        assert_eq!(body["email"], "ada@example.com");
        assert_eq!(
            versions.get(&tag).map(String::as_str),
            body["name"].as_str(),
            "the body read with ETag {tag} is not that version's"
        );
    }
    let last = app.get(&path, &token).await;
    let last_tag = etag(&last);
    let last_name = last.json::<Value>().await.unwrap()["name"].clone();
    assert_eq!(
        versions.get(&last_tag).map(String::as_str),
        last_name.as_str()
    );
    assert_ne!(last_tag, first_tag);
    let confirmed = patch(&app, id, &token, json!({"name": "Settled"}))
        .header(IF_MATCH, &last_tag)
        .send()
        .await
        .unwrap();
    assert_eq!(
        confirmed.status(),
        StatusCode::OK,
        "the last ETag read is the current one"
    );
    app.stop().await;
}
