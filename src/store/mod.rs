//! Storage: every read and write of accounts and tokens, named by intent.
//! SQL lives here and nowhere else; no HTTP types, no hashing.
//!
//! One `Store` enum over the backends, dispatched by `match` (no boxing, no
//! `async_trait`). A rule both backends apply that is not SQL (what a
//! reused idempotency key means, which tokens a change ends, how a stored
//! role reads) is written here once; each backend only runs SQL.
//!
//! Why rusqlite, called inline for reads: measured on this kind of machine
//! (2 cores, server pinned to one, shared/MEASURED.md), an authenticated
//! `GET /users/{id}` did 106–111k req/s with rusqlite prepared statements
//! called directly in a minimal handler, 90–99k through a dedicated DB
//! thread and 62k with `spawn_blocking` over a pool, against 25k for Gin.
//! Measured again on this service as a whole (2026-11-23, release build,
//! 10,000 users, `taskset -c 1` server, `wrk -t1 -c64` on the other core,
//! same binary but for the read path): inline 26–32k req/s, p99 3.7–4.7 ms;
//! `spawn_blocking` 10–11k req/s, p99 12.5–13 ms. A primary-key read costs
//! a few microseconds, less than any hand-off to another thread; sqlx's
//! SQLite driver hands every statement to a worker thread. Writes do go to
//! one writer thread: a commit's fsync (~0.3 ms) or a lock wait must never
//! stall an async worker, and SQLite admits one writer at a time anyway, so
//! queueing them in-process costs nothing and avoids lock waits.

/// The columns a `User` is read from, in the order both backends' row
/// readers expect. A macro so hot reads are `concat!`ed constants, not a
/// `format!` per request; defined before the backends so both see it.
macro_rules! user_columns {
    () => {
        "id, email, name, role, is_active, created_at, updated_at, version, email_verified"
    };
}

/// Runs the same call on whichever backend the store is.
macro_rules! on_backend {
    ($store:expr, $backend:ident => $call:expr) => {
        match $store {
            Store::Sqlite($backend) => $call,
            Store::Postgres($backend) => $call,
        }
    };
}

pub mod backup;
mod canonical;
pub mod copy;
pub mod mail;
mod migrations;
pub mod outbox;
mod postgres;
mod sqlite;
pub mod transfer;
mod url;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::auth::tokens::TokenHash;
use crate::domain::policy::Revocation;
use crate::domain::throttle::{ThrottleRules, Throttled, Verdict};
use crate::domain::{Email, Role, User, UserId, UserName};
use outbox::{EventPage, SinkProgress, SinkWork, StoredEvent};

pub use migrations::LATEST_VERSION;
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
pub use url::{DatabaseUrl, PostgresTarget, RootCerts, SslMode};

/// What went wrong in storage, named for what it means to the caller.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("no such user")]
    NotFound,
    #[error("email already registered")]
    EmailTaken,
    #[error("the change would leave no active admin")]
    LastAdmin,
    #[error("the user changed since the version the client saw")]
    StaleVersion,
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error(
        "database is at schema version {found}, newer than this binary's {known}; upgrade user-api"
    )]
    NewerSchema { found: i64, known: i64 },
    /// Migration 4 found accounts whose emails are one under the canonical
    /// form (`store::canonical`); nothing was changed.
    #[error(
        "schema migration 4 stopped, nothing changed: accounts would share an email under the canonical form ({0}); change or delete all but one with the previous version of user-api, then migrate again"
    )]
    EmailsCollide(String),
    /// A database the service cannot work with safely (e.g. no WAL).
    #[error("{0}")]
    Unsupported(String),
    #[error("database error: {0}")]
    Internal(String),
}

/// An argon2id PHC string: a target for offline guessing, so it never
/// prints (`Debug` is redacted, there is no `Display`).
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(pub String);

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash(<redacted>)")
    }
}

