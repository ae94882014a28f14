//! The use cases of an account, shared by the HTTP API and the command line:
//! sign up, sign in, read, change, delete. Each is a short series of named
//! steps over `domain`, `auth` and `store`. No HTTP types here.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::auth::hashing::Hasher;
use crate::auth::tokens::{AccessToken, Bearer};
use crate::domain::policy::{self, Denied, SignupMode};
use crate::domain::throttle::{ThrottleRules, Throttled};
use crate::domain::{Email, NewUser, Password, PasswordPolicy, Role, User, UserId, UserPatch};
use crate::store::{
    self, IdempotencyClaim, IdempotencyStart, NewUserRow, PasswordHash, RenderReply, Store,
    StoredReply, TokenHash, TokenRevocation, UserChanges,
};

/// `GET /users` filters and pages, as the HTTP layer builds them.
pub use crate::store::{Page, UserFilter};

/// What a use case can end in besides success.
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
    #[error("the user changed since the version the client saw")]
    PreconditionFailed,
    /// Too many failed sign-ins or sign-ups: wait this long.
    #[error("too many attempts; retry in {retry_after_secs} s")]
    Throttled { retry_after_secs: u64 },
    #[error("a request with this Idempotency-Key is still running")]
    IdempotencyInFlight,
    #[error("this Idempotency-Key was used with another request")]
    IdempotencyKeyReused,
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error(transparent)]
    Auth(#[from] crate::auth::Error),
}

impl From<Denied> for Error {
    fn from(d: Denied) -> Self {
        Self::Denied(d)
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

/// An `Idempotency-Key` of a sign-up, as the HTTP layer read it.
pub struct Idempotency {
    pub key: String,
    /// SHA-256 of the caller and the body: the same key with another body
    /// is refused.
    pub fingerprint: [u8; 32],
    /// The body to keep for retries, rendered from the created user.
    pub render: RenderReply,
}

/// How long an idempotency key is kept (the contract: 24 hours).
pub const IDEMPOTENCY_TTL_SECS: i64 = 24 * 60 * 60;

/// What a sign-up ended in.
pub enum SignUp {
    Created(User),
    /// A retry of a finished sign-up: its first reply.
    Replayed(StoredReply),
}

/// Sign-ups a minute per client address, in this process's memory (a
/// generic cell rate: a burst of `rate`, then one every `60/rate` s).
pub struct SignupLimiter {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
}

impl SignupLimiter {
    /// `None` for a rate of 0 (no limit).
    pub fn per_minute(rate: u32) -> Option<Self> {
        NonZeroU32::new(rate).map(|rate| Self {
            limiter: RateLimiter::keyed(Quota::per_minute(rate)),
        })
    }

    fn check(&self, client: IpAddr) -> Result<(), Error> {
        self.limiter.check_key(&client).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            Error::Throttled {
                retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
            }
        })
    }

    /// Forgets addresses whose allowance is full again.
    pub fn prune(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }
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
}

/// One password check at a time per account in this process. Attempts are
/// also counted in the store before they run (which bounds racing guesses
/// across instances); queuing them here as well means concurrent *right*
/// passwords each see the previous one's reset instead of a count inflated
/// by attempts still running.
#[derive(Default)]
pub struct AccountGate {
    locks: parking_lot::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

struct GatePass<'a> {
    gate: &'a AccountGate,
    key: String,
    _held: tokio::sync::OwnedMutexGuard<()>,
}

impl AccountGate {
    async fn enter(&self, key: String) -> GatePass<'_> {
        let lock = self.locks.lock().entry(key.clone()).or_default().clone();
        GatePass {
            gate: self,
            key,
            _held: lock.lock_owned().await,
        }
    }
}

impl Drop for GatePass<'_> {
    fn drop(&mut self) {
        let mut locks = self.gate.locks.lock();
        // Only the map's reference and this pass's are left: no one waits.
        if locks
            .get(&self.key)
            .is_some_and(|lock| Arc::strong_count(lock) <= 2)
        {
            locks.remove(&self.key);
        }
    }
}

impl Accounts {
    /// Whether this caller may create users at all: asked before the body is
    /// read, so a closed sign-up answers 401/403, never a validation error.
    pub fn may_sign_up(&self, caller: Option<&User>) -> Result<(), Error> {
        Ok(policy::may_create(caller, self.signup)?)
    }

