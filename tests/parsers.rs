//! Property tests of the request parsers the service owns: the
//! `Authorization`, `If-Match` and `X-Forwarded-For` headers, the
//! `GET /users` query, and the `POST /token`, `POST /users` and `PATCH`
//! bodies with the domain values inside them. No server: the parsers are
//! pure functions. The `fuzz/` crate runs the same parsers under libFuzzer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use ipnet::IpNet;
use proptest::prelude::*;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;

use user_api::accounts::Precondition;
use user_api::auth::tokens::TokenHash;
use user_api::auth::tokens::{parse_bearer, Bearer};
use user_api::domain::fold::fold;
use user_api::domain::{Email, NewUser, Password, PasswordPolicy, Role, UserPatch};
use user_api::http::bodies::{patch_body, sign_up_body};
use user_api::http::extract::{client_addr, etag, parse_if_match, JsonObject};
use user_api::http::list_query::ListQuery;
use user_api::http::problem::ApiError;
use user_api::http::token::TokenRequest;

fn status(err: ApiError) -> StatusCode {
    err.into_response().status()
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![Just(Role::User), Just(Role::Admin)]
}

// --- GET /users query --------------------------------------------------------

/// A valid `GET /users` query: its parameters in any order, skip or after_id.
#[derive(Debug, Clone)]
struct Query {
    limit: Option<u32>,
    page: Option<(bool, u64)>,
    q: Option<String>,
    is_active: Option<bool>,
    role: Option<Role>,
}

impl Query {
    fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut pairs = Vec::new();
        if let Some(limit) = self.limit {
            pairs.push(("limit", limit.to_string()));
        }
        match self.page {
            Some((true, after)) => pairs.push(("after_id", after.to_string())),
            Some((false, skip)) => pairs.push(("skip", skip.to_string())),
            None => {}
        }
        if let Some(q) = &self.q {
            pairs.push(("q", q.clone()));
        }
        if let Some(active) = self.is_active {
            pairs.push(("is_active", active.to_string()));
        }
        if let Some(role) = self.role {
            pairs.push(("role", role.as_str().to_owned()));
        }
        pairs
    }
}

fn query() -> impl Strategy<Value = (Query, Vec<usize>)> {
    (
        proptest::option::of(1u32..=100),
        proptest::option::of((any::<bool>(), 0..=i64::MAX as u64)),
        // Any text, `%`, `_`, `+`, `&`, `=` and non-ASCII included.
        proptest::option::of("[a-zA-Z0-9 %_+&=#/?é漢\u{1F600}\u{0}-\u{1f}]{0,40}|\\PC{0,254}"),
        proptest::option::of(any::<bool>()),
        proptest::option::of(role()),
    )
        .prop_map(|(limit, page, q, is_active, role)| Query {
            limit,
            page,
            q,
            is_active,
            role,
        })
        .prop_flat_map(|query| {
            let n = query.pairs().len();
            (Just(query), Just((0..n).collect::<Vec<_>>()).prop_shuffle())
        })
}