/// A user to insert; the password is already hashed.
#[derive(Debug, Clone)]
pub struct NewUserRow {
    pub email: Email,
    pub name: UserName,
    pub role: Role,
    pub password_hash: PasswordHash,
    pub email_verified: bool,
    /// Queue a verification mail in the same transaction (mail is on and
    /// the account starts unverified).
    pub mail_verification: bool,
}

/// A PATCH after authorization; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserChanges {
    pub email: Option<Email>,
    pub name: Option<UserName>,
    pub password_hash: Option<PasswordHash>,
    pub is_active: Option<bool>,
    pub role: Option<Role>,
    /// An admin's, or a reset's or verification's.
    pub email_verified: Option<bool>,
    /// The password is set by a reset link: `user.signed_out` says
    /// `password_reset`.
    pub password_reset: bool,
    /// Mails queued in the same transaction (an email change's).
    pub mail: Vec<mail::MailRequest>,
}

impl UserChanges {
    /// `email_verified` after the change: as set, else false when the
    /// email changes (the new address is unproven), else unchanged.
    pub fn verified_after(&self, current: &User) -> Option<bool> {
        self.email_verified.or_else(|| {
            self.email
                .as_ref()
                .is_some_and(|e| *e != current.email)
                .then_some(false)
        })
    }

    /// Whether the email changes: its open links stop working.
    pub fn changes_email(&self, current: &User) -> bool {
        self.email.as_ref().is_some_and(|e| *e != current.email)
    }

    /// Whether applying these to `current` changes anything: a PATCH that
    /// sets every field to the value it has writes nothing, keeps its
    /// version and emits no event. A password set always changes something
    /// (a new salt, and its tokens end).
    pub fn changes_anything(&self, current: &User) -> bool {
        self.password_hash.is_some()
            || self.email.as_ref().is_some_and(|e| *e != current.email)
            || self
                .name
                .as_ref()
                .is_some_and(|n| n.as_str() != current.name)
            || self.is_active.is_some_and(|a| a != current.is_active)
            || self.role.is_some_and(|r| r != current.role)
            || self
                .email_verified
                .is_some_and(|v| v != current.email_verified)
    }

    /// The row these changes make of `current` at `at`: each field set or
    /// kept, the version one up. Known before the UPDATE runs, so a backend
    /// can send the change's events with it; the UPDATE's own row is then
    /// checked against it.
    pub fn applied_to(&self, current: &User, at: i64) -> User {
        User {
            id: current.id,
            email: self.email.clone().unwrap_or_else(|| current.email.clone()),
            name: self
                .name
                .as_ref()
                .map_or_else(|| current.name.clone(), |n| n.as_str().to_owned()),
            role: self.role.unwrap_or(current.role),
            is_active: self.is_active.unwrap_or(current.is_active),
            email_verified: self
                .verified_after(current)
                .unwrap_or(current.email_verified),
            created_at: current.created_at,
            updated_at: at,
            version: current.version + 1,
        }
    }
}

/// Which tokens of the user a change ends, and whose survives.
#[derive(Clone, Copy)]
pub struct TokenRevocation {
    pub scope: Revocation,
    pub keep: Option<TokenHash>,
}

/// `GET /users` filters; the page is a separate `Page`.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Folded by the caller (`domain::fold`); matched literally.
    pub q: Option<String>,
    pub is_active: Option<bool>,
    pub role: Option<Role>,
}

impl UserFilter {
    /// No filter at all: every user matches.
    pub fn is_empty(&self) -> bool {
        self.text() == TextMatch::Any && self.is_active.is_none() && self.role.is_none()
    }

    /// How `q` is matched; the same decision on both backends, so both
    /// answer alike (`tests/api/users/search.rs` holds them to the scan).
    pub(crate) fn text(&self) -> TextMatch<'_> {
        match self.q.as_deref() {
            // The empty string is a substring of every email: all match.
            None | Some("") => TextMatch::Any,
            // No stored email or name holds NUL (PostgreSQL text cannot,
            // and the FTS5 tokenizer skips it), so nothing matches.
            Some(q) if q.contains('\0') => TextMatch::Nothing,
            Some(q) if q.chars().count() >= TRIGRAM => TextMatch::Indexed(q),
            Some(q) => TextMatch::Scan(q),
        }
    }
}

