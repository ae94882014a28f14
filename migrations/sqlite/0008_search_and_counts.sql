-- `GET /users` at a million users (issue 14): `q` through a trigram index,
-- exact totals from counter rows, the role and state filters through
-- indexes. Nothing here changes what a request answers, only what it costs.
--
-- `q` is matched on the columns the service has already folded (`email`,
-- `name_lower`, both `domain::fold`ed), so the index must not fold again:
-- `case_sensitive 1`. The index is an external-content FTS5 table over
-- `users` (it keeps only the trigrams, not a second copy of the text),
-- kept in step by the triggers below: every statement that writes `users`
-- (sign-up, admin create, PATCH, delete, import, `db copy`, a future
-- migration, an operator's own SQL) updates it in its own transaction,
-- with no path in Rust to forget. The runner fills it for the users already
-- there, in batches with progress lines (`sqlite::fill_search_index`).
CREATE VIRTUAL TABLE users_search USING fts5 (
    email,
    name_lower,
    content = 'users',
    content_rowid = 'id',
    tokenize = 'trigram case_sensitive 1',
    columnsize = 0
);

CREATE TRIGGER users_search_insert AFTER INSERT ON users BEGIN
    INSERT INTO users_search (rowid, email, name_lower)
        VALUES (new.id, new.email, new.name_lower);
END;

-- An external-content index forgets a row by being told what it indexed.
CREATE TRIGGER users_search_delete AFTER DELETE ON users BEGIN
    INSERT INTO users_search (users_search, rowid, email, name_lower)
        VALUES ('delete', old.id, old.email, old.name_lower);
END;

CREATE TRIGGER users_search_update AFTER UPDATE OF email, name_lower ON users
    WHEN old.email IS NOT new.email OR old.name_lower IS NOT new.name_lower
BEGIN
    INSERT INTO users_search (users_search, rowid, email, name_lower)
        VALUES ('delete', old.id, old.email, old.name_lower);
    INSERT INTO users_search (rowid, email, name_lower)
        VALUES (new.id, new.email, new.name_lower);
END;

-- Users per role and state, for an exact `X-Total-Count` without counting
-- a million rows: kept by triggers in the writing statement's transaction
-- (one writer on SQLite: no contention).
CREATE TABLE user_counts (
    role      TEXT    NOT NULL,
    is_active INTEGER NOT NULL,
    n         INTEGER NOT NULL,
    PRIMARY KEY (role, is_active)
) WITHOUT ROWID;

INSERT INTO user_counts (role, is_active, n)
    SELECT role, is_active, count(*) FROM users GROUP BY role, is_active;

CREATE TRIGGER user_counts_insert AFTER INSERT ON users BEGIN
    INSERT INTO user_counts (role, is_active, n) VALUES (new.role, new.is_active, 1)
        ON CONFLICT (role, is_active) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER user_counts_delete AFTER DELETE ON users BEGIN
    UPDATE user_counts SET n = n - 1 WHERE role = old.role AND is_active = old.is_active;
END;

CREATE TRIGGER user_counts_update AFTER UPDATE OF role, is_active ON users
    WHEN old.role IS NOT new.role OR old.is_active IS NOT new.is_active
BEGIN
    UPDATE user_counts SET n = n - 1 WHERE role = old.role AND is_active = old.is_active;
    INSERT INTO user_counts (role, is_active, n) VALUES (new.role, new.is_active, 1)
        ON CONFLICT (role, is_active) DO UPDATE SET n = n + 1;
END;

-- A page of one role or one state in id order without a scan: an SQLite
-- index ends with the rowid, so `(role)` is `(role, id)`. Both filters use
-- `users_active_admins (role, is_active)` (migration 1), `(role, is_active,
-- id)` in the same way.
CREATE INDEX users_by_role ON users (role);
CREATE INDEX users_by_state ON users (is_active);
