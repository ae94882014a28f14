//! Mail for email verification and password reset: the sender that carries
//! the mail outbox to the SMTP server, the SMTP client, the templates and
//! the secret links are derived from. It never changes a user and never
//! runs on a request's path: requests only write outbox rows
//! (`accounts::mail`); an SMTP outage never affects readiness.

pub mod secret;
pub mod sender;
pub mod smtp;
pub mod templates;

use std::time::Duration;

pub use secret::MailSecret;
pub use smtp::{SmtpMailer, SmtpUrl};
pub use templates::Templates;

/// How long a verification link works (the contract: 48 hours).
pub const VERIFICATION_TTL: Duration = Duration::from_secs(48 * 3600);

/// What the sender needs: where to send, what, and how links are made.
#[derive(Clone)]
pub struct Mailer {
    pub smtp: SmtpMailer,
    pub templates: Templates,
    pub secret: MailSecret,
    /// `--public-url` without a trailing slash: links are
    /// `{public_url}/password-reset?token=…`.
    pub public_url: String,
    pub reset_ttl: Duration,
}

/// `--public-url`: an absolute http(s) URL with a host and nothing after
/// the path; kept without its trailing slash.
pub fn parse_public_url(raw: &str) -> Result<String, String> {
    let url = url::Url::parse(raw.trim())
        .map_err(|e| format!("{raw:?} is not an absolute URL like https://id.example.com ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(format!(
            "{raw:?} must be an http:// or https:// URL with a host"
        ));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(format!("{raw:?} must have no query, fragment or user"));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// `--mail-from`: an address, optionally with a display name
/// (`User API <noreply@example.com>`).
pub fn parse_mail_from(raw: &str) -> Result<lettre::message::Mailbox, String> {
    raw.trim()
        .parse()
        .map_err(|e| format!("{raw:?} is not a mail address ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_urls_are_absolute_http_and_lose_their_trailing_slash() {
        assert_eq!(
            parse_public_url("https://id.example.com/").unwrap(),
            "https://id.example.com"
        );
        assert_eq!(
            parse_public_url("http://127.0.0.1:8000/auth/").unwrap(),
            "http://127.0.0.1:8000/auth"
        );
        for bad in [
            "id.example.com",
            "ftp://x.example",
            "https://x.example/?a=1",
            "/path",
        ] {
            assert!(parse_public_url(bad).is_err(), "{bad}");
        }
    }
}
