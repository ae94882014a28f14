//! The users pages: the table (search, filters, total, pages), a new user,
//! one user (edit under its version, set a password, end all sessions,
//! delete after a confirmation). Handlers parse the form, call the same
//! `accounts` use case as the API's handler for that action, then redirect
//! (303) on success or show the page again with the refusal next to the
//! field that caused it.

use axum::extract::{Path, Query, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;

use super::forms::{precondition, CreateForm, DeleteForm, EditForm, PasswordForm, Refusal};
use super::pages::{self, Notice};
use super::session::Console;
use super::views;
use crate::accounts::{Caller, Page};
use crate::domain::{
    FieldError, NewUser, NewUserFields, Role, User, UserId, UserPatch, UserPatchFields, Violations,
};
use crate::http::extract::ClientAddr;
use crate::http::list_query::ListQuery;
use crate::http::problem::ApiError;
use crate::http::state::AppState;

/// Rows per page: a screenful, and far below the 100 KB page budget.
pub const PAGE_SIZE: u32 = 50;

#[derive(Debug, Default, serde::Deserialize)]
pub struct Done {
    done: Option<String>,
}

/// What a redirect's `done` says happened, from a fixed list (never text
/// taken from the URL).
fn done(code: Option<&str>) -> Option<Notice> {
    let text = match code? {
        "created" => "User created.",
        "saved" => "Saved.",
        "unchanged" => "Nothing to save: no field was changed.",
        "password-set" => "Password set. Every session of this user has ended.",
        "own-password-set" => "Password set. Your other sessions have ended.",
        "sessions-ended" => "Every session of this user has ended.",
        "deleted" => "User deleted.",
        _ => return None,
    };
    Some(Notice::Done(text.into()))
}

/// The table's query: the API's `GET /users` parameters (parsed by the
/// same `ListQuery`), plus `before_id` for the previous page. Empty values
/// (a form's "any") are left out.
pub struct TableQuery {
    pub list: ListQuery,
    pub before_id: Option<i64>,
    /// The filters as given, for the links and the search form.
    pub q: String,
    pub role: String,
    pub is_active: String,
    pub done: Option<String>,
}

impl TableQuery {
    fn parse(raw: &str) -> Result<Self, ApiError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw).unwrap_or_default();
        let value = |name: &str| {
            pairs
                .iter()
                .rev()
                .find(|(k, v)| k == name && !v.is_empty())
                .map(|(_, v)| v.clone())
        };
        let mut api: Vec<(&str, String)> = vec![("limit", PAGE_SIZE.to_string())];
        for name in ["q", "role", "is_active", "after_id"] {
            if let Some(v) = value(name) {
                api.push((name, v));
            }
        }
        let before_id = match value("before_id") {
            None => None,
            Some(v) => Some(v.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
                ApiError::Invalid(vec![FieldError {
                    field: "before_id".into(),
                    message: "must be a positive integer".into(),
                }])
            })?),
        };
        let encoded = serde_urlencoded::to_string(&api).unwrap_or_default();
        let list = ListQuery::parse(&encoded)?;
        Ok(Self {
            list,
            before_id,
            q: value("q").unwrap_or_default(),
            role: value("role").unwrap_or_default(),
            is_active: value("is_active").unwrap_or_default(),
            done: value("done"),
        })
    }

    /// A link to the table with these filters and a page position.
    pub fn link(&self, position: (&str, i64)) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        for (name, value) in [
            ("q", &self.q),
            ("role", &self.role),
            ("is_active", &self.is_active),
        ] {
            if !value.is_empty() {
                pairs.push((name, value.clone()));
            }
        }
        pairs.push((position.0, position.1.to_string()));
        format!(
            "/admin/users?{}",
            serde_urlencoded::to_string(&pairs).unwrap_or_default()
        )
    }
}

/// One page of the table, as the list use case returned it.
pub struct Table {
    pub users: Vec<User>,
    pub total: u64,
    pub previous: Option<String>,
    pub next: Option<String>,
}

