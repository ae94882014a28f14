//! The OpenAPI 3.1 document, generated from the handlers' annotations, and
//! the interactive docs page. Swagger UI's assets are compiled into the
//! binary (`utoipa-swagger-ui`'s `vendored` feature): no CDN at run time.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_swagger_ui::SwaggerUi;

use super::{health, problem, token, users, ws};

#[derive(OpenApi)]
#[openapi(
    info(title = "user-api", description = "User accounts over HTTP: sign-up, bearer-token sign-in, and user management."),
    paths(
        health::health, health::ready,
        users::create_user, users::me, users::list_users, users::get_user, users::update_user, users::delete_user,
        token::issue_token, token::revoke_token,
        ws::echo,
    ),
    components(schemas(problem::Problem, problem::OAuthErrorOut, crate::domain::FieldError)),
    modifiers(&BearerAuth),
    tags(
        (name = "users", description = "Accounts"),
        (name = "auth", description = "Access tokens"),
        (name = "health", description = "Liveness and readiness"),
        (name = "websocket", description = "Echo socket"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document, with the crate's version.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    doc
}

/// `/docs` (Swagger UI) and `/openapi.json`.
pub fn router<S: Clone + Send + Sync + 'static>() -> axum::Router<S> {
    SwaggerUi::new("/docs")
        .url("/openapi.json", openapi())
        // Swagger UI's default sends every visitor's browser to an online
        // validator (validator.swagger.io) with the spec's URL: no third
        // party may see who reads these docs.
        .config(utoipa_swagger_ui::Config::from("/openapi.json").validator_url("none"))
        .into()
}
