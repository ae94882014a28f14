//! The sources `users import` reads, each turned into a `Source`: what the
//! record says, before the checks every format shares (`super::check`).
//!
//! Field names are the sources' own: Auth0's bulk-import schema, Firebase's
//! `auth:export` JSON, Supabase's `auth.users` columns, Keycloak's realm
//! export (`users[].credentials[]` with `secretData`/`credentialData` as
//! JSON strings), Django's `dumpdata auth.User`, and user-api's own export.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::Value;

use crate::auth::imported::{self, FirebaseScrypt};
use crate::domain::Role;

/// One source user, as its format says it.
#[derive(Debug, Default)]
pub struct Source {
    pub email: String,
    pub name: Option<String>,
    pub role: Option<Role>,
    pub is_active: bool,
    /// What the source says of the address; false where it says nothing.
    pub email_verified: bool,
    /// A stored-form hash (see `auth::imported`); `None`: no usable password.
    pub hash: Option<String>,
    pub created_at: Option<i64>,
    pub updated_at: Option<i64>,
}

/// Firebase's project-wide hash parameters (`--firebase-…`).
#[derive(Debug, Clone)]
pub struct FirebaseProject {
    pub signer_key: Vec<u8>,
    pub salt_separator: Vec<u8>,
    pub rounds: u32,
    pub mem_cost: u8,
}

fn text<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

fn flag(v: &Value, key: &str) -> Option<bool> {
    v.get(key).and_then(Value::as_bool)
}

fn email_of(v: &Value, key: &str) -> Result<String, String> {
    text(v, key)
        .map(str::to_owned)
        .ok_or_else(|| format!("{key}: missing (every imported user needs an email)"))
}

/// "First Last" from two optional parts.
fn joined(first: Option<&str>, last: Option<&str>) -> Option<String> {
    let name = [first, last]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    (!name.is_empty()).then_some(name)
}

/// Auth0's bulk-import schema: `password_hash` (bcrypt) or
/// `custom_password_hash` `{algorithm, hash: {value}}` for the algorithms
/// whose value is a PHC or bcrypt string (`argon2`, `bcrypt`, `pbkdf2`).
pub fn auth0(v: &Value) -> Result<Source, String> {
    let hash = match (text(v, "password_hash"), v.get("custom_password_hash")) {
        (Some(hash), _) => Some(hash.to_owned()),
        (None, Some(custom)) => {
            let algorithm = text(custom, "algorithm").unwrap_or("");
            let value = custom.get("hash").and_then(|h| text(h, "value"));
            match (algorithm, value) {
                ("argon2" | "bcrypt" | "pbkdf2", Some(value)) => Some(value.to_owned()),
                ("argon2" | "bcrypt" | "pbkdf2", None) => {
                    return Err("custom_password_hash.hash.value: missing".into())
                }
                (other, _) => {
                    return Err(format!(
                        "unknown password hash kind {other:?} (custom_password_hash.algorithm): user-api verifies argon2, bcrypt and pbkdf2 (PHC) from Auth0"
                    ))
                }
            }
        }
        (None, None) => None,
    };
    Ok(Source {
        email: email_of(v, "email")?,
        name: text(v, "name")
            .map(str::to_owned)
            .or_else(|| joined(text(v, "given_name"), text(v, "family_name"))),
        is_active: !flag(v, "blocked").unwrap_or(false),
        email_verified: flag(v, "email_verified").unwrap_or(false),
        hash,
        ..Source::default()
    })
}

/// Firebase's `auth:export` JSON: `passwordHash` and `salt` in base64,
/// verified with the project's parameters; `createdAt` in milliseconds.
pub fn firebase(v: &Value, project: Option<&FirebaseProject>) -> Result<Source, String> {
    let hash = match text(v, "passwordHash") {
        None => None,
        Some(hash) => {
            let project = project.ok_or(
                "a Firebase password hash needs the project's --firebase-signer-key, --firebase-salt-separator, --firebase-rounds and --firebase-mem-cost",
            )?;
            let decode = |field: &str, raw: &str| {
                STANDARD
                    .decode(raw)
                    .map_err(|_| format!("{field}: not base64"))
            };
            let hash = decode("passwordHash", hash)?;
            let salt = decode("salt", text(v, "salt").unwrap_or(""))?;
            if hash.len() != project.signer_key.len() {
                return Err(format!(
                    "passwordHash: {} bytes, but the signer key has {} (another project's, or not Firebase scrypt)",
                    hash.len(),
                    project.signer_key.len()
                ));
            }
            Some(
                FirebaseScrypt {
                    rounds: project.rounds,
                    mem_cost: project.mem_cost,
                    salt_separator: project.salt_separator.clone(),
                    signer_key: project.signer_key.clone(),
                    salt,
                    hash,
                }
                .to_stored(),
            )
        }
    };
    let created_at = v
        .get("createdAt")
        .and_then(|c| {
            c.as_str()
                .and_then(|s| s.parse::<i64>().ok())
                .or(c.as_i64())
        })
        .map(|ms| ms / 1000);
    Ok(Source {
        email: email_of(v, "email")?,
        name: text(v, "displayName").map(str::to_owned),
        is_active: !flag(v, "disabled").unwrap_or(false),
        email_verified: flag(v, "emailVerified").unwrap_or(false),
        hash,
        created_at,
        ..Source::default()
    })
}

