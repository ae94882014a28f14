//! Password hashes made by other systems, kept by `users import` as they
//! are: recognised by their form, refused above a cost cap, and verified at
//! sign-in until the first success replaces them with argon2id
//! (`Hasher::is_weaker` is true for every kind but argon2id).
//!
//! The kinds (the contract's "Moving users in and out"):
//! - argon2id/argon2i/argon2d PHC strings (also Django's `argon2$argon2id$…`,
//!   stored without the `argon2` prefix);
//! - bcrypt `$2a$`, `$2b$`, `$2y$` (the `bcrypt` crate);
//! - scrypt PHC `$scrypt$ln=…,r=…,p=…$salt$hash` (the `scrypt` crate);
//! - PBKDF2-SHA256/SHA512 as PHC `$pbkdf2-sha256$i=…,l=…$salt$hash` (Keycloak's
//!   credentials are stored in this form) and Django's
//!   `pbkdf2_sha256$iterations$salt$base64` (the `pbkdf2` crate);
//! - Firebase's modified scrypt, which has no PHC id; its stored form is
//!   defined here (`$firebase-scrypt$…`, see `FirebaseScrypt`).
//!
//! Caps (the contract: bcrypt cost ≤ 14, scrypt N·r ≤ 2^20 and p ≤ 4,
//! PBKDF2 ≤ 2,000,000 iterations, argon2 m ≤ 65,536 KiB and t ≤ 10) bound a
//! check to about a second. Memory is capped tighter at import: a check may
//! not hold more than the configured argon2 block (`--argon2-memory-kib`),
//! so the hashing threads' memory stays what `hashing.rs` promises
//! (`--hash-concurrency` × the argon2 block). Verification applies the
//! contract's caps again, so a hash written to the database some other way
//! never makes a check run without bound.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine as _;
use subtle::ConstantTimeEq;

/// The contract's caps.
pub const MAX_BCRYPT_COST: u32 = 14;
pub const MAX_SCRYPT_N_TIMES_R: u64 = 1 << 20;
pub const MAX_SCRYPT_P: u32 = 4;
pub const MAX_PBKDF2_ITERATIONS: u32 = 2_000_000;
pub const MAX_ARGON2_MEMORY_KIB: u32 = 65_536;
pub const MAX_ARGON2_ITERATIONS: u32 = 10;

/// Stored for a user imported without a usable password (Django's `!…`, a
/// social-login account): no password verifies against it, and sign-in
/// checks the dummy hash instead, so such an account answers as slowly as
/// any other. A password reset or an admin replaces it.
pub const NO_PASSWORD: &str = "!";

/// What a stored hash is, with the numbers that make its cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Argon2 {
        id: bool,
        memory_kib: u32,
        iterations: u32,
        lanes: u32,
    },
    Bcrypt {
        cost: u32,
    },
    Scrypt {
        log_n: u8,
        r: u32,
        p: u32,
    },
    Pbkdf2 {
        iterations: u32,
    },
    FirebaseScrypt {
        mem_cost: u8,
        rounds: u32,
    },
}

impl Kind {
    /// Bytes one check holds (argon2: its blocks; scrypt: 128·N·r).
    pub fn memory_bytes(&self) -> u64 {
        match self {
            Kind::Argon2 { memory_kib, .. } => u64::from(*memory_kib) * 1024,
            Kind::Scrypt { log_n, r, .. } => 128 * (1u64 << log_n) * u64::from(*r),
            Kind::FirebaseScrypt { mem_cost, rounds } => {
                128 * (1u64 << mem_cost) * u64::from(*rounds)
            }
            Kind::Bcrypt { .. } => 4 * 1024 + 72,
            Kind::Pbkdf2 { .. } => 0,
        }
    }

