//! `GET /users` on PostgreSQL: a page and its exact total in one
//! statement (one snapshot), through migration 8's trigram indexes, counter
//! rows and filter indexes (ARCHITECTURE.md, "Listing at a million users").

use tokio_postgres::types::ToSql;

use super::{classify, engine::timed, user_at, PostgresStore, USER_COLUMNS};
use crate::domain::{Role, User};
use crate::store::{Error, Page, TextMatch, UserFilter};

impl PostgresStore {
    pub async fn list_users(
        &self,
        filter: &UserFilter,
        page: Page,
    ) -> Result<(Vec<User>, u64), Error> {
        let text = filter.text();
        if text == TextMatch::Nothing {
            return Ok((Vec::new(), 0));
        }
        let bounds = page.bounds();
        let sql = list_statement(filter, text, bounds.direction());
        let text_param = match text {
            TextMatch::Indexed(q) => Some(like_pattern(q)),
            TextMatch::Scan(q) => Some(q.to_owned()),
            TextMatch::Any | TextMatch::Nothing => None,
        };
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![
            &bounds.after as &(dyn ToSql + Sync),
            &bounds.before,
            &bounds.limit,
            &bounds.skip,
        ];
        if let Some(q) = &text_param {
            params.push(q);
        }
        timed(async {
            let client = self.client().await?;
            let stmt = client.prepare_cached(&sql).await.map_err(classify)?;
            let rows = client.query(&stmt, &params).await.map_err(classify)?;
            let total: i64 = match rows.first() {
                Some(row) => row.try_get(0).map_err(classify)?,
                None => 0,
            };
            let mut users = Vec::with_capacity(rows.len());
            for row in &rows {
                if row
                    .try_get::<_, Option<i64>>(1)
                    .map_err(classify)?
                    .is_some()
                {
                    users.push(user_at(row, 1)?);
                }
            }
            Ok((bounds.in_order(users), total as u64))
        })
        .await
    }
}

/// `q` as a `LIKE` pattern that means "contains `q`": `\\` (`LIKE`'s
/// escape character), `%` and `_` escaped, so each stands for itself.
fn like_pattern(q: &str) -> String {
    let mut pattern = String::with_capacity(q.len() + 2);
    pattern.push('%');
    for c in q.chars() {
        if matches!(c, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The listing's one statement: the total and the page from one snapshot
/// (the page joined to the total, so an empty page still brings it).
/// Parameters: `$1` after, `$2` before, `$3` limit, `$4` skip, `$5` the
/// text to match. Each filter combination is its own statement with the
/// role and state written in as literals (both come from closed sets, never
/// from the client's text), so each is planned for its values and gets the
/// index that reads them in id order (migration 8).
///
/// - No `q`: the total is the counter rows' (`user_counts`, kept exact by
///   triggers in every write's transaction), the page an index range.
/// - `q` of three characters or more: the matching ids are found once,
///   through the trigram indexes (`LIKE`, rechecked by PostgreSQL on every
///   candidate row, so exactly the substring rule), materialized, then
///   counted and paged, and only the page's rows read whole; the work is
///   bounded by the number of matches, not by the table (a planner left
///   free would walk the primary key for a `LIMIT`, a scan for a rare `q`).
/// - `q` of one or two characters (no trigram to look up): `strpos` over
///   the rows of the filters, as before migration 8. Slow on a big store.
fn list_statement(filter: &UserFilter, text: TextMatch<'_>, direction: &str) -> String {
    let mut conditions = Vec::new();
    match text {
        TextMatch::Indexed(_) => conditions.push("(email LIKE $5 OR name_lower LIKE $5)"),
        TextMatch::Scan(_) => {
            conditions.push("(strpos(email, $5) > 0 OR strpos(name_lower, $5) > 0)")
        }
        TextMatch::Any | TextMatch::Nothing => {}
    }
    match filter.role {
        Some(Role::Admin) => conditions.push("role = 'admin'"),
        Some(Role::User) => conditions.push("role = 'user'"),
        None => {}
    }
    match filter.is_active {
        Some(true) => conditions.push("is_active = true"),
        Some(false) => conditions.push("is_active = false"),
        None => {}
    }
    let conditions = if conditions.is_empty() {
        "true".to_owned()
    } else {
        conditions.join(" AND ")
    };
    if let TextMatch::Indexed(_) = text {
        return format!(
            "WITH m AS MATERIALIZED (SELECT id FROM users WHERE {conditions})
             SELECT total.n, page.* FROM (SELECT count(*) AS n FROM m) total
             LEFT JOIN LATERAL (
                 SELECT {USER_COLUMNS} FROM users WHERE id IN (
                     SELECT id FROM m WHERE id > $1 AND id < $2
                     ORDER BY id {direction} LIMIT $3 OFFSET $4)
                 ORDER BY id {direction}) page ON true"
        );
    }
    let total = if text == TextMatch::Any {
        // Role and state are columns of the counter rows too.
        format!("SELECT coalesce(sum(n), 0)::bigint AS n FROM user_counts WHERE {conditions}")
    } else {
        format!("SELECT count(*) AS n FROM users WHERE {conditions}")
    };
    format!(
        "SELECT total.n, page.* FROM ({total}) total
         LEFT JOIN LATERAL (
             SELECT {USER_COLUMNS} FROM users WHERE {conditions} AND id > $1 AND id < $2
             ORDER BY id {direction} LIMIT $3 OFFSET $4) page ON true"
    )
}
