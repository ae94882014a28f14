//! `GET /users` query parameters: parsed once, every bad one reported, and
//! the `Link` to the next page built from the same filters.

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

use super::problem::ApiError;
use crate::accounts::UserFilter;
use crate::domain::fold::fold;
use crate::domain::Violations;

/// `GET /users` query parameters, every bad one reported.
pub struct ListQuery {
    pub skip: u64,
    pub limit: u32,
    pub after_id: Option<i64>,
    pub filter: UserFilter,
    /// `q` as sent, for the next link.
    q_raw: Option<String>,
}

impl ListQuery {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw)
            .map_err(|_| ApiError::Unprocessable("The query string is malformed".into()))?;
        let mut v = Violations::default();
        let mut list = Self {
            skip: 0,
            limit: 10,
            after_id: None,
            filter: UserFilter::default(),
            q_raw: None,
        };
        let mut skip_given = false;
        for (key, value) in &pairs {
            match key.as_str() {
                "skip" => {
                    skip_given = true;
                    list.skip = v
                        .check(
                            "skip",
                            value
                                .parse::<i64>()
                                .ok()
                                .and_then(|s| u64::try_from(s).ok())
                                .ok_or_else(|| "must be an integer from 0 to 2^63-1".into()),
                        )
                        .unwrap_or(0);
                }
                "limit" => {
                    list.limit = v
                        .check(
                            "limit",
                            value
                                .parse::<u32>()
                                .ok()
                                .filter(|l| (1..=100).contains(l))
                                .ok_or_else(|| "must be an integer from 1 to 100".into()),
                        )
                        .unwrap_or(10);
                }
                "after_id" => {
                    list.after_id = v.check(
                        "after_id",
                        value
                            .parse::<i64>()
                            .ok()
                            .filter(|id| *id >= 0)
                            .ok_or_else(|| "must be an integer ≥ 0".into()),
                    );
                }
                "q" => {
                    if value.chars().count() > 254 {
                        v.push("q", "must be at most 254 characters");
                    } else {
                        // Folded as names and emails are stored (`domain::fold`).
                        list.filter.q = Some(fold(value));
                        list.q_raw = Some(value.clone());
                    }
                }
                "is_active" => {
                    list.filter.is_active = v.check(
                        "is_active",
                        match value.as_str() {
                            "true" => Ok(true),
                            "false" => Ok(false),
                            _ => Err("must be true or false".into()),
                        },
                    );
                }
                "role" => list.filter.role = v.check("role", value.parse()),
                // Unknown parameters are ignored, as FastAPI does.
                _ => {}
            }
        }
        if skip_given && list.after_id.is_some() {
            v.push("skip", "cannot be combined with after_id");
        }
        v.into_result()?;
        Ok(list)
    }

    /// The next page's URL: keyset from the last id, same filters.
    pub fn next_link(&self, last_id: i64) -> String {
        let mut url = format!("/users?after_id={last_id}&limit={}", self.limit);
        if let Some(q) = &self.q_raw {
            url.push_str("&q=");
            url.extend(utf8_percent_encode(q, NON_ALPHANUMERIC).map(|s| s.to_owned()));
        }
        if let Some(active) = self.filter.is_active {
            url.push_str(&format!("&is_active={active}"));
        }
        if let Some(role) = self.filter.role {
            url.push_str(&format!("&role={}", role.as_str()));
        }
        format!("<{url}>; rel=\"next\"")
    }
}
