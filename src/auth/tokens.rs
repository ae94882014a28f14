//! Opaque access tokens: 256 random bits from the OS generator, given to the
//! client once and stored only as their SHA-256 (a leaked database lets no
//! one in). A random token needs no slow hash: it cannot be guessed.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::TryRngCore;
use sha2::{Digest, Sha256};

/// The SHA-256 of an access token: all the store ever sees of one.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TokenHash(pub [u8; 32]);

/// A token as the client holds it. Never printed.
pub struct AccessToken(String);

impl AccessToken {
    /// A new token from the operating system's generator.
    pub fn generate() -> Result<Self, super::Error> {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng
            .try_fill_bytes(&mut bytes)
            .map_err(|e| super::Error::Hashing(format!("OS random generator failed: {e}")))?;
        Ok(Self(URL_SAFE_NO_PAD.encode(bytes)))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn hash(&self) -> TokenHash {
        hash_token(&self.0)
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(<redacted>)")
    }
}

/// What an `Authorization` header holds, as far as bearer auth cares.
#[derive(Debug, PartialEq, Eq)]
pub enum Bearer {
    Missing,
    Malformed,
    Token(TokenHash),
}

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenHash(..)")
    }
}

/// Tokens we issue are 43 base64url characters; anything much longer is not
/// ours and is refused before hashing.
const MAX_TOKEN_LEN: usize = 512;

/// Parses `Authorization: Bearer <token>` (RFC 6750 §2.1; the scheme is
/// case-insensitive, RFC 9110 §11.1). Only the header is read: a token in a
/// URL would end up in logs and browser history.
pub fn parse_bearer(header: Option<&[u8]>) -> Bearer {
    let Some(value) = header else {
        return Bearer::Missing;
    };
    let Ok(value) = std::str::from_utf8(value) else {
        return Bearer::Malformed;
    };
    let mut parts = value.trim().splitn(2, ' ');
    let scheme = parts.next().unwrap_or_default();
    if !scheme.eq_ignore_ascii_case("bearer") {
        // RFC 6750 §3.1: another scheme carries no bearer credentials, so
        // it is answered like a missing token (no error code).
        return Bearer::Missing;
    }
    let Some(token) = parts.next() else {
        return Bearer::Malformed;
    };
    parse_token(token)
}

/// A token as sent without its scheme (the admin console's session
/// cookie holds one): the same checks as a bearer token's.
pub fn parse_token(token: &str) -> Bearer {
    let token = token.trim();
    let is_b64_token = |c: char| c.is_ascii_alphanumeric() || "-._~+/=".contains(c);
    if token.is_empty() || token.len() > MAX_TOKEN_LEN || !token.chars().all(is_b64_token) {
        return Bearer::Malformed;
    }
    Bearer::Token(hash_token(token))
}

pub fn hash_token(token: &str) -> TokenHash {
    TokenHash(Sha256::digest(token.as_bytes()).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_long_random_and_parse_back() {
        let a = AccessToken::generate().unwrap();
        let b = AccessToken::generate().unwrap();
        assert_ne!(a.expose(), b.expose());
        assert!(a.expose().len() >= 43);
        let header = format!("Bearer {}", a.expose());
        assert_eq!(
            parse_bearer(Some(header.as_bytes())),
            Bearer::Token(a.hash())
        );
        assert!(!format!("{a:?}").contains(a.expose()));
    }

    #[test]
    fn anything_but_a_bearer_token_is_malformed_or_missing() {
        assert_eq!(parse_bearer(None), Bearer::Missing);
        for bad in ["Bearer", "Bearer ", "bearer a b", "Bearer ä"] {
            assert_eq!(
                parse_bearer(Some(bad.as_bytes())),
                Bearer::Malformed,
                "{bad}"
            );
        }
        assert_eq!(parse_bearer(Some(&[0xff, 0xfe])), Bearer::Malformed);
        // RFC 6750 §3.1: another scheme carries no bearer credentials.
        for other in ["Basic abc", "Token abc", ""] {
            assert_eq!(
                parse_bearer(Some(other.as_bytes())),
                Bearer::Missing,
                "{other}"
            );
        }
        let long = format!("Bearer {}", "a".repeat(600));
        assert_eq!(parse_bearer(Some(long.as_bytes())), Bearer::Malformed);
    }
}
