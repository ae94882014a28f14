//! The outbox on SQLite: events written inside the change's transaction
//! (one writer, so `seq` is commit order), the feed, each sink's cursor and
//! parked deliveries. What the rows mean is `store::outbox`'s.

use rusqlite::{params, OptionalExtension, Row, Transaction, TransactionBehavior};

use super::{classify, SqliteStore};
use crate::domain::event::NewEvent;
use crate::store::outbox::{EventPage, Parked, RowChange, SinkProgress, SinkWork, StoredEvent};
use crate::store::{now_ms, Error};

const EVENT_COLUMNS: &str = "e.seq, e.id, e.type, e.user_id, e.data, e.created_at";

/// Writes the events of a change, inside its transaction.
pub(super) fn insert_events(tx: &Transaction<'_>, events: &[NewEvent]) -> Result<(), Error> {
    let mut insert = tx
        .prepare_cached(
            "INSERT INTO events (id, type, user_id, data, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .map_err(classify)?;
    for e in events {
        insert
            .execute(params![e.id, e.kind.as_str(), e.user_id, e.data, e.at_ms])
            .map_err(classify)?;
    }
    Ok(())
}

fn event_from_row(row: &Row<'_>) -> rusqlite::Result<StoredEvent> {
    Ok(StoredEvent {
        seq: row.get(0)?,
        id: row.get(1)?,
        kind: row.get(2)?,
        user_id: row.get(3)?,
        data: row.get(4)?,
        at_ms: row.get(5)?,
    })
}

/// The configured sinks as one parameter (`json_each` unpacks it).
fn sink_list(sinks: &[String]) -> String {
    serde_json::Value::from(sinks.to_vec()).to_string()
}

impl SqliteStore {
    pub fn events_after(&self, after: i64, limit: u32) -> Result<EventPage, Error> {
        self.read(|c| {
            let tx = c.unchecked_transaction()?;
            let pruned_through = tx
                .prepare_cached("SELECT pruned_through FROM event_log WHERE id = 1")?
                .query_row([], |r| r.get(0))?;
            let events = tx
                .prepare_cached(&format!(
                    "SELECT {EVENT_COLUMNS} FROM events e WHERE e.seq > ?1 ORDER BY e.seq LIMIT ?2"
                ))?
                .query_map(params![after, limit], event_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            tx.commit()?;
            Ok(EventPage {
                events,
                pruned_through,
            })
        })
    }

    pub fn latest_events(&self, limit: u32) -> Result<Vec<StoredEvent>, Error> {
        self.read(|c| {
            let mut events = c
                .prepare_cached(&format!(
                    "SELECT {EVENT_COLUMNS} FROM events e ORDER BY e.seq DESC LIMIT ?1"
                ))?
                .query_map(params![limit], event_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            events.reverse();
            Ok(events)
        })
    }

    /// Gives each sink a cursor if it has none: a sink configured now
    /// starts after the newest event (the feed has the history).
    pub async fn open_sinks(&self, sinks: Vec<String>) -> Result<(), Error> {
        self.write(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(classify)?;
            for sink in &sinks {
                tx.execute(
                    "INSERT INTO event_sinks (sink, delivered_through)
                     VALUES (?1, (SELECT coalesce(max(seq), 0) FROM events))
                     ON CONFLICT (sink) DO NOTHING",
                    [sink],
                )
                .map_err(classify)?;
            }
            tx.commit().map_err(classify)
        })
        .await
    }

    pub fn sink_work(&self, sink: &str, now_ms: i64, limit: u32) -> Result<SinkWork, Error> {
        self.read(|c| {
            let tx = c.unchecked_transaction()?;
            let cursor: i64 = tx
                .prepare_cached("SELECT delivered_through FROM event_sinks WHERE sink = ?1")?
                .query_row([sink], |r| r.get(0))
                .optional()?
                .unwrap_or(i64::MAX);
            let heads = tx
                .prepare_cached(
                    "SELECT user_id, min(seq) FROM event_deliveries
                     WHERE sink = ?1 AND failed_at IS NULL GROUP BY user_id",
                )?
                .query_map([sink], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let due = tx
                .prepare_cached(&format!(
                    "SELECT {EVENT_COLUMNS}, d.attempts FROM event_deliveries d
                     JOIN events e ON e.seq = d.seq
                     WHERE d.sink = ?1 AND d.failed_at IS NULL AND d.next_attempt_at <= ?2
                     ORDER BY d.seq LIMIT ?3"
                ))?
                .query_map(params![sink, now_ms, limit], |r| {
                    Ok(Parked {
                        event: event_from_row(r)?,
                        attempts: r.get(6)?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            let fresh = tx
                .prepare_cached(&format!(
                    "SELECT {EVENT_COLUMNS} FROM events e WHERE e.seq > ?1 ORDER BY e.seq LIMIT ?2"
                ))?
                .query_map(params![cursor, limit], event_from_row)?
                .collect::<rusqlite::Result<_>>()?;
            tx.commit()?;
            Ok(SinkWork { due, heads, fresh })
        })
    }

    /// Records a round of a sink in one transaction.
    pub async fn record_progress(&self, sink: String, progress: SinkProgress) -> Result<(), Error> {
        self.write(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(classify)?;
            let now = now_ms();
            for (event, parked, outcome) in &progress.outcomes {
                match outcome.row_change(*parked, now) {
                    RowChange::Nothing => {}
                    RowChange::Delete => {
                        tx.prepare_cached(
                            "DELETE FROM event_deliveries WHERE sink = ?1 AND seq = ?2",
                        )
                        .and_then(|mut s| s.execute(params![sink, event.seq]))
                        .map_err(classify)?;
                    }
                    RowChange::Upsert {
                        attempts,
                        next_at_ms,
                        failed_at_ms,
                        error,
                    } => {
                        tx.prepare_cached(
                            "INSERT INTO event_deliveries
                                 (sink, seq, user_id, attempts, next_attempt_at, failed_at, last_error)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                             ON CONFLICT (sink, seq) DO UPDATE SET attempts = excluded.attempts,
                                 next_attempt_at = excluded.next_attempt_at,
                                 failed_at = excluded.failed_at, last_error = excluded.last_error",
                        )
                        .and_then(|mut s| {
                            s.execute(params![
                                sink,
                                event.seq,
                                event.user_id,
                                attempts,
                                next_at_ms,
                                failed_at_ms,
                                error
                            ])
                        })
                        .map_err(classify)?;
                    }
                }
            }
            if let Some(through) = progress.delivered_through {
                tx.prepare_cached(
                    "UPDATE event_sinks SET delivered_through = max(delivered_through, ?2)
                     WHERE sink = ?1",
                )
                .and_then(|mut s| s.execute(params![sink, through]))
                .map_err(classify)?;
            }
            tx.commit().map_err(classify)
        })
        .await
    }

    /// `user-api events retry`: failed deliveries are parked again, due now.
    pub async fn retry_failed(&self) -> Result<u64, Error> {
        self.write(move |conn| {
            conn.execute(
                "UPDATE event_deliveries SET failed_at = NULL, attempts = 0, next_attempt_at = ?1
                 WHERE failed_at IS NOT NULL",
                [now_ms()],
            )
            .map(|n| n as u64)
            .map_err(classify)
        })
        .await
    }

    /// Deletes events older than `before_ms` that every configured sink
    /// took, and failed deliveries older than that; a batch at a time.
    pub async fn prune_events(&self, before_ms: i64, sinks: Vec<String>) -> Result<u64, Error> {
        const BATCH: i64 = 1000;
        let mut total = 0;
        loop {
            let sinks = sink_list(&sinks);
            let deleted = self
                .write(move |conn| {
                    let tx = conn
                        .transaction_with_behavior(TransactionBehavior::Immediate)
                        .map_err(classify)?;
                    let mut deleted = tx
                        .execute(
                            "DELETE FROM event_deliveries WHERE (sink, seq) IN
                             (SELECT sink, seq FROM event_deliveries
                              WHERE failed_at IS NOT NULL AND failed_at < ?1 LIMIT ?2)",
                            params![before_ms, BATCH],
                        )
                        .map_err(classify)?;
                    let newest: Option<i64> = tx
                        .query_row(
                            "SELECT max(seq) FROM (SELECT seq FROM events e
                              WHERE e.created_at < ?1
                                AND e.seq <= (SELECT coalesce(min(delivered_through), 9223372036854775807)
                                              FROM event_sinks WHERE sink IN (SELECT value FROM json_each(?2)))
                                AND NOT EXISTS (SELECT 1 FROM event_deliveries d
                                                WHERE d.seq = e.seq AND d.sink IN (SELECT value FROM json_each(?2)))
                              ORDER BY seq LIMIT ?3)",
                            params![before_ms, sinks, BATCH],
                            |r| r.get(0),
                        )
                        .map_err(classify)?;
                    if let Some(newest) = newest {
                        deleted += tx
                            .execute(
                                "DELETE FROM events WHERE seq <= ?1 AND created_at < ?2
                                 AND NOT EXISTS (SELECT 1 FROM event_deliveries d
                                     WHERE d.seq = events.seq AND d.sink IN (SELECT value FROM json_each(?3)))",
                                params![newest, before_ms, sinks],
                            )
                            .map_err(classify)?;
                        tx.execute(
                            "UPDATE event_log SET pruned_through = max(pruned_through, ?1) WHERE id = 1",
                            [newest],
                        )
                        .map_err(classify)?;
                    }
                    tx.commit().map_err(classify)?;
                    Ok(deleted as u64)
                })
                .await?;
            total += deleted;
            if deleted < BATCH as u64 {
                return Ok(total);
            }
        }
    }
}
