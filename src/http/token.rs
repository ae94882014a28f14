//! `POST /token` (OAuth 2.0 password grant, RFC 6749 §4.3) and
//! `POST /token/revoke`.

use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use super::extract::{
    is_json, media_type, parse_object, read_body, ClientAddr, JsonObject, SignedIn, TopLevel,
};
use super::problem::{no_store, ApiError};
use super::state::AppState;

/// The password grant as FastAPI's `OAuth2PasswordRequestForm` takes it,
/// form-encoded or as JSON.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documents the body; `TokenRequest` parses it
pub struct TokenIn {
    /// `password`, or left out.
    #[schema(nullable = false)]
    grant_type: Option<String>,
    /// The account's email.
    #[schema(min_length = 1)]
    username: String,
    #[schema(min_length = 1)]
    password: String,
    /// Accepted and ignored, as FastAPI does (so is any other parameter).
    #[schema(nullable = false)]
    scope: Option<String>,
    #[schema(nullable = false)]
    client_id: Option<String>,
    #[schema(nullable = false)]
    client_secret: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenOut {
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: u64,
}

/// The grant's fields, whichever encoding carried them.
pub struct TokenRequest {
    username: String,
    password: String,
}

fn invalid_request(description: &str) -> ApiError {
    ApiError::OAuth {
        error: "invalid_request",
        description: description.into(),
    }
}

impl FromRequest<AppState> for TokenRequest {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let form =
            media_type(req.headers()).is_some_and(|m| m == "application/x-www-form-urlencoded");
        if !form && !is_json(req.headers()) {
            return Err(ApiError::UnsupportedMediaType(
                "Content-Type must be application/x-www-form-urlencoded or application/json",
            ));
        }
        let body = read_body(req, state).await?;
        Self::parse(form, &body)
    }
}

impl TokenRequest {
    /// The grant's fields from a form-encoded (`form`) or JSON body, or the
    /// RFC 6749 §5.2 error that describes what is wrong with it.
    pub fn parse(form: bool, body: &[u8]) -> Result<Self, ApiError> {
        let mut fields = serde_json::Map::new();
        if form {
            let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
                .map_err(|_| invalid_request("The form body is malformed"))?;
            let mut seen = std::collections::HashSet::new();
            for (key, value) in pairs {
                // RFC 6749 §3.1: parameters must not be repeated…
                if !seen.insert(key.clone()) {
                    return Err(invalid_request(&format!("Parameter {key} is repeated")));
                }
                // …and one sent without a value is treated as omitted.
                if !value.is_empty() {
                    fields.insert(key, value.into());
                }
            }
        } else {
            match parse_object(body) {
                Ok(Some(TopLevel { repeated, .. })) if !repeated.is_empty() => {
                    // As for the form: RFC 6749 §3.1, never repeated.
                    return Err(invalid_request(&format!(
                        "Parameter {} is repeated",
                        repeated[0]
                    )));
                }
                // An empty string is "sent without a value", as in a form.
                Ok(Some(TopLevel { fields: map, .. })) => {
                    fields = map.into_iter().filter(|(_, v)| v != "").collect()
                }
                _ => return Err(invalid_request("The body must be a JSON object")),
            }
        }
        let mut object = JsonObject::from_map(fields);
        let grant_type = object.string("grant_type");
        let username = object.required_string("username");
        let password = object.required_string("password");
        // RFC 6749 §3.2: unrecognised parameters (`scope`, `client_id`, …)
        // are ignored, as FastAPI's OAuth2PasswordRequestForm does.
        let violations = std::mem::take(&mut object.violations).into_vec();
        if let Some(first) = violations.first() {
            return Err(invalid_request(&format!(
                "{} {}",
                first.field, first.message
            )));
        }
        if grant_type
            .as_deref()
            .is_some_and(|g| !g.is_empty() && g != "password")
        {
            return Err(ApiError::OAuth {
                error: "unsupported_grant_type",
                description: "Only the password grant is supported".into(),
            });
        }
        match (username, password) {
            (Some(username), Some(password)) => Ok(Self { username, password }),
            _ => Err(invalid_request("username and password are required")),
        }
    }
}

/// Sign in with email and password; returns a bearer token.
#[utoipa::path(post, path = "/token", tag = "auth",
    request_body(content(
        (TokenIn = "application/x-www-form-urlencoded"),
        (TokenIn = "application/json"),
    )),
    responses(
        (status = 200, body = TokenOut, description = "Signed in; send `Authorization: Bearer <access_token>`",
            headers(("Cache-Control" = String, description = "no-store"))),
        (status = 400, body = super::problem::OAuthErrorOut, description = "RFC 6749 error: invalid_grant, invalid_request, unsupported_grant_type"),
        (status = 413, body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 415, body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 429, body = super::problem::Problem, content_type = "application/problem+json", description = "Too many failed sign-ins for this account or client address; even the right password waits"),
        (status = 503, body = super::problem::Problem, content_type = "application/problem+json", description = "Hashing saturated, overloaded, or the database is unavailable"),
    ))]
pub async fn issue_token(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    request: TokenRequest,
) -> Result<Response, ApiError> {
    let accounts = &state.accounts;
    let (token, _user) = accounts
        .sign_in(&request.username, &request.password, client)
        .await?;
    let mut response = Json(TokenOut {
        access_token: token.expose().to_owned(),
        token_type: "bearer",
        expires_in: accounts.token_ttl.as_secs(),
    })
    .into_response();
    no_store(&mut response);
    Ok(response)
}

/// Revoke the bearer token this request is made with. It stops working at
/// once.
#[utoipa::path(post, path = "/token/revoke", tag = "auth", security(("bearer" = []), ("oauth2" = [])),
    responses((status = 204, description = "Revoked"), (status = 401, body = super::problem::Problem, content_type = "application/problem+json")))]
pub async fn revoke_token(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
) -> Result<StatusCode, ApiError> {
    state.accounts.revoke(&caller).await?;
    Ok(StatusCode::NO_CONTENT)
}
