//! JetStream sink for domain events.
//!
//! Job: publish one event to `{prefix}.{event_type}` in a JetStream stream, with `Nats-Msg-Id`
//! set to the event id, and report success only once the stream has stored it. Creates the stream
//! when it is missing.
//!
//! Must not: block service start-up or hang a caller while NATS is down (every network step has
//! a deadline, and the first connection is made lazily); print credentials from the server URL;
//! log event bodies; change the configuration of a stream that already exists (operators own it).
//!
//! Delivery is at-least-once from the caller's side: after a timeout the event may or may not be
//! stored, so the caller retries with the same event id and JetStream's duplicate window drops
//! the copy. That is why the window is at least [`MIN_DUPLICATE_WINDOW`].

use std::time::Duration;

use async_nats::jetstream::context::{ContextBuilder, PublishErrorKind};
use async_nats::jetstream::{self, stream};
use async_nats::{ConnectOptions, HeaderMap, ServerAddr};
use tokio::sync::Mutex;
use tokio::time::{timeout, Instant};

/// Longer than any retry back-off the caller is expected to use, so a retried event is still
/// recognised as a duplicate.
pub const MIN_DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// Bounds TCP connect + NATS handshake + stream lookup/creation. Short, because a caller is
/// waiting and the next publish will try again anyway.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Bounds sending one message and waiting for the stream's ack. While the client is reconnecting
/// in the background, publishes queue inside it; this turns that wait into an error the caller
/// can retry.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);

/// After a failed connect, callers fail fast for this long instead of each spending a full
/// [`CONNECT_TIMEOUT`] on a server that just refused us.
const RETRY_BACKOFF: Duration = Duration::from_secs(1);

/// Every variant's Display is a single log-ready line. Server URLs in it have their user-info
/// replaced by `***`, and texts that come from the NATS client are scrubbed the same way.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SinkError {
    #[error("invalid NATS sink configuration: {0}")]
    Config(String),
    #[error("event cannot be published to NATS: {0}")]
    InvalidEvent(String),
    #[error("cannot connect to NATS at {server}: {reason}")]
    Connect { server: String, reason: String },
    #[error("NATS is unavailable (next connect attempt in {}ms): {last_error}", retry_in.as_millis())]
    Unavailable {
        retry_in: Duration,
        last_error: String,
    },
    #[error("JetStream stream {stream:?} is not usable: {reason}")]
    Stream { stream: String, reason: String },
    #[error("NATS publish to {subject} failed: {reason}")]
    Publish { subject: String, reason: String },
    #[error("NATS {what} timed out after {}ms", after.as_millis())]
    Timeout { what: String, after: Duration },
}

impl SinkError {
    /// Lets an outbox loop tell a bad event (park it, retrying cannot help) from an outage
    /// (keep it and retry later).
    pub fn is_retryable(&self) -> bool {
        !matches!(self, Self::Config(_) | Self::InvalidEvent(_))
    }
}

/// Cheap to share behind an `Arc`; `publish` takes `&self` so many tasks can publish at once.
pub struct NatsSink {
    servers: Vec<ServerAddr>,
    /// What errors and logs show instead of the real URL.
    server_label: String,
    /// User-info strings found in the URL, removed from any text the NATS client gives us.
    secrets: Vec<String>,
    subject_prefix: String,
    stream: String,
    state: Mutex<State>,
}

impl std::fmt::Debug for NatsSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsSink")
            .field("servers", &self.server_label)
            .field("subject_prefix", &self.subject_prefix)
            .field("stream", &self.stream)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct State {
    /// Once set, the client reconnects by itself forever, so it is kept across failures.
    js: Option<jetstream::Context>,
    /// Cleared when a publish says the stream is gone, so it is re-created on the next call.
    stream_ready: bool,
    retry_at: Option<(Instant, String)>,
}

