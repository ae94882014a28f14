//! `user-api db copy`: moves a whole store between backends (SQLite to
//! PostgreSQL when an installation outgrows one machine, or back).
//!
//! Both stores are opened as the service opens them first, so both schemas
//! are at this binary's version and the tables below mean the same on both
//! sides. The source is read in one snapshot; the target is written in one
//! transaction, so a failed copy leaves it as it was. Then the target is
//! read back and compared with the source: row counts per table and a
//! SHA-256 over every value, in a backend-neutral form and order.
//!
//! Streamed, so a million users cost what a batch costs: a reader task walks
//! the source table by table in key order and sends batches of rows through
//! a short channel; the writer inserts each batch as it comes (PostgreSQL:
//! binary `COPY`; SQLite: one prepared insert) and adds it to the checksum.
//! Keys are ordered byte-wise on both sides (SQLite's `BINARY` collation,
//! PostgreSQL's `COLLATE "C"`), so both reads of the same rows hash alike.
//! Into SQLite, migration 8's search index and counters are set aside while
//! the rows go in and derived once at the end, in the same transaction
//! (`sqlite::DerivedSetAside`): their per-row triggers doubled the copy.
//! Into PostgreSQL, its trigram indexes are likewise built once at the end
//! (`postgres::SearchIndexesSetAside`).
//!
//! Besides the rows, three numbers travel: the next user id and the next
//! event `seq` (the sequences, so neither is ever handed out twice, even
//! when the newest users or events were deleted or pruned), and the outbox's
//! `event_log.pruned_through` (its single row, which the migration creates
//! on both sides, so it is updated rather than copied and never makes an
//! empty target look taken).

use std::fmt::Write as _;

use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::{DatabaseUrl, Error, OpenOptions, Store};
use crate::progress::Progress;

/// Rows per batch: large enough that per-batch costs vanish, small enough
/// that the batches in flight stay a few megabytes.
const BATCH_ROWS: usize = 2_000;
/// Batches between the reader and the writer.
const BATCHES_IN_FLIGHT: usize = 4;

/// How a column's values are kept; booleans are 0/1 on both sides.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Int,
    Bool,
    Text,
    Blob,
}

struct Table {
    name: &'static str,
    columns: &'static [(&'static str, Kind)],
    /// The primary key: the order rows are read in.
    key: &'static [&'static str],
}

/// Every table of the schema, parents first (tokens refer to users; the
/// outbox has no foreign keys, its deliveries refer to events by `seq`).
/// `event_log` is not here: it is `Snapshot::pruned_through`.
const TABLES: &[Table] = &[
    Table {
        name: "users",
        key: &["id"],
        columns: &[
            ("id", Kind::Int),
            ("email", Kind::Text),
            ("name", Kind::Text),
            ("name_lower", Kind::Text),
            ("role", Kind::Text),
            ("is_active", Kind::Bool),
            ("password_hash", Kind::Text),
            ("version", Kind::Int),
            ("created_at", Kind::Int),
            ("updated_at", Kind::Int),
            ("email_verified", Kind::Bool),
        ],
    },
    Table {
        name: "tokens",
        key: &["hash"],
        columns: &[
            ("hash", Kind::Blob),
            ("user_id", Kind::Int),
            ("expires_at", Kind::Int),
            ("created_at", Kind::Int),
        ],
    },
    Table {
        name: "signin_failures",
        key: &["key"],
        columns: &[
            ("key", Kind::Text),
            ("failures", Kind::Int),
            ("window_start", Kind::Int),
            ("blocked_until", Kind::Int),
        ],
    },
    Table {
        name: "idempotency_keys",
        key: &["client", "key"],
        columns: &[
            ("client", Kind::Text),
            ("key", Kind::Text),
            ("fingerprint", Kind::Blob),
            ("user_id", Kind::Int),
            ("version", Kind::Int),
            ("body", Kind::Text),
            ("created_at", Kind::Int),
        ],
    },
    Table {
        name: "events",
        key: &["seq"],
        columns: &[
            ("seq", Kind::Int),
            ("id", Kind::Text),
            ("type", Kind::Text),
            ("user_id", Kind::Int),
            ("data", Kind::Text),
            ("created_at", Kind::Int),
        ],
    },
    Table {
        name: "event_sinks",
        key: &["sink"],
        columns: &[("sink", Kind::Text), ("delivered_through", Kind::Int)],
    },
    Table {
        name: "event_deliveries",
        key: &["sink", "seq"],
        columns: &[
            ("sink", Kind::Text),
            ("seq", Kind::Int),
            ("user_id", Kind::Int),
            ("attempts", Kind::Int),
            ("next_attempt_at", Kind::Int),
            ("failed_at", Kind::Int),
            ("last_error", Kind::Text),
        ],
    },
    // The mail outbox without its `id`: the target numbers the rows itself
    // (its identity sequence then stays ahead of them); the order of
    // sending is the order of `created_at`.
    Table {
        name: "mail_outbox",
        key: &["created_at", "nonce"],
        columns: &[
            ("created_at", Kind::Int),
            ("kind", Kind::Text),
            ("email", Kind::Text),
            ("user_id", Kind::Int),
            ("nonce", Kind::Blob),
            ("prepared", Kind::Bool),
            ("attempts", Kind::Int),
            ("next_attempt_at", Kind::Int),
            ("failed_at", Kind::Int),
            ("last_error", Kind::Text),
        ],
    },
    Table {
        name: "mail_tokens",
        key: &["user_id", "kind"],
        columns: &[
            ("user_id", Kind::Int),
            ("kind", Kind::Text),
            ("hash", Kind::Blob),
            ("expires_at", Kind::Int),
        ],
    },
    Table {
        name: "mail_sends",
        key: &["user_id", "kind", "sent_at"],
        columns: &[
            ("user_id", Kind::Int),
            ("kind", Kind::Text),
            ("sent_at", Kind::Int),
        ],
    },
];

