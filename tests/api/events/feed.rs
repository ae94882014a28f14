//! `GET /events?after=SEQ&limit=N` as JSON: admins only; `limit` 1..=1000
//! (default 100) and `after` ≥ 0, else 422; events in `seq` order with a
//! `Link: rel="next"` when the page is full; 410 once events after `after`
//! were pruned; and a reader that has seen `seq` N never later finds a new
//! event below N, with many writers at once.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use reqwest::header::LINK;
use reqwest::StatusCode;
use serde_json::{json, Value};

use super::{all_events, feed, seq, seqs};
use crate::support::{problem, spawn_app, spawn_app_with, TestApp};
use crate::users::{header, patch};

/// Enough events for paging: the admin's creation and four sign-ups.
async fn five_events(app: &TestApp) {
    for name in ["ada", "grace", "edsger", "barbara"] {
        app.sign_up(&format!("{name}@example.com")).await;
    }
}

/// The path of a `Link: <…>; rel="next"` header.
fn next_path(link: &str) -> Option<String> {
    let (target, params) = link.split_once(';')?;
    params.contains("rel=\"next\"").then(|| {
        target
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .to_owned()
    })
}

#[tokio::test]
async fn the_feed_without_a_token_is_401() {
    let app = spawn_app().await;

    let response = app.client.get(app.url("/events")).send().await.unwrap();

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    problem(response).await;
}

#[tokio::test]
async fn the_feed_for_a_user_who_is_not_an_admin_is_403() {
    let app = spawn_app().await;
    let (_, token) = app.user_with_token("ada@example.com").await;

    let response = feed(&app, &token, "").await;

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    problem(response).await;
}

#[tokio::test]
async fn a_limit_outside_1_to_1000_is_422() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;

    for limit in ["0", "1001", "-1", "ten", ""] {
        let response = feed(&app, &admin, &format!("?limit={limit}")).await;

        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "limit={limit}"
        );
        problem(response).await;
    }
}

#[tokio::test]
async fn limits_of_1_and_1000_are_accepted() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;

    for limit in [1, 1000] {
        let response = feed(&app, &admin, &format!("?limit={limit}")).await;

        assert_eq!(response.status(), StatusCode::OK, "limit={limit}");
    }
}

#[tokio::test]
async fn an_after_that_is_not_an_integer_of_at_least_0_is_422() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;

    for after in ["-1", "one", "1.5", ""] {
        let response = feed(&app, &admin, &format!("?after={after}")).await;

        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "after={after}"
        );
        problem(response).await;
    }
}

#[tokio::test]
async fn a_full_page_links_to_the_next_page_after_its_last_seq() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    five_events(&app).await;

    let response = feed(&app, &admin, "?limit=2").await;

    assert_eq!(response.status(), StatusCode::OK);
    let link = header(&response, LINK).expect("a Link header");
    let page: Vec<Value> = response.json().await.unwrap();
    assert_eq!(page.len(), 2);
    assert_eq!(
        link,
        format!("</events?after={}&limit=2>; rel=\"next\"", seq(&page[1]))
    );
}

#[tokio::test]
async fn a_page_that_is_not_full_has_no_link() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    five_events(&app).await;

    let response = feed(&app, &admin, "?limit=6").await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(&response, LINK), None);
    assert_eq!(response.json::<Vec<Value>>().await.unwrap().len(), 5);
}

#[tokio::test]
async fn following_the_next_links_gives_every_event_once_in_seq_order() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    five_events(&app).await;
    let everything = all_events(&app, &admin).await;

    let mut pages = Vec::new();
    let mut path = Some("/events?limit=2".to_owned());
    while let Some(next) = path.take() {
        let response = app.get(&next, &admin).await;
        assert_eq!(response.status(), StatusCode::OK, "{next}");
        path = header(&response, LINK).and_then(|l| next_path(&l));
        pages.push(response.json::<Vec<Value>>().await.unwrap());
        assert!(pages.len() <= 10, "the links never end");
    }

    let sizes: Vec<usize> = pages.iter().map(Vec::len).collect();
    assert_eq!(sizes, [2, 2, 1]);
    assert_eq!(pages.concat(), everything);
    let seqs = seqs(&everything);
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
}

#[tokio::test]
async fn after_gives_only_the_events_with_a_greater_seq() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    five_events(&app).await;
    let everything = all_events(&app, &admin).await;

    let response = feed(&app, &admin, &format!("?after={}", seq(&everything[2]))).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.json::<Vec<Value>>().await.unwrap(),
        everything[3..]
    );
}

#[tokio::test]
async fn without_a_limit_a_page_holds_100_events_and_links_to_the_next() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let (id, token) = app.user_with_token("ada@example.com").await;
    for i in 0..100 {
        let response = patch(&app, id, &token, json!({"name": format!("Ada {i}")})).await;
        assert_eq!(response.status(), StatusCode::OK);
    }

    let response = feed(&app, &admin, "").await;

    assert_eq!(response.status(), StatusCode::OK);
    let link = header(&response, LINK).expect("a Link header");
    let page: Vec<Value> = response.json().await.unwrap();
    assert_eq!(page.len(), 100);
    assert_eq!(
        link,
        format!("</events?after={}&limit=100>; rel=\"next\"", seq(&page[99]))
    );
}

#[tokio::test]
async fn after_a_seq_whose_successors_were_pruned_the_feed_is_410() {
    let app = spawn_app_with(&["--event-retention", "1ms", "--prune-interval", "50ms"]).await;
    let admin = app.admin_token().await;
    app.sign_up("ada@example.com").await;

    let deadline = Instant::now() + Duration::from_secs(10);
    let mut response = feed(&app, &admin, "?after=0").await;
    while response.status() == StatusCode::OK && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        response = feed(&app, &admin, "?after=0").await;
    }

    assert_eq!(response.status(), StatusCode::GONE);
    problem(response).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reader_never_finds_a_new_event_below_a_seq_it_has_already_seen() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let mut writers = Vec::new();
    for i in 0..8 {
        let (id, token) = app.user_with_token(&format!("writer{i}@example.com")).await;
        writers.push((id, token));
    }
    let start = all_events(&app, &admin).await;
    let expected = start.len() + 8 * 15;

    let writing = futures_util::future::join_all(writers.iter().map(|(id, token)| {
        let app = &app;
        async move {
            for n in 0..15 {
                let response = patch(app, *id, token, json!({"name": format!("Name {n}")})).await;
                assert_eq!(response.status(), StatusCode::OK);
            }
        }
    }));
    let reading = async {
        let mut seen: BTreeSet<i64> = BTreeSet::new();
        let mut late = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while seen.len() < expected && Instant::now() < deadline {
            let highest = seen.last().copied().unwrap_or(0);
            for event in all_events(&app, &admin).await {
                let seq = seq(&event);
                if seen.insert(seq) && seq < highest {
                    late.push((seq, highest));
                }
            }
        }
        (seen.len(), late)
    };
    let (_, (seen, late)) = tokio::join!(writing, reading);

    assert_eq!(seen, expected);
    assert_eq!(
        late,
        [],
        "new events below a seq already seen: (seq, highest seen)"
    );
}
