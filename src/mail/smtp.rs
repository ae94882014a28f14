//! The SMTP client (lettre, rustls on ring, the system's roots through
//! rustls-native-certs, which honours `SSL_CERT_FILE`): `smtp://` upgrades
//! with STARTTLS when the server offers it, `smtps://` is TLS from the first
//! byte, `user:password@` authenticates. `--smtp-url` is read here once, at
//! start; a URL it cannot use is refused in one line that never shows the
//! password.

use std::time::Duration;

use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::templates::Rendered;

/// How long one SMTP conversation may take.
const SMTP_TIMEOUT: Duration = Duration::from_secs(15);

/// `--smtp-url`, parsed; its `Debug` hides the password.
#[derive(Clone)]
pub struct SmtpUrl {
    implicit_tls: bool,
    host: String,
    port: u16,
    credentials: Option<(String, String)>,
}

impl std::fmt::Debug for SmtpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SmtpUrl({}://{}{}:{})",
            if self.implicit_tls { "smtps" } else { "smtp" },
            if self.credentials.is_some() {
                "<user>:<redacted>@"
            } else {
                ""
            },
            self.host,
            self.port
        )
    }
}

impl SmtpUrl {
    /// `smtp://[user:password@]host[:port]` (port 25 by default; STARTTLS
    /// when offered) or `smtps://…` (port 465).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let url = url::Url::parse(raw.trim())
            .map_err(|e| format!("not a URL like smtp://host:587 ({e})"))?;
        let implicit_tls = match url.scheme() {
            "smtp" => false,
            "smtps" => true,
            other => return Err(format!("scheme {other:?}: use smtp:// or smtps://")),
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or("no host (smtp://host:port)")?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        if url.path() != "" && url.path() != "/"
            || url.query().is_some()
            || url.fragment().is_some()
        {
            return Err("only scheme, user:password@, host and port are read".into());
        }
        let port = url.port().unwrap_or(if implicit_tls { 465 } else { 25 });
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| "the user or password is not UTF-8 once percent-decoded".to_owned())
        };
        let credentials = match (url.username(), url.password()) {
            ("", None) => None,
            (user, Some(password)) if !user.is_empty() => Some((decode(user)?, decode(password)?)),
            _ => return Err("authentication needs both user and password (user:password@)".into()),
        };
        Ok(Self {
            implicit_tls,
            host,
            port,
            credentials,
        })
    }
}

/// Sends mail to the configured server.
#[derive(Clone)]
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    pub fn new(url: &SmtpUrl, from: Mailbox) -> Result<Self, String> {
        let tls = TlsParameters::builder(url.host.clone())
            .build_rustls()
            .map_err(|e| format!("--smtp-url: cannot set up TLS: {e}"))?;
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&url.host)
            .port(url.port)
            .timeout(Some(SMTP_TIMEOUT))
            .tls(if url.implicit_tls {
                Tls::Wrapper(tls)
            } else {
                Tls::Opportunistic(tls)
            });
        if let Some((user, password)) = &url.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(Self {
            transport: builder.build(),
            from,
        })
    }

    /// Hands one mail to the server; the error is for the log and the
    /// outbox row (it names no secret).
    pub async fn send(&self, to: &str, mail: Rendered) -> Result<(), SendError> {
        let to: Mailbox = to
            .parse()
            .map_err(|e| SendError::Undeliverable(format!("the address cannot be mailed: {e}")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject)
            .multipart(
                MultiPart::alternative()
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_PLAIN)
                            .body(mail.text),
                    )
                    .singlepart(
                        SinglePart::builder()
                            .header(ContentType::TEXT_HTML)
                            .body(mail.html),
                    ),
            )
            .map_err(|e| SendError::Undeliverable(format!("cannot build the mail: {e}")))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(SendError::Refused(e.to_string())),
            Err(e) => Err(SendError::Transient(e.to_string())),
        }
    }
}

/// Why a mail did not go.
#[derive(Debug)]
pub enum SendError {
    /// The mail can never be sent (an address lettre cannot encode).
    Undeliverable(String),
    /// The server refused it for good (5xx).
    Refused(String),
    /// Worth retrying: connection, TLS, 4xx, timeout.
    Transient(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_read_once_and_the_password_never_prints() {
        let u = SmtpUrl::parse("smtp://mailer:s%40cret@mail.example.com:587").unwrap();
        assert_eq!(u.port, 587);
        assert_eq!(u.credentials, Some(("mailer".into(), "s@cret".into())));
        assert!(!format!("{u:?}").contains("cret"));
        assert_eq!(
            SmtpUrl::parse("smtps://mail.example.com").unwrap().port,
            465
        );
        assert_eq!(SmtpUrl::parse("smtp://127.0.0.1").unwrap().port, 25);
        for bad in [
            "mail.example.com",
            "http://mail.example.com",
            "smtp://",
            "smtp://user@mail.example.com",
            "smtp://mail.example.com/x",
            "smtp://mail.example.com?tls=none",
        ] {
            assert!(SmtpUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