#[derive(Clone, Debug, PartialEq, Eq)]
enum Value {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

type Rows = Vec<Vec<Value>>;

/// The numbers that travel beside the rows: the next id the users table
/// and the next `seq` the events table would hand out (neither is ever
/// reused, even after a copy), and how far events were pruned (a feed
/// reader asking for events after an older `seq` has missed some: 410, on
/// the copy as on the source).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Numbers {
    next_user_id: i64,
    next_event_seq: i64,
    pruned_through: i64,
}

impl Numbers {
    /// Named, in a fixed order.
    fn named(&self) -> [(&'static str, i64); 3] {
        [
            ("next user id", self.next_user_id),
            ("next event seq", self.next_event_seq),
            ("event_log.pruned_through", self.pruned_through),
        ]
    }
}

/// What a reader sends: the row counts of its snapshot first (for the
/// progress bar), then each table's rows in key order, then the numbers.
/// A read that stops early never sends `Numbers`, so nothing is committed.
enum Item {
    Counts(Vec<u64>),
    Rows(usize, Rows),
    Numbers(Numbers),
}

/// What one pass over a store saw: rows per table, SHA-256 over every value
/// (tagged and length-prefixed, each row after its table's index), and the
/// numbers.
struct Tally {
    counts: Vec<u64>,
    digest: Sha256,
    numbers: Option<Numbers>,
}

/// A finished tally.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    counts: Vec<u64>,
    numbers: Numbers,
    checksum: String,
}

impl Tally {
    fn new() -> Self {
        Self {
            counts: vec![0; TABLES.len()],
            digest: Sha256::new(),
            numbers: None,
        }
    }

    fn rows(&mut self, table: usize, rows: &Rows) {
        self.counts[table] += rows.len() as u64;
        for row in rows {
            self.digest.update((table as u64).to_be_bytes());
            for value in row {
                match value {
                    Value::Null => self.digest.update([0]),
                    Value::Int(i) => {
                        self.digest.update([1]);
                        self.digest.update(i.to_be_bytes());
                    }
                    Value::Text(t) => {
                        self.digest.update([2]);
                        self.digest.update((t.len() as u64).to_be_bytes());
                        self.digest.update(t.as_bytes());
                    }
                    Value::Blob(b) => {
                        self.digest.update([3]);
                        self.digest.update((b.len() as u64).to_be_bytes());
                        self.digest.update(b);
                    }
                }
            }
        }
    }

