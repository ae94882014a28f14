//! Where the data lives: `sqlite:PATH` or `postgres://…`, parsed once at the
//! edge. A storage notion, so it lives with the store; `Debug` and
//! `Display` hide a PostgreSQL password so the URL can be logged.

use std::fmt;
use std::path::PathBuf;

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
    fn sqlite_urls_name_a_file() {
        assert_eq!(
            DatabaseUrl::parse("sqlite:data/u.db").unwrap(),
            DatabaseUrl::Sqlite("data/u.db".into())
        );
        assert!(DatabaseUrl::parse("sqlite:").is_err());
        assert!(DatabaseUrl::parse("mysql://x").is_err());
    }
}
