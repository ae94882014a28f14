//! Access tokens on PostgreSQL: issued, looked up on every request, revoked.

use super::{classify, engine::timed, run, user_from_row, PostgresStore, USER_BY_TOKEN};
use crate::auth::tokens::TokenHash;
use crate::domain::{User, UserId};
use crate::store::{now, Error};

impl PostgresStore {
    pub async fn insert_token(
        &self,
        hash: TokenHash,
        user: UserId,
        expires_at: i64,
    ) -> Result<bool, Error> {
        timed(async {
            let client = self.client().await?;
            // `FOR SHARE` waits for a deactivation or deletion in flight on
            // another instance, then sees its outcome: a token is never
            // issued to a user whose tokens that change just ended.
            let stmt = client
                .prepare_cached(
                    "WITH owner AS (SELECT id FROM users WHERE id = $2 AND is_active FOR SHARE)
                     INSERT INTO tokens (hash, user_id, expires_at, created_at)
                     SELECT $1, id, $3, $4 FROM owner",
                )
                .await
                .map_err(classify)?;
            client
                .execute(&stmt, &[&hash.0.as_slice(), &user.0, &expires_at, &now()])
                .await
                .map(|rows| rows == 1)
                .map_err(classify)
        })
        .await
    }

    pub async fn user_by_token(&self, hash: TokenHash, now: i64) -> Result<Option<User>, Error> {
        timed(async {
            let client = self.client().await?;
            let stmt = client
                .prepare_cached(USER_BY_TOKEN)
                .await
                .map_err(classify)?;
            client
                .query_opt(&stmt, &[&hash.0.as_slice(), &now])
                .await
                .map_err(classify)?
                .map(|r| user_from_row(&r))
                .transpose()
        })
        .await
    }

    pub async fn revoke_token(&self, hash: TokenHash) -> Result<(), Error> {
        timed(async {
            let client = self.client().await?;
            run(
                &client,
                "DELETE FROM tokens WHERE hash = $1",
                &[&hash.0.as_slice()],
            )
            .await
            .map(drop)
            .map_err(classify)
        })
        .await
    }
}
