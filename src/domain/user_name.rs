//! `UserName`: what a person is called, for display only.

/// Trimmed, 1 to 100 characters, no control characters (they break logs and
/// terminals, and no one's name contains one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName(String);

const MAX_CHARS: usize = 100;

impl UserName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let name = raw.trim();
        if name.is_empty() {
            return Err("must not be empty".into());
        }
        if name.chars().count() > MAX_CHARS {
            return Err(format!("must be at most {MAX_CHARS} characters"));
        }
        if name.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as the admin listing's `q` searches it (stored beside the
    /// name as `name_lower`): folded like an email, so `q` matches names and
    /// emails by one rule.
    pub fn search_key(&self) -> String {
        super::fold::fold(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::UserName;

    #[test]
    fn counts_characters_not_bytes() {
        assert!(UserName::parse(&"é".repeat(100)).is_ok());
        assert!(UserName::parse(&"é".repeat(101)).is_err());
    }

    #[test]
    fn refuses_blank_and_control_characters() {
        assert!(UserName::parse("   ").is_err());
        assert!(UserName::parse("Ada\u{0}Lovelace").is_err());
        assert!(UserName::parse("Ada\nLovelace").is_err());
        assert_eq!(UserName::parse("  Ada ").unwrap().as_str(), "Ada");
    }
}
