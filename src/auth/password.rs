//! Password hashing with argon2id (OWASP parameters) on a bounded blocking pool. Imported
//! bcrypt hashes verify too, until `needs_rehash` has them replaced.
//!
//! # Security
//! Hashing runs on `spawn_blocking` behind a semaphore, so a storm of logins queues here
//! instead of stalling the runtime that serves proxied traffic. Unknown users are verified
//! against a dummy hash so both answers take the same time. The queue's depth and each hash's
//! wait are metrics (`sessiongate_hash_pool_queue_depth`, `sessiongate_hash_pool_wait_seconds`).

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;
use tracing::Span;

/// Password length bounds of App Services' local-userpass provider, in characters.
pub const MIN_LEN: usize = 6;
pub const MAX_LEN: usize = 128;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password must be between {MIN_LEN} and {MAX_LEN} characters")]
    Length,
    #[error("password hashing failed: {0}")]
    Hashing(String),
}

pub struct Passwords {
    permits: Arc<Semaphore>,
    dummy_hash: Arc<str>,
}

/// OWASP's argon2id recommendation: 19 MiB, 2 iterations, 1 lane.
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("OWASP argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_blocking(password: &[u8]) -> Result<String, PasswordError> {
    let salt_bytes: [u8; 16] = crate::ids::random_bytes();
    let salt = SaltString::encode_b64(&salt_bytes)
        .map_err(|err| PasswordError::Hashing(err.to_string()))?;
    argon2()
        .hash_password(password, &salt)
        .map(|hash| hash.to_string())
        .map_err(|err| PasswordError::Hashing(err.to_string()))
}

/// The start of every hash `argon2()` makes: a hash that does not start so (bcrypt, or
/// argon2id with other parameters, brought by an import) is rehashed at the next login.
const CURRENT_PREFIX: &str = "$argon2id$v=19$m=19456,t=2,p=1$";

/// Verifies argon2id (with the parameters in the hash) and, for imported hashes, bcrypt.
fn verify_blocking(password: &[u8], hash: &str) -> bool {
    if ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p)) {
        return bcrypt::verify(password, hash).unwrap_or(false);
    }
    PasswordHash::new(hash).is_ok_and(|parsed| {
        parsed.algorithm.as_str() == "argon2id"
            && argon2().verify_password(password, &parsed).is_ok()
    })
}

/// Whether a verified `hash` should be replaced by one made with the gateway's own scheme
/// and parameters (an imported bcrypt or differently tuned argon2id hash).
pub fn needs_rehash(hash: &str) -> bool {
    !hash.starts_with(CURRENT_PREFIX)
}

/// Checks App Services' length rule (counted in characters, not bytes).
pub fn check_length(password: &str) -> Result<(), PasswordError> {
    let len = password.chars().count();
    if (MIN_LEN..=MAX_LEN).contains(&len) {
        Ok(())
    } else {
        Err(PasswordError::Length)
    }
}

impl Passwords {
    /// `concurrency`: how many hashes may run at once (the rest wait their turn).
    pub fn new(concurrency: usize) -> Self {
        let random: [u8; 32] = crate::ids::random_bytes();
        let dummy =
            hash_blocking(&random).expect("hashing random bytes with valid parameters succeeds");
        Self {
            permits: Arc::new(Semaphore::new(concurrency)),
            dummy_hash: dummy.into(),
        }
    }

    pub async fn hash(&self, password: &str) -> Result<String, PasswordError> {
        check_length(password)?;
        let password = password.as_bytes().to_vec();
        self.run(move || hash_blocking(&password)).await?
    }

    /// Verifies against `hash`, or against the dummy hash when the user is unknown; the
    /// answer for an unknown user is always `false`, after the same work.
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> bool {
        let known = hash.is_some();
        let hash: Arc<str> = hash.map_or_else(|| self.dummy_hash.clone(), Arc::from);
        let password = password.as_bytes().to_vec();
        let ok = self
            .run(move || verify_blocking(&password, &hash))
            .await
            .unwrap_or(false);
        ok && known
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let queued = crate::metrics::hash_pool_queued();
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| PasswordError::Hashing("password pool closed".to_owned()))?;
        queued.admitted();
        let span = Span::current();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            span.in_scope(work)
        })
        .await
        .map_err(|err| PasswordError::Hashing(err.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_is_argon2id_phc_and_verifies() {
        let passwords = Passwords::new(2);
        let hash = passwords.hash("Pa55w0rd").await.unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(!hash.contains("Pa55w0rd"));
        assert!(passwords.verify("Pa55w0rd", Some(&hash)).await);
        assert!(!passwords.verify("wrong-password", Some(&hash)).await);
    }

    #[tokio::test]
    async fn imported_bcrypt_and_foreign_argon2id_verify_and_need_a_rehash() {
        let passwords = Passwords::new(1);
        let bcrypt_hash = bcrypt::hash("Pa55w0rd", 4).unwrap();
        assert!(passwords.verify("Pa55w0rd", Some(&bcrypt_hash)).await);
        assert!(!passwords.verify("wrong-password", Some(&bcrypt_hash)).await);
        assert!(needs_rehash(&bcrypt_hash));
        let params = Params::new(8 * 1024, 1, 1, None).unwrap();
        let light = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let foreign = light.hash_password(b"Pa55w0rd", &salt).unwrap().to_string();
        assert!(passwords.verify("Pa55w0rd", Some(&foreign)).await);
        assert!(needs_rehash(&foreign));
        let own = passwords.hash("Pa55w0rd").await.unwrap();
        assert!(!needs_rehash(&own));
        // argon2i is not argon2id: refused even with the right password.
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, Params::default())
            .hash_password(b"Pa55w0rd", &salt)
            .unwrap()
            .to_string();
        assert!(!passwords.verify("Pa55w0rd", Some(&argon2i)).await);
        assert!(!passwords.verify("Pa55w0rd", Some("")).await);
    }

    #[tokio::test]
    async fn unknown_user_never_verifies_even_with_the_dummy_password() {
        let passwords = Passwords::new(1);
        assert!(!passwords.verify("anything", None).await);
    }

    #[test]
    fn length_rule_counts_characters() {
        assert!(check_length("12345").is_err());
        assert!(check_length("123456").is_ok());
        assert!(check_length(&"é".repeat(128)).is_ok());
        assert!(check_length(&"é".repeat(129)).is_err());
    }
}
