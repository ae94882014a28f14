//! Extractors that turn raw requests into typed values once, at the edge,
//! and reject with `ApiError` so every rejection has the contract's shape.

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use serde_json::{Map, Value};

use super::problem::ApiError;
use super::state::AppState;
use crate::accounts::{Caller, Precondition};
use crate::auth::tokens::{parse_bearer, Bearer};
use crate::domain::{Role, UserId, Violations};

/// A JSON object body, read field by field so that every bad field (wrong
/// type, missing, unknown) is reported together, not only the first as a
/// derived `Deserialize` would.
pub struct JsonObject {
    fields: Map<String, Value>,
    pub violations: Violations,
}

impl<S: Send + Sync> FromRequest<S> for JsonObject {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(ApiError::UnsupportedMediaType(
                "Content-Type must be application/json",
            ));
        }
        let bytes = read_body(req, state).await?;
        Self::parse(&bytes)
    }
}

impl JsonObject {
    /// The body as a JSON object: malformed JSON is 400, any other JSON
    /// value 422.
    /// A key sent twice is a violation naming it: a proxy or a log reader
    /// that takes the first copy must never see another request than ours
    /// (serde_json alone keeps the last).
    pub fn parse(bytes: &[u8]) -> Result<Self, ApiError> {
        match parse_object(bytes) {
            Ok(Some(TopLevel { fields, repeated })) => {
                let mut object = Self::from_map(fields);
                for name in repeated {
                    object.violations.push(&name, "is repeated");
                }
                Ok(object)
            }
            Ok(None) => Err(ApiError::Unprocessable(
                "The body must be a JSON object".into(),
            )),
            Err(e) => Err(ApiError::MalformedJson(format!("Malformed JSON: {e}"))),
        }
    }

    /// SHA-256 of the body as parsed (keys sorted, so formatting and key
    /// order do not matter) without the field `secret`, taken before any
    /// field is read. The secret stays out because the digest is stored: a
    /// fast hash of a password would let anyone with the database test
    /// guesses far faster than argon2 allows.
    pub fn digest_without(&self, secret: &str) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let mut digest = Sha256::new();
        for (name, value) in self.fields.iter().filter(|(name, _)| *name != secret) {
            let pair = serde_json::to_vec(&(name, value)).unwrap_or_default();
            digest.update(u64::try_from(pair.len()).unwrap_or(u64::MAX).to_be_bytes());
            digest.update(pair);
        }
        digest.finalize().into()
    }

    pub fn from_map(fields: Map<String, Value>) -> Self {
        Self {
            fields,
            violations: Violations::default(),
        }
    }

    /// An optional string field; another JSON type (including null) is a
    /// violation.
    pub fn string(&mut self, name: &str) -> Option<String> {
        match self.fields.remove(name)? {
            Value::String(s) => Some(s),
            _ => {
                self.violations.push(name, "must be a string");
                None
            }
        }
    }

    pub fn required_string(&mut self, name: &str) -> Option<String> {
        if !self.fields.contains_key(name) {
            self.violations.push(name, "is required");
            return None;
        }
        self.string(name)
    }

    pub fn bool(&mut self, name: &str) -> Option<bool> {
        match self.fields.remove(name)? {
            Value::Bool(b) => Some(b),
            _ => {
                self.violations.push(name, "must be true or false");
                None
            }
        }
    }

    pub fn role(&mut self, name: &str) -> Option<Role> {
        let raw = self.string(name)?;
        self.violations.check(name, raw.parse())
    }

    /// Records every field not taken so far as unknown (the contract: an
    /// unknown field is an error, never silently ignored) and returns all
    /// violations.
    pub fn finish(mut self) -> Violations {
        let mut unknown: Vec<String> = self.fields.keys().cloned().collect();
        unknown.sort();
        for name in unknown {
            self.violations.push(&name, "unknown field");
        }
        self.violations
    }
}

/// A JSON body's top level: its fields, and the keys sent more than once
/// (each named once, in the order first repeated). `None`: valid JSON but
/// not an object.
pub struct TopLevel {
    pub fields: Map<String, Value>,
    pub repeated: Vec<String>,
}

