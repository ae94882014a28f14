//! The console's session: an ordinary access token, issued by the same
//! throttled sign-in as `POST /token`, held in a cookie scoped to `/admin`
//! (HttpOnly, SameSite=Strict, Secure over https). Being a token, it ends
//! like one: on sign-out (revoked here), deactivation, deletion, a password
//! set by an admin, `DELETE /users/{id}/tokens`, or expiry. Also the
//! `Origin` check every state-changing request passes.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use cookie::{Cookie, SameSite};
use maud::html;

use super::forms::Refusal;
use super::pages::{self, Notice};
use crate::accounts::{Caller, Error};
use crate::auth::tokens::parse_token;
use crate::http::extract::ClientAddr;
use crate::http::state::AppState;

/// The session cookie's name.
pub const COOKIE: &str = "user_api_console";

/// A signed-in admin's request. Without a valid session, a page answers
/// with a redirect to the sign-in page (the cookie cleared when it named
/// a session that ended).
pub struct Console(pub Caller);

impl FromRequestParts<AppState> for Console {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let Some(token) = session_token(&parts.headers) else {
            return Err(Redirect::to("/admin/sign-in").into_response());
        };
        match state.accounts.console_caller(parse_token(&token)).await {
            Ok(caller) => Ok(Self(caller)),
            Err(Error::InvalidToken | Error::MissingToken) => {
                metrics::counter!("console_sessions_refused_total", "reason" => "ended")
                    .increment(1);
                Err(signed_out(
                    state,
                    &parts.headers,
                    via_proxy(parts, state),
                    "ended",
                ))
            }
            Err(Error::Denied(_)) => {
                metrics::counter!("console_sessions_refused_total", "reason" => "not_admin")
                    .increment(1);
                Err(signed_out(
                    state,
                    &parts.headers,
                    via_proxy(parts, state),
                    "not-admin",
                ))
            }
            Err(other) => Err(Refusal::of(other).await.page("Console", None)),
        }
    }
}

/// The session cookie's value, if the request has one.
fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == COOKIE)
        .map(|c| c.value().to_owned())
}

/// Whether the request came through a trusted proxy (whose
/// `X-Forwarded-*` headers are then believed).
pub struct ViaProxy(pub bool);

impl FromRequestParts<AppState> for ViaProxy {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(via_proxy(parts, state)))
    }
}

fn via_proxy(parts: &Parts, state: &AppState) -> bool {
    peer_is_trusted(
        parts.extensions.get::<ConnectInfo<SocketAddr>>(),
        &state.web.trusted_proxies,
    )
}

fn peer_is_trusted(peer: Option<&ConnectInfo<SocketAddr>>, trusted: &[ipnet::IpNet]) -> bool {
    peer.map(|ConnectInfo(addr)| addr.ip().to_canonical())
        .is_some_and(|ip: IpAddr| trusted.iter().any(|net| net.contains(&ip)))
}

/// Whether the browser reached the console over https: `--public-url`'s
/// scheme when it is configured, else a trusted proxy's
/// `X-Forwarded-Proto`. Decides the cookie's `Secure` and the expected
/// `Origin`'s scheme.
fn is_https(state: &AppState, headers: &HeaderMap, via_proxy: bool) -> bool {
    if let Some(url) = &state.web.public_url {
        return url.to_ascii_lowercase().starts_with("https://");
    }
    via_proxy && forwarded(headers, "x-forwarded-proto").is_some_and(|p| p == "https")
}

/// The first value of a proxy's header, lower-cased.
fn forwarded(headers: &HeaderMap, name: &str) -> Option<String> {
    let value = headers.get(name)?.to_str().ok()?;
    Some(value.split(',').next()?.trim().to_ascii_lowercase())
}

/// The origin the console's pages are served from, as a browser writes it
/// in `Origin`.
fn own_origin(state: &AppState, headers: &HeaderMap, via_proxy: bool) -> Option<String> {
    if let Some(url) = &state.web.public_url {
        let url = reqwest::Url::parse(url).ok()?;
        return Some(url.origin().ascii_serialization());
    }
    let scheme = if is_https(state, headers, via_proxy) {
        "https"
    } else {
        "http"
    };
    let host = match forwarded(headers, "x-forwarded-host") {
        Some(host) if via_proxy => host,
        _ => headers
            .get(header::HOST)?
            .to_str()
            .ok()?
            .to_ascii_lowercase(),
    };
    Some(format!("{scheme}://{host}"))
}

