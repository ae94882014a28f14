//! The users pages' markup: the table with its search and new-user form,
//! one user with its four forms, the delete confirmation. Values are
//! escaped by maud; no password is ever written into a page (password
//! inputs are always rendered empty).

use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};

use super::forms::{CreateForm, EditForm, Refusal};
use super::pages::{self, field_error, has_error, timestamp, Notice};
use super::users::{Table, TableQuery};
use crate::domain::{FieldError, User};

/// The contract's words for a stale edit.
pub const STALE: &str = "This user was changed by someone else since you opened it. \
    The form now shows the current values; your edit was not saved.";

fn role_options(selected: &str, any: bool) -> Markup {
    html! {
        @if any { option value="" selected[selected.is_empty()] { "any" } }
        option value="user" selected[selected == "user"] { "user" }
        option value="admin" selected[selected == "admin"] { "admin" }
    }
}

fn active_options(selected: &str, any: bool) -> Markup {
    html! {
        @if any { option value="" selected[selected.is_empty()] { "any" } }
        option value="true" selected[selected == "true"] { "active" }
        option value="false" selected[selected == "false"] { "inactive" }
    }
}

/// A labelled input with its error under it.
fn input(
    name: &str,
    label: &str,
    kind: &str,
    value: &str,
    autocomplete: &str,
    errors: &[FieldError],
) -> Markup {
    let invalid = has_error(errors, name);
    let id = format!("{name}-input");
    html! {
        label for=(id) { (label) }
        input id=(id) type=(kind) name=(name) value=(value) autocomplete=(autocomplete)
            aria-invalid=[invalid.then_some("true")]
            aria-describedby=[invalid.then(|| format!("{name}-error"))];
        (field_error(errors, name))
    }
}

/// `/admin/users`.
pub fn users_page(
    admin: &User,
    query: &TableQuery,
    table: &Table,
    notice: Option<&Notice>,
    create: &CreateForm,
    create_errors: &[FieldError],
) -> Markup {
    let body = html! {
        h1 { "Users" }
        form.search method="get" action="/admin/users" role="search" {
            div {
                label for="q" { "Search email or name" }
                input #q type="search" name="q" value=(query.q);
            }
            div {
                label for="role" { "Role" }
                select #role name="role" { (role_options(&query.role, true)) }
            }
            div {
                label for="is_active" { "Status" }
                select #is_active name="is_active" { (active_options(&query.is_active, true)) }
            }
            button type="submit" { "Search" }
        }
        p.total #total {
            (table.total) @if table.total == 1 { " user matches" } @else { " users match" }
        }
        @if table.users.is_empty() {
            p { "No users on this page." }
        } @else {
            div.scroll {
                table #users {
                    thead { tr { th scope="col" { "ID" } th scope="col" { "Email" } th scope="col" { "Name" }
                                 th scope="col" { "Role" } th scope="col" { "Status" } th scope="col" { "Created" } } }
                    tbody {
                        @for user in &table.users {
                            tr {
                                td { (user.id) }
                                td { a href={ "/admin/users/" (user.id) } { (user.email.as_str()) } }
                                td { (user.name) }
                                td { (user.role.as_str()) }
                                td { @if user.is_active { "active" } @else { "inactive" } }
                                td { (timestamp(user.created_at)) }
                            }
                        }
                    }
                }
            }
        }
        nav.pager aria-label="Pages" {
            @if let Some(previous) = &table.previous { a rel="prev" href=(previous) { "← Previous" } }
            @if let Some(next) = &table.next { a rel="next" href=(next) { "Next →" } }
        }
        section.card #new-user {
            h2 { "New user" }
            form method="post" action="/admin/users" {
                (input("email", "Email", "email", &create.email, "off", create_errors))
                (input("name", "Name", "text", &create.name, "off", create_errors))
                (input("password", "Password", "password", "", "new-password", create_errors))
                label for="new-role" { "Role" }
                select #new-role name="role" { (role_options(if create.role.is_empty() { "user" } else { &create.role }, false)) }
                (field_error(create_errors, "role"))
                button type="submit" { "Create user" }
            }
        }
    };
    pages::layout("Users", Some(admin), notice, body)
}

/// One user's page, as shown after any action on it.
pub struct UserView<'a> {
    pub admin: &'a User,
    pub user: &'a User,
    /// The edit form's values: the stored ones, or the admin's refused edit.
    pub form: EditForm,
    pub edit_errors: Vec<FieldError>,
    pub password_errors: Vec<FieldError>,
    pub notice: Option<Notice>,
    pub status: StatusCode,
    /// After a stale edit: what the admin tried to save.
    pub unsaved: Option<EditForm>,
}