impl NatsSink {
    /// Does no I/O, so the service can start while NATS is down; the connection is made by the
    /// first `publish`. Only configuration mistakes are reported here.
    ///
    /// `url` may list several servers separated by commas, and may carry `user:password@`.
    pub fn new(url: &str, subject_prefix: &str, stream: &str) -> Result<Self, SinkError> {
        let parts: Vec<&str> = url.split(',').map(str::trim).collect();
        let secrets: Vec<String> = parts
            .iter()
            .filter_map(|p| userinfo(p))
            .flat_map(secret_pieces)
            .collect();
        let server_label = parts
            .iter()
            .map(|p| redact_url(p))
            .collect::<Vec<_>>()
            .join(",");
        let scrub = |text: String| scrub(text, &secrets);

        let mut servers = Vec::with_capacity(parts.len());
        for part in &parts {
            if part.is_empty() {
                return Err(SinkError::Config(format!(
                    "empty entry in NATS server list {server_label:?}"
                )));
            }
            let addr: ServerAddr = part.parse().map_err(|e: std::io::Error| {
                SinkError::Config(scrub(format!(
                    "bad NATS server URL {}: {e}",
                    redact_url(part)
                )))
            })?;
            // `ws`/`wss` would need async-nats' websockets feature, which we leave off.
            if !matches!(addr.scheme(), "nats" | "tls") {
                return Err(SinkError::Config(format!(
                    "NATS server URL {} must use nats:// or tls://",
                    redact_url(part)
                )));
            }
            servers.push(addr);
        }
        check_subject("subject prefix", subject_prefix).map_err(SinkError::Config)?;
        check_stream_name(stream).map_err(SinkError::Config)?;

        Ok(Self {
            servers,
            server_label,
            secrets,
            subject_prefix: subject_prefix.to_owned(),
            stream: stream.to_owned(),
            state: Mutex::new(State::default()),
        })
    }

    /// The stream events go to (the sink's name in the outbox).
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// For callers that want to fail start-up when NATS is down. A failure here leaves nothing
    /// behind; use [`NatsSink::new`] to start anyway and connect on first publish.
    pub async fn connect(url: &str, subject_prefix: &str, stream: &str) -> Result<Self, SinkError> {
        let sink = Self::new(url, subject_prefix, stream)?;
        sink.ready().await?;
        Ok(sink)
    }

    /// Ok means the stream stored the event (or already had one with this id inside the
    /// duplicate window). Any error means "unknown": retry with the same `event_id`.
    pub async fn publish(
        &self,
        event_id: &str,
        event_type: &str,
        body: Vec<u8>,
    ) -> Result<(), SinkError> {
        check_msg_id(event_id).map_err(SinkError::InvalidEvent)?;
        check_subject("event type", event_type).map_err(SinkError::InvalidEvent)?;
        let subject = format!("{}.{event_type}", self.subject_prefix);

        let js = self.ready().await?;
        let mut headers = HeaderMap::new();
        headers.insert(async_nats::header::NATS_MESSAGE_ID, event_id);

        let sent = timeout(PUBLISH_TIMEOUT, async {
            js.publish_with_headers(subject.clone(), headers, body.into())
                .await?
                .await
        })
        .await;
        match sent {
            Err(_) => Err(SinkError::Timeout {
                what: format!("ack for {subject}"),
                after: PUBLISH_TIMEOUT,
            }),
            Ok(Err(e)) => {
                if e.kind() == PublishErrorKind::StreamNotFound {
                    self.state.lock().await.stream_ready = false;
                }
                Err(SinkError::Publish {
                    subject,
                    reason: self.scrub(e.to_string()),
                })
            }
            Ok(Ok(ack)) => {
                if ack.duplicate {
                    tracing::debug!(event_id, %subject, "NATS dropped a duplicate event (already stored)");
                }
                Ok(())
            }
        }
    }

