"""What both FastAPI peers share: the seed's Pydantic models (plus the
contract's `role` and `updated_at`), argon2id with user-api's parameters, the
token scheme, SQLite's pragmas, and the access-log filter for /health."""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import secrets
from datetime import datetime, timezone

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

DATABASE = os.environ.get("PEER_DB", "fastapi.db")
SCHEMA = os.environ.get("PEER_SCHEMA", os.path.join(os.path.dirname(__file__), "..", "schema.sql"))
TOKEN_TTL = 3600  # seconds, user-api's default

# OWASP's argon2id parameters, as user-api's defaults: m=19456 KiB, t=2, p=1.
hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, hash_len=32, salt_len=16)


@functools.cache
def dummy_hash() -> str:
    """Verified for unknown emails, so a wrong email costs the time of a wrong password."""
    return hasher.hash("a password no account has")

# The same pragmas as user-api: WAL, synchronous=FULL, foreign keys on.
PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON")
BUSY_TIMEOUT_S = 5.0


def utcnow_naive() -> datetime:
    """Datetimes are stored naive in UTC, as SQLAlchemy's SQLite DATETIME does."""
    return datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)


def new_token() -> tuple[str, bytes]:
    """An opaque 256-bit token and the SHA-256 that is stored."""
    token = secrets.token_urlsafe(32)
    return token, hash_token(token)


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def verify_password(stored: str | None, password: str) -> bool:
    try:
        return hasher.verify(stored or dummy_hash(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr = Field(max_length=254)
    name: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=8, max_length=128)

    @field_validator("name")
    @classmethod
    def name_must_not_be_empty(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("Name cannot be empty")
        return v.strip()


class UserResponse(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    email: str
    name: str
    role: str
    is_active: bool
    created_at: datetime
    updated_at: datetime

    @field_validator("created_at", "updated_at")
    @classmethod
    def as_utc(cls, v: datetime) -> datetime:
        # Stored naive in UTC; rendered RFC 3339 with `Z`, as user-api does.
        return v.replace(tzinfo=timezone.utc) if v.tzinfo is None else v


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int = TOKEN_TTL


class _SkipHealth(logging.Filter):
    """Load balancers poll /health: it is not written to the access log (as
    user-api does not log it). Every other request is, as uvicorn ships."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        return not (isinstance(args, tuple) and len(args) >= 3 and args[2] == "/health")


logging.getLogger("uvicorn.access").addFilter(_SkipHealth())
