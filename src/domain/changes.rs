//! Requests to create or change a user, parsed from raw field values. Every
//! bad field is recorded in the caller's `Violations`, not only the first.

use super::{
    Email, Error, Password, PasswordContext, PasswordPolicy, Role, User, UserName, Violations,
};

/// A valid sign-up (or an admin's `POST /users`, or `admin create`).
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: Email,
    pub name: UserName,
    pub password: Password,
    pub role: Role,
    /// Set by an admin; else a new account starts unverified.
    pub email_verified: bool,
}

/// Raw values of a new user; `None` where the field was absent or not a
/// string (the HTTP layer has already recorded why).
#[derive(Debug, Default)]
pub struct NewUserFields<'a> {
    pub email: Option<&'a str>,
    pub name: Option<&'a str>,
    pub password: Option<&'a str>,
    pub role: Option<Role>,
    pub email_verified: Option<bool>,
}

impl NewUser {
    pub fn parse(
        fields: NewUserFields<'_>,
        policy: &PasswordPolicy,
        violations: &mut Violations,
    ) -> Option<Self> {
        let email = fields
            .email
            .and_then(|v| violations.check("email", Email::parse(v)));
        let name = fields
            .name
            .and_then(|v| violations.check("name", UserName::parse(v)));
        let password = fields
            .password
            .and_then(|v| violations.check("password", Password::parse(v, policy)))
            .and_then(|password| {
                // Checked against the body's own email and name, where valid.
                let context = PasswordContext {
                    email: email.as_ref().map_or("", Email::as_str),
                    name: name.as_ref().map_or("", UserName::as_str),
                };
                let personal = password.check_not_personal(&context);
                violations.check("password", personal.map(|()| password))
            });
        Some(Self {
            email: email?,
            name: name?,
            password: password?,
            role: fields.role.unwrap_or(Role::User),
            email_verified: fields.email_verified.unwrap_or(false),
        })
    }
}

/// A valid PATCH; who may apply it is `policy::may_patch`'s question.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub email: Option<Email>,
    pub name: Option<UserName>,
    pub password: Option<Password>,
    pub current_password: Option<Password>,
    pub is_active: Option<bool>,
    pub role: Option<Role>,
    pub email_verified: Option<bool>,
}

#[derive(Debug, Default)]
pub struct UserPatchFields<'a> {
    pub email: Option<&'a str>,
    pub name: Option<&'a str>,
    pub password: Option<&'a str>,
    pub current_password: Option<&'a str>,
    pub is_active: Option<bool>,
    pub role: Option<Role>,
    pub email_verified: Option<bool>,
}

impl UserPatch {
    pub fn parse(
        fields: UserPatchFields<'_>,
        policy: &PasswordPolicy,
        violations: &mut Violations,
    ) -> Self {
        Self {
            email: fields
                .email
                .and_then(|v| violations.check("email", Email::parse(v))),
            name: fields
                .name
                .and_then(|v| violations.check("name", UserName::parse(v))),
            password: fields
                .password
                .and_then(|v| violations.check("password", Password::parse(v, policy))),
            current_password: fields
                .current_password
                .and_then(|v| violations.check("current_password", Password::for_verification(v))),
            is_active: fields.is_active,
            role: fields.role,
            email_verified: fields.email_verified,
        }
    }

    /// The password rule that needs the account: a new password must not
    /// contain the email local part or name the account will have once
    /// this PATCH is applied (the patch's own where it changes them).
    pub fn check_password_against(&self, current: &User) -> Result<(), Error> {
        let Some(password) = &self.password else {
            return Ok(());
        };
        let context = PasswordContext {
            email: self.email.as_ref().unwrap_or(&current.email).as_str(),
            name: self.name.as_ref().map_or(&current.name, |n| n.as_str()),
        };
        let mut violations = Violations::default();
        violations.check("password", password.check_not_personal(&context));
        violations.into_result()
    }

    /// True when the PATCH changes nothing (`current_password` alone is no change).
    pub fn is_empty(&self) -> bool {
        let f = self.fields();
        !(f.email || f.name || f.password || f.is_active || f.role || f.email_verified)
    }

    pub fn fields(&self) -> super::policy::PatchFields {
        super::policy::PatchFields {
            email: self.email.is_some(),
            name: self.name.is_some(),
            password: self.password.is_some(),
            is_active: self.is_active.is_some(),
            role: self.role.is_some(),
            email_verified: self.email_verified.is_some(),
        }
    }
}
