//! `ApiError` and the only place an error becomes a status code and a body:
//! RFC 9457 problem+json everywhere, RFC 6749 §5.2 bodies for the 400s of
//! `POST /token`. 5xx causes are logged here once and never shown.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::accounts;
use crate::domain::policy::Denied as Why;
use crate::domain::{self, FieldError};

#[derive(Debug)]
pub enum ApiError {
    /// 422 naming every bad field.
    Invalid(Vec<FieldError>),
    /// 422 with one message about the request as a whole (query, path).
    Unprocessable(String),
    MalformedJson(String),
    UnsupportedMediaType(&'static str),
    PayloadTooLarge,
    /// 401 without a token (`realm`) or with a bad one (`invalid_token`).
    Unauthorized {
        invalid_token: bool,
    },
    Forbidden(&'static str),
    NotFound(&'static str),
    /// 410: what the client asked for existed once and is gone for good.
    Gone(&'static str),
    EmailTaken,
    Conflict(&'static str),
    /// 400 with a fixed detail (a link's token that does not work).
    BadRequest(&'static str),
    /// 501: a feature the service is not configured for.
    NotImplemented(&'static str),
    PreconditionFailed,
    Unavailable {
        retry_after_secs: u64,
    },
    TooManyRequests {
        retry_after_secs: u64,
    },
    Internal,
    /// RFC 6749 §5.2 error of `POST /token`.
    OAuth {
        error: &'static str,
        description: String,
    },
}

/// RFC 9457 problem details, with FastAPI's `detail` key as a string.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// Always `about:blank`: the status says what kind of problem it is.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Every bad field, on validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldError>>,
}

/// RFC 6749 §5.2 error response of the token endpoint.
#[derive(Serialize, utoipa::ToSchema)]
pub struct OAuthErrorOut {
    /// `invalid_request`, `invalid_grant` or `unsupported_grant_type`.
    pub error: &'static str,
    pub error_description: String,
}

pub const PROBLEM_JSON: &str = "application/problem+json";
const REALM: &str = "Bearer realm=\"user-api\"";
/// The contract's exact challenge (RFC 6750 §3.1).
const INVALID_TOKEN: &str = "Bearer error=\"invalid_token\"";

/// A problem+json response for any status, used by the error mapping and by
/// the fallbacks that turn the framework's bare errors into our shape.
pub fn problem(
    status: StatusCode,
    detail: impl Into<String>,
    errors: Option<Vec<FieldError>>,
) -> Response {
    let body = Problem {
        kind: "about:blank",
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail: detail.into(),
        errors,
    };
    let mut response = (status, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        use ApiError::*;
        match self {
            Invalid(errors) => {
                let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
                let detail = format!("Invalid fields: {}", fields.join(", "));
                problem(StatusCode::UNPROCESSABLE_ENTITY, detail, Some(errors))
            }
            Unprocessable(detail) => problem(StatusCode::UNPROCESSABLE_ENTITY, detail, None),
            MalformedJson(detail) => problem(StatusCode::BAD_REQUEST, detail, None),
            UnsupportedMediaType(detail) => {
                problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, detail, None)
            }
            PayloadTooLarge => problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request body is larger than 65536 bytes",
                None,
            ),
            Unauthorized { invalid_token } => {
                let (detail, challenge) = if invalid_token {
                    ("Invalid or expired token", INVALID_TOKEN)
                } else {
                    ("Not authenticated", REALM)
                };
                let mut response = problem(StatusCode::UNAUTHORIZED, detail, None);
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(challenge),
                );
                response
            }
            Forbidden(detail) => problem(StatusCode::FORBIDDEN, detail, None),
            NotFound(detail) => problem(StatusCode::NOT_FOUND, detail, None),
            Gone(detail) => problem(StatusCode::GONE, detail, None),
            EmailTaken => problem(StatusCode::BAD_REQUEST, "Email already registered", None),
            Conflict(detail) => problem(StatusCode::CONFLICT, detail, None),
            BadRequest(detail) => problem(StatusCode::BAD_REQUEST, detail, None),
            NotImplemented(detail) => problem(StatusCode::NOT_IMPLEMENTED, detail, None),
            PreconditionFailed => problem(
                StatusCode::PRECONDITION_FAILED,
                "The user has changed since the ETag you sent; fetch it again",
                None,
            ),
            Unavailable { retry_after_secs } => {
                let mut response = problem(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The service is busy or its database is unavailable; retry later",
                    None,
                );
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
                response
            }
            TooManyRequests { retry_after_secs } => {
                let mut response = problem(
                    StatusCode::TOO_MANY_REQUESTS,
                    "Too many attempts; retry after the number of seconds in Retry-After",
                    None,
                );
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
                no_store(&mut response);
                response
            }
            Internal => problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal server error",
                None,
            ),
            OAuth { error, description } => {
                let mut response = (
                    StatusCode::BAD_REQUEST,
                    axum::Json(OAuthErrorOut {
                        error,
                        error_description: description,
                    }),
                )
                    .into_response();
                no_store(&mut response);
                response
            }
        }
    }
}

/// RFC 6749 §5.1: token responses must not be cached.
pub fn no_store(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

impl From<domain::Error> for ApiError {
    fn from(err: domain::Error) -> Self {
        match err {
            domain::Error::Invalid(violations) => ApiError::Invalid(violations.into_vec()),
        }
    }
}

impl From<crate::auth::Error> for ApiError {
    fn from(err: crate::auth::Error) -> Self {
        match err {
            crate::auth::Error::Busy => ApiError::Unavailable {
                retry_after_secs: 1,
            },
            crate::auth::Error::Hashing(cause) => {
                tracing::error!(cause = cause.to_string().as_str(), "hashing error");
                ApiError::Internal
            }
        }
    }
}

impl From<accounts::Error> for ApiError {
    fn from(err: accounts::Error) -> Self {
        use accounts::Error::*;
        match err {
            Denied(Why::SignInRequired) | MissingToken => ApiError::Unauthorized {
                invalid_token: false,
            },
            InvalidToken => ApiError::Unauthorized {
                invalid_token: true,
            },
            Denied(Why::Forbidden(why)) => ApiError::Forbidden(why),
            Denied(Why::Hidden) => ApiError::NotFound("User not found"),
            InvalidCredentials => ApiError::OAuth {
                error: "invalid_grant",
                description: "Incorrect email or password".into(),
            },
            EmailNotVerified => ApiError::OAuth {
                error: "invalid_grant",
                description: "Email not verified".into(),
            },
            MailOff => ApiError::NotImplemented("Mail is not configured"),
            InvalidLink => ApiError::BadRequest("Invalid or expired token"),
            AlreadyVerified => ApiError::Conflict("Email already verified"),
            WrongCurrentPassword => ApiError::Forbidden("current_password is missing or wrong"),
            NotFound => ApiError::NotFound("User not found"),
            EmailTaken => ApiError::EmailTaken,
            LastAdmin => ApiError::Conflict("This would leave no active admin"),
            StaleVersion => ApiError::PreconditionFailed,
            EventsPruned { .. } => ApiError::Gone(
                "Events after this position were already pruned; read from the oldest kept event (no `after`)",
            ),
            Unavailable(cause) => {
                tracing::warn!(cause = cause.to_string().as_str(), "database unavailable");
                ApiError::Unavailable {
                    retry_after_secs: 1,
                }
            }
            Internal(cause) => {
                tracing::error!(cause = cause.to_string().as_str(), "internal error");
                ApiError::Internal
            }
            Throttled { retry_after_secs } => ApiError::TooManyRequests { retry_after_secs },
            IdempotencyInFlight => ApiError::Conflict(
                "A request with this Idempotency-Key is still running; retry when it has finished",
            ),
            IdempotencyKeyReused => ApiError::Invalid(vec![FieldError {
                field: "Idempotency-Key".into(),
                message: "was already used with another request body".into(),
            }]),
            Auth(e) => e.into(),
            Invalid(e) => e.into(),
        }
    }
}
