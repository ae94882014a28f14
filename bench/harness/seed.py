"""Seeds a store directly (no sign-ups): N users who all share one
precomputed argon2id PHC string, and one known bearer token per user, stored
as its SHA-256 with an expiry a month ahead. User 1 is the admin.

Both schemas hold the same data: user-api's (migrations/sqlite, created by
`user-api migrate`) and the peers' (bench/peers/schema.sql)."""

from __future__ import annotations

import base64
import hashlib
import sqlite3
import subprocess
import time
from pathlib import Path

CREATED_AT = 1767225600  # 2026-01-01T00:00:00Z
CREATED_AT_TEXT = "2026-01-01 00:00:00.000000"  # the same instant, as the peers store it
PASSWORD = "bench password shared by every seeded user"
SIGNUP_PASSWORD = "a fresh passphrase for each new account"


def token_for(user_id: int) -> str:
    """A known opaque token per user: 43 base64url characters, like user-api's."""
    digest = hashlib.sha256(f"user-api bench token {user_id}".encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def email_for(user_id: int) -> str:
    return "admin@example.com" if user_id == 1 else f"user{user_id}@example.com"


def _rows(users: int):
    for i in range(1, users + 1):
        yield i, email_for(i), ("Bench Admin" if i == 1 else f"Bench User {i}"), ("admin" if i == 1 else "user")


def seed(kind: str, db: Path, users: int, phc: str, schema_sql: str | None = None) -> None:
    """`kind` is "user-api" (db already migrated) or "peer" (schema_sql is run)."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        if conn.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower() != "wal":
            raise RuntimeError(f"{db}: cannot switch to WAL")
        if kind == "peer":
            conn.executescript(schema_sql or "")
        now = int(time.time())
        expires = now + 30 * 86400
        conn.execute("BEGIN")
        tokens = [(hashlib.sha256(token_for(i).encode()).digest(), i) for i in range(1, users + 1)]
        if kind == "user-api":
            conn.executemany(
                "INSERT INTO users (id, email, name, name_lower, role, is_active, password_hash, version, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, 1, ?, 1, ?, ?)",
                ((i, e, n, n.lower(), r, phc, CREATED_AT, CREATED_AT) for i, e, n, r in _rows(users)),
            )
            conn.executemany(
                "INSERT INTO tokens (hash, user_id, expires_at, created_at) VALUES (?, ?, ?, ?)",
                ((h, i, expires, now) for h, i in tokens),
            )
        elif kind == "peer":
            conn.executemany(
                "INSERT INTO users (id, email, name, role, is_active, hashed_password, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, 1, ?, ?, ?)",
                ((i, e, n, r, phc, CREATED_AT_TEXT, CREATED_AT_TEXT) for i, e, n, r in _rows(users)),
            )
            conn.executemany(
                "INSERT INTO tokens (token_hash, user_id, expires_at, created_at) VALUES (?, ?, ?, ?)",
                ((h, i, expires, CREATED_AT_TEXT) for h, i in tokens),
            )
        else:
            raise ValueError(kind)
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def write_tokens(path: Path, users: int) -> None:
    """"id token" lines for the wrk scripts."""
    path.write_text("".join(f"{i} {token_for(i)}\n" for i in range(1, users + 1)))


def seed_postgres(kind: str, url: str, users: int, phc: str, schema_sql: str | None = None,
                  timeout: float = 120) -> None:
    """The same users and tokens into a PostgreSQL database, in one
    transaction of two COPYs through psql (no driver in the harness's
    virtualenv). `kind` is "user-api" (already migrated by the binary that
    will serve it) or "peer" (schema_sql is run first). The identity
    sequence is moved past the seeded ids, so sign-ups get new ones."""
    now = int(time.time())
    expires = now + 30 * 86400
    out = ["\\set ON_ERROR_STOP on", "BEGIN;"]
    if kind == "peer":
        out.append(schema_sql or "")
        out.append("COPY users (id, email, name, role, is_active, hashed_password, created_at, updated_at) FROM STDIN;")
        stamp = "2026-01-01 00:00:00"
        out += [f"{i}\t{e}\t{n}\t{r}\tt\t{phc}\t{stamp}\t{stamp}" for i, e, n, r in _rows(users)]
        out.append("\\.")
        out.append("COPY tokens (token_hash, user_id, expires_at, created_at) FROM STDIN;")
        out += [f"\\\\x{hashlib.sha256(token_for(i).encode()).hexdigest()}\t{i}\t{expires}\t{stamp}"
                for i in range(1, users + 1)]
    elif kind == "user-api":
        out.append("COPY users (id, email, name, name_lower, role, is_active, password_hash, version, created_at,"
                   " updated_at) FROM STDIN;")
        out += [f"{i}\t{e}\t{n}\t{n.lower()}\t{r}\tt\t{phc}\t1\t{CREATED_AT}\t{CREATED_AT}" for i, e, n, r in _rows(users)]
        out.append("\\.")
        out.append("COPY tokens (hash, user_id, expires_at, created_at) FROM STDIN;")
        out += [f"\\\\x{hashlib.sha256(token_for(i).encode()).hexdigest()}\t{i}\t{expires}\t{now}"
                for i in range(1, users + 1)]
    else:
        raise ValueError(kind)
    out.append("\\.")
    out.append("SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT max(id) FROM users));")
    out.append("COMMIT;")
    out.append("ANALYZE;")
    r = subprocess.run(["psql", url, "-X", "-q", "-o", "/dev/null"], input="\n".join(out) + "\n", text=True,
                       capture_output=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"seeding {url}: psql exited {r.returncode}: {r.stderr[-1000:]}")
