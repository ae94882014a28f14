//! `/password-reset`, `/email-verification` and their `/confirm`: the JSON
//! calls for API clients, and (`mail_pages`) the pages the mailed links
//! open. `POST` on the two link paths serves both: JSON is the API call, a
//! form-encoded body is the page's form. With mail off, every `POST` here
//! answers 501 before its body is read.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;

use super::extract::{is_json, media_type, read_body, ClientAddr, JsonObject};
use super::mail_pages::{self, LinkPage};
use super::problem::ApiError;
use super::state::AppState;
use crate::auth::tokens::{parse_bearer, Bearer};
use crate::domain::Email;
use crate::store::mail::MailKind;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/password-reset",
            get(mail_pages::reset_page).post(request_password_reset),
        )
        .route("/password-reset/confirm", post(confirm_password_reset))
        .route(
            "/email-verification",
            get(mail_pages::verification_page).post(request_email_verification),
        )
        .route(
            "/email-verification/confirm",
            post(confirm_email_verification),
        )
}

/// Every 202 of the mail calls.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AcceptedOut {
    #[schema(example = "accepted")]
    pub status: &'static str,
}

fn accepted() -> Response {
    (
        StatusCode::ACCEPTED,
        Json(AcceptedOut { status: "accepted" }),
    )
        .into_response()
}

/// `{"email": "…"}`.
#[derive(utoipa::ToSchema, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // documents the body; read field by field
pub struct LinkRequestIn {
    #[schema(example = "ada@example.com", format = Email, max_length = 254)]
    email: String,
}

/// `{"token": "…", "password": "…"}`.
#[derive(utoipa::ToSchema, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct ResetConfirmIn {
    /// The `token` of the mailed link.
    #[schema(max_length = 512)]
    token: String,
    /// The new password, under the usual rules.
    #[schema(
        example = "correct horse battery staple",
        min_length = 15,
        max_length = 128
    )]
    password: String,
}

/// `{"token": "…"}`.
#[derive(utoipa::ToSchema, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct VerificationConfirmIn {
    #[schema(max_length = 512)]
    token: String,
}

/// The form of a link page (`application/x-www-form-urlencoded`).
#[derive(utoipa::ToSchema, serde::Deserialize)]
#[allow(dead_code)]
pub struct LinkFormIn {
    token: String,
    /// The new password (the reset page only).
    #[schema(nullable = false)]
    password: Option<String>,
}

/// 501 before anything else, when mail is off.
fn mail_on(state: &AppState) -> Result<(), ApiError> {
    if state.accounts.mail_enabled() {
        Ok(())
    } else {
        Err(ApiError::NotImplemented("Mail is not configured"))
    }
}

fn is_form(headers: &HeaderMap) -> bool {
    media_type(headers).is_some_and(|m| m == "application/x-www-form-urlencoded")
}

/// A JSON body, or 415.
async fn json_body(request: Request, state: &AppState) -> Result<JsonObject, ApiError> {
    if !is_json(request.headers()) {
        return Err(ApiError::UnsupportedMediaType(
            "Content-Type must be application/json",
        ));
    }
    JsonObject::parse(&read_body(request, state).await?)
}

/// `{"email"}` read into an `Email`, or 422 naming what is wrong.
fn email_of(mut body: JsonObject) -> Result<Email, ApiError> {
    let email = body.required_string("email");
    let mut violations = body.finish();
    let email = email.and_then(|v| violations.check("email", Email::parse(&v)));
    violations.into_result()?;
    email.ok_or(ApiError::Internal)
}

/// Ask for a password reset link. The same 202 for any well-formed email,
/// whether or not an account has it (the mail goes only to an existing
/// active account, at most 3 an hour). A form-encoded body is the reset
/// page's form (`token`, `password`) and gets an HTML page.
#[utoipa::path(post, path = "/password-reset", tag = "mail",
    request_body(content(
        (LinkRequestIn = "application/json"),
        (LinkFormIn = "application/x-www-form-urlencoded"),
    )),
    responses(
        (status = 202, body = AcceptedOut, description = "Accepted, whatever the account"),
        (status = 200, content_type = "text/html", description = "The page's form was submitted: the result page"),
        (status = 400, description = "Malformed JSON; or (form) an invalid, expired or incomplete link, as an HTML page", content((super::problem::Problem = "application/problem+json"), (String = "text/html"))),
        (status = 413, body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 415, body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not a well-formed email, or unknown fields; (form) a password the rules refuse, as an HTML page", content((super::problem::Problem = "application/problem+json"), (String = "text/html"))),
        (status = 429, body = super::problem::Problem, content_type = "application/problem+json", description = "This client address asks too often (20 a minute)"),
        (status = 501, body = super::problem::Problem, content_type = "application/problem+json", description = "Mail is not configured"),
    ))]
pub async fn request_password_reset(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    request: Request,
) -> Result<Response, ApiError> {
    mail_on(&state)?;
    if is_form(request.headers()) {
        return Ok(mail_pages::submit(&state, LinkPage::Reset, request).await);
    }
    let email = email_of(json_body(request, &state).await?)?;
    state
        .accounts
        .request_link(MailKind::PasswordReset, email, client)
        .await?;
    Ok(accepted())
}