    /// The mutex is held across the connect attempt on purpose: concurrent first publishes
    /// share one attempt instead of opening one connection each.
    async fn ready(&self) -> Result<jetstream::Context, SinkError> {
        let mut state = self.state.lock().await;
        if let (Some(js), true) = (&state.js, state.stream_ready) {
            return Ok(js.clone());
        }
        if let Some((at, last_error)) = &state.retry_at {
            let now = Instant::now();
            if now < *at {
                return Err(SinkError::Unavailable {
                    retry_in: *at - now,
                    last_error: last_error.clone(),
                });
            }
        }
        match self.establish(&mut state).await {
            Ok(js) => {
                state.retry_at = None;
                Ok(js)
            }
            Err(e) => {
                state.retry_at = Some((Instant::now() + RETRY_BACKOFF, e.to_string()));
                Err(e)
            }
        }
    }

    async fn establish(&self, state: &mut State) -> Result<jetstream::Context, SinkError> {
        let js = match &state.js {
            Some(js) => js.clone(),
            None => {
                let js = self.open().await?;
                state.js = Some(js.clone());
                js
            }
        };
        let ensured = timeout(CONNECT_TIMEOUT, self.ensure_stream(&js)).await;
        match ensured {
            Ok(result) => result?,
            Err(_) => {
                return Err(SinkError::Timeout {
                    what: format!("lookup/creation of stream {:?}", self.stream),
                    after: CONNECT_TIMEOUT,
                })
            }
        }
        state.stream_ready = true;
        Ok(js)
    }

    async fn open(&self) -> Result<jetstream::Context, SinkError> {
        let options = ConnectOptions::new()
            .name(env!("CARGO_PKG_NAME"))
            .connection_timeout(CONNECT_TIMEOUT)
            // Explicit although it is the default: once connected, the client must never give
            // up reconnecting, because nothing here would ever replace a closed client.
            .max_reconnects(None);
        let connecting = options.connect(self.servers.clone());
        let client = match timeout(CONNECT_TIMEOUT, connecting).await {
            Ok(Ok(client)) => client,
            Ok(Err(e)) => {
                return Err(SinkError::Connect {
                    server: self.server_label.clone(),
                    reason: self.scrub(e.to_string()),
                })
            }
            Err(_) => {
                return Err(SinkError::Timeout {
                    what: format!("connect to {}", self.server_label),
                    after: CONNECT_TIMEOUT,
                })
            }
        };
        Ok(ContextBuilder::new().timeout(PUBLISH_TIMEOUT).build(client))
    }

    async fn ensure_stream(&self, js: &jetstream::Context) -> Result<(), SinkError> {
        let config = stream::Config {
            name: self.stream.clone(),
            subjects: vec![format!("{}.>", self.subject_prefix)],
            duplicate_window: MIN_DUPLICATE_WINDOW,
            ..Default::default()
        };
        let stream = js
            .get_or_create_stream(config)
            .await
            .map_err(|e| SinkError::Stream {
                stream: self.stream.clone(),
                reason: self.scrub(e.to_string()),
            })?;
        let window = stream.cached_info().config.duplicate_window;
        if window < MIN_DUPLICATE_WINDOW {
            tracing::warn!(
                stream = %self.stream,
                duplicate_window_ms = window.as_millis() as u64,
                "existing JetStream stream has a duplicate window under {}s; a retried event may be stored twice",
                MIN_DUPLICATE_WINDOW.as_secs()
            );
        }
        Ok(())
    }

    fn scrub(&self, text: String) -> String {
        scrub(text, &self.secrets)
    }
}

/// The `user:password` (or token) part of `scheme://userinfo@host…`, if any.
fn userinfo(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    authority
        .rsplit_once('@')
        .map(|(info, _)| info)
        .filter(|info| !info.is_empty())
}

fn secret_pieces(info: &str) -> Vec<String> {
    let mut pieces = vec![info.to_owned()];
    if let Some((_, password)) = info.split_once(':') {
        if !password.is_empty() {
            pieces.push(password.to_owned());
        }
    }
    pieces
}

fn redact_url(url: &str) -> String {
    match userinfo(url) {
        Some(info) => url.replacen(&format!("{info}@"), "***@", 1),
        None => url.to_owned(),
    }
}