    /// `POST /users`. The caller (if any) was authenticated and the fields
    /// parsed; here sign-up mode, the idempotency key and the per-address
    /// rate are applied, then the password hashed.
    pub async fn sign_up(
        &self,
        caller: Option<&User>,
        new: NewUser,
        client: IpAddr,
        idempotency: Option<Idempotency>,
    ) -> Result<SignUp, Error> {
        policy::may_create(caller, self.signup)?;
        let Some(Idempotency {
            key,
            fingerprint,
            render,
        }) = idempotency
        else {
            self.check_signup_rate(caller, client)?;
            return Ok(SignUp::Created(self.created(caller, new, None).await?));
        };
        let claim = IdempotencyClaim {
            client: client.to_string(),
            key,
            fingerprint,
        };
        let now = store::now();
        let lease = i64::try_from(self.request_timeout.as_secs()).unwrap_or(i64::MAX);
        let start = self
            .store
            .start_idempotent(
                claim.clone(),
                now - IDEMPOTENCY_TTL_SECS,
                now.saturating_sub(lease.saturating_add(5)),
            )
            .await?;
        match start {
            IdempotencyStart::Replay(reply) => return Ok(SignUp::Replayed(reply)),
            IdempotencyStart::InFlight => return Err(Error::IdempotencyInFlight),
            IdempotencyStart::OtherBody => return Err(Error::IdempotencyKeyReused),
            IdempotencyStart::Fresh => {}
        }
        let created = match self.check_signup_rate(caller, client) {
            Ok(()) => {
                self.created(caller, new, Some((claim.clone(), render)))
                    .await
            }
            Err(e) => Err(e),
        };
        if created.is_err() {
            // Nothing was created: a retry must run again, not replay.
            if let Err(e) = self.store.release_idempotent(claim).await {
                tracing::warn!(error = %e, "could not release an idempotency key");
            }
        }
        Ok(SignUp::Created(created?))
    }

    /// Admins creating accounts are not rate-limited; everyone else is, per
    /// client address.
    fn check_signup_rate(&self, caller: Option<&User>, client: IpAddr) -> Result<(), Error> {
        match &self.signup_limiter {
            Some(limiter) if !caller.is_some_and(User::is_admin) => limiter.check(client),
            _ => Ok(()),
        }
    }

    async fn created(
        &self,
        caller: Option<&User>,
        new: NewUser,
        reply: Option<(IdempotencyClaim, RenderReply)>,
    ) -> Result<User, Error> {
        let user = self.create(new, reply).await?;
        if let Some(admin) = caller.filter(|c| c.is_admin()) {
            tracing::info!(target: "user_api::audit", actor = admin.id.0, subject = user.id.0, role = user.role.as_str(), "admin created user");
        }
        Ok(user)
    }

    /// `user-api admin create`: no caller, sign-up mode does not apply.
    pub async fn create_admin(&self, mut new: NewUser) -> Result<User, Error> {
        new.role = Role::Admin;
        self.create(new, None).await
    }

    async fn create(
        &self,
        new: NewUser,
        reply: Option<(IdempotencyClaim, RenderReply)>,
    ) -> Result<User, Error> {
        let password_hash = PasswordHash(self.hasher.hash(new.password).await?);
        Ok(self
            .store
            .create_user(
                NewUserRow {
                    email: new.email,
                    name: new.name,
                    role: new.role,
                    password_hash,
                },
                reply,
            )
            .await?)
    }

    /// `POST /token`. Every attempt is counted against the account and the
    /// client address before the password is checked, and logged with its
    /// outcome; the password and the token never are.
    pub async fn sign_in(
        &self,
        username: &str,
        password: &str,
        client: IpAddr,
    ) -> Result<(AccessToken, User), Error> {
        let result = self.try_sign_in(username, password, client).await;
        let outcome = match &result {
            Ok(_) => "success",
            Err(Error::InvalidCredentials) => "invalid_credentials",
            Err(Error::Throttled { .. }) => "throttled",
            Err(_) => "error",
        };
        // The account as parsed, or the raw name escaped and cut short: a
        // username must not be able to forge a log line.
        let account = Email::parse(username).map_or_else(
            |_| {
                username
                    .chars()
                    .take(254)
                    .collect::<String>()
                    .escape_debug()
                    .to_string()
            },
            |email| email.as_str().escape_debug().to_string(),
        );
        metrics::counter!("signin_attempts_total", "outcome" => outcome).increment(1);
        tracing::info!(target: "user_api::audit", account = %account, client = %client, outcome, "sign-in attempt");
        result
    }

