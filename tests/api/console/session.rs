//! "Sign in with an admin's email and password (throttled as `/token` is;
//! a non-admin is refused); sign out ends that session's token." "The
//! console's session is a cookie scoped to `/admin` (HttpOnly,
//! SameSite=Strict, Secure when `--public-url` is https), backed by an
//! ordinary access token (it ends on sign-out, deactivation, revocation),
//! and every state-changing request checks `Origin`."

use reqwest::StatusCode;
use serde_json::json;

use super::{location, session_cookie, Browser};
use crate::support::{spawn_app, spawn_app_with, ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD};

#[tokio::test]
async fn an_admin_signs_in_with_a_cookie_scoped_to_admin_httponly_samesite_strict() {
    let app = spawn_app().await;
    app.admin_token().await;
    let mut browser = Browser::new(&app);

    let response = browser.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/admin/users");
    let cookie = session_cookie(&response).expect("a session cookie");
    let attributes: Vec<String> = cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_ascii_lowercase())
        .collect();
    assert!(attributes.contains(&"path=/admin".into()), "{cookie}");
    assert!(attributes.contains(&"httponly".into()), "{cookie}");
    assert!(attributes.contains(&"samesite=strict".into()), "{cookie}");
    assert!(
        !attributes.contains(&"secure".into()),
        "Secure over plain http: {cookie}"
    );
    assert!(
        !attributes.iter().any(|a| a.starts_with("domain")),
        "{cookie}"
    );
    let html = browser.page("/admin/users").await;
    assert!(html.contains(ADMIN_EMAIL));
    app.stop().await;
}