proptest! {
    #[test]
    fn a_valid_query_parses_and_round_trips_through_next_link(
        (query, order) in query(),
        last_id in 1..=i64::MAX,
    ) {
        let pairs = query.pairs();
        let shuffled: Vec<_> = order.iter().map(|i| pairs[*i].clone()).collect();
        let raw = serde_urlencoded::to_string(&shuffled).unwrap();
        let list = ListQuery::parse(&raw).unwrap();
        prop_assert_eq!(list.limit, query.limit.unwrap_or(10));
        match query.page {
            Some((true, after)) => {
                prop_assert_eq!(list.after_id, Some(after as i64));
                prop_assert_eq!(list.skip, 0);
            }
            Some((false, skip)) => {
                prop_assert_eq!(list.skip, skip);
                prop_assert_eq!(list.after_id, None);
            }
            None => prop_assert_eq!((list.skip, list.after_id), (0, None)),
        }
        prop_assert_eq!(&list.filter.q, &query.q.as_deref().map(fold));
        prop_assert_eq!(list.filter.is_active, query.is_active);
        prop_assert_eq!(list.filter.role, query.role);

        let link = list.next_link(last_id);
        prop_assert!(HeaderValue::from_str(&link).is_ok(), "{}", link);
        let url = link.strip_prefix("</users?").unwrap().strip_suffix(">; rel=\"next\"").unwrap();
        let next = ListQuery::parse(url).unwrap();
        prop_assert_eq!(next.after_id, Some(last_id));
        prop_assert_eq!(next.skip, 0);
        prop_assert_eq!(next.limit, list.limit);
        prop_assert_eq!(&next.filter.q, &list.filter.q);
        prop_assert_eq!(next.filter.is_active, list.filter.is_active);
        prop_assert_eq!(next.filter.role, list.filter.role);
        prop_assert_eq!(next.next_link(last_id), link);
    }

    #[test]
    fn a_limit_outside_1_to_100_is_always_refused(
        limit in prop_oneof![
            Just(0i128),
            101i128..=1_000,
            any::<i64>().prop_map(i128::from).prop_filter("out of range", |l| !(1..=100).contains(l)),
            (u64::MAX as i128)..=(u64::MAX as i128 + 1_000),
        ],
        other in proptest::option::of("(skip=0|after_id=1|q=x|role=user|is_active=true)"),
    ) {
        let raw = match other {
            Some(other) => format!("{other}&limit={limit}"),
            None => format!("limit={limit}"),
        };
        let err = ListQuery::parse(&raw).err().unwrap();
        prop_assert_eq!(status(err), StatusCode::UNPROCESSABLE_ENTITY);
    }

    #[test]
    fn a_negative_skip_or_after_id_and_skip_with_after_id_are_refused(
        negative in i64::MIN..0,
        skip in 0..=i64::MAX,
        after in 0..=i64::MAX,
    ) {
        for raw in [
            format!("skip={negative}"),
            format!("after_id={negative}"),
            format!("skip={skip}&after_id={after}"),
            format!("after_id={after}&skip={skip}"),
        ] {
            let err = ListQuery::parse(&raw).err().unwrap();
            prop_assert_eq!(status(err), StatusCode::UNPROCESSABLE_ENTITY, "{}", raw);
        }
    }

    #[test]
    fn any_query_string_is_parsed_or_refused_with_a_422(raw in "\\PC{0,80}|[a-z_=&%0-9+.-]{0,80}") {
        if let Err(err) = ListQuery::parse(&raw) {
            prop_assert_eq!(status(err), StatusCode::UNPROCESSABLE_ENTITY);
        }
    }
}

// --- Authorization: Bearer -----------------------------------------------------

fn token_hash(token: &str) -> Bearer {
    Bearer::Token(TokenHash(Sha256::digest(token.as_bytes()).into()))
}

/// "bearer" in any case.
fn scheme() -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<bool>(), 6).prop_map(|upper| {
        "bearer"
            .chars()
            .zip(upper)
            .map(|(c, up)| if up { c.to_ascii_uppercase() } else { c })
            .collect()
    })
}

proptest! {
    #[test]
    fn a_base64url_token_is_the_hash_of_exactly_that_token(
        token in "[A-Za-z0-9_-]{1,512}",
        scheme in scheme(),
        pad in "[ \t]{0,3}",
    ) {
        let header = format!("{pad}{scheme} {pad}{token}{pad}");
        prop_assert_eq!(parse_bearer(Some(header.as_bytes())), token_hash(&token));
    }

    #[test]
    fn a_token_with_whitespace_inside_is_never_accepted(
        token in "[A-Za-z0-9_-]{2,100}",
        at in any::<prop::sample::Index>(),
        space in prop_oneof![Just(' '), Just('\t'), Just('\n'), Just('\u{a0}'), Just('\u{3000}')],
    ) {
        let at = 1 + at.index(token.len() - 1);
        let (left, right) = token.split_at(at);
        let header = format!("Bearer {left}{space}{right}");
        prop_assert_eq!(parse_bearer(Some(header.as_bytes())), Bearer::Malformed);
    }

    #[test]
    fn an_overlong_token_or_another_scheme_is_never_a_token(
        long in "[A-Za-z0-9_-]{513,700}",
        other in "[A-Za-z]{1,10}",
        credentials in "[A-Za-z0-9=]{0,20}",
    ) {
        let header = format!("Bearer {long}");
        prop_assert_eq!(parse_bearer(Some(header.as_bytes())), Bearer::Malformed);
        prop_assume!(!other.eq_ignore_ascii_case("bearer"));
        let header = format!("{other} {credentials}");
        prop_assert_eq!(parse_bearer(Some(header.as_bytes())), Bearer::Missing);
    }
}