    /// Whether it stays under the contract's caps; the reason when not.
    pub fn within_caps(&self) -> Result<(), String> {
        match *self {
            Kind::Argon2 {
                memory_kib,
                iterations,
                ..
            } => {
                if memory_kib > MAX_ARGON2_MEMORY_KIB {
                    return Err(format!(
                        "argon2 memory {memory_kib} KiB is above the cap of {MAX_ARGON2_MEMORY_KIB} KiB"
                    ));
                }
                if iterations > MAX_ARGON2_ITERATIONS {
                    return Err(format!(
                        "argon2 t={iterations} is above the cap of {MAX_ARGON2_ITERATIONS}"
                    ));
                }
            }
            Kind::Bcrypt { cost } if cost > MAX_BCRYPT_COST => {
                return Err(format!(
                    "bcrypt cost {cost} is above the cap of {MAX_BCRYPT_COST}"
                ));
            }
            Kind::Scrypt { log_n, r, p } => {
                if (1u64 << log_n) * u64::from(r) > MAX_SCRYPT_N_TIMES_R {
                    return Err(format!(
                        "scrypt N·r = 2^{log_n}·{r} is above the cap of 2^20"
                    ));
                }
                if p > MAX_SCRYPT_P {
                    return Err(format!("scrypt p={p} is above the cap of {MAX_SCRYPT_P}"));
                }
            }
            Kind::FirebaseScrypt { mem_cost, rounds }
                if (1u64 << mem_cost) * u64::from(rounds) > MAX_SCRYPT_N_TIMES_R =>
            {
                return Err(format!(
                    "Firebase scrypt N·r = 2^{mem_cost}·{rounds} is above the cap of 2^20"
                ));
            }
            Kind::Pbkdf2 { iterations } if iterations > MAX_PBKDF2_ITERATIONS => {
                return Err(format!(
                    "PBKDF2 with {iterations} iterations is above the cap of {MAX_PBKDF2_ITERATIONS}"
                ));
            }
            _ => {}
        }
        Ok(())
    }

    /// What `users import` accepts: the contract's caps, and no more memory
    /// per check than the configured argon2 block.
    pub fn importable(&self, argon2_memory_kib: u32) -> Result<(), String> {
        self.within_caps()?;
        let allowed = u64::from(argon2_memory_kib) * 1024;
        if self.memory_bytes() > allowed {
            return Err(format!(
                "checking it needs {} KiB, more than the configured argon2 memory of {argon2_memory_kib} KiB (--argon2-memory-kib)",
                self.memory_bytes() / 1024
            ));
        }
        Ok(())
    }
}

/// The kind of a stored hash, or why it is not one user-api can verify.
pub fn classify(stored: &str) -> Result<Kind, String> {
    if stored.starts_with("$argon2") {
        let parsed = argon2::password_hash::PasswordHash::new(stored)
            .map_err(|e| format!("unreadable argon2 hash: {e}"))?;
        let params = argon2::Params::try_from(&parsed)
            .map_err(|e| format!("unreadable argon2 parameters: {e}"))?;
        argon2::Algorithm::try_from(parsed.algorithm)
            .map_err(|e| format!("unknown argon2 variant: {e}"))?;
        if parsed.salt.is_none() || parsed.hash.is_none() {
            return Err("argon2 hash without salt or output".into());
        }
        return Ok(Kind::Argon2 {
            id: parsed.algorithm.as_str() == "argon2id",
            memory_kib: params.m_cost(),
            iterations: params.t_cost(),
            lanes: params.p_cost(),
        });
    }
    if let Some(rest) = ["$2a$", "$2b$", "$2y$"]
        .iter()
        .find_map(|prefix| stored.strip_prefix(prefix))
    {
        let cost: u32 = rest
            .get(..2)
            .and_then(|c| c.parse().ok())
            .ok_or("unreadable bcrypt cost")?;
        if rest.len() != 2 + 1 + 53 || !(4..=31).contains(&cost) {
            return Err("malformed bcrypt hash".into());
        }
        return Ok(Kind::Bcrypt { cost });
    }
    if stored.starts_with("$scrypt$") {
        let s = ScryptPhc::parse(stored)?;
        return Ok(Kind::Scrypt {
            log_n: s.log_n,
            r: s.r,
            p: s.p,
        });
    }
    if stored.starts_with("$pbkdf2-") {
        return Pbkdf2Hash::parse_phc(stored).map(|h| Kind::Pbkdf2 {
            iterations: h.iterations,
        });
    }
    if stored.starts_with("pbkdf2_") {
        return Pbkdf2Hash::parse_django(stored).map(|h| Kind::Pbkdf2 {
            iterations: h.iterations,
        });
    }
    if stored.starts_with(FirebaseScrypt::PREFIX) {
        let f = FirebaseScrypt::parse(stored)?;
        return Ok(Kind::FirebaseScrypt {
            mem_cost: f.mem_cost,
            rounds: f.rounds,
        });
    }
    let id = stored
        .trim_start_matches('$')
        .split('$')
        .next()
        .unwrap_or_default();
    let id: String = id.chars().take(24).collect();
    Err(format!(
        "unknown password hash kind {id:?}: user-api verifies argon2, bcrypt, scrypt, PBKDF2-SHA256/SHA512 and Firebase scrypt"
    ))
}

