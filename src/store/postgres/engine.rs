//! The PostgreSQL connection engine: a deadpool pool of tokio-postgres
//! connections, time limits on every operation, pool errors mapped to 503.
//! It knows no table; the operations in the sibling modules take their
//! connections from `client` and run under `timed`.

use std::time::Duration;

use super::tls::MakeRustls;
use super::{classify, migrate};
use crate::store::{Error, PostgresTarget};
use deadpool_postgres::{
    Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime,
};

/// Longest wait for a pooled connection or a new one: past it, 503.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest any one operation may take before the request gets 503; well
/// under the request time limit, so the client hears why.
const OPERATION_TIMEOUT: Duration = Duration::from_secs(5);
/// Readiness must answer quickly whatever the database does.
const PING_TIMEOUT: Duration = Duration::from_secs(1);

pub struct PostgresStore {
    pool: Pool,
    /// For connections outside the pool (the deliverer's lease).
    config: tokio_postgres::Config,
    tls: MakeRustls,
}

fn pool_error(err: PoolError) -> Error {
    match err {
        PoolError::Backend(e) => classify(e),
        PoolError::Timeout(_) => Error::Unavailable("no PostgreSQL connection in time".into()),
        PoolError::Closed => Error::Unavailable("the connection pool is closed".into()),
        other => Error::Internal(format!("connection pool: {other}")),
    }
}

/// Runs one operation under `OPERATION_TIMEOUT`. A transaction cut short is
/// rolled back by the server when its connection drops or by tokio-postgres
/// when the transaction is dropped.
pub(super) async fn timed<T>(
    work: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    tokio::time::timeout(OPERATION_TIMEOUT, work)
        .await
        .unwrap_or_else(|_| {
            Err(Error::Unavailable(
                "PostgreSQL did not answer in time".into(),
            ))
        })
}

/// How often a migration's index builds report their progress.
const INDEX_PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Logs what `pg_stat_progress_create_index` says of the migrating
/// connection (`backend`) every few seconds, until aborted. Best effort: a
/// pool with no spare connection or a failed read logs nothing.
pub(super) async fn log_index_builds(pool: Pool, backend: i32) {
    loop {
        tokio::time::sleep(INDEX_PROGRESS_EVERY).await;
        let Ok(client) = pool.get().await else {
            continue;
        };
        let row = client
            .query_opt(
                // The index itself is not visible before the migration
                // commits; its table is.
                "SELECT p.relid::regclass::text, p.phase, p.blocks_done, p.blocks_total,
                        p.tuples_done, p.tuples_total
                 FROM pg_stat_progress_create_index p
                 WHERE p.pid = $1",
                &[&backend],
            )
            .await;
        if let Ok(Some(row)) = row {
            let text = |i: usize| row.try_get::<_, String>(i).unwrap_or_default();
            let number = |i: usize| row.try_get::<_, i64>(i).unwrap_or_default();
            tracing::info!(
                table = text(0),
                phase = text(1),
                blocks_done = number(2),
                blocks_total = number(3),
                tuples_done = number(4),
                tuples_total = number(5),
                "schema migration: building an index"
            );
        }
    }
}

/// The URL read (`store::PostgresTarget`) and its TLS connector built: one
/// line naming what is wrong, never the URL (it may hold a password).
pub(in crate::store) fn target(url: &str) -> Result<(tokio_postgres::Config, MakeRustls), Error> {
    let target = PostgresTarget::parse(url).map_err(Error::Unsupported)?;
    let tls = MakeRustls::new(&target).map_err(Error::Unsupported)?;
    Ok((target.config, tls))
}

impl PostgresStore {
    /// Connects (the pool opens connections as they are needed) and brings
    /// the schema up to date; an unreachable server is a start error.
    pub async fn open(url: &str, pool_size: u32) -> Result<Self, Error> {
        let (mut config, tls) = target(url)?;
        config
            .application_name("user-api")
            .connect_timeout(CONNECT_TIMEOUT)
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30));
        let manager = Manager::from_config(
            config.clone(),
            tls.clone(),
            ManagerConfig {
                // A closed connection is noticed without a round trip; one
                // that breaks in use fails that request and is dropped.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size as usize)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()
            .map_err(|e| Error::Internal(format!("connection pool: {e}")))?;
        let store = Self { pool, config, tls };
        let mut client = store.client().await?;
        migrate(&mut client, &store.pool).await?;
        Ok(store)
    }

    /// A pooled connection; the pool's size and idle count go to metrics.
    pub(super) async fn client(&self) -> Result<Object, Error> {
        let client = self.pool.get().await.map_err(pool_error);
        let status = self.pool.status();
        metrics::gauge!("db_pool_connections").set(status.size as f64);
        metrics::gauge!("db_pool_idle_connections").set(status.available as f64);
        client
    }

    /// A connection of its own, outside the pool: one whose session must
    /// outlive any single operation (an advisory lock held by it).
    pub(super) async fn dedicated(
        &self,
    ) -> Result<(tokio_postgres::Client, tokio::task::JoinHandle<()>), Error> {
        let (client, connection) =
            tokio::time::timeout(CONNECT_TIMEOUT, self.config.connect(self.tls.clone()))
                .await
                .map_err(|_| Error::Unavailable("no PostgreSQL connection in time".into()))?
                .map_err(classify)?;
        let driver = tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "a dedicated PostgreSQL connection ended");
            }
        });
        Ok((client, driver))
    }

    pub async fn ping(&self) -> Result<(), Error> {
        tokio::time::timeout(PING_TIMEOUT, async {
            let client = self.client().await?;
            client.simple_query("SELECT 1").await.map_err(classify)?;
            Ok(())
        })
        .await
        .unwrap_or_else(|_| {
            Err(Error::Unavailable(
                "PostgreSQL did not answer in time".into(),
            ))
        })
    }
}