/// CSRF defence (OWASP's "verifying origin with standard headers"): a
/// state-changing request must carry `Origin` equal to the console's own
/// (or `null` with `Sec-Fetch-Site: same-origin`, below), and, when the
/// browser sends `Sec-Fetch-Site`, `same-origin`. A request
/// without `Origin` is refused too: every browser sends it on a POST, and
/// the API (bearer tokens) is there for everything else. The cookie's
/// `SameSite=Strict` is the second line. `Some`: the refusal (403).
pub fn same_origin(state: &AppState, request: &Request) -> Option<Response> {
    let headers = request.headers();
    let via_proxy = peer_is_trusted(
        request.extensions().get::<ConnectInfo<SocketAddr>>(),
        &state.web.trusted_proxies,
    );
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let expected = own_origin(state, headers, via_proxy);
    let site = headers.get("sec-fetch-site").map(|v| v.as_bytes());
    let origin_ok = match (origin, &expected) {
        (Some(o), Some(e)) if o.eq_ignore_ascii_case(e) => true,
        // A page under `Referrer-Policy: no-referrer` (every HTML page, by
        // the contract) makes the browser send `Origin: null` on its own
        // form posts (Fetch, "append a request `Origin` header"); then the
        // browser's `Sec-Fetch-Site`, which no page can set, must say
        // same-origin. Seen in Chromium by tests/api/console/journeys.rs.
        (Some("null"), _) => site == Some(b"same-origin"),
        _ => false,
    };
    let site_ok = site.is_none_or(|site| site == b"same-origin");
    if origin_ok && site_ok {
        return None;
    }
    metrics::counter!("console_origin_refused_total").increment(1);
    let refusal = Refusal {
        status: StatusCode::FORBIDDEN,
        message: "Refused: this request did not come from the console's own pages \
                  (its Origin is not this service's)"
            .into(),
        fields: Vec::new(),
    };
    Some(refusal.page("Refused", None))
}

/// The `Set-Cookie` of a new session: the token for `/admin` only, out of
/// reach of script (HttpOnly), never sent by another site's request
/// (SameSite=Strict), only over https when the console is reached by https.
fn session_cookie(token: &str, secure: bool, max_age_secs: u64) -> Option<HeaderValue> {
    let cookie = Cookie::build((COOKIE, token))
        .path("/admin")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .max_age(cookie::time::Duration::seconds(
            i64::try_from(max_age_secs).unwrap_or(i64::MAX),
        ))
        .build();
    HeaderValue::from_str(&cookie.to_string()).ok()
}

/// The `Set-Cookie` that removes the session cookie.
fn removal_cookie(secure: bool) -> HeaderValue {
    let mut cookie = Cookie::build((COOKIE, ""))
        .path("/admin")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure)
        .build();
    cookie.make_removal();
    HeaderValue::from_str(&cookie.to_string()).unwrap_or(HeaderValue::from_static(""))
}

/// To the sign-in page, saying why, with the cookie removed.
fn signed_out(state: &AppState, headers: &HeaderMap, via_proxy: bool, why: &str) -> Response {
    let mut response = Redirect::to(&format!("/admin/sign-in?why={why}")).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        removal_cookie(is_https(state, headers, via_proxy)),
    );
    response
}

#[derive(serde::Deserialize)]
pub struct SignInQuery {
    why: Option<String>,
}

/// Why the sign-in page is shown, from a fixed list (never text from the
/// URL).
fn reason(why: Option<&str>) -> Option<Notice> {
    Some(match why? {
        "signed-out" => Notice::Done("Signed out.".into()),
        "ended" => Notice::Refused(
            "Your session ended (signed out elsewhere, its sessions ended, the \
             account deactivated, or it expired). Sign in again."
                .into(),
        ),
        "not-admin" => Notice::Refused("This account is not an admin.".into()),
        _ => return None,
    })
}

/// `GET /admin/sign-in`.
pub async fn sign_in_page(Query(query): Query<SignInQuery>) -> Response {
    let notice = reason(query.why.as_deref());
    pages::html(StatusCode::OK, sign_in_markup("", notice.as_ref()))
}

fn sign_in_markup(email: &str, notice: Option<&Notice>) -> maud::Markup {
    let body = html! {
        h1 { "Sign in" }
        p { "The user-api admin console. Sign in with an admin's email and password." }
        form.card method="post" action="/admin/sign-in" {
            label for="email" { "Email" }
            input #email type="email" name="email" value=(email) autocomplete="username" required autofocus;
            label for="password" { "Password" }
            input #password type="password" name="password" autocomplete="current-password" required;
            button type="submit" { "Sign in" }
        }
    };
    pages::layout("Sign in", None, notice, body)
}

#[derive(serde::Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

/// `POST /admin/sign-in`: the `/token` sign-in (same throttle, same audit
/// line), admins only; a session cookie and a redirect to the users.
pub async fn sign_in(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    request_headers: HeaderMap,
    ViaProxy(via_proxy): ViaProxy,
    Form(form): Form<SignInForm>,
) -> Response {
    let secure = is_https(&state, &request_headers, via_proxy);
    match state
        .accounts
        .sign_in_to_console(&form.email, &form.password, client)
        .await
    {
        Ok((token, _)) => {
            let mut response = Redirect::to("/admin/users").into_response();
            let max_age = state.accounts.token_ttl.as_secs();
            if let Some(cookie) = session_cookie(token.expose(), secure, max_age) {
                response.headers_mut().insert(header::SET_COOKIE, cookie);
            }
            response
        }
        Err(err) => {
            let refusal = Refusal::of(err).await;
            let notice = Notice::Refused(refusal.message.clone());
            pages::html(refusal.status, sign_in_markup(&form.email, Some(&notice)))
        }
    }
}

/// `POST /admin/sign-out`: revokes the session's token (it stops working
/// everywhere at once) and removes the cookie.
pub async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    ViaProxy(via_proxy): ViaProxy,
    session: Result<Console, Response>,
) -> Response {
    if let Ok(Console(caller)) = session {
        if let Err(err) = state.accounts.revoke(&caller).await {
            return Refusal::of(err).await.page("Sign out", Some(&caller.user));
        }
    }
    signed_out(&state, &headers, via_proxy, "signed-out")
}
