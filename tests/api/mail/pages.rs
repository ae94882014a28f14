//! The pages the links open: HTML served by the binary under the HTML
//! headers, a form that posts form-encoded to the same path; opening a
//! page uses nothing (a mail scanner follows links), submitting it does.

use std::time::Duration;

use fantoccini::Locator;
use reqwest::StatusCode;

use super::{spawn_mail_app, MailApp, NEW_PASSWORD};
use crate::support::browser::Browser;
use crate::support::smtp::{link, link_token, SmtpSink};

async fn page(app: &MailApp, path_and_query: &str) -> reqwest::Response {
    app.client
        .get(app.url(path_and_query))
        .send()
        .await
        .unwrap()
}

async fn submit(app: &MailApp, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .form(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn opening_the_reset_page_uses_nothing_and_its_form_sets_the_password() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let app = spawn_mail_app(&sink, &[]).await;
    app.sign_up("ada@example.com").await;
    app.request_reset("ada@example.com").await;
    let mail = sink
        .wait_for("ada@example.com", "Reset your password", 0)
        .await;
    let token = link_token(&mail);
    let path = link(&mail).replace("https://id.example.com", "");

    for _ in 0..3 {
        let opened = page(&app, &path).await;
        assert_eq!(opened.status(), StatusCode::OK);
        let headers = opened.headers().clone();
        assert!(headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        assert!(headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'"));
        assert_eq!(headers["x-frame-options"], "DENY");
        assert_eq!(headers["referrer-policy"], "no-referrer");
        assert_eq!(headers["cache-control"], "no-store");
        let html = opened.text().await.unwrap();
        assert!(html.contains("<form method=\"post\" action=\"password-reset\">"));
        assert!(html.contains(&format!("value=\"{token}\"")));
        assert!(!html.contains("<script"));
    }

    let weak = submit(
        &app,
        "/password-reset",
        &[("token", &token), ("password", "short")],
    )
    .await;
    assert_eq!(weak.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = weak.text().await.unwrap();
    assert!(html.contains("id=\"problems\""), "{html}");
    assert!(
        html.contains(&format!("value=\"{token}\"")),
        "the form comes back"
    );

    let done = submit(
        &app,
        "/password-reset",
        &[("token", &token), ("password", NEW_PASSWORD)],
    )
    .await;
    assert_eq!(done.status(), StatusCode::OK);
    assert!(done.text().await.unwrap().contains("id=\"done\""));
    assert_eq!(
        app.login("ada@example.com", NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
    let again = submit(
        &app,
        "/password-reset",
        &[("token", &token), ("password", NEW_PASSWORD)],
    )
    .await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert!(again.text().await.unwrap().contains("id=\"failed\""));
}

#[tokio::test]
async fn the_verification_page_confirms_only_when_its_button_is_pressed() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let app = spawn_mail_app(&sink, &[]).await;
    let (_, bearer) = app.user_with_token("ada@example.com").await;
    let mail = sink
        .wait_for("ada@example.com", "Confirm your email address", 0)
        .await;
    let path = link(&mail).replace("https://id.example.com", "");
    let opened = page(&app, &path).await;
    assert_eq!(opened.status(), StatusCode::OK);
    let me: serde_json::Value = app.get("/users/me", &bearer).await.json().await.unwrap();
    assert_eq!(
        me["email_verified"], false,
        "following the link changed nothing"
    );

    let done = submit(
        &app,
        "/email-verification",
        &[("token", &link_token(&mail))],
    )
    .await;
    assert_eq!(done.status(), StatusCode::OK);
    assert!(done
        .text()
        .await
        .unwrap()
        .contains("ada@example.com is confirmed"));
    let me: serde_json::Value = app.get("/users/me", &bearer).await.json().await.unwrap();
    assert_eq!(me["email_verified"], true);
}

#[tokio::test]
async fn a_page_without_a_token_or_with_a_hostile_one_is_harmless() {
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let app = spawn_mail_app(&sink, &[]).await;
    assert_eq!(
        page(&app, "/password-reset").await.status(),
        StatusCode::BAD_REQUEST
    );
    let hostile = page(
        &app,
        "/email-verification?token=%22%3E%3Cscript%3Ealert(1)%3C/script%3E",
    )
    .await;
    assert_eq!(hostile.status(), StatusCode::OK);
    let html = hostile.text().await.unwrap();
    assert!(!html.contains("<script>"), "{html}");
    assert!(html.contains("&quot;&gt;&lt;script&gt;"));
    let submitted = submit(&app, "/email-verification", &[("token", "\"><script>")]).await;
    assert_eq!(submitted.status(), StatusCode::BAD_REQUEST);
    let empty = submit(&app, "/password-reset", &[]).await;
    assert_eq!(empty.status(), StatusCode::BAD_REQUEST);
}

/// The text of the page's `<main>` once an element `css` is on it.
async fn shown(browser: &Browser, css: &str) -> String {
    browser
        .client
        .wait()
        .at_most(Duration::from_secs(20))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} never showed: {e}"));
    browser
        .client
        .find(Locator::Css("body"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn in_a_browser_both_link_pages_work_offline_within_their_policy() {
    let Some(browser) = Browser::take().await else {
        return;
    };
    let Some(sink) = SmtpSink::start() else {
        return;
    };
    let app = spawn_mail_app(&sink, &[]).await;
    let (_, bearer) = app.user_with_token("ada@example.com").await;

    // The verification link: the page, its button, the result.
    let mail = sink
        .wait_for("ada@example.com", "Confirm your email address", 0)
        .await;
    let path = link(&mail).replace("https://id.example.com", "");
    browser.client.goto(&app.url(&path)).await.unwrap();
    browser
        .client
        .find(Locator::Css("form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let text = shown(&browser, "#done").await;
    assert!(text.contains("ada@example.com is confirmed"), "{text}");
    let me: serde_json::Value = app.get("/users/me", &bearer).await.json().await.unwrap();
    assert_eq!(me["email_verified"], true);

    // The reset link: a refused password shows why and keeps the form;
    // a good one sets it.
    app.request_reset("ada@example.com").await;
    let mail = sink
        .wait_for("ada@example.com", "Reset your password", 0)
        .await;
    let path = link(&mail).replace("https://id.example.com", "");
    browser.client.goto(&app.url(&path)).await.unwrap();
    for (password, expect) in [("short", "#problems"), (NEW_PASSWORD, "#done")] {
        let field = browser
            .client
            .find(Locator::Css("#password"))
            .await
            .unwrap();
        field.send_keys(password).await.unwrap();
        browser
            .client
            .find(Locator::Css("form button[type=submit]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        shown(&browser, expect).await;
    }
    assert_eq!(
        app.login("ada@example.com", NEW_PASSWORD).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get("/users/me", &bearer).await.status(),
        StatusCode::UNAUTHORIZED,
        "the reset ended the old token"
    );

    let requests = browser.requests(&format!("http://{}", app.addr)).await;
    let posts = requests
        .own
        .iter()
        .filter(|url| url.ends_with("/password-reset") || url.ends_with("/email-verification"))
        .count();
    assert!(posts >= 3, "the forms were not posted: {requests:?}");
    assert_eq!(requests.foreign, Vec::<String>::new());
    assert_eq!(browser.policy_violations().await, Vec::<String>::new());
}
