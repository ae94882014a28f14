//! Standard Webhooks signing (<https://www.standardwebhooks.com>), symmetric `v1` scheme only.
//!
//! Job: turn the operator's `whsec_…` secret(s) into signing keys and compute the value of the
//! `webhook-signature` header for one delivery attempt.
//!
//! Must not: log, print or `Debug`-format key material; do I/O; read the clock (the caller passes
//! the attempt timestamp, because the spec wants each retry signed with its own attempt time);
//! verify incoming webhooks (this service only produces them).

use std::fmt;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::{DecodeError, Engine as _};
use hmac::{Hmac, Mac};
use sha2::Sha256;

const PREFIX: &str = "whsec_";

/// Rotation means "old and new at once"; a third key is almost certainly a configuration mistake
/// and would grow every request's header for nothing.
const MAX_SECRETS: usize = 2;

/// Secrets are pasted by hand, and the reference Python library accepts them unpadded, so
/// padding is optional here; the alphabet stays strict (standard, not URL-safe) like every
/// reference library.
const SECRET_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// One HMAC signing key.
///
/// The key is held only as the keyed HMAC state, never as the raw bytes, so no accessor can leak
/// it and signing needs no fallible key setup per request.
///
/// Length: the spec recommends 24–64 random bytes, but every reference library (Rust, Python,
/// JavaScript, Go) accepts any non-empty key, and a receiver would accept our signature with any
/// key too. Refusing shorter keys here would break interop with secrets a customer already has,
/// so any key of at least one byte is accepted; generate new secrets with 32 random bytes.
#[derive(Clone)]
pub struct WebhookSecret {
    mac: Hmac<Sha256>,
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WebhookSecret([REDACTED])")
    }
}

impl WebhookSecret {
    /// Unlike the reference libraries, the `whsec_` prefix is required: it is what tells an
    /// operator (and secret scanners) which kind of value belongs in this setting, and a bare
    /// base64 string is more likely a value pasted into the wrong variable.
    ///
    /// Error texts never quote the input, since the input is the secret.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let encoded = raw
            .strip_prefix(PREFIX)
            .ok_or_else(|| "webhook secret must start with \"whsec_\"".to_owned())?;
        let key = SECRET_BASE64.decode(encoded).map_err(|e| {
            format!(
                "webhook secret is not valid base64 after \"whsec_\": {}",
                describe(&e)
            )
        })?;
        if key.is_empty() {
            return Err("webhook secret is empty after \"whsec_\"".to_owned());
        }
        let mac = Hmac::<Sha256>::new_from_slice(&key)
            .map_err(|_| "webhook secret has a length HMAC-SHA256 cannot use".to_owned())?;
        Ok(Self { mac })
    }

    fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = self.mac.clone();
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        STANDARD.encode(mac.finalize().into_bytes())
    }
}

/// `base64::DecodeError`'s own Display names the offending byte, which is a piece of the secret.
fn describe(e: &DecodeError) -> String {
    match e {
        DecodeError::InvalidByte(offset, _) => format!("invalid character at position {offset}"),
        DecodeError::InvalidLength(_) => "invalid length".to_owned(),
        DecodeError::InvalidLastSymbol(offset, _) => {
            format!("invalid last character at position {offset}")
        }
        DecodeError::InvalidPadding => "invalid padding".to_owned(),
    }
}

/// Comma is a safe separator because it is not in the base64 alphabet. Two secrets mean a
/// rotation is under way: receivers accept a delivery if any listed signature matches, so
/// signing with both lets them switch keys without a window of failed deliveries.
pub fn parse_secrets(raw: &str) -> Result<Vec<WebhookSecret>, String> {
    let parts: Vec<&str> = raw.split(',').map(str::trim).collect();
    if parts.iter().all(|p| p.is_empty()) {
        return Err("no webhook secret given".to_owned());
    }
    if parts.len() > MAX_SECRETS {
        return Err(format!(
            "at most {MAX_SECRETS} comma-separated webhook secrets are allowed (two while rotating), got {}",
            parts.len()
        ));
    }
    parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            if part.is_empty() {
                return Err(format!("webhook secret #{} is empty", i + 1));
            }
            WebhookSecret::parse(part).map_err(|e| format!("webhook secret #{}: {e}", i + 1))
        })
        .collect()
}

