//! `/users`, `/users/me` and `/users/{id}`: parse, authorize (in
//! `accounts`/`policy`), act, render. Wire types end in `In`/`Out`.

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use super::bodies::{patch_body, sign_up_body};
use super::extract::{
    etag, ClientAddr, IdempotencyKey, IfMatch, JsonObject, MaybeSignedIn, SignedIn, UserIdPath,
};
use super::list_query::ListQuery;
use super::problem::ApiError;
use super::state::AppState;
use crate::accounts::{Idempotency, Page, SignUp};
use crate::domain::policy::may_choose_role;
use crate::domain::{Role, User};

/// A user as the API shows it (the resource lives in `domain`: the store
/// and events render it too).
pub use crate::domain::resource::UserResource as UserOut;

/// The user with its `ETag`.
pub(super) fn render(status: StatusCode, user: &User) -> Response {
    let mut response = (status, Json(UserOut::from(user))).into_response();
    if let Ok(tag) = HeaderValue::from_str(&etag(user.version)) {
        response.headers_mut().insert(header::ETAG, tag);
    }
    response
}

/// `201 Created` for a new user: `Location`, `ETag` and the body, which a
/// retry with the same `Idempotency-Key` gets again byte for byte.
fn created(id: i64, version: i64, body: String) -> Response {
    let mut response = (
        StatusCode::CREATED,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response();
    let headers = response.headers_mut();
    if let Ok(tag) = HeaderValue::from_str(&etag(version)) {
        headers.insert(header::ETAG, tag);
    }
    if let Ok(location) = HeaderValue::from_str(&format!("/users/{id}")) {
        headers.insert(header::LOCATION, location);
    }
    response
}

/// The body of a `201`: the same bytes the store keeps for retries.
fn user_json(user: &User) -> Result<String, ApiError> {
    crate::domain::resource::user_json(user).map_err(|e| {
        tracing::error!(error = %e, "cannot render a user");
        ApiError::Internal
    })
}

/// Sign-up body. Unknown fields are refused with 422; `role` is known only
/// when an admin sends it.
#[derive(utoipa::ToSchema, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // documents the body; `bodies::sign_up_body` reads it field by field
pub struct SignUpIn {
    #[schema(example = "ada@example.com", format = Email, max_length = 254)]
    email: String,
    #[schema(
        example = "Ada Lovelace",
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"
    )]
    name: String,
    /// 15 to 128 characters (the minimum is `--password-min-length`, 15 by
    /// default), counted after NFKC normalisation. Refused, with the reason:
    /// one of the 100,000 most common passwords (ignoring case), one
    /// character or a shorter string repeated, a run of consecutive letters,
    /// digits or QWERTY keys (either direction, rows joined), or one that
    /// contains the email's local part, the name or a word of it (4
    /// characters or more).
    #[schema(
        example = "correct horse battery staple",
        min_length = 15,
        max_length = 128
    )]
    password: String,
    /// Admins only; from anyone else an unknown field (422).
    #[schema(nullable = false)]
    role: Option<Role>,
}

/// Create a user: sign-up, or an admin creating an account.
#[utoipa::path(post, path = "/users", tag = "users", request_body = SignUpIn,
    security((), ("bearer" = []), ("oauth2" = [])),
    params(
        ("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 255,
            pattern = r"^[\x20-\x7E]*[\x21-\x7E][\x20-\x7E]*$",
            description = "1 to 255 visible ASCII characters, sent once. A retry with the same key and body \
                (from the same client address, within 24 hours) gets the first response again and creates nothing; \
                409 while the first is still running; 422 with another body"),
    ),
    responses(
        (status = 201, body = UserOut, headers(("Location" = String), ("ETag" = String))),
        (status = 400, body = super::problem::Problem, content_type = "application/problem+json", description = "Email already registered, or malformed JSON"),
        (status = 401, body = super::problem::Problem, content_type = "application/problem+json", description = "Sign-up is closed and no token was sent, or the token is invalid"),
        (status = 403, body = super::problem::Problem, content_type = "application/problem+json", description = "Sign-up is closed and the caller is not an admin"),
        (status = 409, body = super::problem::Problem, content_type = "application/problem+json", description = "A request with this Idempotency-Key is still running"),
        (status = 413, body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 415, body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 422, body = super::problem::Problem, content_type = "application/problem+json", description = "Invalid or unknown fields, every one named; a malformed Idempotency-Key, or one already used with another body"),
        (status = 429, body = super::problem::Problem, content_type = "application/problem+json", description = "This client address signs up too fast (--signup-rate)"),
        (status = 503, body = super::problem::Problem, content_type = "application/problem+json", description = "Hashing saturated, overloaded, or the database is unavailable"),
    ))]