#[test]
fn a_token_hashes_with_sha256() {
    // FIPS 180-2's "abc" test vector: the hash is of the token's bytes alone.
    let Bearer::Token(TokenHash(hash)) = parse_bearer(Some(b"Bearer abc")) else {
        panic!("not a token");
    };
    assert_eq!(
        hex::encode(hash),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
}

// --- If-Match ------------------------------------------------------------------

fn if_match(values: &[String]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for value in values {
        headers.append(header::IF_MATCH, HeaderValue::from_str(value).unwrap());
    }
    headers
}

/// Tags joined with commas and optional spaces, split over 1 to 3 headers.
fn header_values(tags: Vec<String>, splits: Vec<prop::sample::Index>) -> Vec<String> {
    let mut cuts: Vec<usize> = splits.iter().map(|i| i.index(tags.len() + 1)).collect();
    cuts.push(0);
    cuts.push(tags.len());
    cuts.sort_unstable();
    cuts.dedup();
    cuts.windows(2)
        .map(|w| tags[w[0]..w[1]].join(" , "))
        .filter(|v| !v.is_empty())
        .collect()
}

proptest! {
    #[test]
    fn our_etags_give_exactly_their_versions(
        versions in proptest::collection::vec(1..=i64::MAX, 1..10),
        weak in proptest::collection::vec(1..=i64::MAX, 0..3),
        foreign in proptest::collection::vec("\"[a-u0-9]{0,8}\"", 0..3),
        splits in proptest::collection::vec(any::<prop::sample::Index>(), 0..3),
    ) {
        let mut tags: Vec<String> = versions.iter().map(|v| etag(*v)).collect();
        tags.extend(weak.iter().map(|v| format!("W/{}", etag(*v))));
        tags.extend(foreign);
        let values = header_values(tags, splits);
        let parsed = parse_if_match(&if_match(&values)).unwrap();
        prop_assert_eq!(parsed, Some(Precondition::Versions(versions)));
    }

    #[test]
    fn a_star_anywhere_is_any(
        versions in proptest::collection::vec(1..=i64::MAX, 0..5),
        at in any::<prop::sample::Index>(),
    ) {
        let mut tags: Vec<String> = versions.iter().map(|v| etag(*v)).collect();
        tags.insert(at.index(tags.len() + 1), "*".into());
        let parsed = parse_if_match(&if_match(&[tags.join(", ")])).unwrap();
        prop_assert_eq!(parsed, Some(Precondition::Any));
    }

    #[test]
    fn an_if_match_that_is_not_ascii_is_a_422(bytes in proptest::collection::vec(0x80u8.., 1..10)) {
        let mut headers = HeaderMap::new();
        headers.insert(header::IF_MATCH, HeaderValue::from_bytes(&bytes).unwrap());
        let err = parse_if_match(&headers).err().unwrap();
        prop_assert_eq!(status(err), StatusCode::UNPROCESSABLE_ENTITY);
    }
}

proptest! {
    // Found by `fuzz/fuzz_targets/if_match.rs`: the version was read with
    // `str::parse::<i64>`, which also takes leading zeros and a `+`.
    #[test]
    fn if_match_compares_tags_character_by_character(
        version in 1..=i64::MAX / 10,
        prefix in "(0|00|\\+|\\+0)",
    ) {
        let tag = format!("\"v{prefix}{version}\"");
        let parsed = parse_if_match(&if_match(&[tag])).unwrap();
        prop_assert_eq!(parsed, Some(Precondition::Versions(vec![])));
    }
}

#[test]
fn no_if_match_is_no_precondition() {
    assert_eq!(parse_if_match(&HeaderMap::new()).unwrap(), None);
}

// --- X-Forwarded-For -----------------------------------------------------------

fn trusted() -> Vec<IpNet> {
    ["10.0.0.0/8", "fd00::/8"]
        .iter()
        .map(|n| n.parse().unwrap())
        .collect()
}

fn proxy() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 3]>().prop_map(|[a, b, c]| IpAddr::from([10, a, b, c])),
        any::<[u8; 15]>().prop_map(|rest| {
            let mut octets = [0xfd; 16];
            octets[1..].copy_from_slice(&rest);
            IpAddr::from(octets)
        }),
    ]
}

