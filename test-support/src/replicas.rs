//! Two replicas of the whole stack as child processes, sharing what replicas share in
//! production: one PostgreSQL database per service, one S3 bucket of covers, and one
//! signing key.

use std::sync::Arc;

use base64::{Engine, engine::general_purpose::STANDARD};
use ring::{rand::SystemRandom, signature::Ed25519KeyPair};

use crate::{
    ProcessStack, TestDatabase,
    buckets::{S3_VARIABLE, TestBucket, TestCovers},
    database::POSTGRES_VARIABLE,
};

/// Two stacks, each a gateway wired to its own auth and library processes (the
/// library following its own auth service's revocation feed), over one auth database,
/// one library database and one bucket. Dropping it kills all six processes.
pub struct Replicas {
    /// Replica 0 and replica 1.
    pub stacks: [ProcessStack; 2],
    /// The bucket both libraries keep their covers in.
    pub bucket: TestBucket,
}

impl Replicas {
    /// Starts both replicas with `env` given to every process, and waits until both
    /// gateways say healthy. Panics, naming what is missing, unless
    /// `BOOKSHELF_TEST_POSTGRES` and `BOOKSHELF_TEST_S3` name servers: replicas on
    /// SQLite files or cover folders would share nothing.
    pub async fn spawn(env: &[(&str, &str)]) -> Self {
        let postgres = std::env::var(POSTGRES_VARIABLE)
            .ok()
            .filter(|url| !url.is_empty());
        let s3 = std::env::var(S3_VARIABLE)
            .ok()
            .filter(|url| !url.is_empty());
        let (Some(postgres), Some(s3)) = (postgres, s3) else {
            panic!(
                "replicas need a shared database and bucket: set {POSTGRES_VARIABLE} (a \
                 PostgreSQL admin URL) and {S3_VARIABLE} (an S3-compatible server's URL)"
            );
        };
        let bucket = TestBucket::create_on(&s3).await;
        // On PostgreSQL no database lives in a folder; this one only satisfies the call.
        let scratch = tempfile::tempdir().expect("a temporary folder");
        let databases = Arc::new([
            TestDatabase::create_on(scratch.path(), "auth", Some(&postgres)).await,
            TestDatabase::create_on(scratch.path(), "library", Some(&postgres)).await,
        ]);

        // One first signing key, and one encryption key so that each replica opens
        // the keys the other adds to the set.
        let mut shared = vec![
            ("AUTH_SIGNING_KEY".to_owned(), signing_key_pem()),
            ("AUTH_ENCRYPTION_KEY".to_owned(), encryption_key()),
        ];
        shared.extend(bucket.process_env());
        shared.extend(
            env.iter()
                .map(|(key, value)| (key.to_string(), value.to_string())),
        );
        let shared: Vec<(&str, &str)> = shared
            .iter()
            .map(|(key, value)| (key.as_str(), value.as_str()))
            .collect();

        // Both at once, as an orchestrator starts them: each migrates the shared
        // databases, which must be safe to race.
        let (first, second) = tokio::join!(
            ProcessStack::spawn_in(temporary(), databases.clone(), &shared),
            ProcessStack::spawn_in(temporary(), databases, &shared),
        );
        Self {
            stacks: [first, second],
            bucket,
        }
    }

    /// The covers both replicas keep, as a test reads them.
    pub fn covers(&self) -> TestCovers {
        TestCovers::Bucket(self.bucket.clone())
    }

    /// Everything all six processes logged so far, each replica's under its name.
    pub fn logs(&self) -> String {
        self.stacks
            .iter()
            .enumerate()
            .map(|(index, stack)| format!("==== replica {index}\n{}", stack.logs()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn temporary() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temporary folder")
}

/// A new encryption key as the auth service reads it from `AUTH_ENCRYPTION_KEY`.
pub fn encryption_key() -> String {
    use secrecy::ExposeSecret;
    auth_service::sealing::SealingKey::generate_base64()
        .expect("randomness")
        .expose_secret()
        .to_owned()
}

/// A new Ed25519 signing key as the auth service reads it from `AUTH_SIGNING_KEY`:
/// PKCS#8 DER in base64 between PEM `PRIVATE KEY` lines.
pub fn signing_key_pem() -> String {
    let document = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("keygen");
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        STANDARD.encode(document.as_ref())
    )
}