/// Reads the page `query` names through `Accounts::list` (what
/// `GET /users` calls): keyset pages both ways, so page 20,000 of
/// 1,000,000 users costs what the first does.
async fn table(state: &AppState, caller: &Caller, query: &TableQuery) -> Result<Table, Refusal> {
    let limit = PAGE_SIZE;
    let page = match (query.before_id, query.list.after_id) {
        (Some(id), _) => Page::Before {
            id,
            limit: limit + 1,
        },
        (None, after) => Page::After {
            id: after.unwrap_or(0),
            limit: limit + 1,
        },
    };
    let (mut users, total) = match state
        .accounts
        .list(&caller.user, &query.list.filter, page)
        .await
    {
        Ok(found) => found,
        Err(err) => return Err(Refusal::of(err).await),
    };
    let more = users.len() > limit as usize;
    let (has_previous, has_next) = if query.before_id.is_some() {
        if more {
            users.remove(0);
        }
        (more, true)
    } else {
        users.truncate(limit as usize);
        (query.list.after_id.is_some_and(|a| a > 0), more)
    };
    let first = users.first().map(|u| u.id.0);
    let last = users.last().map(|u| u.id.0);
    Ok(Table {
        previous: has_previous.then(|| query.link(("before_id", first.unwrap_or(i64::MAX)))),
        next: has_next
            .then(|| last.map(|id| query.link(("after_id", id))))
            .flatten(),
        users,
        total,
    })
}

/// `GET /admin/users`.
pub async fn list(
    State(state): State<AppState>,
    Console(caller): Console,
    RawQuery(raw): RawQuery,
) -> Response {
    let query = match TableQuery::parse(raw.as_deref().unwrap_or("")) {
        Ok(query) => query,
        Err(err) => return Refusal::of(err).await.page("Users", Some(&caller.user)),
    };
    let notice = done(query.done.as_deref());
    list_page(
        &state,
        &caller,
        &query,
        notice,
        &CreateForm::default(),
        &[],
        StatusCode::OK,
    )
    .await
}

async fn list_page(
    state: &AppState,
    caller: &Caller,
    query: &TableQuery,
    notice: Option<Notice>,
    create: &CreateForm,
    create_errors: &[FieldError],
    status: StatusCode,
) -> Response {
    match table(state, caller, query).await {
        Ok(table) => pages::html(
            status,
            views::users_page(
                &caller.user,
                query,
                &table,
                notice.as_ref(),
                create,
                create_errors,
            ),
        ),
        Err(refusal) => refusal.page("Users", Some(&caller.user)),
    }
}

/// `POST /admin/users`: `POST /users` as an admin (the role may be chosen).
pub async fn create(
    State(state): State<AppState>,
    Console(caller): Console,
    ClientAddr(client): ClientAddr,
    Form(form): Form<CreateForm>,
) -> Response {
    let mut violations = Violations::default();
    let role = violations.check("role", form.role.parse::<Role>());
    let fields = NewUserFields {
        email: Some(&form.email),
        name: Some(&form.name),
        password: Some(&form.password),
        role,
        // Not offered by the console's form (the contract's list of what it
        // edits); a new account starts unverified, as through the API.
        email_verified: None,
    };
    let new = NewUser::parse(fields, &state.accounts.password_policy, &mut violations);
    let result = match (new, violations.into_result()) {
        (Some(new), Ok(())) => state
            .accounts
            .sign_up(Some(&caller.user), new, client, None)
            .await
            .map_err(ApiError::from),
        (_, Err(invalid)) => Err(invalid.into()),
        (None, Ok(())) => Err(ApiError::Internal),
    };
    match result {
        Ok(signed_up) => {
            let id = match signed_up {
                crate::accounts::SignUp::Created(user) => user.id.0,
                crate::accounts::SignUp::Replayed(reply) => reply.user_id.0,
            };
            Redirect::to(&format!("/admin/users/{id}?done=created")).into_response()
        }
        Err(err) => {
            let refusal = Refusal::of(err).await;
            let query = match TableQuery::parse("") {
                Ok(query) => query,
                Err(err) => return Refusal::of(err).await.page("Users", Some(&caller.user)),
            };
            let notice = Notice::Refused(format!("User not created. {}", refusal.message));
            let form = CreateForm {
                password: String::new(),
                ..form
            };
            list_page(
                &state,
                &caller,
                &query,
                Some(notice),
                &form,
                &refusal.fields,
                refusal.status,
            )
            .await
        }
    }
}

/// The `{id}` of a console path, if it is one.
fn user_id(raw: &str) -> Option<UserId> {
    raw.parse::<UserId>().ok()
}

