//! Email verification and password reset: the requests (written to the
//! mail outbox, answered the same whatever the account) and the uses of a
//! link. Whether a request gets a mail is decided later by the sender
//! (`mail::sender`), so the answer's bytes and timing cannot tell whether
//! an account exists. No HTTP types here.

use std::net::IpAddr;

use super::{Accounts, Caller, Error, SignupLimiter};
use crate::auth::tokens::hash_token;
use crate::domain::{Email, Password, PasswordContext, User, Violations};
use crate::store::mail::{MailKind, MailRequest};
use crate::store::PasswordHash;

/// What the use cases need to know of mail; `Accounts::mail` is `None`
/// when mail is off.
pub struct MailSettings {
    /// `--require-verified-email`: an unverified user cannot sign in.
    pub require_verified: bool,
    /// The anonymous requests per client address (20 a minute).
    pub limiter: Option<SignupLimiter>,
}

/// Requests a minute per client address for `POST /password-reset` and
/// the anonymous `POST /email-verification` (the contract).
pub const MAIL_REQUESTS_PER_MINUTE: u32 = 20;

/// Link tokens are 43 base64url characters; anything much longer is not
/// ours and is refused before hashing.
const MAX_LINK_TOKEN_LEN: usize = 512;

impl Accounts {
    /// Whether the four mail calls are served (else 501).
    pub fn mail_enabled(&self) -> bool {
        self.mail.is_some()
    }

    fn mail_settings(&self) -> Result<&MailSettings, Error> {
        self.mail.as_ref().ok_or(Error::MailOff)
    }

    /// `POST /password-reset` and the anonymous `POST /email-verification`:
    /// the per-address rate, then one outbox row, whatever the account.
    pub async fn request_link(
        &self,
        kind: MailKind,
        email: Email,
        client: IpAddr,
    ) -> Result<(), Error> {
        let settings = self.mail_settings()?;
        if let Some(limiter) = &settings.limiter {
            limiter.check(&self.store, client, "mail:").await?;
        }
        let request = MailRequest::new(kind, email, None)?;
        let _wake = self.wake_after_write();
        self.store.queue_mail(vec![request]).await?;
        metrics::counter!("mail_queued_total", "kind" => kind.as_str()).increment(1);
        Ok(())
    }

    /// `POST /email-verification` signed in: a new link to the caller's
    /// address; 409 when it is verified already.
    pub async fn request_own_verification(&self, caller: &Caller) -> Result<(), Error> {
        self.mail_settings()?;
        if caller.user.email_verified {
            return Err(Error::AlreadyVerified);
        }
        let request = MailRequest::new(
            MailKind::Verification,
            caller.user.email.clone(),
            Some(caller.user.id),
        )?;
        let _wake = self.wake_after_write();
        self.store.queue_mail(vec![request]).await?;
        metrics::counter!("mail_queued_total", "kind" => "verification").increment(1);
        Ok(())
    }

    /// `POST /password-reset/confirm`: the token is checked first (400),
    /// then the password under the usual rules (422, the token still
    /// usable), then one transaction uses the token up, sets the password,
    /// ends every access token, clears the sign-in wait and marks the
    /// address verified.
    pub async fn confirm_reset(&self, token: &str, password: &str) -> Result<User, Error> {
        self.mail_settings()?;
        let hash = link_hash(token)?;
        let user = self
            .store
            .mail_token_user(MailKind::PasswordReset, hash)
            .await?
            .ok_or(Error::InvalidLink)?;
        let mut violations = Violations::default();
        let password = violations
            .check("password", Password::parse(password, &self.password_policy))
            .and_then(|p| {
                let context = PasswordContext {
                    email: user.email.as_str(),
                    name: &user.name,
                };
                let personal = p.check_not_personal(&context);
                violations.check("password", personal.map(|()| p))
            });
        violations.into_result()?;
        let Some(password) = password else {
            return Err(Error::Internal(
                "a password without a violation did not parse".into(),
            ));
        };
        let password_hash = PasswordHash(self.hasher.hash(password).await?);
        let _wake = self.wake_after_write();
        let updated = self
            .store
            .use_mail_token(MailKind::PasswordReset, hash, Some(password_hash))
            .await?
            .ok_or(Error::InvalidLink)?;
        tracing::info!(target: "user_api::audit", subject = updated.id.0, "password reset by link");
        Ok(updated)
    }

    /// `POST /email-verification/confirm`: uses the link up and marks the
    /// address verified.
    pub async fn confirm_verification(&self, token: &str) -> Result<User, Error> {
        self.mail_settings()?;
        let hash = link_hash(token)?;
        let _wake = self.wake_after_write();
        let updated = self
            .store
            .use_mail_token(MailKind::Verification, hash, None)
            .await?
            .ok_or(Error::InvalidLink)?;
        tracing::info!(target: "user_api::audit", subject = updated.id.0, "email verified by link");
        Ok(updated)
    }

    /// An email change with mail on: a link to the new address (unless an
    /// admin marks it verified in the same PATCH) and a notice to the old.
    pub(super) fn email_change_mail(
        &self,
        target: &User,
        new: &Email,
        verified: Option<bool>,
    ) -> Result<Vec<MailRequest>, Error> {
        let mut mail = vec![MailRequest::new(
            MailKind::EmailChanged,
            target.email.clone(),
            Some(target.id),
        )?];
        if verified != Some(true) {
            mail.push(MailRequest::new(
                MailKind::Verification,
                new.clone(),
                Some(target.id),
            )?);
        }
        Ok(mail)
    }

    /// With `--require-verified-email`, a right password of an unverified
    /// account is refused.
    pub(super) fn check_verified(&self, user: &User) -> Result<(), Error> {
        match &self.mail {
            Some(settings) if settings.require_verified && !user.email_verified => {
                Err(Error::EmailNotVerified)
            }
            _ => Ok(()),
        }
    }
}

/// The hash of a link's token as the store keeps it; a token that cannot
/// be ours is invalid at once.
fn link_hash(token: &str) -> Result<crate::auth::tokens::TokenHash, Error> {
    if token.is_empty() || token.len() > MAX_LINK_TOKEN_LEN {
        return Err(Error::InvalidLink);
    }
    Ok(hash_token(token))
}