    /// The result, or an error when the read stopped before its end.
    fn finish(mut self) -> Result<Seen, Error> {
        let numbers = self.numbers.ok_or_else(|| {
            Error::Internal("the read of the source stopped before its end".into())
        })?;
        for (table, count) in TABLES.iter().zip(&self.counts) {
            self.digest.update(table.name.as_bytes());
            self.digest.update(count.to_be_bytes());
        }
        for (name, number) in numbers.named() {
            self.digest.update(name.as_bytes());
            self.digest.update(number.to_be_bytes());
        }
        Ok(Seen {
            counts: self.counts,
            numbers,
            checksum: hex::encode(self.digest.finalize()),
        })
    }
}

fn columns(table: &Table) -> String {
    table
        .columns
        .iter()
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Copies every row, then verifies; returns the line to print.
pub async fn run(
    from: &DatabaseUrl,
    to: &DatabaseUrl,
    overwrite: bool,
    progress: &Progress,
) -> Result<String, Error> {
    if from == to {
        return Err(Error::Unsupported(
            "--from and --to name the same store".into(),
        ));
    }
    if let DatabaseUrl::Sqlite(path) = from {
        if !path.exists() {
            return Err(Error::Unsupported(format!(
                "{} does not exist",
                path.display()
            )));
        }
    }
    let options = OpenOptions {
        max_bytes: None,
        pool_size: 2,
    };
    // Opening migrates both schemas to this binary's version.
    drop(Store::open(from, options).await?);
    drop(Store::open(to, options).await?);

    let existing = counts(to).await?;
    if existing.iter().any(|&n| n > 0) && !overwrite {
        return Err(Error::Unsupported(format!(
            "{} already holds data ({} users); pass --overwrite to replace it",
            to, existing[0]
        )));
    }

    let (feed, items) = mpsc::channel(BATCHES_IN_FLIGHT);
    let reader = tokio::spawn(read(from.clone(), feed));
    let written = write(to, items, progress.clone()).await;
    // The reader's own error says more than the writer's "stopped early".
    reader
        .await
        .map_err(|e| Error::Internal(format!("the read of the source failed: {e}")))??;
    let source = written?;

    let (feed, items) = mpsc::channel(BATCHES_IN_FLIGHT);
    let reader = tokio::spawn(read(to.clone(), feed));
    let copied = tally(items, progress, "verifying").await;
    reader
        .await
        .map_err(|e| Error::Internal(format!("the read of the copy failed: {e}")))??;
    let copied = copied?;
    progress.finish();

    if copied != source {
        return Err(Error::Internal(format!(
            "the copy differs from the source (counts {:?} against {:?}, {:?} against {:?}, \
             checksum {} against {})",
            copied.counts,
            source.counts,
            copied.numbers.named(),
            source.numbers.named(),
            copied.checksum,
            source.checksum
        )));
    }
    let mut summary = format!("copied {} to {}:", from, to);
    for (table, rows) in TABLES.iter().zip(&source.counts) {
        let _ = write!(summary, " {} {},", rows, table.name);
    }
    let _ = write!(summary, " verified (sha256 {})", source.checksum);
    Ok(summary)
}

/// Rows per table of the store at `url`, for the refusal to fill a store
/// that holds data.
async fn counts(url: &DatabaseUrl) -> Result<Vec<u64>, Error> {
    match url {
        DatabaseUrl::Sqlite(path) => {
            let path = path.clone();
            tokio::task::spawn_blocking(move || sqlite::counts_at(&path))
                .await
                .map_err(|e| Error::Internal(e.to_string()))?
        }
        DatabaseUrl::Postgres(url) => postgres::counts_at(url).await,
    }
}

/// Sends the store at `url` to `feed`, as `Item`s, from one snapshot.
async fn read(url: DatabaseUrl, feed: mpsc::Sender<Item>) -> Result<(), Error> {
    match url {
        DatabaseUrl::Sqlite(path) => {
            tokio::task::spawn_blocking(move || sqlite::read(&path, &feed))
                .await
                .map_err(|e| Error::Internal(e.to_string()))?
        }
        DatabaseUrl::Postgres(url) => postgres::read(&url, &feed).await,
    }
}

/// Writes the items into the store at `url` in one transaction, committed
/// only when the whole source arrived; what was written, as a tally.
async fn write(
    url: &DatabaseUrl,
    items: mpsc::Receiver<Item>,
    progress: Progress,
) -> Result<Seen, Error> {
    match url {
        DatabaseUrl::Sqlite(path) => {
            let path = path.clone();
            tokio::task::spawn_blocking(move || sqlite::write(&path, items, &progress))
                .await
                .map_err(|e| Error::Internal(e.to_string()))?
        }
        DatabaseUrl::Postgres(url) => postgres::write(url, items, &progress).await,
    }
}

/// Only counts and hashes what a reader sends (the verification).
async fn tally(
    mut items: mpsc::Receiver<Item>,
    progress: &Progress,
    verb: &str,
) -> Result<Seen, Error> {
    let mut tally = Tally::new();
    while let Some(item) = items.recv().await {
        match item {
            Item::Counts(counts) => progress.phase(verb, "rows", counts.iter().sum()),
            Item::Rows(table, rows) => {
                progress.advance(rows.len() as u64);
                tally.rows(table, &rows);
            }
            Item::Numbers(numbers) => tally.numbers = Some(numbers),
        }
    }
    tally.finish()
}

/// A reader's error when the writer is gone (it failed: its error is the
/// one reported).
fn stopped() -> Error {
    Error::Internal("the copy's writer stopped".into())
}

mod sqlite {
    use std::path::Path;

    use rusqlite::types::{ToSqlOutput, ValueRef};
    use rusqlite::{params, params_from_iter, Connection, Transaction};
    use tokio::sync::mpsc;

    use super::{columns, stopped, Item, Numbers, Rows, Seen, Tally, Value, BATCH_ROWS, TABLES};
    use crate::progress::Progress;
    use crate::store::sqlite::{classify, DerivedSetAside};
    use crate::store::Error;

    fn counts(tx: &Transaction<'_>) -> Result<Vec<u64>, Error> {
        TABLES
            .iter()
            .map(|table| {
                tx.query_row(&format!("SELECT count(*) FROM {}", table.name), [], |r| {
                    r.get::<_, i64>(0)
                })
                .map(|n| n as u64)
                .map_err(classify)
            })
            .collect()
    }

    pub(super) fn counts_at(path: &Path) -> Result<Vec<u64>, Error> {
        let mut conn = Connection::open(path).map_err(classify)?;
        let tx = conn.transaction().map_err(classify)?;
        counts(&tx)
    }

    pub(super) fn read(path: &Path, feed: &mpsc::Sender<Item>) -> Result<(), Error> {
        let send = |item| feed.blocking_send(item).map_err(|_| stopped());
        let mut conn = Connection::open(path).map_err(classify)?;
        // One read transaction: every table from the same moment.
        let tx = conn.transaction().map_err(classify)?;
        send(Item::Counts(counts(&tx)?))?;
        for (index, table) in TABLES.iter().enumerate() {
            let mut stmt = tx
                .prepare(&format!(
                    "SELECT {} FROM {} ORDER BY {}",
                    columns(table),
                    table.name,
                    table.key.join(", ")
                ))
                .map_err(classify)?;
            let mut rows = stmt.query([]).map_err(classify)?;
            let mut batch: Rows = Vec::with_capacity(BATCH_ROWS);
            while let Some(row) = rows.next().map_err(classify)? {
                let values = (0..table.columns.len())
                    .map(|i| {
                        Ok(match row.get_ref(i)? {
                            ValueRef::Null => Value::Null,
                            ValueRef::Integer(n) => Value::Int(n),
                            ValueRef::Text(t) => {
                                Value::Text(String::from_utf8_lossy(t).into_owned())
                            }
                            ValueRef::Blob(b) => Value::Blob(b.to_vec()),
                            ValueRef::Real(r) => Value::Int(r as i64),
                        })
                    })
                    .collect::<rusqlite::Result<_>>()
                    .map_err(classify)?;
                batch.push(values);
                if batch.len() == BATCH_ROWS {
                    send(Item::Rows(index, std::mem::take(&mut batch)))?;
                }
            }
            if !batch.is_empty() {
                send(Item::Rows(index, batch))?;
            }
        }
        // AUTOINCREMENT remembers the largest number ever handed out in
        // `sqlite_sequence` (no row before the first insert; the largest of
        // several, as a copy before this one could leave them).
        let next = |table: &str, key: &str| -> Result<i64, Error> {
            tx.query_row(
                &format!(
                    "SELECT max(coalesce((SELECT max(seq) FROM sqlite_sequence WHERE name = '{table}'), 0),
                                coalesce((SELECT max({key}) FROM {table}), 0)) + 1"
                ),
                [],
                |r| r.get(0),
            )
            .map_err(classify)
        };
        let numbers = Numbers {
            next_user_id: next("users", "id")?,
            next_event_seq: next("events", "seq")?,
            pruned_through: tx
                .query_row(
                    "SELECT coalesce((SELECT pruned_through FROM event_log WHERE id = 1), 0)",
                    [],
                    |r| r.get(0),
                )
                .map_err(classify)?,
        };
        send(Item::Numbers(numbers))
    }

    fn sql_value(value: &Value) -> ToSqlOutput<'_> {
        match value {
            Value::Null => ToSqlOutput::Owned(rusqlite::types::Value::Null),
            Value::Int(n) => ToSqlOutput::Owned(rusqlite::types::Value::Integer(*n)),
            Value::Text(t) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
            Value::Blob(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        }
    }

    pub(super) fn write(
        path: &Path,
        mut items: mpsc::Receiver<Item>,
        progress: &Progress,
    ) -> Result<Seen, Error> {
        let mut conn = Connection::open(path).map_err(classify)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(classify)?;
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(classify)?;
        // Before the deletes too: they would unindex an old store row by row.
        let derived = DerivedSetAside::take(&tx)?;
        for table in TABLES.iter().rev() {
            tx.execute(&format!("DELETE FROM {}", table.name), [])
                .map_err(classify)?;
        }
        let mut tally = Tally::new();
        while let Some(item) = items.blocking_recv() {
            match item {
                Item::Counts(counts) => progress.phase("copying", "rows", counts.iter().sum()),
                Item::Rows(index, rows) => {
                    let table = &TABLES[index];
                    let marks = vec!["?"; table.columns.len()].join(", ");
                    let mut insert = tx
                        .prepare_cached(&format!(
                            "INSERT INTO {} ({}) VALUES ({marks})",
                            table.name,
                            columns(table)
                        ))
                        .map_err(classify)?;
                    for row in &rows {
                        insert
                            .execute(params_from_iter(row.iter().map(sql_value)))
                            .map_err(classify)?;
                    }
                    progress.advance(rows.len() as u64);
                    tally.rows(index, &rows);
                }
                Item::Numbers(numbers) => tally.numbers = Some(numbers),
            }
        }
        let seen = tally.finish()?;
        derived.restore(&tx)?;
        // `sqlite_sequence` has no key: a second row for a table would be
        // ignored (SQLite reads the first), so the old one goes first.
        for (table, next) in [
            ("users", seen.numbers.next_user_id),
            ("events", seen.numbers.next_event_seq),
        ] {
            tx.execute("DELETE FROM sqlite_sequence WHERE name = ?1", [table])
                .map_err(classify)?;
            tx.execute(
                "INSERT INTO sqlite_sequence (name, seq) VALUES (?1, ?2)",
                params![table, next - 1],
            )
            .map_err(classify)?;
        }
        tx.execute(
            "INSERT INTO event_log (id, pruned_through) VALUES (1, ?1)
             ON CONFLICT (id) DO UPDATE SET pruned_through = excluded.pruned_through",
            [seen.numbers.pruned_through],
        )
        .map_err(classify)?;
        tx.commit().map_err(classify)?;
        Ok(seen)
    }
}

