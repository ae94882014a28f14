//! `/admin`, the admin console ("Admin console" in the contract), over
//! HTTP: its session cookie, the `Origin` check, escaping, the HTML
//! headers, and every action, each followed by what the API then holds.
//! `journeys.rs` drives the same pages in headless Chromium.
//!
//! The helpers send requests as a browser would (the cookie the service
//! set, the page's `Origin`) and return responses; the tests assert.

mod actions;
mod journeys;
mod pages;
mod screenshots;
mod session;

use reqwest::header::{COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use reqwest::redirect::Policy;
use reqwest::{Client, Response, StatusCode};
use serde_json::{json, Value};

use crate::support::{TestApp, ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD};

/// A browser on the console: no redirects followed (tests assert them),
/// the session cookie kept as the service set it.
pub struct Browser<'a> {
    pub app: &'a TestApp,
    client: Client,
    /// `name=value` of the session cookie, once set.
    pub cookie: Option<String>,
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Self {
        Self {
            app,
            client: Client::builder().redirect(Policy::none()).build().unwrap(),
            cookie: None,
        }
    }

    /// The console's own origin, as a browser sends it.
    pub fn origin(&self) -> String {
        format!("http://{}", self.app.addr)
    }

    pub async fn get(&self, path: &str) -> Response {
        let mut request = self.client.get(self.app.url(path));
        if let Some(cookie) = &self.cookie {
            request = request.header(COOKIE, cookie);
        }
        request.send().await.unwrap()
    }

    /// A form post from the console's own page.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Response {
        let origin = self.origin();
        self.post_from(path, form, Some(&origin)).await
    }

    /// A form post with this `Origin` (or none).
    pub async fn post_from(
        &self,
        path: &str,
        form: &[(&str, &str)],
        origin: Option<&str>,
    ) -> Response {
        let mut request = self.client.post(self.app.url(path)).form(form);
        if let Some(cookie) = &self.cookie {
            request = request.header(COOKIE, cookie);
        }
        if let Some(origin) = origin {
            request = request.header(ORIGIN, origin);
        }
        request.send().await.unwrap()
    }

    /// Signs in with the form; keeps the cookie the response sets.
    pub async fn sign_in(&mut self, email: &str, password: &str) -> Response {
        let response = self
            .post(
                "/admin/sign-in",
                &[("email", email), ("password", password)],
            )
            .await;
        if let Some(set) = session_cookie(&response) {
            self.cookie = Some(set.split(';').next().unwrap().trim().to_owned());
        }
        response
    }

    /// A signed-in admin's browser (`ADMIN_EMAIL`, created if needed).
    pub async fn admin(app: &'a TestApp) -> Browser<'a> {
        app.admin_token().await;
        let mut browser = Browser::new(app);
        let response = browser.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "admin sign-in");
        browser
    }

    /// A page's HTML, after checking it is a 200 page.
    pub async fn page(&self, path: &str) -> String {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "GET {path}");
        response.text().await.unwrap()
    }
}

/// The session cookie a response sets, whole (`name=value; Path=…`).
pub fn session_cookie(response: &Response) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("user_api_console="))
        .map(str::to_owned)
}

/// Where a redirect points.
pub fn location(response: &Response) -> &str {
    response
        .headers()
        .get(LOCATION)
        .map(|v| v.to_str().unwrap())
        .unwrap_or_default()
}

/// Signs up `email` named `name`; returns its id.
pub async fn user_named(app: &TestApp, email: &str, name: &str) -> i64 {
    let response = app
        .post_user(&json!({"email": email, "name": name, "password": PASSWORD}))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED, "sign-up of {email}");
    response.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap()
}

/// The user as the API shows it to an admin (`null` on 404).
pub async fn api_user(app: &TestApp, id: i64) -> (StatusCode, Value) {
    let token = app.admin_token().await;
    let response = app.get(&format!("/users/{id}"), &token).await;
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}
