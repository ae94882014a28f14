//! `GET /events`: the pull feed (admins), as a JSON page or, with
//! `Accept: text/event-stream`, as Server-Sent Events that resume from
//! `Last-Event-ID`. The feed is no sink: reading it delivers nothing.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::stream::{self, StreamExt};
use tokio::sync::OwnedSemaphorePermit;

use super::extract::SignedIn;
use super::problem::ApiError;
use super::state::AppState;
use crate::domain::Violations;
use crate::events::EventOut;
use crate::store::outbox::StoredEvent;

/// Comment lines that keep proxies from closing an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How often a stream looks for events committed by another instance
/// (a local commit wakes it at once).
const STREAM_POLL: Duration = Duration::from_millis(500);
/// Events a stream reads at a time.
const STREAM_PAGE: u32 = 100;

/// `GET /events` query parameters, every bad one reported.
#[derive(Debug, PartialEq, Eq)]
pub struct FeedQuery {
    pub after: Option<i64>,
    pub limit: u32,
}

impl FeedQuery {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw)
            .map_err(|_| ApiError::Unprocessable("The query string is malformed".into()))?;
        let mut v = Violations::default();
        let mut query = Self {
            after: None,
            limit: 100,
        };
        for (key, value) in &pairs {
            match key.as_str() {
                "after" => {
                    query.after = v.check(
                        "after",
                        value
                            .parse::<i64>()
                            .ok()
                            .filter(|seq| *seq >= 0)
                            .ok_or_else(|| "must be an integer ≥ 0".into()),
                    );
                }
                "limit" => {
                    query.limit = v
                        .check(
                            "limit",
                            value
                                .parse::<u32>()
                                .ok()
                                .filter(|l| (1..=1000).contains(l))
                                .ok_or_else(|| "must be an integer from 1 to 1000".into()),
                        )
                        .unwrap_or(100);
                }
                // Unknown parameters are ignored, as on GET /users.
                _ => {}
            }
        }
        v.into_result()?;
        Ok(query)
    }
}

/// Events in `seq` order (admins).
#[utoipa::path(get, path = "/events", tag = "events", security(("bearer" = []), ("oauth2" = [])),
    params(
        ("after" = Option<i64>, Query, minimum = 0, description = "Events with a greater seq; none = from the oldest kept event"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Page size, 1 to 1000 (default 100)"),
    ),
    responses(
        (status = 200, body = Vec<EventOut>, headers(("Link" = String, description = "rel=\"next\" page, when this one is full")),
            description = "A JSON array; with `Accept: text/event-stream`, a Server-Sent Events stream instead (`id:` = seq, `event:` = type, `data:` = the event), a comment every 15 s, resumed after the `Last-Event-ID` request header when it is sent (it wins over `after`)"),
        (status = 401, body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 403, body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 410, body = super::problem::Problem, content_type = "application/problem+json", description = "Events after `after` were already pruned"),
        (status = 422, body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 503, body = super::problem::Problem, content_type = "application/problem+json", description = "Too many open streams (--max-event-streams), or the database is unavailable"),
    ))]
pub async fn list_events(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let query = FeedQuery::parse(query.as_deref().unwrap_or(""))?;
    if wants_stream(&headers) {
        return stream(state, &caller.user, &headers, query).await;
    }
    let events = state
        .accounts
        .events(&caller.user, query.after, query.limit)
        .await?;
    let next = (events.len() == query.limit as usize)
        .then(|| events.last().map(|e| e.seq))
        .flatten();
    let body = events
        .iter()
        .map(EventOut::from_stored)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            tracing::error!(error = %e, "an event in the outbox is not JSON");
            ApiError::Internal
        })?;
    let mut response = Json(body).into_response();
    if let Some(last) = next {
        let link = format!("</events?after={last}&limit={}>; rel=\"next\"", query.limit);
        if let Ok(link) = HeaderValue::from_str(&link) {
            response.headers_mut().insert(header::LINK, link);
        }
    }
    Ok(response)
}

