//! How `serve` ends: SIGTERM and SIGINT exit 0 after the requests in flight
//! finish, new connections are refused and readiness turns 503 meanwhile, and
//! a sign-up answered 201 survives `kill -9`.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::Instant;

use reqwest::StatusCode;
use serde_json::Value;

use super::{client, serve, sign_in, sign_up, spawn_binary, Running, PATIENCE, POLL};
use crate::support::PASSWORD;

#[test]
fn sigterm_lets_a_request_in_flight_finish_with_200_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    // OWASP hashing cost, so the sign-in still has real work to do after the
    // signal.
    let mut app = spawn_binary(
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--argon2-memory-kib",
            "19456",
            "--argon2-iterations",
            "2",
        ],
        &[],
        dir.path(),
    );
    assert_eq!(
        sign_up(&app, "ada@example.com", PASSWORD).status(),
        StatusCode::CREATED
    );
    let in_flight = InFlight::sign_in(&app, "ada@example.com", PASSWORD);

    app.signal("TERM");
    let (status, body) = in_flight.finish();

    assert_eq!(status, 200, "{body}");
    assert!(body.contains("access_token"), "{body}");
    assert_eq!(app.wait_for_exit().code(), Some(0));
}

#[test]
fn after_sigterm_new_connections_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = serve(&dir, &[], &[]);
    assert_eq!(
        sign_up(&app, "ada@example.com", PASSWORD).status(),
        StatusCode::CREATED
    );
    // Holds the service in its drain, so a refusal means the listener is
    // closed, not that the process is gone.
    let in_flight = InFlight::sign_in(&app, "ada@example.com", PASSWORD);

    app.signal("TERM");
    let refused = poll_until(|| {
        matches!(
            TcpStream::connect(app.addr),
            Err(e) if e.kind() == ErrorKind::ConnectionRefused
        )
    });

    assert!(refused, "connections to {} are still accepted", app.addr);
    assert!(app.is_running(), "still draining the request in flight");
    let (status, _) = in_flight.finish();
    assert_eq!(status, 200);
    assert_eq!(app.wait_for_exit().code(), Some(0));
}

#[test]
fn sigterm_as_soon_as_serve_says_it_listens_exits_0() {
    // A supervisor may stop the service the moment it announces itself; a
    // handler installed after the line loses that race now and then, so
    // try a few times.
    for round in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let mut app = serve(&dir, &[], &[]);

        app.signal("TERM");

        let status = app.wait_for_exit();
        assert_eq!(status.code(), Some(0), "round {round}: {status}");
    }
}

#[test]
fn sigint_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = serve(&dir, &[], &[]);
    let health = client().get(app.url("/health")).send().unwrap();
    assert_eq!(health.status(), StatusCode::OK);

    app.signal("INT");

    assert_eq!(app.wait_for_exit().code(), Some(0));
}

#[test]
fn on_sigterm_readiness_turns_503_for_the_grace_period_while_health_stays_200() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = serve(&dir, &["--shutdown-grace", "30s"], &[]);
    let ready = client().get(app.url("/health/ready")).send().unwrap();
    assert_eq!(ready.status(), StatusCode::OK);

    app.signal("TERM");

    let turned = poll_until(|| {
        client()
            .get(app.url("/health/ready"))
            .send()
            .is_ok_and(|r| r.status() == StatusCode::SERVICE_UNAVAILABLE)
    });
    assert!(turned, "/health/ready never answered 503 after SIGTERM");
    let health = client().get(app.url("/health")).send().unwrap();
    assert_eq!(
        health.status(),
        StatusCode::OK,
        "still serving during the grace period"
    );
    app.signal("KILL");
    app.wait_for_exit();
}

#[test]
fn a_sign_up_answered_201_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = serve(&dir, &[], &[]);
    let created = sign_up(&first, "ada@example.com", PASSWORD);
    assert_eq!(created.status(), StatusCode::CREATED);
    first.child.kill().unwrap();
    first.wait_for_exit();

    let second = serve(&dir, &[], &[]);
    let response = sign_in(&second, "ada@example.com", PASSWORD);
    assert_eq!(response.status(), StatusCode::OK);
    let token = response.json::<Value>().unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let me = client()
        .get(second.url("/users/me"))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    assert_eq!(me.json::<Value>().unwrap()["email"], "ada@example.com");
}

/// Calls `check` until it holds, at most `PATIENCE`; whether it held.
fn poll_until(mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        if check() {
            return true;
        }
        thread::sleep(POLL);
    }
    false
}

/// A `POST /token` the service has started on but cannot finish: its body
/// is one byte short until `finish` sends the rest.
struct InFlight {
    stream: TcpStream,
    rest: Vec<u8>,
}

impl InFlight {
    fn sign_in(app: &Running, email: &str, password: &str) -> Self {
        let body = format!(
            "username={}&password={}",
            email.replace('@', "%40"),
            password.replace(' ', "+")
        );
        let head = format!(
            "POST /token HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            app.addr,
            body.len()
        );
        let (sent, rest) = body.as_bytes().split_at(body.len() - 1);
        let mut stream = TcpStream::connect(app.addr).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(sent).unwrap();
        // The kernel hands connections to `accept` in order, so once a later
        // connection is answered this one has been accepted and its headers,
        // already in the socket, read.
        let health = client().get(app.url("/health")).send().unwrap();
        assert_eq!(health.status(), StatusCode::OK);
        Self {
            stream,
            rest: rest.to_vec(),
        }
    }

    /// Sends the last byte; the response's status code and body.
    fn finish(mut self) -> (u16, String) {
        self.stream.write_all(&self.rest).unwrap();
        let mut response = String::new();
        let _ = self.stream.read_to_string(&mut response);
        let status = response
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or(0);
        let body = response
            .split_once("\r\n\r\n")
            .map_or(String::new(), |(_, b)| b.to_owned());
        (status, body)
    }
}
