//! Password hashing: argon2id with OWASP's parameters, on a pool of its own threads.

use std::{cell::RefCell, sync::Arc, time::Duration};

use argon2::{
    ARGON2ID_IDENT, Algorithm, Argon2, Block, Params, Version,
    password_hash::{Output, ParamsString, PasswordHash, SaltString, rand_core::OsRng},
};
use bookshelf_runtime::workers::{WorkError, WorkerPool};

use crate::domain::{Password, PasswordHash as StoredHash};

/// Why hashing failed; never the password's fault, always the server's.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// argon2 refused its input or a stored hash is corrupt.
    #[error("password hashing failed: {0}")]
    Hash(argon2::password_hash::Error),
    /// Too many hashes already wait for a thread: nothing was hashed.
    #[error("the hashing queue is full")]
    Busy {
        /// When trying again is worthwhile.
        retry_after: Duration,
    },
    /// The hashing threads are gone, or the job panicked.
    #[error("password hashing threads failed")]
    Worker(#[source] WorkError),
}

/// What a caller refused for a full queue is told to wait: about the time a full queue
/// takes to drain.
const BUSY_RETRY_AFTER: Duration = Duration::from_secs(1);

impl From<WorkError> for PasswordError {
    fn from(error: WorkError) -> Self {
        match error {
            WorkError::Busy => Self::Busy {
                retry_after: BUSY_RETRY_AFTER,
            },
            WorkError::Gone | WorkError::Panicked => Self::Worker(error),
        }
    }
}

/// argon2id, m = 19 MiB, t = 2, p = 1: OWASP's Password Storage Cheat Sheet.
fn owasp_params() -> Params {
    Params::new(19 * 1024, 2, 1, Some(32)).expect("OWASP parameters are valid")
}

thread_local! {
    /// This thread's argon2 working memory, allocated once and reused: allocating
    /// 19 MiB per hash leaves the allocator keeping several such buffers per thread.
    static BLOCKS: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// The argon2id output of `password` and `salt` under `params`, into `out`.
fn argon2id(
    params: Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), PasswordError> {
    BLOCKS.with_borrow_mut(|blocks| {
        // Every block is written before it is read, so old contents do not matter.
        blocks.resize(params.block_count(), Block::default());
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into_with_memory(password, salt, out, blocks.as_mut_slice())
            .map_err(|error| PasswordError::Hash(error.into()))
    })
}

/// A PHC string (`$argon2id$v=19$m=...,t=...,p=...$salt$hash`) for `password`.
fn phc_string(password: &[u8]) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let salt_raw = salt
        .as_salt()
        .decode_b64(&mut salt_bytes)
        .map_err(PasswordError::Hash)?;
    let params = owasp_params();
    let mut out = [0u8; 32];
    argon2id(params.clone(), password, salt_raw, &mut out)?;
    let hash = PasswordHash {
        algorithm: ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(PasswordError::Hash)?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(PasswordError::Hash)?),
    };
    Ok(hash.to_string())
}

/// Whether `password` matches the PHC string `stored` (compared in constant time).
fn matches(password: &[u8], stored: &str) -> Result<bool, PasswordError> {
    let corrupt = || PasswordError::Hash(argon2::password_hash::Error::PhcStringField);
    let parsed = PasswordHash::new(stored).map_err(PasswordError::Hash)?;
    if parsed.algorithm != ARGON2ID_IDENT {
        return Err(corrupt());
    }
    let params = Params::try_from(&parsed).map_err(PasswordError::Hash)?;
    let expected = parsed.hash.ok_or_else(corrupt)?;
    let mut salt_bytes = [0u8; 64];
    let salt = parsed
        .salt
        .ok_or_else(corrupt)?
        .decode_b64(&mut salt_bytes)
        .map_err(PasswordError::Hash)?;
    let mut out = vec![0u8; expected.len()];
    argon2id(params, password, salt, &mut out)?;
    // `Output`'s equality is constant-time.
    Ok(Output::new(&out).map_err(PasswordError::Hash)? == expected)
}

