//! Serves the router on the capped listener, one task per connection, with
//! hyper's HTTP/1.1 connection builder and a timer, so a connection that has
//! not sent a whole request head within `--header-timeout` of opening, or of
//! its previous response, is closed (axum's `serve` builds hyper without a
//! timer, which leaves that timeout off: a silent connection was never
//! closed). Everything else is what `axum::serve` did: `ConnectInfo` of the
//! peer, upgrades for WebSockets, graceful shutdown. No rules here.
//! `GET /health` is answered in front of the router (`liveness`).
//!
//! HTTP/1.1 only: the service speaks plain HTTP behind a TLS-terminating
//! proxy (the contract's "Also"), which talks HTTP/1.1 to its upstreams
//! (nginx's `proxy_http_version 1.1`). hyper-util's `auto` builder would add
//! HTTP/2 by reading the first bytes to sniff the preface, outside hyper's
//! header timer, and HTTP/2 has no header timeout of its own.

use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::{Extension, Router};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::Layer;

use super::connections::CappedListener;
use super::liveness::Liveness;

/// Accepts connections until `stop`, then stops accepting, lets every open
/// connection finish the request it is serving (idle ones close at once)
/// and returns when all have closed. Upgraded connections (WebSockets) are
/// no longer connections here: `AppState::websockets` tracks them.
pub async fn serve(
    mut listener: CappedListener,
    router: Router,
    cors_configured: bool,
    header_timeout: Duration,
    stop: CancellationToken,
) {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true);
    let connections = TaskTracker::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.cancelled() => break,
        };
        let service = TowerToHyperService::new(Liveness::new(
            Extension(ConnectInfo(peer)).layer(router.clone()),
            cors_configured,
        ));
        let connection = http
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        let stop = stop.clone();
        connections.spawn(async move {
            let mut connection = std::pin::pin!(connection);
            let result = tokio::select! {
                result = connection.as_mut() => result,
                _ = stop.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            // A header timeout, a reset or a malformed request: the
            // client's doing, not ours.
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    connections.close();
    connections.wait().await;
}
