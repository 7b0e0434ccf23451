//! Password hashing with argon2id (OWASP parameters) on a bounded blocking pool.
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

fn verify_blocking(password: &[u8], hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| argon2().verify_password(password, &parsed).is_ok())
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
