"""The seed's FastAPI User API on the SQLAlchemy 2 async ORM, as the FastAPI
project template structures it: declarative models, an `AsyncSession` per
request from a dependency, `select()` statements, aiosqlite underneath.

Argon2 runs in the threadpool, never on the event loop.

Run: uvicorn app_orm:app --loop uvloop --http httptools (see bench/README.md).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm
from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, LargeBinary, String, event, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from common import (
    BUSY_TIMEOUT_S,
    DATABASE,
    PRAGMAS,
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


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(5), default="user")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    hashed_password: Mapped[str] = mapped_column(String)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow_naive)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow_naive)


class Token(Base):
    __tablename__ = "tokens"
    __table_args__ = {"sqlite_with_rowid": False}

    token_hash: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow_naive)


engine = create_async_engine(
    f"sqlite+aiosqlite:///{DATABASE}",
    connect_args={"timeout": BUSY_TIMEOUT_S},
    pool_size=10,  # reads in parallel; SQLite serialises the writes itself
    max_overflow=0,
)


@event.listens_for(engine.sync_engine, "connect")
def _set_sqlite_pragmas(dbapi_connection, _record) -> None:
    # The same pragmas as user-api: WAL, synchronous=FULL, foreign keys on.
    cursor = dbapi_connection.cursor()
    for pragma in PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


SessionLocal = async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def lifespan(_: FastAPI):
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    yield
    await engine.dispose()


app = FastAPI(title="User API", description="The seed's FastAPI User API, SQLAlchemy 2 async ORM", version="1.0.0", lifespan=lifespan)
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token")


async def get_db() -> AsyncIterator[AsyncSession]:
    async with SessionLocal() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_db)]


async def get_current_user(token: Annotated[str, Depends(oauth2_scheme)], db: SessionDep) -> User:
    stmt = (
        select(User)
        .join(Token, Token.user_id == User.id)
        .where(Token.token_hash == hash_token(token), Token.expires_at > int(time.time()), User.is_active.is_(True))
    )
    user = (await db.execute(stmt)).scalar_one_or_none()
    if user is None:
        raise HTTPException(
            status_code=401, detail="Invalid token", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
        )
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


@app.get("/health")
async def health():
    return {"status": "healthy"}


@app.post("/users", response_model=UserResponse, status_code=201)
async def create_user(user: UserCreate, db: SessionDep, response: Response):
    """Create a new user."""
    email = user.email.strip().lower()
    existing = (await db.execute(select(User.id).where(User.email == email))).first()
    if existing:
        raise HTTPException(status_code=400, detail="Email already registered")
    hashed_password = await run_in_threadpool(hasher.hash, user.password)
    new_user = User(email=email, name=user.name, hashed_password=hashed_password)
    db.add(new_user)
    try:
        await db.commit()
    except IntegrityError:
        await db.rollback()
        raise HTTPException(status_code=400, detail="Email already registered")
    response.headers["Location"] = f"/users/{new_user.id}"
    return new_user


@app.post("/token", response_model=TokenResponse)
async def login(form: Annotated[OAuth2PasswordRequestForm, Depends()], db: SessionDep):
    """OAuth2 password grant: a new opaque token, only its SHA-256 stored."""
    user = (await db.execute(select(User).where(User.email == form.username.strip().lower()))).scalar_one_or_none()
    ok = await run_in_threadpool(verify_password, user.hashed_password if user else None, form.password)
    if not ok or not user.is_active:
        return JSONResponse(
            status_code=400,
            content={"error": "invalid_grant", "error_description": "Incorrect email or password"},
        )
    token, token_hash = new_token()
    db.add(Token(token_hash=token_hash, user_id=user.id, expires_at=int(time.time()) + TOKEN_TTL))
    await db.commit()
    return JSONResponse(
        {"access_token": token, "token_type": "bearer", "expires_in": TOKEN_TTL},
        headers={"Cache-Control": "no-store"},
    )


@app.get("/users/me", response_model=UserResponse)
async def read_me(current_user: CurrentUser):
    return current_user


@app.get("/users", response_model=list[UserResponse])
async def list_users(
    current_user: CurrentUser,
    db: SessionDep,
    skip: int = Query(0, ge=0),
    limit: int = Query(10, ge=1, le=100),
):
    """List all users with pagination (admins only)."""
    if current_user.role != "admin":
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="Admins only")
    return (await db.execute(select(User).order_by(User.id).offset(skip).limit(limit))).scalars().all()


@app.get("/users/{user_id}", response_model=UserResponse)
async def get_user(user_id: int, current_user: CurrentUser, db: SessionDep):
    """Get a specific user by ID: the user, or an admin (the seed's Gin twin
    requires a token here; its FastAPI version did not)."""
    if current_user.id != user_id and current_user.role != "admin":
        raise HTTPException(status_code=404, detail="User not found")
    user = await db.get(User, user_id)
    if user is None:
        raise HTTPException(status_code=404, detail="User not found")
    return user
