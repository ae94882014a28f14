//! The mail secret: 256 random bits kept in a file outside the database
//! (`--secret-file`). A link's token is HMAC-SHA256(secret, nonce ‖ kind ‖
//! user id), derived when the mail is sent; the database keeps the nonce
//! (until the mail is sent) and the token's SHA-256, neither of which lets
//! anyone in without the file. So no copy of the database — its free pages,
//! its WAL, PostgreSQL's dead rows, a backup — ever holds a usable token.
//! Several instances must share one file (a link mailed by one is checked
//! by another only through its hash, but a retry after a takeover derives
//! the token again).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::TryRngCore;
use sha2::Sha256;

use crate::store::mail::MailKind;

/// The secret, as an HMAC keyed with it; never printed.
#[derive(Clone)]
pub struct MailSecret {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for MailSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MailSecret(<redacted>)")
    }
}

/// A link's token as it goes into the mail: 43 base64url characters.
pub struct LinkToken(String);

impl LinkToken {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl MailSecret {
    /// Reads the file, or creates it (mode 0600, 256 bits from the OS
    /// generator) when it does not exist. One line reasons on failure.
    pub fn load_or_create(path: &Path) -> Result<Self, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(text.trim())
                .map_err(|e| format!("--secret-file {}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Self::create(path),
            Err(e) => Err(format!("cannot read --secret-file {}: {e}", path.display())),
        }
    }

    fn parse(text: &str) -> Result<Self, String> {
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| "not a secret this service wrote (base64url)".to_owned())?;
        if bytes.len() != 32 {
            return Err("the secret must be 256 bits".to_owned());
        }
        Self::keyed(&bytes)
    }

    fn keyed(bytes: &[u8]) -> Result<Self, String> {
        let mac = Hmac::<Sha256>::new_from_slice(bytes)
            .map_err(|_| "the secret has a length HMAC-SHA256 cannot use".to_owned())?;
        Ok(Self { mac })
    }

    fn create(path: &Path) -> Result<Self, String> {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng
            .try_fill_bytes(&mut bytes)
            .map_err(|e| format!("OS random generator failed: {e}"))?;
        // `create_new`: two instances starting at once never overwrite
        // each other's secret; the loser reads the winner's.
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path);
        match file {
            Ok(mut file) => {
                writeln!(file, "{}", URL_SAFE_NO_PAD.encode(bytes))
                    .and_then(|()| file.sync_all())
                    .map_err(|e| format!("cannot write --secret-file {}: {e}", path.display()))?;
                tracing::info!(path = %path.display(), "created the mail secret file");
                Self::keyed(&bytes)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Self::load_or_create(path),
            Err(e) => Err(format!(
                "cannot create --secret-file {}: {e}",
                path.display()
            )),
        }
    }

    /// The token of a queued mail: the same nonce, kind and user always
    /// give the same token, so a retry mails the same link.
    pub fn token(&self, nonce: &[u8], kind: MailKind, user: i64) -> LinkToken {
        let mut mac = self.mac.clone();
        mac.update(nonce);
        mac.update(kind.as_str().as_bytes());
        mac.update(&user.to_be_bytes());
        LinkToken(URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_created_private_and_read_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        let made = MailSecret::load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let read = MailSecret::load_or_create(&path).unwrap();
        let a = made.token(b"n", MailKind::PasswordReset, 1);
        let b = read.token(b"n", MailKind::PasswordReset, 1);
        assert_eq!(a.expose(), b.expose());
        assert_eq!(a.expose().len(), 43);
        assert_ne!(
            a.expose(),
            read.token(b"n", MailKind::Verification, 1).expose()
        );
        assert_ne!(
            a.expose(),
            read.token(b"n", MailKind::PasswordReset, 2).expose()
        );
    }

    #[test]
    fn a_damaged_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "short").unwrap();
        assert!(MailSecret::load_or_create(&path).is_err());
    }
}
