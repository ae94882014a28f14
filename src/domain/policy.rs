//! Who may read, change or delete whom: the contract's authorization table in
//! one place. Handlers ask here and never compare roles themselves.
//!
//! The last-admin rule is not here: it depends on other rows, so the store
//! holds it inside the write's transaction (a read here would race).

use super::{Role, User, UserId};

/// How sign-up is open (`--signup`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignupMode {
    Open,
    Closed,
}

/// Why a caller may not do something. `Hidden` is answered as 404 so that a
/// regular user cannot probe which ids exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    SignInRequired,
    Forbidden(&'static str),
    Hidden,
}

/// A regular user sees only themself; an admin sees everyone.
pub fn may_see(caller: &User, target: UserId) -> Result<(), Denied> {
    if caller.id == target || caller.is_admin() {
        Ok(())
    } else {
        Err(Denied::Hidden)
    }
}

pub fn may_list(caller: &User) -> Result<(), Denied> {
    if caller.is_admin() {
        Ok(())
    } else {
        Err(Denied::Forbidden("Only admins may list users"))
    }
}

/// The admin console (`/admin`) is for admins: anyone else who signs in
/// there is refused after the password check, and a session whose user
/// stopped being an admin ends.
pub fn may_use_console(caller: &User) -> Result<(), Denied> {
    if caller.is_admin() {
        Ok(())
    } else {
        Err(Denied::Forbidden("Only admins may use the console"))
    }
}

/// `POST /users`: anyone while sign-up is open, admins only when closed;
/// only admins may choose a role (from anyone else `role` is an unknown field,
/// which the HTTP layer reports as 422 before asking here).
pub fn may_create(caller: Option<&User>, mode: SignupMode) -> Result<(), Denied> {
    match (mode, caller) {
        (SignupMode::Open, _) => Ok(()),
        (SignupMode::Closed, None) => Err(Denied::SignInRequired),
        (SignupMode::Closed, Some(user)) if user.is_admin() => Ok(()),
        (SignupMode::Closed, Some(_)) => Err(Denied::Forbidden("Sign-up is closed")),
    }
}

/// Which fields a PATCH touches; the values themselves are checked elsewhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct PatchFields {
    pub email: bool,
    pub name: bool,
    pub password: bool,
    pub is_active: bool,
    pub role: bool,
    pub email_verified: bool,
}

/// What a permitted PATCH must also do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatchDuty {
    /// The caller changes their own email or password: `current_password`
    /// must be sent and right (an admin changing someone else's need not).
    pub needs_current_password: bool,
    /// The password changes: the caller changing their own keeps the token
    /// they used; an admin setting someone's password ends all their tokens.
    pub revoke_tokens: Option<Revocation>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revocation {
    AllButCallers,
    All,
}

pub fn may_patch(caller: &User, target: &User, fields: PatchFields) -> Result<PatchDuty, Denied> {
    may_see(caller, target.id)?;
    if !caller.is_admin() {
        if fields.role {
            return Err(Denied::Forbidden("Only admins may change role"));
        }
        if fields.is_active {
            return Err(Denied::Forbidden("Only admins may change is_active"));
        }
        if fields.email_verified {
            return Err(Denied::Forbidden("Only admins may change email_verified"));
        }
    }
    let is_self = caller.id == target.id;
    Ok(PatchDuty {
        needs_current_password: is_self && (fields.email || fields.password),
        revoke_tokens: fields.password.then_some(if is_self {
            Revocation::AllButCallers
        } else {
            Revocation::All
        }),
    })
}

pub fn may_delete(caller: &User, target: UserId) -> Result<(), Denied> {
    may_see(caller, target)
}

/// Whether a role sent by this caller in `POST /users` is a known field.
pub fn may_choose_role(caller: Option<&User>) -> bool {
    caller.is_some_and(User::is_admin)
}

/// True when the change would take an active admin out of the active admins.
pub fn removes_an_admin(target: &User, role: Option<Role>, is_active: Option<bool>) -> bool {
    let admin_now = target.is_admin() && target.is_active;
    let admin_after =
        role.unwrap_or(target.role) == Role::Admin && is_active.unwrap_or(target.is_active);
    admin_now && !admin_after
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Email;

    fn user(id: i64, role: Role) -> User {
        User {
            id: UserId(id),
            email: Email::from_trusted(format!("u{id}@example.com")),
            name: "U".into(),
            role,
            is_active: true,
            email_verified: false,
            created_at: 0,
            updated_at: 0,
            version: 1,
        }
    }

    #[test]
    fn a_user_sees_only_themself_and_others_are_hidden() {
        let u = user(1, Role::User);
        assert_eq!(may_see(&u, UserId(1)), Ok(()));
        assert_eq!(may_see(&u, UserId(2)), Err(Denied::Hidden));
        assert_eq!(may_see(&user(3, Role::Admin), UserId(2)), Ok(()));
    }

    #[test]
    fn a_user_may_not_change_own_role_or_activity() {
        let u = user(1, Role::User);
        let role = PatchFields {
            role: true,
            ..Default::default()
        };
        let active = PatchFields {
            is_active: true,
            ..Default::default()
        };
        assert!(matches!(may_patch(&u, &u, role), Err(Denied::Forbidden(_))));
        assert!(matches!(
            may_patch(&u, &u, active),
            Err(Denied::Forbidden(_))
        ));
    }

    #[test]
    fn own_password_change_needs_current_password_and_keeps_callers_token() {
        let a = user(1, Role::Admin);
        let pw = PatchFields {
            password: true,
            ..Default::default()
        };
        let own = may_patch(&a, &a, pw).unwrap();
        assert!(own.needs_current_password);
        assert_eq!(own.revoke_tokens, Some(Revocation::AllButCallers));
        let other = may_patch(&a, &user(2, Role::User), pw).unwrap();
        assert!(!other.needs_current_password);
        assert_eq!(other.revoke_tokens, Some(Revocation::All));
    }

    #[test]
    fn demoting_or_deactivating_an_active_admin_removes_one() {
        let a = user(1, Role::Admin);
        assert!(removes_an_admin(&a, Some(Role::User), None));
        assert!(removes_an_admin(&a, None, Some(false)));
        assert!(!removes_an_admin(&a, Some(Role::Admin), Some(true)));
        assert!(!removes_an_admin(
            &user(2, Role::User),
            Some(Role::User),
            None
        ));
    }
}
