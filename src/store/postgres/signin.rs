//! Failed sign-in records on PostgreSQL: row locks (`FOR UPDATE`) make an
//! attempt on another instance wait and then see this one's count; what an
//! attempt does to the records is `domain::throttle`'s.

use super::{classify, engine::timed, run, PostgresStore, Tx};
use crate::domain::throttle::{AttemptEnd, FailureRecord, ThrottleRules, Throttled, Verdict};
use crate::store::Error;

impl PostgresStore {
    pub async fn begin_signin_attempt(
        &self,
        account: Throttled,
        address: Throttled,
        rules: ThrottleRules,
        now: i64,
    ) -> Result<Option<u64>, Error> {
        timed(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await.map_err(classify)?;
            let (account_key, address_key) = (account.key(), address.key());
            // Sent together: tokio-postgres pipelines two statements polled
            // at once on one connection, so the lock and the address's
            // record cost one round trip.
            let (on_account, on_address) = futures_util::try_join!(
                locked_failure_record(&tx, &account_key),
                failure_record(&tx, &address_key)
            )?;
            let wait = on_account.retry_after(now).max(on_address.retry_after(now));
            if wait.is_none() {
                save_failure_record(&tx, &account_key, rules.count(&account, on_account, now))
                    .await?;
            }
            tx.commit().await.map_err(classify)?;
            Ok(wait)
        })
        .await
    }

    pub async fn end_signin_attempt(
        &self,
        account: Throttled,
        address: Throttled,
        verdict: Verdict,
        rules: ThrottleRules,
        now: i64,
    ) -> Result<(), Error> {
        timed(async {
            let mut client = self.client().await?;
            match AttemptEnd::of(account, address, verdict) {
                // One statement: no transaction around it (one round trip,
                // not three).
                AttemptEnd::Forget { key } => run(
                    &client,
                    "DELETE FROM signin_failures WHERE key = $1",
                    &[&key],
                )
                .await
                .map(drop)
                .map_err(classify),
                AttemptEnd::Update { key, update } => {
                    let tx = client.transaction().await.map_err(classify)?;
                    let record = locked_failure_record(&tx, &key).await?;
                    save_failure_record(&tx, &key, update.apply(&rules, record, now)).await?;
                    tx.commit().await.map_err(classify)
                }
            }
        })
        .await
    }
}

const FAILURE_RECORD: &str =
    "SELECT failures, window_start, blocked_until FROM signin_failures WHERE key = $1";
const LOCKED_FAILURE_RECORD: &str =
    "INSERT INTO signin_failures AS f (key, failures, window_start, blocked_until)
     VALUES ($1, 0, 0, 0)
     ON CONFLICT (key) DO UPDATE SET key = f.key
     RETURNING f.failures, f.window_start, f.blocked_until";

async fn failure_record(tx: &Tx<'_>, key: &str) -> Result<FailureRecord, Error> {
    read_failure_record(tx, key, FAILURE_RECORD).await
}

/// The record, locked until the transaction ends: an attempt on another
/// instance waits here, then sees this one's count. One statement: a row to
/// lock must exist (all zeros means "no failures"), and an upsert that
/// changes nothing still locks the row and returns it.
async fn locked_failure_record(tx: &Tx<'_>, key: &str) -> Result<FailureRecord, Error> {
    read_failure_record(tx, key, LOCKED_FAILURE_RECORD).await
}

/// The record under `key`, read by `statement` (one of the two above).
async fn read_failure_record(
    tx: &Tx<'_>,
    key: &str,
    statement: &str,
) -> Result<FailureRecord, Error> {
    let statement = tx.prepare_cached(statement).await.map_err(classify)?;
    let row = tx.query_opt(&statement, &[&key]).await.map_err(classify)?;
    match row {
        None => Ok(FailureRecord::default()),
        Some(r) => Ok(FailureRecord {
            failures: r.try_get(0).map_err(classify)?,
            window_start: r.try_get(1).map_err(classify)?,
            blocked_until: r.try_get(2).map_err(classify)?,
        }),
    }
}

async fn save_failure_record(tx: &Tx<'_>, key: &str, record: FailureRecord) -> Result<(), Error> {
    run(
        tx,
        "INSERT INTO signin_failures (key, failures, window_start, blocked_until)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (key) DO UPDATE SET failures = excluded.failures,
             window_start = excluded.window_start, blocked_until = excluded.blocked_until",
        &[
            &key,
            &record.failures,
            &record.window_start,
            &record.blocked_until,
        ],
    )
    .await
    .map(drop)
    .map_err(classify)
}
