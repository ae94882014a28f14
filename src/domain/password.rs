//! `Password`: a secret that passed NIST SP 800-63B-4's rules for a
//! single-factor password. It never prints and is never stored.

use std::collections::HashSet;
use std::fmt;
use std::sync::OnceLock;

use unicode_normalization::UnicodeNormalization;

/// The contract's bounds: at least 15 characters by default (SP 800-63B-4
/// §3.1.1.2 for a password used alone), lowerable to 8, at most 128.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    pub min_chars: usize,
}

impl PasswordPolicy {
    pub const MAX_CHARS: usize = 128;
    pub const DEFAULT_MIN_CHARS: usize = 15;
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_chars: Self::DEFAULT_MIN_CHARS,
        }
    }
}

/// A password after NFKC normalisation, so the same characters typed on two
/// keyboards hash the same. Nothing is truncated or case-folded.
#[derive(Clone)]
pub struct Password(String);

/// The 10,000 most common passwords of the SecLists "10 million passwords"
/// list (OWASP), shipped inside the binary so the check works offline.
static COMMON_LIST: &str = include_str!("../../data/common-passwords.txt");

/// The list, lower-cased, since it is matched ignoring case.
fn common_passwords() -> &'static HashSet<String> {
    static SET: OnceLock<HashSet<String>> = OnceLock::new();
    SET.get_or_init(|| {
        COMMON_LIST
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_lowercase)
            .collect()
    })
}

impl Password {
    /// Checks a new password against the policy and the common-password list.
    pub fn parse(raw: &str, policy: &PasswordPolicy) -> Result<Self, String> {
        let password = Self::normalise(raw)?;
        let chars = password.0.chars().count();
        if chars < policy.min_chars {
            return Err(format!("must be at least {} characters", policy.min_chars));
        }
        // The list is matched ignoring case: "Password123" is as guessable
        // as "password123", and attackers try both.
        if common_passwords().contains(&password.0.to_lowercase()) {
            return Err("is one of the most commonly used passwords; choose another".into());
        }
        Ok(password)
    }

    /// Normalises a password offered at sign-in: no strength rules (an old
    /// password may predate them), only the upper bound, checked before any
    /// hashing so no one can make the service hash megabytes.
    pub fn for_verification(raw: &str) -> Result<Self, String> {
        Self::normalise(raw)
    }

    fn normalise(raw: &str) -> Result<Self, String> {
        // Bound the work before normalising: NFKC can expand a character,
        // but never shrinks 4 × MAX below MAX.
        if raw.chars().count() > 4 * PasswordPolicy::MAX_CHARS {
            return Err(format!(
                "must be at most {} characters",
                PasswordPolicy::MAX_CHARS
            ));
        }
        let password: String = raw.nfkc().collect();
        if password.chars().count() > PasswordPolicy::MAX_CHARS {
            return Err(format!(
                "must be at most {} characters",
                PasswordPolicy::MAX_CHARS
            ));
        }
        Ok(Self(password))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::{Password, PasswordPolicy};

    const POLICY: PasswordPolicy = PasswordPolicy { min_chars: 15 };

    #[test]
    fn counts_unicode_scalar_values_after_nfkc() {
        // 15 × "ﬁ" (one scalar) becomes 30 × "fi" characters under NFKC.
        assert!(Password::parse(&"ﬁ".repeat(8), &POLICY).is_ok());
        assert!(Password::parse(&"é".repeat(14), &POLICY).is_err());
        assert!(Password::parse(&"é".repeat(15), &POLICY).is_ok());
    }

    #[test]
    fn refuses_common_passwords_in_any_case() {
        let policy = PasswordPolicy { min_chars: 8 };
        let err = Password::parse("PassWord", &policy).unwrap_err();
        assert!(err.contains("common"), "{err}");
        assert!(Password::parse("qwertyuiop", &policy).is_err());
    }

    #[test]
    fn list_entries_with_capitals_match_too() {
        // "Mailcreated5240" is on the list as written, with a capital.
        assert!(Password::parse("mailcreated5240", &POLICY).is_err());
        assert!(Password::parse("MAILCREATED5240", &POLICY).is_err());
    }

    #[test]
    fn refuses_more_than_128_characters() {
        assert!(Password::parse(&"x1".repeat(64), &POLICY).is_ok());
        assert!(Password::parse(&"x1y".repeat(43), &POLICY).is_err());
        assert!(Password::for_verification(&"a".repeat(10_000)).is_err());
    }

    #[test]
    fn never_prints_itself() {
        let p = Password::parse("correct horse battery staple", &POLICY).unwrap();
        assert!(!format!("{p:?}").contains("horse"));
    }
}
