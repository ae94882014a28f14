//! `/admin/events`: the newest events, then each new one as it commits.
//! The page is a table rendered here; its script (`assets/console.js`)
//! opens an `EventSource` on `/admin/events/stream`, which is the API's
//! own Server-Sent Events stream (`http::events::stream`: the same
//! `--max-event-streams` slots, keep-alives, `Last-Event-ID` resume and
//! shutdown), authorized by the console's cookie instead of a header.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::html;
use serde_json::Value;

use super::forms::Refusal;
use super::pages::{self, Notice};
use super::session::Console;
use crate::events::EventOut;
use crate::http::events::FeedQuery;
use crate::http::state::AppState;
use crate::store::outbox::StoredEvent;

/// How many of the newest events the page opens with.
const LATEST: u32 = 50;

/// One event as a row: what happened to whom.
struct Row {
    seq: i64,
    timestamp: String,
    kind: String,
    user_id: i64,
    email: Option<String>,
    details: String,
}

fn row(event: &StoredEvent) -> Row {
    let data: Value = serde_json::from_str(&event.data).unwrap_or_default();
    let changed: Vec<&str> = data["changed"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let details = match (changed.is_empty(), data["reason"].as_str()) {
        (false, _) => format!("changed: {}", changed.join(", ")),
        (true, Some(reason)) => format!("reason: {reason}"),
        _ => String::new(),
    };
    Row {
        seq: event.seq,
        timestamp: EventOut::from_stored(event)
            .map(|e| e.timestamp)
            .unwrap_or_default(),
        kind: event.kind.clone(),
        user_id: event.user_id,
        email: data["user"]["email"].as_str().map(str::to_owned),
        details,
    }
}

/// `GET /admin/events`.
pub async fn page(State(state): State<AppState>, Console(caller): Console) -> Response {
    let events = match state.accounts.latest_events(&caller.user, LATEST).await {
        Ok(events) => events,
        Err(err) => return Refusal::of(err).await.page("Events", Some(&caller.user)),
    };
    // The stream starts after the newest event shown; with none shown,
    // from the oldest kept one.
    let after = events.last().map(|e| e.seq.to_string());
    let rows: Vec<Row> = events.iter().rev().map(row).collect();
    let body = html! {
        h1 { "Events" }
        p {
            "The newest " (LATEST) " events, newest first; new ones appear as they commit. "
            span #live role="status" { "Live updates need script; reload to see new events." }
        }
        div.scroll {
            table #events data-after=[after] {
                thead { tr { th scope="col" { "Seq" } th scope="col" { "Time (UTC)" } th scope="col" { "Type" }
                             th scope="col" { "User" } th scope="col" { "Details" } } }
                tbody {
                    @for event in &rows {
                        tr {
                            td { (event.seq) }
                            td { (event.timestamp) }
                            td { (event.kind) }
                            td { a href={ "/admin/users/" (event.user_id) } {
                                @if let Some(email) = &event.email { (email) } @else { "#" (event.user_id) }
                            } }
                            td { (event.details) }
                        }
                    }
                }
            }
        }
        @if rows.is_empty() { p #no-events { "No events yet." } }
    };
    let notice: Option<&Notice> = None;
    pages::html(
        StatusCode::OK,
        pages::page("Events", Some(&caller.user), notice, true, body),
    )
}

/// `GET /admin/events/stream?after=SEQ`: the feed's stream for the page's
/// `EventSource` (which cannot send an `Authorization` header, hence the
/// cookie).
pub async fn stream(
    State(state): State<AppState>,
    Console(caller): Console,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let query = match FeedQuery::parse(raw.as_deref().unwrap_or("")) {
        Ok(query) => query,
        Err(err) => return Refusal::of(err).await.page("Events", Some(&caller.user)),
    };
    match crate::http::events::stream(state, &caller.user, &headers, query).await {
        Ok(response) => response,
        Err(err) => Refusal::of(err).await.page("Events", Some(&caller.user)),
    }
}