/// Django's argon2 form carries an `argon2` prefix before the PHC string.
pub fn from_django(stored: &str) -> &str {
    stored.strip_prefix("argon2$").map_or(stored, |phc| {
        // `argon2$argon2id$…` → `$argon2id$…` (the `$` kept).
        &stored[stored.len() - phc.len() - 1..]
    })
}

/// Checks `password` against a non-argon2 `stored` hash; `None` when the
/// kind is argon2 (that one runs on `hashing.rs`'s reusable buffers) or
/// unknown. Applies the contract's caps: a hash above them never verifies.
pub fn verify_foreign(stored: &str, password: &[u8]) -> Option<bool> {
    let kind = classify(stored).ok()?;
    if let Kind::Argon2 { .. } = kind {
        // The service's own kind: its costs are whatever the service was
        // configured with, so no import cap applies at sign-in.
        return None;
    }
    if kind.within_caps().is_err() {
        return Some(false);
    }
    Some(match kind {
        Kind::Argon2 { .. } => return None,
        Kind::Bcrypt { .. } => bcrypt::verify(password, stored).unwrap_or(false),
        Kind::Scrypt { .. } => ScryptPhc::parse(stored).is_ok_and(|s| s.verify(password)),
        Kind::Pbkdf2 { .. } => Pbkdf2Hash::parse(stored).is_ok_and(|h| h.verify(password)),
        Kind::FirebaseScrypt { .. } => {
            FirebaseScrypt::parse(stored).is_ok_and(|f| f.verify(password))
        }
    })
}

fn b64_phc(field: &str) -> Result<Vec<u8>, String> {
    STANDARD_NO_PAD
        .decode(field.trim_end_matches('='))
        .map_err(|_| "unreadable base64".to_owned())
}

/// Splits `k=v,k=v` PHC parameters.
fn phc_params(raw: &str) -> impl Iterator<Item = (&str, &str)> {
    raw.split(',').filter_map(|kv| kv.split_once('='))
}

struct ScryptPhc {
    log_n: u8,
    r: u32,
    p: u32,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

impl ScryptPhc {
    fn parse(stored: &str) -> Result<Self, String> {
        let bad = || "malformed scrypt hash (want $scrypt$ln=…,r=…,p=…$salt$hash)".to_owned();
        let mut parts = stored.split('$').skip(2);
        let (Some(params), Some(salt), Some(hash), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let (mut log_n, mut r, mut p) = (None, None, None);
        for (k, v) in phc_params(params) {
            match k {
                "ln" => log_n = v.parse::<u8>().ok(),
                "r" => r = v.parse::<u32>().ok(),
                "p" => p = v.parse::<u32>().ok(),
                _ => {}
            }
        }
        let (Some(log_n), Some(r), Some(p)) = (log_n, r, p) else {
            return Err(bad());
        };
        if !(1..=63).contains(&log_n) || r == 0 || p == 0 {
            return Err(bad());
        }
        // Decoded, as the `scrypt` crate's own PHC API and passlib do.
        let salt = b64_phc(salt)?;
        let hash = b64_phc(hash)?;
        if hash.is_empty() || hash.len() > 64 {
            return Err(bad());
        }
        Ok(Self {
            log_n,
            r,
            p,
            salt,
            hash,
        })
    }

    fn verify(&self, password: &[u8]) -> bool {
        let Ok(params) = scrypt::Params::new(self.log_n, self.r, self.p, self.hash.len()) else {
            return false;
        };
        let mut out = vec![0u8; self.hash.len()];
        if scrypt::scrypt(password, &self.salt, &params, &mut out).is_err() {
            return false;
        }
        out.ct_eq(&self.hash).into()
    }
}

#[derive(Clone, Copy)]
enum Prf {
    Sha256,
    Sha512,
}

struct Pbkdf2Hash {
    prf: Prf,
    iterations: u32,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

impl Pbkdf2Hash {
    fn parse(stored: &str) -> Result<Self, String> {
        if stored.starts_with('$') {
            Self::parse_phc(stored)
        } else {
            Self::parse_django(stored)
        }
    }

