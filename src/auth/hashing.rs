//! Argon2id password hashing, off the async workers and bounded.
//!
//! A hash costs ~25 ms of one core with OWASP's parameters (m=19456 KiB, t=2,
//! p=1; shared/MEASURED.md). Each runs on one of `--hash-concurrency`
//! dedicated threads, so the async workers keep serving reads while `/token`
//! is busy. A short queue may wait for a thread; past it the caller gets
//! `Busy` at once rather than waiting without bound.
//!
//! Why dedicated threads, not tokio's blocking pool: glibc keeps a freed
//! argon2 block (19 MiB) in the malloc arena of the thread that used it, and
//! the blocking pool runs hashes on ever new threads with arenas of their
//! own. Measured with 200 sign-ins at once and 2 hashes at a time, the
//! process reached 567 MiB RSS on the blocking pool; on two fixed threads
//! the retained memory is bounded by two blocks. Each thread also keeps its
//! argon2 block buffer and reuses it (`with_blocks`) instead of asking the
//! allocator for 19 MiB per hash: the memory hashing holds is exactly
//! `--hash-concurrency` × `--argon2-memory-kib`, whatever the allocator does.

use std::sync::Arc;

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::Semaphore;

use super::{imported, Error};
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
    /// Feeds the hashing threads; a job is sent only with a `running`
    /// permit, so it never waits here.
    jobs: std::sync::mpsc::Sender<Job>,
    /// Permits to run a hash now.
    running: Arc<Semaphore>,
    /// Permits to be running or waiting; exhausted means "answer 503".
    admitted: Arc<Semaphore>,
    /// Verified when the email is unknown, so a wrong email costs the same
    /// time as a wrong password (no account enumeration by timing).
    dummy_hash: String,
}

type Job = Box<dyn FnOnce() + Send>;

