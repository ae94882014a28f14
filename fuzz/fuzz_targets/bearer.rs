//! `Authorization` header → `Bearer`: a token is accepted only as
//! `Bearer <b64token>` (scheme in any case), never with whitespace inside,
//! and is the SHA-256 of exactly the token's characters.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};
use user_api::auth::tokens::{parse_bearer, Bearer};
use user_api::auth::tokens::TokenHash;

/// RFC 6750 §2.1 b64token characters (the parser also takes `=` anywhere).
fn is_b64_token(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~+/=".contains(c)
}

fuzz_target!(|data: &[u8]| {
    assert_eq!(parse_bearer(None), Bearer::Missing);
    let parsed = parse_bearer(Some(data));
    let Ok(text) = std::str::from_utf8(data) else {
        // Not text: never a token, and never taken for "no credentials".
        assert_eq!(parsed, Bearer::Malformed);
        return;
    };
    let value = text.trim();
    let scheme = value.split(' ').next().unwrap_or_default();
    let is_bearer = scheme.eq_ignore_ascii_case("bearer");
    match &parsed {
        Bearer::Missing => assert!(!is_bearer, "a bearer header taken as missing"),
        Bearer::Malformed => assert!(is_bearer, "another scheme taken as a bad token"),
        Bearer::Token(hash) => {
            assert!(is_bearer);
            // `bearer` is ASCII, so byte 6 is the separating space.
            let token = value[7..].trim();
            assert!(!token.is_empty() && token.len() <= 512, "{token:?}");
            assert!(
                !token.chars().any(char::is_whitespace),
                "a token with whitespace was accepted: {token:?}"
            );
            assert!(token.chars().all(is_b64_token), "{token:?}");
            let expected = TokenHash(Sha256::digest(token.as_bytes()).into());
            assert!(*hash == expected, "the hash is not of the token as sent");
        }
    }
    // Surrounding whitespace and the scheme's case change nothing.
    assert_eq!(parse_bearer(Some(format!(" \t{text} ").as_bytes())), parsed);
    if is_bearer {
        let flipped = format!("BeArEr{}", &value[6..]);
        assert_eq!(parse_bearer(Some(flipped.as_bytes())), parsed);
    }
});
