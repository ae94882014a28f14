//! `GET /ws/{client_id}`: the echo socket, its Origin check, the 64 KiB
//! message limit, the idle limit and the close on shutdown.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::support::{spawn_app, spawn_app_with, TestApp};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Longest a test waits for one frame the service owes it; only a broken
/// service makes a test wait this long.
const REPLY_LIMIT: Duration = Duration::from_secs(10);

/// The contract's idle limit (60 s), plus headroom for a loaded machine.
const IDLE_REPLY_LIMIT: Duration = Duration::from_secs(90);

/// Opens `/ws/{client_id}`, sending `origin` when given; returns the
/// socket, or the handshake's error.
async fn open(app: &TestApp, origin: Option<&str>) -> Result<Socket, Error> {
    let mut request = format!("ws://{}/ws/test-client", app.addr)
        .into_client_request()
        .unwrap();
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", HeaderValue::from_str(origin).unwrap());
    }
    tokio_tungstenite::connect_async(request)
        .await
        .map(|(socket, _)| socket)
}

/// The HTTP status of a refused handshake.
fn refused_status(result: Result<Socket, Error>) -> StatusCode {
    match result {
        Err(Error::Http(response)) => response.status(),
        Err(other) => panic!("expected an HTTP refusal, got {other}"),
        Ok(_) => panic!("expected the handshake to be refused, but it succeeded"),
    }
}

/// The next frame the service sends, skipping pings and pongs; `None` when
/// the stream ends without one.
async fn next_frame(socket: &mut Socket, limit: Duration) -> Option<Message> {
    tokio::time::timeout(limit, async {
        loop {
            match socket.next().await? {
                Ok(Message::Ping(_) | Message::Pong(_)) => continue,
                Ok(message) => return Some(message),
                Err(e) => panic!("websocket error before a frame arrived: {e}"),
            }
        }
    })
    .await
    .expect("the service sent nothing within the limit")
}

/// Sends `text` and returns the service's reply.
async fn round_trip(socket: &mut Socket, text: &str) -> Option<Message> {
    socket.send(Message::text(text)).await.unwrap();
    next_frame(socket, REPLY_LIMIT).await
}

fn close_code(message: Option<Message>) -> u16 {
    match message {
        Some(Message::Close(Some(CloseFrame { code, .. }))) => u16::from(code),
        other => panic!("expected a Close frame with a code, got {other:?}"),
    }
}

#[tokio::test]
async fn a_text_frame_comes_back_prefixed_with_echo() {
    let app = spawn_app().await;
    let mut socket = open(&app, None).await.unwrap();

    let reply = round_trip(&mut socket, "hello").await;

    assert_eq!(reply, Some(Message::text("Echo: hello")));
    app.stop().await;
}

#[tokio::test]
async fn several_frames_in_a_row_each_come_back_in_order() {
    let app = spawn_app().await;
    let mut socket = open(&app, None).await.unwrap();

    for text in ["one", "two", "three"] {
        socket.send(Message::text(text)).await.unwrap();
    }
    let mut replies = Vec::new();
    for _ in 0..3 {
        replies.push(next_frame(&mut socket, REPLY_LIMIT).await);
    }

    assert_eq!(
        replies,
        vec![
            Some(Message::text("Echo: one")),
            Some(Message::text("Echo: two")),
            Some(Message::text("Echo: three")),
        ]
    );
    app.stop().await;
}

#[tokio::test]
async fn unicode_text_is_echoed_unchanged() {
    let app = spawn_app().await;
    let mut socket = open(&app, None).await.unwrap();
    let text = "Grüße, Ada 👋 — 日本語 ∑ é";

    let reply = round_trip(&mut socket, text).await;

    assert_eq!(reply, Some(Message::text(format!("Echo: {text}"))));
    app.stop().await;
}

#[tokio::test]
async fn a_handshake_without_origin_is_allowed() {
    let app = spawn_app().await;

    let mut socket = open(&app, None).await.expect("handshake without Origin");

    assert_eq!(
        round_trip(&mut socket, "ping").await,
        Some(Message::text("Echo: ping"))
    );
    app.stop().await;
}

#[tokio::test]
async fn a_handshake_from_a_foreign_origin_is_403() {
    let app = spawn_app().await;

    let result = open(&app, Some("https://evil.example")).await;

    assert_eq!(refused_status(result), StatusCode::FORBIDDEN);
    app.stop().await;
}

