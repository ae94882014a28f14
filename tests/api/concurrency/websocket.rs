//! `GET /ws/{client_id}` with fifty sockets open at once: each gets only its
//! own echoes.

use std::future::Future;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use super::all_at_once;
use crate::support::{spawn_app, TestApp};

/// Longest a test waits for one WebSocket frame the service owes it; only a
/// broken service makes a test wait this long.
const REPLY_LIMIT: Duration = Duration::from_secs(10);

/// Opens `/ws/{client_id}`, sends each text in turn and returns the text of
/// each reply (`None` when the service sent something else or nothing).
fn echo_session(
    app: &TestApp,
    client_id: String,
    texts: Vec<String>,
) -> impl Future<Output = Vec<Option<String>>> + Send + 'static {
    let url = format!("ws://{}/ws/{client_id}", app.addr);
    async move {
        let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let mut replies = Vec::new();
        for text in texts {
            socket.send(Message::text(text)).await.unwrap();
            let reply = tokio::time::timeout(REPLY_LIMIT, async {
                loop {
                    match socket.next().await {
                        Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                        Some(Ok(Message::Text(reply))) => return Some(reply.as_str().to_owned()),
                        _ => return None,
                    }
                }
            })
            .await
            .expect("the service sent nothing within the limit");
            replies.push(reply);
        }
        let _ = socket.close(None).await;
        replies
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_websockets_each_get_only_their_own_echoes() {
    let app = spawn_app().await;
    let texts = |socket: usize| -> Vec<String> {
        (0..5)
            .map(|message| format!("socket {socket} message {message}"))
            .collect()
    };

    let sessions = all_at_once(
        (0..50).map(|socket| echo_session(&app, format!("client-{socket}"), texts(socket))),
    )
    .await;

    for (socket, replies) in sessions.into_iter().enumerate() {
        let expected: Vec<Option<String>> = texts(socket)
            .into_iter()
            .map(|text| Some(format!("Echo: {text}")))
            .collect();
        assert_eq!(replies, expected, "socket {socket}");
    }
    app.stop().await;
}
