-- Accounts and their access tokens.
--
-- `email` is stored lower-cased by the service (Unicode lower-casing, not the
-- database's collation), so a plain UNIQUE holds "unique ignoring case".
-- AUTOINCREMENT makes SQLite never reuse an id, even the highest one after
-- it is deleted (the contract: "never reused").
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email         TEXT    NOT NULL UNIQUE,
    name          TEXT    NOT NULL,
    -- The name lower-cased by the service, for the case-insensitive `q` filter.
    name_lower    TEXT    NOT NULL,
    role          TEXT    NOT NULL CHECK (role IN ('user', 'admin')),
    is_active     INTEGER NOT NULL DEFAULT 1 CHECK (is_active IN (0, 1)),
    password_hash TEXT    NOT NULL,
    -- Grows with every change; the strong ETag is made from it.
    version       INTEGER NOT NULL DEFAULT 1,
    created_at    INTEGER NOT NULL, -- unix seconds, UTC
    updated_at    INTEGER NOT NULL
);

CREATE INDEX users_active_admins ON users (role, is_active);

-- Only the SHA-256 of a token is kept: a copy of the database lets no one in.
CREATE TABLE tokens (
    hash       BLOB    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE INDEX tokens_by_user ON tokens (user_id);
CREATE INDEX tokens_by_expiry ON tokens (expires_at);