impl<'a> UserView<'a> {
    pub fn of(admin: &'a User, user: &'a User, notice: Option<Notice>) -> Self {
        Self {
            admin,
            user,
            form: EditForm {
                version: user.version.to_string(),
                name: user.name.clone(),
                email: user.email.as_str().to_owned(),
                role: user.role.as_str().to_owned(),
                is_active: user.is_active.to_string(),
                current_password: String::new(),
            },
            edit_errors: Vec::new(),
            password_errors: Vec::new(),
            notice,
            status: StatusCode::OK,
            unsaved: None,
        }
    }

    /// The edit refused: the admin's values kept, each error by its field.
    pub fn refused_edit(
        admin: &'a User,
        stored: &'a User,
        form: EditForm,
        refusal: Refusal,
    ) -> Self {
        let mut view = Self::of(admin, stored, Some(Notice::Refused(refusal.message)));
        view.form = EditForm {
            current_password: String::new(),
            ..form
        };
        view.edit_errors = refusal.fields;
        view.status = refusal.status;
        view
    }

    /// 412: the current values in the form, the admin's edit beside them.
    pub fn stale(admin: &'a User, current: &'a User, attempt: Option<EditForm>) -> Self {
        let mut view = Self::of(admin, current, Some(Notice::Refused(STALE.into())));
        view.unsaved = attempt;
        view.status = StatusCode::PRECONDITION_FAILED;
        view
    }

    pub fn refused_password(admin: &'a User, user: &'a User, refusal: Refusal) -> Self {
        let mut view = Self::of(admin, user, Some(Notice::Refused(refusal.message)));
        view.password_errors = refusal.fields;
        view.status = refusal.status;
        view
    }

    pub fn respond(self) -> Response {
        pages::html(self.status, self.render())
    }

    pub fn render(&self) -> Markup {
        let user = self.user;
        let is_self = self.admin.id == user.id;
        let form = &self.form;
        let errors = &self.edit_errors;
        let body = html! {
            h1 { (user.name) }
            p.meta {
                "ID " (user.id) " · " (user.email.as_str()) " · version " span #version { (user.version) }
                " · created " (timestamp(user.created_at)) " · updated " (timestamp(user.updated_at))
            }
            @if let Some(unsaved) = &self.unsaved {
                section.card.unsaved #unsaved {
                    h2 { "Your edit (not saved)" }
                    dl {
                        dt { "Name" } dd { (unsaved.name) }
                        dt { "Email" } dd { (unsaved.email) }
                        dt { "Role" } dd { (unsaved.role) }
                        dt { "Active" } dd { (unsaved.is_active) }
                    }
                }
            }
            section.card #account {
                h2 { "Account" }
                form method="post" action={ "/admin/users/" (user.id) } {
                    input type="hidden" name="version" value=(form.version);
                    (input("name", "Name", "text", &form.name, "off", errors))
                    (input("email", "Email", "email", &form.email, "off", errors))
                    label for="role-input" { "Role" }
                    select #role-input name="role" { (role_options(&form.role, false)) }
                    (field_error(errors, "role"))
                    label for="is_active-input" { "Status" }
                    select #is_active-input name="is_active" { (active_options(&form.is_active, false)) }
                    (field_error(errors, "is_active"))
                    @if is_self {
                        (input("current_password", "Your current password (only to change your own email)", "password", "", "current-password", errors))
                    }
                    button type="submit" { "Save" }
                }
            }
            section.card #password {
                h2 { "Password" }
                form method="post" action={ "/admin/users/" (user.id) "/password" } {
                    (input("password", "New password", "password", "", "new-password", &self.password_errors))
                    @if is_self {
                        (input("current_password", "Your current password", "password", "", "current-password", &self.password_errors))
                    }
                    button type="submit" { "Set password" }
                }
            }
            section.card #sessions {
                h2 { "Sessions" }
                p { "Ends every session of this user at once: their access tokens stop working." }
                form method="post" action={ "/admin/users/" (user.id) "/sessions" } {
                    button type="submit" { "End all sessions" }
                }
            }
            section.card #delete {
                h2 { "Delete" }
                p { a.danger href={ "/admin/users/" (user.id) "/delete" } { "Delete this user…" } }
            }
        };
        pages::layout(&user.name, Some(self.admin), self.notice.as_ref(), body)
    }
}

/// `GET /admin/users/{id}/delete`.
pub fn confirm_delete(admin: &User, user: &User) -> Markup {
    let body = html! {
        h1 { "Delete " (user.name) "?" }
        p { "The account " strong { (user.email.as_str()) } " (ID " (user.id) ") and every one of its sessions will be gone. This cannot be undone." }
        form method="post" action={ "/admin/users/" (user.id) "/delete" } {
            input type="hidden" name="version" value=(user.version);
            button.danger type="submit" { "Delete user" }
            " "
            a href={ "/admin/users/" (user.id) } { "Cancel" }
        }
    };
    pages::layout("Delete user", Some(admin), None, body)
}
