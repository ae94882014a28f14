//! `users import` as a use case: the store writes the users and their
//! `user.created` events in one transaction; the event readers are woken
//! when it returns, as after any change.

use super::{Accounts, Error};
use crate::store::transfer::{ImportFeed, ImportOutcome, OnConflict};

impl Accounts {
    pub async fn import_users(
        &self,
        feed: ImportFeed,
        on_conflict: OnConflict,
        dry_run: bool,
    ) -> Result<ImportOutcome, Error> {
        let _wake = self.wake_after_write();
        Ok(self.store.import_users(feed, on_conflict, dry_run).await?)
    }
}
