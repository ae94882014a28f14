//! `Email`: the account's identity, compared ignoring case.

use std::fmt;

/// A trimmed, Unicode-lower-cased, syntactically valid address of at most 254
/// characters (RFC 5321's path limit). Lower-casing happens here, not in the
/// database's collation, so both backends agree on what "the same email" is.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

/// RFC 5321 §4.5.3.1.3: a path is at most 256 octets including the angle brackets.
const MAX_CHARS: usize = 254;

impl Email {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let email = raw.trim().to_lowercase();
        if email.is_empty() {
            return Err("must not be empty".into());
        }
        if email.chars().count() > MAX_CHARS {
            return Err(format!("must be at most {MAX_CHARS} characters"));
        }
        // The `email_address` crate implements RFC 5322's addr-spec; we refuse
        // the forms no mail system delivers to in practice (display names).
        match email_address::EmailAddress::parse_with_options(
            &email,
            email_address::Options::default()
                .without_display_text()
                .without_domain_literal(),
        ) {
            Ok(_) => Ok(Self(email)),
            Err(_) => Err("is not a valid email address".into()),
        }
    }

    /// Rebuilds an email that was parsed before it was stored.
    pub fn from_trusted(stored: String) -> Self {
        Self(stored)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::Email;

    #[test]
    fn is_trimmed_and_lower_cased_including_non_ascii() {
        let email = Email::parse("  ÉLODIE@Example.COM ").unwrap();
        assert_eq!(email.as_str(), "élodie@example.com");
    }

    #[test]
    fn refuses_garbage_and_overlong_addresses() {
        assert!(Email::parse("not-an-email").is_err());
        assert!(Email::parse("a@").is_err());
        assert!(Email::parse("").is_err());
        assert!(Email::parse("Ada <ada@example.com>").is_err());
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
    }
}
