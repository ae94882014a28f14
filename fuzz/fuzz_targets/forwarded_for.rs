//! `X-Forwarded-For` with trusted proxies → the client address.
//! Input, one item a line: the peer's address, the trusted networks
//! (comma-separated CIDRs or addresses), then one `X-Forwarded-For` value a
//! line (any bytes a header value may hold, obs-text included). Checks the
//! contract: the peer unless it is a trusted proxy, else the right-most
//! entry that is not a trusted proxy; an entry left of a garbled one is never
//! believed, and garbage is never returned.
#![no_main]

use std::net::IpAddr;

use axum::http::{HeaderMap, HeaderValue};
use ipnet::IpNet;
use libfuzzer_sys::fuzz_target;
use user_api::http::extract::client_addr;

fn net(text: &str) -> Option<IpNet> {
    let text = text.trim();
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

/// One comma-separated entry: an address, or `None` when garbled (a byte
/// outside ASCII garbles its own entry, not its neighbours).
fn hop(entry: &[u8]) -> Option<IpAddr> {
    std::str::from_utf8(entry)
        .ok()?
        .trim()
        .parse::<IpAddr>()
        .ok()
        .map(|ip| ip.to_canonical())
}

fuzz_target!(|data: &[u8]| {
    let mut lines = data.split(|b| *b == b'\n');
    let peer = lines
        .next()
        .and_then(|l| std::str::from_utf8(l).ok())
        .and_then(|l| l.trim().parse::<IpAddr>().ok())
        .unwrap_or(IpAddr::from([10, 0, 0, 1]))
        // An IPv4-mapped peer is its IPv4 address to `client_addr`.
        .to_canonical();
    let trusted: Vec<IpNet> = String::from_utf8_lossy(lines.next().unwrap_or_default())
        .split(',')
        .filter_map(net)
        .collect();
    let mut headers = HeaderMap::new();
    for line in lines {
        if let Ok(value) = HeaderValue::from_bytes(line) {
            headers.append("x-forwarded-for", value);
        }
    }
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    let client = client_addr(peer, &headers, &trusted);

    if !is_trusted(&peer) {
        assert_eq!(
            client, peer,
            "an untrusted peer's X-Forwarded-For was believed"
        );
        return;
    }
    // The hops as sent, right-most last.
    let hops: Vec<Option<IpAddr>> = headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .map(hop)
        .collect();
    // Right to left, the first hop that is not a trusted proxy decides.
    match hops
        .iter()
        .rev()
        .find(|h| !h.is_some_and(|ip| is_trusted(&ip)))
    {
        Some(Some(untrusted)) => assert_eq!(
            client, *untrusted,
            "not the right-most untrusted hop of {hops:?}"
        ),
        // A garbled hop: the answer is the last trusted address before it.
        Some(None) | None => {
            assert!(is_trusted(&client), "{client} is not a trusted proxy");
            match hops.iter().rev().take_while(|h| h.is_some()).last() {
                Some(last) => assert_eq!(Some(client), *last),
                None => assert_eq!(client, peer),
            }
        }
    }
});
