-- The peers' schema (FastAPI raw SQL, FastAPI + SQLAlchemy, Gin): the
-- seed's User model plus the contract's `role` and `updated_at`, and the same
-- token scheme as user-api (only the SHA-256 of an opaque token is stored,
-- with its expiry in unix seconds). Datetimes are stored as SQLAlchemy's
-- SQLite DATETIME stores them ('YYYY-MM-DD HH:MM:SS.ffffff', UTC), which
-- go-sqlite3 and Python's datetime.fromisoformat also read.
CREATE TABLE IF NOT EXISTS users (
    id              INTEGER PRIMARY KEY,
    email           VARCHAR(254) NOT NULL UNIQUE,
    name            VARCHAR(100) NOT NULL,
    role            VARCHAR(5)   NOT NULL DEFAULT 'user',
    is_active       BOOLEAN      NOT NULL DEFAULT 1,
    hashed_password VARCHAR      NOT NULL,
    created_at      DATETIME     NOT NULL,
    updated_at      DATETIME     NOT NULL
);

CREATE TABLE IF NOT EXISTS tokens (
    token_hash BLOB     NOT NULL PRIMARY KEY,
    user_id    INTEGER  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at INTEGER  NOT NULL,
    created_at DATETIME NOT NULL
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS ix_tokens_user_id ON tokens (user_id);
