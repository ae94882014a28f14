"""The seed's FastAPI User API with raw SQL over the standard library's
sqlite3 module.

Reads run inline on the event loop, on one connection per worker process: a
primary-key read of a local SQLite file takes microseconds, less than a hop to
a thread (the same reasoning, and the same design, as user-api's reads).
Writes (a commit waits for fsync) and argon2 (tens of milliseconds of CPU)
run in the threadpool, never on the event loop; there is one write
connection, behind a lock, since SQLite has one writer at a time.

Run: uvicorn app_raw:app --loop uvloop --http httptools (see bench/README.md).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm

from common import (
    BUSY_TIMEOUT_S,
    DATABASE,
    PRAGMAS,
    SCHEMA,
    TOKEN_TTL,
    TokenResponse,
    UserCreate,
    UserResponse,
    hash_token,
    hasher,
    new_token,
    utcnow_naive,
    verify_password,
)

USER_COLUMNS = "id, email, name, role, is_active, created_at, updated_at"
SQL_USER_BY_TOKEN = (
    "SELECT u.id, u.email, u.name, u.role, u.is_active, u.created_at, u.updated_at "
    "FROM tokens t JOIN users u ON u.id = t.user_id "
    "WHERE t.token_hash = ? AND t.expires_at > ? AND u.is_active = 1"
)
SQL_USER_BY_ID = f"SELECT {USER_COLUMNS} FROM users WHERE id = ?"
SQL_LIST_USERS = f"SELECT {USER_COLUMNS} FROM users ORDER BY id LIMIT ? OFFSET ?"
SQL_CREDENTIALS = "SELECT id, hashed_password, is_active FROM users WHERE email = ?"
SQL_INSERT_USER = (
    "INSERT INTO users (email, name, role, is_active, hashed_password, created_at, updated_at) "
    f"VALUES (?, ?, 'user', 1, ?, ?, ?) RETURNING {USER_COLUMNS}"
)
SQL_INSERT_TOKEN = "INSERT INTO tokens (token_hash, user_id, expires_at, created_at) VALUES (?, ?, ?, ?)"


def connect() -> sqlite3.Connection:
    conn = sqlite3.connect(
        DATABASE,
        timeout=BUSY_TIMEOUT_S,
        isolation_level=None,  # explicit transactions
        check_same_thread=False,
        cached_statements=64,
    )
    conn.row_factory = sqlite3.Row
    for pragma in PRAGMAS:
        conn.execute(pragma)
    return conn


def stored_now() -> str:
    """Now, as SQLAlchemy's SQLite DATETIME stores it (Pydantic parses it back)."""
    return utcnow_naive().isoformat(" ", "microseconds")


class Database:
    def __init__(self) -> None:
        self.writer = connect()
        with open(SCHEMA) as f:
            self.writer.executescript(f.read())
        self.reader = connect()
        self.write_lock = threading.Lock()

    # Reads: inline on the event loop's thread.
    def user_by_token(self, token: str) -> sqlite3.Row | None:
        return self.reader.execute(SQL_USER_BY_TOKEN, (hash_token(token), int(time.time()))).fetchone()

    def get_user(self, user_id: int) -> sqlite3.Row | None:
        return self.reader.execute(SQL_USER_BY_ID, (user_id,)).fetchone()

    def get_users(self, skip: int, limit: int) -> list[sqlite3.Row]:
        return self.reader.execute(SQL_LIST_USERS, (limit, skip)).fetchall()

    def credentials(self, email: str) -> sqlite3.Row | None:
        return self.reader.execute(SQL_CREDENTIALS, (email,)).fetchone()

    # Writes: in the threadpool, one at a time.
    def create_user(self, email: str, name: str, hashed_password: str) -> sqlite3.Row:
        now = stored_now()
        with self.write_lock:
            self.writer.execute("BEGIN IMMEDIATE")
            try:
                row = self.writer.execute(SQL_INSERT_USER, (email, name, hashed_password, now, now)).fetchone()
                self.writer.execute("COMMIT")
            except BaseException:
                self.writer.execute("ROLLBACK")
                raise
        return row

    def create_token(self, token_hash: bytes, user_id: int) -> None:
        with self.write_lock:
            self.writer.execute(
                SQL_INSERT_TOKEN, (token_hash, user_id, int(time.time()) + TOKEN_TTL, stored_now())
            )  # autocommit: one statement, one transaction


db: Database


@asynccontextmanager
async def lifespan(_: FastAPI):
    global db
    db = Database()
    yield
    db.writer.close()
    db.reader.close()


app = FastAPI(title="User API", description="The seed's FastAPI User API, raw SQL", version="1.0.0", lifespan=lifespan)
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token")


async def get_current_user(token: Annotated[str, Depends(oauth2_scheme)]) -> sqlite3.Row:
    user = db.user_by_token(token)
    if user is None:
        raise HTTPException(
            status_code=401, detail="Invalid token", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
        )
    return user


CurrentUser = Annotated[sqlite3.Row, Depends(get_current_user)]


@app.get("/health")
async def health():
    return {"status": "healthy"}


@app.post("/users", response_model=UserResponse, status_code=201)
async def create_user(user: UserCreate, response: Response):
    """Create a new user."""
    email = user.email.strip().lower()
    if db.credentials(email) is not None:
        raise HTTPException(status_code=400, detail="Email already registered")
    hashed_password = await run_in_threadpool(hasher.hash, user.password)
    try:
        new_user = await run_in_threadpool(db.create_user, email, user.name, hashed_password)
    except sqlite3.IntegrityError:
        raise HTTPException(status_code=400, detail="Email already registered")
    response.headers["Location"] = f"/users/{new_user['id']}"
    return dict(new_user)


@app.post("/token", response_model=TokenResponse)
async def login(form: Annotated[OAuth2PasswordRequestForm, Depends()]):
    """OAuth2 password grant: a new opaque token, only its SHA-256 stored."""
    row = db.credentials(form.username.strip().lower())
    ok = await run_in_threadpool(verify_password, row["hashed_password"] if row else None, form.password)
    if not ok or not row["is_active"]:
        return JSONResponse(
            status_code=400,
            content={"error": "invalid_grant", "error_description": "Incorrect email or password"},
        )
    token, token_hash = new_token()
    await run_in_threadpool(db.create_token, token_hash, row["id"])
    return JSONResponse(
        {"access_token": token, "token_type": "bearer", "expires_in": TOKEN_TTL},
        headers={"Cache-Control": "no-store"},
    )


@app.get("/users/me", response_model=UserResponse)
async def read_me(current_user: CurrentUser):
    return dict(current_user)


@app.get("/users", response_model=list[UserResponse])
async def list_users(
    current_user: CurrentUser,
    skip: int = Query(0, ge=0),
    limit: int = Query(10, ge=1, le=100),
):
    """List all users with pagination (admins only)."""
    if current_user["role"] != "admin":
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="Admins only")
    return [dict(u) for u in db.get_users(skip, limit)]


@app.get("/users/{user_id}", response_model=UserResponse)
async def get_user(user_id: int, current_user: CurrentUser):
    """Get a specific user by ID: the user, or an admin (the seed's Gin twin
    requires a token here; its FastAPI version did not)."""
    if current_user["id"] != user_id and current_user["role"] != "admin":
        raise HTTPException(status_code=404, detail="User not found")
    user = db.get_user(user_id)
    if user is None:
        raise HTTPException(status_code=404, detail="User not found")
    return dict(user)
