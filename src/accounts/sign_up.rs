//! Sign-up: who may create accounts, the `Idempotency-Key` claim and
//! replay, the per-address rate, then the hash and the insert.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::{Accounts, Error};
use crate::domain::policy;
use crate::domain::{AddressKey, NewUser, Role, User};
use crate::store::{
    self, IdempotencyClaim, IdempotencyStart, NewUserRow, PasswordHash, StoredReply,
};

/// An `Idempotency-Key` of a sign-up, as the HTTP layer read it.
pub struct Idempotency {
    pub key: String,
    /// SHA-256 of the caller and the body without its password: the same
    /// key with another body is refused; the password is checked against
    /// the created user's hash instead.
    pub fingerprint: [u8; 32],
}

/// How long an idempotency key is kept (the contract: 24 hours).
pub const IDEMPOTENCY_TTL_SECS: i64 = 24 * 60 * 60;

/// What a sign-up ended in.
pub enum SignUp {
    Created(User),
    /// A retry of a finished sign-up: its first reply.
    Replayed(StoredReply),
}

/// Sign-ups a minute per client address (an IPv6 client by its /64,
/// `AddressKey`; a generic cell rate: a burst of
/// `rate`, then one every `60/rate` s). Where it is kept follows the store:
/// on PostgreSQL, which several instances share, in the database
/// (`Store::take_signup`), so the limit holds across them; on SQLite, one
/// process per file, in this process's memory, which costs no synchronous
/// write per sign-up.
pub enum SignupLimiter {
    InProcess(DefaultKeyedRateLimiter<AddressKey>),
    Shared { rate: NonZeroU32 },
}

impl SignupLimiter {
    /// `None` for a rate of 0 (no limit); `shared` as `Store::is_shared`.
    pub fn per_minute(rate: u32, shared: bool) -> Option<Self> {
        NonZeroU32::new(rate).map(|rate| {
            if shared {
                Self::Shared { rate }
            } else {
                Self::InProcess(RateLimiter::keyed(Quota::per_minute(rate)))
            }
        })
    }

    /// Takes one request of `client` (an IPv6 client by its /64); `scope`
    /// keeps limits of different calls apart in the shared table.
    pub(super) async fn check(
        &self,
        store: &store::Store,
        client: IpAddr,
        scope: &str,
    ) -> Result<(), Error> {
        let wait = match self {
            Self::InProcess(limiter) => wait_in_process(limiter, client),
            Self::Shared { rate } => store
                .take_signup(&format!("{scope}{}", AddressKey::of(client)), rate.get())
                .await?
                .map(Duration::from_millis),
        };
        match wait {
            None => Ok(()),
            Some(wait) => Err(Error::Throttled {
                retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
            }),
        }
    }

    /// Forgets addresses whose allowance is full again (in memory; the
    /// shared table is pruned with the store's other expired rows).
    pub fn prune(&self) {
        if let Self::InProcess(limiter) = self {
            limiter.retain_recent();
            limiter.shrink_to_fit();
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
        let Some(Idempotency { key, fingerprint }) = idempotency else {
            self.check_signup_rate(caller, client).await?;
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
            IdempotencyStart::Replay(reply) => {
                return if self.replays(&reply, &new).await? {
                    Ok(SignUp::Replayed(reply))
                } else {
                    Err(Error::IdempotencyKeyReused)
                };
            }
            IdempotencyStart::InFlight => return Err(Error::IdempotencyInFlight),
            IdempotencyStart::OtherBody => return Err(Error::IdempotencyKeyReused),
            IdempotencyStart::Fresh => {}
        }
        let created = match self.check_signup_rate(caller, client).await {
            Ok(()) => self.created(caller, new, Some(claim.clone())).await,
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

    /// Whether a retry whose fingerprint matched is the same sign-up: its
    /// password must be the one the created account got. What is stored
    /// for the key holds no password, so this costs an argon2 check, as a
    /// sign-in does. An account since deleted, re-created or given another
    /// email or password cannot be compared: the retry is then "another
    /// body".
    async fn replays(&self, reply: &StoredReply, retry: &NewUser) -> Result<bool, Error> {
        let stored = self.store.credentials(&retry.email).await?;
        let hash = stored
            .filter(|(user, _)| user.id == reply.user_id)
            .map(|(_, hash)| hash);
        Ok(self.hasher.verify(retry.password.clone(), hash).await?)
    }

    /// Admins creating accounts are not rate-limited; everyone else is, per
    /// client address.
    async fn check_signup_rate(&self, caller: Option<&User>, client: IpAddr) -> Result<(), Error> {
        match &self.signup_limiter {
            Some(limiter) if !caller.is_some_and(User::is_admin) => {
                limiter.check(&self.store, client, "").await
            }
            _ => Ok(()),
        }
    }

    async fn created(
        &self,
        caller: Option<&User>,
        new: NewUser,
        reply: Option<IdempotencyClaim>,
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
        // The operator vouches for the address they typed.
        new.email_verified = true;
        self.create(new, None).await
    }

    async fn create(&self, new: NewUser, reply: Option<IdempotencyClaim>) -> Result<User, Error> {
        let password_hash = PasswordHash(self.hasher.hash(new.password).await?);
        let _wake = self.wake_after_write();
        let created = self
            .store
            .create_user(
                NewUserRow {
                    email: new.email,
                    name: new.name,
                    role: new.role,
                    password_hash,
                    email_verified: new.email_verified,
                    mail_verification: self.mail.is_some(),
                },
                reply,
            )
            .await?;
        Ok(created)
    }
}

/// How long `client` must wait before its next sign-up, by this process's
/// own count; `None` takes one now.
fn wait_in_process(
    limiter: &DefaultKeyedRateLimiter<AddressKey>,
    client: IpAddr,
) -> Option<Duration> {
    match limiter.check_key(&AddressKey::of(client)) {
        Ok(()) => None,
        Err(not_until) => Some(not_until.wait_time_from(DefaultClock::default().now())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sign_up_rate_counts_an_ipv6_client_by_its_64() {
        let limiter = RateLimiter::keyed(Quota::per_minute(NonZeroU32::MIN));
        let ip = |raw: &str| raw.parse::<IpAddr>().unwrap();
        let waits = |raw: &str| wait_in_process(&limiter, ip(raw)).is_some();
        assert!(!waits("2001:db8:5:6::1"));
        assert!(waits("2001:db8:5:6:aaaa::2"));
        assert!(!waits("2001:db8:5:7::1"));
        assert!(!waits("192.0.2.1"));
        assert!(waits("::ffff:192.0.2.1"));
    }
}