/// The Server-Sent Events stream of the feed from `query.after`, or after
/// the request's `Last-Event-ID` (a reconnect). Also the admin console's
/// live events view (`http/admin/events.rs`), authorized by its cookie.
pub(super) async fn stream(
    state: AppState,
    caller: &crate::domain::User,
    headers: &HeaderMap,
    mut query: FeedQuery,
) -> Result<Response, ApiError> {
    if let Some(resume) = last_event_id(headers)? {
        query.after = Some(resume);
    }
    stream_events(state, caller, query).await
}

fn wants_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.to_ascii_lowercase().contains("text/event-stream"))
}

/// `Last-Event-ID`: the seq of the last event the client saw.
fn last_event_id(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(value) = headers.get("last-event-id") else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|seq| *seq >= 0)
        .map(Some)
        .ok_or_else(|| ApiError::Unprocessable("Last-Event-ID must be an integer ≥ 0".into()))
}

/// The stream: what is there after the position, then each new event
/// within `STREAM_POLL` of its commit (at once for a local one), until the
/// client goes or the service shuts down.
async fn stream_events(
    state: AppState,
    caller: &crate::domain::User,
    query: FeedQuery,
) -> Result<Response, ApiError> {
    let slot = state
        .event_stream_slots
        .clone()
        .try_acquire_owned()
        .map(StreamSlot::open)
        .map_err(|_| ApiError::Unavailable {
            retry_after_secs: 5,
        })?;
    // The first page is read before answering: an admin check, 410 or a
    // database error is an ordinary error response, not a broken stream.
    let first = state
        .accounts
        .events(caller, query.after, STREAM_PAGE)
        .await?;
    let after = first.last().map(|e| e.seq).or(query.after).unwrap_or(0);
    let accounts = state.accounts.clone();
    let woken = accounts.events.wake.subscribe();
    let shutdown = state.shutdown.clone();
    let pending = stream::iter(first);
    let later = stream::unfold(
        (accounts, woken, after, slot),
        |(accounts, mut woken, after, slot)| async move {
            loop {
                match accounts.events_after(Some(after), STREAM_PAGE).await {
                    Ok(page) if !page.is_empty() => {
                        let next = page.last().map_or(after, |e| e.seq);
                        return Some((stream::iter(page), (accounts, woken, next, slot)));
                    }
                    Ok(_) => {}
                    // 410 mid-stream (pruned under a slow reader) or the
                    // database went away: end the stream; the client
                    // resumes from its Last-Event-ID and hears why.
                    Err(e) => {
                        tracing::warn!(error = %e, "event stream ended");
                        return None;
                    }
                }
                tokio::select! {
                    _ = woken.changed() => {}
                    _ = tokio::time::sleep(STREAM_POLL) => {}
                }
            }
        },
    )
    .flatten();
    let events = pending
        .chain(later)
        .map(|event| Ok::<_, Infallible>(sse_event(&event)))
        .take_until(shutdown.cancelled_owned());
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response())
}

fn sse_event(event: &StoredEvent) -> Event {
    let data = crate::events::render(event).unwrap_or_else(|e| {
        tracing::error!(error = %e, "an event in the outbox is not JSON");
        String::from("{}")
    });
    Event::default()
        .id(event.seq.to_string())
        .event(event.kind.as_str())
        .data(data)
}

/// One of `--max-event-streams`, held as long as the stream lives (it is
/// dropped with the stream, however the stream ends).
struct StreamSlot(#[allow(dead_code)] OwnedSemaphorePermit);

impl StreamSlot {
    fn open(permit: OwnedSemaphorePermit) -> Self {
        metrics::gauge!("event_streams_open").increment(1);
        Self(permit)
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        metrics::gauge!("event_streams_open").decrement(1);
    }
}
