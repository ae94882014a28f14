//! The mail outbox's types and the rules both backends share: what a mail
//! request row holds, and whether the sender mails it. Each backend only
//! runs the SQL (`sqlite/mail.rs`, `postgres/mail.rs`). A row holds no
//! token: the sender derives it from the row's `nonce` and a secret that is
//! not in the database (`mail::secret`), and the store keeps only its hash.

use rand::TryRngCore;

use super::{PasswordHash, TokenRevocation, UserChanges};
use crate::domain::policy::Revocation;
use crate::domain::{Email, UserId};

/// The mail verification and reset links allow per account and kind in an
/// hour (the contract); past it no mail and no new token.
pub const MAILS_PER_HOUR: i64 = 3;

/// What a mail is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    PasswordReset,
    Verification,
    /// A notice to the old address after an email change; no link.
    EmailChanged,
}

impl MailKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PasswordReset => "password_reset",
            Self::Verification => "verification",
            Self::EmailChanged => "email_changed",
        }
    }

    pub(crate) fn parse(raw: &str) -> Result<Self, super::Error> {
        match raw {
            "password_reset" => Ok(Self::PasswordReset),
            "verification" => Ok(Self::Verification),
            "email_changed" => Ok(Self::EmailChanged),
            other => Err(super::Error::Internal(format!(
                "unknown mail kind {other:?} in the database"
            ))),
        }
    }
}

/// A request to mail someone, written in the transaction of the request or
/// change that asks for it.
#[derive(Debug, Clone)]
pub struct MailRequest {
    pub kind: MailKind,
    /// Where to send it; for an anonymous request also whom it is about.
    pub email: Email,
    /// The account, when the request named it (sign-up, email change, a
    /// signed-in resend); `None` for an anonymous one, resolved by `email`
    /// when the sender takes it.
    pub user: Option<UserId>,
    /// 256 random bits: the token is HMAC(secret, nonce ‖ kind ‖ user).
    pub nonce: [u8; 32],
}

impl MailRequest {
    pub fn new(kind: MailKind, email: Email, user: Option<UserId>) -> Result<Self, super::Error> {
        let mut nonce = [0u8; 32];
        rand::rngs::OsRng
            .try_fill_bytes(&mut nonce)
            .map_err(|e| super::Error::Internal(format!("OS random generator failed: {e}")))?;
        Ok(Self {
            kind,
            email,
            user,
            nonce,
        })
    }
}

/// The account a queued mail is about, as the sender found it.
#[derive(Debug, Clone)]
pub struct Recipient {
    pub id: UserId,
    pub email: Email,
    pub name: String,
    pub is_active: bool,
    pub email_verified: bool,
    /// Mails of this kind sent to the account in the last hour.
    pub sent_last_hour: i64,
    /// The hash of the account's newest link of this kind, if any.
    pub current_token: Option<Vec<u8>>,
}

/// A mail request the sender has to handle now.
#[derive(Debug, Clone)]
pub struct QueuedMail {
    pub id: i64,
    pub kind: MailKind,
    pub email: Email,
    pub nonce: Vec<u8>,
    pub attempts: i64,
    /// Its token is stored already (an earlier attempt got that far).
    pub prepared: bool,
    /// Unix milliseconds, UTC.
    pub created_at_ms: i64,
    pub recipient: Option<Recipient>,
}

/// What the sender does with a queued mail.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// Nobody to mail (unknown, inactive, already verified, past the hourly
    /// cap, or superseded): the row goes, nothing is sent.
    Drop(&'static str),
    /// Mail it; `new_token` when its token must be stored first.
    Send { new_token: bool },
}