/// A row of Supabase's `auth.users`: `encrypted_password` (bcrypt; empty
/// for a social-login user), the name from `raw_user_meta_data`
/// (`full_name` or `name`), inactive when `banned_until` or `deleted_at`
/// is set.
pub fn supabase(v: &Value) -> Result<Source, String> {
    let meta = match v.get("raw_user_meta_data") {
        // The CSV form carries the JSON column as text.
        Some(Value::String(raw)) => serde_json::from_str(raw).unwrap_or(Value::Null),
        Some(other) => other.clone(),
        None => Value::Null,
    };
    let name = text(&meta, "full_name")
        .or_else(|| text(&meta, "name"))
        .map(str::to_owned);
    let set = |key: &str| text(v, key).is_some_and(|s| !s.eq_ignore_ascii_case("null"));
    Ok(Source {
        email: email_of(v, "email")?,
        name,
        is_active: !set("banned_until") && !set("deleted_at"),
        email_verified: set("email_confirmed_at"),
        hash: text(v, "encrypted_password").map(str::to_owned),
        ..Source::default()
    })
}

/// A user of a Keycloak realm export: `enabled`, `firstName`/`lastName`,
/// the `password` credential's `secretData` (`value`, `salt`, base64) and
/// `credentialData` (`algorithm`, `hashIterations`, argon2's
/// `additionalParameters`).
pub fn keycloak(v: &Value) -> Result<Source, String> {
    let credential = v
        .get("credentials")
        .and_then(Value::as_array)
        .and_then(|all| all.iter().find(|c| text(c, "type") == Some("password")));
    let hash = credential.map(keycloak_hash).transpose()?;
    let created_at = v
        .get("createdTimestamp")
        .and_then(Value::as_i64)
        .map(|ms| ms / 1000);
    Ok(Source {
        email: email_of(v, "email")?,
        name: joined(text(v, "firstName"), text(v, "lastName")),
        is_active: flag(v, "enabled").unwrap_or(true),
        email_verified: flag(v, "emailVerified").unwrap_or(false),
        hash,
        created_at,
        ..Source::default()
    })
}

fn keycloak_hash(credential: &Value) -> Result<String, String> {
    let inner = |key: &str| -> Result<Value, String> {
        let raw = text(credential, key).ok_or_else(|| format!("credentials.{key}: missing"))?;
        serde_json::from_str(raw).map_err(|_| format!("credentials.{key}: not JSON"))
    };
    let secret = inner("secretData")?;
    let data = inner("credentialData")?;
    let decode = |key: &str| {
        STANDARD
            .decode(text(&secret, key).unwrap_or(""))
            .map_err(|_| format!("credentials.secretData.{key}: not base64"))
    };
    let (value, salt) = (decode("value")?, decode("salt")?);
    let iterations = data
        .get("hashIterations")
        .and_then(Value::as_u64)
        .and_then(|i| u32::try_from(i).ok())
        .ok_or("credentials.credentialData.hashIterations: missing")?;
    let algorithm = text(&data, "algorithm").unwrap_or("pbkdf2-sha256");
    match algorithm {
        "pbkdf2-sha256" => Ok(imported::pbkdf2_phc(false, iterations, &salt, &value)),
        "pbkdf2-sha512" => Ok(imported::pbkdf2_phc(true, iterations, &salt, &value)),
        "argon2" => {
            // Each parameter is a one-element list of strings.
            let param = |key: &str, default: &str| -> String {
                data.get("additionalParameters")
                    .and_then(|p| p.get(key))
                    .and_then(|list| list.get(0))
                    .and_then(Value::as_str)
                    .unwrap_or(default)
                    .to_owned()
            };
            let number = |key: &str, default: &str| {
                param(key, default)
                    .parse::<u32>()
                    .map_err(|_| format!("credentials.credentialData: argon2 {key} is not a number"))
            };
            let variant = param("type", "id");
            if !["id", "i", "d"].contains(&variant.as_str()) {
                return Err(format!("unknown argon2 type {variant:?}"));
            }
            let version = match param("version", "1.3").as_str() {
                "1.3" => 19,
                "1.0" => 16,
                other => return Err(format!("unknown argon2 version {other:?}")),
            };
            Ok(imported::argon2_phc(
                &variant,
                version,
                number("memory", "7168")?,
                iterations,
                number("parallelism", "1")?,
                &salt,
                &value,
            ))
        }
        other => Err(format!(
            "unknown password hash kind {other:?} (credentialData.algorithm): user-api verifies Keycloak's pbkdf2-sha256, pbkdf2-sha512 and argon2"
        )),
    }
}