/// Set a new password with the token of a reset link. Every access token of
/// the user ends, the sign-in wait is cleared, and the email counts as
/// verified.
#[utoipa::path(post, path = "/password-reset/confirm", tag = "mail",
    request_body = ResetConfirmIn,
    responses(
        (status = 204, description = "The password is set; the link is used up"),
        (status = 400, body = super::problem::Problem, content_type = "application/problem+json", description = "Invalid or expired token (used, replaced, expired or unknown); or malformed JSON"),
        (status = 413, body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 415, body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 422, body = super::problem::Problem, content_type = "application/problem+json", description = "A field missing or unknown, or a password the rules refuse (the link still works)"),
        (status = 501, body = super::problem::Problem, content_type = "application/problem+json", description = "Mail is not configured"),
    ))]
pub async fn confirm_password_reset(
    State(state): State<AppState>,
    request: Request,
) -> Result<StatusCode, ApiError> {
    mail_on(&state)?;
    let mut body = json_body(request, &state).await?;
    let token = body.required_string("token");
    let password = body.required_string("password");
    body.finish().into_result()?;
    let (Some(token), Some(password)) = (token, password) else {
        return Err(ApiError::Internal);
    };
    state.accounts.confirm_reset(&token, &password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Ask for a new verification link (an older one stops working). Signed
/// in: no body, for the caller's own address (409 when verified already).
/// Not signed in: `{"email"}`, answered as `POST /password-reset` is. A
/// form-encoded body is the verification page's form (`token`).
#[utoipa::path(post, path = "/email-verification", tag = "mail",
    security((), ("bearer" = []), ("oauth2" = [])),
    request_body(content(
        (LinkRequestIn = "application/json"),
        (LinkFormIn = "application/x-www-form-urlencoded"),
    ), description = "Not signed in: the email. Signed in: no body."),
    responses(
        (status = 202, body = AcceptedOut, description = "Accepted, whatever the account"),
        (status = 200, content_type = "text/html", description = "The page's form was submitted: the result page"),
        (status = 400, description = "Malformed JSON; or (form) an invalid, expired or incomplete link, as an HTML page", content((super::problem::Problem = "application/problem+json"), (String = "text/html"))),
        (status = 401, body = super::problem::Problem, content_type = "application/problem+json", description = "Neither a token nor a body; or an invalid token"),
        (status = 409, body = super::problem::Problem, content_type = "application/problem+json", description = "Signed in and already verified"),
        (status = 413, body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 415, body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 422, body = super::problem::Problem, content_type = "application/problem+json", description = "Not a well-formed email, or unknown fields"),
        (status = 429, body = super::problem::Problem, content_type = "application/problem+json", description = "This client address asks too often (20 a minute)"),
        (status = 501, body = super::problem::Problem, content_type = "application/problem+json", description = "Mail is not configured"),
    ))]
pub async fn request_email_verification(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    request: Request,
) -> Result<Response, ApiError> {
    mail_on(&state)?;
    if is_form(request.headers()) {
        return Ok(mail_pages::submit(&state, LinkPage::Verification, request).await);
    }
    let bearer = parse_bearer(
        request
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| v.as_bytes()),
    );
    if bearer != Bearer::Missing {
        let caller = state.accounts.authenticate(bearer).await?;
        state.accounts.request_own_verification(&caller).await?;
        return Ok(accepted());
    }
    if request.headers().get(header::CONTENT_TYPE).is_none() {
        let body = read_body(request, &state).await?;
        if body.is_empty() {
            return Err(ApiError::Unauthorized {
                invalid_token: false,
            });
        }
        return Err(ApiError::UnsupportedMediaType(
            "Content-Type must be application/json",
        ));
    }
    let email = email_of(json_body(request, &state).await?)?;
    state
        .accounts
        .request_link(MailKind::Verification, email, client)
        .await?;
    Ok(accepted())
}

/// Confirm an email address with the token of a verification link.
#[utoipa::path(post, path = "/email-verification/confirm", tag = "mail",
    request_body = VerificationConfirmIn,
    responses(
        (status = 200, body = super::users::UserOut, description = "The user, now verified"),
        (status = 400, body = super::problem::Problem, content_type = "application/problem+json", description = "Invalid or expired token; or malformed JSON"),
        (status = 413, body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 415, body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 422, body = super::problem::Problem, content_type = "application/problem+json", description = "The token missing, or unknown fields"),
        (status = 501, body = super::problem::Problem, content_type = "application/problem+json", description = "Mail is not configured"),
    ))]
pub async fn confirm_email_verification(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, ApiError> {
    mail_on(&state)?;
    let mut body = json_body(request, &state).await?;
    let token = body.required_string("token");
    body.finish().into_result()?;
    let Some(token) = token else {
        return Err(ApiError::Internal);
    };
    let user = state.accounts.confirm_verification(&token).await?;
    Ok(super::users::render(StatusCode::OK, &user))
}