    /// `$pbkdf2-sha256$i=27500,l=64$salt$hash`, salt and hash in PHC's B64.
    fn parse_phc(stored: &str) -> Result<Self, String> {
        let bad = || "malformed PBKDF2 hash (want $pbkdf2-sha256$i=…$salt$hash)".to_owned();
        let mut parts = stored.split('$').skip(1);
        let (Some(id), Some(params), Some(salt), Some(hash), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(bad());
        };
        let prf = match id {
            "pbkdf2-sha256" => Prf::Sha256,
            "pbkdf2-sha512" => Prf::Sha512,
            other => {
                return Err(format!(
                    "unknown password hash kind {other:?}: PBKDF2 with SHA-256 or SHA-512 only"
                ))
            }
        };
        let iterations = phc_params(params)
            .find(|(k, _)| *k == "i")
            .and_then(|(_, v)| v.parse().ok())
            .ok_or_else(bad)?;
        Self::checked(prf, iterations, b64_phc(salt)?, b64_phc(hash)?)
    }

    /// Django: `pbkdf2_sha256$iterations$salt$base64(hash)`, the salt used
    /// as its text.
    fn parse_django(stored: &str) -> Result<Self, String> {
        let bad = || "malformed Django hash (want pbkdf2_sha256$iterations$salt$hash)".to_owned();
        let mut parts = stored.split('$');
        let (Some(id), Some(iterations), Some(salt), Some(hash), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(bad());
        };
        let prf = match id {
            "pbkdf2_sha256" => Prf::Sha256,
            other => {
                return Err(format!(
                    "unknown password hash kind {other:?}: Django's pbkdf2_sha256 and argon2 only"
                ))
            }
        };
        let iterations = iterations.parse().map_err(|_| bad())?;
        let hash = STANDARD.decode(hash).map_err(|_| bad())?;
        Self::checked(prf, iterations, salt.as_bytes().to_vec(), hash)
    }

    fn checked(prf: Prf, iterations: u32, salt: Vec<u8>, hash: Vec<u8>) -> Result<Self, String> {
        if iterations == 0 || hash.len() < 16 || hash.len() > 128 {
            return Err("malformed PBKDF2 hash (iterations or length)".into());
        }
        Ok(Self {
            prf,
            iterations,
            salt,
            hash,
        })
    }