fn stranger() -> impl Strategy<Value = IpAddr> {
    // IPv4-mapped IPv6 addresses are their IPv4 address to `client_addr`.
    any::<IpAddr>().prop_filter("not trusted", |ip| {
        !trusted().iter().any(|n| n.contains(&ip.to_canonical()))
    })
}

fn xff(hops: &[String]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("x-forwarded-for", hops.join(", ").parse().unwrap());
    headers
}

proptest! {
    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards(
        peer in stranger(),
        hops in proptest::collection::vec("[0-9a-f.:]{1,20}|garbage", 0..5),
    ) {
        prop_assert_eq!(client_addr(peer, &xff(&hops), &trusted()), peer.to_canonical());
    }

    #[test]
    fn a_trusted_chain_gives_the_right_most_untrusted_hop(
        spoofed in proptest::collection::vec(any::<IpAddr>(), 0..3),
        client in stranger(),
        proxies in proptest::collection::vec(proxy(), 0..4),
        peer in proxy(),
    ) {
        // Whatever the client wrote itself (on the left) is never believed.
        let hops: Vec<String> = spoofed
            .iter()
            .chain([&client])
            .chain(&proxies)
            .map(ToString::to_string)
            .collect();
        prop_assert_eq!(client_addr(peer, &xff(&hops), &trusted()), client.to_canonical());
    }
}

proptest! {
    // Found by `fuzz/fuzz_targets/forwarded_for.rs`: `client_addr` dropped
    // a whole header line that was not visible ASCII, so a client that sent
    // `X-Forwarded-For: \xff` behind nginx (`$proxy_add_x_forwarded_for`
    // makes it `\xff, <client>`) was seen as the proxy itself.
    #[test]
    fn a_garbled_entry_never_hides_the_proxies_entries(
        garbage in proptest::collection::vec(
            prop_oneof![0x20u8..0x7f, 0x80u8..=0xff].prop_filter("one entry", |b| *b != b','),
            1..10,
        ),
        client in stranger(),
        proxies in proptest::collection::vec(proxy(), 0..3),
        peer in proxy(),
    ) {
        let mut value = garbage;
        for hop in std::iter::once(&client).chain(&proxies) {
            value.extend_from_slice(format!(", {hop}").as_bytes());
        }
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_bytes(&value).unwrap());
        prop_assert_eq!(client_addr(peer, &headers, &trusted()), client.to_canonical());
    }
}

// --- Domain values ---------------------------------------------------------------

/// Letters whose upper and lower case are one character each.
const LETTERS: &str = "abcdefghijklmnopqrstuvwxyzéüøñçåæ";

fn email() -> impl Strategy<Value = String> {
    let local = "[a-z0-9éüøñçåæ]([a-z0-9éüøñçåæ_+-]{0,20}[a-z0-9])?";
    let domain = "([a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?\\.){1,3}[a-z]{2,6}";
    (local, domain).prop_map(|(l, d)| format!("{l}@{d}"))
}