/// Parses JSON whose top level should be an object, keeping track of
/// repeated keys. Nested values are taken as they are: no body of ours
/// accepts a nested object, so one is refused as the wrong type anyway.
pub fn parse_object(bytes: &[u8]) -> Result<Option<TopLevel>, serde_json::Error> {
    use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};

    struct Object(Option<TopLevel>);
    struct ObjectVisitor;

    impl<'de> Visitor<'de> for ObjectVisitor {
        type Value = Object;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a JSON value")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Object, A::Error> {
            let mut fields = Map::new();
            let mut repeated = Vec::new();
            while let Some(key) = map.next_key::<String>()? {
                let value: Value = map.next_value()?;
                if fields.contains_key(&key) {
                    if !repeated.contains(&key) {
                        repeated.push(key);
                    }
                } else {
                    fields.insert(key, value);
                }
            }
            Ok(Object(Some(TopLevel { fields, repeated })))
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Object, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(Object(None))
        }

        fn visit_bool<E>(self, _: bool) -> Result<Object, E> {
            Ok(Object(None))
        }
        fn visit_i64<E>(self, _: i64) -> Result<Object, E> {
            Ok(Object(None))
        }
        fn visit_u64<E>(self, _: u64) -> Result<Object, E> {
            Ok(Object(None))
        }
        fn visit_f64<E>(self, _: f64) -> Result<Object, E> {
            Ok(Object(None))
        }
        fn visit_str<E>(self, _: &str) -> Result<Object, E> {
            Ok(Object(None))
        }
        fn visit_unit<E>(self) -> Result<Object, E> {
            Ok(Object(None))
        }
    }

    impl<'de> serde::Deserialize<'de> for Object {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(ObjectVisitor)
        }
    }

    serde_json::from_slice::<Object>(bytes).map(|o| o.0)
}

pub fn is_json(headers: &HeaderMap) -> bool {
    media_type(headers).is_some_and(|m| m == "application/json" || m.ends_with("+json"))
}

/// The media type of `Content-Type`, lower-cased, without parameters.
pub fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(value.split(';').next()?.trim().to_ascii_lowercase())
}

/// The body, at most 64 KiB (`DefaultBodyLimit` in the router).
pub async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::MalformedJson("Could not read the request body".into())
        }
    })
}

/// The signed-in caller; 401 without a valid bearer token.
pub struct SignedIn(pub Caller);

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let bearer = parse_bearer(
            parts
                .headers
                .get(header::AUTHORIZATION)
                .map(|v| v.as_bytes()),
        );
        Ok(Self(state.accounts.authenticate(bearer).await?))
    }
}

/// The caller if a bearer token was sent (a bad one is still 401), else
/// anonymous.
pub struct MaybeSignedIn(pub Option<Caller>);

impl FromRequestParts<AppState> for MaybeSignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match parse_bearer(
            parts
                .headers
                .get(header::AUTHORIZATION)
                .map(|v| v.as_bytes()),
        ) {
            Bearer::Missing => Ok(Self(None)),
            bearer => Ok(Self(Some(state.accounts.authenticate(bearer).await?))),
        }
    }
}

/// `{id}` in a user path: a positive 64-bit integer, else 422.
pub struct UserIdPath(pub UserId);

impl<S: Send + Sync> FromRequestParts<S> for UserIdPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(raw) =
            axum::extract::Path::<String>::from_request_parts(parts, state)
                .await
                .map_err(|_| {
                    ApiError::Unprocessable("The user id must be a positive 64-bit integer".into())
                })?;
        raw.parse::<UserId>().map(Self).map_err(|_| {
            ApiError::Invalid(vec![crate::domain::FieldError {
                field: "id".into(),
                message: "must be a positive 64-bit integer".into(),
            }])
        })
    }
}

/// `If-Match` (RFC 9110 §13.1.1), reduced to the versions it names. Our
/// ETags are strong (`"v<version>"`); a weak or foreign tag never matches.
pub struct IfMatch(pub Option<Precondition>);