    fn verify(&self, password: &[u8]) -> bool {
        let mut out = vec![0u8; self.hash.len()];
        match self.prf {
            Prf::Sha256 => {
                pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, &self.salt, self.iterations, &mut out)
            }
            Prf::Sha512 => {
                pbkdf2::pbkdf2_hmac::<sha2::Sha512>(password, &self.salt, self.iterations, &mut out)
            }
        }
        out.ct_eq(&self.hash).into()
    }
}

/// A PHC string of a PBKDF2 hash from its parts (Keycloak's credentials).
pub fn pbkdf2_phc(sha512: bool, iterations: u32, salt: &[u8], hash: &[u8]) -> String {
    format!(
        "$pbkdf2-{}$i={iterations},l={}${}${}",
        if sha512 { "sha512" } else { "sha256" },
        hash.len(),
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(hash)
    )
}

/// An argon2 PHC string from its parts (Keycloak's argon2 credentials).
pub fn argon2_phc(
    variant: &str,
    version: u32,
    memory_kib: u32,
    iterations: u32,
    lanes: u32,
    salt: &[u8],
    hash: &[u8],
) -> String {
    format!(
        "$argon2{variant}$v={version}$m={memory_kib},t={iterations},p={lanes}${}${}",
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(hash)
    )
}

/// Firebase's modified scrypt (github.com/firebase/scrypt): the key
/// scrypt derives from the password and `salt ‖ salt separator` (N =
/// 2^mem_cost, r = rounds, p = 1) encrypts the project's signer key with
/// AES-256-CTR (zero IV); the result is the stored hash.
///
/// It has no PHC id, and the project's parameters belong with each hash
/// (a store may hold users of several projects), so user-api stores and
/// exports it as one string, all binary fields in standard base64 as
/// Firebase prints them:
///
/// `$firebase-scrypt$r=ROUNDS,m=MEM_COST$SALT_SEPARATOR$SIGNER_KEY$SALT$HASH`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirebaseScrypt {
    pub rounds: u32,
    pub mem_cost: u8,
    pub salt_separator: Vec<u8>,
    pub signer_key: Vec<u8>,
    pub salt: Vec<u8>,
    pub hash: Vec<u8>,
}

impl FirebaseScrypt {
    const PREFIX: &'static str = "$firebase-scrypt$";

    pub fn parse(stored: &str) -> Result<Self, String> {
        let bad = || {
            "malformed Firebase scrypt hash (want $firebase-scrypt$r=…,m=…$separator$signer_key$salt$hash)"
                .to_owned()
        };
        let rest = stored.strip_prefix(Self::PREFIX).ok_or_else(bad)?;
        let mut parts = rest.split('$');
        let (Some(params), Some(sep), Some(key), Some(salt), Some(hash), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(bad());
        };
        let (mut rounds, mut mem_cost) = (None, None);
        for (k, v) in phc_params(params) {
            match k {
                "r" => rounds = v.parse::<u32>().ok(),
                "m" => mem_cost = v.parse::<u8>().ok(),
                _ => {}
            }
        }
        let (Some(rounds), Some(mem_cost)) = (rounds, mem_cost) else {
            return Err(bad());
        };
        let decode = |s: &str| STANDARD.decode(s).map_err(|_| bad());
        let made = Self {
            rounds,
            mem_cost,
            salt_separator: decode(sep)?,
            signer_key: decode(key)?,
            salt: decode(salt)?,
            hash: decode(hash)?,
        };
        if !(1..=63).contains(&mem_cost)
            || rounds == 0
            || made.signer_key.is_empty()
            || made.hash.len() != made.signer_key.len()
        {
            return Err(bad());
        }
        Ok(made)
    }

    pub fn to_stored(&self) -> String {
        format!(
            "{}r={},m={}${}${}${}${}",
            Self::PREFIX,
            self.rounds,
            self.mem_cost,
            STANDARD.encode(&self.salt_separator),
            STANDARD.encode(&self.signer_key),
            STANDARD.encode(&self.salt),
            STANDARD.encode(&self.hash)
        )
    }