proptest! {
    #[test]
    fn case_variants_of_an_email_are_one_lower_cased_email(
        email in email(),
        upper in proptest::collection::vec(any::<bool>(), 64),
        pad in "[ \t]{0,2}",
    ) {
        let variant: String = email
            .chars()
            .zip(upper.iter().cycle())
            .map(|(c, up)| match (up, LETTERS.contains(c)) {
                (true, true) => c.to_uppercase().next().unwrap(),
                _ => c,
            })
            .collect();
        let parsed = Email::parse(&format!("{pad}{variant}{pad}")).unwrap();
        prop_assert_eq!(parsed.as_str(), email.as_str());
        prop_assert_eq!(Email::parse(&email).unwrap(), parsed);
    }
}

/// Characters with canonical and compatibility decompositions: accented
/// letters, Greek with several marks, Hangul, ligatures, full-width and
/// circled forms, combining marks on their own.
fn password_char() -> impl Strategy<Value = char> {
    prop_oneof![
        proptest::char::range('a', 'z'),
        proptest::char::range('0', '9'),
        proptest::sample::select(vec![
            'é', 'ñ', 'ǖ', '가', '힣', 'ﬁ', 'ﬃ', 'Ａ', '①', '㌀',
            '\u{1F82}', // ᾂ: four code points in NFD
            '\u{1FC2}', // ῂ
            '\u{0301}', '\u{0308}', '\u{0345}', // combining marks
            '\u{1100}', '\u{1161}', '\u{11A8}', // Hangul jamo
            '\u{2126}', '\u{212A}', '\u{212B}', // ohm, kelvin, angstrom signs
        ]),
    ]
}

fn forms(raw: &str) -> [String; 5] {
    [
        raw.to_owned(),
        raw.nfc().collect(),
        raw.nfd().collect(),
        raw.nfkc().collect(),
        raw.nfkd().collect(),
    ]
}

proptest! {
    #[test]
    fn nfkc_equivalent_passwords_parse_equal(
        chars in proptest::collection::vec(password_char(), 0..160),
        min_chars in 8usize..=64,
    ) {
        let raw: String = chars.into_iter().collect();
        let policy = PasswordPolicy { min_chars };
        let expose = |p: Password| p.expose().to_owned();
        let [raw, rest @ ..] = forms(&raw);
        let parsed = Password::parse(&raw, &policy).map(expose);
        let verified = Password::for_verification(&raw).map(expose);
        for form in &rest {
            prop_assert_eq!(&Password::parse(form, &policy).map(expose), &parsed);
            prop_assert_eq!(&Password::for_verification(form).map(expose), &verified);
        }
        if let Ok(p) = &parsed {
            prop_assert_eq!(p, &raw.nfkc().collect::<String>());
        }
    }

    #[test]
    fn a_password_over_128_characters_is_always_refused(
        chars in proptest::collection::vec(password_char(), 129..600),
    ) {
        let raw: String = chars.into_iter().collect::<String>().nfkc().collect();
        prop_assume!(raw.chars().count() > 128);
        let policy = PasswordPolicy { min_chars: 8 };
        for form in forms(&raw) {
            prop_assert!(Password::parse(&form, &policy).is_err());
            prop_assert!(Password::for_verification(&form).is_err());
        }
    }

    #[test]
    fn a_password_within_bounds_is_accepted_unless_guessable(
        raw in "[a-zA-Z0-9 éß漢!-/]{15,128}",
    ) {
        match Password::parse(&raw, &PasswordPolicy::default()) {
            Ok(p) => prop_assert_eq!(p.expose(), raw.as_str()),
            Err(e) => prop_assert!(
                ["common", "repeated", "run of consecutive"].iter().any(|why| e.contains(why)),
                "{}",
                e
            ),
        }
    }
}

