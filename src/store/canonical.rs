//! The data step of migration 4 (`0004_canonical_email.sql`): every stored
//! email and name search key rewritten to the canonical form of
//! `domain::Email` / `domain::fold`, decided here once for both backends;
//! each backend only reads the rows and runs the writes
//! (`sqlite::migrate`, `postgres::migrate`), in the migration's transaction.
//!
//! Rows written under the old rule (Unicode lower-casing) may collide under
//! the new one (`ασ@…` and `ας@…`). Then nothing is written and the
//! migration fails, naming every colliding account: the transaction rolls
//! back, the schema stays at version 3, and the previous binary still runs
//! on the database, so an admin can resolve the pair there.

use std::collections::BTreeMap;

use super::Error;
use crate::domain::fold::fold;
use crate::domain::throttle::{Throttled, ACCOUNT_KEY_PREFIX};
use crate::domain::Email;

/// The version whose SQL is followed by `plan`'s rewrites.
pub(super) const MIGRATION: i64 = 4;

/// A `users` row as the migration reads it.
pub(super) struct StoredUser {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub name_lower: String,
}

/// A row's new email and search key.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Rewrite {
    pub id: i64,
    pub email: String,
    pub name_lower: String,
}

/// The rewrites that bring `users` to the canonical form, or the collisions
/// that forbid it. An email that no longer parses (valid under the old
/// rules, as `a@localhost` was) is kept, only folded (`Email::for_lookup`,
/// the form sign-in looks it up by), and logged by id: the account keeps
/// working, only no account can take such an address any more.
/// The version (ETag) is not bumped and no event is written: under the
/// contract's rule the address is the one it was.
pub(super) fn plan(users: Vec<StoredUser>) -> Result<Vec<Rewrite>, Error> {
    let mut by_email: BTreeMap<String, Vec<(i64, String)>> = BTreeMap::new();
    let mut kept = Vec::new();
    let mut rewrites = Vec::new();
    for user in users {
        let email = match Email::parse(&user.email) {
            Ok(email) => email.as_str().to_owned(),
            Err(_) => {
                kept.push(user.id);
                Email::for_lookup(&user.email).as_str().to_owned()
            }
        };
        // What `UserName::search_key` gives for a stored (parsed) name.
        let name_lower = fold(&user.name);
        if email != user.email || name_lower != user.name_lower {
            rewrites.push(Rewrite {
                id: user.id,
                email: email.clone(),
                name_lower,
            });
        }
        by_email
            .entry(email)
            .or_default()
            .push((user.id, user.email));
    }
    let collisions: Vec<String> = by_email
        .iter()
        .filter(|(_, holders)| holders.len() > 1)
        .map(|(email, holders)| {
            let who: Vec<String> = holders
                .iter()
                .map(|(id, stored)| format!("id {id} {stored:?}"))
                .collect();
            format!("{} are all {email:?}", who.join(" and "))
        })
        .collect();
    if !collisions.is_empty() {
        return Err(Error::EmailsCollide(collisions.join("; ")));
    }
    if !kept.is_empty() {
        tracing::warn!(
            ids = ?kept,
            "emails the canonical rules refuse (a dotless or IP domain, a quoted local part) are kept, folded; these accounts still sign in, but no account can take such an address again"
        );
    }
    Ok(rewrites)
}

/// Whether a `signin_failures` key belongs to an account under a form the
/// canonical rule no longer produces; such rows are deleted by the
/// migration (they live a day at most, and a stale one only throttles an
/// address no one can type any more).
pub(super) fn stale_throttle_key(key: &str) -> bool {
    key.strip_prefix(ACCOUNT_KEY_PREFIX)
        .is_some_and(|rest| Throttled::account(rest).key() != key)
}

/// Where a row's email is parked while the rewrites run, so that two rows
/// trading forms never meet the UNIQUE constraint half-way. It holds no `@`,
/// so it is no stored email.
pub(super) fn parked(id: i64) -> String {
    format!("migration-4-parked-{id}")
}

#[cfg(test)]
mod tests {
    use super::{plan, stale_throttle_key, Rewrite, StoredUser};
    use crate::store::Error;

    fn row(id: i64, email: &str, name: &str) -> StoredUser {
        StoredUser {
            id,
            email: email.into(),
            name: name.into(),
            name_lower: name.to_lowercase(),
        }
    }

    #[test]
    fn old_lower_cased_forms_are_rewritten() {
        let rewrites = plan(vec![
            row(1, "ａｂ@example.com", "Ada"),
            row(2, "ada@example.com", "ΑΣ"),
            row(3, "ok@example.com", "ok"),
        ])
        .unwrap();
        assert_eq!(
            rewrites,
            [
                Rewrite {
                    id: 1,
                    email: "ab@example.com".into(),
                    name_lower: "ada".into()
                },
                Rewrite {
                    id: 2,
                    email: "ada@example.com".into(),
                    name_lower: "ασ".into()
                },
            ]
        );
    }

    #[test]
    fn a_colliding_pair_names_both_and_writes_nothing() {
        let err = plan(vec![
            row(7, "ασ@x.example", "A"),
            row(9, "ας@x.example", "B"),
        ])
        .unwrap_err();
        let Error::EmailsCollide(text) = err else {
            panic!("{err:?}")
        };
        assert!(text.contains("id 7 \"ασ@x.example\""), "{text}");
        assert!(text.contains("id 9 \"ας@x.example\""), "{text}");
    }

    #[test]
    fn an_email_the_new_rules_refuse_is_kept_folded() {
        let rewrites = plan(vec![
            row(1, "a@localhost", "a"),
            row(2, "ας@localhost", "b"),
        ])
        .unwrap();
        assert_eq!(
            rewrites,
            [Rewrite {
                id: 2,
                email: "ασ@localhost".into(),
                name_lower: "b".into()
            }]
        );
    }

    #[test]
    fn throttle_keys_of_old_forms_are_stale() {
        assert!(stale_throttle_key("account:ａｂ@example.com"));
        assert!(stale_throttle_key("account:ας@example.com"));
        assert!(!stale_throttle_key("account:ab@example.com"));
        assert!(!stale_throttle_key("address:127.0.0.1"));
    }
}