/// Characters in a trigram: the shortest `q` a trigram index can answer.
const TRIGRAM: usize = 3;

/// What `q` asks of the store: literal substring of the (folded) email or
/// name, found through the backend's trigram index (SQLite FTS5 `trigram`,
/// PostgreSQL `pg_trgm`) and rechecked exactly, or by a scan when it is too
/// short for trigrams (1–2 characters: slow on a big store, documented).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextMatch<'a> {
    Any,
    Nothing,
    Indexed(&'a str),
    Scan(&'a str),
}

#[derive(Debug, Clone, Copy)]
pub enum Page {
    Offset {
        skip: u64,
        limit: u32,
    },
    After {
        id: i64,
        limit: u32,
    },
    /// The `limit` matches just below `id` (the console's "previous page"):
    /// keyset like `After`, so a deep page costs what the first does.
    Before {
        id: i64,
        limit: u32,
    },
}

/// A page as one statement shape reads it: `id > after AND id < before`,
/// `OFFSET skip`, `LIMIT limit`, by id descending when `descending` (then
/// `in_order` puts the rows back in ascending order).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PageBounds {
    pub after: i64,
    pub before: i64,
    pub skip: i64,
    pub limit: i64,
    pub descending: bool,
}

impl Page {
    /// The bounds of this page (`after` 0, `before` `i64::MAX` and `skip`
    /// 0 mean "from the start").
    pub(crate) fn bounds(self) -> PageBounds {
        let from_start = PageBounds {
            after: 0,
            before: i64::MAX,
            skip: 0,
            limit: 0,
            descending: false,
        };
        match self {
            Page::Offset { skip, limit } => PageBounds {
                skip: i64::try_from(skip).unwrap_or(i64::MAX),
                limit: limit.into(),
                ..from_start
            },
            Page::After { id, limit } => PageBounds {
                after: id,
                limit: limit.into(),
                ..from_start
            },
            Page::Before { id, limit } => PageBounds {
                before: id,
                limit: limit.into(),
                descending: true,
                ..from_start
            },
        }
    }
}

impl PageBounds {
    /// `ORDER BY id` and this, in the page's statement.
    pub(crate) fn direction(self) -> &'static str {
        if self.descending {
            "DESC"
        } else {
            "ASC"
        }
    }

    /// The rows in ascending id order, however they were read.
    pub(crate) fn in_order(self, mut users: Vec<User>) -> Vec<User> {
        if self.descending {
            users.reverse();
        }
        users
    }
}

/// An `Idempotency-Key` as the store keeps it: scoped to the client
/// address, with a fingerprint of the caller and the body.
#[derive(Debug, Clone)]
pub struct IdempotencyClaim {
    pub client: String,
    pub key: String,
    pub fingerprint: [u8; 32],
}

/// What a claimed key found.
#[derive(Debug)]
pub enum IdempotencyStart {
    /// No earlier request (or only an expired or abandoned one): go ahead.
    Fresh,
    /// The earlier request finished: answer with its reply.
    Replay(StoredReply),
    /// The earlier request is still running.
    InFlight,
    /// The key was used with another body.
    OtherBody,
}

/// The reply of a finished sign-up, kept for its retries.
#[derive(Debug, Clone)]
pub struct StoredReply {
    pub user_id: UserId,
    pub version: i64,
    /// The response body as first sent.
    pub body: String,
}

/// What an earlier request with the same key left in the store.
pub(crate) struct EarlierRequest {
    pub fingerprint: Vec<u8>,
    /// Its reply, once it finished.
    pub reply: Option<StoredReply>,
    pub created_at: i64,
}

