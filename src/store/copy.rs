//! `user-api db copy`: moves a whole store between backends (SQLite to
//! PostgreSQL when an installation outgrows one machine, or back).
//!
//! Both stores are opened as the service opens them first, so both schemas
//! are at this binary's version and the tables below mean the same on both
//! sides. The source is read in one snapshot; the target is written in one
//! transaction, so a failed copy leaves it as it was. Then the target is
//! read back and compared with the source: row counts per table and a
//! SHA-256 over every value, in a backend-neutral form.
//!
//! Besides the rows, three numbers travel: the next user id and the next
//! event `seq` (the sequences, so neither is ever handed out twice, even
//! when the newest users or events were deleted or pruned), and the outbox's
//! `event_log.pruned_through` (its single row, which the migration creates
//! on both sides, so it is updated rather than copied and never makes an
//! empty target look taken).

use std::fmt::Write as _;

use sha2::{Digest, Sha256};

use super::{DatabaseUrl, Error, OpenOptions, Store};

/// How a column's values are kept; booleans are 0/1 on both sides.
#[derive(Clone, Copy)]
enum Kind {
    Int,
    Bool,
    Text,
    Blob,
}

struct Table {
    name: &'static str,
    columns: &'static [(&'static str, Kind)],
}

/// Every table of the schema, parents first (tokens refer to users; the
/// outbox has no foreign keys, its deliveries refer to events by `seq`).
/// `event_log` is not here: it is `Snapshot::pruned_through`.
const TABLES: &[Table] = &[
    Table {
        name: "users",
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
        columns: &[
            ("hash", Kind::Blob),
            ("user_id", Kind::Int),
            ("expires_at", Kind::Int),
            ("created_at", Kind::Int),
        ],
    },
    Table {
        name: "signin_failures",
        columns: &[
            ("key", Kind::Text),
            ("failures", Kind::Int),
            ("window_start", Kind::Int),
            ("blocked_until", Kind::Int),
        ],
    },
    Table {
        name: "idempotency_keys",
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
        columns: &[("sink", Kind::Text), ("delivered_through", Kind::Int)],
    },
    Table {
        name: "event_deliveries",
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
        columns: &[
            ("user_id", Kind::Int),
            ("kind", Kind::Text),
            ("hash", Kind::Blob),
            ("expires_at", Kind::Int),
        ],
    },
    Table {
        name: "mail_sends",
        columns: &[
            ("user_id", Kind::Int),
            ("kind", Kind::Text),
            ("sent_at", Kind::Int),
        ],
    },
];

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Value {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

type Rows = Vec<Vec<Value>>;

/// A whole store in memory: each table's rows, sorted, the next id the
/// users table and the next `seq` the events table would hand out (neither
/// is ever reused, even after a copy), and how far events were pruned.
#[derive(Clone)]
struct Snapshot {
    tables: Vec<Rows>,
    next_user_id: i64,
    next_event_seq: i64,
    /// `event_log.pruned_through`: a feed reader asking for events after
    /// an older `seq` has missed some (410), on the copy as on the source.
    pruned_through: i64,
}

impl Snapshot {
    fn counts(&self) -> Vec<usize> {
        self.tables.iter().map(Vec::len).collect()
    }

    /// No rows in any table. The numbers do not count: `event_log`'s row is
    /// there from the migration on, and a fresh store has them too.
    fn is_empty(&self) -> bool {
        self.tables.iter().all(Vec::is_empty)
    }

    /// The numbers beside the rows, named, in a fixed order.
    fn numbers(&self) -> [(&'static str, i64); 3] {
        [
            ("next user id", self.next_user_id),
            ("next event seq", self.next_event_seq),
            ("event_log.pruned_through", self.pruned_through),
        ]
    }

    /// SHA-256 over every value, tagged and length-prefixed, table by
    /// table, then over the numbers.
    fn checksum(&self) -> String {
        let mut digest = Sha256::new();
        for (table, rows) in TABLES.iter().zip(&self.tables) {
            digest.update(table.name.as_bytes());
            digest.update((rows.len() as u64).to_be_bytes());
            for value in rows.iter().flatten() {
                match value {
                    Value::Null => digest.update([0]),
                    Value::Int(i) => {
                        digest.update([1]);
                        digest.update(i.to_be_bytes());
                    }
                    Value::Text(t) => {
                        digest.update([2]);
                        digest.update((t.len() as u64).to_be_bytes());
                        digest.update(t.as_bytes());
                    }
                    Value::Blob(b) => {
                        digest.update([3]);
                        digest.update((b.len() as u64).to_be_bytes());
                        digest.update(b);
                    }
                }
            }
        }
        for (name, number) in self.numbers() {
            digest.update(name.as_bytes());
            digest.update(number.to_be_bytes());
        }
        hex::encode(digest.finalize())
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
pub async fn run(from: &DatabaseUrl, to: &DatabaseUrl, overwrite: bool) -> Result<String, Error> {
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

    let source = read(from).await?;
    let existing = read(to).await?;
    if !existing.is_empty() && !overwrite {
        return Err(Error::Unsupported(format!(
            "{} already holds data ({} users); pass --overwrite to replace it",
            to,
            existing.tables[0].len()
        )));
    }
    write(to, &source).await?;

    let copied = read(to).await?;
    let (expected, found) = (source.checksum(), copied.checksum());
    if copied.counts() != source.counts()
        || copied.numbers() != source.numbers()
        || found != expected
    {
        return Err(Error::Internal(format!(
            "the copy differs from the source (counts {:?} against {:?}, {:?} against {:?}, \
             checksum {found} against {expected})",
            copied.counts(),
            source.counts(),
            copied.numbers(),
            source.numbers()
        )));
    }
    let mut summary = format!("copied {} to {}:", from, to);
    for (table, rows) in TABLES.iter().zip(&source.tables) {
        let _ = write!(summary, " {} {},", rows.len(), table.name);
    }
    let _ = write!(summary, " verified (sha256 {expected})");
    Ok(summary)
}

async fn read(url: &DatabaseUrl) -> Result<Snapshot, Error> {
    let mut snapshot = match url {
        DatabaseUrl::Sqlite(path) => {
            let path = path.clone();
            tokio::task::spawn_blocking(move || sqlite::read(&path))
                .await
                .map_err(|e| Error::Internal(e.to_string()))??
        }
        DatabaseUrl::Postgres(url) => postgres::read(url).await?,
    };
    for rows in &mut snapshot.tables {
        rows.sort();
    }
    Ok(snapshot)
}

async fn write(url: &DatabaseUrl, snapshot: &Snapshot) -> Result<(), Error> {
    match url {
        DatabaseUrl::Sqlite(path) => {
            let path = path.clone();
            let snapshot = snapshot.clone();
            tokio::task::spawn_blocking(move || sqlite::write(&path, &snapshot))
                .await
                .map_err(|e| Error::Internal(e.to_string()))?
        }
        DatabaseUrl::Postgres(url) => postgres::write(url, snapshot).await,
    }
}

mod sqlite {
    use std::path::Path;

    use rusqlite::types::{Value as Sql, ValueRef};
    use rusqlite::{params, params_from_iter, Connection};

    use super::{columns, Rows, Snapshot, Value, TABLES};
    use crate::store::sqlite::classify;
    use crate::store::Error;

    pub(super) fn read(path: &Path) -> Result<Snapshot, Error> {
        let mut conn = Connection::open(path).map_err(classify)?;
        // One read transaction: every table from the same moment.
        let tx = conn.transaction().map_err(classify)?;
        let mut tables = Vec::new();
        for table in TABLES {
            let mut stmt = tx
                .prepare(&format!("SELECT {} FROM {}", columns(table), table.name))
                .map_err(classify)?;
            let rows: Rows = stmt
                .query_map([], |row| {
                    (0..table.columns.len())
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
                        .collect()
                })
                .map_err(classify)?
                .collect::<rusqlite::Result<_>>()
                .map_err(classify)?;
            tables.push(rows);
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
        let next_user_id = next("users", "id")?;
        let next_event_seq = next("events", "seq")?;
        let pruned_through: i64 = tx
            .query_row(
                "SELECT coalesce((SELECT pruned_through FROM event_log WHERE id = 1), 0)",
                [],
                |r| r.get(0),
            )
            .map_err(classify)?;
        Ok(Snapshot {
            tables,
            next_user_id,
            next_event_seq,
            pruned_through,
        })
    }

    pub(super) fn write(path: &Path, snapshot: &Snapshot) -> Result<(), Error> {
        let mut conn = Connection::open(path).map_err(classify)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(classify)?;
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(classify)?;
        for table in TABLES.iter().rev() {
            tx.execute(&format!("DELETE FROM {}", table.name), [])
                .map_err(classify)?;
        }
        for (table, rows) in TABLES.iter().zip(&snapshot.tables) {
            let marks = vec!["?"; table.columns.len()].join(", ");
            let mut insert = tx
                .prepare(&format!(
                    "INSERT INTO {} ({}) VALUES ({marks})",
                    table.name,
                    columns(table)
                ))
                .map_err(classify)?;
            for row in rows {
                let values = row.iter().map(|v| match v {
                    Value::Null => Sql::Null,
                    Value::Int(n) => Sql::Integer(*n),
                    Value::Text(t) => Sql::Text(t.clone()),
                    Value::Blob(b) => Sql::Blob(b.clone()),
                });
                insert.execute(params_from_iter(values)).map_err(classify)?;
            }
        }
        // `sqlite_sequence` has no key: a second row for a table would be
        // ignored (SQLite reads the first), so the old one goes first.
        for (table, next) in [
            ("users", snapshot.next_user_id),
            ("events", snapshot.next_event_seq),
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
            [snapshot.pruned_through],
        )
        .map_err(classify)?;
        tx.commit().map_err(classify)
    }
}

mod postgres {
    use tokio_postgres::types::ToSql;
    use tokio_postgres::Client;

    use super::{columns, Kind, Rows, Snapshot, Value, TABLES};
    use crate::store::postgres::{classify, target};
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

    pub(super) async fn read(url: &str) -> Result<Snapshot, Error> {
        let mut client = connect(url).await?;
        let tx = client
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(classify)?;
        let mut tables = Vec::new();
        for table in TABLES {
            let rows = tx
                .query(
                    &format!("SELECT {} FROM {}", columns(table), table.name),
                    &[],
                )
                .await
                .map_err(classify)?;
            let mut read: Rows = Vec::with_capacity(rows.len());
            for row in rows {
                let mut values = Vec::with_capacity(table.columns.len());
                for (i, (_, kind)) in table.columns.iter().enumerate() {
                    let value = match kind {
                        Kind::Int => row.try_get::<_, Option<i64>>(i).map(|v| v.map(Value::Int)),
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
                read.push(values);
            }
            tables.push(read);
        }
        // A sequence is outside every snapshot: it may be past the rows
        // read, which only makes the numbers left out larger.
        let mut sequence_next = Vec::with_capacity(2);
        for sequence in ["users_id_seq", "events_seq"] {
            let row = tx
                .query_one(
                    &format!(
                        "SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END
                         FROM {sequence}"
                    ),
                    &[],
                )
                .await
                .map_err(classify)?;
            sequence_next.push(row.try_get::<_, i64>(0).map_err(classify)?);
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
        // The largest value of the first column (users.id, events.seq).
        let max_first = |table: &str| {
            TABLES
                .iter()
                .position(|t| t.name == table)
                .and_then(|i| {
                    tables[i]
                        .iter()
                        .filter_map(|r| match r.first() {
                            Some(Value::Int(n)) => Some(*n),
                            _ => None,
                        })
                        .max()
                })
                .unwrap_or(0)
        };
        Ok(Snapshot {
            next_user_id: sequence_next[0].max(max_first("users") + 1),
            next_event_seq: sequence_next[1].max(max_first("events") + 1),
            pruned_through,
            tables,
        })
    }

    pub(super) async fn write(url: &str, snapshot: &Snapshot) -> Result<(), Error> {
        let mut client = connect(url).await?;
        let tx = client.transaction().await.map_err(classify)?;
        for table in TABLES.iter().rev() {
            tx.execute(&format!("DELETE FROM {}", table.name), &[])
                .await
                .map_err(classify)?;
        }
        for (table, rows) in TABLES.iter().zip(&snapshot.tables) {
            let marks = (1..=table.columns.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ");
            let insert = tx
                .prepare(&format!(
                    "INSERT INTO {} ({}) VALUES ({marks})",
                    table.name,
                    columns(table)
                ))
                .await
                .map_err(classify)?;
            for row in rows {
                let params: Vec<Box<dyn ToSql + Sync + Send>> = row
                    .iter()
                    .zip(table.columns)
                    .map(|(value, (_, kind))| -> Box<dyn ToSql + Sync + Send> {
                        match (kind, value) {
                            (Kind::Bool, Value::Int(n)) => Box::new(Some(*n != 0)),
                            (Kind::Bool, _) => Box::new(None::<bool>),
                            (Kind::Int, Value::Int(n)) => Box::new(Some(*n)),
                            (Kind::Int, _) => Box::new(None::<i64>),
                            (Kind::Text, Value::Text(t)) => Box::new(Some(t.clone())),
                            (Kind::Text, _) => Box::new(None::<String>),
                            (Kind::Blob, Value::Blob(b)) => Box::new(Some(b.clone())),
                            (Kind::Blob, _) => Box::new(None::<Vec<u8>>),
                        }
                    })
                    .collect();
                let refs: Vec<&(dyn ToSql + Sync)> = params
                    .iter()
                    .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                    .collect();
                tx.execute(&insert, &refs).await.map_err(classify)?;
            }
        }
        tx.execute(
            "INSERT INTO event_log (id, pruned_through) VALUES (1, $1)
             ON CONFLICT (id) DO UPDATE SET pruned_through = excluded.pruned_through",
            &[&snapshot.pruned_through],
        )
        .await
        .map_err(classify)?;
        // The next id and seq are past every one the source ever handed out.
        // Last before the commit: `setval` is not undone by a rollback.
        for (sequence, next) in [
            ("users_id_seq", snapshot.next_user_id),
            ("events_seq", snapshot.next_event_seq),
        ] {
            tx.execute(&format!("SELECT setval('{sequence}', $1, false)"), &[&next])
                .await
                .map_err(classify)?;
        }
        tx.commit().await.map_err(classify)
    }
}