fn scrub(mut text: String, secrets: &[String]) -> String {
    for secret in secrets {
        if text.contains(secret.as_str()) {
            text = text.replace(secret.as_str(), "***");
        }
    }
    text
}

/// Rejects what NATS would misroute rather than refuse: wildcards and whitespace would make the
/// subject a pattern or split the protocol line, and empty tokens are invalid subjects.
fn check_subject(what: &str, subject: &str) -> Result<(), String> {
    if subject.is_empty() {
        return Err(format!("{what} is empty"));
    }
    if subject.split('.').any(str::is_empty) {
        return Err(format!(
            "{what} {subject:?} has an empty token (leading, trailing or double '.')"
        ));
    }
    if subject
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '*' || c == '>')
    {
        return Err(format!(
            "{what} {subject:?} contains whitespace, a control character or a wildcard"
        ));
    }
    Ok(())
}

/// Stream names end up in JetStream API subjects and on-disk paths.
fn check_stream_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("stream name is empty".to_owned());
    }
    if name
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '.' | '*' | '>' | '/' | '\\'))
    {
        return Err(format!(
            "stream name {name:?} may not contain '.', '*', '>', '/', '\\' or whitespace"
        ));
    }
    Ok(())
}

/// The id is the dedup key; an empty one would disable dedup and a line break would corrupt the
/// header block (async-nats would silently mangle it rather than fail).
fn check_msg_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("event id is empty".to_owned());
    }
    if id.chars().any(char::is_control) {
        return Err("event id contains a control character".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::{SystemTime, UNIX_EPOCH};

    /// The tests need a JetStream-enabled server (`nats-server -js`); override with NATS_TEST_URL.
    fn server_url() -> String {
        std::env::var("NATS_TEST_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
    }

    /// Stream names and subject prefixes must be unique per test: JetStream refuses two streams
    /// with overlapping subjects, and tests run in parallel (also across repeated runs).
    fn unique(tag: &str) -> (String, String) {
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let id = format!(
            "{}_{}_{}",
            std::process::id(),
            nanos,
            N.fetch_add(1, Ordering::Relaxed)
        );
        (format!("test_{tag}_{id}"), format!("test-{tag}-{id}"))
    }

    /// nats-server 2.9 removes an account's store directory when its last stream is deleted, and a
    /// stream created at that moment fails with "could not create storage directory" (seen here
    /// with 2.9.10). Tests that create or delete streams hold this so they never race each other.
    static STREAM_LIFECYCLE: Mutex<()> = Mutex::const_new(());

    async fn admin() -> jetstream::Context {
        jetstream::new(async_nats::connect(server_url()).await.unwrap())
    }

    #[tokio::test]
    async fn publishes_with_subject_header_and_body() {
        let _serial = STREAM_LIFECYCLE.lock().await;
        let (stream_name, prefix) = unique("roundtrip");
        // Lazy path: nothing happens until the first publish.
        let sink = NatsSink::new(&server_url(), &prefix, &stream_name).unwrap();
        let body = br#"{"id":"u1","email":"a@example.com"}"#.to_vec();
        sink.publish("evt-1", "user.created", body.clone())
            .await
            .unwrap();

        let js = admin().await;
        let mut stream = js.get_stream(&stream_name).await.unwrap();
        let info = stream.info().await.unwrap().clone();
        assert_eq!(info.config.subjects, vec![format!("{prefix}.>")]);
        assert!(info.config.duplicate_window >= MIN_DUPLICATE_WINDOW);

        let consumer = stream
            .create_consumer(jetstream::consumer::pull::Config::default())
            .await
            .unwrap();
        let mut batch = consumer
            .fetch()
            .max_messages(10)
            .expires(Duration::from_secs(1))
            .messages()
            .await
            .unwrap();
        let msg = batch.next().await.unwrap().unwrap();
        assert_eq!(msg.subject.as_str(), format!("{prefix}.user.created"));
        let headers = msg.headers.as_ref().unwrap();
        assert_eq!(headers.get("Nats-Msg-Id").unwrap().as_str(), "evt-1");
        assert_eq!(msg.payload.as_ref(), body.as_slice());
        msg.ack().await.unwrap();
        assert!(batch.next().await.is_none(), "exactly one message expected");

        js.delete_stream(&stream_name).await.unwrap();
    }

    #[tokio::test]
    async fn same_event_id_is_stored_once() {
        let _serial = STREAM_LIFECYCLE.lock().await;
        let (stream_name, prefix) = unique("dedup");
        let sink = NatsSink::connect(&server_url(), &prefix, &stream_name)
            .await
            .unwrap();
        sink.publish("evt-dup", "user.updated", b"first".to_vec())
            .await
            .unwrap();
        // A retry after an unknown outcome: same id, must also be Ok.
        sink.publish("evt-dup", "user.updated", b"first".to_vec())
            .await
            .unwrap();
        sink.publish("evt-other", "user.updated", b"second".to_vec())
            .await
            .unwrap();

        let js = admin().await;
        let mut stream = js.get_stream(&stream_name).await.unwrap();
        assert_eq!(stream.info().await.unwrap().state.messages, 2);
        js.delete_stream(&stream_name).await.unwrap();
    }

    #[tokio::test]
    async fn existing_stream_is_reused_not_changed() {
        let _serial = STREAM_LIFECYCLE.lock().await;
        let (stream_name, prefix) = unique("existing");
        let js = admin().await;
        js.create_stream(stream::Config {
            name: stream_name.clone(),
            subjects: vec![format!("{prefix}.>")],
            duplicate_window: Duration::from_secs(300),
            ..Default::default()
        })
        .await
        .unwrap();
        let sink = NatsSink::connect(&server_url(), &prefix, &stream_name)
            .await
            .unwrap();
        sink.publish("evt-1", "user.deleted", b"x".to_vec())
            .await
            .unwrap();
        let mut stream = js.get_stream(&stream_name).await.unwrap();
        let info = stream.info().await.unwrap();
        assert_eq!(info.config.duplicate_window, Duration::from_secs(300));
        assert_eq!(info.state.messages, 1);
        js.delete_stream(&stream_name).await.unwrap();
    }

    #[tokio::test]
    async fn recreates_a_stream_deleted_while_running() {
        let _serial = STREAM_LIFECYCLE.lock().await;
        let (stream_name, prefix) = unique("recreate");
        let sink = NatsSink::connect(&server_url(), &prefix, &stream_name)
            .await
            .unwrap();
        let js = admin().await;
        js.delete_stream(&stream_name).await.unwrap();
        // First publish finds no stream and fails (outcome reported, not hidden)...
        assert!(sink
            .publish("evt-1", "user.created", b"x".to_vec())
            .await
            .is_err());
        // ...and the next one re-creates it.
        sink.publish("evt-1", "user.created", b"x".to_vec())
            .await
            .unwrap();
        let mut stream = js.get_stream(&stream_name).await.unwrap();
        assert_eq!(stream.info().await.unwrap().state.messages, 1);
        js.delete_stream(&stream_name).await.unwrap();
    }

    #[tokio::test]
    async fn unreachable_server_fails_fast_and_hides_credentials() {
        let url = "nats://alice:s3cret-pw@127.0.0.1:1";
        let started = std::time::Instant::now();
        let err = NatsSink::connect(url, "user-api", "EVENTS")
            .await
            .unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "took {:?}",
            started.elapsed()
        );
        let line = err.to_string();
        assert!(
            matches!(err, SinkError::Connect { .. } | SinkError::Timeout { .. }),
            "{line}"
        );
        assert!(line.contains("nats://***@127.0.0.1:1"), "{line}");
        assert!(
            !line.contains("s3cret") && !line.contains("alice"),
            "{line}"
        );
        assert!(!format!("{err:?}").contains("s3cret"));
        assert!(err.is_retryable());

        // Lazy path: the service starts, publishes fail quickly, and back-off avoids a
        // connect storm.
        let sink = NatsSink::new(url, "user-api", "EVENTS").unwrap();
        assert!(!format!("{sink:?}").contains("s3cret"));
        let started = std::time::Instant::now();
        let first = sink
            .publish("e1", "user.created", vec![])
            .await
            .unwrap_err();
        let second = sink
            .publish("e1", "user.created", vec![])
            .await
            .unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "took {:?}",
            started.elapsed()
        );
        assert!(matches!(second, SinkError::Unavailable { .. }), "{second}");
        assert!(!first.to_string().contains("s3cret") && !second.to_string().contains("s3cret"));

        // After the back-off it really tries again.
        tokio::time::sleep(RETRY_BACKOFF + Duration::from_millis(100)).await;
        let third = sink
            .publish("e1", "user.created", vec![])
            .await
            .unwrap_err();
        assert!(!matches!(third, SinkError::Unavailable { .. }), "{third}");
    }

    #[tokio::test]
    async fn silent_server_times_out_instead_of_hanging() {
        // Accepts TCP but never sends NATS INFO: the case a refused port does not cover.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("nats://{}", listener.local_addr().unwrap());
        let started = std::time::Instant::now();
        let err = NatsSink::connect(&url, "user-api", "EVENTS")
            .await
            .unwrap_err();
        let elapsed = started.elapsed();
        assert!(
            elapsed < CONNECT_TIMEOUT + Duration::from_secs(1),
            "took {elapsed:?}"
        );
        assert!(err.is_retryable(), "{err}");
        drop(listener);
    }

    #[test]
    fn config_errors() {
        assert!(matches!(
            NatsSink::new("http://x:4222", "p", "S"),
            Err(SinkError::Config(_))
        ));
        assert!(matches!(
            NatsSink::new("nats://a:4222,", "p", "S"),
            Err(SinkError::Config(_))
        ));
        assert!(NatsSink::new("nats://a:4222, nats://b:4222", "user-api", "S").is_ok());
        assert!(NatsSink::new("127.0.0.1", "user-api", "S").is_ok());
        for prefix in ["", "a..b", ".a", "a.", "a b", "a.*", "a.>"] {
            assert!(
                NatsSink::new("nats://a", prefix, "S").is_err(),
                "{prefix:?}"
            );
        }
        for stream in ["", "A.B", "A B", "A/B", "A*"] {
            assert!(
                NatsSink::new("nats://a", "p", stream).is_err(),
                "{stream:?}"
            );
        }
        let err = NatsSink::new("ftp://bob:hunter2@h", "p", "S")
            .unwrap_err()
            .to_string();
        assert!(
            !err.contains("hunter2") && err.contains("ftp://***@h"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn bad_events_are_rejected_before_any_io_and_not_retryable() {
        let sink = NatsSink::new("nats://127.0.0.1:1", "user-api", "S").unwrap();
        for (id, ty) in [
            ("", "user.created"),
            ("a\nb", "user.created"),
            ("e", "user.*"),
            ("e", ""),
            ("e", "a b"),
        ] {
            let err = sink.publish(id, ty, vec![]).await.unwrap_err();
            assert!(
                matches!(err, SinkError::InvalidEvent(_)),
                "{id:?} {ty:?}: {err}"
            );
            assert!(!err.is_retryable());
        }
    }

    #[test]
    fn redaction() {
        assert_eq!(redact_url("nats://u:p@h:4222"), "nats://***@h:4222");
        assert_eq!(redact_url("nats://tok@h"), "nats://***@h");
        assert_eq!(redact_url("u:p@h"), "***@h");
        assert_eq!(redact_url("nats://h:4222/x@y"), "nats://h:4222/x@y");
        assert_eq!(redact_url("nats://h:4222"), "nats://h:4222");
        assert_eq!(secret_pieces("u:p"), vec!["u:p".to_owned(), "p".to_owned()]);
        assert_eq!(
            scrub("bad p and u:p".into(), &secret_pieces("u:p")),
            "bad *** and ***"
        );
    }
}
