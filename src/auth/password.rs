//! Password hashing with argon2id (OWASP parameters) on a bounded blocking pool. Imported
//! bcrypt hashes verify too, until `needs_rehash` has them replaced.
//!
//! # Security
//! Hashing runs on dedicated low-priority threads (`pool`) behind a semaphore, so a storm of
//! logins queues here instead of stalling the runtime that serves proxied traffic, and the
//! hashes that run yield the CPU to it. Unknown users are verified
//! against a dummy hash so both answers take the same time. The queue's depth and each hash's
//! wait are metrics (`sessiongate_hash_pool_queue_depth`, `sessiongate_hash_pool_wait_seconds`).
//!
//! The queue is bounded (`auth.password_hash_queue`): a hash that would wait behind more than
//! that many others is refused at once (`PasswordError::Busy`, answered 503 with
//! `Retry-After`), so a login storm beyond the pool's capacity is shed in microseconds instead
//! of queueing for seconds (`sessiongate_login_shed_total`).

mod pool;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use self::pool::HashThreads;
use crate::telemetry::RequestContext;

/// Password length bounds of App Services' local-userpass provider, in characters.
pub const MIN_LEN: usize = 6;
pub const MAX_LEN: usize = 128;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password must be between {MIN_LEN} and {MAX_LEN} characters")]
    Length,
    #[error("password hashing failed: {0}")]
    Hashing(String),
    /// The hash pool and its queue are full: try again shortly.
    #[error("too many logins at once")]
    Busy,
}

pub struct Passwords {
    permits: Arc<Semaphore>,
    /// Most hashes that may wait for a permit (`auth.password_hash_queue`).
    queue_bound: usize,
    /// Hashes waiting for a permit now.
    waiting: AtomicUsize,
    /// Hashes (and verifications) run so far by this pool.
    runs: AtomicU64,
    dummy_hash: Arc<str>,
    /// One thread per permit.
    threads: HashThreads,
}

