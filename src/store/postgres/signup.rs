//! The sign-up rate per client address on PostgreSQL, kept in the database
//! so that it holds across instances (one process's memory would give each
//! instance its own allowance). A generic cell rate, as the in-process
//! limiter on SQLite: a burst of `rate`, then one every `60/rate` s. One
//! statement per sign-up: the upsert locks the address's row, so two
//! instances cannot both take the last one.

use super::{classify, engine::timed, opt, PostgresStore};
use crate::store::Error;

/// The whole allowance spans a minute (`rate` sign-ups a minute).
const WINDOW_MS: i64 = 60_000;

impl PostgresStore {
    /// Takes one sign-up from `address`'s allowance: `None` when taken,
    /// `Some(milliseconds)` to wait when none is left.
    pub async fn take_signup(
        &self,
        address: &str,
        rate: u32,
        now_ms: i64,
    ) -> Result<Option<u64>, Error> {
        let interval = WINDOW_MS / i64::from(rate.max(1));
        timed(async {
            let client = self.client().await?;
            // `tat` moves on by one interval per sign-up, from now at the
            // earliest; a sign-up that would move it past a minute ahead is
            // refused and changes nothing (no row returned).
            let taken = opt(
                &client,
                "INSERT INTO signup_allowances (address, tat) VALUES ($1, $2::bigint + $3::bigint)
                 ON CONFLICT (address) DO UPDATE
                     SET tat = GREATEST(signup_allowances.tat, $2::bigint) + $3::bigint
                     WHERE GREATEST(signup_allowances.tat, $2::bigint) + $3::bigint
                         <= $2::bigint + $4::bigint
                 RETURNING tat",
                &[&address, &now_ms, &interval, &WINDOW_MS],
            )
            .await
            .map_err(classify)?;
            if taken.is_some() {
                return Ok(None);
            }
            // Refused (rare): how long until one interval is free again.
            let tat: i64 = opt(
                &client,
                "SELECT tat FROM signup_allowances WHERE address = $1",
                &[&address],
            )
            .await
            .map_err(classify)?
            .map_or(Ok(now_ms), |r| r.try_get(0))
            .map_err(classify)?;
            let wait = (tat + interval - now_ms - WINDOW_MS).max(1);
            Ok(Some(u64::try_from(wait).unwrap_or(1)))
        })
        .await
    }
}
