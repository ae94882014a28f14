//! `GET /events` with `Accept: text/event-stream`: Server-Sent Events, one
//! frame per event (`id:` = seq, `event:` = type, `data:` = the event's
//! JSON), new events as they commit, resumable with `Last-Event-ID` (which
//! wins over `after`), admins only, at most `--max-event-streams` open,
//! closed on shutdown.

use std::time::{Duration, Instant};

use reqwest::header::{ACCEPT, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Response, StatusCode};
use serde_json::Value;

use super::{all_events, seq, seqs};
use crate::support::{problem, spawn_app, spawn_app_with, TestApp};

/// How long a test waits for a frame that should come.
const PATIENCE: Duration = Duration::from_secs(10);

/// One event frame of the stream.
#[derive(Debug)]
struct Frame {
    id: Option<String>,
    event: Option<String>,
    data: String,
}

impl Frame {
    fn json(&self) -> Value {
        serde_json::from_str(&self.data).expect("data is JSON")
    }
}

/// A stream being read: frames are cut at blank lines; comment lines (the
/// keep-alive) are skipped.
struct Frames {
    response: Response,
    buffer: Vec<u8>,
}

impl Frames {
    /// The next event frame; `None` when the stream ended or nothing came
    /// in time.
    async fn next(&mut self) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            while let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buffer.drain(..end + 2).collect();
                if let Some(frame) = parse(&String::from_utf8(block).expect("UTF-8 frames")) {
                    return Some(frame);
                }
            }
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Ok(Ok(Some(bytes))) => self.buffer.extend_from_slice(&bytes),
                _ => return None,
            }
        }
    }

    /// Frames up to and including the one whose id is `last`, or what came
    /// before the stream ended or went quiet.
    async fn through(&mut self, last: i64) -> Vec<Frame> {
        let mut frames = Vec::new();
        while let Some(frame) = self.next().await {
            let done = frame.id.as_deref() == Some(last.to_string().as_str());
            frames.push(frame);
            if done {
                break;
            }
        }
        frames
    }

    /// Whether the stream ends (its body completes) within `PATIENCE`,
    /// whatever frames come before.
    async fn ends(&mut self) -> bool {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Ok(Ok(Some(_))) => {}
                Ok(Ok(None) | Err(_)) => return true,
                Err(_) => return false,
            }
        }
    }
}

fn parse(block: &str) -> Option<Frame> {
    let mut frame = Frame {
        id: None,
        event: None,
        data: String::new(),
    };
    let mut has_data = false;
    for line in block.lines() {
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "id" => frame.id = Some(value.to_owned()),
            "event" => frame.event = Some(value.to_owned()),
            "data" => {
                if has_data {
                    frame.data.push('\n');
                }
                frame.data.push_str(value);
                has_data = true;
            }
            _ => {}
        }
    }
    has_data.then_some(frame)
}

/// `GET /events?{query}` as a stream, with `Last-Event-ID` when given.
async fn open(app: &TestApp, token: &str, query: &str, last_event_id: Option<i64>) -> Response {
    let mut request = app
        .client
        .get(app.url(&format!("/events{query}")))
        .bearer_auth(token)
        .header(ACCEPT, "text/event-stream");
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id.to_string());
    }
    request.send().await.unwrap()
}

fn frames(response: Response) -> Frames {
    Frames {
        response,
        buffer: Vec::new(),
    }
}

fn ids(frames: &[Frame]) -> Vec<i64> {
    frames
        .iter()
        .map(|f| f.id.as_deref().expect("an id").parse().expect("a seq"))
        .collect()
}

#[tokio::test]
async fn each_frame_carries_the_seq_as_id_the_type_as_event_and_the_event_as_data() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    app.sign_up("ada@example.com").await;
    let events = all_events(&app, &admin).await;

    let response = open(&app, &admin, "", None).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"),
        "{:?}",
        response.headers()
    );
    let got = frames(response).through(seq(&events[1])).await;
    assert_eq!(got.len(), 2, "{got:?}");
    for (frame, event) in got.iter().zip(&events) {
        assert_eq!(frame.id, Some(seq(event).to_string()));
        assert_eq!(frame.event.as_deref(), event["type"].as_str());
        assert_eq!(&frame.json(), event);
    }
}

#[tokio::test]
async fn the_stream_carries_an_event_committed_after_it_opened() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let mut stream = frames(open(&app, &admin, "", None).await);
    let first = stream.next().await.expect("the admin's creation");
    assert_eq!(first.event.as_deref(), Some("user.created"));

    let ada = app.sign_up("ada@example.com").await;

    let next = stream.next().await.expect("a frame for the sign-up");
    assert_eq!(next.event.as_deref(), Some("user.created"));
    assert_eq!(next.json()["data"]["user"]["id"], ada["id"]);
}

#[tokio::test]
async fn a_stream_resumed_with_last_event_id_gives_only_the_later_events() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    for name in ["ada", "grace", "edsger"] {
        app.sign_up(&format!("{name}@example.com")).await;
    }
    let events = all_events(&app, &admin).await;
    let resume = seq(&events[1]);

    let response = open(&app, &admin, "", Some(resume)).await;

    assert_eq!(response.status(), StatusCode::OK);
    let got = frames(response).through(seq(&events[3])).await;
    assert_eq!(ids(&got), seqs(&events[2..]));
}

#[tokio::test]
async fn last_event_id_wins_over_after() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    for name in ["ada", "grace", "edsger"] {
        app.sign_up(&format!("{name}@example.com")).await;
    }
    let events = all_events(&app, &admin).await;
    let resume = seq(&events[2]);

    let response = open(&app, &admin, "?after=0", Some(resume)).await;

    assert_eq!(response.status(), StatusCode::OK);
    let got = frames(response).through(seq(&events[3])).await;
    assert_eq!(ids(&got), seqs(&events[3..]));
}

#[tokio::test]
async fn a_stream_for_a_user_who_is_not_an_admin_is_403() {
    let app = spawn_app().await;
    let (_, token) = app.user_with_token("ada@example.com").await;

    let response = open(&app, &token, "", None).await;

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    problem(response).await;
}

#[tokio::test]
async fn the_stream_ends_when_the_service_shuts_down() {
    let app = spawn_app().await;
    let admin = app.admin_token().await;
    let mut stream = frames(open(&app, &admin, "", None).await);
    assert!(stream.next().await.is_some(), "the admin's creation");

    let stopping = tokio::spawn(app.stop());

    assert!(stream.ends().await, "the stream is still open");
    tokio::time::timeout(PATIENCE, stopping)
        .await
        .expect("the service stops")
        .unwrap();
}

#[tokio::test]
async fn past_max_event_streams_a_stream_request_is_503_until_one_closes() {
    let app = spawn_app_with(&["--max-event-streams", "1"]).await;
    let admin = app.admin_token().await;
    let open_one = open(&app, &admin, "", None).await;
    assert_eq!(open_one.status(), StatusCode::OK);

    let refused = open(&app, &admin, "", None).await;

    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(refused.headers().contains_key(RETRY_AFTER));
    problem(refused).await;
    drop(open_one);
    let deadline = Instant::now() + PATIENCE;
    let mut again = open(&app, &admin, "", None).await;
    while again.status() != StatusCode::OK && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        again = open(&app, &admin, "", None).await;
    }
    assert_eq!(again.status(), StatusCode::OK, "a slot is free again");
}