/// Takes one place in the wait queue back when dropped (the waiter got its permit or gave up).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
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
    /// `concurrency`: how many hashes may run at once; `queue`: how many more may wait their
    /// turn (beyond that a hash is refused with `PasswordError::Busy`).
    pub fn new(concurrency: usize, queue: usize) -> Self {
        let random: [u8; 32] = crate::ids::random_bytes();
        let dummy =
            hash_blocking(&random).expect("hashing random bytes with valid parameters succeeds");
        Self {
            permits: Arc::new(Semaphore::new(concurrency)),
            queue_bound: queue,
            waiting: AtomicUsize::new(0),
            runs: AtomicU64::new(0),
            dummy_hash: dummy.into(),
            threads: HashThreads::start(concurrency),
        }
    }

    /// How many hashes and verifications this pool has run (tests check that a refused login
    /// ran none).
    pub fn runs(&self) -> u64 {
        self.runs.load(Ordering::Relaxed)
    }

    pub async fn hash(&self, password: &str) -> Result<String, PasswordError> {
        check_length(password)?;
        let password = password.as_bytes().to_vec();
        self.run(move || hash_blocking(&password)).await?
    }

    /// Verifies against `hash`, or against the dummy hash when the user is unknown; the
    /// answer for an unknown user is always `false`, after the same work. `Err(Busy)` when
    /// the pool's queue is full (nothing was verified).
    pub async fn verify(&self, password: &str, hash: Option<&str>) -> Result<bool, PasswordError> {
        let known = hash.is_some();
        let hash: Arc<str> = hash.map_or_else(|| self.dummy_hash.clone(), Arc::from);
        let password = password.as_bytes().to_vec();
        let ok = match self.run(move || verify_blocking(&password, &hash)).await {
            Ok(ok) => ok,
            Err(PasswordError::Busy) => return Err(PasswordError::Busy),
            Err(_) => false,
        };
        Ok(ok && known)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, PasswordError> {
        let permit =
            match self.permits.clone().try_acquire_owned() {
                Ok(permit) => {
                    crate::metrics::hash_pool_admitted_at_once();
                    permit
                }
                Err(tokio::sync::TryAcquireError::Closed) => {
                    return Err(PasswordError::Hashing("password pool closed".to_owned()));
                }
                Err(tokio::sync::TryAcquireError::NoPermits) => {
                    if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.queue_bound {
                        self.waiting.fetch_sub(1, Ordering::AcqRel);
                        crate::metrics::record_login_shed();
                        return Err(PasswordError::Busy);
                    }
                    let _waiting = Waiting(&self.waiting);
                    let queued = crate::metrics::hash_pool_queued();
                    let permit =
                        self.permits.clone().acquire_owned().await.map_err(|_| {
                            PasswordError::Hashing("password pool closed".to_owned())
                        })?;
                    queued.admitted();
                    permit
                }
            };
        self.runs.fetch_add(1, Ordering::Relaxed);
        let context = RequestContext::current();
        self.threads
            .run(move || {
                let _permit = permit;
                context.in_scope(work)
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
        let passwords = Passwords::new(2, 8);
        let hash = passwords.hash("Pa55w0rd").await.unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(!hash.contains("Pa55w0rd"));
        assert!(passwords.verify("Pa55w0rd", Some(&hash)).await.unwrap());
        assert!(
            !passwords
                .verify("wrong-password", Some(&hash))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn imported_bcrypt_and_foreign_argon2id_verify_and_need_a_rehash() {
        let passwords = Passwords::new(1, 8);
        let bcrypt_hash = bcrypt::hash("Pa55w0rd", 4).unwrap();
        assert!(
            passwords
                .verify("Pa55w0rd", Some(&bcrypt_hash))
                .await
                .unwrap()
        );
        assert!(
            !passwords
                .verify("wrong-password", Some(&bcrypt_hash))
                .await
                .unwrap()
        );
        assert!(needs_rehash(&bcrypt_hash));
        let params = Params::new(8 * 1024, 1, 1, None).unwrap();
        let light = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let foreign = light.hash_password(b"Pa55w0rd", &salt).unwrap().to_string();
        assert!(passwords.verify("Pa55w0rd", Some(&foreign)).await.unwrap());
        assert!(needs_rehash(&foreign));
        let own = passwords.hash("Pa55w0rd").await.unwrap();
        assert!(!needs_rehash(&own));
        // argon2i is not argon2id: refused even with the right password.
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, Params::default())
            .hash_password(b"Pa55w0rd", &salt)
            .unwrap()
            .to_string();
        assert!(!passwords.verify("Pa55w0rd", Some(&argon2i)).await.unwrap());
        assert!(!passwords.verify("Pa55w0rd", Some("")).await.unwrap());
    }

    #[tokio::test]
    async fn unknown_user_never_verifies_even_with_the_dummy_password() {
        let passwords = Passwords::new(1, 8);
        assert!(!passwords.verify("anything", None).await.unwrap());
    }

    #[tokio::test]
    async fn a_hash_beyond_the_queue_bound_is_refused_at_once() {
        let passwords = Arc::new(Passwords::new(1, 0));
        let hash = passwords.hash("Pa55w0rd").await.unwrap();
        let before = passwords.runs();
        // Hold the only permit, so the next verification would have to wait.
        let held = passwords.permits.clone().acquire_owned().await.unwrap();
        assert!(matches!(
            passwords.verify("Pa55w0rd", Some(&hash)).await,
            Err(PasswordError::Busy)
        ));
        assert!(matches!(
            passwords.hash("Pa55w0rd").await,
            Err(PasswordError::Busy)
        ));
        assert_eq!(passwords.runs(), before, "a refused hash never ran");
        drop(held);
        assert!(passwords.verify("Pa55w0rd", Some(&hash)).await.unwrap());
        assert_eq!(passwords.runs(), before + 1);
    }

    #[tokio::test]
    async fn waiters_up_to_the_bound_queue_and_run() {
        let passwords = Arc::new(Passwords::new(1, 1));
        let held = passwords.permits.clone().acquire_owned().await.unwrap();
        let waiter = tokio::spawn({
            let passwords = passwords.clone();
            async move { passwords.verify("x", None).await }
        });
        // Wait (with a deadline) until the first verification is queued.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while passwords.waiting.load(Ordering::Acquire) == 0 {
            assert!(std::time::Instant::now() < deadline, "never queued");
            tokio::task::yield_now().await;
        }
        assert!(matches!(
            passwords.verify("x", None).await,
            Err(PasswordError::Busy)
        ));
        drop(held);
        assert!(!waiter.await.unwrap().unwrap());
        assert_eq!(passwords.waiting.load(Ordering::Acquire), 0);
    }

    #[test]
    fn length_rule_counts_characters() {
        assert!(check_length("12345").is_err());
        assert!(check_length("123456").is_ok());
        assert!(check_length(&"é".repeat(128)).is_ok());
        assert!(check_length(&"é".repeat(129)).is_err());
    }
}
