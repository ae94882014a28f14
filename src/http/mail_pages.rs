//! The pages the mailed links open (`GET /password-reset?token=…`,
//! `GET /email-verification?token=…`) and their form submits. Opening a
//! page reads nothing and uses nothing (a mail scanner that follows the
//! link changes nothing); only submitting its form does, as a
//! form-encoded `POST` to the same path. No script, no inline style: the
//! pages live under `html::secure_headers`' policy.

use axum::extract::{RawQuery, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use super::extract::read_body;
use super::state::AppState;
use crate::accounts::Error;
use crate::mail::templates::escape_html;

/// Which link a page serves.
#[derive(Clone, Copy)]
pub enum LinkPage {
    Reset,
    Verification,
}

impl LinkPage {
    /// The form's action, relative, so it works under any `--public-url`
    /// path.
    fn action(self) -> &'static str {
        match self {
            Self::Reset => "password-reset",
            Self::Verification => "email-verification",
        }
    }
}

fn page(status: StatusCode, title: &str, content: &str) -> Response {
    let body = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title></head>\n<body><main><h1>{title}</h1>\n{content}\n</main></body></html>\n",
        title = escape_html(title)
    );
    let mut response = (status, Html(body)).into_response();
    // The URL carries a token: no cache keeps the page.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The `token` query parameter, if any.
fn token_of(query: Option<&str>) -> Option<String> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query.unwrap_or(""))
        .ok()?
        .into_iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

fn incomplete() -> Response {
    page(
        StatusCode::BAD_REQUEST,
        "This link is incomplete",
        "<p>Open the link exactly as it is in the mail, or ask for a new one.</p>",
    )
}

fn reset_form(token: &str, problems: &[String]) -> String {
    let problems: String = problems
        .iter()
        .map(|p| format!("<li>{}</li>", escape_html(p)))
        .collect();
    let problems = if problems.is_empty() {
        String::new()
    } else {
        format!("<ul id=\"problems\">{problems}</ul>\n")
    };
    format!(
        "{problems}<form method=\"post\" action=\"{action}\">\n\
         <input type=\"hidden\" name=\"token\" value=\"{token}\">\n\
         <p><label for=\"password\">New password</label>\n\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"new-password\" required maxlength=\"128\"></p>\n\
         <p><button type=\"submit\">Set the new password</button></p>\n</form>",
        action = LinkPage::Reset.action(),
        token = escape_html(token)
    )
}

/// The reset link's page: a form for the new password. Opening it uses
/// nothing (mail scanners follow links); only its form's submit does.
#[utoipa::path(get, path = "/password-reset", tag = "mail",
    params(("token" = String, Query, min_length = 1, description = "The token of the mailed link")),
    responses(
        (status = 200, content_type = "text/html", body = String, description = "The page: a form that posts the token and a new password, form-encoded, to the same path"),
        (status = 400, content_type = "text/html", body = String, description = "No token in the link: a page that says so"),
    ))]
pub async fn reset_page(RawQuery(query): RawQuery) -> Response {
    match token_of(query.as_deref()) {
        Some(token) => page(
            StatusCode::OK,
            "Choose a new password",
            &reset_form(&token, &[]),
        ),
        None => incomplete(),
    }
}

/// The verification link's page: one button that confirms. Opening it
/// uses nothing; only pressing the button does.
#[utoipa::path(get, path = "/email-verification", tag = "mail",
    params(("token" = String, Query, min_length = 1, description = "The token of the mailed link")),
    responses(
        (status = 200, content_type = "text/html", body = String, description = "The page: a form that posts the token, form-encoded, to the same path"),
        (status = 400, content_type = "text/html", body = String, description = "No token in the link: a page that says so"),
    ))]
pub async fn verification_page(RawQuery(query): RawQuery) -> Response {
    let Some(token) = token_of(query.as_deref()) else {
        return incomplete();
    };
    let form = format!(
        "<form method=\"post\" action=\"{action}\">\n\
         <input type=\"hidden\" name=\"token\" value=\"{token}\">\n\
         <p><button type=\"submit\">Confirm my email address</button></p>\n</form>",
        action = LinkPage::Verification.action(),
        token = escape_html(&token)
    );
    page(StatusCode::OK, "Confirm your email address", &form)
}

/// A page's form, submitted: use the link and show what happened.
pub async fn submit(state: &AppState, which: LinkPage, request: Request) -> Response {
    let fields = match read_body(request, state).await {
        Ok(bytes) => serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes).ok(),
        Err(_) => None,
    };
    let field = |name: &str| {
        fields
            .as_ref()?
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let Some(token) = field("token").filter(|t| !t.is_empty()) else {
        return incomplete();
    };
    match which {
        LinkPage::Reset => {
            let password = field("password").unwrap_or_default();
            match state.accounts.confirm_reset(&token, &password).await {
                Ok(_) => page(
                    StatusCode::OK,
                    "Your password is set",
                    "<p id=\"done\">Every session of your account was signed out. Sign in with your new password.</p>",
                ),
                Err(Error::Invalid(crate::domain::Error::Invalid(violations))) => {
                    let problems: Vec<String> = violations
                        .into_vec()
                        .into_iter()
                        .map(|e| format!("The new password {}", e.message))
                        .collect();
                    page(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "Choose a new password",
                        &reset_form(&token, &problems),
                    )
                }
                Err(e) => failed(e),
            }
        }
        LinkPage::Verification => match state.accounts.confirm_verification(&token).await {
            Ok(user) => page(
                StatusCode::OK,
                "Your email address is confirmed",
                &format!(
                    "<p id=\"done\">{} is confirmed. You can close this page.</p>",
                    escape_html(user.email.as_str())
                ),
            ),
            Err(e) => failed(e),
        },
    }
}

/// A submit that did not work, as a page with the API's status.
fn failed(e: Error) -> Response {
    let status = super::problem::ApiError::from(e).into_response().status();
    let (title, text) = match status {
        StatusCode::BAD_REQUEST => (
            "This link does not work",
            "It was used already, replaced by a newer one, or it expired. Ask for a new one.",
        ),
        StatusCode::SERVICE_UNAVAILABLE => (
            "Try again in a moment",
            "The service is busy or its database is unavailable.",
        ),
        _ => ("Something went wrong", "Try again later."),
    };
    page(status, title, &format!("<p id=\"failed\">{text}</p>"))
}