/// A `dumpdata auth.User` record (`model`, `fields`): `password` in
/// Django's form, `!…` or empty for no usable password; the name from
/// `first_name`/`last_name`. Records of other models are not users: `None`.
pub fn django(v: &Value) -> Result<Option<Source>, String> {
    if text(v, "model").is_some_and(|m| !m.eq_ignore_ascii_case("auth.user")) {
        return Ok(None);
    }
    let fields = v.get("fields").ok_or("fields: missing")?;
    let hash = text(fields, "password")
        .filter(|p| !p.starts_with('!'))
        .map(|p| imported::from_django(p).to_owned());
    Ok(Some(Source {
        email: email_of(fields, "email")?,
        name: joined(text(fields, "first_name"), text(fields, "last_name")),
        is_active: flag(fields, "is_active").unwrap_or(true),
        hash,
        ..Source::default()
    }))
}

/// A line of `users export`: everything it wrote comes back.
pub fn user_api(v: &Value) -> Result<Source, String> {
    let role = match text(v, "role") {
        Some(role) => Some(role.parse::<Role>().map_err(|e| format!("role: {e}"))?),
        None => None,
    };
    let time = |key: &str| -> Result<Option<i64>, String> {
        text(v, key)
            .map(|raw| {
                humantime::parse_rfc3339_weak(raw)
                    .map_err(|e| format!("{key}: not an RFC 3339 time ({e})"))
                    .and_then(|t| {
                        t.duration_since(std::time::UNIX_EPOCH)
                            .map_err(|_| format!("{key}: before 1970"))
                    })
                    .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            })
            .transpose()
    };
    Ok(Source {
        email: email_of(v, "email")?,
        name: text(v, "name").map(str::to_owned),
        role,
        is_active: flag(v, "is_active").unwrap_or(true),
        email_verified: flag(v, "email_verified").unwrap_or(false),
        hash: text(v, "password_hash")
            .filter(|h| *h != imported::NO_PASSWORD)
            .map(str::to_owned),
        created_at: time("created_at")?,
        updated_at: time("updated_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keycloak_credentials_become_phc_strings() {
        let user = json!({
            "email": "kc@example.com", "firstName": "Kay", "lastName": "Cee", "enabled": false,
            "credentials": [{
                "type": "password",
                "secretData": "{\"value\":\"aGFzaGhhc2hoYXNoaGFzaA==\",\"salt\":\"c2FsdHNhbHRzYWx0c2FsdA==\",\"additionalParameters\":{}}",
                "credentialData": "{\"hashIterations\":5,\"algorithm\":\"argon2\",\"additionalParameters\":{\"hashLength\":[\"16\"],\"memory\":[\"7168\"],\"type\":[\"id\"],\"version\":[\"1.3\"],\"parallelism\":[\"1\"]}}"
            }]
        });
        let source = keycloak(&user).unwrap();
        assert_eq!(source.name.as_deref(), Some("Kay Cee"));
        assert!(!source.is_active);
        assert_eq!(
            source.hash.as_deref(),
            Some("$argon2id$v=19$m=7168,t=5,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaA")
        );
    }

    #[test]
    fn django_unusable_passwords_import_without_one() {
        let record = json!({"model": "auth.user", "pk": 3, "fields": {
            "password": "!abcdef", "email": "d@example.com", "first_name": "", "last_name": ""}});
        let source = django(&record).unwrap().unwrap();
        assert!(source.hash.is_none() && source.name.is_none());
        let other = json!({"model": "auth.group", "pk": 1, "fields": {}});
        assert!(django(&other).unwrap().is_none());
    }

    #[test]
    fn auth0_names_an_algorithm_it_cannot_verify() {
        let user = json!({"email": "a@example.com",
            "custom_password_hash": {"algorithm": "md5", "hash": {"value": "x"}}});
        assert!(auth0(&user).unwrap_err().contains("\"md5\""));
    }
}
