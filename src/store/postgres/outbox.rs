//! The outbox on PostgreSQL. `seq` must grow in commit order although many
//! transactions on many instances write events at once: each writer takes
//! `EVENTS_LOCK` (a transaction-level advisory lock) just before it takes
//! its numbers and holds it until it commits, so a number is only handed
//! out after every smaller one is committed or rolled back, and a reader
//! that saw `seq` N never later finds a new event below N. The lock is held
//! only from the event insert to the commit, the last steps of a change.
//! What the rows mean is `store::outbox`'s.

use tokio_postgres::Row;

use super::{classify, engine::timed, opt, run, PostgresStore, Tx};
use crate::domain::event::NewEvent;
use crate::store::outbox::{EventPage, Parked, RowChange, SinkProgress, SinkWork, StoredEvent};
use crate::store::{now_ms, Error};

/// Orders event numbers with commits on every instance ("user-evt").
pub(super) const EVENTS_LOCK: i64 = 0x7573_6572_2d65_7674;

const EVENT_COLUMNS: &str = "e.seq, e.id, e.type, e.user_id, e.data, e.created_at";

/// The lock and every event of a change in one statement. The lock is
/// taken before any number is handed out, as when it was a statement of
/// its own: `nextval` is evaluated where the join's rows are projected, and
/// no row exists before the materialized CTE (the lock) has been read. The
/// events keep their order (`WITH ORDINALITY`).
const INSERT_EVENTS: &str = "WITH lock AS MATERIALIZED (SELECT pg_advisory_xact_lock($1))
     INSERT INTO events (seq, id, type, user_id, data, created_at)
     SELECT nextval('events_seq'), e.id, e.type, e.user_id, e.data, e.created_at
     FROM lock, unnest($2::text[], $3::text[], $4::bigint[], $5::text[], $6::bigint[])
          WITH ORDINALITY AS e (id, type, user_id, data, created_at, n)
     ORDER BY e.n";

/// Writes the events of a change, inside its transaction, as its last
/// statement before the commit: one round trip however many events (it
/// was one for the lock and one per event).
pub(super) async fn insert_events(tx: &Tx<'_>, events: &[NewEvent]) -> Result<(), Error> {
    if events.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    let users: Vec<i64> = events.iter().map(|e| e.user_id).collect();
    let data: Vec<&str> = events.iter().map(|e| e.data.as_str()).collect();
    let at: Vec<i64> = events.iter().map(|e| e.at_ms).collect();
    let inserted = run(
        tx,
        INSERT_EVENTS,
        &[&EVENTS_LOCK, &ids, &kinds, &users, &data, &at],
    )
    .await
    .map_err(classify)?;
    debug_assert_eq!(inserted, events.len() as u64);
    Ok(())
}

fn event_at(row: &Row) -> Result<StoredEvent, tokio_postgres::Error> {
    Ok(StoredEvent {
        seq: row.try_get(0)?,
        id: row.try_get(1)?,
        kind: row.try_get(2)?,
        user_id: row.try_get(3)?,
        data: row.try_get(4)?,
        at_ms: row.try_get(5)?,
    })
}

impl PostgresStore {
    pub async fn latest_events(&self, limit: u32) -> Result<Vec<StoredEvent>, Error> {
        timed(async {
            let client = self.client().await?;
            let statement = client
                .prepare_cached(&format!(
                    "SELECT {EVENT_COLUMNS} FROM events e ORDER BY e.seq DESC LIMIT $1"
                ))
                .await
                .map_err(classify)?;
            let rows = client
                .query(&statement, &[&i64::from(limit)])
                .await
                .map_err(classify)?;
            let mut events = rows
                .iter()
                .map(event_at)
                .collect::<Result<Vec<_>, _>>()
                .map_err(classify)?;
            events.reverse();
            Ok(events)
        })
        .await
    }

    pub async fn events_after(&self, after: i64, limit: u32) -> Result<EventPage, Error> {
        timed(async {
            let mut client = self.client().await?;
            // Repeatable read: the page and the pruning mark from one snapshot.
            let tx = client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await
                .map_err(classify)?;
            let pruned_through: i64 = opt(
                &tx,
                "SELECT pruned_through FROM event_log WHERE id = 1",
                &[],
            )
            .await
            .map_err(classify)?
            .map(|r| r.try_get(0))
            .transpose()
            .map_err(classify)?
            .unwrap_or(0);
            let statement = tx
                .prepare_cached(&format!(
                    "SELECT {EVENT_COLUMNS} FROM events e WHERE e.seq > $1 ORDER BY e.seq LIMIT $2"
                ))
                .await
                .map_err(classify)?;
            let rows = tx
                .query(&statement, &[&after, &i64::from(limit)])
                .await
                .map_err(classify)?;
            let events = rows
                .iter()
                .map(event_at)
                .collect::<Result<_, _>>()
                .map_err(classify)?;
            tx.commit().await.map_err(classify)?;
            Ok(EventPage {
                events,
                pruned_through,
            })
        })
        .await
    }