/// The contract's rules for a key seen before, the same on every backend:
/// expired keys are forgotten, another body is refused, a finished request
/// is replayed, a running one is "in flight" unless it started before any
/// request could still be running (its process died: take it over).
pub(crate) fn judge_idempotency(
    earlier: Option<EarlierRequest>,
    fingerprint: &[u8; 32],
    expired_before: i64,
    abandoned_before: i64,
) -> IdempotencyStart {
    match earlier {
        None => IdempotencyStart::Fresh,
        Some(e) if e.created_at <= expired_before => IdempotencyStart::Fresh,
        Some(e) if e.fingerprint != fingerprint => IdempotencyStart::OtherBody,
        Some(EarlierRequest {
            reply: Some(reply), ..
        }) => IdempotencyStart::Replay(reply),
        Some(e) if e.created_at > abandoned_before => IdempotencyStart::InFlight,
        Some(_) => IdempotencyStart::Fresh,
    }
}

/// Which tokens a change ends: `Some(keep)` ends every token of the user
/// but `keep`. A deactivated account's tokens end for good, so reactivation
/// never brings old tokens back to life.
pub(crate) fn revocation_after(
    changes: &UserChanges,
    revocation: Option<TokenRevocation>,
) -> Option<Option<TokenHash>> {
    if changes.is_active == Some(false) {
        return Some(None);
    }
    revocation.map(|TokenRevocation { scope, keep }| match scope {
        Revocation::All => None,
        Revocation::AllButCallers => keep,
    })
}

/// How to open a store beyond its URL.
#[derive(Debug, Clone, Copy)]
pub struct OpenOptions {
    /// Caps an SQLite file's size.
    pub max_bytes: Option<u64>,
    /// PostgreSQL connections per instance.
    pub pool_size: u32,
}

/// The body a sign-up's retries replay, rendered inside the transaction
/// that creates the user: the bytes are frozen then, so a retry gets the
/// first reply byte for byte even after the resource gains a field.
pub(crate) fn reply_body(created: &User) -> Result<String, Error> {
    crate::domain::resource::user_json(created)
        .map_err(|e| Error::Internal(format!("cannot render the stored reply: {e}")))
}

/// A role as a row keeps it. An unknown value is a database this binary
/// cannot read safely (never silently a `user`: it could be an admin).
pub(crate) fn stored_role(raw: &str) -> Result<Role, Error> {
    raw.parse()
        .map_err(|_| Error::Internal(format!("unknown role {raw:?} in the database")))
}

/// The storage backend chosen at start from `--database-url`.
#[derive(Clone)]
pub enum Store {
    Sqlite(Arc<SqliteStore>),
    Postgres(Arc<PostgresStore>),
}

impl Store {
    /// Opens the store and brings its schema up to date.
    pub async fn open(url: &DatabaseUrl, options: OpenOptions) -> Result<Self, Error> {
        match url {
            DatabaseUrl::Sqlite(path) => Ok(Self::Sqlite(Arc::new(SqliteStore::open(
                path,
                options.max_bytes,
            )?))),
            DatabaseUrl::Postgres(url) => Ok(Self::Postgres(Arc::new(
                PostgresStore::open(url, options.pool_size).await?,
            ))),
        }
    }

    /// `users import`: the feed's users in one transaction, each with its
    /// `user.created`; a stop (the reader's, or a registered email under
    /// `OnConflict::Fail`) or a dry run writes nothing.
    pub async fn import_users(
        &self,
        feed: transfer::ImportFeed,
        on_conflict: transfer::OnConflict,
        dry_run: bool,
    ) -> Result<transfer::ImportOutcome, Error> {
        match self {
            Self::Sqlite(s) => s.import_users(feed, on_conflict, dry_run).await,
            Self::Postgres(s) => s.import_users(feed, on_conflict, dry_run).await,
        }
    }

