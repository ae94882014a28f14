//! Failed sign-in records on SQLite: an attempt begins and ends in its own
//! write transaction; what it does to the records is `domain::throttle`'s.

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::{classify, SqliteStore};
use crate::domain::throttle::{AttemptEnd, FailureRecord, ThrottleRules, Throttled, Verdict};
use crate::store::Error;

impl SqliteStore {
    /// Starts a sign-in attempt: refused with the longest wait while the
    /// account or the address must wait; else counted against the account
    /// before its password is checked, so racing guesses buy no extra tries.
    pub async fn begin_signin_attempt(
        &self,
        account: Throttled,
        address: Throttled,
        rules: ThrottleRules,
        now: i64,
    ) -> Result<Option<u64>, Error> {
        self.write(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(classify)?;
            let account_key = account.key();
            let on_account = failure_record(&tx, &account_key)?;
            let on_address = failure_record(&tx, &address.key())?;
            let wait = on_account.retry_after(now).max(on_address.retry_after(now));
            if wait.is_none() {
                save_failure_record(&tx, &account_key, rules.count(&account, on_account, now))?;
            }
            tx.commit().map_err(classify)?;
            Ok(wait)
        })
        .await
    }

    /// Ends a counted attempt: a right password resets the account, a
    /// wrong one (already counted on the account) is counted on the
    /// address, and no verdict gives the account its attempt back.
    pub async fn end_signin_attempt(
        &self,
        account: Throttled,
        address: Throttled,
        verdict: Verdict,
        rules: ThrottleRules,
        now: i64,
    ) -> Result<(), Error> {
        self.write(move |conn| {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(classify)?;
            match AttemptEnd::of(account, address, verdict) {
                AttemptEnd::Forget { key } => {
                    tx.execute("DELETE FROM signin_failures WHERE key = ?1", [key])
                        .map_err(classify)?;
                }
                AttemptEnd::Update { key, update } => {
                    let record = failure_record(&tx, &key)?;
                    save_failure_record(&tx, &key, update.apply(&rules, record, now))?;
                }
            }
            tx.commit().map_err(classify)
        })
        .await
    }
}

fn failure_record(tx: &rusqlite::Transaction<'_>, key: &str) -> Result<FailureRecord, Error> {
    tx.prepare_cached(
        "SELECT failures, window_start, blocked_until FROM signin_failures WHERE key = ?1",
    )
    .and_then(|mut s| {
        s.query_row([key], |r| {
            Ok(FailureRecord {
                failures: r.get(0)?,
                window_start: r.get(1)?,
                blocked_until: r.get(2)?,
            })
        })
        .optional()
    })
    .map(Option::unwrap_or_default)
    .map_err(classify)
}

fn save_failure_record(
    tx: &rusqlite::Transaction<'_>,
    key: &str,
    record: FailureRecord,
) -> Result<(), Error> {
    tx.prepare_cached(
        "INSERT INTO signin_failures (key, failures, window_start, blocked_until)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (key) DO UPDATE SET failures = excluded.failures,
             window_start = excluded.window_start, blocked_until = excluded.blocked_until",
    )
    .and_then(|mut s| {
        s.execute(params![
            key,
            record.failures,
            record.window_start,
            record.blocked_until
        ])
    })
    .map(drop)
    .map_err(classify)
}
