//! The console's journeys in a real browser (Debian's Chromium, driven by
//! `support::browser`): an operator signs in, finds a user, fixes the
//! account, and what the API then holds is asserted. Every journey also
//! checks that no request left for another host and that the page's
//! policy was never violated.

use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use reqwest::StatusCode;

use super::{api_user, user_named};
use crate::support::browser::Browser as Chromium;
use crate::support::{spawn_app, TestApp, ADMIN_EMAIL, ADMIN_PASSWORD};

/// Waits for `css` on the page and returns the body's text. A navigation
/// between finding `css` and reading the body leaves a stale element: then
/// it reads again, on the page that is there now.
pub(super) async fn shown(client: &Client, css: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let found = client
            .wait()
            .at_most(deadline.saturating_duration_since(Instant::now()))
            .for_element(Locator::Css(css))
            .await;
        if let Err(e) = found {
            let url = client.current_url().await.map(|u| u.to_string());
            let source = client.source().await.unwrap_or_default();
            panic!("{css} never showed ({e}) at {url:?}: {source}");
        }
        let body = match client.find(Locator::Css("body")).await {
            Ok(body) => body.text().await,
            Err(e) => Err(e),
        };
        match body {
            Ok(text) => return text,
            Err(e) if Instant::now() < deadline => {
                eprintln!("reading the page after {css} showed: {e}; again");
            }
            Err(e) => panic!("the page with {css} could not be read: {e}"),
        }
    }
}