pub fn etag(version: i64) -> String {
    format!("\"v{version}\"")
}

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parse_if_match(&parts.headers).map(Self)
    }
}

/// Reads every `If-Match` header: `None` when none was sent.
pub fn parse_if_match(headers: &HeaderMap) -> Result<Option<Precondition>, ApiError> {
    let mut versions = Vec::new();
    let mut any = false;
    let mut seen = false;
    for value in headers.get_all(header::IF_MATCH) {
        seen = true;
        let value = value
            .to_str()
            .map_err(|_| ApiError::Unprocessable("If-Match is not a valid header value".into()))?;
        for tag in value.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            if tag == "*" {
                any = true;
            } else if let Some(v) = tag
                .strip_prefix("\"v")
                .and_then(|t| t.strip_suffix('"'))
                .and_then(|t| t.parse::<i64>().ok())
                // Strong comparison is character by character (RFC 9110
                // §8.8.3.2): "v05" is not our "v5".
                .filter(|v| etag(*v) == tag)
            {
                versions.push(v);
            }
        }
    }
    Ok(match (seen, any) {
        (false, _) => None,
        (true, true) => Some(Precondition::Any),
        (true, false) => Some(Precondition::Versions(versions)),
    })
}

/// The client's address: the direct peer, or, when that peer is a trusted
/// proxy, the right-most `X-Forwarded-For` entry that is not one.
pub struct ClientAddr(pub IpAddr);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip())
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        Ok(Self(client_addr(
            peer,
            &parts.headers,
            &state.web.trusted_proxies,
        )))
    }
}

/// `Idempotency-Key`: 1 to 255 visible ASCII characters when sent.
pub struct IdempotencyKey(pub Option<String>);

/// The longest `Idempotency-Key` kept.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parse_idempotency_key(&parts.headers).map(Self)
    }
}

pub fn parse_idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let mut values = headers.get_all("idempotency-key").iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    let invalid = || {
        ApiError::Invalid(vec![crate::domain::FieldError {
            field: "Idempotency-Key".into(),
            message: format!(
                "must be sent once, 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"
            ),
        }])
    };
    let key = value.to_str().map_err(|_| invalid())?;
    let visible = key.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
    if values.next().is_some()
        || key.trim().is_empty()
        || key.len() > MAX_IDEMPOTENCY_KEY
        || !visible
    {
        return Err(invalid());
    }
    Ok(Some(key.to_owned()))
}

pub fn client_addr(peer: IpAddr, headers: &HeaderMap, trusted: &[ipnet::IpNet]) -> IpAddr {
    // An IPv4 peer on a dual-stack listener arrives as `::ffff:a.b.c.d`.
    let peer = peer.to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    // Split the raw bytes: one entry that is not text must not hide the
    // entries the proxies appended after it.
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .map(|hop| std::str::from_utf8(hop).map(str::trim))
        .collect::<Vec<_>>();
    for hop in hops.into_iter().rev() {
        let Ok(hop) = hop else {
            // A garbled entry: stop believing the chain at this point.
            return client;
        };
        match hop.parse::<IpAddr>().map(|ip| ip.to_canonical()) {
            Ok(ip) if is_trusted(&ip) => client = ip,
            Ok(ip) => return ip,
            // A garbled entry: stop believing the chain at this point.
            Err(_) => return client,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xff(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", value.parse().unwrap());
        h
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted = vec!["10.0.0.0/8".parse().unwrap()];
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let stranger: IpAddr = "203.0.113.9".parse().unwrap();
        let headers = xff("198.51.100.7, 10.0.0.2");
        assert_eq!(
            client_addr(proxy, &headers, &trusted),
            "198.51.100.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_addr(stranger, &headers, &trusted), stranger);
        assert_eq!(
            client_addr(proxy, &xff("1.1.1.1, garbage"), &trusted),
            proxy
        );
        assert_eq!(client_addr(proxy, &HeaderMap::new(), &trusted), proxy);
    }
}
