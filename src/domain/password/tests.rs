//! The password rules, one behaviour per test, with the contract's own
//! examples. A sibling file because they outgrew `password.rs`.

use super::{is_common, Password, PasswordContext, PasswordPolicy, COMMON_LIST};

const POLICY: PasswordPolicy = PasswordPolicy { min_chars: 15 };

fn refusal(raw: &str) -> String {
    match Password::parse(raw, &POLICY) {
        Ok(_) => panic!("{raw:?} was accepted"),
        Err(message) => message,
    }
}

fn accepted(raw: &str) -> bool {
    Password::parse(raw, &POLICY).is_ok()
}

fn personal_refusal(raw: &str, email: &str, name: &str) -> Option<String> {
    let password = Password::parse(raw, &POLICY).unwrap();
    password
        .check_not_personal(&PasswordContext { email, name })
        .err()
}

#[test]
fn counts_unicode_scalar_values_after_nfkc() {
    // 12 scalars typed; "ﬁ" becomes "fi" under NFKC, so 15 are counted.
    assert!(accepted("ﬁsh ﬁnger ﬁx"));
    // 16 scalars typed; the combining accents compose, leaving 14.
    assert!(!accepted("cafe\u{301}s cre\u{300}me br"));
}

#[test]
fn refuses_common_passwords_in_any_case() {
    let policy = PasswordPolicy { min_chars: 8 };
    let err = Password::parse("PassWord", &policy).unwrap_err();
    assert!(err.contains("commonly used"), "{err}");
}

#[test]
fn list_entries_of_fifteen_characters_or_more_are_refused_in_any_case() {
    // Ranks 83,505 and 93,246 of the source list: beyond the 10,000 once bundled.
    for raw in ["perasperaadastra", "PerasPeraAdAstra", "MANCHESTERUNITED"] {
        let err = refusal(raw);
        assert!(err.contains("commonly used"), "{raw}: {err}");
    }
    // "Mailcreated5240" is on the source list with a capital.
    assert!(refusal("mailcreated5240").contains("commonly used"));
}

#[test]
fn the_binary_search_finds_the_first_and_last_entries_and_nothing_outside() {
    let list = std::str::from_utf8(COMMON_LIST).unwrap();
    let first = list.lines().next().unwrap();
    let last = list.lines().last().unwrap();
    assert!(is_common(first) && is_common(last));
    assert!(!is_common(" ") && !is_common("\u{10ffff}") && !is_common(""));
    assert!(!is_common(&format!("{first}\u{1}")));
}

#[test]
fn bundled_list_is_sorted_lowercase_and_unique() {
    let list = std::str::from_utf8(COMMON_LIST).expect("the list is UTF-8");
    assert!(list.ends_with('\n'), "every line ends in a newline");
    let entries: Vec<&str> = list.lines().collect();
    assert!(entries.len() >= 100_000, "{} entries", entries.len());
    for entry in &entries {
        assert!(!entry.is_empty());
        assert_eq!(*entry, entry.to_lowercase(), "not lower-cased");
    }
    for pair in entries.windows(2) {
        assert!(
            pair[0].as_bytes() < pair[1].as_bytes(),
            "{pair:?} out of order"
        );
    }
}

#[test]
fn one_character_repeated_is_refused() {
    for raw in ["aaaaaaaaaaaaaaa", "AaAaAaAaAaAaAaA", "ééééééééééééééé"] {
        let err = refusal(raw);
        assert!(err.contains("one character repeated"), "{raw}: {err}");
    }
}

#[test]
fn a_shorter_string_repeated_is_refused() {
    for raw in [
        "passwordpassword",
        "PasswordPASSWORD",
        "horse battery horse battery ",
        "xy1xy1xy1xy1xy1",
    ] {
        let err = refusal(raw);
        assert!(err.contains("shorter string repeated"), "{raw}: {err}");
    }
}

#[test]
fn a_string_repeated_with_a_remainder_is_not_a_repetition() {
    assert!(accepted("horse battery horse"));
    assert!(accepted("xy1xy1xy1xy1xy1x"));
}

#[test]
fn runs_of_letters_digits_and_keyboard_keys_are_refused_both_ways() {
    for raw in [
        "123456789012345",
        "543210987654321",
        "abcdefghijklmnop",
        "ZyXwVuTsRqPoNmLk",
        "qwertyuiopasdfg",
        "gfdsapoiuytrewq",
        "lkjhgfdsapoiuytr",
        "7890qwertyuiopas",
        "uvwxyzabcdefghij",
    ] {
        let err = refusal(raw);
        assert!(err.contains("run of consecutive"), "{raw}: {err}");
    }
}

#[test]
fn a_run_that_turns_back_or_mixes_sequences_is_not_a_run() {
    assert!(accepted("abcdefghgfedcbaz"));
    assert!(accepted("abcdefgh12345678"));
    assert!(accepted("qwertyuiop0123456"));
}

#[test]
fn containing_the_email_local_part_is_refused_in_any_case() {
    let err = personal_refusal("my GHOPPER account pass", "ghopper@example.com", "G. H.");
    assert!(err.unwrap().contains("email"));
}

#[test]
fn containing_the_name_or_a_word_of_it_of_four_characters_is_refused() {
    for raw in [
        "lovelace and babbage",
        "i am ADA LOVELACE too",
        "LoveLace 1815 engine",
    ] {
        let err = personal_refusal(raw, "al@example.com", "Ada Lovelace");
        assert!(err.unwrap().contains("name"), "{raw}");
    }
    let err = personal_refusal("captain jean at sea", "jl@example.com", "Jean-Luc Picard");
    assert!(err.unwrap().contains("name"));
}

#[test]
fn parts_shorter_than_four_characters_are_allowed() {
    // "ada" is both the local part and a word of the name: 3 characters.
    let ok = personal_refusal("ada rides a tall horse", "ada@example.com", "Ada Lovelace");
    assert_eq!(ok, None);
    let ok = personal_refusal("jean-luc? no: luc only", "x@example.com", "Luc Bo");
    assert_eq!(ok, None);
}

#[test]
fn refuses_more_than_128_characters() {
    let longest: String = (0..64).map(|i| format!("{i:02}")).collect();
    assert!(accepted(&longest));
    assert!(!accepted(&format!("{longest}x")));
    assert!(Password::for_verification(&"a".repeat(10_000)).is_err());
}

#[test]
fn never_prints_itself() {
    let p = Password::parse("correct horse battery staple", &POLICY).unwrap();
    assert!(!format!("{p:?}").contains("horse"));
}