/// The contract's rules for whether a request gets a mail, the same on
/// every backend. `derived` is the hash of the token this row's nonce
/// gives (for kinds with a link).
pub fn decide(mail: &QueuedMail, derived: Option<&[u8]>) -> Decision {
    let Some(r) = &mail.recipient else {
        return Decision::Drop("no such account");
    };
    if mail.kind == MailKind::EmailChanged {
        return Decision::Send { new_token: false };
    }
    if !r.is_active {
        return Decision::Drop("inactive account");
    }
    if r.email != mail.email {
        return Decision::Drop("the account's email changed since");
    }
    if mail.kind == MailKind::Verification && r.email_verified {
        return Decision::Drop("already verified");
    }
    if mail.prepared {
        // A retry: the link it carries must still be the newest.
        return if r.current_token.as_deref() == derived {
            Decision::Send { new_token: false }
        } else {
            Decision::Drop("a newer link replaced it")
        };
    }
    if r.sent_last_hour >= MAILS_PER_HOUR {
        return Decision::Drop("hourly limit reached");
    }
    Decision::Send { new_token: true }
}

/// What the sender stores before mailing a link: its hash (replacing the
/// account's older link of the kind) and one more mail in the hour.
#[derive(Debug, Clone)]
pub struct NewMailToken {
    pub mail_id: i64,
    pub user: UserId,
    pub kind: MailKind,
    pub hash: [u8; 32],
    /// Unix seconds, UTC.
    pub expires_at: i64,
}

/// What became of a mail after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailOutcome {
    /// Sent or dropped: the row goes.
    Done,
    Retry {
        attempts: i64,
        next_at_ms: i64,
        error: String,
    },
    Failed {
        attempts: i64,
        error: String,
    },
}

/// What using a link changes: a reset sets the password, ends every token
/// and proves the address; a verification proves it.
pub(crate) fn link_changes(
    kind: MailKind,
    password_hash: Option<PasswordHash>,
) -> (UserChanges, Option<TokenRevocation>) {
    let reset = kind == MailKind::PasswordReset && password_hash.is_some();
    let changes = UserChanges {
        password_hash,
        email_verified: Some(true),
        password_reset: reset,
        ..Default::default()
    };
    let revocation = reset.then_some(TokenRevocation {
        scope: Revocation::All,
        keep: None,
    });
    (changes, revocation)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queued(kind: MailKind, recipient: Option<Recipient>) -> QueuedMail {
        QueuedMail {
            id: 1,
            kind,
            email: Email::parse("ada@example.com").unwrap(),
            nonce: vec![0; 32],
            attempts: 0,
            prepared: false,
            created_at_ms: 0,
            recipient,
        }
    }

    fn ada() -> Recipient {
        Recipient {
            id: UserId(7),
            email: Email::parse("ada@example.com").unwrap(),
            name: "Ada".into(),
            is_active: true,
            email_verified: false,
            sent_last_hour: 0,
            current_token: None,
        }
    }

    #[test]
    fn unknown_inactive_verified_and_capped_accounts_get_no_mail() {
        let reset = |r| decide(&queued(MailKind::PasswordReset, r), None);
        assert!(matches!(reset(None), Decision::Drop(_)));
        assert!(matches!(
            reset(Some(Recipient {
                is_active: false,
                ..ada()
            })),
            Decision::Drop(_)
        ));
        assert!(matches!(
            reset(Some(Recipient {
                sent_last_hour: 3,
                ..ada()
            })),
            Decision::Drop(_)
        ));
        assert_eq!(reset(Some(ada())), Decision::Send { new_token: true });
        let verify = decide(
            &queued(
                MailKind::Verification,
                Some(Recipient {
                    email_verified: true,
                    ..ada()
                }),
            ),
            None,
        );
        assert!(matches!(verify, Decision::Drop(_)));
    }

    #[test]
    fn a_retry_sends_only_the_newest_link() {
        let mut mail = queued(
            MailKind::PasswordReset,
            Some(Recipient {
                current_token: Some(vec![1]),
                sent_last_hour: 3,
                ..ada()
            }),
        );
        mail.prepared = true;
        assert_eq!(
            decide(&mail, Some(&[1])),
            Decision::Send { new_token: false }
        );
        assert!(matches!(decide(&mail, Some(&[2])), Decision::Drop(_)));
    }
}