    /// `users export`: every user, in id order, from one snapshot.
    pub async fn export_users(
        &self,
        sink: &mut (dyn FnMut(transfer::ExportRow) -> Result<(), String> + Send),
    ) -> Result<u64, Error> {
        match self {
            Self::Sqlite(s) => s.export_users(sink),
            Self::Postgres(s) => s.export_users(sink).await,
        }
    }

    pub async fn ping(&self) -> Result<(), Error> {
        on_backend!(self, s => s.ping().await)
    }

    /// Inserts the user; with a claimed idempotency key, its reply is kept
    /// in the same transaction.
    pub async fn create_user(
        &self,
        user: NewUserRow,
        reply: Option<IdempotencyClaim>,
    ) -> Result<User, Error> {
        on_backend!(self, s => s.create_user(user, reply).await)
    }

    /// Claims an idempotency key (see `IdempotencyStart`). Keys made at or
    /// before `expired_before` are forgotten; unfinished ones made at or
    /// before `abandoned_before` belong to a request that cannot be running.
    pub async fn start_idempotent(
        &self,
        claim: IdempotencyClaim,
        expired_before: i64,
        abandoned_before: i64,
    ) -> Result<IdempotencyStart, Error> {
        on_backend!(self, s => s.start_idempotent(claim, now(), expired_before, abandoned_before)
                    .await)
    }

    pub async fn release_idempotent(&self, claim: IdempotencyClaim) -> Result<(), Error> {
        on_backend!(self, s => s.release_idempotent(claim).await)
    }

    /// Starts a sign-in attempt: `Some(seconds)` while the account or the
    /// address must wait (nothing is counted then); else the attempt is
    /// counted against the account before the password is checked.
    pub async fn begin_signin_attempt(
        &self,
        account: Throttled,
        address: Throttled,
        rules: ThrottleRules,
    ) -> Result<Option<u64>, Error> {
        on_backend!(self, s => s.begin_signin_attempt(account, address, rules, now()).await)
    }

    /// Ends an attempt with its verdict on the password: right resets the
    /// account's count, wrong is counted against the address too, none
    /// (the check could not run) gives the account its attempt back.
    pub async fn end_signin_attempt(
        &self,
        account: Throttled,
        address: Throttled,
        verdict: Verdict,
        rules: ThrottleRules,
    ) -> Result<(), Error> {
        on_backend!(self, s => s.end_signin_attempt(account, address, verdict, rules, now())
                    .await)
    }

    /// Re-hashes a password with stronger parameters after a sign-in,
    /// unless it was changed meanwhile.
    pub async fn upgrade_password_hash(
        &self,
        id: UserId,
        old: String,
        new: String,
    ) -> Result<(), Error> {
        on_backend!(self, s => s.upgrade_password_hash(id, old, new).await)
    }

    /// Deletes expired tokens, idempotency keys made at or before
    /// `keys_before`, and failure counts that no longer matter.
    pub async fn prune(&self, rules: ThrottleRules, keys_before: i64) -> Result<u64, Error> {
        on_backend!(self, s => s.prune(now(), rules, keys_before).await)
    }

    /// Whether several instances may serve this store at once, so that a
    /// limit must be kept in it rather than in a process's memory:
    /// PostgreSQL yes, SQLite no (one process per file).
    pub fn is_shared(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }

    /// Takes one sign-up from `address`'s allowance of `rate` a minute,
    /// kept in the database: `None` when taken, `Some(ms)` to wait. Only on
    /// a shared store (`is_shared`); SQLite's limit is in the process
    /// (`accounts::SignupLimiter`), so there this takes nothing.
    pub async fn take_signup(&self, address: &str, rate: u32) -> Result<Option<u64>, Error> {
        match self {
            Self::Sqlite(_) => Ok(None),
            Self::Postgres(s) => s.take_signup(address, rate, now_ms()).await,
        }
    }

    pub async fn user(&self, id: UserId) -> Result<Option<User>, Error> {
        match self {
            Self::Sqlite(s) => s.user(id),
            Self::Postgres(s) => s.user(id).await,
        }
    }

