//! Changing and deleting an account: authorize the fields, check
//! `If-Match` and `current_password`, hash a new password, then one store
//! transaction that re-checks the version and the last-admin rule.

use std::net::IpAddr;

use super::{check_precondition, Accounts, Caller, Error, Precondition};
use crate::domain::policy;
use crate::domain::{Role, User, UserId, UserPatch};
use crate::store::{PasswordHash, TokenRevocation, UserChanges};

impl Accounts {
    /// `PATCH /users/{id}`: authorize the fields, check `If-Match` and
    /// `current_password`, hash a new password, then write it all in one
    /// transaction that re-checks the version and the last-admin rule.
    pub async fn update(
        &self,
        caller: &Caller,
        id: UserId,
        patch: UserPatch,
        precondition: Option<Precondition>,
        client: IpAddr,
    ) -> Result<User, Error> {
        let target = self.get(&caller.user, id).await?;
        let duty = policy::may_patch(&caller.user, &target, patch.fields())?;
        // After authorization, so a refusal says nothing of an account the
        // caller may not change.
        patch.check_password_against(&target)?;
        let expected_version = check_precondition(&target, precondition)?;
        if patch.is_empty() {
            // Nothing to change: no new version, no new ETag.
            return Ok(target);
        }
        if duty.needs_current_password {
            self.verify_current_password(&caller.user, patch.current_password.clone(), client)
                .await?;
        }
        let password_hash = match patch.password {
            Some(password) => Some(PasswordHash(self.hasher.hash(password).await?)),
            None => None,
        };
        let sets_password = password_hash.is_some();
        let mail = match (&self.mail, &patch.email) {
            (Some(_), Some(new)) if *new != target.email => {
                self.email_change_mail(&target, new, patch.email_verified)?
            }
            _ => Vec::new(),
        };
        let changes = UserChanges {
            email: patch.email,
            name: patch.name,
            password_hash,
            is_active: patch.is_active,
            role: patch.role,
            email_verified: patch.email_verified,
            password_reset: false,
            mail,
        };
        let revocation = duty.revoke_tokens.map(|scope| TokenRevocation {
            scope,
            keep: Some(caller.token),
        });
        let _wake = self.wake_after_write();
        let updated = self
            .store
            .update_user(id, changes, expected_version, revocation)
            .await?;
        if caller.user.is_admin()
            && (caller.user.id != id || patch.role.is_some() || patch.is_active.is_some())
        {
            tracing::info!(
                target: "user_api::audit",
                actor = caller.user.id.0,
                subject = id.0,
                role = ?patch.role.map(Role::as_str),
                is_active = ?patch.is_active,
                email_verified = ?patch.email_verified,
                password_set = sets_password,
                "admin changed user"
            );
        }
        Ok(updated)
    }

    /// `DELETE /users/{id}/tokens`: the user, or an admin, ends every
    /// token of the user, the caller's own included when it is theirs.
    pub async fn sign_out_everywhere(&self, caller: &User, id: UserId) -> Result<(), Error> {
        self.get(caller, id).await?;
        let _wake = self.wake_after_write();
        self.store.end_all_tokens(id).await?;
        if caller.is_admin() && caller.id != id {
            tracing::info!(target: "user_api::audit", actor = caller.id.0, subject = id.0, "admin ended all sessions of user");
        }
        Ok(())
    }

    pub async fn delete(
        &self,
        caller: &User,
        id: UserId,
        precondition: Option<Precondition>,
    ) -> Result<(), Error> {
        let target = self.get(caller, id).await?;
        policy::may_delete(caller, id)?;
        let expected_version = check_precondition(&target, precondition)?;
        let _wake = self.wake_after_write();
        self.store
            .delete_user_unless_last_admin(id, expected_version)
            .await?;
        if caller.is_admin() && caller.id != id {
            tracing::info!(target: "user_api::audit", actor = caller.id.0, subject = id.0, "admin deleted user");
        }
        Ok(())
    }
}
