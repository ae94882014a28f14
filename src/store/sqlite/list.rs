//! `GET /users` on SQLite: a page and its exact total from one read
//! snapshot, through migration 8's search index, counter rows and filter
//! indexes (ARCHITECTURE.md, "Listing at a million users").

use rusqlite::params_from_iter;
use rusqlite::types::Value;

use super::{user_from_row, SqliteStore, USER_COLUMNS};
use crate::domain::User;
use crate::store::{Error, Page, TextMatch, UserFilter};

impl SqliteStore {
    pub fn list_users(&self, filter: &UserFilter, page: Page) -> Result<(Vec<User>, u64), Error> {
        let text = filter.text();
        if text == TextMatch::Nothing {
            return Ok((Vec::new(), 0));
        }
        let bounds = page.bounds();
        let mut args = Args::default();
        let (from, key, matches) = list_shape(filter, text, &mut args);
        let count_args = args.0.clone();
        // Without `q` the total is the counter rows' (migration 8), kept
        // exact by triggers in every write's transaction; with `q`, the
        // matches are counted through the index (a few thousand at most
        // for the queries the index is for).
        let count = if text == TextMatch::Any {
            let mut conditions = vec!["1".to_owned()];
            let mut counted = Args::default();
            if let Some(role) = filter.role {
                conditions.push(format!("role = {}", counted.bind(role.as_str().to_owned())));
            }
            if let Some(active) = filter.is_active {
                conditions.push(format!("is_active = {}", counted.bind(i64::from(active))));
            }
            (
                format!(
                    "SELECT coalesce(sum(n), 0) FROM user_counts WHERE {}",
                    conditions.join(" AND ")
                ),
                counted.0,
            )
        } else {
            (
                format!("SELECT count(*) FROM {from} WHERE {matches}"),
                count_args,
            )
        };
        let page_sql = format!(
            "SELECT {columns} FROM {from} WHERE {matches} AND {key} > {after} AND {key} < {before}
             ORDER BY {key} {direction} LIMIT {limit} OFFSET {skip}",
            columns = qualified_user_columns(),
            after = args.bind(bounds.after),
            before = args.bind(bounds.before),
            limit = args.bind(bounds.limit),
            skip = args.bind(bounds.skip),
            direction = bounds.direction(),
        );
        self.read(|c| {
            // Both statements in one read transaction: the count and the
            // page see the same snapshot.
            let tx = c.unchecked_transaction()?;
            let users = tx
                .prepare_cached(&page_sql)?
                .query_map(params_from_iter(&args.0), user_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let users = bounds.in_order(users);
            let total: i64 = tx
                .prepare_cached(&count.0)?
                .query_row(params_from_iter(&count.1), |r| r.get(0))?;
            // Dropping `tx` on an error rolls back: no connection goes back
            // to the pool inside a stale read snapshot.
            tx.commit()?;
            Ok((users, total as u64))
        })
    }
}

/// Statement parameters, numbered as they are bound.
#[derive(Default)]
struct Args(Vec<Value>);

impl Args {
    /// Adds a value; returns its placeholder.
    fn bind(&mut self, value: impl Into<Value>) -> String {
        self.0.push(value.into());
        format!("?{}", self.0.len())
    }
}

/// `user_columns!` of the `users` table, qualified: the search joins a
/// table with columns of the same names.
fn qualified_user_columns() -> String {
    USER_COLUMNS
        .split(", ")
        .map(|c| format!("users.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `FROM`, the key the page is ordered by, and the conditions of a
/// listing (its values bound in `args`). Each filter combination is its
/// own statement, so each gets its own plan: `INDEXED BY` names the index
/// that reads one role or state in id order (an SQLite index ends with the
/// rowid), and `q` of three characters or more starts from the trigram
/// index (`CROSS JOIN` keeps it the outer loop, read in rowid order, so a
/// page stops after `limit` matches) and is rechecked with `instr`, the
/// contract's literal substring, so the index can only narrow, never
/// widen, what matches.
fn list_shape(
    filter: &UserFilter,
    text: TextMatch<'_>,
    args: &mut Args,
) -> (String, &'static str, String) {
    let mut conditions = Vec::new();
    let (from, key) = match text {
        TextMatch::Indexed(q) => {
            // One FTS5 phrase, quoted: the query syntax sees no operator,
            // column filter or prefix in it; `"` is doubled.
            let phrase = format!("\"{}\"", q.replace('"', "\"\""));
            conditions.push(format!("users_search MATCH {}", args.bind(phrase)));
            (
                "users_search CROSS JOIN users ON users.id = users_search.rowid".to_owned(),
                "users_search.rowid",
            )
        }
        _ => {
            let index = match (filter.role.is_some(), filter.is_active.is_some()) {
                (true, true) => " INDEXED BY users_active_admins",
                (true, false) => " INDEXED BY users_by_role",
                (false, true) => " INDEXED BY users_by_state",
                (false, false) => "",
            };
            (format!("users{index}"), "users.id")
        }
    };
    if let TextMatch::Indexed(q) | TextMatch::Scan(q) = text {
        let q = args.bind(q.to_owned());
        conditions.push(format!(
            "(instr(users.email, {q}) > 0 OR instr(users.name_lower, {q}) > 0)"
        ));
    }
    if let Some(role) = filter.role {
        conditions.push(format!(
            "users.role = {}",
            args.bind(role.as_str().to_owned())
        ));
    }
    if let Some(active) = filter.is_active {
        conditions.push(format!(
            "users.is_active = {}",
            args.bind(i64::from(active))
        ));
    }
    if conditions.is_empty() {
        conditions.push("1".to_owned());
    }
    (from, key, conditions.join(" AND "))
}