/// The page for a path whose `{id}` is no user id.
fn no_such_user(caller: &User) -> Response {
    Refusal {
        status: StatusCode::NOT_FOUND,
        message: "There is no such user.".into(),
        fields: Vec::new(),
    }
    .page("User", Some(caller))
}

/// `GET /admin/users/{id}`.
pub async fn show(
    State(state): State<AppState>,
    Console(caller): Console,
    Path(raw): Path<String>,
    Query(query): Query<Done>,
) -> Response {
    let Some(id) = user_id(&raw) else {
        return no_such_user(&caller.user);
    };
    match state.accounts.get(&caller.user, id).await {
        Ok(user) => {
            let view = views::UserView::of(&caller.user, &user, done(query.done.as_deref()));
            pages::html(StatusCode::OK, view.render())
        }
        Err(err) => Refusal::of(err).await.page("User", Some(&caller.user)),
    }
}

/// The edit as a PATCH: only the fields whose value differs from the
/// stored one (a form sends them all; an unchanged email must not ask an
/// admin editing themself for their password), parsed by the domain.
fn patch_of(
    form: &EditForm,
    stored: &User,
    policy: &crate::domain::PasswordPolicy,
) -> Result<UserPatch, Violations> {
    let mut violations = Violations::default();
    let role = violations.check("role", form.role.parse::<Role>());
    let is_active = violations.check(
        "is_active",
        match form.is_active.as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err("must be true or false".to_owned()),
        },
    );
    let current_password = Some(form.current_password.as_str()).filter(|p| !p.is_empty());
    let fields = UserPatchFields {
        email: Some(&form.email),
        name: Some(&form.name),
        password: None,
        current_password,
        is_active,
        role,
        email_verified: None,
    };
    let mut patch = UserPatch::parse(fields, policy, &mut violations);
    if !violations.is_empty() {
        return Err(violations);
    }
    if patch.email.as_ref() == Some(&stored.email) {
        patch.email = None;
    }
    if patch.name.as_ref().map(|n| n.as_str()) == Some(stored.name.as_str()) {
        patch.name = None;
    }
    if patch.role == Some(stored.role) {
        patch.role = None;
    }
    if patch.is_active == Some(stored.is_active) {
        patch.is_active = None;
    }
    Ok(patch)
}

/// `POST /admin/users/{id}`: `PATCH /users/{id}` with `If-Match` of the
/// version the form was opened at. A stale edit shows the current values.
pub async fn edit(
    State(state): State<AppState>,
    Console(caller): Console,
    Path(raw): Path<String>,
    ClientAddr(client): ClientAddr,
    Form(form): Form<EditForm>,
) -> Response {
    let Some(id) = user_id(&raw) else {
        return no_such_user(&caller.user);
    };
    let stored = match state.accounts.get(&caller.user, id).await {
        Ok(user) => user,
        Err(err) => return Refusal::of(err).await.page("User", Some(&caller.user)),
    };
    let patch = match patch_of(&form, &stored, &state.accounts.password_policy) {
        Ok(patch) => patch,
        Err(invalid) => {
            let refusal = Refusal::of(crate::domain::Error::Invalid(invalid)).await;
            return views::UserView::refused_edit(&caller.user, &stored, form, refusal).respond();
        }
    };
    let unchanged = patch.is_empty();
    match state
        .accounts
        .update(
            &caller,
            id,
            patch,
            Some(precondition(&form.version)),
            client,
        )
        .await
    {
        Ok(_) if unchanged => redirect_done(id, "unchanged"),
        Ok(_) => redirect_done(id, "saved"),
        Err(crate::accounts::Error::StaleVersion) => stale(&state, &caller, id, Some(form)).await,
        Err(err) => {
            let refusal = Refusal::of(err).await;
            views::UserView::refused_edit(&caller.user, &stored, form, refusal).respond()
        }
    }
}

fn redirect_done(id: UserId, code: &str) -> Response {
    Redirect::to(&format!("/admin/users/{id}?done={code}")).into_response()
}

