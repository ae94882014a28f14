//! The service's one case-insensitive comparison: what makes two emails one
//! address, and how the admin listing's `q` matches a name or an email.
//!
//! The contract fixes the steps: NFKC, Unicode *simple* case folding
//! (CaseFolding.txt statuses C and S), NFKC again. Simple, not full,
//! folding keeps every character one character (`ß` stays `ß`, not `ss`),
//! so two addresses that differ only there stay two accounts. It is done by
//! the service, never by a database collation, so SQLite and PostgreSQL
//! agree on what "the same" means.

use icu_casemap::CaseMapper;
use unicode_normalization::UnicodeNormalization;

/// At most this many rounds; three are enough for any string Unicode 16
/// knows (see `fold`), the bound only keeps a future table from looping.
const MAX_ROUNDS: usize = 4;

/// `s` folded: NFKC, simple case folding, NFKC, repeated until nothing
/// changes.
///
/// The repetition is why this is a fixpoint: NFKC can produce a capital
/// (U+1D2C `ᴬ` becomes `A`), so one round of the contract's steps is not
/// always its own result, and a stored form that folds to something else
/// would be an account no one can type. A string already in that form
/// (all ordinary input) takes exactly one round, as the contract words it.
///
/// Folding by ICU4X's `icu_casemap` (`CaseMapper::simple_fold`): it is the
/// Unicode Consortium's own library, its data is the current CaseFolding.txt,
/// and it offers the simple (C+S) mapping per character. `caseless` and
/// `str::to_lowercase` do not fit: the first folds fully (`ß` → `ss`), the
/// second lower-cases, which is not folding (`ς` stays `ς`, so `ΑΣ` and `ας`
/// would stay two).
pub fn fold(s: &str) -> String {
    let mapper = CaseMapper::new();
    let mut current: String = s.nfkc().collect();
    for _ in 0..MAX_ROUNDS {
        let next: String = current
            .chars()
            .map(|c| mapper.simple_fold(c))
            .collect::<String>()
            .nfkc()
            .collect();
        if next == current {
            break;
        }
        current = next;
    }
    current
}

#[cfg(test)]
mod tests {
    use super::fold;

    #[test]
    fn greek_final_and_capital_sigma_fold_to_one() {
        assert_eq!(fold("ΑΣ"), "ασ");
        assert_eq!(fold("ας"), "ασ");
        assert_eq!(fold("ασ"), "ασ");
    }

    #[test]
    fn fullwidth_letters_become_ascii() {
        assert_eq!(fold("ＡＢ"), "ab");
    }

    #[test]
    fn sharp_s_stays_itself_because_folding_is_simple() {
        assert_eq!(fold("ß"), "ß");
        assert_eq!(fold("ẞ"), "ß");
        assert_ne!(fold("straße"), fold("strasse"));
    }

    #[test]
    fn a_compatibility_capital_folds_to_the_same_as_its_letter() {
        assert_eq!(fold("ᴬ"), "a");
        assert_eq!(fold("ᴬ"), fold("A"));
    }

    #[test]
    fn folding_is_its_own_result() {
        for s in ["ΑΣ", "ＡＢ", "ᴬᴮ", "Ǆ", "ﬁ", "İstanbul", "ΐ", "Ⅻ", "㎒"] {
            assert_eq!(fold(&fold(s)), fold(s), "{s}");
        }
    }
}
