//! Passwords: strength rules, Argon2id hashing, and verification that takes the same time whether
//! or not the account exists.

use crate::{random::Random, secret::Secret, CoreError};
use argon2::password_hash::{Output, ParamsString, PasswordHash, PasswordHasher as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use serde::{Deserialize, Serialize};

/// Argon2id cost parameters. The defaults are OWASP's first recommendation
/// (m = 19 MiB, t = 2, p = 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    /// Shortest password accepted (NIST SP 800-63B asks for 8 at least).
    pub min_length: usize,
    /// zxcvbn score (0..=4) a password must reach.
    pub min_score: u8,
}

impl Default for PasswordParams {
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
            min_length: 8,
            min_score: 3,
        }
    }
}

/// Longest password accepted: long enough for any passphrase, short enough to bound hashing.
pub const MAX_PASSWORD_CHARS: usize = 256;

impl PasswordParams {
    /// Every problem with these parameters, as (field, message) pairs.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Err(e) = Params::new(self.memory_kib, self.iterations, self.parallelism, None) {
            out.push(("memory_kib", format!("invalid Argon2 parameters: {e}")));
        }
        if self.min_length < 8 || self.min_length > MAX_PASSWORD_CHARS {
            out.push((
                "min_length",
                format!("must be between 8 and {MAX_PASSWORD_CHARS}"),
            ));
        }
        if self.min_score > 4 {
            out.push(("min_score", "must be between 0 and 4".to_owned()));
        }
        out
    }
}

/// A stored Argon2id hash in PHC string form.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHashString(pub String);

impl std::fmt::Debug for PasswordHashString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHashString(***)")
    }
}

/// Hashes and verifies passwords with fixed parameters.
pub struct PasswordHasher {
    argon: Argon2<'static>,
    params: PasswordParams,
    /// A hash of a random password, verified against when the account does not exist so that an
    /// unknown email costs the same as a wrong password.
    dummy: PasswordHashString,
}

impl PasswordHasher {
    pub fn new(params: PasswordParams, rng: &dyn Random) -> Result<Self, argon2::Error> {
        let argon_params = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            None,
        )?;
        let dummy = stand_in_hash(&argon_params, rng)?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, argon_params);
        Ok(Self {
            argon,
            params,
            dummy,
        })
    }

    pub fn params(&self) -> &PasswordParams {
        &self.params
    }

    /// Hashes with a fresh 128-bit salt.
    pub fn hash(
        &self,
        password: &Secret,
        rng: &dyn Random,
    ) -> Result<PasswordHashString, argon2::password_hash::Error> {
        let salt_bytes = crate::random::RandomExt::bytes::<16>(rng);
        let salt = SaltString::encode_b64(&salt_bytes)?;
        let hash = self
            .argon
            .hash_password(password.expose().as_bytes(), &salt)?;
        Ok(PasswordHashString(hash.to_string()))
    }

    /// True when `password` matches `stored`. With no stored hash (unknown account, or an account
    /// without a password) it verifies against the dummy hash and answers false, taking as long.
    pub fn verify(&self, password: &Secret, stored: Option<&PasswordHashString>) -> bool {
        let (target, real) = match stored {
            Some(h) => (h, true),
            None => (&self.dummy, false),
        };
        let Ok(parsed) = PasswordHash::new(&target.0) else {
            return false;
        };
        verify_reusing_memory(password.expose().as_bytes(), &parsed) && real
    }
}

