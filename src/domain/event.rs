//! Which events a change to a user emits, and what each carries (the
//! contract's "Events" table). Pure: the store calls these inside the
//! transaction that makes the change, on either backend, so an event exists
//! exactly when its change committed. Sending them is `events`'s job.

use serde::Serialize;

use super::resource::UserResource;
use super::User;

/// The `type` of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    UserCreated,
    UserUpdated,
    UserDeleted,
    UserSignedOut,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserCreated => "user.created",
            Self::UserUpdated => "user.updated",
            Self::UserDeleted => "user.deleted",
            Self::UserSignedOut => "user.signed_out",
        }
    }
}

/// Why a user's tokens ended (`user.signed_out`'s `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignOutReason {
    SignOutEverywhere,
    PasswordChanged,
    PasswordReset,
    Deactivated,
}

impl SignOutReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignOutEverywhere => "sign_out_everywhere",
            Self::PasswordChanged => "password_changed",
            Self::PasswordReset => "password_reset",
            Self::Deactivated => "deactivated",
        }
    }
}

/// An event to write: everything but `seq`, which the store assigns in
/// commit order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// `evt_` + a ULID: unique, the same on every retry of its delivery.
    pub id: String,
    pub kind: EventType,
    pub user_id: i64,
    /// The event's `data` object, as JSON.
    pub data: String,
    /// Unix milliseconds, UTC.
    pub at_ms: i64,
}

/// The user resource with its `version`, as events carry it.
#[derive(Serialize)]
struct VersionedUser {
    #[serde(flatten)]
    resource: UserResource,
    version: i64,
}

/// A user named by id (and email, for a deletion) at a version.
#[derive(Serialize)]
struct UserRef<'a> {
    id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    version: i64,
}

/// Every event's `data`: the user, and what the type adds.
#[derive(Serialize)]
struct Data<U: Serialize> {
    user: U,
    #[serde(skip_serializing_if = "Option::is_none")]
    changed: Option<Vec<&'static str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
}

fn versioned(user: &User) -> VersionedUser {
    VersionedUser {
        resource: UserResource::from(user),
        version: user.version,
    }
}

type Made = Result<NewEvent, serde_json::Error>;

fn event<U: Serialize>(kind: EventType, user_id: i64, data: &Data<U>, at_ms: i64) -> Made {
    Ok(NewEvent {
        id: format!("evt_{}", ulid::Ulid::new()),
        kind,
        user_id,
        data: serde_json::to_string(data)?,
        at_ms,
    })
}

/// The resource's fields that differ, plus `password` when one was set,
/// in the resource's order; never `updated_at` or `version`.
pub fn changed_fields(before: &User, after: &User, password_set: bool) -> Vec<&'static str> {
    let mut changed = Vec::new();
    if before.email != after.email {
        changed.push("email");
    }
    if before.name != after.name {
        changed.push("name");
    }
    if before.role != after.role {
        changed.push("role");
    }
    if before.is_active != after.is_active {
        changed.push("is_active");
    }
    if before.email_verified != after.email_verified {
        changed.push("email_verified");
    }
    if password_set {
        changed.push("password");
    }
    changed
}

/// Sign-up, admin create, import.
pub fn created(user: &User, at_ms: i64) -> Made {
    let data = Data {
        user: versioned(user),
        changed: None,
        reason: None,
    };
    event(EventType::UserCreated, user.id.0, &data, at_ms)
}

/// A change that changed something: `user.updated`, then `user.signed_out`
/// with the same version when the change also ended tokens (deactivation,
/// a password set). Nothing when `changed` is empty.
pub fn updated(
    before: &User,
    after: &User,
    password_set: bool,
    signed_out: Option<SignOutReason>,
    at_ms: i64,
) -> Result<Vec<NewEvent>, serde_json::Error> {
    let changed = changed_fields(before, after, password_set);
    if changed.is_empty() {
        return Ok(Vec::new());
    }
    let data = Data {
        user: versioned(after),
        changed: Some(changed),
        reason: None,
    };
    let mut events = vec![event(EventType::UserUpdated, after.id.0, &data, at_ms)?];
    if let Some(reason) = signed_out {
        events.push(signed_out_event(after, reason, at_ms)?);
    }
    Ok(events)
}

