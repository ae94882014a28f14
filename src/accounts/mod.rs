//! The use cases of an account, shared by the HTTP API and the command line:
//! sign up, sign in, read, change, delete. Each is a short series of named
//! steps over `domain`, `auth` and `store`. No HTTP types here.
//!
//! `sign_up` and `sign_in` are the two flows with their own machinery
//! (idempotency and rates; throttling, the account gate and re-hashing);
//! `changes` holds PATCH and DELETE; reads, tokens and housekeeping are here.

mod changes;
mod console;
mod mail;
mod sign_in;
mod sign_up;
mod transfer;

use std::time::Duration;

use crate::auth::hashing::Hasher;
use crate::auth::tokens::{Bearer, TokenHash};
use crate::domain::policy::{self, Denied, SignupMode};
use crate::domain::throttle::ThrottleRules;
use crate::domain::{PasswordPolicy, User, UserId};
use crate::events::relay::Wake;
use crate::store::outbox::StoredEvent;
use crate::store::{self, Store};

/// `GET /users` filters and pages, as the HTTP layer builds them.
pub use crate::store::{Page, UserFilter};
pub use mail::{MailSettings, MAIL_REQUESTS_PER_MINUTE};
pub use sign_in::AccountGate;
pub use sign_up::{Idempotency, SignUp, SignupLimiter, IDEMPOTENCY_TTL_SECS};

/// What a use case can end in besides success. The HTTP layer maps these
/// (and `auth`'s and `domain`'s errors) to responses; it never sees a
/// `store::Error`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not allowed: {0:?}")]
    Denied(Denied),
    /// Wrong email, wrong password or inactive account: one answer for all,
    /// so a sign-in reveals nothing about which accounts exist.
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error("no valid access token")]
    InvalidToken,
    #[error("missing access token")]
    MissingToken,
    #[error("current_password is missing or wrong")]
    WrongCurrentPassword,
    #[error("no such user")]
    NotFound,
    #[error("email already registered")]
    EmailTaken,
    #[error("the change would leave no active admin")]
    LastAdmin,
    /// `If-Match` named a version that is no longer current.
    #[error("the user changed since the version the client saw")]
    StaleVersion,
    /// Too many failed sign-ins or sign-ups: wait this long.
    #[error("too many attempts; retry in {retry_after_secs} s")]
    Throttled { retry_after_secs: u64 },
    #[error("a request with this Idempotency-Key is still running")]
    IdempotencyInFlight,
    #[error("this Idempotency-Key was used with another request")]
    IdempotencyKeyReused,
    /// The database is down, busy or out of room: worth retrying later.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Something that should not happen; the cause is for the log only.
    #[error("internal error: {0}")]
    Internal(String),
    /// Mail is off: the mail calls are not served.
    #[error("mail is not configured")]
    MailOff,
    /// A link's token that is unknown, used, replaced or expired.
    #[error("invalid or expired link token")]
    InvalidLink,
    #[error("the email is verified already")]
    AlreadyVerified,
    /// `--require-verified-email` and a right password of an unverified user.
    #[error("email not verified")]
    EmailNotVerified,
    /// Events after the reader's position were already pruned.
    #[error("events after {after} were pruned")]
    EventsPruned { after: i64 },
    #[error(transparent)]
    Auth(#[from] crate::auth::Error),
    /// A field refused by a domain rule that needed the stored account
    /// (a new password that contains its email or name).
    #[error(transparent)]
    Invalid(#[from] crate::domain::Error),
}

impl From<Denied> for Error {
    fn from(d: Denied) -> Self {
        Self::Denied(d)
    }
}

impl From<store::Error> for Error {
    fn from(err: store::Error) -> Self {
        use store::Error as S;
        match err {
            S::NotFound => Self::NotFound,
            S::EmailTaken => Self::EmailTaken,
            S::LastAdmin => Self::LastAdmin,
            S::StaleVersion => Self::StaleVersion,
            S::Unavailable(cause) => Self::Unavailable(cause),
            err @ (S::NewerSchema { .. }
            | S::EmailsCollide(_)
            | S::Unsupported(_)
            | S::Internal(_)) => Self::Internal(err.to_string()),
        }
    }
}

/// The signed-in caller of a request, and the token they used.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: User,
    pub token: TokenHash,
}

/// `If-Match`, reduced to what the store can check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// `*`: the user must exist.
    Any,
    /// One of these versions must be current. Empty when every tag sent was
    /// not one of ours: that can never match.
    Versions(Vec<i64>),
}