    async fn try_sign_in(
        &self,
        username: &str,
        password: &str,
        client: IpAddr,
    ) -> Result<(AccessToken, User), Error> {
        let account = Throttled::account(username);
        let (user, stored) = self
            .checked_attempt(account, client, |accounts| {
                accounts.check_credentials(username, password)
            })
            .await?;
        self.upgrade_hash(&user, password, stored).await;
        let token = AccessToken::generate()?;
        let ttl = i64::try_from(self.token_ttl.as_secs()).unwrap_or(i64::MAX);
        let expires_at = store::now().saturating_add(ttl);
        if self
            .store
            .insert_token(token.hash(), user.id, expires_at)
            .await?
        {
            Ok((token, user))
        } else {
            Err(Error::InvalidCredentials)
        }
    }

    /// Runs a password check as a counted attempt: refused with `Throttled`
    /// while the account or the address must wait; counted before it runs
    /// (so racing attempts buy no extra tries); given back when it succeeds.
    async fn checked_attempt<'a, T, F>(
        &'a self,
        account: Throttled,
        client: IpAddr,
        check: impl FnOnce(&'a Self) -> F,
    ) -> Result<T, Error>
    where
        F: std::future::Future<Output = Result<T, Error>>,
    {
        let address = Throttled::Address(client);
        let _pass = self.signin_gate.enter(account.key()).await;
        let wait = self
            .store
            .begin_signin_attempt(account.clone(), address.clone(), self.throttle)
            .await?;
        if let Some(wait) = wait {
            return Err(Error::Throttled {
                retry_after_secs: wait.max(1),
            });
        }
        let checked = check(self).await;
        // A busy hasher or database is no verdict on the password.
        let verdict = match &checked {
            Ok(_) => Some(true),
            Err(Error::InvalidCredentials | Error::WrongCurrentPassword) => Some(false),
            Err(_) => None,
        };
        let ended = self
            .store
            .end_signin_attempt(account, address, verdict, self.throttle)
            .await;
        match (checked, ended) {
            (Err(e), _) => Err(e),
            (Ok(_), Err(e)) => Err(e.into()),
            (Ok(checked), Ok(())) => Ok(checked),
        }
    }

    /// Re-hashes the password when the stored hash is weaker than the
    /// configured parameters (the contract: "re-hashed at the next
    /// successful login"). Best effort: a busy hasher or store only
    /// postpones it to the next sign-in.
    async fn upgrade_hash(&self, user: &User, password: &str, stored: String) {
        if !self.hasher.is_weaker(&stored) {
            return;
        }
        let Ok(password) = Password::for_verification(password) else {
            return;
        };
        let upgraded = match self.hasher.hash(password).await {
            Ok(new) => self.store.upgrade_password_hash(user.id, stored, new).await,
            Err(e) => Err(store::Error::Unavailable(e.to_string())),
        };
        match upgraded {
            Ok(()) => tracing::info!(
                user = user.id.0,
                "password re-hashed with the configured parameters"
            ),
            Err(e) => tracing::warn!(user = user.id.0, error = %e, "password re-hash postponed"),
        }
    }