// --- Bodies: never a 5xx ----------------------------------------------------------

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "\\PC{0,20}".prop_map(Value::String),
        Just(json!("correct horse battery staple")),
        Just(json!("Ada@Example.COM")),
        Just(json!("password")),
        Just(json!("admin")),
        Just(json!("user")),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            proptest::collection::btree_map("[a-z]{1,3}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A JSON object with the body fields (and others), of any type.
fn body() -> impl Strategy<Value = Map<String, Value>> {
    let key = prop_oneof![
        Just("email".to_owned()),
        Just("name".to_owned()),
        Just("password".to_owned()),
        Just("current_password".to_owned()),
        Just("is_active".to_owned()),
        Just("role".to_owned()),
        Just("username".to_owned()),
        Just("grant_type".to_owned()),
        "[a-z_]{1,12}",
    ];
    proptest::collection::vec((key, json_value()), 0..7)
        .prop_map(|fields| fields.into_iter().collect())
}

/// `POST /users`'s body, read by the function `create_user` calls.
fn sign_up(body: &[u8], admin: bool) -> Result<NewUser, ApiError> {
    sign_up_body(JsonObject::parse(body)?, admin, &PasswordPolicy::default())
}

/// `PATCH /users/{id}`'s body, read by the function `update_user` calls.
fn patch(body: &[u8]) -> Result<UserPatch, ApiError> {
    patch_body(JsonObject::parse(body)?, &PasswordPolicy::default())
}

fn assert_client_error(err: ApiError) -> Result<(), TestCaseError> {
    let status = status(err);
    prop_assert!(status.is_client_error(), "{}", status);
    Ok(())
}

proptest! {
    #[test]
    fn a_bad_user_body_is_a_4xx_never_a_5xx(
        object in body(),
        admin in any::<bool>(),
    ) {
        let bytes = serde_json::to_vec(&object).unwrap();
        if let Err(err) = sign_up(&bytes, admin) {
            assert_client_error(err)?;
        }
        if let Err(err) = patch(&bytes) {
            assert_client_error(err)?;
        }
    }

    #[test]
    fn any_bytes_as_a_body_are_a_4xx_never_a_5xx(
        bytes in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..100),
            json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
            "[\\[\\]{}\":,a-z0-9 \\\\]{0,40}".prop_map(String::into_bytes),
        ],
        form in any::<bool>(),
    ) {
        if let Err(err) = sign_up(&bytes, true) {
            assert_client_error(err)?;
        }
        if let Err(err) = patch(&bytes) {
            assert_client_error(err)?;
        }
        if let Err(err) = TokenRequest::parse(form, &bytes) {
            prop_assert!(matches!(err, ApiError::OAuth { .. }), "{:?}", err);
            prop_assert_eq!(status(err), StatusCode::BAD_REQUEST);
        }
    }

    #[test]
    fn a_token_body_is_read_alike_as_form_and_as_json(
        fields in proptest::collection::btree_map(
            prop_oneof![
                Just("username".to_owned()),
                Just("password".to_owned()),
                Just("grant_type".to_owned()),
                Just("scope".to_owned()),
                "[a-z_]{1,10}",
            ],
            prop_oneof![Just("password".to_owned()), "\\PC{1,20}"],
            0..5,
        ),
    ) {
        let form = serde_urlencoded::to_string(&fields).unwrap();
        let json = serde_json::to_vec(&fields).unwrap();
        let outcome = |r: Result<TokenRequest, ApiError>| match r {
            Ok(_) => None,
            Err(ApiError::OAuth { error, .. }) => Some(error),
            Err(other) => panic!("not an RFC 6749 error: {other:?}"),
        };
        let as_form = outcome(TokenRequest::parse(true, form.as_bytes()));
        let as_json = outcome(TokenRequest::parse(false, &json));
        prop_assert_eq!(as_form, as_json);
        let complete = fields.contains_key("username") && fields.contains_key("password");
        let grant_ok = fields.get("grant_type").is_none_or(|g| g == "password");
        prop_assert_eq!(as_form.is_none(), complete && grant_ok);
    }
}
