//! The use cases of an account, shared by the HTTP API and the command line:
//! sign up, sign in, read, change, delete. Each is a short series of named
//! steps over `domain`, `auth` and `store`. No HTTP types here.

use std::net::IpAddr;
use std::time::Duration;

use crate::auth::hashing::Hasher;
use crate::auth::tokens::{AccessToken, Bearer};
use crate::domain::policy::{self, Denied, SignupMode};
use crate::domain::{Email, NewUser, Password, PasswordPolicy, Role, User, UserId, UserPatch};
use crate::store::{
    self, NewUserRow, PasswordHash, Store, TokenHash, TokenRevocation, UserChanges,
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

pub struct Accounts {
    pub store: Store,
    pub hasher: Hasher,
    pub password_policy: PasswordPolicy,
    pub token_ttl: Duration,
    pub signup: SignupMode,
}

impl Accounts {
    /// Whether this caller may create users at all: asked before the body is
    /// read, so a closed sign-up answers 401/403, never a validation error.
    pub fn may_sign_up(&self, caller: Option<&User>) -> Result<(), Error> {
        Ok(policy::may_create(caller, self.signup)?)
    }

    /// `POST /users`. The caller (if any) was authenticated and the fields
    /// parsed; here sign-up mode is applied, then the password hashed.
    pub async fn sign_up(&self, caller: Option<&User>, new: NewUser) -> Result<User, Error> {
        policy::may_create(caller, self.signup)?;
        let user = self.create(new).await?;
        if let Some(admin) = caller.filter(|c| c.is_admin()) {
            tracing::info!(target: "user_api::audit", actor = admin.id.0, subject = user.id.0, role = user.role.as_str(), "admin created user");
        }
        Ok(user)
    }

    /// `user-api admin create`: no caller, sign-up mode does not apply.
    pub async fn create_admin(&self, mut new: NewUser) -> Result<User, Error> {
        new.role = Role::Admin;
        self.create(new).await
    }

    async fn create(&self, new: NewUser) -> Result<User, Error> {
        let password_hash = PasswordHash(self.hasher.hash(new.password).await?);
        Ok(self
            .store
            .create_user(NewUserRow {
                email: new.email,
                name: new.name,
                role: new.role,
                password_hash,
            })
            .await?)
    }

    /// `POST /token`. Every attempt is logged with its outcome; the password
    /// and the token never are.
    pub async fn sign_in(
        &self,
        username: &str,
        password: &str,
        client: IpAddr,
    ) -> Result<(AccessToken, User), Error> {
        let outcome = self.check_credentials(username, password).await;
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
        let result = match outcome {
            Ok(user) => {
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
            Err(e) => Err(e),
        };
        let outcome = match &result {
            Ok(_) => "success",
            Err(Error::InvalidCredentials) => "invalid_credentials",
            Err(_) => "error",
        };
        metrics::counter!("signin_attempts_total", "outcome" => outcome).increment(1);
        tracing::info!(target: "user_api::audit", account = %account, client = %client, outcome, "sign-in attempt");
        result
    }

    /// The user these credentials belong to, if they are right and the
    /// account is active. The hash is always verified, against a dummy for an
    /// unknown email, so every failure costs the same time.
    async fn check_credentials(&self, username: &str, password: &str) -> Result<User, Error> {
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
        let verified = self.hasher.verify(password, hash).await?;
        match user {
            Some(user) if verified && user.is_active => Ok(user),
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
    ) -> Result<User, Error> {
        let target = self.get(&caller.user, id).await?;
        let duty = policy::may_patch(&caller.user, &target, patch.fields())?;
        let expected_version = check_precondition(&target, precondition)?;
        if patch.is_empty() {
            // Nothing to change: no new version, no new ETag.
            return Ok(target);
        }
        if duty.needs_current_password {
            self.verify_current_password(&caller.user, patch.current_password.clone())
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

    async fn verify_current_password(
        &self,
        user: &User,
        given: Option<Password>,
    ) -> Result<(), Error> {
        let Some(given) = given else {
            return Err(Error::WrongCurrentPassword);
        };
        let stored = self
            .store
            .credentials(&user.email)
            .await?
            .map(|(_, hash)| hash);
        if self.hasher.verify(given, stored).await? {
            Ok(())
        } else {
            Err(Error::WrongCurrentPassword)
        }
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