    pub async fn open_sinks(&self, sinks: Vec<String>) -> Result<(), Error> {
        timed(async {
            let client = self.client().await?;
            for sink in &sinks {
                run(
                    &client,
                    "INSERT INTO event_sinks (sink, delivered_through)
                     VALUES ($1, (SELECT coalesce(max(seq), 0) FROM events))
                     ON CONFLICT (sink) DO NOTHING",
                    &[sink],
                )
                .await
                .map_err(classify)?;
            }
            Ok(())
        })
        .await
    }

    pub async fn sink_work(&self, sink: &str, now_ms: i64, limit: u32) -> Result<SinkWork, Error> {
        let limit = i64::from(limit);
        timed(async {
            let mut client = self.client().await?;
            let tx = client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await
                .map_err(classify)?;
            let cursor: i64 = opt(
                &tx,
                "SELECT delivered_through FROM event_sinks WHERE sink = $1",
                &[&sink],
            )
            .await
            .map_err(classify)?
            .map(|r| r.try_get(0))
            .transpose()
            .map_err(classify)?
            .unwrap_or(i64::MAX);
            let heads_sql = tx
                .prepare_cached(
                    "SELECT user_id, min(seq) FROM event_deliveries
                     WHERE sink = $1 AND failed_at IS NULL GROUP BY user_id",
                )
                .await
                .map_err(classify)?;
            let mut heads = std::collections::HashMap::new();
            for row in tx.query(&heads_sql, &[&sink]).await.map_err(classify)? {
                heads.insert(
                    row.try_get(0).map_err(classify)?,
                    row.try_get(1).map_err(classify)?,
                );
            }
            let due_sql = tx
                .prepare_cached(&format!(
                    "SELECT {EVENT_COLUMNS}, d.attempts FROM event_deliveries d
                     JOIN events e ON e.seq = d.seq
                     WHERE d.sink = $1 AND d.failed_at IS NULL AND d.next_attempt_at <= $2
                     ORDER BY d.seq LIMIT $3"
                ))
                .await
                .map_err(classify)?;
            let mut due = Vec::new();
            for row in tx
                .query(&due_sql, &[&sink, &now_ms, &limit])
                .await
                .map_err(classify)?
            {
                due.push(Parked {
                    event: event_at(&row).map_err(classify)?,
                    attempts: row.try_get(6).map_err(classify)?,
                });
            }
            let fresh_sql = tx
                .prepare_cached(&format!(
                    "SELECT {EVENT_COLUMNS} FROM events e WHERE e.seq > $1 ORDER BY e.seq LIMIT $2"
                ))
                .await
                .map_err(classify)?;
            let fresh = tx
                .query(&fresh_sql, &[&cursor, &limit])
                .await
                .map_err(classify)?
                .iter()
                .map(event_at)
                .collect::<Result<_, _>>()
                .map_err(classify)?;
            tx.commit().await.map_err(classify)?;
            Ok(SinkWork { due, heads, fresh })
        })
        .await
    }

