//! The outbox's types and the rules both backends share: which events a
//! change writes (from `domain::event`), what a sink's next batch holds and
//! how a delivery's outcome is recorded. Each backend only runs the SQL
//! (`sqlite/outbox.rs`, `postgres/outbox.rs`); deciding outcomes is the
//! relay's (`events::relay`).

use std::collections::HashMap;

use super::{now_ms, Error, UserChanges};
use crate::domain::event::{self, NewEvent};
use crate::domain::User;

/// An event as the outbox keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub seq: i64,
    pub id: String,
    pub kind: String,
    pub user_id: i64,
    /// The `data` object, as JSON.
    pub data: String,
    /// Unix milliseconds, UTC.
    pub at_ms: i64,
}

/// A page of the feed, and how far pruning has gone (a reader asking for
/// events after an older `seq` has missed some).
#[derive(Debug)]
pub struct EventPage {
    pub events: Vec<StoredEvent>,
    pub pruned_through: i64,
}

/// What a sink has to do now.
#[derive(Debug, Default)]
pub struct SinkWork {
    /// Parked deliveries whose time has come, in `seq` order.
    pub due: Vec<Parked>,
    /// The first parked `seq` of each user with a parked delivery that has
    /// not failed for good: only that one may be tried, later ones wait.
    pub heads: HashMap<i64, i64>,
    /// Events after the sink's cursor, in `seq` order.
    pub fresh: Vec<StoredEvent>,
}

/// An event waiting at a sink, and how often it was tried.
#[derive(Debug, Clone)]
pub struct Parked {
    pub event: StoredEvent,
    pub attempts: i64,
}

/// What became of one event at one sink in a round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Tried and refused: try again at `next_at_ms`.
    Retry {
        attempts: i64,
        next_at_ms: i64,
        error: String,
    },
    /// The schedule is used up: kept, marked failed, until `events retry`.
    Failed {
        attempts: i64,
        error: String,
    },
    /// Not tried: an earlier event of the same user is parked.
    Held,
}

/// One round of a sink, written in one transaction: every outcome, and the
/// cursor moved past the fresh events the round handled.
#[derive(Debug, Default)]
pub struct SinkProgress {
    /// `(event, was it parked, outcome)`.
    pub outcomes: Vec<(StoredEvent, bool, Outcome)>,
    pub delivered_through: Option<i64>,
}

/// The events a PATCH writes: `user.updated` when something changed, then
/// `user.signed_out` when the change ended tokens (`ends_tokens`).
pub(crate) fn update_events(
    before: &User,
    after: &User,
    changes: &UserChanges,
    ends_tokens: bool,
) -> Result<Vec<NewEvent>, Error> {
    let password_set = changes.password_hash.is_some();
    let reason = ends_tokens
        .then(|| event::sign_out_reason(before, after, password_set, changes.password_reset))
        .flatten();
    event::updated(before, after, password_set, reason, now_ms()).map_err(unrenderable)
}

pub(crate) fn create_events(created: &User) -> Result<Vec<NewEvent>, Error> {
    Ok(vec![
        event::created(created, now_ms()).map_err(unrenderable)?
    ])
}

/// `DELETE /users/{id}/tokens`: `user.signed_out`, the resource unchanged.
pub(crate) fn sign_out_events(user: &User) -> Result<Vec<NewEvent>, Error> {
    Ok(vec![event::signed_out_event(
        user,
        event::SignOutReason::SignOutEverywhere,
        now_ms(),
    )
    .map_err(unrenderable)?])
}

pub(crate) fn delete_events(before: &User) -> Result<Vec<NewEvent>, Error> {
    Ok(vec![event::deleted(before, now_ms()).map_err(unrenderable)?])
}

/// Counts what a committed transaction wrote.
pub(crate) fn written(events: &[NewEvent]) {
    for e in events {
        metrics::counter!("events_written_total", "type" => e.kind.as_str()).increment(1);
    }
}

/// Counts the `user.created` events a committed import wrote.
pub(crate) fn imported_events(count: u64) {
    metrics::counter!("events_written_total", "type" => "user.created").increment(count);
}

fn unrenderable(e: serde_json::Error) -> Error {
    Error::Internal(format!("cannot render an event: {e}"))
}

/// What a round's outcome does to an event's row in `event_deliveries`,
/// the same on every backend.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RowChange {
    Nothing,
    /// Delivered: the row goes (when it was parked).
    Delete,
    /// Parked (again), or its attempt recorded.
    Upsert {
        attempts: i64,
        next_at_ms: i64,
        failed_at_ms: Option<i64>,
        error: Option<String>,
    },
}

impl Outcome {
    pub(crate) fn row_change(&self, parked: bool, now_ms: i64) -> RowChange {
        match self {
            Outcome::Delivered if parked => RowChange::Delete,
            Outcome::Delivered => RowChange::Nothing,
            // Behind its user's earlier event: due as soon as that one is
            // through (a parked one keeps its row as it is).
            Outcome::Held if parked => RowChange::Nothing,
            Outcome::Held => RowChange::Upsert {
                attempts: 0,
                next_at_ms: now_ms,
                failed_at_ms: None,
                error: None,
            },
            Outcome::Retry {
                attempts,
                next_at_ms,
                error,
            } => RowChange::Upsert {
                attempts: *attempts,
                next_at_ms: *next_at_ms,
                failed_at_ms: None,
                error: Some(error.clone()),
            },
            Outcome::Failed { attempts, error } => RowChange::Upsert {
                attempts: *attempts,
                next_at_ms: now_ms,
                failed_at_ms: Some(now_ms),
                error: Some(error.clone()),
            },
        }
    }
}