/// Signs `"{msg_id}.{timestamp}.{body}"` over the raw body bytes, so the body must be sent
/// byte-for-byte as given here (never re-serialised after signing).
///
/// `msg_id` must not contain `.`: the spec warns that a dot would let one (id, timestamp) pair
/// pose as another. Ids are generated by this service, so that is a programming error, checked
/// in debug builds only.
///
/// Returns an empty string for an empty slice; [`parse_secrets`] never yields one.
pub fn signature_header(
    secrets: &[WebhookSecret],
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    debug_assert!(!msg_id.contains('.'), "webhook msg id must not contain '.'");
    secrets
        .iter()
        .map(|s| format!("v1,{}", s.sign(msg_id, timestamp, body)))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    // Official vector #1: standard-webhooks/standard-webhooks @ b2fa7b8,
    // libraries/rust/src/lib.rs, `test_sign`.
    const RUST_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const RUST_MSG_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const RUST_TS: i64 = 1649367553;
    const RUST_BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
    const RUST_SIG: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

    // Official vector #2: same commit, libraries/python/tests/test_webhooks.py
    // `test_sign_function` (also libraries/javascript/src/webhook.test.ts).
    const PY_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const PY_MSG_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const PY_TS: i64 = 1614265330;
    const PY_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const PY_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn matches_official_vectors() {
        let rust = WebhookSecret::parse(RUST_SECRET).unwrap();
        assert_eq!(
            signature_header(&[rust], RUST_MSG_ID, RUST_TS, RUST_BODY),
            RUST_SIG
        );
        let py = WebhookSecret::parse(PY_SECRET).unwrap();
        assert_eq!(signature_header(&[py], PY_MSG_ID, PY_TS, PY_BODY), PY_SIG);
    }

    #[test]
    fn two_secrets_give_two_space_separated_signatures_in_order() {
        let secrets = parse_secrets(&format!(" {RUST_SECRET} , {PY_SECRET}\n")).unwrap();
        assert_eq!(secrets.len(), 2);
        let header = signature_header(&secrets, RUST_MSG_ID, RUST_TS, RUST_BODY);
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], RUST_SIG);
        let second_alone = signature_header(&secrets[1..], RUST_MSG_ID, RUST_TS, RUST_BODY);
        assert_eq!(parts[1], second_alone);
        assert_ne!(parts[0], parts[1]);
    }

    #[test]
    fn single_secret_list() {
        let secrets = parse_secrets(PY_SECRET).unwrap();
        assert_eq!(
            signature_header(&secrets, PY_MSG_ID, PY_TS, PY_BODY),
            PY_SIG
        );
    }

    #[test]
    fn signature_covers_id_timestamp_and_body() {
        let s = [WebhookSecret::parse(RUST_SECRET).unwrap()];
        let base = signature_header(&s, RUST_MSG_ID, RUST_TS, RUST_BODY);
        assert_ne!(base, signature_header(&s, "msg_other", RUST_TS, RUST_BODY));
        assert_ne!(
            base,
            signature_header(&s, RUST_MSG_ID, RUST_TS + 1, RUST_BODY)
        );
        assert_ne!(base, signature_header(&s, RUST_MSG_ID, RUST_TS, b"{}"));
    }

    #[test]
    fn non_utf8_body_is_signed_as_bytes() {
        let s = [WebhookSecret::parse(RUST_SECRET).unwrap()];
        let header = signature_header(&s, RUST_MSG_ID, RUST_TS, &[0xff, 0x00, 0xfe]);
        assert!(header.starts_with("v1,"));
        assert_eq!(header.len(), "v1,".len() + 44);
    }

    #[test]
    fn unpadded_secret_is_accepted() {
        // 31 base64 chars = 23 bytes; padded form needs one '='.
        let unpadded = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaQ").unwrap();
        let padded = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaQ=").unwrap();
        assert_eq!(
            signature_header(&[unpadded], "m", 1, b"x"),
            signature_header(&[padded], "m", 1, b"x")
        );
    }

    #[test]
    fn short_but_non_empty_key_is_accepted() {
        assert!(WebhookSecret::parse("whsec_AA==").is_ok());
    }

    #[test]
    fn parse_errors_are_one_line_and_do_not_echo_the_secret() {
        let cases = [
            ("C2FVsBQIhrscChlQIMV+b5sSYspob7oD", "must start with"),
            ("WHSEC_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", "must start with"),
            ("whsec_C2FVsBQI!rscChlQIMV+b5sSYspob7oD", "position 8"),
            ("whsec_C2FVsBQI_rscChlQIMV-b5sSYspob7oD", "not valid base64"),
            ("whsec_C", "not valid base64"),
            ("whsec_", "empty"),
            ("  whsec_  ", "empty"),
        ];
        for (raw, expected) in cases {
            let err = WebhookSecret::parse(raw).unwrap_err();
            assert!(err.contains(expected), "{raw:?} gave {err:?}");
            assert!(!err.contains('\n'), "{err:?}");
            assert!(
                !err.contains("C2FVsBQI"),
                "error echoes the secret: {err:?}"
            );
            assert!(!err.contains('!'), "error echoes a secret byte: {err:?}");
        }
    }

    #[test]
    fn parse_secrets_errors() {
        assert!(parse_secrets("").unwrap_err().contains("no webhook secret"));
        assert!(parse_secrets(" , ")
            .unwrap_err()
            .contains("no webhook secret"));
        let three = format!("{RUST_SECRET},{PY_SECRET},{RUST_SECRET}");
        assert!(parse_secrets(&three).unwrap_err().contains("at most 2"));
        let err = parse_secrets(&format!("{RUST_SECRET},")).unwrap_err();
        assert_eq!(err, "webhook secret #2 is empty");
        let err = parse_secrets(&format!("{RUST_SECRET},whsec_%%%")).unwrap_err();
        assert!(err.starts_with("webhook secret #2: "), "{err}");
        let err = parse_secrets("nope").unwrap_err();
        assert!(err.starts_with("webhook secret #1: "), "{err}");
    }

    #[test]
    fn debug_redacts_the_key() {
        let secrets = parse_secrets(RUST_SECRET).unwrap();
        let shown = format!("{secrets:?} {:?}", secrets[0]);
        assert!(shown.contains("REDACTED"));
        assert!(!shown.contains("C2FVsBQI"), "{shown}");
    }
}