    pub async fn record_progress(&self, sink: String, progress: SinkProgress) -> Result<(), Error> {
        timed(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(classify)?;
            let now = now_ms();
            for (event, parked, outcome) in &progress.outcomes {
                match outcome.row_change(*parked, now) {
                    RowChange::Nothing => {}
                    RowChange::Delete => {
                        run(
                            &tx,
                            "DELETE FROM event_deliveries WHERE sink = $1 AND seq = $2",
                            &[&sink, &event.seq],
                        )
                        .await
                        .map_err(classify)?;
                    }
                    RowChange::Upsert {
                        attempts,
                        next_at_ms,
                        failed_at_ms,
                        error,
                    } => {
                        run(
                            &tx,
                            "INSERT INTO event_deliveries
                                 (sink, seq, user_id, attempts, next_attempt_at, failed_at, last_error)
                             VALUES ($1, $2, $3, $4, $5, $6, $7)
                             ON CONFLICT (sink, seq) DO UPDATE SET attempts = excluded.attempts,
                                 next_attempt_at = excluded.next_attempt_at,
                                 failed_at = excluded.failed_at, last_error = excluded.last_error",
                            &[
                                &sink,
                                &event.seq,
                                &event.user_id,
                                &attempts,
                                &next_at_ms,
                                &failed_at_ms,
                                &error,
                            ],
                        )
                        .await
                        .map_err(classify)?;
                    }
                }
            }
            if let Some(through) = progress.delivered_through {
                run(
                    &tx,
                    "UPDATE event_sinks SET delivered_through = GREATEST(delivered_through, $2)
                     WHERE sink = $1",
                    &[&sink, &through],
                )
                .await
                .map_err(classify)?;
            }
            tx.commit().await.map_err(classify)
        })
        .await
    }

    pub async fn retry_failed(&self) -> Result<u64, Error> {
        timed(async {
            let client = self.client().await?;
            run(
                &client,
                "UPDATE event_deliveries SET failed_at = NULL, attempts = 0, next_attempt_at = $1
                 WHERE failed_at IS NOT NULL",
                &[&now_ms()],
            )
            .await
            .map_err(classify)
        })
        .await
    }

    pub async fn prune_events(&self, before_ms: i64, sinks: Vec<String>) -> Result<u64, Error> {
        const BATCH: i64 = 1000;
        let mut total = 0;
        loop {
            let deleted = timed(async {
                let mut client = self.client().await?;
                let tx = client.transaction().await.map_err(classify)?;
                let mut deleted = run(
                    &tx,
                    "DELETE FROM event_deliveries WHERE (sink, seq) IN
                     (SELECT sink, seq FROM event_deliveries
                      WHERE failed_at IS NOT NULL AND failed_at < $1 LIMIT $2)",
                    &[&before_ms, &BATCH],
                )
                .await
                .map_err(classify)?;
                let newest: Option<i64> = opt(
                    &tx,
                    "SELECT max(seq) FROM (SELECT seq FROM events e
                      WHERE e.created_at < $1
                        AND e.seq <= (SELECT coalesce(min(delivered_through), 9223372036854775807)
                                      FROM event_sinks WHERE sink = ANY($2))
                        AND NOT EXISTS (SELECT 1 FROM event_deliveries d
                                        WHERE d.seq = e.seq AND d.sink = ANY($2))
                      ORDER BY seq LIMIT $3) oldest",
                    &[&before_ms, &sinks, &BATCH],
                )
                .await
                .map_err(classify)?
                .and_then(|r| r.try_get(0).ok());
                if let Some(newest) = newest {
                    deleted += run(
                        &tx,
                        "DELETE FROM events e WHERE e.seq <= $1 AND e.created_at < $2
                         AND NOT EXISTS (SELECT 1 FROM event_deliveries d
                             WHERE d.seq = e.seq AND d.sink = ANY($3))",
                        &[&newest, &before_ms, &sinks],
                    )
                    .await
                    .map_err(classify)?;
                    run(
                        &tx,
                        "UPDATE event_log SET pruned_through = GREATEST(pruned_through, $1) WHERE id = 1",
                        &[&newest],
                    )
                    .await
                    .map_err(classify)?;
                }
                tx.commit().await.map_err(classify)?;
                Ok(deleted)
            })
            .await?;
            total += deleted;
            if deleted < BATCH as u64 {
                return Ok(total);
            }
        }
    }
}

/// Held, on its own connection, by the one instance that delivers events
/// ("user-dlv"): a session-level advisory lock, so it ends with the
/// connection, and a `kill -9` of the holder frees it at once.
const DELIVERER_LOCK: i64 = 0x7573_6572_2d64_6c76;
/// The mail sender's turn ("user-mlr"), held the same way.
const MAILER_LOCK: i64 = 0x7573_6572_2d6d_6c72;

/// This instance's turn to deliver, while its connection lives.
pub struct DelivererLease {
    client: tokio_postgres::Client,
    driver: tokio::task::JoinHandle<()>,
}

impl DelivererLease {
    /// Whether the lock is still ours: its session answers.
    pub async fn is_held(&self) -> bool {
        !self.driver.is_finished()
            && tokio::time::timeout(
                std::time::Duration::from_secs(2),
                self.client.simple_query("SELECT 1"),
            )
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

impl Drop for DelivererLease {
    fn drop(&mut self) {
        // Closing the session frees the lock for another instance.
        self.driver.abort();
    }
}

impl PostgresStore {
    /// The deliverer's lease if no other instance holds it.
    pub async fn deliverer_lease(&self) -> Result<Option<DelivererLease>, Error> {
        self.lease(DELIVERER_LOCK).await
    }

    /// The mail sender's lease if no other instance holds it.
    pub async fn mailer_lease(&self) -> Result<Option<DelivererLease>, Error> {
        self.lease(MAILER_LOCK).await
    }

    async fn lease(&self, lock: i64) -> Result<Option<DelivererLease>, Error> {
        let (client, driver) = self.dedicated().await?;
        let got: bool = timed(async {
            client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&lock])
                .await
                .and_then(|r| r.try_get(0))
                .map_err(classify)
        })
        .await?;
        let lease = DelivererLease { client, driver };
        Ok(got.then_some(lease))
    }
}

#[cfg(test)]
mod tests {
    use super::EVENTS_LOCK;

    /// Migration 8's counter triggers take this lock by its number (SQL
    /// cannot name a Rust constant): the same lock, or the lock order that
    /// keeps counters and imports from deadlocking is gone.
    #[test]
    fn migration_8_counts_users_under_the_outbox_lock() {
        let sql = include_str!("../../../migrations/postgres/0008_search_and_counts.sql");
        let taken = format!("PERFORM pg_advisory_xact_lock({EVENTS_LOCK});");
        assert_eq!(sql.matches(&taken).count(), 3, "{taken}");
        assert_eq!(sql.matches("pg_advisory_xact_lock(").count(), 3);
    }
}