/// Starts `count` threads that run hashing jobs until the sender is gone.
fn start_threads(count: usize) -> Result<std::sync::mpsc::Sender<Job>, Error> {
    let (jobs, queue) = std::sync::mpsc::channel::<Job>();
    let queue = Arc::new(std::sync::Mutex::new(queue));
    for n in 0..count {
        let queue = queue.clone();
        std::thread::Builder::new()
            .name(format!("argon2-{n}"))
            .spawn(move || loop {
                let job = match queue.lock() {
                    Ok(queue) => queue.recv(),
                    Err(_) => return,
                };
                match job {
                    Ok(job) => job(),
                    Err(_) => return,
                }
            })
            .map_err(|e| Error::Hashing(e.to_string()))?;
    }
    Ok(jobs)
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

/// The weakest row of OWASP's Password Storage Cheat Sheet (argon2id:
/// m = 7 MiB, t = 5, p = 1); every other row trades memory for passes at
/// about the same product m × t.
pub const OWASP_MIN_MEMORY_KIB: u32 = 7168;
pub const OWASP_MIN_MEMORY_TIMES_PASSES: u64 = 35_840;

impl HashingConfig {
    /// Why this cost is below OWASP's weakest row, if it is: memory under
    /// 7168 KiB, or memory × iterations under 35,840 (the contract's
    /// "Limits and behaviour under load"). Refused at start.
    pub fn below_owasp(&self) -> Option<String> {
        let (m, t) = (self.memory_kib, self.iterations);
        let product = u64::from(m) * u64::from(t);
        if m < OWASP_MIN_MEMORY_KIB {
            Some(format!(
                "--argon2-memory-kib {m} is below OWASP's weakest argon2id setting \
                 (at least {OWASP_MIN_MEMORY_KIB} KiB)"
            ))
        } else if product < OWASP_MIN_MEMORY_TIMES_PASSES {
            Some(format!(
                "--argon2-memory-kib {m} × --argon2-iterations {t} = {product} is below \
                 OWASP's weakest argon2id setting (at least {OWASP_MIN_MEMORY_TIMES_PASSES}, \
                 e.g. 19456 × 2 or 7168 × 5)"
            ))
        } else {
            None
        }
    }
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
        let jobs = start_threads(slots)?;
        Ok(Self {
            inner: Arc::new(Inner {
                params,
                slots,
                jobs,
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
    /// An imported user without a password (`imported::NO_PASSWORD`)
    /// costs the same dummy check and never matches.
    pub async fn verify(&self, password: Password, stored: Option<String>) -> Result<bool, Error> {
        let stored = stored.filter(|s| s != imported::NO_PASSWORD);
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| self.inner.dummy_hash.clone());
        let matches = self
            .run(move || verify_with(&stored, password.expose()))
            .await?;
        Ok(known && matches)
    }

    /// Whether `stored` was made with weaker parameters than the configured
    /// ones (or another algorithm: argon2i/d, or an imported kind): then it is re-hashed at the next
    /// successful sign-in. An unreadable string is not "weaker": it is left
    /// alone and simply never verifies.
    pub fn is_weaker(&self, stored: &str) -> bool {
        if !stored.starts_with("$argon2") {
            // An imported bcrypt, scrypt, PBKDF2 or Firebase hash.
            return imported::classify(stored).is_ok();
        }
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
        let (reply, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            metrics::counter!("password_hashes_total").increment(1);
            let _ = reply.send(job());
            drop((running, admitted));
            gauge.set(hasher.in_use() as f64);
        });
        self.inner
            .jobs
            .send(job)
            .map_err(|_| Error::Hashing("the hashing threads stopped".into()))?;
        result
            .await
            .map_err(|_| Error::Hashing("a hashing job was lost".into()))
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

thread_local! {
    /// This hashing thread's argon2 memory, grown to the largest cost seen
    /// and reused.
    static BLOCKS: std::cell::RefCell<Vec<Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs argon2 into `out` on this thread's reusable block buffer.
fn argon2_into(
    argon2: &Argon2<'_>,
    params: &Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), argon2::Error> {
    BLOCKS.with_borrow_mut(|blocks| {
        let needed = params.block_count();
        if blocks.len() < needed {
            blocks.resize(needed, Block::new());
        }
        argon2.hash_password_into_with_memory(password, salt, out, &mut blocks[..needed])
    })
}

/// What `PasswordHasher::hash_password` does, on the reusable buffer.
fn hash_with(params: &Params, password: &str) -> Result<String, Error> {
    let fail = |e: &dyn std::fmt::Display| Error::Hashing(e.to_string());
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(|e| fail(&e))?;
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon2_into(&argon2, params, password.as_bytes(), salt_bytes, &mut out)
        .map_err(|e| fail(&e))?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| fail(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| fail(&e))?),
    };
    Ok(hash.to_string())
}

/// What `PasswordVerifier::verify_password` does, on the reusable buffer:
/// the stored algorithm, version and parameters, and a constant-time
/// comparison (`Output`'s equality). An unreadable string never matches.
///
/// Another kind of hash (imported: bcrypt, scrypt, PBKDF2, Firebase) is
/// checked by `imported::verify_foreign` on this same thread, so it counts
/// against the same bounded queue.
fn verify_with(stored: &str, password: &str) -> bool {
    if let Some(matches) = imported::verify_foreign(stored, password.as_bytes()) {
        return matches;
    }
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(parsed.algorithm),
        Params::try_from(&parsed),
    ) else {
        return false;
    };
    let version = parsed
        .version
        .map_or(Ok(Version::default()), Version::try_from)
        .unwrap_or(Version::V0x13);
    let mut salt_bytes = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let argon2 = Argon2::new(algorithm, version, params.clone());
    if argon2_into(&argon2, &params, password.as_bytes(), salt_bytes, &mut out).is_err() {
        return false;
    }
    Output::new(&out).is_ok_and(|computed| computed == expected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    #[test]
    fn the_dummy_hash_has_the_configured_cost_and_matches_nothing() {
        let params = Params::new(1024, 3, 1, None).unwrap();
        let dummy = dummy_hash(&params);
        let parsed = PasswordHash::new(&dummy).unwrap();
        let real = hash_with(&params, "some password").unwrap();
        assert!(verify_with(&real, "some password"));
        assert!(!verify_with(&real, "some passwore"));
        assert!(!verify_with(&dummy, "some password"));
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
    fn hashes_agree_with_the_argon2_crate_both_ways() {
        let params = Params::new(1024, 2, 1, None).unwrap();
        let ours = hash_with(&params, "correct horse").unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default()
            .verify_password(b"correct horse", &parsed)
            .is_ok());
        let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"correct horse", &salt)
            .unwrap()
            .to_string();
        assert!(verify_with(&theirs, "correct horse"));
        assert!(!verify_with(&theirs, "correct horsE"));
    }

    #[test]
    fn costs_below_owasps_weakest_row_are_named() {
        let config = |memory_kib, iterations| HashingConfig {
            memory_kib,
            iterations,
            parallelism: 1,
            concurrency: Some(1),
        };
        for (m, t) in [(19456, 2), (7168, 5), (12288, 3), (9216, 4), (47104, 1)] {
            assert_eq!(config(m, t).below_owasp(), None, "m={m} t={t}");
        }
        for (m, t) in [(7167, 100), (1024, 1), (19456, 1), (7168, 4), (8192, 4)] {
            let reason = config(m, t).below_owasp().expect("refused");
            assert!(
                reason.contains("OWASP") && !reason.contains('\n'),
                "{reason}"
            );
        }
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