    pub fn verify(&self, password: &[u8]) -> bool {
        use aes::cipher::{KeyIvInit, StreamCipher};
        let Ok(params) = scrypt::Params::new(self.mem_cost, self.rounds, 1, 32) else {
            return false;
        };
        let salt = [self.salt.as_slice(), &self.salt_separator].concat();
        let mut key = [0u8; 32];
        if scrypt::scrypt(password, &salt, &params, &mut key).is_err() {
            return false;
        }
        let mut out = self.signer_key.clone();
        ctr::Ctr128BE::<aes::Aes256>::new(&key.into(), &[0u8; 16].into()).apply_keystream(&mut out);
        out.ct_eq(&self.hash).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sample of github.com/firebase/scrypt's README.
    fn firebase_sample() -> FirebaseScrypt {
        FirebaseScrypt {
            rounds: 8,
            mem_cost: 14,
            salt_separator: STANDARD.decode("Bw==").unwrap(),
            signer_key: STANDARD.decode("jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA==").unwrap(),
            salt: STANDARD.decode("42xEC+ixf3L2lw==").unwrap(),
            hash: STANDARD.decode("lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ==").unwrap(),
        }
    }

    #[test]
    fn firebase_scrypt_verifies_the_published_sample() {
        let sample = firebase_sample();
        assert!(sample.verify(b"user1password"));
        assert!(!sample.verify(b"user1passwore"));
        let stored = sample.to_stored();
        assert_eq!(FirebaseScrypt::parse(&stored).unwrap(), sample);
        assert_eq!(
            classify(&stored).unwrap(),
            Kind::FirebaseScrypt {
                mem_cost: 14,
                rounds: 8
            }
        );
        assert_eq!(verify_foreign(&stored, b"user1password"), Some(true));
        // 128 · 2^14 · 8 = 16 MiB: under OWASP's 19 MiB argon2 block.
        assert!(classify(&stored).unwrap().importable(19456).is_ok());
    }

    #[test]
    fn caps_are_the_contracts() {
        assert!(Kind::Bcrypt { cost: 14 }.within_caps().is_ok());
        assert!(Kind::Bcrypt { cost: 15 }.within_caps().is_err());
        assert!(Kind::Pbkdf2 {
            iterations: 2_000_001
        }
        .within_caps()
        .is_err());
        assert!(Kind::Scrypt {
            log_n: 17,
            r: 8,
            p: 1
        }
        .within_caps()
        .is_ok());
        assert!(Kind::Scrypt {
            log_n: 18,
            r: 8,
            p: 1
        }
        .within_caps()
        .is_err());
        assert!(Kind::Scrypt {
            log_n: 14,
            r: 8,
            p: 5
        }
        .within_caps()
        .is_err());
        let argon2 = |memory_kib, iterations| Kind::Argon2 {
            id: true,
            memory_kib,
            iterations,
            lanes: 1,
        };
        assert!(argon2(65_536, 10).within_caps().is_ok());
        assert!(argon2(65_537, 2).within_caps().is_err());
        assert!(argon2(19_456, 11).within_caps().is_err());
        // Import: no more memory than the configured argon2 block.
        assert!(argon2(19_456, 2).importable(19_456).is_ok());
        assert!(argon2(65_536, 2).importable(19_456).is_err());
        assert!(Kind::Scrypt {
            log_n: 17,
            r: 8,
            p: 1
        }
        .importable(19_456)
        .is_err());
    }

    #[test]
    fn django_and_phc_pbkdf2_agree() {
        let mut hash = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(b"secret words", b"saltsalt", 1000, &mut hash);
        let django = format!("pbkdf2_sha256$1000$saltsalt${}", STANDARD.encode(hash));
        let phc = pbkdf2_phc(false, 1000, b"saltsalt", &hash);
        for stored in [&django, &phc] {
            assert_eq!(classify(stored).unwrap(), Kind::Pbkdf2 { iterations: 1000 });
            assert_eq!(verify_foreign(stored, b"secret words"), Some(true));
            assert_eq!(verify_foreign(stored, b"secret wordz"), Some(false));
        }
    }

    #[test]
    fn unknown_kinds_are_named() {
        let err = classify("sha1$abc$def").unwrap_err();
        assert!(err.contains("\"sha1\""), "{err}");
        assert!(classify("$md5$x").unwrap_err().contains("\"md5\""));
        assert!(classify("pbkdf2_sha1$1000$salt$aGFzaA==").is_err());
    }

    #[test]
    fn django_argon2_loses_its_prefix() {
        assert_eq!(
            from_django("argon2$argon2id$v=19$m=512,t=2,p=2$c2FsdA$aGFzaA"),
            "$argon2id$v=19$m=512,t=2,p=2$c2FsdA$aGFzaA"
        );
        assert_eq!(from_django("pbkdf2_sha256$1$a$b"), "pbkdf2_sha256$1$a$b");
    }
}
