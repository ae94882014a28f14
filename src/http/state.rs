//! `AppState`: what every handler can reach. axum clones the state for
//! every request, so it is one `Arc`: cloning a `CancellationToken` or a
//! `TaskTracker` takes a lock, which profiling showed at ~10% of the CPU of
//! `GET /health` (bench/README.md).

use std::ops::Deref;
use std::sync::Arc;

use ipnet::IpNet;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::accounts::Accounts;

#[derive(Clone)]
pub struct AppState(Arc<StateParts>);

impl AppState {
    pub fn new(parts: StateParts) -> Self {
        Self(Arc::new(parts))
    }
}

impl Deref for AppState {
    type Target = StateParts;

    fn deref(&self) -> &StateParts {
        &self.0
    }
}

pub struct StateParts {
    pub accounts: Arc<Accounts>,
    pub web: Arc<WebSettings>,
    /// Cancelled first on shutdown: readiness turns 503.
    pub draining: CancellationToken,
    /// Cancelled after the grace period: the listener closes, WebSockets
    /// close with 1001.
    pub shutdown: CancellationToken,
    /// Open WebSockets, so shutdown can wait for their 1001 close frames.
    pub websockets: TaskTracker,
    /// One permit per WebSocket that may be open (`--max-websockets`).
    pub websocket_slots: Arc<Semaphore>,
    /// One permit per event stream that may be open (`--max-event-streams`).
    pub event_stream_slots: Arc<Semaphore>,
}

/// Settings only the HTTP layer uses.
#[derive(Debug, Clone, Default)]
pub struct WebSettings {
    /// Allowed browser origins (CORS and the WebSocket Origin check).
    pub cors_origins: Vec<String>,
    pub trusted_proxies: Vec<IpNet>,
    /// Requests handled at once; past it, 503 at once (`--max-in-flight`).
    pub max_in_flight: usize,
    pub request_timeout: std::time::Duration,
    /// Where users reach the service (`--public-url`, added with the email
    /// flows, issue 16). When set, the admin console's cookie is `Secure`
    /// exactly when it is `https://`, and its `Origin` check expects this
    /// origin. When not, both follow the request (a trusted proxy's
    /// `X-Forwarded-Proto`/`-Host`, else the direct connection).
    pub public_url: Option<String>,
}
