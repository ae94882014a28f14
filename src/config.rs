//! Typed configuration values and the parsers clap uses to build them, so a
//! bad flag is refused at start with a one-line reason.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;

/// Where the data lives. `Debug` and `Display` hide a PostgreSQL password so
/// the URL can be logged.
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

/// `1h`, `30s`, `90m`… (humantime's syntax); zero is refused.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(raw).map_err(|e| e.to_string())?;
    if d.is_zero() {
        return Err("must be greater than zero".into());
    }
    Ok(d)
}

/// A token lifetime: whole seconds, since expiry is stored in seconds.
pub fn parse_ttl(raw: &str) -> Result<Duration, String> {
    let d = parse_duration(raw)?;
    if d < Duration::from_secs(1) {
        return Err("must be at least 1s".into());
    }
    if d > Duration::from_secs(366 * 86_400) {
        return Err("must be at most one year".into());
    }
    Ok(Duration::from_secs(d.as_secs()))
}

/// An address or a CIDR block of a trusted proxy.
pub fn parse_net(raw: &str) -> Result<IpNet, String> {
    let raw = raw.trim();
    raw.parse::<IpNet>()
        .or_else(|_| raw.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{raw:?} is not an IP address or CIDR block"))
}

/// An allowed browser origin: `scheme://host[:port]`, nothing else.
pub fn parse_origin(raw: &str) -> Result<String, String> {
    let raw = raw.trim().trim_end_matches('/');
    let ok = (raw.starts_with("http://") || raw.starts_with("https://"))
        && !raw.contains('*')
        && raw.splitn(4, '/').count() == 3
        && axum::http::HeaderValue::from_str(raw).is_ok();
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(format!(
            "{raw:?} is not an origin like https://app.example.com"
        ))
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
    fn sqlite_urls_name_a_file() {
        assert_eq!(
            DatabaseUrl::parse("sqlite:data/u.db").unwrap(),
            DatabaseUrl::Sqlite("data/u.db".into())
        );
        assert!(DatabaseUrl::parse("sqlite:").is_err());
        assert!(DatabaseUrl::parse("mysql://x").is_err());
    }

    #[test]
    fn origins_are_scheme_host_and_port_only() {
        assert!(parse_origin("https://app.example.com").is_ok());
        assert!(parse_origin("http://localhost:3000/").is_ok());
        assert!(parse_origin("*").is_err());
        assert!(parse_origin("https://a.com/path").is_err());
        assert!(parse_origin("app.example.com").is_err());
    }
}
