-- Email verification and password reset (the contract's "Email").
-- Existing admins count as verified (an operator created them); everyone
-- else starts unverified.
ALTER TABLE users ADD COLUMN email_verified INTEGER NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1));
UPDATE users SET email_verified = 1 WHERE role = 'admin';

-- The mail outbox: a request to mail someone, written in the transaction of
-- the request or change that asks for it, so an acknowledged request is
-- mailed even across a crash. Separate from `events`: mail requests are no
-- user events. It holds no token: the token is derived at send time from
-- `nonce` and the secret file (mail::secret), which is not in the database.
-- `user_id` is NULL for an anonymous request (`POST /password-reset`): the
-- sender resolves `email` then, after the request was answered.
CREATE TABLE mail_outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT    NOT NULL CHECK (kind IN ('password_reset', 'verification', 'email_changed')),
    email           TEXT    NOT NULL,
    user_id         INTEGER,
    nonce           BLOB    NOT NULL,
    prepared        INTEGER NOT NULL DEFAULT 0, -- its token (if any) is stored: a retry sends the same link
    created_at      INTEGER NOT NULL, -- unix milliseconds, UTC
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    failed_at       INTEGER,
    last_error      TEXT
);
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE failed_at IS NULL;

-- The newest link of each kind per user: only SHA-256 of its token.
CREATE TABLE mail_tokens (
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind       TEXT    NOT NULL CHECK (kind IN ('password_reset', 'verification')),
    hash       BLOB    NOT NULL UNIQUE,
    expires_at INTEGER NOT NULL, -- unix seconds, UTC
    PRIMARY KEY (user_id, kind)
) WITHOUT ROWID;

-- Mails sent per account and kind, for "at most 3 an hour"; pruned after
-- the hour.
CREATE TABLE mail_sends (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind    TEXT    NOT NULL,
    sent_at INTEGER NOT NULL -- unix seconds, UTC
);
CREATE INDEX mail_sends_by_account ON mail_sends (user_id, kind, sent_at);