#[tokio::test]
async fn the_cookie_is_secure_when_a_trusted_proxy_says_the_browser_came_by_https() {
    let app = spawn_app_with(&["--trusted-proxies", "127.0.0.1/32"]).await;
    app.admin_token().await;
    let browser = Browser::new(&app);

    let response = browser
        .client
        .post(app.url("/admin/sign-in"))
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "console.example.com")
        .header("origin", "https://console.example.com")
        .form(&[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = session_cookie(&response).expect("a session cookie");
    assert!(
        cookie
            .to_ascii_lowercase()
            .split(';')
            .any(|a| a.trim() == "secure"),
        "{cookie}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_wrong_password_shows_the_sign_in_page_again_without_a_cookie() {
    let app = spawn_app().await;
    app.admin_token().await;
    let mut browser = Browser::new(&app);

    let response = browser.sign_in(ADMIN_EMAIL, "not the right password").await;

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(session_cookie(&response).is_none());
    let html = response.text().await.unwrap();
    assert!(html.contains("Incorrect email or password"), "{html}");
    assert!(
        !html.contains("not the right password"),
        "the password came back in the page"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_non_admin_with_the_right_password_is_refused_and_gets_no_session() {
    let app = spawn_app().await;
    app.sign_up("ada@example.com").await;
    let mut browser = Browser::new(&app);

    let response = browser.sign_in("ada@example.com", PASSWORD).await;

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(session_cookie(&response).is_none());
    let html = response.text().await.unwrap();
    assert!(html.contains("Only admins may use the console"), "{html}");
    assert_eq!(
        browser.get("/admin/users").await.status(),
        StatusCode::SEE_OTHER
    );
    app.stop().await;
}

#[tokio::test]
async fn console_sign_in_is_throttled_as_token_is() {
    let app = spawn_app().await;
    app.admin_token().await;
    let mut browser = Browser::new(&app);

    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(
            browser
                .sign_in(ADMIN_EMAIL, "wrong password here")
                .await
                .status(),
        );
    }
    let right = browser.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;

    assert_eq!(statuses[..5], [StatusCode::BAD_REQUEST; 5]);
    assert_eq!(statuses[5], StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(right.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(right.text().await.unwrap().contains("try again in"));
    // The same count as /token: the API is throttled for this account too.
    assert_eq!(
        app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    app.stop().await;
}

#[tokio::test]
async fn every_console_page_without_a_session_redirects_to_sign_in() {
    let app = spawn_app().await;
    let browser = Browser::new(&app);

    for path in [
        "/admin",
        "/admin/users",
        "/admin/users/1",
        "/admin/users/1/delete",
        "/admin/events",
        "/admin/events/stream",
    ] {
        let response = browser.get(path).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        let to = location(&response);
        assert!(
            to == "/admin/sign-in" || to == "/admin/users",
            "{path} → {to}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn sign_out_revokes_the_session_token() {
    let app = spawn_app().await;
    let mut browser = Browser::admin(&app).await;
    let session = browser.cookie.clone();

    let response = browser.post("/admin/sign-out", &[]).await;

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/admin/sign-in?why=signed-out");
    let removal = session_cookie(&response).expect("the cookie removed");
    assert!(
        removal.to_ascii_lowercase().contains("max-age=0"),
        "{removal}"
    );
    // The old cookie, replayed, no longer opens anything.
    browser.cookie = session;
    let after = browser.get("/admin/users").await;
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&after), "/admin/sign-in?why=ended");
    app.stop().await;
}

#[tokio::test]
async fn the_session_ends_when_the_api_ends_every_token_of_the_admin() {
    let app = spawn_app().await;
    let browser = Browser::admin(&app).await;
    let token = app.admin_token().await;
    let me: serde_json::Value = app.get("/users/me", &token).await.json().await.unwrap();

    let ended = app
        .client
        .delete(app.url(&format!("/users/{}/tokens", me["id"])))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();

    assert_eq!(ended.status(), StatusCode::NO_CONTENT);
    let response = browser.get("/admin/users").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/admin/sign-in?why=ended");
    app.stop().await;
}

#[tokio::test]
async fn the_session_ends_when_the_admin_is_deactivated() {
    let app = spawn_app().await;
    let browser = Browser::admin(&app).await;
    let other = app.create_admin("second@example.com", ADMIN_PASSWORD).await;
    let token = app.token("second@example.com", ADMIN_PASSWORD).await;
    let me: serde_json::Value = app
        .get("/users/me", &app.admin_token().await)
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(me["id"], other);

    let deactivated = app
        .client
        .patch(app.url(&format!("/users/{}", me["id"])))
        .bearer_auth(&token)
        .json(&json!({"is_active": false}))
        .send()
        .await
        .unwrap();

    assert_eq!(deactivated.status(), StatusCode::OK);
    let response = browser.get("/admin/users").await;
    assert_eq!(location(&response), "/admin/sign-in?why=ended");
    app.stop().await;
}

#[tokio::test]
async fn a_session_whose_admin_was_demoted_is_refused() {
    let app = spawn_app().await;
    let browser = Browser::admin(&app).await;
    app.create_admin("second@example.com", ADMIN_PASSWORD).await;
    let token = app.token("second@example.com", ADMIN_PASSWORD).await;
    let me: serde_json::Value = app
        .get("/users/me", &app.admin_token().await)
        .await
        .json()
        .await
        .unwrap();

    app.client
        .patch(app.url(&format!("/users/{}", me["id"])))
        .bearer_auth(&token)
        .json(&json!({"role": "user"}))
        .send()
        .await
        .unwrap();

    let response = browser.get("/admin/users").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/admin/sign-in?why=not-admin");
    app.stop().await;
}

#[tokio::test]
async fn a_state_changing_request_without_the_console_origin_is_403_and_changes_nothing() {
    let app = spawn_app().await;
    let browser = Browser::admin(&app).await;
    let id = super::user_named(&app, "ada@example.com", "Ada").await;
    let path = format!("/admin/users/{id}/delete");
    let version = [("version", "1")];

    let foreign = browser
        .post_from(&path, &version, Some("https://evil.example"))
        .await;
    let missing = browser.post_from(&path, &version, None).await;
    let null = browser.post_from(&path, &version, Some("null")).await;
    let cross_site = browser
        .client
        .post(app.url(&path))
        .header("cookie", browser.cookie.clone().unwrap())
        .header("origin", browser.origin())
        .header("sec-fetch-site", "cross-site")
        .form(&version)
        .send()
        .await
        .unwrap();
    let sign_in = browser
        .post_from(
            "/admin/sign-in",
            &[("email", ADMIN_EMAIL), ("password", ADMIN_PASSWORD)],
            Some("https://evil.example"),
        )
        .await;

    for response in [foreign, missing, null, cross_site, sign_in] {
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        assert!(session_cookie(&response).is_none());
        assert!(response.text().await.unwrap().contains("Origin"));
    }
    assert_eq!(super::api_user(&app, id).await.0, StatusCode::OK);
    app.stop().await;
}

/// Under the contract's `Referrer-Policy: no-referrer` a browser sends
/// `Origin: null` on the page's own form posts; with `Sec-Fetch-Site:
/// same-origin` (which a page cannot forge) that is the console itself.
#[tokio::test]
async fn origin_null_from_the_console_itself_is_accepted_and_acts() {
    let app = spawn_app().await;
    let browser = Browser::admin(&app).await;
    let id = super::user_named(&app, "ada@example.com", "Ada").await;

    let response = browser
        .client
        .post(app.url(&format!("/admin/users/{id}/delete")))
        .header("cookie", browser.cookie.clone().unwrap())
        .header("origin", "null")
        .header("sec-fetch-site", "same-origin")
        .form(&[("version", "1")])
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), "/admin/users?done=deleted");
    assert_eq!(super::api_user(&app, id).await.0, StatusCode::NOT_FOUND);
    app.stop().await;
}