    /// The user these credentials belong to and their stored hash, if they
    /// are right and the account is active. The hash is always verified,
    /// against a dummy for an unknown email, so every failure costs the
    /// same time.
    async fn check_credentials(
        &self,
        username: &str,
        password: &str,
    ) -> Result<(User, String), Error> {
        let email = Email::parse(username).ok();
        let password =
            Password::for_verification(password).map_err(|_| Error::InvalidCredentials)?;
        let found = match &email {
            Some(email) => self.store.credentials(email).await?,
            None => None,
        };
        let (user, hash) = match found {
            Some((user, hash)) => (Some(user), Some(hash)),
            None => (None, None),
        };
        let verified = self.hasher.verify(password, hash.clone()).await?;
        match (user, hash) {
            (Some(user), Some(hash)) if verified && user.is_active => Ok((user, hash)),
            _ => Err(Error::InvalidCredentials),
        }
    }

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
        Ok(self.store.prune(self.throttle, keys_before).await?)
    }

    /// Whether the store answers (readiness).
    pub async fn ready(&self) -> Result<(), Error> {
        Ok(self.store.ping().await?)
    }

    pub async fn revoke(&self, caller: &Caller) -> Result<(), Error> {
        Ok(self.store.revoke_token(caller.token).await?)
    }

    pub async fn get(&self, caller: &User, id: UserId) -> Result<User, Error> {
        policy::may_see(caller, id)?;
        self.store
            .user(id)
            .await?
            .ok_or(Error::Store(store::Error::NotFound))
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

    /// `PATCH /users/{id}`: authorize the fields, check `If-Match` and
    /// `current_password`, hash a new password, then write it all in one
    /// transaction that re-checks the version and the last-admin rule.
    pub async fn update(
        &self,
        caller: &Caller,
        id: UserId,
        patch: UserPatch,
        precondition: Option<Precondition>,
        client: IpAddr,
    ) -> Result<User, Error> {
        let target = self.get(&caller.user, id).await?;
        let duty = policy::may_patch(&caller.user, &target, patch.fields())?;
        let expected_version = check_precondition(&target, precondition)?;
        if patch.is_empty() {
            // Nothing to change: no new version, no new ETag.
            return Ok(target);
        }
        if duty.needs_current_password {
            self.verify_current_password(&caller.user, patch.current_password.clone(), client)
                .await?;
        }
        let password_hash = match patch.password {
            Some(password) => Some(PasswordHash(self.hasher.hash(password).await?)),
            None => None,
        };
        let sets_password = password_hash.is_some();
        let changes = UserChanges {
            email: patch.email,
            name: patch.name,
            password_hash,
            is_active: patch.is_active,
            role: patch.role,
        };
        let revocation = duty.revoke_tokens.map(|scope| TokenRevocation {
            scope,
            keep: Some(caller.token),
        });
        let updated = self
            .store
            .update_user(id, changes, expected_version, revocation)
            .await?;
        if caller.user.is_admin()
            && (caller.user.id != id || patch.role.is_some() || patch.is_active.is_some())
        {
            tracing::info!(
                target: "user_api::audit",
                actor = caller.user.id.0,
                subject = id.0,
                role = ?patch.role.map(Role::as_str),
                is_active = ?patch.is_active,
                password_set = sets_password,
                "admin changed user"
            );
        }
        Ok(updated)
    }

    /// `current_password` is a sign-in in all but name: it is counted and
    /// throttled like one, so a stolen token cannot guess the password.
    async fn verify_current_password(
        &self,
        user: &User,
        given: Option<Password>,
        client: IpAddr,
    ) -> Result<(), Error> {
        let Some(given) = given else {
            return Err(Error::WrongCurrentPassword);
        };
        let account = Throttled::Account(user.email.as_str().to_owned());
        self.checked_attempt(account, client, |accounts| async move {
            let stored = accounts
                .store
                .credentials(&user.email)
                .await?
                .map(|(_, hash)| hash);
            if accounts.hasher.verify(given, stored).await? {
                Ok(())
            } else {
                Err(Error::WrongCurrentPassword)
            }
        })
        .await
    }

    pub async fn delete(
        &self,
        caller: &User,
        id: UserId,
        precondition: Option<Precondition>,
    ) -> Result<(), Error> {
        let target = self.get(caller, id).await?;
        policy::may_delete(caller, id)?;
        let expected_version = check_precondition(&target, precondition)?;
        self.store
            .delete_user_unless_last_admin(id, expected_version)
            .await?;
        if caller.is_admin() && caller.id != id {
            tracing::info!(target: "user_api::audit", actor = caller.id.0, subject = id.0, "admin deleted user");
        }
        Ok(())
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
        Some(Precondition::Versions(_)) => Err(Error::PreconditionFailed),
    }
}
