//! Events leaving the service (the contract's "Events"): the event's wire
//! form, the relay that carries the outbox to each sink (webhooks, NATS
//! JetStream) and the sinks themselves. The outbox rows are written by the
//! store inside each change's transaction; this module only reads them and
//! records deliveries. It must not change users, and nothing here runs on a
//! request's path but `render` (the feed).

pub mod nats;
pub mod relay;
pub mod signature;
pub mod webhook;

use serde::Serialize;
use serde_json::value::RawValue;

use crate::store::outbox::StoredEvent;

/// An event as it leaves the service: the webhook body, the NATS message,
/// an item of `GET /events`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EventOut {
    /// `evt_` + a ULID; the same on every delivery of this event: the
    /// consumer's dedup key.
    #[schema(example = "evt_01JEXAMPLE0000000000000000")]
    pub id: String,
    /// Grows in commit order across the whole store.
    #[schema(example = 1234)]
    pub seq: i64,
    /// `user.created`, `user.updated`, `user.deleted` or `user.signed_out`.
    #[serde(rename = "type")]
    #[schema(example = "user.updated")]
    pub kind: String,
    /// When the change committed, RFC 3339, UTC.
    #[schema(example = "2026-12-06T09:00:00.000Z", format = DateTime)]
    pub timestamp: String,
    /// `user` (the resource with its `version`, or `id`, `email` and
    /// `version` for a deletion, `id` and `version` for a sign-out), and
    /// `changed` (user.updated) or `reason` (user.signed_out).
    #[schema(value_type = Object)]
    pub data: Box<RawValue>,
}

impl EventOut {
    pub fn from_stored(event: &StoredEvent) -> Result<Self, serde_json::Error> {
        let at = std::time::UNIX_EPOCH
            + std::time::Duration::from_millis(u64::try_from(event.at_ms).unwrap_or(0));
        Ok(Self {
            id: event.id.clone(),
            seq: event.seq,
            kind: event.kind.clone(),
            timestamp: humantime::format_rfc3339_millis(at).to_string(),
            data: RawValue::from_string(event.data.clone())?,
        })
    }
}

/// The event's JSON, as every sink and the feed carry it.
pub fn render(event: &StoredEvent) -> Result<String, serde_json::Error> {
    serde_json::to_string(&EventOut::from_stored(event)?)
}
