//! `GET /health` answered in front of the router. Load balancers poll it
//! many times a second and its answer never varies, so it skips the stack
//! that is there for other requests: routing, the request log it is not
//! written to, the in-flight cap it is outside of, and the time limit it
//! cannot reach. Those layers were two thirds of its cost (issue 14: the
//! target is 95% of a bare axum hello).
//!
//! It still carries what every response carries: the JSON the handler
//! writes, `x-request-id`, `x-content-type-options`, and its metric series.
//! When CORS origins are configured, a request with an `Origin` goes the
//! long way, so the CORS layer answers it as before.

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::http::{header, HeaderValue, Method, Request};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::future::Either;
use tower::Service;

use super::{health, next_request_id, request_metrics, NOSNIFF};

/// `inner`, with `GET /health` answered before it.
#[derive(Clone)]
pub struct Liveness<S> {
    inner: S,
    cors_configured: bool,
}

impl<S> Liveness<S> {
    pub fn new(inner: S, cors_configured: bool) -> Self {
        Self {
            inner,
            cors_configured,
        }
    }

    fn answers<B>(&self, request: &Request<B>) -> bool {
        request.method() == Method::GET
            && request.uri().path() == "/health"
            && !(self.cors_configured && request.headers().contains_key(header::ORIGIN))
    }
}

impl<S, B> Service<Request<B>> for Liveness<S>
where
    S: Service<Request<B>, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Ready<Result<Response, Infallible>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        if self.answers(&request) {
            Either::Left(ready(Ok(answer())))
        } else {
            Either::Right(self.inner.call(request))
        }
    }
}

fn answer() -> Response {
    let started = Instant::now();
    let mut response = Json(health::liveness()).into_response();
    let headers = response.headers_mut();
    headers.insert("x-request-id", HeaderValue::from(next_request_id()));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, NOSNIFF);
    request_metrics::record("/health", "GET", 200, started.elapsed());
    response
}