#[tokio::test]
async fn the_services_own_origin_is_allowed_when_no_cors_origins_are_configured() {
    let app = spawn_app().await;
    let own_origin = format!("http://{}", app.addr);

    let mut socket = open(&app, Some(&own_origin))
        .await
        .expect("handshake from the service's own origin");

    assert_eq!(
        round_trip(&mut socket, "self").await,
        Some(Message::text("Echo: self"))
    );
    app.stop().await;
}

#[tokio::test]
async fn a_configured_cors_origin_may_open_a_socket() {
    let app = spawn_app_with(&["--cors-origins", "https://app.example.com"]).await;

    let mut socket = open(&app, Some("https://app.example.com"))
        .await
        .expect("handshake from a configured origin");

    assert_eq!(
        round_trip(&mut socket, "hi").await,
        Some(Message::text("Echo: hi"))
    );
    app.stop().await;
}

#[tokio::test]
async fn an_origin_outside_the_configured_cors_origins_is_403() {
    let app = spawn_app_with(&["--cors-origins", "https://app.example.com"]).await;

    let result = open(&app, Some("https://other.example.com")).await;

    assert_eq!(refused_status(result), StatusCode::FORBIDDEN);
    app.stop().await;
}

#[tokio::test]
async fn a_message_of_exactly_64_kib_is_echoed() {
    let app = spawn_app().await;
    let mut socket = open(&app, None).await.unwrap();
    let text = "a".repeat(64 * 1024);

    let reply = round_trip(&mut socket, &text).await;

    match reply {
        Some(Message::Text(reply)) => {
            assert_eq!(reply.len(), "Echo: ".len() + text.len());
            assert!(reply.as_str() == format!("Echo: {text}"), "echo differs");
        }
        other => panic!("expected the echo, got {other:?}"),
    }
    app.stop().await;
}

#[tokio::test]
async fn a_message_over_64_kib_closes_the_socket_with_1009() {
    let app = spawn_app().await;
    let mut socket = open(&app, None).await.unwrap();

    let reply = round_trip(&mut socket, &"a".repeat(64 * 1024 + 1)).await;

    assert_eq!(close_code(reply), u16::from(CloseCode::Size));
    app.stop().await;
}

#[tokio::test]
async fn graceful_shutdown_closes_open_sockets_with_1001() {
    let app = spawn_app().await;
    let mut socket = open(&app, None).await.unwrap();
    assert_eq!(
        round_trip(&mut socket, "before").await,
        Some(Message::text("Echo: before"))
    );

    let stopping = tokio::spawn(app.stop());
    let frame = next_frame(&mut socket, REPLY_LIMIT).await;

    assert_eq!(close_code(frame), u16::from(CloseCode::Away));
    drop(socket);
    tokio::time::timeout(REPLY_LIMIT, stopping)
        .await
        .expect("the service stops")
        .unwrap();
}

/// Takes the contract's 60 s of wall time: there is no way to shorten the
/// idle limit from outside.
#[tokio::test]
async fn a_socket_idle_for_60_seconds_is_closed() {
    let app = spawn_app().await;
    let mut socket = open(&app, None).await.unwrap();
    assert_eq!(
        round_trip(&mut socket, "then silence").await,
        Some(Message::text("Echo: then silence"))
    );

    let frame = next_frame(&mut socket, IDLE_REPLY_LIMIT).await;

    assert!(
        matches!(frame, Some(Message::Close(_))),
        "expected a Close frame after 60 s idle, got {frame:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_plain_get_of_the_socket_path_is_a_problem_json_400() {
    let app = spawn_app().await;
    let response = reqwest::get(app.url("/ws/plain")).await.unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::BAD_REQUEST);
    let body = crate::support::problem(response).await;
    assert_eq!(body["status"], 400);
    app.stop().await;
}

#[tokio::test]
async fn past_max_websockets_a_handshake_gets_503_until_a_socket_closes() {
    let app = spawn_app_with(&["--max-websockets", "2"]).await;
    let mut first = open(&app, None).await.expect("first socket");
    let mut second = open(&app, None).await.expect("second socket");
    assert!(round_trip(&mut second, "still here").await.is_some());

    assert_eq!(
        refused_status(open(&app, None).await),
        StatusCode::SERVICE_UNAVAILABLE
    );

    first.close(None).await.unwrap();
    drop(first);
    // The slot comes back when the service has seen the close.
    let mut third = None;
    for _ in 0..100 {
        if let Ok(socket) = open(&app, None).await {
            third = Some(socket);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut third = third.expect("a socket opens once one has closed");
    assert!(round_trip(&mut third, "hello").await.is_some());
    app.stop().await;
}
