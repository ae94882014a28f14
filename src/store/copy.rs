//! `user-api db copy`: moves a whole store between backends (SQLite to
//! PostgreSQL when an installation outgrows one machine, or back).
//!
//! Both stores are opened as the service opens them first, so both schemas
//! are at this binary's version and the tables below mean the same on both
//! sides. The source is read in one snapshot; the target is written in one
//! transaction, so a failed copy leaves it as it was. Then the target is
//! read back and compared with the source: row counts per table and a
//! SHA-256 over every value, in a backend-neutral form.

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

/// Every table of the schema, parents first (tokens refer to users).
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
];

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Value {
    Null,
    Int(i64),
    Text(String),
    Blob(Vec<u8>),
}

type Rows = Vec<Vec<Value>>;

/// A whole store in memory: each table's rows, sorted, and the next id the
/// users table would hand out (ids are never reused, even after a copy).
struct Snapshot {
    tables: Vec<Rows>,
    next_user_id: i64,
}

impl Snapshot {
    fn counts(&self) -> Vec<usize> {
        self.tables.iter().map(Vec::len).collect()
    }

    fn is_empty(&self) -> bool {
        self.tables.iter().all(Vec::is_empty)
    }

    /// SHA-256 over every value, tagged and length-prefixed, table by table.
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
    if copied.counts() != source.counts() || found != expected {
        return Err(Error::Internal(format!(
            "the copy differs from the source (counts {:?} against {:?}, checksum {found} against {expected})",
            copied.counts(),
            source.counts()
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
            let snapshot = Snapshot {
                tables: snapshot.tables.clone(),
                next_user_id: snapshot.next_user_id,
            };
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
    use rusqlite::{params_from_iter, Connection};

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
        let next_user_id: i64 = tx
            .query_row(
                "SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'users'), 0),
                            coalesce((SELECT max(id) FROM users), 0)) + 1",
                [],
                |r| r.get(0),
            )
            .map_err(classify)?;
        Ok(Snapshot {
            tables,
            next_user_id,
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
        tx.execute(
            "INSERT OR REPLACE INTO sqlite_sequence (name, seq) VALUES ('users', ?1)",
            [snapshot.next_user_id - 1],
        )
        .map_err(classify)?;
        tx.commit().map_err(classify)
    }
}

mod postgres {
    use tokio_postgres::types::ToSql;
    use tokio_postgres::{Client, NoTls};

    use super::{columns, Kind, Rows, Snapshot, Value, TABLES};
    use crate::store::postgres::classify;
    use crate::store::Error;

    async fn connect(url: &str) -> Result<Client, Error> {
        let (client, connection) = tokio_postgres::connect(url, NoTls)
            .await
            .map_err(classify)?;
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
        let row = tx
            .query_one(
                "SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END
                 FROM users_id_seq",
                &[],
            )
            .await
            .map_err(classify)?;
        let sequence_next: i64 = row.try_get(0).map_err(classify)?;
        tx.commit().await.map_err(classify)?;
        let max_id = tables[0]
            .iter()
            .filter_map(|r| match r.first() {
                Some(Value::Int(id)) => Some(*id),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        Ok(Snapshot {
            tables,
            next_user_id: sequence_next.max(max_id + 1),
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
        // The next id is past every id the source ever handed out.
        tx.execute(
            "SELECT setval('users_id_seq', $1, false)",
            &[&snapshot.next_user_id],
        )
        .await
        .map_err(classify)?;
        tx.commit().await.map_err(classify)
    }
}