/// Tokens of the user ended; the resource did not change.
pub fn signed_out_event(user: &User, reason: SignOutReason, at_ms: i64) -> Made {
    let data = Data {
        user: UserRef {
            id: user.id.0,
            email: None,
            version: user.version,
        },
        changed: None,
        reason: Some(reason.as_str()),
    };
    event(EventType::UserSignedOut, user.id.0, &data, at_ms)
}

/// A deletion: `version` one above the last the user had, so a consumer
/// keeping the highest version drops any stale state that arrives later.
pub fn deleted(before: &User, at_ms: i64) -> Made {
    let data = Data {
        user: UserRef {
            id: before.id.0,
            email: Some(before.email.as_str()),
            version: before.version + 1,
        },
        changed: None,
        reason: None,
    };
    event(EventType::UserDeleted, before.id.0, &data, at_ms)
}

/// Why a change ended the user's tokens, if it did: deactivation wins over
/// a password set (both end every token but, for one's own password, the
/// caller's).
pub fn sign_out_reason(
    before: &User,
    after: &User,
    password_set: bool,
    by_reset: bool,
) -> Option<SignOutReason> {
    if before.is_active && !after.is_active {
        Some(SignOutReason::Deactivated)
    } else if password_set && by_reset {
        Some(SignOutReason::PasswordReset)
    } else if password_set {
        Some(SignOutReason::PasswordChanged)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Email, Role, UserId};

    fn ada() -> User {
        User {
            id: UserId(7),
            email: Email::parse("ada@example.com").unwrap(),
            name: "Ada".into(),
            role: Role::User,
            is_active: true,
            email_verified: false,
            created_at: 1,
            updated_at: 1,
            version: 3,
        }
    }

    #[test]
    fn changed_lists_exactly_the_fields_that_differ_and_the_password() {
        let before = ada();
        let mut after = ada();
        after.name = "Augusta".into();
        after.version = 4;
        assert_eq!(changed_fields(&before, &after, false), ["name"]);
        assert_eq!(changed_fields(&before, &after, true), ["name", "password"]);
        assert!(changed_fields(&before, &before, false).is_empty());
    }

    #[test]
    fn deactivation_emits_updated_then_signed_out_with_one_version() {
        let before = ada();
        let mut after = ada();
        after.is_active = false;
        after.version = 4;
        let reason = sign_out_reason(&before, &after, false, false);
        let events = updated(&before, &after, false, reason, 5).unwrap();
        let kinds: Vec<_> = events.iter().map(|e| e.kind).collect();
        assert_eq!(kinds, [EventType::UserUpdated, EventType::UserSignedOut]);
        let data: serde_json::Value = serde_json::from_str(&events[1].data).unwrap();
        assert_eq!(data["reason"], "deactivated");
        assert_eq!(data["user"]["version"], 4);
        let updated: serde_json::Value = serde_json::from_str(&events[0].data).unwrap();
        assert_eq!(updated["user"]["version"], 4);
        assert_eq!(updated["changed"], serde_json::json!(["is_active"]));
        assert_ne!(events[0].id, events[1].id);
        assert!(events[0].id.starts_with("evt_"));
    }

    #[test]
    fn a_deleted_user_carries_the_next_version_and_no_more() {
        let data: serde_json::Value =
            serde_json::from_str(&deleted(&ada(), 1).unwrap().data).unwrap();
        assert_eq!(
            data,
            serde_json::json!({"user": {"id": 7, "email": "ada@example.com", "version": 4}})
        );
    }
}