pub struct Accounts {
    pub store: Store,
    pub hasher: Hasher,
    pub password_policy: PasswordPolicy,
    pub token_ttl: Duration,
    pub signup: SignupMode,
    pub signup_limiter: Option<SignupLimiter>,
    pub throttle: ThrottleRules,
    /// A request cannot run longer than this (the request time limit): an
    /// idempotency key still unfinished after it was abandoned.
    pub request_timeout: Duration,
    pub signin_gate: AccountGate,
    /// The outbox's side of the use cases: who to wake after a change, and
    /// how long events are kept.
    pub events: EventSettings,
    /// Verification and reset mail; `None` when mail is off.
    pub mail: Option<MailSettings>,
}

/// See `Accounts::wake_after_write`.
pub(super) struct WakeOnDrop<'a>(&'a Wake);

impl Drop for WakeOnDrop<'_> {
    fn drop(&mut self) {
        self.0.notify();
    }
}

/// What the use cases need to know of events.
#[derive(Clone, Default)]
pub struct EventSettings {
    /// Woken after every change that wrote events (the relay, the streams).
    pub wake: Wake,
    /// Events stay this long after every configured sink took them.
    pub retention: Duration,
    /// The configured sinks' names: pruning waits for each of them.
    pub sinks: Vec<String>,
}

impl Accounts {
    /// The caller a bearer token stands for, read from the store on every
    /// request so revocation, deactivation and role changes apply at once.
    pub async fn authenticate(&self, bearer: Bearer) -> Result<Caller, Error> {
        match bearer {
            Bearer::Missing => Err(Error::MissingToken),
            Bearer::Malformed => Err(Error::InvalidToken),
            Bearer::Token(token) => match self.store.user_by_token(token).await? {
                Some(user) => Ok(Caller { user, token }),
                None => Err(Error::InvalidToken),
            },
        }
    }

    /// Deletes expired tokens, idempotency keys and failure counts, and
    /// forgets sign-up allowances that are full again; returns the rows.
    pub async fn prune(&self) -> Result<u64, Error> {
        if let Some(limiter) = &self.signup_limiter {
            limiter.prune();
        }
        let keys_before = store::now() - IDEMPOTENCY_TTL_SECS;
        let mut rows = self.store.prune(self.throttle, keys_before).await?;
        let retention = i64::try_from(self.events.retention.as_millis()).unwrap_or(i64::MAX);
        rows += self
            .store
            .prune_events(
                store::now_ms().saturating_sub(retention),
                self.events.sinks.clone(),
            )
            .await?;
        Ok(rows)
    }

    /// Whether the store answers (readiness).
    pub async fn ready(&self) -> Result<(), Error> {
        Ok(self.store.ping().await?)
    }

    pub async fn revoke(&self, caller: &Caller) -> Result<(), Error> {
        Ok(self.store.revoke_token(caller.token).await?)
    }

    /// A user by id. Reading oneself needs no second read: the caller's row
    /// was read with the token, in this request, so it is as current as a
    /// second statement would find it — on PostgreSQL that makes the
    /// authenticated read one round trip instead of two.
    pub async fn get(&self, caller: &User, id: UserId) -> Result<User, Error> {
        policy::may_see(caller, id)?;
        if caller.id == id {
            return Ok(caller.clone());
        }
        self.store.user(id).await?.ok_or(Error::NotFound)
    }

    /// `GET /events` (admins): up to `limit` events after `after`, or from
    /// the oldest kept one; refused when events after `after` are gone.
    pub async fn events(
        &self,
        caller: &User,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, Error> {
        policy::may_list(caller)?;
        self.events_after(after, limit).await
    }

    /// The feed without the caller check, for a stream already authorized.
    pub async fn events_after(
        &self,
        after: Option<i64>,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, Error> {
        let page = self.store.events_after(after.unwrap_or(0), limit).await?;
        match after {
            Some(after) if after < page.pruned_through => Err(Error::EventsPruned { after }),
            _ => Ok(page.events),
        }
    }

    /// Wakes the relay and the streams when dropped: held across a write
    /// that may commit events, so they are woken when it returns and also
    /// when the request is dropped mid-write (its client gone after the
    /// writer took the job: the change may well have committed).
    pub(super) fn wake_after_write(&self) -> WakeOnDrop<'_> {
        WakeOnDrop(&self.events.wake)
    }

    pub async fn list(
        &self,
        caller: &User,
        filter: &UserFilter,
        page: Page,
    ) -> Result<(Vec<User>, u64), Error> {
        policy::may_list(caller)?;
        Ok(self.store.list_users(filter, page).await?)
    }
}

/// The version the write must still find, when `If-Match` was sent.
fn check_precondition(
    target: &User,
    precondition: Option<Precondition>,
) -> Result<Option<i64>, Error> {
    match precondition {
        None => Ok(None),
        Some(Precondition::Any) => Ok(None),
        Some(Precondition::Versions(versions)) if versions.contains(&target.version) => {
            Ok(Some(target.version))
        }
        Some(Precondition::Versions(_)) => Err(Error::StaleVersion),
    }
}