pub async fn create_user(
    State(state): State<AppState>,
    MaybeSignedIn(caller): MaybeSignedIn,
    ClientAddr(client): ClientAddr,
    IdempotencyKey(key): IdempotencyKey,
    body: JsonObject,
) -> Result<Response, ApiError> {
    let caller = caller.map(|c| c.user);
    state.accounts.may_sign_up(caller.as_ref())?;
    let idempotency = key.map(|key| Idempotency {
        key,
        fingerprint: fingerprint(caller.as_ref(), &body),
    });
    let new = sign_up_body(
        body,
        may_choose_role(caller.as_ref()),
        &state.accounts.password_policy,
    )?;
    let signed_up = state
        .accounts
        .sign_up(caller.as_ref(), new, client, idempotency)
        .await?;
    Ok(match signed_up {
        SignUp::Created(user) => created(user.id.0, user.version, user_json(&user)?),
        SignUp::Replayed(reply) => created(reply.user_id.0, reply.version, reply.body),
    })
}

/// What makes two requests with one `Idempotency-Key` "the same": who sent
/// it and the body as parsed, but for the password, which is compared with
/// the created user's argon2 hash on a retry (`Accounts::sign_up`).
fn fingerprint(caller: Option<&User>, body: &JsonObject) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let caller = caller.map_or(0, |c| c.id.0);
    let mut digest = Sha256::new();
    digest.update(caller.to_be_bytes());
    digest.update(body.digest_without("password"));
    digest.finalize().into()
}

/// The signed-in caller.
#[utoipa::path(get, path = "/users/me", tag = "users", security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 200, body = UserOut, headers(("ETag" = String, description = "Strong; send it back in If-Match"))),
        (status = 401, body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 503, body = super::problem::Problem, content_type = "application/problem+json", description = "Database unavailable or time limit exceeded"),
    ))]
pub async fn me(SignedIn(caller): SignedIn) -> Response {
    render(StatusCode::OK, &caller.user)
}

/// List users (admins only), ordered by id.
#[utoipa::path(get, path = "/users", tag = "users", security(("bearer" = []), ("oauth2" = [])),
    params(
        ("skip" = Option<i64>, Query, minimum = 0, description = "Users to skip (default 0); not with after_id. The skipped users are still read, so a deep skip costs more (past about 10,000 on a big store): page with after_id (the Link header's next URL), which costs the same at any depth"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Page size, 1 to 100 (default 10)"),
        ("after_id" = Option<i64>, Query, minimum = 0, description = "Keyset pagination: users with a greater id"),
        ("q" = Option<String>, Query, max_length = 254, description = "Case-insensitive substring of email or name, taken literally. Three characters or more are found through a trigram index; one or two characters are checked against every user, which is slow on a big store"),
        ("is_active" = Option<bool>, Query),
        ("role" = Option<Role>, Query),
    ),
    responses(
        (status = 200, body = Vec<UserOut>, headers(("X-Total-Count" = u64, description = "Matches after the filters"), ("Link" = String, description = "rel=\"next\" page"))),
        (status = 401, body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 403, body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 422, body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 503, body = super::problem::Problem, content_type = "application/problem+json", description = "Database unavailable or time limit exceeded"),
    ))]
pub async fn list_users(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let list = ListQuery::parse(query.as_deref().unwrap_or(""))?;
    let page = match list.after_id {
        Some(id) => Page::After {
            id,
            limit: list.limit + 1,
        },
        None => Page::Offset {
            skip: list.skip,
            limit: list.limit + 1,
        },
    };
    let (mut users, total) = state
        .accounts
        .list(&caller.user, &list.filter, page)
        .await?;
    let has_next = users.len() > list.limit as usize;
    users.truncate(list.limit as usize);
    let body: Vec<UserOut> = users.iter().map(UserOut::from).collect();
    let mut response = Json(body).into_response();
    let headers = response.headers_mut();
    headers.insert("x-total-count", HeaderValue::from(total));
    if let (true, Some(last)) = (has_next, users.last()) {
        if let Ok(link) = HeaderValue::from_str(&list.next_link(last.id.0)) {
            headers.insert(header::LINK, link);
        }
    }
    Ok(response)
}

/// Get a user: yourself, or anyone if you are an admin.
#[utoipa::path(get, path = "/users/{id}", tag = "users", security(("bearer" = []), ("oauth2" = [])),
    params(("id" = i64, Path, minimum = 1)),
    responses(
        (status = 200, body = UserOut, headers(("ETag" = String, description = "Strong; send it back in If-Match"))),
        (status = 401, body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 404, body = super::problem::Problem, content_type = "application/problem+json", description = "No such user, or not yours to see"),
        (status = 422, body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 503, body = super::problem::Problem, content_type = "application/problem+json", description = "Database unavailable or time limit exceeded"),
    ))]