    /// The user and their password hash, for sign-in.
    pub async fn credentials(&self, email: &Email) -> Result<Option<(User, String)>, Error> {
        match self {
            Self::Sqlite(s) => s.credentials(email),
            Self::Postgres(s) => s.credentials(email).await,
        }
    }

    /// The page of users and how many match the filter in all.
    pub async fn list_users(
        &self,
        filter: &UserFilter,
        page: Page,
    ) -> Result<(Vec<User>, u64), Error> {
        match self {
            Self::Sqlite(s) => s.list_users(filter, page),
            Self::Postgres(s) => s.list_users(filter, page).await,
        }
    }

    /// Applies a change in one transaction: `expected_version` (If-Match),
    /// the last-admin rule, email uniqueness and token revocation hold
    /// together or not at all.
    pub async fn update_user(
        &self,
        id: UserId,
        changes: UserChanges,
        expected_version: Option<i64>,
        revocation: Option<TokenRevocation>,
    ) -> Result<User, Error> {
        on_backend!(self, s => s.update_user(id, changes, expected_version, revocation)
                    .await)
    }

    /// Ends every access token of the user at once (sign out everywhere);
    /// `NotFound` when there is no such user.
    pub async fn end_all_tokens(&self, id: UserId) -> Result<(), Error> {
        on_backend!(self, s => s.end_all_tokens(id).await)
    }

    /// Deletes the user and, with them, all their tokens, unless they are
    /// the last active admin.
    pub async fn delete_user_unless_last_admin(
        &self,
        id: UserId,
        expected_version: Option<i64>,
    ) -> Result<(), Error> {
        on_backend!(self, s => s.delete_user(id, expected_version).await)
    }

    /// Issues a token to the user if they still exist and are active (they
    /// may have been deleted or deactivated since their password was
    /// checked); `false` when not.
    pub async fn insert_token(
        &self,
        hash: TokenHash,
        user: UserId,
        expires_at: i64,
    ) -> Result<bool, Error> {
        on_backend!(self, s => s.insert_token(hash, user, expires_at).await)
    }

    /// The active user an unexpired token belongs to. Read on every request,
    /// never cached, so revocation is effective at once.
    pub async fn user_by_token(&self, hash: TokenHash) -> Result<Option<User>, Error> {
        match self {
            Self::Sqlite(s) => s.user_by_token(hash, now()),
            Self::Postgres(s) => s.user_by_token(hash, now()).await,
        }
    }

    pub async fn revoke_token(&self, hash: TokenHash) -> Result<(), Error> {
        on_backend!(self, s => s.revoke_token(hash).await)
    }

    /// The newest `limit` events, in `seq` order (the console's events page).
    pub async fn latest_events(&self, limit: u32) -> Result<Vec<StoredEvent>, Error> {
        match self {
            Self::Sqlite(s) => s.latest_events(limit),
            Self::Postgres(s) => s.latest_events(limit).await,
        }
    }

    /// Up to `limit` events after `after`, in `seq` order (the feed).
    pub async fn events_after(&self, after: i64, limit: u32) -> Result<EventPage, Error> {
        match self {
            Self::Sqlite(s) => s.events_after(after, limit),
            Self::Postgres(s) => s.events_after(after, limit).await,
        }
    }

    /// Gives every configured sink a cursor, after the newest event.
    pub async fn open_sinks(&self, sinks: Vec<String>) -> Result<(), Error> {
        on_backend!(self, s => s.open_sinks(sinks).await)
    }

    /// A sink's next round: parked deliveries now due, and fresh events.
    pub async fn sink_work(&self, sink: &str, limit: u32) -> Result<SinkWork, Error> {
        match self {
            Self::Sqlite(s) => s.sink_work(sink, now_ms(), limit),
            Self::Postgres(s) => s.sink_work(sink, now_ms(), limit).await,
        }
    }

    /// Records a sink's round in one transaction.
    pub async fn record_progress(&self, sink: String, progress: SinkProgress) -> Result<(), Error> {
        on_backend!(self, s => s.record_progress(sink, progress).await)
    }

