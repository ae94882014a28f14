//! Typed configuration values and the parsers clap uses to build them, so a
//! bad flag is refused at start with a one-line reason.

use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;

/// `1h`, `30s`, `90m`… (humantime's syntax); zero is refused.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(raw).map_err(|e| e.to_string())?;
    if d.is_zero() {
        return Err("must be greater than zero".into());
    }
    Ok(d)
}

/// A token lifetime: whole seconds, since expiry is stored in seconds.
pub fn parse_ttl(raw: &str) -> Result<Duration, String> {
    let d = parse_duration(raw)?;
    if d < Duration::from_secs(1) {
        return Err("must be at least 1s".into());
    }
    if d > Duration::from_secs(366 * 86_400) {
        return Err("must be at most one year".into());
    }
    Ok(Duration::from_secs(d.as_secs()))
}

/// An address or a CIDR block of a trusted proxy.
pub fn parse_net(raw: &str) -> Result<IpNet, String> {
    let raw = raw.trim();
    raw.parse::<IpNet>()
        .or_else(|_| raw.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("{raw:?} is not an IP address or CIDR block"))
}

/// An allowed browser origin: `scheme://host[:port]`, nothing else.
pub fn parse_origin(raw: &str) -> Result<String, String> {
    let raw = raw.trim().trim_end_matches('/');
    let ok = (raw.starts_with("http://") || raw.starts_with("https://"))
        && !raw.contains('*')
        && raw.splitn(4, '/').count() == 3
        && axum::http::HeaderValue::from_str(raw).is_ok();
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(format!(
            "{raw:?} is not an origin like https://app.example.com"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_host_and_port_only() {
        assert!(parse_origin("https://app.example.com").is_ok());
        assert!(parse_origin("http://localhost:3000/").is_ok());
        assert!(parse_origin("*").is_err());
        assert!(parse_origin("https://a.com/path").is_err());
        assert!(parse_origin("app.example.com").is_err());
    }
}