pub async fn get_user(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    UserIdPath(id): UserIdPath,
) -> Result<Response, ApiError> {
    let user = state.accounts.get(&caller.user, id).await?;
    Ok(render(StatusCode::OK, &user))
}

/// PATCH body: any subset of the fields. Users change their own `name`,
/// `email` and `password` (the last two with `current_password`); admins also
/// `role` and `is_active`, and anyone's password without `current_password`.
#[derive(utoipa::ToSchema, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // documents the body; `bodies::patch_body` reads it field by field
pub struct UserPatchIn {
    #[schema(nullable = false, format = Email, max_length = 254)]
    email: Option<String>,
    #[schema(
        nullable = false,
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"
    )]
    name: Option<String>,
    /// The new password: the same rules as at sign-up.
    #[schema(nullable = false, min_length = 15, max_length = 128)]
    password: Option<String>,
    /// Required to change your own `email` or `password`.
    #[schema(nullable = false, max_length = 128)]
    current_password: Option<String>,
    /// Admins only.
    #[schema(nullable = false)]
    is_active: Option<bool>,
    /// Admins only.
    #[schema(nullable = false)]
    role: Option<Role>,
}

/// Change a user.
#[utoipa::path(patch, path = "/users/{id}", tag = "users", security(("bearer" = []), ("oauth2" = [])),
    params(("id" = i64, Path, minimum = 1), ("If-Match" = Option<String>, Header, nullable = false, description = "An ETag from a GET, or *; 412 when it does not match")),
    request_body = UserPatchIn,
    responses(
        (status = 200, body = UserOut, headers(("ETag" = String))),
        (status = 400, body = super::problem::Problem, content_type = "application/problem+json", description = "Email already registered, or malformed JSON"),
        (status = 401, body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 403, body = super::problem::Problem, content_type = "application/problem+json", description = "A field you may not change, or a wrong current_password"),
        (status = 404, body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 409, body = super::problem::Problem, content_type = "application/problem+json", description = "Would leave no active admin"),
        (status = 412, body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 413, body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 415, body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 422, body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 429, body = super::problem::Problem, content_type = "application/problem+json", description = "Too many wrong passwords for this account or client address: current_password is checked like a sign-in"),
        (status = 503, body = super::problem::Problem, content_type = "application/problem+json", description = "Hashing saturated, database unavailable, or time limit exceeded"),
    ))]
pub async fn update_user(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    UserIdPath(id): UserIdPath,
    IfMatch(precondition): IfMatch,
    ClientAddr(client): ClientAddr,
    body: JsonObject,
) -> Result<Response, ApiError> {
    let patch = patch_body(body, &state.accounts.password_policy)?;
    let user = state
        .accounts
        .update(&caller, id, patch, precondition, client)
        .await?;
    Ok(render(StatusCode::OK, &user))
}

/// Delete a user: yourself, or anyone if you are an admin. Their tokens stop
/// working at once; the id is never reused; the email may sign up again.
#[utoipa::path(delete, path = "/users/{id}", tag = "users", security(("bearer" = []), ("oauth2" = [])),
    params(("id" = i64, Path, minimum = 1), ("If-Match" = Option<String>, Header, nullable = false, description = "An ETag from a GET, or *; 412 when it does not match")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 404, body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 409, body = super::problem::Problem, content_type = "application/problem+json", description = "Would remove the last active admin"),
        (status = 412, body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 422, body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 503, body = super::problem::Problem, content_type = "application/problem+json", description = "Database unavailable or time limit exceeded"),
    ))]
pub async fn delete_user(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    UserIdPath(id): UserIdPath,
    IfMatch(precondition): IfMatch,
) -> Result<StatusCode, ApiError> {
    state
        .accounts
        .delete(&caller.user, id, precondition)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sign out everywhere: every access token of the user ends at once, on
/// every instance (the caller's own too, when it is theirs). Emits
/// `user.signed_out` with reason `sign_out_everywhere`.
#[utoipa::path(delete, path = "/users/{id}/tokens", tag = "users", security(("bearer" = []), ("oauth2" = [])),
    params(("id" = i64, Path, minimum = 1)),
    responses(
        (status = 204, description = "Every token of the user ended"),
        (status = 401, body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 404, body = super::problem::Problem, content_type = "application/problem+json", description = "No such user, or not one the caller may see"),
        (status = 422, body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 503, body = super::problem::Problem, content_type = "application/problem+json", description = "Database unavailable or time limit exceeded"),
    ))]
pub async fn end_user_tokens(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    UserIdPath(id): UserIdPath,
) -> Result<StatusCode, ApiError> {
    state.accounts.sign_out_everywhere(&caller.user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
