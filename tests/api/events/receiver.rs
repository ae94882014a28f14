//! A webhook endpoint of the test's own: an axum server on 127.0.0.1 that
//! records every request it gets (headers, body, and whether it accepted
//! it) and answers 500 to its first `failures` requests, 204 after.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Router;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// How long a test waits for deliveries before it looks at what came: far
/// above what the short retry schedules of these tests need.
const PATIENCE: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(10);

/// One request as the receiver got it.
#[derive(Clone, Debug)]
pub(crate) struct Request {
    pub headers: HeaderMap,
    pub body: String,
    /// Answered 2xx: the attempt delivered the event.
    pub accepted: bool,
}

impl Request {
    /// A header's value; `""` when absent.
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

/// The event ids of the accepted requests, in arrival order, each once
/// (a consumer dedups by id).
pub(crate) fn delivered_ids(requests: &[Request]) -> Vec<String> {
    let mut seen = HashSet::new();
    requests
        .iter()
        .filter(|r| r.accepted)
        .map(|r| r.header("webhook-id").to_owned())
        .filter(|id| seen.insert(id.clone()))
        .collect()
}

/// The accepted requests, the first of each event id only.
pub(crate) fn delivered(requests: &[Request]) -> Vec<Request> {
    let mut seen = HashSet::new();
    requests
        .iter()
        .filter(|r| r.accepted && seen.insert(r.header("webhook-id").to_owned()))
        .cloned()
        .collect()
}

pub(crate) struct Receiver {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

struct Shared {
    requests: Mutex<Vec<Request>>,
    failures_left: AtomicUsize,
}

impl Receiver {
    /// A receiver that accepts everything.
    pub async fn start() -> Self {
        Self::failing_first(0).await
    }

    /// A receiver that answers 500 to its first `failures` requests.
    pub async fn failing_first(failures: usize) -> Self {
        Self::on(SocketAddr::from(([127, 0, 0, 1], 0)), failures).await
    }

    /// A receiver on `addr`, answering 500 to its first `failures` requests.
    pub async fn on(addr: SocketAddr, failures: usize) -> Self {
        let listener = TcpListener::bind(addr).await.expect("the receiver binds");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            requests: Mutex::new(Vec::new()),
            failures_left: AtomicUsize::new(failures),
        });
        let app = Router::new().fallback(record).with_state(shared.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            addr,
            shared,
            server,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hooks/user-api", self.addr)
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// The requests once `done` holds for them, or as they are after a
    /// bounded wait; the test asserts on what it gets.
    pub async fn requests_when(&self, done: impl Fn(&[Request]) -> bool) -> Vec<Request> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let requests = self.requests();
            if done(&requests) || Instant::now() >= deadline {
                return requests;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The requests once the events with these ids were all accepted (or
    /// after a bounded wait).
    pub async fn requests_when_delivered(&self, ids: &[String]) -> Vec<Request> {
        self.requests_when(|requests| {
            let got: HashSet<String> = delivered_ids(requests).into_iter().collect();
            ids.iter().all(|id| got.contains(id))
        })
        .await
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn record(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let fail = shared
        .failures_left
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    shared.requests.lock().unwrap().push(Request {
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
        accepted: !fail,
    });
    if fail {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::NO_CONTENT
    }
}
