//! `Email`: the account's identity, one canonical form per address.

use std::fmt;

use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};

use super::fold::fold;

/// An address in its canonical form, the form it is stored, compared and
/// shown in (the contract's "The user resource"): trimmed, folded
/// (`domain::fold`: NFKC, simple case folding, NFKC), the domain through
/// IDNA (UTS 46) and kept in Unicode, at most 254 characters, valid
/// syntax, no quoted local part, a dotted DNS name as domain. Built here,
/// not in the database's collation, so both backends agree on what "the
/// same email" is.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

/// RFC 5321 §4.5.3.1.3: a path is at most 256 octets including the angle brackets.
const MAX_CHARS: usize = 254;

impl Email {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let email = canonical(raw)?;
        if email.chars().count() > MAX_CHARS {
            return Err(format!("must be at most {MAX_CHARS} characters"));
        }
        // The `email_address` crate implements RFC 5322's addr-spec (with
        // RFC 6531's UTF-8); we refuse the forms no mail system delivers to
        // in practice: display names, domain literals, undotted domains.
        email_address::EmailAddress::parse_with_options(
            &email,
            email_address::Options::default()
                .without_display_text()
                .without_domain_literal()
                .with_required_tld(),
        )
        .map_err(|_| String::from("is not a valid email address"))?;
        Ok(Self(email))
    }

    /// The form sign-in looks `raw` up by: its canonical form, or, for an
    /// address the current rules refuse, `raw` trimmed and folded. Accounts
    /// stored before the rules tightened (`a@localhost` was valid) keep that
    /// folded form (migration 4, `store::canonical`) and must still sign in;
    /// no new account can take such an address, since storing needs `parse`.
    pub fn for_lookup(raw: &str) -> Self {
        Self::parse(raw)
            .unwrap_or_else(|_| Self(fold(raw.trim()).chars().take(MAX_CHARS).collect()))
    }

    /// Rebuilds an email that was parsed before it was stored.
    pub fn from_trusted(stored: String) -> Self {
        Self(stored)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The canonical form of `raw`, or why it has none. Folding runs on the
/// whole address first, so a fullwidth `＠` is an `@` like any other.
fn canonical(raw: &str) -> Result<String, String> {
    let folded = fold(raw.trim());
    if folded.is_empty() {
        return Err("must not be empty".into());
    }
    // RFC 5321 allows `"a b"@example.com`, but such a local part has more
    // than one spelling of one mailbox (`"ab"` is `ab`), which would defeat
    // one canonical form; few systems deliver to them.
    if folded.starts_with('"') {
        return Err("must not have a quoted local part".into());
    }
    let Some((local, domain)) = folded.rsplit_once('@') else {
        return Err("is not a valid email address".into());
    };
    Ok(format!("{local}@{}", dns_domain(domain)?))
}

/// `domain` through UTS 46 in its Unicode form: `xn--bcher-kva.example` and
/// `BÜCHER.example` are both `bücher.example`. STD3 rules keep it to letters,
/// digits and hyphens per label, and DNS lengths (253, 63 per label) are
/// checked on the ASCII form, where they apply. Hyphens are not restricted
/// beyond that: UTS 46's `CheckHyphens` refuses real names (`a--b.example`).
fn dns_domain(domain: &str) -> Result<String, String> {
    let invalid = || String::from("must have a domain that is a DNS name with a dot in it");
    let uts46 = Uts46::new();
    let ascii = uts46
        .to_ascii(
            domain.as_bytes(),
            AsciiDenyList::STD3,
            Hyphens::Allow,
            DnsLength::Verify,
        )
        .map_err(|_| invalid())?;
    // A name with no dot is a local host (`localhost`), and one whose last
    // label is numeric is an IPv4 address written bare (`127.0.0.1`);
    // neither names a mail domain on the Internet.
    let last = ascii.rsplit('.').next().unwrap_or_default();
    if !ascii.contains('.') || last.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let (unicode, result) = uts46.to_unicode(ascii.as_bytes(), AsciiDenyList::STD3, Hyphens::Allow);
    result.map_err(|_| invalid())?;
    Ok(unicode.into_owned())
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

    fn canonical(raw: &str) -> String {
        Email::parse(raw).unwrap().as_str().to_owned()
    }

    #[test]
    fn is_trimmed_and_folded_including_non_ascii() {
        assert_eq!(canonical("  ÉLODIE@Example.COM "), "élodie@example.com");
    }

    #[test]
    fn capital_final_and_small_sigma_are_one_address() {
        assert_eq!(canonical("ΑΣ@example.com"), "ασ@example.com");
        assert_eq!(canonical("ας@example.com"), "ασ@example.com");
        assert_eq!(canonical("ασ@example.com"), "ασ@example.com");
    }

    #[test]
    fn fullwidth_is_ascii() {
        assert_eq!(canonical("ＡＢ@example.com"), "ab@example.com");
        assert_eq!(canonical("ＡＢ＠ＥＸＡＭＰＬＥ．ＣＯＭ"), "ab@example.com");
    }

    #[test]
    fn sharp_s_is_not_ss() {
        assert_eq!(canonical("STRAẞE@example.com"), "straße@example.com");
        assert_ne!(
            canonical("straße@example.com"),
            canonical("strasse@example.com")
        );
    }

    #[test]
    fn punycode_domain_is_kept_in_unicode() {
        assert_eq!(canonical("a@xn--bcher-kva.example"), "a@bücher.example");
        assert_eq!(canonical("a@BÜCHER.example"), "a@bücher.example");
    }

    #[test]
    fn canonical_form_is_its_own_canonical_form() {
        for raw in [
            "ΑΣ@x.example",
            "ＡＢ@xn--bcher-kva.example",
            "ᴬ@example.com",
        ] {
            let once = canonical(raw);
            assert_eq!(canonical(&once), once, "{raw}");
        }
    }

    #[test]
    fn refuses_a_quoted_local_part() {
        assert!(Email::parse("\"ada\"@example.com").is_err());
        assert!(Email::parse("\"a b\"@example.com").is_err());
    }

    #[test]
    fn refuses_domains_that_are_not_dotted_dns_names() {
        for raw in [
            "a@localhost",
            "a@LOCALHOST",
            "a@[127.0.0.1]",
            "a@127.0.0.1",
            "a@[IPv6:::1]",
            "a@example.com.",
            "a@exa_mple.com",
            "a@-.example",
            "a@x..example",
        ] {
            assert!(Email::parse(raw).is_err(), "{raw}");
        }
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

    #[test]
    fn accepts_exactly_254_characters() {
        // Local part ≤ 64 octets (RFC 5321), labels ≤ 63: fill the domain.
        let label = "b".repeat(60);
        let domain = format!("{label}.{label}.{label}.{}.example", "c".repeat(53));
        let at_limit = format!("{}@{domain}", "a".repeat(254 - 1 - domain.len()));
        assert_eq!(at_limit.chars().count(), 254);
        assert!(Email::parse(&at_limit).is_ok());
        let over = format!("a{at_limit}");
        assert!(Email::parse(&over).is_err());
    }
}
