//! Sign-in throttling rules (the contract's "Tokens"): how many failures an
//! account and a client address may have, and how long they then wait. Pure
//! arithmetic over a `FailureRecord` and the time; the store keeps the
//! records and applies these rules inside one write transaction.
//!
//! An account's attempt is counted *before* its password is checked and a
//! success resets the count, so racing attempts cannot buy more tries than
//! the limit: with 4 failures on record, of 10 concurrent wrong guesses
//! exactly one is checked. An address is counted after a failure.

use std::net::IpAddr;

use super::{AddressKey, Email};

/// The contract's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThrottleRules {
    /// Failures an account may have before it must wait.
    pub account_failures: i64,
    /// The first wait; it doubles with every failure past the limit.
    pub first_wait_secs: i64,
    pub max_wait_secs: i64,
    /// An account's failures older than this are forgotten.
    pub account_memory_secs: i64,
    /// Failures a client address may have in one window.
    pub address_failures: i64,
    pub address_window_secs: i64,
}

impl Default for ThrottleRules {
    fn default() -> Self {
        Self {
            account_failures: 5,
            first_wait_secs: 60,
            max_wait_secs: 15 * 60,
            account_memory_secs: 24 * 60 * 60,
            address_failures: 20,
            address_window_secs: 60,
        }
    }
}

/// What the store keeps about one account or address.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FailureRecord {
    pub failures: i64,
    /// The account's last failure, or the start of the address's window.
    pub window_start: i64,
    pub blocked_until: i64,
}

/// Whom a record is about; `key()` is how the store names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Throttled {
    /// An email as sign-in looks it up (`Email::for_lookup`: case variants
    /// are one account); a username that is no valid email is folded, so unknown
    /// and malformed names are throttled exactly like real accounts.
    Account(String),
    /// A client address; its record is its `AddressKey` (an IPv6 client
    /// by its /64).
    Address(IpAddr),
}

impl Throttled {
    pub fn account(username: &str) -> Self {
        Self::Account(Email::for_lookup(username).as_str().to_owned())
    }

    pub fn key(&self) -> String {
        match self {
            Self::Account(email) => format!("{ACCOUNT_KEY_PREFIX}{email}"),
            Self::Address(ip) => format!("{ADDRESS_KEY_PREFIX}{}", AddressKey::of(*ip)),
        }
    }
}

/// How the store names an account's record: the prefix, then the email.
pub const ACCOUNT_KEY_PREFIX: &str = "account:";
/// How the store names an address's record; pruning tells the two kinds
/// apart by it (an address's window is a minute, an account's a day).
pub const ADDRESS_KEY_PREFIX: &str = "address:";

/// The keys of the waits a password set ends: the account's under its email
/// before the change and after it (the same change may set a new email).
pub fn cleared_by_password_set(before: &Email, after: &Email) -> [String; 2] {
    [before, after].map(|email| Throttled::Account(email.as_str().to_owned()).key())
}

/// What the password check of a counted attempt found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Right,
    Wrong,
    /// The check could not run (busy hasher, database down): no verdict.
    Unchecked,
}

/// What ending an attempt does to the records, the same on every backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptEnd {
    /// A right password: the account's record is deleted.
    Forget { key: String },
    /// The record under `key`, read under a lock, becomes `update`'s result.
    Update { key: String, update: RecordUpdate },
}

/// How a record changes when an attempt ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordUpdate {
    /// One more failure against this account or address.
    Count(Throttled),
    /// The account's attempt, counted when it began, given back.
    GiveBack,
}

impl AttemptEnd {
    /// A right password resets the account; a wrong one (already counted on
    /// the account when the attempt began) is counted on the address; no
    /// verdict gives the account its attempt back.
    pub fn of(account: Throttled, address: Throttled, verdict: Verdict) -> Self {
        match verdict {
            Verdict::Right => Self::Forget { key: account.key() },
            Verdict::Wrong => Self::Update {
                key: address.key(),
                update: RecordUpdate::Count(address),
            },
            Verdict::Unchecked => Self::Update {
                key: account.key(),
                update: RecordUpdate::GiveBack,
            },
        }
    }
}

impl RecordUpdate {
    pub fn apply(&self, rules: &ThrottleRules, record: FailureRecord, now: i64) -> FailureRecord {
        match self {
            Self::Count(who) => rules.count(who, record, now),
            Self::GiveBack => rules.give_back(record),
        }
    }
}

impl FailureRecord {
    /// Seconds to wait before another attempt, if any.
    pub fn retry_after(&self, now: i64) -> Option<u64> {
        (self.blocked_until > now).then(|| (self.blocked_until - now) as u64)
    }
}

impl ThrottleRules {
    /// The record after one more attempt is counted against `who`.
    pub fn count(&self, who: &Throttled, record: FailureRecord, now: i64) -> FailureRecord {
        match who {
            Throttled::Account(_) => self.count_account(record, now),
            Throttled::Address(_) => self.count_address(record, now),
        }
    }

    fn count_account(&self, record: FailureRecord, now: i64) -> FailureRecord {
        let earlier = if now - record.window_start >= self.account_memory_secs {
            0
        } else {
            record.failures
        };
        let failures = earlier + 1;
        let past_limit = failures - self.account_failures;
        let blocked_until = if past_limit >= 0 {
            // 1, 2, 4, 8… minutes, capped; the shift is bounded so it
            // cannot overflow however many failures pile up.
            let doubling = 1_i64 << past_limit.min(20);
            now + self
                .first_wait_secs
                .saturating_mul(doubling)
                .min(self.max_wait_secs)
        } else {
            0
        };
        FailureRecord {
            failures,
            window_start: now,
            blocked_until,
        }
    }

