//! The HTTP layer: routes, middleware, wire types and the one mapping from
//! errors to responses. Handlers parse, ask `accounts` to act, and render;
//! they never write SQL, hash, or compare roles.

#[cfg(feature = "console")]
pub mod admin;
pub mod bodies;
pub mod connections;
pub mod docs;
pub mod events;
pub mod extract;
mod health;
pub mod html;
pub mod list_query;
mod liveness;
mod mail;
mod mail_pages;
pub mod problem;
mod request_metrics;
pub mod serve;
pub mod state;
pub mod token;
mod users;
mod ws;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::error_handling::HandleErrorLayer;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::handler::Handler;
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{delete, get, post};
use axum::BoxError;
use axum::Router;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::ServiceBuilder;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

use problem::{problem, ApiError};
pub use state::{AppState, StateParts, WebSettings};

/// The contract's body limit: 64 KiB.
pub const MAX_BODY: usize = 64 * 1024;

/// Every route of the API, with its middleware.
pub fn router(state: AppState) -> Router {
    let cors = cors(&state.web.cors_origins);
    let request_timeout = state.web.request_timeout;
    let max_in_flight = state.web.max_in_flight;
    let timeout =
        || TimeoutLayer::with_status_code(StatusCode::SERVICE_UNAVAILABLE, request_timeout);
    // Outside the in-flight cap, so slow requests holding every slot never
    // make a load balancer think the service is dead (the contract's
    // "Limits and behaviour under load").
    // `/health` has nothing to wait for (its reply is ready in the first
    // poll), so it goes without the time limit's timer: the layers it does
    // not need are most of its cost (issue 14: ≥ 95% of a bare hello).
    let health = Router::new()
        .route("/health", get(health::health))
        .route("/health/ready", get(health::ready).layer(timeout()))
        .route_layer(middleware::from_fn(observe))
        .with_state(state.clone())
        .layer(middleware::map_response(as_problem));
    let api = Router::new()
        .route("/users", post(users::create_user).get(users::list_users))
        .route("/users/me", get(users::me))
        .route(
            "/users/{id}",
            get(users::get_user)
                .patch(users::update_user)
                .delete(users::delete_user),
        )
        .route("/users/{id}/tokens", delete(users::end_user_tokens))
        .route("/events", get(events::list_events))
        .route("/token", post(token::issue_token))
        .route("/token/revoke", post(token::revoke_token))
        .route("/ws/{client_id}", get(ws::echo))
        .merge(html::secure_headers(docs::router()))
        .merge(html::secure_headers(mail::router()));
    // The console is a default feature: `--no-default-features` builds the
    // binary without it, to weigh what it costs (issue 17: idle PSS).
    #[cfg(feature = "console")]
    let api = api.merge(html::secure_headers(admin::router(state.clone())));
    let api = api
        // `route_layer`, so `observe` sees the matched route; the fallback
        // gets its own copy (unmatched requests are logged too).
        .route_layer(middleware::from_fn(observe))
        .fallback(not_found.layer(middleware::from_fn(observe)))
        .with_state(state);
    let api = api
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(timeout())
        .layer(middleware::map_response(as_problem))
        // Outermost but for CORS: a request past the in-flight cap is
        // answered 503 at once and never waits for a slot. `Router::layer`
        // wraps each route on its own, so the cap must be the global kind
        // (one semaphore shared by all routes).
        .layer(
            ServiceBuilder::new()
                .layer(HandleErrorLayer::new(|_: BoxError| async {
                    metrics::counter!("requests_shed_total").increment(1);
                    ApiError::Unavailable {
                        retry_after_secs: 1,
                    }
                }))
                .load_shed()
                .layer(GlobalConcurrencyLimitLayer::new(max_in_flight)),
        );
    let app = health.merge(api);
    let app = match cors {
        Some(cors) => app.layer(cors),
        None => app,
    };
    // Every response, errors and refusals by the layers above included
    // (OWASP Secure Headers: no content sniffing into HTML or script).
    app.layer(SetResponseHeaderLayer::overriding(
        header::X_CONTENT_TYPE_OPTIONS,
        NOSNIFF,
    ))
}

/// `x-content-type-options` of every response.
const NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");

async fn not_found() -> ApiError {
    ApiError::NotFound("Not found")
}

/// Gives the framework's own error responses (405 with its `Allow`, a
/// timeout's 503) the contract's problem+json body; ours already have one,
/// and our HTML error pages (the console's, the email-link pages') are kept
/// as they are.
async fn as_problem(response: Response) -> Response {
    let status = response.status();
    let is_error = status.is_client_error() || status.is_server_error();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.starts_with("application/json")
                || v.starts_with(problem::PROBLEM_JSON)
                // The email-link pages answer a refused form with a page.
                || v.starts_with("text/html")
        });
    if !is_error || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    // A framework rejection (e.g. a WebSocket handshake without `Upgrade`)
    // says in plain text what was wrong: keep that text as the detail.
    let text = axum::body::to_bytes(body, 1024).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let detail = match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            "Method not allowed on this path; see the Allow header".to_owned()
        }
        StatusCode::SERVICE_UNAVAILABLE => "The request took longer than the time limit".to_owned(),
        _ if !text.trim().is_empty() => text.trim().chars().take(200).collect(),
        _ => status.canonical_reason().unwrap_or("Error").to_owned(),
    };
    let mut fresh = problem(status, detail, None);
    for (name, value) in &parts.headers {
        if name != header::CONTENT_LENGTH && name != header::CONTENT_TYPE {
            fresh.headers_mut().insert(name.clone(), value.clone());
        }
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        fresh
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(1));
    }
    fresh
}

/// No CORS headers at all unless origins are configured; never `*`, and no
/// credentials (bearer tokens are sent explicitly, not as cookies).
fn cors(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::IF_MATCH,
                HeaderName::from_static("idempotency-key"),
            ])
            .expose_headers([
                header::LOCATION,
                header::ETAG,
                HeaderName::from_static("x-total-count"),
                header::LINK,
                header::RETRY_AFTER,
            ])
            .max_age(Duration::from_secs(600)),
    )
}

static REQUEST_IDS: AtomicU64 = AtomicU64::new(1);

/// The `x-request-id` of the next response: unique within the process.
fn next_request_id() -> u64 {
    REQUEST_IDS.fetch_add(1, Ordering::Relaxed)
}

/// One log line and the metrics of every routed request. `/health` is
/// counted but not logged: load balancers poll it.
async fn observe(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    // A clone of the matched path is a reference count, not a copy.
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let route = matched.as_ref().map_or("unmatched", MatchedPath::as_str);
    let id = next_request_id();
    let mut response = next.run(request).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    response
        .headers_mut()
        .insert("x-request-id", HeaderValue::from(id));
    request_metrics::record(route, method, status, elapsed);
    if route != "/health" {
        tracing::info!(
            request_id = id,
            method,
            route = %route,
            status,
            latency_us = elapsed.as_micros() as u64,
            "request"
        );
    }
    response
}

/// A bounded label: any method token is valid HTTP, and each new label
/// value would be a new metric series kept forever.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}
