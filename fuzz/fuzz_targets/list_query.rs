//! `GET /users` query string → `ListQuery`. A parsed query is in range
//! (limit 1..=100, after_id ≥ 0, never with skip); a refused one is a 422;
//! `next_link` is a valid header value whose URL parses back to the same
//! page size and filters, with `after_id` set and no `skip`.
#![no_main]

use axum::http::HeaderValue;
use axum::response::IntoResponse;
use libfuzzer_sys::fuzz_target;
use user_api::http::list_query::ListQuery;

/// A last id taken from the input, so every run sees a few (FNV-1a).
fn last_id(data: &[u8]) -> i64 {
    let hash = data.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    });
    match hash % 4 {
        0 => 1,
        1 => i64::MAX,
        _ => ((hash >> 2) as i64).max(1),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let list = match ListQuery::parse(raw) {
        Ok(list) => list,
        Err(err) => {
            assert_eq!(err.into_response().status().as_u16(), 422, "{raw:?}");
            return;
        }
    };
    assert!((1..=100).contains(&list.limit), "limit {}", list.limit);
    if let Some(after) = list.after_id {
        assert!(after >= 0);
        assert_eq!(list.skip, 0, "skip together with after_id");
    }
    assert!(i64::try_from(list.skip).is_ok(), "skip over 2^63-1");

    let id = last_id(data);
    let link = list.next_link(id);
    assert!(HeaderValue::from_str(&link).is_ok(), "{link:?}");
    let url = link
        .strip_prefix('<')
        .and_then(|l| l.strip_suffix(">; rel=\"next\""))
        .unwrap_or_else(|| panic!("not a Link value: {link:?}"));
    let query = url
        .strip_prefix("/users?")
        .unwrap_or_else(|| panic!("not a /users URL: {url:?}"));
    let next = ListQuery::parse(query)
        .unwrap_or_else(|e| panic!("next link {link:?} of {raw:?} is refused: {e:?}"));
    assert_eq!(next.after_id, Some(id));
    assert_eq!(next.skip, 0);
    assert_eq!(next.limit, list.limit);
    assert_eq!(next.filter.q, list.filter.q, "{raw:?} → {link:?}");
    assert_eq!(next.filter.is_active, list.filter.is_active);
    assert_eq!(next.filter.role, list.filter.role);
    // The link of the next page is built the same way (q as sent included).
    assert_eq!(next.next_link(id), link);
});
