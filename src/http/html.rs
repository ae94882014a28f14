//! The headers every HTML page carries (`/docs` today; the admin console
//! and the email-link pages reuse `secure_headers`): a Content Security
//! Policy that allows only the service's own origin and no inline script,
//! no framing, no referrer. Pages must be written for it: scripts and
//! styles in files served by the service, never inline.

use axum::http::{header, HeaderValue};
use axum::Router;
use tower_http::set_header::SetResponseHeaderLayer;

/// The policy of every HTML page (CSP Level 3). Swagger UI (`/docs`, its
/// `dist/index.html`) loads its scripts and styles from files and runs no
/// inline script. It inserts one fixed inline `<style>` element, in the SVG
/// of its logo (`.logo_small_svg__cls-2{fill:#fff}…`, Swagger UI 5.17.14):
/// `style-src` allows exactly that element by its hash, not
/// `'unsafe-inline'` (a new Swagger UI with another logo makes the browser
/// test fail, naming the new hash). React sets its inline styles through
/// the CSSOM, which `style-src` does not govern. `img-src data:`: Swagger
/// UI's icons are `data:` SVGs in its stylesheet. `connect-src` falls back
/// to `default-src 'self'`: the page fetches `/openapi.json` and "Try it
/// out" calls the API on the same origin. Checked in headless Chromium by
/// `tests/api/docs.rs`, which fails on any violation.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='; \
     img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// `router` with the HTML headers on every response (its scripts and
/// styles too: harmless there, and no page can be served without them).
pub fn secure_headers<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        // For browsers without `frame-ancestors` (CSP Level 2).
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
}
