//! The OpenAPI 3.1 document, generated from the handlers' annotations, and
//! the interactive docs page. Swagger UI's assets are compiled into the
//! binary (`utoipa-swagger-ui`'s `vendored` feature): no CDN at run time.

use utoipa::openapi::content::Content;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::response::Response;
use utoipa::openapi::security::{
    Flow, HttpAuthScheme, HttpBuilder, OAuth2, Password, Scopes, SecurityScheme,
};
use utoipa::openapi::{ObjectBuilder, Ref, RefOr, Type};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use super::{events, health, mail, mail_pages, problem, token, users, ws};

#[derive(OpenApi)]
#[openapi(
    info(title = "user-api", description = "User accounts over HTTP: sign-up, bearer-token sign-in, and user management."),
    paths(
        health::health, health::ready,
        users::create_user, users::me, users::list_users, users::get_user, users::update_user, users::delete_user, users::end_user_tokens,
        token::issue_token, token::revoke_token,
        events::list_events,
        mail::request_password_reset, mail::confirm_password_reset,
        mail::request_email_verification, mail::confirm_email_verification,
        mail_pages::reset_page, mail_pages::verification_page,
        ws::echo,
    ),
    components(schemas(problem::Problem, problem::OAuthErrorOut, crate::domain::FieldError)),
    modifiers(&BearerAuth, &EveryOperation),
    tags(
        (name = "users", description = "Accounts"),
        (name = "auth", description = "Access tokens"),
        (name = "health", description = "Liveness and readiness"),
        (name = "events", description = "Every committed change to a user, in commit order"),
        (name = "mail", description = "Email verification and password reset (off unless --smtp-url is set: then 501)"),
        (name = "websocket", description = "Echo socket"),
    )
)]
pub struct ApiDoc;

/// The token `POST /token` issues, as a plain bearer token (`bearer`) and
/// as what it is, the OAuth 2.0 password grant's token (`oauth2`, as
/// FastAPI's `OAuth2PasswordBearer` documents it): one token, two ways to
/// describe it, so operations list both as alternatives. The second lets
/// the docs page sign in with an email and a password.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "oauth2",
            SecurityScheme::OAuth2(OAuth2::with_description(
                [Flow::Password(Password::new("/token", Scopes::new()))],
                "The OAuth 2.0 password grant of POST /token: username = email",
            )),
        );
    }
}

/// What holds for every operation, written once so none can forget it: any
/// of them can answer `503` (more connections open or requests in flight
/// than allowed, the request time limit, an unavailable database); every
/// `503` and `429` says in `Retry-After` when to try again; every `401`
/// carries the RFC 6750 challenge.
struct EveryOperation;

impl Modify for EveryOperation {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
            ];
            for operation in operations.into_iter().flatten() {
                let responses = &mut operation.responses.responses;
                responses
                    .entry("503".to_owned())
                    .or_insert_with(|| RefOr::T(unavailable()));
                for (status, response) in responses.iter_mut() {
                    let RefOr::T(response) = response else {
                        continue;
                    };
                    let header = match status.as_str() {
                        "429" | "503" => ("Retry-After", retry_after()),
                        "401" => ("WWW-Authenticate", challenge()),
                        _ => continue,
                    };
                    response.headers.insert(header.0.to_owned(), header.1);
                }
            }
        }
    }
}

fn unavailable() -> Response {
    let mut response = Response::new(
        "Overloaded (connections or requests in flight past their caps), over the \
         request time limit, or the database is unavailable; retry after Retry-After",
    );
    response.content.insert(
        problem::PROBLEM_JSON.to_owned(),
        Content::new(Some(Ref::from_schema_name("Problem"))),
    );
    response
}

fn retry_after() -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .schema(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(0)),
        )
        .description(Some("Seconds to wait before trying again"))
        .build()
}

fn challenge() -> utoipa::openapi::header::Header {
    HeaderBuilder::new()
        .description(Some(
            "`Bearer realm=\"user-api\"` when no token was sent, \
             `Bearer error=\"invalid_token\"` for a bad one (RFC 6750 §3)",
        ))
        .build()
}

/// The document, with the crate's version.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

/// `/docs` (Swagger UI) and `/openapi.json`.
pub fn router<S: Clone + Send + Sync + 'static>() -> axum::Router<S> {
    let ui: axum::Router<S> = SwaggerUi::new("/docs")
        // Swagger UI's default sends every visitor's browser to an online
        // validator (validator.swagger.io) with the spec's URL: no third
        // party may see who reads these docs.
        .config(utoipa_swagger_ui::Config::from("/openapi.json").validator_url("none"))
        .into();
    ui.route("/openapi.json", axum::routing::get(openapi_json))
}

/// The document as JSON, built on its first request and kept as text.
/// Built at start (as `SwaggerUi::url` does), its tree was a few hundred
/// KB of heap and its builders' code was paged in, in every idle process
/// that nobody ever asked for its docs (issue 14: idle memory).
async fn openapi_json() -> axum::response::Response {
    use axum::http::{header, HeaderValue};
    use axum::response::IntoResponse;

    static JSON: std::sync::OnceLock<bytes::Bytes> = std::sync::OnceLock::new();
    let body = JSON
        .get_or_init(|| {
            serde_json::to_vec(&openapi())
                .expect("an OpenAPI document is always JSON")
                .into()
        })
        .clone();
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}