mod postgres {
    use std::pin::Pin;

    use bytes::BytesMut;
    use tokio::sync::mpsc;
    use tokio_postgres::binary_copy::BinaryCopyInWriter;
    use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};
    use tokio_postgres::{Client, Transaction};

    use super::{
        columns, stopped, Item, Kind, Numbers, Rows, Seen, Table, Tally, Value, BATCH_ROWS, TABLES,
    };
    use crate::progress::Progress;
    use crate::store::postgres::{classify, target, SearchIndexesSetAside};
    use crate::store::Error;

    async fn connect(url: &str) -> Result<Client, Error> {
        let (config, tls) = target(url)?;
        let (client, connection) = config.connect(tls).await.map_err(classify)?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "PostgreSQL connection of db copy ended");
            }
        });
        Ok(client)
    }

    async fn counts(tx: &Transaction<'_>) -> Result<Vec<u64>, Error> {
        let mut counts = Vec::with_capacity(TABLES.len());
        for table in TABLES {
            let row = tx
                .query_one(&format!("SELECT count(*) FROM {}", table.name), &[])
                .await
                .map_err(classify)?;
            counts.push(row.try_get::<_, i64>(0).map_err(classify)? as u64);
        }
        Ok(counts)
    }

    pub(super) async fn counts_at(url: &str) -> Result<Vec<u64>, Error> {
        let mut client = connect(url).await?;
        let tx = client.transaction().await.map_err(classify)?;
        counts(&tx).await
    }

    /// `ORDER BY` the key, byte-wise as SQLite's `BINARY` collation orders.
    fn key_order(table: &Table) -> String {
        table
            .key
            .iter()
            .map(|key| {
                let text = table
                    .columns
                    .iter()
                    .any(|(name, kind)| name == key && matches!(kind, Kind::Text));
                if text {
                    format!("{key} COLLATE \"C\"")
                } else {
                    (*key).to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub(super) async fn read(url: &str, feed: &mpsc::Sender<Item>) -> Result<(), Error> {
        let mut client = connect(url).await?;
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(classify)?;
        let send = |item| async { feed.send(item).await.map_err(|_| stopped()) };
        send(Item::Counts(counts(&tx).await?)).await?;
        for (index, table) in TABLES.iter().enumerate() {
            let select = format!(
                "SELECT {} FROM {} ORDER BY {}",
                columns(table),
                table.name,
                key_order(table)
            );
            // A portal, read a batch at a time: the server keeps the rest.
            let portal = tx.bind(select.as_str(), &[]).await.map_err(classify)?;
            loop {
                let rows = tx
                    .query_portal(&portal, BATCH_ROWS as i32)
                    .await
                    .map_err(classify)?;
                if rows.is_empty() {
                    break;
                }
                let mut batch: Rows = Vec::with_capacity(rows.len());
                for row in rows {
                    let mut values = Vec::with_capacity(table.columns.len());
                    for (i, (_, kind)) in table.columns.iter().enumerate() {
                        let value = match kind {
                            Kind::Int => {
                                row.try_get::<_, Option<i64>>(i).map(|v| v.map(Value::Int))
                            }
                            Kind::Bool => row
                                .try_get::<_, Option<bool>>(i)
                                .map(|v| v.map(|b| Value::Int(i64::from(b)))),
                            Kind::Text => row
                                .try_get::<_, Option<String>>(i)
                                .map(|v| v.map(Value::Text)),
                            Kind::Blob => row
                                .try_get::<_, Option<Vec<u8>>>(i)
                                .map(|v| v.map(Value::Blob)),
                        }
                        .map_err(classify)?;
                        values.push(value.unwrap_or(Value::Null));
                    }
                    batch.push(values);
                }
                send(Item::Rows(index, batch)).await?;
            }
        }
        // A sequence is outside every snapshot: it may be past the rows
        // read, which only makes the numbers left out larger.
        let mut next = Vec::with_capacity(2);
        for (sequence, table, key) in [
            ("users_id_seq", "users", "id"),
            ("events_seq", "events", "seq"),
        ] {
            let row = tx
                .query_one(
                    &format!(
                        "SELECT greatest(
                             (SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END
                              FROM {sequence}),
                             coalesce((SELECT max({key}) FROM {table}), 0) + 1)"
                    ),
                    &[],
                )
                .await
                .map_err(classify)?;
            next.push(row.try_get::<_, i64>(0).map_err(classify)?);
        }
        let pruned_through: i64 = tx
            .query_one(
                "SELECT coalesce((SELECT pruned_through FROM event_log WHERE id = 1), 0)",
                &[],
            )
            .await
            .map_err(classify)?
            .try_get(0)
            .map_err(classify)?;
        tx.commit().await.map_err(classify)?;
        send(Item::Numbers(Numbers {
            next_user_id: next[0],
            next_event_seq: next[1],
            pruned_through,
        }))
        .await
    }

    /// A value as binary `COPY` writes it, in its column's type.
    #[derive(Debug)]
    struct Cell<'a>(Kind, &'a Value);

    impl ToSql for Cell<'_> {
        fn to_sql(
            &self,
            ty: &Type,
            out: &mut BytesMut,
        ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
            match (self.0, self.1) {
                (_, Value::Null) => Ok(IsNull::Yes),
                (Kind::Bool, Value::Int(n)) => (*n != 0).to_sql(ty, out),
                (_, Value::Int(n)) => n.to_sql(ty, out),
                (_, Value::Text(t)) => t.as_str().to_sql(ty, out),
                (_, Value::Blob(b)) => b.as_slice().to_sql(ty, out),
            }
        }

        fn accepts(_: &Type) -> bool {
            true
        }

        to_sql_checked!();
    }

    fn column_type(kind: Kind) -> Type {
        match kind {
            Kind::Int => Type::INT8,
            Kind::Bool => Type::BOOL,
            Kind::Text => Type::TEXT,
            Kind::Blob => Type::BYTEA,
        }
    }

    pub(super) async fn write(
        url: &str,
        mut items: mpsc::Receiver<Item>,
        progress: &Progress,
    ) -> Result<Seen, Error> {
        let mut client = connect(url).await?;
        let tx = client.transaction().await.map_err(classify)?;
        let search = SearchIndexesSetAside::take(&tx).await?;
        for table in TABLES.iter().rev() {
            tx.execute(&format!("DELETE FROM {}", table.name), &[])
                .await
                .map_err(classify)?;
        }
        let mut tally = Tally::new();
        // The table whose binary COPY is open, and its writer.
        let mut open: Option<(usize, Pin<Box<BinaryCopyInWriter>>)> = None;
        while let Some(item) = items.recv().await {
            match item {
                Item::Counts(counts) => progress.phase("copying", "rows", counts.iter().sum()),
                Item::Rows(index, rows) => {
                    if open.as_ref().map(|(i, _)| *i) != Some(index) {
                        if let Some((_, mut writer)) = open.take() {
                            writer.as_mut().finish().await.map_err(classify)?;
                        }
                        let table = &TABLES[index];
                        let sink = tx
                            .copy_in(&format!(
                                "COPY {} ({}) FROM STDIN (FORMAT binary)",
                                table.name,
                                columns(table)
                            ))
                            .await
                            .map_err(classify)?;
                        let types: Vec<Type> =
                            table.columns.iter().map(|(_, k)| column_type(*k)).collect();
                        open = Some((index, Box::pin(BinaryCopyInWriter::new(sink, &types))));
                    }
                    if let Some((_, writer)) = open.as_mut() {
                        let kinds = TABLES[index].columns;
                        for row in &rows {
                            let cells: Vec<Cell<'_>> = row
                                .iter()
                                .zip(kinds)
                                .map(|(value, (_, kind))| Cell(*kind, value))
                                .collect();
                            let params: Vec<&(dyn ToSql + Sync)> =
                                cells.iter().map(|c| c as &(dyn ToSql + Sync)).collect();
                            writer.as_mut().write(&params).await.map_err(classify)?;
                        }
                    }
                    progress.advance(rows.len() as u64);
                    tally.rows(index, &rows);
                }
                Item::Numbers(numbers) => tally.numbers = Some(numbers),
            }
        }
        if let Some((_, mut writer)) = open.take() {
            writer.as_mut().finish().await.map_err(classify)?;
        }
        let seen = tally.finish()?;
        search.restore(&tx).await?;
        tx.execute(
            "INSERT INTO event_log (id, pruned_through) VALUES (1, $1)
             ON CONFLICT (id) DO UPDATE SET pruned_through = excluded.pruned_through",
            &[&seen.numbers.pruned_through],
        )
        .await
        .map_err(classify)?;
        // The next id and seq are past every one the source ever handed out.
        // Last before the commit: `setval` is not undone by a rollback.
        for (sequence, next) in [
            ("users_id_seq", seen.numbers.next_user_id),
            ("events_seq", seen.numbers.next_event_seq),
        ] {
            tx.execute(&format!("SELECT setval('{sequence}', $1, false)"), &[&next])
                .await
                .map_err(classify)?;
        }
        tx.commit().await.map_err(classify)?;
        Ok(seen)
    }
}
