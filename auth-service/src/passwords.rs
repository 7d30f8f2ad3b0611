//! Password hashing: argon2id with OWASP's parameters, on a pool of its own threads.

use std::sync::Arc;

use argon2::{
    Algorithm, Argon2, Params, Version,
    password_hash::{
        PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString, rand_core::OsRng,
    },
};
use bookshelf_runtime::workers::{PoolGone, WorkerPool};

use crate::domain::Password;

/// Why hashing failed; never the password's fault, always the server's.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// argon2 refused its input or a stored hash is corrupt.
    #[error("password hashing failed: {0}")]
    Hash(argon2::password_hash::Error),
    /// The hashing threads are gone.
    #[error("password hashing threads failed")]
    Worker(#[from] PoolGone),
}

/// argon2id, m = 19 MiB, t = 2, p = 1: OWASP's Password Storage Cheat Sheet.
fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("OWASP parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// How far the hashing threads' scheduling priority is lowered (Linux keeps a nice
/// value per thread; 10 gives them about a tenth of a core's share against others).
const HASHING_NICENESS: i32 = 10;

/// Hashes and verifies passwords on a pool of its own threads, never on the async
/// workers. The pool has `concurrency` threads, so a login flood queues here instead
/// of starving other requests; and since each thread keeps the 19 MiB argon2 needs,
/// memory stays at `concurrency` times that however long the flood lasts.
#[derive(Clone)]
pub struct Passwords {
    pool: WorkerPool,
    /// Verified against when the email is unknown, so both failures cost one hash.
    dummy_hash: Arc<str>,
}

impl Passwords {
    /// A hasher with `concurrency` threads, below every request-serving thread in
    /// priority: under a login flood the scheduler still gives reads the cores first
    /// (DESIGN rule 3). They end when every clone is dropped.
    pub fn new(concurrency: usize) -> Self {
        let salt = SaltString::generate(&mut OsRng);
        let dummy_hash = argon2()
            .hash_password(b"not a password of anyone", &salt)
            .expect("hashing a constant succeeds")
            .to_string();
        Self {
            pool: WorkerPool::new("argon2", concurrency, HASHING_NICENESS),
            dummy_hash: dummy_hash.into(),
        }
    }

    /// The PHC string of `password`, with a fresh salt.
    pub async fn hash(&self, password: Password) -> Result<String, PasswordError> {
        self.run(move || {
            let salt = SaltString::generate(&mut OsRng);
            argon2()
                .hash_password(password.expose().as_bytes(), &salt)
                .map(|hash| hash.to_string())
                .map_err(PasswordError::Hash)
        })
        .await
    }

    /// Whether `password` matches `stored`. With no stored hash (unknown email) it
    /// verifies against a dummy hash and answers false, in about the same time.
    pub async fn verify(
        &self,
        password: Password,
        stored: Option<String>,
    ) -> Result<bool, PasswordError> {
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| self.dummy_hash.to_string());
        let matches = self
            .run(move || {
                let parsed = PasswordHash::new(&hash).map_err(PasswordError::Hash)?;
                Ok(argon2()
                    .verify_password(password.expose().as_bytes(), &parsed)
                    .is_ok())
            })
            .await?;
        Ok(known && matches)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, PasswordError> + Send + 'static,
    ) -> Result<T, PasswordError> {
        self.pool.run(work).await?
    }
}
