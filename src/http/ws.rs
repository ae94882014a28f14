//! `/ws/{client_id}`: the seed's echo socket, with the limits a public
//! endpoint needs: an Origin check (browsers do not apply CORS to
//! WebSockets, so cross-site pages could otherwise use it), a 64 KiB message
//! limit (close 1009), a 60 s idle limit and a 1001 close on shutdown.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::Response;

use super::problem::ApiError;
use super::state::AppState;

pub const MAX_MESSAGE: usize = 64 * 1024;
pub const IDLE_LIMIT: Duration = Duration::from_secs(60);

/// RFC 6455 §7.4.1 close codes.
const GOING_AWAY: u16 = 1001;
const MESSAGE_TOO_BIG: u16 = 1009;
const NORMAL: u16 = 1000;

/// Echo every text frame back as `Echo: {text}`.
#[utoipa::path(get, path = "/ws/{client_id}", tag = "websocket",
    params(("client_id" = String, Path)),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol"),
        (status = 400, body = super::problem::Problem, content_type = "application/problem+json", description = "Not a WebSocket handshake (RFC 6455 §4.1: Connection, Upgrade, Sec-WebSocket-Version and Sec-WebSocket-Key are required)"),
        (status = 403, body = super::problem::Problem, content_type = "application/problem+json", description = "A browser Origin that is not allowed"),
        (status = 503, body = super::problem::Problem, content_type = "application/problem+json", description = "As many WebSockets are open as --max-websockets allows"),
    ))]
pub async fn echo(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    if !origin_allowed(&headers, &state.web.cors_origins) {
        return Err(ApiError::Forbidden(
            "This Origin may not open a WebSocket here",
        ));
    }
    // The slot is taken before the upgrade and held by the socket's task:
    // open sockets never exceed the cap, however many handshakes race.
    let slot = state
        .websocket_slots
        .clone()
        .try_acquire_owned()
        .map_err(|_| ApiError::Unavailable {
            retry_after_secs: 1,
        })?;
    let shutdown = state.shutdown.clone();
    let tracker = state.websockets.clone();
    Ok(upgrade
        .max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE)
        .on_upgrade(move |socket| {
            tracker.track_future(async move {
                let reason = serve(socket, shutdown).await;
                drop(slot);
                tracing::debug!(client_id = ?client_id, reason, "websocket closed");
            })
        }))
}

/// No `Origin` (not a browser) is allowed; a browser's must be a configured
/// CORS origin, or, when none is configured, the service's own origin.
fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    if !allowed.is_empty() {
        return allowed.iter().any(|a| a.eq_ignore_ascii_case(origin));
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    host.is_some_and(|host| {
        origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"))
            .is_some_and(|o| o.eq_ignore_ascii_case(host))
    })
}

async fn serve(
    mut socket: WebSocket,
    shutdown: tokio_util::sync::CancellationToken,
) -> &'static str {
    loop {
        let next = tokio::select! {
            () = shutdown.cancelled() => {
                close(&mut socket, GOING_AWAY, "server shutting down").await;
                return "shutdown";
            }
            next = tokio::time::timeout(IDLE_LIMIT, socket.recv()) => next,
        };
        let message = match next {
            Err(_) => {
                close(&mut socket, NORMAL, "idle timeout").await;
                return "idle";
            }
            Ok(None) => return "client left",
            Ok(Some(Err(e))) => {
                if is_capacity_error(&e) {
                    close(&mut socket, MESSAGE_TOO_BIG, "message over 64 KiB").await;
                    return "message too big";
                }
                return "protocol error";
            }
            Ok(Some(Ok(message))) => message,
        };
        match message {
            Message::Text(text) => {
                let reply = format!("Echo: {}", text.as_str());
                if socket.send(Message::Text(reply.into())).await.is_err() {
                    return "send failed";
                }
            }
            Message::Close(_) => return "client closed",
            // Pings are answered by the protocol layer; binary frames are not
            // part of the echo contract and are ignored.
            _ => {}
        }
    }
}

fn is_capacity_error(err: &axum::Error) -> bool {
    // tungstenite reports a message or frame over the limit as a capacity error.
    err.to_string().contains("Space limit exceeded")
}

async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) {
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}