/// Waits until the address holds `part` (a form's GET has landed).
async fn arrived(client: &Client, part: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let url = client.current_url().await.unwrap().to_string();
        if url.contains(part) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "never arrived at …{part}: at {url}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(super) async fn fill(client: &Client, css: &str, value: &str) {
    let field = client.find(Locator::Css(css)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

pub(super) async fn press(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Signs the admin in through the sign-in page; lands on the users table.
pub(super) async fn sign_in(chromium: &Chromium, app: &TestApp) {
    app.admin_token().await;
    let client = &chromium.client;
    client.goto(&app.url("/admin")).await.unwrap();
    shown(client, "form[action='/admin/sign-in']").await;
    fill(client, "#email", ADMIN_EMAIL).await;
    fill(client, "#password", ADMIN_PASSWORD).await;
    press(client, "form[action='/admin/sign-in'] button[type=submit]").await;
    shown(client, "#users").await;
}

/// Opens one user's page and waits for its `section`.
pub(super) async fn open_user(client: &Client, app: &TestApp, id: i64, section: &str) {
    client
        .goto(&app.url(&format!("/admin/users/{id}")))
        .await
        .unwrap();
    shown(client, section).await;
}

/// Nothing left for another host, and the policy held.
async fn stayed_home(chromium: &Chromium, app: &TestApp) {
    let requests = chromium.requests(&format!("http://{}", app.addr)).await;
    assert!(!requests.own.is_empty(), "no request logged: {requests:?}");
    assert_eq!(requests.foreign, Vec::<String>::new());
    assert_eq!(chromium.policy_violations().await, Vec::<String>::new());
}

#[tokio::test]
async fn an_admin_signs_in_finds_a_user_edits_the_name_and_the_api_shows_it() {
    let Some(chromium) = Chromium::take().await else {
        return;
    };
    let app = spawn_app().await;
    let id = user_named(&app, "grace@example.com", "Grace Hopper").await;
    user_named(&app, "alan@example.com", "Alan Turing").await;
    let client = &chromium.client;

    sign_in(&chromium, &app).await;
    fill(client, "#q", "grace").await;
    press(client, "form.search button[type=submit]").await;
    // `#total` is on the page before the search too: wait for the new one.
    arrived(client, "q=grace").await;
    let table = shown(client, "#total").await;
    assert!(
        table.contains("grace@example.com") && !table.contains("alan@example.com"),
        "{table}"
    );
    press(client, &format!("#users a[href='/admin/users/{id}']")).await;
    shown(client, "#account").await;
    fill(client, "#name-input", "Grace Brewster Hopper").await;
    press(client, "#account button[type=submit]").await;
    let page = shown(client, "p.notice.done").await;

    assert!(page.contains("Grace Brewster Hopper"), "{page}");
    let (status, user) = api_user(&app, id).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(user["name"], "Grace Brewster Hopper");
    stayed_home(&chromium, &app).await;
}

#[tokio::test]
async fn a_stale_edit_in_the_browser_shows_the_message_with_the_current_values() {
    let Some(chromium) = Chromium::take().await else {
        return;
    };
    let app = spawn_app().await;
    let id = user_named(&app, "grace@example.com", "Grace Hopper").await;
    let client = &chromium.client;
    sign_in(&chromium, &app).await;
    open_user(client, &app, id, "#account").await;

    // Someone else renames her through the API while the page is open.
    let token = app.admin_token().await;
    let renamed = app
        .client
        .patch(app.url(&format!("/users/{id}")))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "Amazing Grace"}))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), StatusCode::OK);
    fill(client, "#name-input", "Rear Admiral Hopper").await;
    press(client, "#account button[type=submit]").await;
    let page = shown(client, "#unsaved").await;

    assert!(
        page.contains("changed by someone else since you opened it"),
        "{page}"
    );
    let name = client
        .find(Locator::Css("#name-input"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(
        name.as_deref(),
        Some("Amazing Grace"),
        "the form shows the current value"
    );
    assert_eq!(api_user(&app, id).await.1["name"], "Amazing Grace");
    stayed_home(&chromium, &app).await;
}

#[tokio::test]
async fn ending_all_sessions_in_the_browser_makes_the_users_bearer_token_401() {
    let Some(chromium) = Chromium::take().await else {
        return;
    };
    let app = spawn_app().await;
    let (id, bearer) = app.user_with_token("grace@example.com").await;
    assert_eq!(app.get("/users/me", &bearer).await.status(), StatusCode::OK);
    let client = &chromium.client;
    sign_in(&chromium, &app).await;
    open_user(client, &app, id, "#sessions").await;

    press(client, "#sessions button[type=submit]").await;
    shown(client, "p.notice.done").await;

    assert_eq!(
        app.get("/users/me", &bearer).await.status(),
        StatusCode::UNAUTHORIZED
    );
    stayed_home(&chromium, &app).await;
}

#[tokio::test]
async fn deleting_in_the_browser_asks_first_then_the_api_no_longer_has_the_user() {
    let Some(chromium) = Chromium::take().await else {
        return;
    };
    let app = spawn_app().await;
    let (id, bearer) = app.user_with_token("grace@example.com").await;
    let client = &chromium.client;
    sign_in(&chromium, &app).await;
    open_user(client, &app, id, "#delete").await;

    press(client, "#delete a.danger").await;
    let confirm = shown(client, "form[action$='/delete'] button.danger").await;
    assert!(confirm.contains("cannot be undone"), "{confirm}");
    // Asking deletes nothing: cancelling leaves the account as it was.
    assert_eq!(api_user(&app, id).await.0, StatusCode::OK);
    press(client, "form[action$='/delete'] a").await;
    shown(client, "#delete").await;
    assert_eq!(api_user(&app, id).await.0, StatusCode::OK);

    press(client, "#delete a.danger").await;
    shown(client, "form[action$='/delete'] button.danger").await;
    press(client, "form[action$='/delete'] button.danger").await;
    let table = shown(client, "p.notice.done").await;

    assert!(table.contains("User deleted."), "{table}");
    assert!(!table.contains("grace@example.com"), "{table}");
    assert_eq!(api_user(&app, id).await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get("/users/me", &bearer).await.status(),
        StatusCode::UNAUTHORIZED
    );
    stayed_home(&chromium, &app).await;
}

#[tokio::test]
async fn a_hostile_name_is_text_and_an_injected_inline_script_is_blocked() {
    let Some(chromium) = Chromium::take().await else {
        return;
    };
    let app = spawn_app().await;
    let hostile = "<script>window.ran=1</script><img src=x onerror=\"window.ran=2\">";
    user_named(&app, "mallory@example.com", hostile).await;
    let client = &chromium.client;
    sign_in(&chromium, &app).await;

    let table = shown(client, "#users").await;
    assert!(table.contains(hostile), "the name shows as text: {table}");
    let injected = client
        .execute(
            "const s = document.createElement('script');
             s.textContent = 'window.ran = 3';
             document.body.appendChild(s);
             return window.ran === undefined;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(injected, serde_json::Value::Bool(true), "a script ran");
    let violations = chromium.policy_violations().await;
    assert!(
        violations.iter().any(|v| v.contains("script")),
        "the policy did not report the blocked inline script: {violations:?}"
    );
}

#[tokio::test]
async fn a_non_admin_is_refused_in_the_browser() {
    let Some(chromium) = Chromium::take().await else {
        return;
    };
    let app = spawn_app().await;
    app.user_with_token("grace@example.com").await;
    let client = &chromium.client;
    client.goto(&app.url("/admin")).await.unwrap();
    shown(client, "form[action='/admin/sign-in']").await;
    fill(client, "#email", "grace@example.com").await;
    fill(client, "#password", crate::support::PASSWORD).await;
    press(client, "form[action='/admin/sign-in'] button[type=submit]").await;

    let page = shown(client, "p.notice.refused").await;
    assert!(client.find(Locator::Css("#users")).await.is_err(), "{page}");
    let cookies = client.get_all_cookies().await.unwrap();
    assert!(cookies.is_empty(), "a session cookie was set: {cookies:?}");
    stayed_home(&chromium, &app).await;
}