    /// The turn to deliver events, if no other instance has it: on SQLite
    /// always (one process serves a file); on PostgreSQL while this
    /// instance holds an advisory lock on a connection of its own.
    pub async fn deliverer_lease(&self) -> Result<Option<DelivererLease>, Error> {
        match self {
            Self::Sqlite(_) => Ok(Some(DelivererLease::Process)),
            Self::Postgres(s) => Ok(s.deliverer_lease().await?.map(DelivererLease::Postgres)),
        }
    }

    /// The mail sender's turn, as `deliverer_lease` (its own lock on
    /// PostgreSQL: mail and events may go from different instances).
    pub async fn mailer_lease(&self) -> Result<Option<DelivererLease>, Error> {
        match self {
            Self::Sqlite(_) => Ok(Some(DelivererLease::Process)),
            Self::Postgres(s) => Ok(s.mailer_lease().await?.map(DelivererLease::Postgres)),
        }
    }

    /// Writes mail requests in a transaction of their own.
    pub async fn queue_mail(&self, mails: Vec<mail::MailRequest>) -> Result<(), Error> {
        on_backend!(self, s => s.queue_mail(mails).await)
    }

    /// Up to `limit` queued mails due now, with the accounts they are about.
    pub async fn mail_work(&self, limit: u32) -> Result<Vec<mail::QueuedMail>, Error> {
        match self {
            Self::Sqlite(s) => s.mail_work(now_ms(), limit),
            Self::Postgres(s) => s.mail_work(now_ms(), limit).await,
        }
    }

    /// Stores a link's hash (replacing the older link of its kind) and
    /// counts the mail, before it is handed to the SMTP server.
    pub async fn store_mail_token(&self, token: mail::NewMailToken) -> Result<(), Error> {
        on_backend!(self, s => s.store_mail_token(token).await)
    }

    pub async fn finish_mail(&self, id: i64, outcome: mail::MailOutcome) -> Result<(), Error> {
        on_backend!(self, s => s.finish_mail(id, outcome).await)
    }

    /// The active user whose unexpired, newest link of `kind` has this hash.
    pub async fn mail_token_user(
        &self,
        kind: mail::MailKind,
        hash: TokenHash,
    ) -> Result<Option<User>, Error> {
        match self {
            Self::Sqlite(s) => s.mail_token_user(kind, hash.0),
            Self::Postgres(s) => s.mail_token_user(kind, hash.0).await,
        }
    }

    /// Uses a link up and applies it in one transaction (a reset with its
    /// new password hash, or a verification); `None` when it is not valid.
    pub async fn use_mail_token(
        &self,
        kind: mail::MailKind,
        hash: TokenHash,
        password_hash: Option<PasswordHash>,
    ) -> Result<Option<User>, Error> {
        on_backend!(self, s => s.use_mail_token(kind, hash.0, password_hash).await)
    }

    /// Parks every failed delivery again, due now; returns how many.
    pub async fn retry_failed(&self) -> Result<u64, Error> {
        on_backend!(self, s => s.retry_failed().await)
    }

    /// Deletes events older than `before_ms` that every configured sink
    /// took, and failed deliveries that failed before it.
    pub async fn prune_events(&self, before_ms: i64, sinks: Vec<String>) -> Result<u64, Error> {
        on_backend!(self, s => s.prune_events(before_ms, sinks).await)
    }
}

/// The turn of one instance to deliver events.
pub enum DelivererLease {
    Process,
    Postgres(postgres::DelivererLease),
}

impl DelivererLease {
    /// Whether the turn is still this instance's.
    pub async fn is_held(&self) -> bool {
        match self {
            Self::Process => true,
            Self::Postgres(lease) => lease.is_held().await,
        }
    }
}

/// Unix milliseconds, UTC (event times: a second is too coarse to measure
/// delivery by).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// Unix seconds, UTC.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}