/// How far the hashing threads' scheduling priority is lowered (Linux keeps a nice
/// value per thread; 10 gives them about a tenth of a core's share against others).
const HASHING_NICENESS: i32 = 10;

/// Hashes and verifies passwords on a pool of its own threads, never on the async
/// workers. The pool has `concurrency` threads, so a login flood queues here instead
/// of starving other requests; and since each thread keeps the 19 MiB argon2 needs,
/// memory stays at `concurrency` times that however long the flood lasts. At most
/// `max_waiting` hashes queue: past that a flood is refused at once rather than
/// making every caller, honest ones included, wait behind it; and a hash whose caller
/// has gone (a client that gave up) is skipped, so a flood ends when its clients stop.
#[derive(Clone)]
pub struct Passwords {
    pool: WorkerPool,
    /// Verified against when the email is unknown, so both failures cost one hash.
    dummy_hash: Arc<str>,
}

impl Passwords {
    /// A hasher with `concurrency` threads, below every request-serving thread in
    /// priority: a login flood must not slow other requests, so the scheduler gives
    /// reads the cores first. They end when every clone is dropped.
    pub fn new(concurrency: usize) -> Self {
        Self::with_max_waiting(concurrency, usize::MAX)
    }

    /// Like [`Passwords::new`], refusing hashes at once while `max_waiting` wait.
    pub(crate) fn with_max_waiting(concurrency: usize, max_waiting: usize) -> Self {
        let dummy_hash =
            phc_string(b"not a password of anyone").expect("hashing a constant succeeds");
        // Made on the caller's thread, which hashes nothing else: give its memory back.
        BLOCKS.with_borrow_mut(|blocks| *blocks = Vec::new());
        Self {
            pool: WorkerPool::with_max_waiting(
                "argon2",
                concurrency,
                HASHING_NICENESS,
                max_waiting,
            ),
            dummy_hash: dummy_hash.into(),
        }
    }

    /// The PHC string of `password`, with a fresh salt.
    pub async fn hash(&self, password: Password) -> Result<StoredHash, PasswordError> {
        self.run(move || phc_string(password.expose().as_bytes()).map(StoredHash::from_phc))
            .await
    }

    /// Whether `password` matches `stored`. With no stored hash (unknown email) it
    /// verifies against a dummy hash and answers false, in about the same time.
    pub async fn verify(
        &self,
        password: Password,
        stored: Option<StoredHash>,
    ) -> Result<bool, PasswordError> {
        let known = stored.is_some();
        let hash = stored.map_or_else(|| self.dummy_hash.to_string(), StoredHash::into_phc);
        let matches = self
            .run(move || matches(password.expose().as_bytes(), &hash))
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

#[cfg(test)]
mod tests {
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    use super::*;

    fn reference() -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, owasp_params())
    }

    #[test]
    fn our_phc_strings_are_standard_argon2id() {
        let stored = phc_string(b"Corr3ct-Horse!").unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{stored}"
        );
        let parsed = PasswordHash::new(&stored).unwrap();
        assert!(
            reference()
                .verify_password(b"Corr3ct-Horse!", &parsed)
                .is_ok()
        );
        assert!(
            reference()
                .verify_password(b"Corr3ct-Horse?", &parsed)
                .is_err()
        );
    }

    #[test]
    fn standard_argon2id_strings_verify_here() {
        let salt = SaltString::generate(&mut OsRng);
        let stored = reference()
            .hash_password(b"Corr3ct-Horse!", &salt)
            .unwrap()
            .to_string();
        assert!(matches(b"Corr3ct-Horse!", &stored).unwrap());
        assert!(!matches(b"corr3ct-Horse!", &stored).unwrap());
        assert!(matches(b"x", "$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA").is_err());
    }
}
