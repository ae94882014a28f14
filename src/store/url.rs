//! Where the data lives: `sqlite:PATH` or `postgres://…`, parsed once at the
//! edge. A storage notion, so it lives with the store; `Debug` and
//! `Display` hide a PostgreSQL password so the URL can be logged.

use std::fmt;
use std::path::PathBuf;

use percent_encoding::percent_decode_str;

/// A store's address, as `--database-url` gives it.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(String),
}

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if let Some(path) = raw
            .strip_prefix("sqlite://")
            .or_else(|| raw.strip_prefix("sqlite:"))
        {
            if path.is_empty() {
                return Err("sqlite: URL needs a file path, e.g. sqlite:user-api.db".into());
            }
            return Ok(Self::Sqlite(PathBuf::from(path)));
        }
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            return Ok(Self::Postgres(raw.to_owned()));
        }
        Err("must start with sqlite: or postgres://".into())
    }
}

/// libpq's `sslmode`, all five that matter: tokio-postgres knows only the
/// first three, so the URL is read here and tokio-postgres gets the rest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Plain TCP.
    Disable,
    /// TLS when the server offers it, else plain; the certificate is not
    /// checked (libpq's default: it protects against eavesdropping only).
    Prefer,
    /// TLS or no connection; the certificate is not checked, as in libpq
    /// (Debian's and many managed servers' certificates are self-signed).
    Require,
    /// TLS, the chain checked against the roots, the host name not.
    VerifyCa,
    /// TLS, the chain and the host name checked.
    VerifyFull,
}

/// Which roots a verifying `sslmode` trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RootCerts {
    /// The operating system's store (`rustls-native-certs`, which reads
    /// /etc/ssl/certs and honours `SSL_CERT_FILE`/`SSL_CERT_DIR`): what an
    /// operator installs a managed database's CA into. Also `sslrootcert=system`.
    System,
    /// `sslrootcert=PATH`: PEM certificates.
    File(PathBuf),
}

/// A `postgres://` URL read once: what tokio-postgres understands in
/// `config` (its own `sslmode` set to disable/prefer/require), the TLS the
/// connector must do in `ssl_mode` and `root_certs`.
#[derive(Clone)]
pub struct PostgresTarget {
    pub config: tokio_postgres::Config,
    pub ssl_mode: SslMode,
    pub root_certs: RootCerts,
}

impl PostgresTarget {
    /// Reads `sslmode` and `sslrootcert` out of the URL's query and hands
    /// the rest to tokio-postgres. As in libpq, `require` with an explicit
    /// `sslrootcert` verifies the chain (it then means `verify-ca`). The
    /// error is one line and never quotes the URL (it may hold a password).
    pub fn parse(url: &str) -> Result<Self, String> {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let mut ssl_mode = SslMode::Prefer;
        let mut root_file = None;
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decoded = percent_decode_str(value).decode_utf8_lossy();
            match key {
                "sslmode" => {
                    ssl_mode = match &*decoded {
                        "disable" => SslMode::Disable,
                        "prefer" => SslMode::Prefer,
                        "require" => SslMode::Require,
                        "verify-ca" => SslMode::VerifyCa,
                        "verify-full" => SslMode::VerifyFull,
                        other => {
                            return Err(format!(
                                "sslmode must be disable, prefer, require, verify-ca or verify-full, not {other:?}"
                            ))
                        }
                    }
                }
                "sslrootcert" => root_file = Some(decoded.into_owned()),
                "sslcert" | "sslkey" | "sslpassword" | "sslcrl" | "sslcrldir" => {
                    return Err(format!(
                        "{key}: client certificates and revocation lists are not supported"
                    ))
                }
                _ => kept.push(pair),
            }
        }
        let rest = if kept.is_empty() {
            base.to_owned()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        let mut config: tokio_postgres::Config = rest
            .parse()
            .map_err(|e| format!("not a valid postgres:// URL: {e}"))?;
        let root_certs = match root_file.as_deref() {
            None | Some("system") => RootCerts::System,
            Some(path) => RootCerts::File(PathBuf::from(path)),
        };
        if ssl_mode == SslMode::Require && matches!(root_certs, RootCerts::File(_)) {
            ssl_mode = SslMode::VerifyCa;
        }
        config.ssl_mode(match ssl_mode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            _ => tokio_postgres::config::SslMode::Require,
        });
        Ok(Self {
            config,
            ssl_mode,
            root_certs,
        })
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            Self::Postgres(url) => {
                // postgres://user:secret@host/db → postgres://user:***@host/db
                match (url.find("://"), url.rfind('@')) {
                    (Some(scheme), Some(at)) if at > scheme => {
                        let creds = &url[scheme + 3..at];
                        match creds.find(':') {
                            Some(colon) => write!(
                                f,
                                "{}{}:***{}",
                                &url[..scheme + 3],
                                &creds[..colon],
                                &url[at..]
                            ),
                            None => f.write_str(url),
                        }
                    }
                    _ => f.write_str(url),
                }
            }
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_hides_the_password() {
        let url = DatabaseUrl::parse("postgres://app:s3cret@db:5432/users").unwrap();
        let shown = format!("{url} {url:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("postgres://app:***@db:5432/users"));
    }

    #[test]
    fn sslmode_and_sslrootcert_are_read_before_tokio_postgres() {
        let t = PostgresTarget::parse(
            "postgres://app:pw@db/users?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&application_name=x",
        )
        .unwrap();
        assert_eq!(t.ssl_mode, SslMode::VerifyFull);
        assert_eq!(t.root_certs, RootCerts::File("/etc/ca.pem".into()));
        assert_eq!(t.config.get_application_name(), Some("x"));
        let default = PostgresTarget::parse("postgres://db/users").unwrap();
        assert_eq!(default.ssl_mode, SslMode::Prefer);
        assert_eq!(default.root_certs, RootCerts::System);
        // libpq: require with a root file verifies the chain.
        let t =
            PostgresTarget::parse("postgres://db/u?sslmode=require&sslrootcert=ca.pem").unwrap();
        assert_eq!(t.ssl_mode, SslMode::VerifyCa);
        let err = PostgresTarget::parse("postgres://app:pw@db/u?sslmode=bogus")
            .err()
            .unwrap();
        assert!(err.contains("sslmode") && !err.contains("pw"), "{err}");
    }

    #[test]
    fn sqlite_urls_name_a_file() {
        assert_eq!(
            DatabaseUrl::parse("sqlite:data/u.db").unwrap(),
            DatabaseUrl::Sqlite("data/u.db".into())
        );
        assert!(DatabaseUrl::parse("sqlite:").is_err());
        assert!(DatabaseUrl::parse("mysql://x").is_err());
    }
}
