//! The two per-request series (`http_request_duration_seconds` by method
//! and route, `http_requests_total` by method, route and status), recorded
//! through handles each worker thread looks up once per label set.
//!
//! Why not `metrics::histogram!(…, "route" => route)` per request: that
//! builds a key (allocating the route and status label strings) and hashes
//! it into the registry on every call, a measurable share of a 15 µs read
//! (issue 14). A handle is the registry's own pointer to the series, so
//! recording through it is the same atomic update without the lookup. Routes
//! are the router's patterns, so the cache is bounded like the series are.
//! Without `--metrics-addr` no recorder is installed and nothing is done.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

use metrics::{Counter, Histogram};

struct Series {
    duration: Histogram,
    requests: Counter,
}

/// One route's handles, by method and status.
type ByRoute = HashMap<(&'static str, u16), Series>;

thread_local! {
    /// route → (method, status) → handles. Keyed by the route's text first
    /// so a lookup borrows it (no allocation on the hot path).
    static SERIES: RefCell<HashMap<String, ByRoute>> = RefCell::new(HashMap::new());
}

pub fn record(route: &str, method: &'static str, status: u16, elapsed: Duration) {
    if !crate::metrics::installed() {
        return;
    }
    SERIES.with(|series| {
        let mut series = series.borrow_mut();
        let by_route = match series.get_mut(route) {
            Some(by_route) => by_route,
            None => series.entry(route.to_owned()).or_default(),
        };
        let handles = by_route.entry((method, status)).or_insert_with(|| Series {
            duration: metrics::histogram!("http_request_duration_seconds",
                "method" => method, "route" => route.to_owned()),
            requests: metrics::counter!("http_requests_total",
                "method" => method, "route" => route.to_owned(), "status" => status.to_string()),
        });
        handles.duration.record(elapsed.as_secs_f64());
        handles.requests.increment(1);
    });
}