/// 412: the user as it is now, the contract's message, and the edit that
/// was not saved (so it can be made again on the current version).
async fn stale(
    state: &AppState,
    caller: &Caller,
    id: UserId,
    attempt: Option<EditForm>,
) -> Response {
    match state.accounts.get(&caller.user, id).await {
        Ok(current) => views::UserView::stale(&caller.user, &current, attempt).respond(),
        Err(err) => Refusal::of(err).await.page("User", Some(&caller.user)),
    }
}

/// `POST /admin/users/{id}/password`: `PATCH` with `password` (and
/// `current_password` when it is the admin's own): the same rules, and the
/// same sessions ended.
pub async fn set_password(
    State(state): State<AppState>,
    Console(caller): Console,
    Path(raw): Path<String>,
    ClientAddr(client): ClientAddr,
    Form(form): Form<PasswordForm>,
) -> Response {
    let Some(id) = user_id(&raw) else {
        return no_such_user(&caller.user);
    };
    let mut violations = Violations::default();
    let fields = UserPatchFields {
        password: Some(&form.password),
        current_password: Some(form.current_password.as_str()).filter(|p| !p.is_empty()),
        ..Default::default()
    };
    let patch = UserPatch::parse(fields, &state.accounts.password_policy, &mut violations);
    let result = match violations.into_result() {
        Ok(()) => state
            .accounts
            .update(&caller, id, patch, None, client)
            .await
            .map_err(ApiError::from),
        Err(invalid) => Err(invalid.into()),
    };
    match result {
        Ok(_) if id == caller.user.id => redirect_done(id, "own-password-set"),
        Ok(_) => redirect_done(id, "password-set"),
        Err(err) => {
            let refusal = Refusal::of(err).await;
            match state.accounts.get(&caller.user, id).await {
                Ok(user) => {
                    views::UserView::refused_password(&caller.user, &user, refusal).respond()
                }
                Err(err) => Refusal::of(err).await.page("User", Some(&caller.user)),
            }
        }
    }
}

/// `POST /admin/users/{id}/sessions`: `DELETE /users/{id}/tokens`. Ending
/// one's own ends this session too: the next page asks to sign in.
pub async fn end_sessions(
    State(state): State<AppState>,
    Console(caller): Console,
    Path(raw): Path<String>,
) -> Response {
    let Some(id) = user_id(&raw) else {
        return no_such_user(&caller.user);
    };
    match state.accounts.sign_out_everywhere(&caller.user, id).await {
        Ok(()) => redirect_done(id, "sessions-ended"),
        Err(err) => user_refused(&state, &caller, id, Refusal::of(err).await).await,
    }
}

/// The user page again, with a refusal that belongs to no field.
async fn user_refused(state: &AppState, caller: &Caller, id: UserId, refusal: Refusal) -> Response {
    match state.accounts.get(&caller.user, id).await {
        Ok(user) => {
            let mut view = views::UserView::of(&caller.user, &user, None);
            view.status = refusal.status;
            view.notice = Some(Notice::Refused(refusal.message));
            view.respond()
        }
        Err(_) => refusal.page("User", Some(&caller.user)),
    }
}

/// `GET /admin/users/{id}/delete`: the confirmation step.
pub async fn confirm_delete(
    State(state): State<AppState>,
    Console(caller): Console,
    Path(raw): Path<String>,
) -> Response {
    let Some(id) = user_id(&raw) else {
        return no_such_user(&caller.user);
    };
    match state.accounts.get(&caller.user, id).await {
        Ok(user) => pages::html(StatusCode::OK, views::confirm_delete(&caller.user, &user)),
        Err(err) => Refusal::of(err).await.page("User", Some(&caller.user)),
    }
}

/// `POST /admin/users/{id}/delete`: `DELETE /users/{id}` with `If-Match`
/// of the version the admin confirmed.
pub async fn delete(
    State(state): State<AppState>,
    Console(caller): Console,
    Path(raw): Path<String>,
    Form(form): Form<DeleteForm>,
) -> Response {
    let Some(id) = user_id(&raw) else {
        return no_such_user(&caller.user);
    };
    match state
        .accounts
        .delete(&caller.user, id, Some(precondition(&form.version)))
        .await
    {
        Ok(()) => Redirect::to("/admin/users?done=deleted").into_response(),
        Err(crate::accounts::Error::StaleVersion) => stale(&state, &caller, id, None).await,
        Err(err) => user_refused(&state, &caller, id, Refusal::of(err).await).await,
    }
}
