//! The console's pages: served by the binary with the HTML headers, values
//! escaped, no token in them, light, and the users table in pages over
//! the same list as `GET /users`.

use reqwest::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use reqwest::StatusCode;

use super::{user_named, Browser};
use crate::support::spawn_app;

#[tokio::test]
async fn every_console_page_and_asset_carries_the_html_security_headers() {
    let app = spawn_app().await;
    let browser = Browser::admin(&app).await;
    let id = user_named(&app, "ada@example.com", "Ada").await;

    for path in [
        "/admin/sign-in".to_owned(),
        "/admin/users".to_owned(),
        format!("/admin/users/{id}"),
        format!("/admin/users/{id}/delete"),
        "/admin/events".to_owned(),
        "/admin/assets/console.css".to_owned(),
        "/admin/assets/console.js".to_owned(),
    ] {
        let response = browser.get(&path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let headers = response.headers();
        let csp = headers[CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("default-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("script-src 'self';"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}: {csp}");
        assert_eq!(headers[X_FRAME_OPTIONS], "DENY", "{path}");
        assert_eq!(headers[REFERRER_POLICY], "no-referrer", "{path}");
        assert_eq!(headers[X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
    }
    let page = browser.get("/admin/users").await;
    assert_eq!(page.headers()[CACHE_CONTROL], "no-store");
    assert_eq!(page.headers()[CONTENT_TYPE], "text/html; charset=utf-8");
    app.stop().await;
}

#[tokio::test]
async fn no_page_holds_an_inline_script_or_a_reference_to_another_host() {
    let app = spawn_app().await;
    let browser = Browser::admin(&app).await;
    let id = user_named(&app, "ada@example.com", "Ada").await;

    for path in [
        "/admin/sign-in".to_owned(),
        "/admin/users".to_owned(),
        format!("/admin/users/{id}"),
        "/admin/events".to_owned(),
    ] {
        let html = browser.get(&path).await.text().await.unwrap();
        for (at, _) in html.match_indices("<script") {
            let tag = &html[at..html[at..].find('>').unwrap() + at];
            assert!(tag.contains("src=\"/admin/"), "{path}: inline script {tag}");
        }
        assert!(
            !has_event_handler(&html),
            "{path}: an event handler attribute"
        );
        assert!(!html.contains("style=\""), "{path}: an inline style");
        assert!(!html.contains("://"), "{path}: an absolute URL");
        assert!(!html.contains("\"//"), "{path}: a scheme-relative URL");
    }
    app.stop().await;
}

#[tokio::test]
async fn hostile_names_and_emails_render_as_text() {
    let app = spawn_app().await;
    let browser = Browser::admin(&app).await;
    let script = "<script>alert(1)</script>";
    let image = "\"><img src=x onerror=alert(1)>";
    let a = user_named(&app, "a@example.com", script).await;
    let b = user_named(&app, "b@example.com", image).await;

    let list = browser.page("/admin/users").await;
    let one = browser.page(&format!("/admin/users/{a}")).await;
    let other = browser.page(&format!("/admin/users/{b}")).await;
    let search = browser.page("/admin/users?q=%3Cscript%3E").await;

    for html in [&list, &one, &other, &search] {
        assert!(!html.contains(script), "unescaped <script>");
        assert!(!html.contains("<img"), "unescaped <img>");
    }
    assert!(list.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(list.contains("&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"));
    assert!(one.contains("value=\"&lt;script&gt;alert(1)&lt;/script&gt;\""));
    assert!(search.contains("value=\"&lt;script&gt;\""));
    app.stop().await;
}

#[tokio::test]
async fn no_page_shows_the_session_token_and_no_url_carries_it() {
    let app = spawn_app().await;
    let browser = Browser::admin(&app).await;
    let id = user_named(&app, "ada@example.com", "Ada").await;
    let token = browser.cookie.clone().unwrap();
    let token = token.split_once('=').unwrap().1;

    for path in [
        "/admin/users".to_owned(),
        format!("/admin/users/{id}"),
        "/admin/events".to_owned(),
    ] {
        let html = browser.page(&path).await;
        assert!(!html.contains(token), "{path} shows the token");
    }
    app.stop().await;
}

#[tokio::test]
async fn the_users_page_is_under_100_kb_with_a_full_page_of_long_names() {
    let app = spawn_app().await;
    let browser = Browser::admin(&app).await;
    let name = "W".repeat(100);
    for n in 0..60 {
        let email = format!("{}{n}@example.com", "x".repeat(60));
        user_named(&app, &email, &name).await;
    }

    let html = browser.page("/admin/users").await;
    let css = browser
        .get("/admin/assets/console.css")
        .await
        .bytes()
        .await
        .unwrap();

    assert_eq!(html.matches("<tr>").count(), 51, "a header and 50 rows");
    let weight = html.len() + css.len();
    assert!(weight <= 100 * 1024, "the users page weighs {weight} bytes");
    app.stop().await;
}

#[tokio::test]
async fn the_table_pages_forward_and_back_with_the_total_and_the_filters() {
    let app = spawn_app().await;
    let browser = Browser::admin(&app).await;
    for n in 0..120 {
        user_named(&app, &format!("page{n:03}@example.com"), "Pager").await;
    }
    user_named(&app, "other@example.com", "Someone Else").await;

    let first = browser.page("/admin/users?q=pager").await;
    assert!(first.contains("120 users match"), "the total");
    assert!(first.contains("page000@example.com"));
    assert!(!first.contains("rel=\"prev\""));
    let next = href(&first, "next");
    assert!(next.contains("q=pager"), "{next}");
    let second = browser.page(&next).await;
    assert!(second.contains("page050@example.com"));
    assert!(!second.contains("page049@example.com"));
    let third = browser.page(&href(&second, "next")).await;
    assert!(third.contains("page119@example.com"));
    assert!(!third.contains("rel=\"next\""), "the last page has no next");
    assert!(!third.contains("other@example.com"), "the filter holds");
    let back = browser.page(&href(&third, "prev")).await;
    assert!(back.contains("page050@example.com") && back.contains("page099@example.com"));
    assert!(!back.contains("page049@example.com") && !back.contains("page100@example.com"));
    let front = browser.page(&href(&back, "prev")).await;
    assert!(front.contains("page000@example.com"));
    assert!(
        !front.contains("rel=\"prev\""),
        "the first page has no previous"
    );
    app.stop().await;
}

/// Whether the HTML has an attribute like ` onclick=`.
fn has_event_handler(html: &str) -> bool {
    html.match_indices(" on").any(|(at, _)| {
        let rest = &html[at + 3..];
        let name_len = rest.chars().take_while(char::is_ascii_lowercase).count();
        name_len > 0 && rest[name_len..].starts_with('=')
    })
}

/// The `href` of the link with `rel` (HTML-unescaped).
fn href(html: &str, rel: &str) -> String {
    let at = html
        .find(&format!("rel=\"{rel}\" href=\""))
        .unwrap_or_else(|| panic!("no rel={rel} link"));
    let rest = &html[at + format!("rel=\"{rel}\" href=\"").len()..];
    rest[..rest.find('"').unwrap()].replace("&amp;", "&")
}

#[tokio::test]
async fn role_and_status_filters_narrow_the_table() {
    let app = spawn_app().await;
    let browser = Browser::admin(&app).await;
    user_named(&app, "ada@example.com", "Ada").await;
    let token = app.admin_token().await;
    let bob = user_named(&app, "bob@example.com", "Bob").await;
    app.client
        .patch(app.url(&format!("/users/{bob}")))
        .bearer_auth(&token)
        .json(&serde_json::json!({"is_active": false}))
        .send()
        .await
        .unwrap();

    let admins = browser.page("/admin/users?role=admin&is_active=").await;
    let inactive = browser.page("/admin/users?role=&is_active=false").await;

    assert!(admins.contains("1 user matches") && !admins.contains("ada@example.com"));
    assert!(inactive.contains("bob@example.com") && !inactive.contains("ada@example.com"));
    app.stop().await;
}

#[tokio::test]
async fn the_events_page_lists_the_newest_events_and_streams_with_the_cookie() {
    let app = spawn_app().await;
    let browser = Browser::admin(&app).await;
    user_named(&app, "ada@example.com", "Ada").await;

    let html = browser.page("/admin/events").await;
    let stream = browser
        .client
        .get(app.url("/admin/events/stream?after=0"))
        .header("cookie", browser.cookie.clone().unwrap())
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();

    assert!(html.contains("user.created") && html.contains("ada@example.com"));
    assert!(html.contains("src=\"/admin/assets/console.js\""));
    assert_eq!(stream.status(), StatusCode::OK);
    assert!(stream.headers()[CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    app.stop().await;
}

#[tokio::test]
async fn bad_table_queries_and_ids_get_a_page_that_says_so_never_a_crash() {
    let app = spawn_app().await;
    let browser = Browser::admin(&app).await;
    let long = format!("/admin/users?q={}", "x".repeat(300));

    let too_long = browser.get(&long).await;
    let before = browser.get("/admin/users?before_id=abc").await;
    let role = browser.get("/admin/users?role=root").await;
    let id = browser.get("/admin/users/abc").await;
    let zero = browser.get("/admin/users/0/delete").await;
    let missing = browser.get("/admin/users/999999").await;

    for response in [too_long, before, role] {
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(response.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        assert!(response.text().await.unwrap().contains("Not done"));
    }
    for response in [id, zero, missing] {
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert!(response.text().await.unwrap().contains("role=\"alert\""));
    }
    app.stop().await;
}
