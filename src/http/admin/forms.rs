//! What the console shows when an action is refused: the API's own answer
//! (status, `detail`, every bad field), taken from the one mapping in
//! `http/problem.rs` so the console can never say something else than the
//! API would. Also the forms' bodies.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde_json::Value;

use super::pages::{self, Notice};
use crate::domain::{FieldError, User};
use crate::http::problem::ApiError;

/// A refused action, as the page shows it.
#[derive(Debug)]
pub struct Refusal {
    pub status: StatusCode,
    pub message: String,
    /// Every bad field, shown next to its input.
    pub fields: Vec<FieldError>,
}

impl Refusal {
    /// The API's answer to `err`: its status, and its body read back.
    pub async fn of(err: impl Into<ApiError>) -> Self {
        let err = err.into();
        // A taken email is a 400 about one field: shown next to it.
        let email_taken = matches!(err, ApiError::EmailTaken);
        let response = err.into_response();
        let status = response.status();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024)
            .await
            .unwrap_or_default();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let detail = body["detail"]
            .as_str()
            .or_else(|| body["error_description"].as_str())
            .or(status.canonical_reason())
            .unwrap_or("Refused")
            .to_owned();
        let mut fields: Vec<FieldError> = body["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| {
                Some(FieldError {
                    field: e["field"].as_str()?.to_owned(),
                    message: e["message"].as_str()?.to_owned(),
                })
            })
            .collect();
        if email_taken {
            fields.push(FieldError {
                field: "email".into(),
                message: "is already registered".into(),
            });
        }
        let message = match (status, retry_after) {
            (StatusCode::TOO_MANY_REQUESTS, Some(secs)) => {
                format!("Too many attempts: try again in {secs} s.")
            }
            (StatusCode::SERVICE_UNAVAILABLE, Some(secs)) => {
                format!("{detail} (in about {secs} s).")
            }
            // Every bad field in the summary too (a query's fields have no
            // input to stand next to).
            (StatusCode::UNPROCESSABLE_ENTITY, _) if !fields.is_empty() => {
                let each: Vec<String> = fields
                    .iter()
                    .map(|f| format!("{} {}", f.field, f.message))
                    .collect();
                format!("Not done: {}.", each.join("; "))
            }
            _ => format!("Not done: {detail}."),
        };
        Self {
            status,
            message,
            fields,
        }
    }

    /// A page that says only this, with a way back.
    pub fn page(&self, title: &str, user: Option<&User>) -> Response {
        let notice = Notice::Refused(self.message.clone());
        let body = html! {
            h1 { (title) }
            p { a href="/admin/users" { "Back to the users" } }
        };
        pages::html(self.status, pages::layout(title, user, Some(&notice), body))
    }
}

/// The edit form of one user: every field as the admin left it, and the
/// version they opened (`If-Match`).
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(default)]
pub struct EditForm {
    pub version: String,
    pub name: String,
    pub email: String,
    pub role: String,
    pub is_active: String,
    /// Only when the admin edits their own email.
    pub current_password: String,
}

/// The new-user form.
#[derive(Debug, Default, Clone, serde::Deserialize)]
#[serde(default)]
pub struct CreateForm {
    pub email: String,
    pub name: String,
    pub password: String,
    pub role: String,
}

/// The set-password form.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct PasswordForm {
    pub password: String,
    /// Only when the admin sets their own.
    pub current_password: String,
}

/// The delete confirmation: the version the admin confirmed.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct DeleteForm {
    pub version: String,
}

/// A form's version field as the `If-Match` it stands for: a version that
/// is not a number can never match (412), as a foreign ETag cannot.
pub fn precondition(version: &str) -> crate::accounts::Precondition {
    crate::accounts::Precondition::Versions(version.trim().parse::<i64>().into_iter().collect())
}
