//! Argon2id password hashing, off the async workers and bounded.
//!
//! A hash costs ~25 ms of one core with OWASP's parameters (m=19456 KiB, t=2,
//! p=1; shared/MEASURED.md). Each runs on tokio's blocking pool behind a
//! semaphore of `--hash-concurrency` permits, so the async workers keep
//! serving reads while `/token` is busy. A short queue may wait for a permit;
//! past it the caller gets `Busy` at once rather than waiting without bound.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use super::Error;
use crate::domain::Password;

/// Requests allowed to wait for a hashing slot, per slot: at ~25 ms a hash
/// the last in line waits ~0.4 s, far below the request time limit.
const QUEUE_PER_SLOT: usize = 16;

#[derive(Clone)]
pub struct Hasher {
    inner: Arc<Inner>,
}

struct Inner {
    params: Params,
    slots: usize,
    /// Permits to run a hash now.
    running: Arc<Semaphore>,
    /// Permits to be running or waiting; exhausted means "answer 503".
    admitted: Arc<Semaphore>,
    /// Verified when the email is unknown, so a wrong email costs the same
    /// time as a wrong password (no account enumeration by timing).
    dummy_hash: String,
}

/// The cost of a hash and how many may run at once.
#[derive(Debug, Clone, Copy)]
pub struct HashingConfig {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    /// Computations at once; `None`: the number of cores.
    pub concurrency: Option<usize>,
}

impl Hasher {
    pub fn new(config: HashingConfig) -> Result<Self, Error> {
        let params = Params::new(
            config.memory_kib,
            config.iterations,
            config.parallelism,
            None,
        )
        .map_err(|e| Error::Hashing(e.to_string()))?;
        let slots = config
            .concurrency
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
        let dummy_hash = dummy_hash(&params);
        Ok(Self {
            inner: Arc::new(Inner {
                params,
                slots,
                running: Arc::new(Semaphore::new(slots)),
                admitted: Arc::new(Semaphore::new(slots * (1 + QUEUE_PER_SLOT))),
                dummy_hash,
            }),
        })
    }

    /// The PHC string of an argon2id hash of `password` with a fresh salt.
    pub async fn hash(&self, password: Password) -> Result<String, Error> {
        let params = self.inner.params.clone();
        self.run(move || hash_with(&params, password.expose()))
            .await?
    }

    /// Checks `password` against `stored`, or against a dummy hash when there
    /// is no account, so both cases take the same time.
    pub async fn verify(&self, password: Password, stored: Option<String>) -> Result<bool, Error> {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| self.inner.dummy_hash.clone());
        let matches = self
            .run(move || {
                PasswordHash::new(&stored)
                    .map(|parsed| {
                        Argon2::default()
                            .verify_password(password.expose().as_bytes(), &parsed)
                            .is_ok()
                    })
                    .unwrap_or(false)
            })
            .await?;
        Ok(known && matches)
    }

    /// Whether `stored` was made with weaker parameters than the configured
    /// ones (or another algorithm): then it is re-hashed at the next
    /// successful sign-in. An unreadable string is not "weaker": it is left
    /// alone and simply never verifies.
    pub fn is_weaker(&self, stored: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(stored) else {
            return false;
        };
        let Ok(params) = Params::try_from(&parsed) else {
            return false;
        };
        let want = &self.inner.params;
        parsed.algorithm != Algorithm::Argon2id.ident()
            || params.m_cost() < want.m_cost()
            || params.t_cost() < want.t_cost()
            || params.p_cost() < want.p_cost()
    }

    /// Requests waiting for or holding a hashing slot (for metrics).
    pub fn in_use(&self) -> usize {
        let max = self.inner.slots * (1 + QUEUE_PER_SLOT);
        max.saturating_sub(self.inner.admitted.available_permits())
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Error> {
        // The permits travel into the blocking job and are released when
        // the hash is done, not when the request is: a client that hangs up
        // cannot leave an argon2 computation running outside the bound.
        let admitted = self
            .inner
            .admitted
            .clone()
            .try_acquire_owned()
            .map_err(|_| Error::Busy)?;
        let gauge = metrics::gauge!("password_hashing_in_use");
        gauge.set(self.in_use() as f64);
        let running = self
            .inner
            .running
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::Busy)?;
        let hasher = self.clone();
        tokio::task::spawn_blocking(move || {
            metrics::counter!("password_hashes_total").increment(1);
            let result = job();
            drop((running, admitted));
            gauge.set(hasher.in_use() as f64);
            result
        })
        .await
        .map_err(|e| Error::Hashing(e.to_string()))
    }
}

/// A PHC string with the configured parameters, an all-zero salt and an
/// all-zero output. Verifying against it costs exactly one hash with those
/// parameters, like a real account, and matches no password (that would
/// take an argon2 preimage). Built, not computed, so start-up does not pay
/// for a hash (~25 ms and 19 MiB with OWASP's parameters).
fn dummy_hash(params: &Params) -> String {
    const ZERO_SALT: &str = "AAAAAAAAAAAAAAAAAAAAAA"; // 16 bytes, unpadded B64
    const ZERO_OUTPUT: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"; // 32 bytes
    format!(
        "$argon2id$v=19$m={},t={},p={}${ZERO_SALT}${ZERO_OUTPUT}",
        params.m_cost(),
        params.t_cost(),
        params.p_cost()
    )
}

fn hash_with(params: &Params, password: &str) -> Result<String, Error> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Hashing(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dummy_hash_has_the_configured_cost_and_matches_nothing() {
        let params = Params::new(1024, 3, 1, None).unwrap();
        let dummy = dummy_hash(&params);
        let parsed = PasswordHash::new(&dummy).unwrap();
        let real = hash_with(&params, "some password").unwrap();
        let real = PasswordHash::new(&real).unwrap();
        // The same algorithm, version, parameters and output length as a
        // real hash: the same work to verify.
        assert_eq!(parsed.algorithm, real.algorithm);
        assert_eq!(parsed.version, real.version);
        assert_eq!(parsed.params, real.params);
        assert_eq!(parsed.hash.map(|h| h.len()), real.hash.map(|h| h.len()));
        assert!(Argon2::default()
            .verify_password(b"some password", &parsed)
            .is_err());
    }

    #[test]
    fn weaker_parameters_are_recognised() {
        let config = |memory_kib, iterations| HashingConfig {
            memory_kib,
            iterations,
            parallelism: 1,
            concurrency: Some(1),
        };
        let hasher = Hasher::new(config(2048, 2)).unwrap();
        let weak = hash_with(&Params::new(1024, 2, 1, None).unwrap(), "pw").unwrap();
        let fewer_passes = hash_with(&Params::new(2048, 1, 1, None).unwrap(), "pw").unwrap();
        let same = hash_with(&Params::new(2048, 2, 1, None).unwrap(), "pw").unwrap();
        let stronger = hash_with(&Params::new(4096, 3, 1, None).unwrap(), "pw").unwrap();
        assert!(hasher.is_weaker(&weak));
        assert!(hasher.is_weaker(&fewer_passes));
        assert!(!hasher.is_weaker(&same));
        assert!(!hasher.is_weaker(&stronger));
        assert!(!hasher.is_weaker("not a PHC string"));
    }
}
