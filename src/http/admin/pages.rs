//! The frame every console page shares (head, navigation, the notice that
//! says what happened) and the small pieces forms repeat. maud escapes
//! every `(value)`; nothing here wraps a user's value in `PreEscaped`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

use crate::domain::{FieldError, User};

/// What the page says happened, above its content.
pub enum Notice {
    /// An action succeeded.
    Done(String),
    /// An action was refused, and why.
    Refused(String),
}

/// A whole page. `user`: the signed-in admin (navigation and sign-out);
/// `script`: whether the page loads the console's one script (only the
/// live events view needs it; every page works without it).
pub fn page(
    title: &str,
    user: Option<&User>,
    notice: Option<&Notice>,
    script: bool,
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · user-api console" }
                link rel="stylesheet" href="/admin/assets/console.css";
                @if script {
                    script src="/admin/assets/console.js" defer {}
                }
            }
            body {
                header.top {
                    a.brand href="/admin/users" { "user-api console" }
                    @if let Some(user) = user {
                        nav aria-label="Console" {
                            a href="/admin/users" { "Users" }
                            a href="/admin/events" { "Events" }
                        }
                        form.signout method="post" action="/admin/sign-out" {
                            span.who { (user.email.as_str()) }
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main {
                    @if let Some(notice) = notice {
                        (notice_markup(notice))
                    }
                    (body)
                }
            }
        }
    }
}

/// A page without the script.
pub fn layout(title: &str, user: Option<&User>, notice: Option<&Notice>, body: Markup) -> Markup {
    page(title, user, notice, false, body)
}

fn notice_markup(notice: &Notice) -> Markup {
    match notice {
        Notice::Done(text) => html! { p.notice.done role="status" { (text) } },
        Notice::Refused(text) => html! { p.notice.refused role="alert" { (text) } },
    }
}

/// An HTML response.
pub fn html(status: StatusCode, markup: Markup) -> Response {
    let mut response = (status, markup.into_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

/// The message of the bad field `name`, if any, shown under its input
/// (`aria-describedby` points at it).
pub fn field_error(fields: &[FieldError], name: &str) -> Markup {
    let message = fields
        .iter()
        .filter(|f| f.field == name)
        .map(|f| f.message.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    html! {
        @if !message.is_empty() {
            p.field-error id={ (name) "-error" } { (name) " " (message) }
        }
    }
}

/// Whether `name` has an error (for `aria-invalid`).
pub fn has_error(fields: &[FieldError], name: &str) -> bool {
    fields.iter().any(|f| f.field == name)
}

/// Unix seconds as RFC 3339, UTC, as the API shows them.
pub fn timestamp(secs: i64) -> String {
    crate::domain::resource::rfc3339(secs)
}
