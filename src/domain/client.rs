//! Which client a per-address limit counts: the one rule every per-address
//! limit (sign-in throttle, sign-up rate, connections per address) keys by,
//! so an IPv6 client cannot escape them by changing addresses.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

/// A client as per-address limits count it: an IPv4 address as it is, an
/// IPv6 address by its /64. A /64 is the smallest prefix a site is given
/// (RFC 6177 §2 recommends /48 to /56 per site; SLAAC needs the whole /64),
/// and any host in it can choose among its 2^64 addresses at will (RFC 8981
/// temporary addresses), so counting single IPv6 addresses counts nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AddressKey(IpAddr);

impl AddressKey {
    /// The key of `ip`; an IPv4 address mapped into IPv6 (`::ffff:a.b.c.d`,
    /// as a dual-stack listener reports IPv4 peers) is its IPv4 address.
    pub fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Self(IpAddr::V4(v4)),
            IpAddr::V6(v6) => {
                let prefix = u128::from(v6) & !(u128::from(u64::MAX));
                Self(IpAddr::V6(Ipv6Addr::from(prefix)))
            }
        }
    }
}

/// `192.0.2.1` for IPv4, `2001:db8:1:2::/64` for IPv6: how the store names
/// an address's sign-in record.
impl fmt::Display for AddressKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) => write!(f, "{v6}/64"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(raw: &str) -> AddressKey {
        AddressKey::of(raw.parse().unwrap())
    }

    #[test]
    fn ipv6_addresses_in_one_64_are_one_client() {
        assert_eq!(
            key("2001:db8:1:2::1"),
            key("2001:db8:1:2:ffff:ffff:ffff:ffff")
        );
        assert_eq!(key("2001:db8:1:2:a:b:c:d"), key("2001:db8:1:2::"));
        assert_eq!(key("2001:db8:1:2::1").to_string(), "2001:db8:1:2::/64");
    }

    #[test]
    fn ipv6_addresses_in_other_64s_are_other_clients() {
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db9:1:2::1"));
    }

    #[test]
    fn ipv4_addresses_are_counted_one_by_one() {
        assert_ne!(key("192.0.2.1"), key("192.0.2.2"));
        assert_eq!(key("192.0.2.1").to_string(), "192.0.2.1");
    }

    #[test]
    fn an_ipv4_mapped_address_is_its_ipv4_address() {
        assert_eq!(key("::ffff:192.0.2.1"), key("192.0.2.1"));
        assert_eq!(key("::ffff:192.0.2.1").to_string(), "192.0.2.1");
    }
}
