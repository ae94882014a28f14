//! Sign-in: every attempt counted against the account and the client
//! address before the password is checked, one check at a time per account
//! in this process, the audit line, and the re-hash of a weak stored hash.
//! `current_password` on a PATCH is a sign-in in all but name and runs here.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use super::{Accounts, Error};
use crate::auth::tokens::AccessToken;
use crate::domain::throttle::{Throttled, Verdict};
use crate::domain::{Email, Password, User};
use crate::store;

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
            Err(Error::EmailNotVerified) => "email_not_verified",
            Err(_) => "error",
        };
        // The account as parsed, or `-` when the username is no email: it
        // may be a password typed in the wrong box. Passed as a `&str`, so
        // the text format quotes and escapes it and no value can forge a
        // field or a line.
        let account = Email::parse(username).map_or_else(|_| "-".to_owned(), |e| e.to_string());
        metrics::counter!("signin_attempts_total", "outcome" => outcome).increment(1);
        tracing::info!(target: "user_api::audit", account = account.as_str(), client = %client, outcome, "sign-in attempt");
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
        self.check_verified(&user)?;
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
            Ok(_) => Verdict::Right,
            Err(Error::InvalidCredentials | Error::WrongCurrentPassword) => Verdict::Wrong,
            Err(_) => Verdict::Unchecked,
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
        // Not `parse`: an account stored before the email rules tightened
        // (`a@localhost`) still signs in (`Email::for_lookup`).
        let email = Email::for_lookup(username);
        let password =
            Password::for_verification(password).map_err(|_| Error::InvalidCredentials)?;
        let found = self.store.credentials(&email).await?;
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

    /// `current_password` is a sign-in in all but name: it is counted and
    /// throttled like one, so a stolen token cannot guess the password.
    pub(super) async fn verify_current_password(
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
}