/// Checks a new password against length limits and a strength estimate that also penalises the
/// user's own email and name (`user_inputs`).
pub fn check_strength(
    password: &Secret,
    params: &PasswordParams,
    user_inputs: &[&str],
) -> Result<(), CoreError> {
    let pw = password.expose();
    let chars = pw.chars().count();
    if chars < params.min_length {
        return Err(CoreError::WeakPassword(format!(
            "use at least {} characters",
            params.min_length
        )));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(CoreError::WeakPassword(format!(
            "use at most {MAX_PASSWORD_CHARS} characters"
        )));
    }
    // zxcvbn's cost grows with length; the first 100 characters decide any realistic case.
    let judged: String = pw.chars().take(100).collect();
    let estimate = zxcvbn::zxcvbn(&judged, user_inputs);
    let score = u8::from(estimate.score());
    if score < params.min_score {
        let hint = estimate
            .feedback()
            .and_then(|f| f.warning().map(|w| w.to_string()))
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "it is too easy to guess".to_owned());
        return Err(CoreError::WeakPassword(hint));
    }
    Ok(())
}

thread_local! {
    /// Argon2's working memory, kept per hashing thread: allocating (and faulting in) 19 MiB
    /// afresh for every login cost a fifth of the hashing threads' time.
    static BLOCKS: std::cell::RefCell<Vec<argon2::Block>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Verifies against a PHC string with the parameters it names, in this thread's reused memory,
/// comparing the outputs in constant time.
fn verify_reusing_memory(password: &[u8], phc: &PasswordHash<'_>) -> bool {
    use subtle::ConstantTimeEq;
    let (Ok(algorithm), Ok(params), Some(expected), Some(salt)) = (
        Algorithm::try_from(phc.algorithm),
        Params::try_from(phc),
        phc.hash,
        phc.salt,
    ) else {
        return false;
    };
    let version = match phc.version.map(Version::try_from) {
        None => Version::V0x13,
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let mut salt_buf = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
        return false;
    };
    let need = params.block_count();
    let argon = Argon2::new(algorithm, version, params);
    let mut out = vec![0u8; expected.len()];
    let computed = BLOCKS.with(|cell| {
        let mut blocks = cell.borrow_mut();
        if blocks.len() < need {
            blocks.resize(need, argon2::Block::default());
        }
        argon.hash_password_into_with_memory(password, salt, &mut out, &mut blocks[..need])
    });
    computed.is_ok() && bool::from(out.as_slice().ct_eq(expected.as_bytes()))
}

/// A hash in the form of a real one (same parameters, a random salt) whose output is random
/// bytes: verifying against it costs exactly what verifying against a real hash costs, and no
/// password matches it (a 2^-256 chance). Not computing it keeps start-up fast and keeps the
/// Argon2 memory (19 MiB by default) from being touched before the first login.
fn stand_in_hash(params: &Params, rng: &dyn Random) -> Result<PasswordHashString, argon2::Error> {
    use crate::random::RandomExt;
    let salt =
        SaltString::encode_b64(&rng.bytes::<16>()).map_err(|_| argon2::Error::SaltTooShort)?;
    let output = Output::new(&rng.bytes::<{ Params::DEFAULT_OUTPUT_LEN }>())
        .map_err(|_| argon2::Error::OutputTooShort)?;
    let params = ParamsString::try_from(params).map_err(|_| argon2::Error::AlgorithmInvalid)?;
    let phc = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(PasswordHashString(phc.to_string()))
}

/// [`check_strength`] for a password that belongs to `email`: the address and its local part
/// count as easy guesses.
pub fn check_strength_for(
    password: &Secret,
    params: &PasswordParams,
    email: &crate::email::Email,
) -> Result<(), CoreError> {
    let local = email.as_str().split('@').next().unwrap_or_default();
    check_strength(password, params, &[email.as_str(), local])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::SeededRandom;

    fn cheap() -> PasswordParams {
        PasswordParams {
            memory_kib: 256,
            iterations: 1,
            ..PasswordParams::default()
        }
    }

    #[test]
    fn hash_then_verify() {
        let rng = SeededRandom::new(7);
        let h = PasswordHasher::new(cheap(), &rng).unwrap();
        let pw = Secret::new("correct horse battery staple");
        let stored = h.hash(&pw, &rng).unwrap();
        assert!(stored.0.starts_with("$argon2id$v=19$m=256,t=1,p=1$"));
        assert!(h.verify(&pw, Some(&stored)));
        assert!(!h.verify(&Secret::new("wrong"), Some(&stored)));
        assert!(!h.verify(&pw, None), "no account never verifies");
        assert!(!h.verify(&pw, Some(&PasswordHashString("garbage".into()))));
    }

    #[test]
    fn verification_agrees_with_the_reference_implementation() {
        use argon2::password_hash::PasswordVerifier as _;
        let rng = SeededRandom::new(8);
        let h = PasswordHasher::new(cheap(), &rng).unwrap();
        // hashes with other parameters (an older configuration) still verify
        let older = PasswordHasher::new(
            PasswordParams {
                memory_kib: 512,
                iterations: 2,
                ..cheap()
            },
            &rng,
        )
        .unwrap();
        for hasher in [&h, &older] {
            let pw = Secret::new("correct horse battery staple");
            let stored = hasher.hash(&pw, &rng).unwrap();
            let parsed = PasswordHash::new(&stored.0).unwrap();
            assert!(Argon2::default()
                .verify_password(pw.expose().as_bytes(), &parsed)
                .is_ok());
            assert!(h.verify(&pw, Some(&stored)), "fast path verifies");
            assert!(!h.verify(&Secret::new("correct horse battery stapler"), Some(&stored)));
        }
        // a hash made by the reference implementation verifies too
        let salt = SaltString::encode_b64(&[3u8; 16]).unwrap();
        let reference = Argon2::default()
            .hash_password(b"hunter2 hunter2", &salt)
            .unwrap()
            .to_string();
        assert!(h.verify(
            &Secret::new("hunter2 hunter2"),
            Some(&PasswordHashString(reference))
        ));
    }

    #[test]
    fn the_stand_in_hash_costs_what_a_real_one_costs() {
        let rng = SeededRandom::new(10);
        let h = PasswordHasher::new(cheap(), &rng).unwrap();
        let real = h
            .hash(&Secret::new("correct horse battery staple"), &rng)
            .unwrap();
        let (stand_in, real) = (
            PasswordHash::new(&h.dummy.0).unwrap(),
            PasswordHash::new(&real.0).unwrap(),
        );
        // same algorithm, version, parameters and lengths: verifying either does the same work
        assert_eq!(stand_in.algorithm, real.algorithm);
        assert_eq!(stand_in.version, real.version);
        assert_eq!(stand_in.params, real.params);
        assert_eq!(stand_in.salt.map(|s| s.len()), real.salt.map(|s| s.len()));
        assert_eq!(stand_in.hash.map(|o| o.len()), real.hash.map(|o| o.len()));
        // and it is fresh for every hasher
        let other = PasswordHasher::new(cheap(), &rng).unwrap();
        assert_ne!(h.dummy, other.dummy);
    }

    #[test]
    fn same_password_gets_different_salts() {
        let rng = SeededRandom::new(9);
        let h = PasswordHasher::new(cheap(), &rng).unwrap();
        let pw = Secret::new("correct horse battery staple");
        assert_ne!(h.hash(&pw, &rng).unwrap(), h.hash(&pw, &rng).unwrap());
    }

    #[test]
    fn strength_rules() {
        let p = PasswordParams::default();
        let weak = |s: &str| check_strength(&Secret::new(s), &p, &["jane@example.com"]).is_err();
        assert!(weak("short"));
        assert!(weak("password123"));
        assert!(weak("qwertyuiop"));
        assert!(weak("jane@example.com"));
        assert!(weak(&"x".repeat(300)));
        assert!(!weak("correct horse battery staple"));
        assert!(!weak("vX9#qL2!mZ7$wR"));
    }

    #[test]
    fn params_are_checked() {
        let bad = PasswordParams {
            memory_kib: 1,
            min_length: 3,
            min_score: 9,
            ..PasswordParams::default()
        };
        let fields: Vec<_> = bad.problems().into_iter().map(|(f, _)| f).collect();
        assert_eq!(fields, ["memory_kib", "min_length", "min_score"]);
    }
}
