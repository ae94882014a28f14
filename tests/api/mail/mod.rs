//! The contract's "Email: verification and password reset", against a real
//! SMTP server (`support::smtp`, aiosmtpd) over a socket: the test reads
//! the link from the received mail and uses it as a user would.

mod delivery;
mod enumeration;
mod off;
mod pages;
mod reset;
mod verification;

use reqwest::Response;
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::support::smtp::SmtpSink;
use crate::support::{spawn_app_with, TestApp};

/// A service with mail on against `sink`, and the folder of its secret
/// file (kept for the test's length).
pub struct MailApp {
    pub app: TestApp,
    /// Holds the secret file for the app's lifetime.
    pub _secret_dir: TempDir,
}

impl std::ops::Deref for MailApp {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.app
    }
}

/// The mail flags for `smtp_url`, with a secret file in `dir`.
pub fn mail_flags(smtp_url: &str, dir: &TempDir) -> Vec<String> {
    vec![
        "--smtp-url".into(),
        smtp_url.into(),
        "--mail-from".into(),
        "User API <noreply@example.com>".into(),
        "--public-url".into(),
        "https://id.example.com/".into(),
        "--secret-file".into(),
        dir.path().join("secret").display().to_string(),
        "--webhook-retry-schedule".into(),
        "200ms,500ms,1s,2s,5s,10s".into(),
    ]
}

pub async fn spawn_mail_app(sink: &SmtpSink, extra: &[&str]) -> MailApp {
    spawn_mail_app_at(&sink.url(), extra).await
}

pub async fn spawn_mail_app_at(smtp_url: &str, extra: &[&str]) -> MailApp {
    let secret_dir = tempfile::tempdir().unwrap();
    let mut flags = mail_flags(smtp_url, &secret_dir);
    flags.extend(extra.iter().map(|s| s.to_string()));
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    MailApp {
        app: spawn_app_with(&flags).await,
        _secret_dir: secret_dir,
    }
}

impl MailApp {
    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn request_reset(&self, email: &str) -> Response {
        self.post_json("/password-reset", &json!({ "email": email }))
            .await
    }

    pub async fn confirm_reset(&self, token: &str, password: &str) -> Response {
        self.post_json(
            "/password-reset/confirm",
            &json!({ "token": token, "password": password }),
        )
        .await
    }

    pub async fn confirm_verification(&self, token: &str) -> Response {
        self.post_json("/email-verification/confirm", &json!({ "token": token }))
            .await
    }
}

/// A new password the default rules accept, different from `PASSWORD`.
pub const NEW_PASSWORD: &str = "violet harbour compass 2291";
