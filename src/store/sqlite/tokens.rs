//! Access tokens on SQLite: issued, looked up on every request, revoked.

use rusqlite::{params, OptionalExtension};

use super::{classify, user_from_row, SqliteStore};
use crate::auth::tokens::TokenHash;
use crate::domain::{User, UserId};
use crate::store::{now, Error};

impl SqliteStore {
    pub async fn insert_token(
        &self,
        hash: TokenHash,
        user: UserId,
        expires_at: i64,
    ) -> Result<bool, Error> {
        self.write(move |conn| {
            conn.prepare_cached(
                "INSERT INTO tokens (hash, user_id, expires_at, created_at)
                 SELECT ?1, id, ?3, ?4 FROM users WHERE id = ?2 AND is_active = 1",
            )
            .and_then(|mut s| s.execute(params![hash.0, user.0, expires_at, now()]))
            .map(|rows| rows == 1)
            .map_err(classify)
        })
        .await
    }

    pub fn user_by_token(&self, hash: TokenHash, now: i64) -> Result<Option<User>, Error> {
        self.read(|c| {
            c.prepare_cached(
                "SELECT u.id, u.email, u.name, u.role, u.is_active, u.created_at, u.updated_at, u.version,
                        u.email_verified
                 FROM tokens t JOIN users u ON u.id = t.user_id
                 WHERE t.hash = ?1 AND t.expires_at > ?2 AND u.is_active = 1",
            )?
            .query_row(params![hash.0, now], user_from_row)
            .optional()
        })
    }

    pub async fn revoke_token(&self, hash: TokenHash) -> Result<(), Error> {
        self.write(move |conn| {
            conn.execute("DELETE FROM tokens WHERE hash = ?1", [hash.0])
                .map(drop)
                .map_err(classify)
        })
        .await
    }
}
