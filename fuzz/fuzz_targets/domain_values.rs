//! The domain's value parsers on any text: `Email`, `UserName`, `Password`.
//! Email: trimmed, folded (`domain::fold`), ≤ 254 characters, parsing its own output
//! gives it back, ASCII case and surrounding spaces change nothing. Name:
//! trimmed, 1..=100 characters, no control character. Password: NFC, NFD,
//! NFKC and NFKD forms of one text parse to the same result; never over 128
//! characters after NFKC, never under the policy's minimum.
#![no_main]

use libfuzzer_sys::fuzz_target;
use unicode_normalization::{is_nfkc, UnicodeNormalization};
use user_api::domain::fold::fold;
use user_api::domain::{Email, Password, PasswordPolicy, UserName};

fn flip_ascii_case(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_lowercase() {
                c.to_ascii_uppercase()
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };

    let email = Email::parse(raw);
    if let Ok(e) = &email {
        let s = e.as_str();
        // The canonical form is folded (`domain::fold`) and a fixpoint.
        assert_eq!(fold(s), s);
        assert!(!s.is_empty() && s.chars().count() <= 254);
        assert_eq!(Email::parse(s).as_ref(), Ok(e), "not idempotent");
    }
    assert_eq!(Email::parse(&flip_ascii_case(raw)), email, "ASCII case");
    assert_eq!(Email::parse(&format!(" {raw}\t")), email, "spaces");

    if let Ok(name) = UserName::parse(raw) {
        let s = name.as_str();
        assert_eq!(s, raw.trim());
        assert!((1..=100).contains(&s.chars().count()));
        assert!(!s.chars().any(char::is_control));
    }

    let nfkc: String = raw.nfkc().collect();
    let forms = [
        raw.to_owned(),
        raw.nfc().collect(),
        raw.nfd().collect(),
        nfkc.clone(),
        raw.nfkd().collect(),
    ];
    let nfkc_chars = nfkc.chars().count();
    for min_chars in [8, PasswordPolicy::DEFAULT_MIN_CHARS, 64] {
        let policy = PasswordPolicy { min_chars };
        let parse = |s: &str| Password::parse(s, &policy).map(|p| p.expose().to_owned());
        let parsed = parse(raw);
        if let Ok(p) = &parsed {
            assert_eq!(*p, nfkc);
            assert!(is_nfkc(p));
            assert!((min_chars..=128).contains(&nfkc_chars), "{nfkc_chars}");
        } else {
            assert!(nfkc_chars < min_chars || nfkc_chars > 128 || is_guessable(&nfkc));
        }
        for form in &forms[1..] {
            assert_eq!(parse(form), parsed, "NFKC-equivalent passwords differ");
        }
    }
    let verified = Password::for_verification(raw).map(|p| p.expose().to_owned());
    assert_eq!(
        verified.is_ok(),
        nfkc_chars <= 128,
        "{nfkc_chars} characters"
    );
    for form in &forms[1..] {
        let other = Password::for_verification(form).map(|p| p.expose().to_owned());
        assert_eq!(other, verified, "NFKC-equivalent passwords differ");
    }
});

/// Whether the policy refused it as guessable (common, repeated or a run:
/// the only other reasons than its length).
fn is_guessable(nfkc: &str) -> bool {
    let policy = PasswordPolicy { min_chars: 0 };
    Password::parse(nfkc, &policy).is_err_and(|e| {
        ["common", "repeated", "run of consecutive"]
            .iter()
            .any(|why| e.contains(why))
    })
}
