"""The seed's FastAPI User API with raw SQL on PostgreSQL through asyncpg:
the same endpoints and queries as app_raw.py (SQLite), for the benchmark's
PostgreSQL set.

One asyncpg pool per worker process with asyncpg's defaults (10
connections), TLS off (`ssl=False`, as every client of the set); asyncpg
prepares each statement once per connection and caches it, so every request
is one Bind/Execute round trip per query. Argon2 (tens of milliseconds of
CPU) runs in the threadpool, never on the event loop. The schema
(../schema-postgres.sql) is made by the harness before the peer starts.

Run: PEER_DATABASE_URL=postgres://… uvicorn app_pg:app --loop uvloop --http httptools
"""

from __future__ import annotations

import os
import time
from contextlib import asynccontextmanager
from typing import Annotated

import asyncpg
from fastapi import Depends, FastAPI, HTTPException, Query, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm

from common import (
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

DATABASE_URL = os.environ.get("PEER_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_fastapi")

USER_COLUMNS = "id, email, name, role, is_active, created_at, updated_at"
SQL_USER_BY_TOKEN = (
    "SELECT u.id, u.email, u.name, u.role, u.is_active, u.created_at, u.updated_at "
    "FROM tokens t JOIN users u ON u.id = t.user_id "
    "WHERE t.token_hash = $1 AND t.expires_at > $2 AND u.is_active"
)
SQL_USER_BY_ID = f"SELECT {USER_COLUMNS} FROM users WHERE id = $1"
SQL_LIST_USERS = f"SELECT {USER_COLUMNS} FROM users ORDER BY id LIMIT $1 OFFSET $2"
SQL_CREDENTIALS = "SELECT id, hashed_password, is_active FROM users WHERE email = $1"
SQL_INSERT_USER = (
    "INSERT INTO users (email, name, role, is_active, hashed_password, created_at, updated_at) "
    f"VALUES ($1, $2, 'user', TRUE, $3, $4, $4) RETURNING {USER_COLUMNS}"
)
SQL_INSERT_TOKEN = "INSERT INTO tokens (token_hash, user_id, expires_at, created_at) VALUES ($1, $2, $3, $4)"

pool: asyncpg.Pool


@asynccontextmanager
async def lifespan(_: FastAPI):
    global pool
    pool = await asyncpg.create_pool(DATABASE_URL, ssl=False)
    yield
    await pool.close()


app = FastAPI(title="User API", description="The seed's FastAPI User API, raw SQL on PostgreSQL", version="1.0.0",
              lifespan=lifespan)
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token")


async def get_current_user(token: Annotated[str, Depends(oauth2_scheme)]) -> asyncpg.Record:
    user = await pool.fetchrow(SQL_USER_BY_TOKEN, hash_token(token), int(time.time()))
    if user is None:
        raise HTTPException(
            status_code=401, detail="Invalid token", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
        )
    return user


CurrentUser = Annotated[asyncpg.Record, Depends(get_current_user)]


@app.get("/health")
async def health():
    return {"status": "healthy"}


@app.post("/users", response_model=UserResponse, status_code=201)
async def create_user(user: UserCreate, response: Response):
    """Create a new user."""
    email = user.email.strip().lower()
    if await pool.fetchrow(SQL_CREDENTIALS, email) is not None:
        raise HTTPException(status_code=400, detail="Email already registered")
    hashed_password = await run_in_threadpool(hasher.hash, user.password)
    try:
        new_user = await pool.fetchrow(SQL_INSERT_USER, email, user.name, hashed_password, utcnow_naive())
    except asyncpg.UniqueViolationError:
        raise HTTPException(status_code=400, detail="Email already registered")
    response.headers["Location"] = f"/users/{new_user['id']}"
    return dict(new_user)


@app.post("/token", response_model=TokenResponse)
async def login(form: Annotated[OAuth2PasswordRequestForm, Depends()]):
    """OAuth2 password grant: a new opaque token, only its SHA-256 stored."""
    row = await pool.fetchrow(SQL_CREDENTIALS, form.username.strip().lower())
    ok = await run_in_threadpool(verify_password, row["hashed_password"] if row else None, form.password)
    if not ok or not row["is_active"]:
        return JSONResponse(
            status_code=400,
            content={"error": "invalid_grant", "error_description": "Incorrect email or password"},
        )
    token, token_hash = new_token()
    await pool.execute(SQL_INSERT_TOKEN, token_hash, row["id"], int(time.time()) + TOKEN_TTL, utcnow_naive())
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
    return [dict(u) for u in await pool.fetch(SQL_LIST_USERS, limit, skip)]


@app.get("/users/{user_id}", response_model=UserResponse)
async def get_user(user_id: int, current_user: CurrentUser):
    """Get a specific user by ID: the user, or an admin."""
    if current_user["id"] != user_id and current_user["role"] != "admin":
        raise HTTPException(status_code=404, detail="User not found")
    user = await pool.fetchrow(SQL_USER_BY_ID, user_id)
    if user is None:
        raise HTTPException(status_code=404, detail="User not found")
    return dict(user)
