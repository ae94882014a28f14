//! The admin console's own use cases: signing in there (the `/token`
//! sign-in, then admins only), a session's caller, and the newest events.
//! Everything else the console does goes through the same use cases as the
//! API. No HTTP types here.

use std::net::IpAddr;

use super::{Accounts, Caller, Error};
use crate::auth::tokens::{AccessToken, Bearer};
use crate::domain::policy;
use crate::domain::User;
use crate::store::outbox::StoredEvent;

impl Accounts {
    /// Signs in as `POST /token` does (throttled, counted, logged the same
    /// way); a user who is not an admin is then refused, and the token just
    /// issued is revoked, so a refusal leaves no session behind.
    pub async fn sign_in_to_console(
        &self,
        username: &str,
        password: &str,
        client: IpAddr,
    ) -> Result<(AccessToken, User), Error> {
        let (token, user) = self.sign_in(username, password, client).await?;
        if let Err(denied) = policy::may_use_console(&user) {
            let caller = Caller {
                token: token.hash(),
                user,
            };
            self.revoke(&caller).await?;
            return Err(denied.into());
        }
        Ok((token, user))
    }

    /// The caller of a console session: its token must be valid (not
    /// expired, revoked, or its user inactive or deleted), read from the
    /// store on every request as for a bearer token, and its user an admin.
    pub async fn console_caller(&self, session: Bearer) -> Result<Caller, Error> {
        let caller = self.authenticate(session).await?;
        policy::may_use_console(&caller.user)?;
        Ok(caller)
    }

    /// The newest `limit` events, oldest first (admins).
    pub async fn latest_events(
        &self,
        caller: &User,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, Error> {
        policy::may_list(caller)?;
        Ok(self.store.latest_events(limit).await?)
    }
}
