//! "Slow clients cannot starve others": a connection that has not sent a
//! whole request head within `--header-timeout` of opening, or of its
//! previous response, is closed; one client address holds at most
//! `--max-connections-per-address` connections (trusted proxies exempt);
//! `/health` and `/health/ready` are answered outside the in-flight cap.
//! Real sockets against the real service; times only as generous bounds.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinSet;

use crate::support::{spawn_app_with, TestApp};

/// The header timeout of these tests, and the bounds in which a connection
/// past it must be closed: not before it, and well before a test gives up.
const HEADER_TIMEOUT: &str = "2s";
const CLOSED_NOT_BEFORE: Duration = Duration::from_millis(1500);
const CLOSED_WITHIN: Duration = Duration::from_secs(8);

/// Reads until the server ends the connection (EOF or reset) and returns
/// when that was, counted from `since`, and what it wrote; `None` if it was
/// still open after `limit`.
async fn closed_after(
    stream: &mut TcpStream,
    since: Instant,
    limit: Duration,
) -> Option<(Duration, String)> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    let deadline = since + limit;
    loop {
        let read = tokio::time::timeout_at(deadline.into(), stream.read(&mut buf)).await;
        match read {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => {
                return Some((since.elapsed(), String::from_utf8_lossy(&seen).into_owned()))
            }
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

fn assert_closed_by_the_header_timeout(closed: Option<(Duration, String)>, what: &str) {
    let (after, written) = closed.unwrap_or_else(|| {
        panic!("{what}: still open {CLOSED_WITHIN:?} after a {HEADER_TIMEOUT} header timeout")
    });
    assert!(
        (CLOSED_NOT_BEFORE..CLOSED_WITHIN).contains(&after),
        "{what}: closed after {after:?}, expected about {HEADER_TIMEOUT}"
    );
    assert!(
        !written.contains(" 200 "),
        "{what}: answered as if the request were whole: {written}"
    );
}

/// `request` on a fresh connection from `source` (any loopback address),
/// read to its end: the status line and headers, or what came before the
/// server closed.
async fn raw_request(addr: SocketAddr, source: [u8; 4], request: &str) -> String {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind((source, 0).into()).unwrap();
    let mut stream = socket.connect(addr).await.unwrap();
    // A refused connection may be closed before the request is written.
    let _ = stream.write_all(request.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("an answer and a close, not a hang");
    String::from_utf8_lossy(&answer).into_owned()
}

const HEALTH: &str = "GET /health HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n";

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed_after_the_header_timeout() {
    let app = spawn_app_with(&["--header-timeout", HEADER_TIMEOUT]).await;
    let opened = Instant::now();
    let mut silent = TcpStream::connect(app.addr).await.unwrap();

    let closed = closed_after(&mut silent, opened, CLOSED_WITHIN).await;

    assert_closed_by_the_header_timeout(closed, "a silent connection");
    app.stop().await;
}

#[tokio::test]
async fn a_connection_dribbling_its_request_head_is_closed_after_the_header_timeout() {
    let app = spawn_app_with(&["--header-timeout", HEADER_TIMEOUT]).await;
    let opened = Instant::now();
    let stream = TcpStream::connect(app.addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    // A byte a second, for longer than the test waits: the head never ends.
    let dribble = tokio::spawn(async move {
        let head = b"GET /health HTTP/1.1\r\nhost: test\r\nx-slow: ";
        for byte in head.iter().chain(std::iter::repeat(&b'a')).take(30) {
            if writer.write_all(&[*byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });

    let mut buf = Vec::new();
    let read = tokio::time::timeout(CLOSED_WITHIN, reader.read_to_end(&mut buf)).await;
    let closed = read
        .ok()
        .map(|_| (opened.elapsed(), String::from_utf8_lossy(&buf).into_owned()));

    assert_closed_by_the_header_timeout(closed, "a connection dribbling its head");
    dribble.abort();
    app.stop().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_the_header_timeout_after_its_response() {
    let app = spawn_app_with(&["--header-timeout", HEADER_TIMEOUT]).await;
    let mut stream = TcpStream::connect(app.addr).await.unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nhost: test\r\n\r\n")
        .await
        .unwrap();
    let mut response = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&response).contains("\"healthy\"") {
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
            .await
            .expect("a response")
            .unwrap();
        assert!(n > 0, "closed before the response");
        response.extend_from_slice(&buf[..n]);
    }
    let answered = Instant::now();
    assert!(String::from_utf8_lossy(&response).starts_with("HTTP/1.1 200"));

    let closed = closed_after(&mut stream, answered, CLOSED_WITHIN).await;

    assert_closed_by_the_header_timeout(closed, "an idle keep-alive connection");
    app.stop().await;
}

/// 120 connections whose `POST /users` body comes a byte a second: each
/// holds an in-flight slot for as long as it dribbles.
fn slow_bodies(app: &TestApp, count: usize) -> JoinSet<()> {
    let mut set = JoinSet::new();
    for _ in 0..count {
        let addr = app.addr;
        set.spawn(async move {
            let Ok(mut stream) = TcpStream::connect(addr).await else {
                return;
            };
            let head = "POST /users HTTP/1.1\r\nhost: test\r\n\
                        content-type: application/json\r\ncontent-length: 1000\r\n\r\n{";
            if stream.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            for _ in 0..60 {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if stream.write_all(b" ").await.is_err() {
                    return;
                }
            }
        });
    }
    set
}

#[tokio::test]
async fn health_stays_200_while_slow_bodies_hold_every_in_flight_slot() {
    let flags = [
        "--max-in-flight",
        "100",
        "--max-connections-per-address",
        "0",
    ];
    let app = spawn_app_with(&flags).await;
    let slow = slow_bodies(&app, 120);
    // Every slot taken: another route is shed at once.
    let started = Instant::now();
    loop {
        let probe = app.client.get(app.url("/users/me")).send().await.unwrap();
        if probe.status() == StatusCode::SERVICE_UNAVAILABLE {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the slow bodies never filled the in-flight cap ({})",
            probe.status()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut statuses = Vec::new();
    for _ in 0..10 {
        let fresh = reqwest::Client::new();
        for path in ["/health", "/health/ready"] {
            let response = fresh.get(app.url(path)).send().await.unwrap();
            statuses.push((path, response.status()));
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let still_full = app.client.get(app.url("/users/me")).send().await.unwrap();

    assert!(
        statuses.iter().all(|(_, s)| *s == StatusCode::OK),
        "{statuses:?}"
    );
    assert_eq!(
        still_full.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "the slow bodies held the cap throughout"
    );
    drop(slow);
    app.stop().await;
}

/// `n` connections from 127.0.0.1, open and silent.
async fn hold_connections(app: &TestApp, n: usize) -> Vec<TcpStream> {
    let mut held = Vec::new();
    for _ in 0..n {
        held.push(TcpStream::connect(app.addr).await.unwrap());
    }
    held
}

#[tokio::test]
async fn past_the_per_address_cap_a_connection_is_refused_while_another_address_gets_in() {
    let app = spawn_app_with(&["--max-connections-per-address", "3"]).await;
    let mut held = hold_connections(&app, 3).await;

    let refused = raw_request(app.addr, [127, 0, 0, 1], HEALTH).await;
    let other_address = raw_request(app.addr, [127, 0, 0, 2], HEALTH).await;

    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    let refused_lower = refused.to_ascii_lowercase();
    assert!(refused_lower.contains("retry-after: 1"), "{refused}");
    assert!(
        refused_lower.contains("x-content-type-options: nosniff"),
        "{refused}"
    );
    assert!(other_address.starts_with("HTTP/1.1 200"), "{other_address}");
    // A connection that closes gives its place back.
    held.pop();
    let mut again = String::new();
    for _ in 0..100 {
        again = raw_request(app.addr, [127, 0, 0, 1], HEALTH).await;
        if again.starts_with("HTTP/1.1 200") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        again.starts_with("HTTP/1.1 200"),
        "a place comes back: {again}"
    );
    app.stop().await;
}

#[tokio::test]
async fn connections_from_a_trusted_proxy_are_not_capped_per_address() {
    let flags = [
        "--max-connections-per-address",
        "3",
        "--trusted-proxies",
        "127.0.0.1",
    ];
    let app = spawn_app_with(&flags).await;
    let _held = hold_connections(&app, 3).await;

    let mut answers = Vec::new();
    for _ in 0..3 {
        answers.push(raw_request(app.addr, [127, 0, 0, 1], HEALTH).await);
    }

    for answer in answers {
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    app.stop().await;
}
