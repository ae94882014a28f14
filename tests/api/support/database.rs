//! The database under a test. The same tests run twice: the `api` test
//! binary gives each test a fresh SQLite file, `api_postgres` (the same
//! sources, see `tests/api_postgres/main.rs`) a fresh PostgreSQL database on
//! the server `USER_API_TEST_POSTGRES` names, dropped after the test.
//!
//! Without a reachable PostgreSQL, `api_postgres` says so once and exits
//! successfully, so `cargo test` passes on a machine without it; with
//! `USER_API_REQUIRE_POSTGRES=1` (CI sets it) it fails instead.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

use tempfile::TempDir;

/// The server the PostgreSQL tests use unless told otherwise: this
/// machine's, as `.ci/run` starts it.
const DEFAULT_SERVER: &str = "postgres://postgres@127.0.0.1:5432/test";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Which backend this test binary runs the suite against.
pub fn backend() -> Backend {
    if env!("CARGO_CRATE_NAME") == "api_postgres" {
        Backend::Postgres
    } else {
        Backend::Sqlite
    }
}

/// The PostgreSQL server for tests (a URL whose database may be replaced).
pub fn postgres_server() -> String {
    std::env::var("USER_API_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_SERVER.to_owned())
}

/// `server` with its database replaced by `name`.
pub fn postgres_url(server: &str, name: &str) -> String {
    let (base, query) = match server.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (server, String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    format!("{}/{name}{query}", &base[..host_end])
}

/// Runs statements on a PostgreSQL database from synchronous code, on a
/// thread of its own so it works inside or outside an async test.
pub fn postgres_execute(
    url: &str,
    sql: &str,
) -> Result<Vec<tokio_postgres::SimpleQueryMessage>, String> {
    let (url, sql) = (url.to_owned(), sql.to_owned());
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(async move {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .map_err(|e| e.to_string())?;
            let driver = tokio::spawn(connection);
            let result = client
                .simple_query(&sql)
                .await
                .map_err(|e| match e.as_db_error() {
                    Some(db) => db.message().to_owned(),
                    None => e.to_string(),
                });
            drop(client);
            let _ = driver.await;
            result
        })
    })
    .join()
    .map_err(|_| "postgres helper thread panicked".to_owned())?
}

/// Checks once that PostgreSQL answers; if not, ends this test binary:
/// successfully with a clear message, or failing when it is required.
fn require_postgres() {
    static CHECKED: OnceLock<()> = OnceLock::new();
    CHECKED.get_or_init(|| {
        let server = postgres_server();
        if let Err(why) = postgres_execute(&server, "SELECT 1") {
            let message = format!(
                "\napi_postgres: PostgreSQL tests SKIPPED: no PostgreSQL at {server} ({why}).\n\
                 Start PostgreSQL or set USER_API_TEST_POSTGRES=postgres://…; \
                 USER_API_REQUIRE_POSTGRES=1 makes this a failure (CI sets it).\n"
            );
            if std::env::var_os("USER_API_REQUIRE_POSTGRES").is_some() {
                panic!("{message}");
            }
            // Straight to the terminal: the test harness captures `eprintln!`.
            let _ = std::io::stderr().lock().write_all(message.as_bytes());
            std::process::exit(0);
        }
    });
}

/// A fresh database for one test, removed when dropped.
pub struct TestDb {
    pub url: String,
    kind: Kind,
}

enum Kind {
    Sqlite { path: PathBuf, _dir: TempDir },
    Postgres { server: String, name: String },
}

impl TestDb {
    /// A fresh database on this binary's backend.
    pub fn fresh() -> Self {
        match backend() {
            Backend::Sqlite => Self::fresh_sqlite(),
            Backend::Postgres => Self::fresh_postgres(),
        }
    }

    pub fn fresh_sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("user-api.db");
        Self {
            url: format!("sqlite:{}", path.display()),
            kind: Kind::Sqlite { path, _dir: dir },
        }
    }

    pub fn fresh_postgres() -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        require_postgres();
        let server = postgres_server();
        let name = format!(
            "user_api_test_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        // Two calls: CREATE DATABASE cannot run in the implicit transaction
        // of a multi-statement query.
        for sql in [
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            format!("CREATE DATABASE {name}"),
        ] {
            postgres_execute(&server, &sql)
                .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
        }
        Self {
            url: postgres_url(&server, &name),
            kind: Kind::Postgres { server, name },
        }
    }

    /// The SQLite file; only for tests of SQLite itself.
    #[allow(dead_code)] // the PostgreSQL run has no such tests
    pub fn sqlite_path(&self) -> &Path {
        match &self.kind {
            Kind::Sqlite { path, .. } => path,
            Kind::Postgres { .. } => panic!("this test needs an SQLite file"),
        }
    }

    /// Runs one statement (literal values only: the two dialects share no
    /// placeholder syntax); returns the rows it changed.
    pub fn execute(&self, sql: &str) -> u64 {
        match &self.kind {
            Kind::Sqlite { path, .. } => {
                let db = rusqlite::Connection::open(path).unwrap();
                db.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
                db.execute(sql, []).unwrap() as u64
            }
            Kind::Postgres { .. } => postgres_execute(&self.url, sql)
                .unwrap()
                .iter()
                .find_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::CommandComplete(n) => Some(*n),
                    _ => None,
                })
                .unwrap_or(0),
        }
    }

    /// Runs a script of several statements (a migration file).
    #[allow(dead_code)] // only the migration tests use it
    pub fn execute_script(&self, sql: &str) {
        match &self.kind {
            Kind::Sqlite { path, .. } => {
                let db = rusqlite::Connection::open(path).unwrap();
                db.execute_batch(sql).unwrap();
            }
            Kind::Postgres { .. } => {
                postgres_execute(&self.url, sql).unwrap();
            }
        }
    }

    /// The first column of the first row, as text.
    pub fn query_text(&self, sql: &str) -> String {
        match &self.kind {
            Kind::Sqlite { path, .. } => {
                let db = rusqlite::Connection::open(path).unwrap();
                db.query_row(sql, [], |r| {
                    Ok(match r.get_ref(0)? {
                        rusqlite::types::ValueRef::Integer(i) => i.to_string(),
                        rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into(),
                        other => panic!("unexpected value {other:?}"),
                    })
                })
                .unwrap()
            }
            Kind::Postgres { .. } => postgres_execute(&self.url, sql)
                .unwrap()
                .iter()
                .find_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(row) => {
                        Some(row.get(0).unwrap_or_default().to_owned())
                    }
                    _ => None,
                })
                .unwrap_or_else(|| panic!("{sql} returned no row")),
        }
    }

    pub fn query_i64(&self, sql: &str) -> i64 {
        self.query_text(sql).parse().expect("an integer")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Kind::Postgres { server, name } = &self.kind {
            let _ = postgres_execute(
                server,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            );
        }
    }
}