    /// The account's record with a counted attempt given back: one that
    /// ended without a verdict on the password (busy hasher, database
    /// down) must not bring its owner closer to a wait.
    pub fn give_back(&self, record: FailureRecord) -> FailureRecord {
        let failures = (record.failures - 1).max(0);
        FailureRecord {
            failures,
            blocked_until: if failures >= self.account_failures {
                record.blocked_until
            } else {
                0
            },
            ..record
        }
    }

    fn count_address(&self, record: FailureRecord, now: i64) -> FailureRecord {
        let (window_start, failures) = if now - record.window_start >= self.address_window_secs {
            (now, 1)
        } else {
            (record.window_start, record.failures + 1)
        };
        let blocked_until = if failures >= self.address_failures {
            window_start + self.address_window_secs
        } else {
            0
        };
        FailureRecord {
            failures,
            window_start,
            blocked_until,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000;

    fn fail(rules: &ThrottleRules, who: &Throttled, times: usize, now: i64) -> FailureRecord {
        (0..times).fold(FailureRecord::default(), |r, _| rules.count(who, r, now))
    }

    #[test]
    fn an_account_waits_after_five_failures_and_the_wait_doubles_up_to_15_minutes() {
        let rules = ThrottleRules::default();
        let ada = Throttled::account("Ada@Example.com");
        assert_eq!(fail(&rules, &ada, 4, NOW).retry_after(NOW), None);
        assert_eq!(fail(&rules, &ada, 5, NOW).retry_after(NOW), Some(60));
        assert_eq!(fail(&rules, &ada, 6, NOW).retry_after(NOW), Some(120));
        assert_eq!(fail(&rules, &ada, 9, NOW).retry_after(NOW), Some(900));
        assert_eq!(fail(&rules, &ada, 500, NOW).retry_after(NOW), Some(900));
    }

    #[test]
    fn an_attempt_given_back_does_not_count() {
        let rules = ThrottleRules::default();
        let ada = Throttled::account("ada@example.com");
        let fifth = fail(&rules, &ada, 5, NOW);
        let given_back = rules.give_back(fifth);
        assert_eq!(
            (given_back.failures, given_back.retry_after(NOW)),
            (4, None)
        );
        assert_eq!(rules.give_back(FailureRecord::default()).failures, 0);
    }

    #[test]
    fn case_variants_and_unknown_names_are_accounts_alike() {
        assert_eq!(
            Throttled::account("ADA@example.com").key(),
            Throttled::account(" ada@EXAMPLE.com ").key()
        );
        assert_eq!(
            Throttled::account("Not An Email").key(),
            "account:not an email"
        );
    }

    #[test]
    fn a_right_password_forgets_the_account_and_a_wrong_one_counts_on_the_address() {
        let ada = Throttled::account("ada@example.com");
        let ip = Throttled::Address([192, 0, 2, 1].into());
        assert_eq!(
            AttemptEnd::of(ada.clone(), ip.clone(), Verdict::Right),
            AttemptEnd::Forget { key: ada.key() }
        );
        assert_eq!(
            AttemptEnd::of(ada.clone(), ip.clone(), Verdict::Wrong),
            AttemptEnd::Update {
                key: ip.key(),
                update: RecordUpdate::Count(ip.clone())
            }
        );
        assert_eq!(
            AttemptEnd::of(ada.clone(), ip, Verdict::Unchecked),
            AttemptEnd::Update {
                key: ada.key(),
                update: RecordUpdate::GiveBack
            }
        );
    }

    #[test]
    fn an_ipv6_client_is_one_address_record_per_64() {
        let one = |raw: &str| Throttled::Address(raw.parse().unwrap()).key();
        assert_eq!(one("2001:db8:0:7::1"), one("2001:db8:0:7:dead:beef:0:1"));
        assert_eq!(one("2001:db8:0:7::1"), "address:2001:db8:0:7::/64");
        assert_ne!(one("2001:db8:0:7::1"), one("2001:db8:0:8::1"));
        assert_eq!(one("192.0.2.1"), "address:192.0.2.1");
    }

    #[test]
    fn a_password_set_clears_the_waits_under_both_emails() {
        let old = Email::parse("old@example.com").unwrap();
        let new = Email::parse("new@example.com").unwrap();
        assert_eq!(
            cleared_by_password_set(&old, &new),
            [
                "account:old@example.com".to_owned(),
                "account:new@example.com".to_owned()
            ]
        );
    }

    #[test]
    fn old_account_failures_are_forgotten() {
        let rules = ThrottleRules::default();
        let ada = Throttled::account("ada@example.com");
        let old = fail(&rules, &ada, 4, NOW);
        let later = rules.count(&ada, old, NOW + rules.account_memory_secs);
        assert_eq!(later.failures, 1);
        assert_eq!(later.retry_after(NOW + rules.account_memory_secs), None);
    }

    #[test]
    fn an_address_gets_twenty_failures_a_minute() {
        let rules = ThrottleRules::default();
        let ip = Throttled::Address([192, 0, 2, 1].into());
        assert_eq!(fail(&rules, &ip, 19, NOW).retry_after(NOW), None);
        let blocked = fail(&rules, &ip, 20, NOW);
        assert_eq!(blocked.retry_after(NOW + 10), Some(50));
        let next_window = rules.count(&ip, blocked, NOW + 60);
        assert_eq!(
            (next_window.failures, next_window.retry_after(NOW + 60)),
            (1, None)
        );
    }
}
