//! Whole transactions run again when they lose to concurrent ones, and how failing
//! at every try is answered.

use std::{
    borrow::Cow,
    error::Error,
    fmt,
    sync::atomic::{AtomicU32, Ordering},
};

use sqlx::error::{DatabaseError, ErrorKind};
use tonic::{Code, Status};
use tonic_types::StatusExt;

use super::{CONTENDED_ATTEMPTS, SEQUENCE_ATTEMPTS, StoreError, retrying, users::UserRecord};
use crate::{
    domain::{Email, PasswordHash, UserId, UserName},
    error::AuthError,
};

/// A database error with only an SQLSTATE, as PostgreSQL reports a deadlock's victim.
#[derive(Debug)]
struct Sqlstate(&'static str);

impl fmt::Display for Sqlstate {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "SQLSTATE {}", self.0)
    }
}

impl Error for Sqlstate {}

impl DatabaseError for Sqlstate {
    fn message(&self) -> &str {
        "failed"
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Borrowed(self.0))
    }

    fn as_error(&self) -> &(dyn Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> ErrorKind {
        match self.0 {
            "23505" => ErrorKind::UniqueViolation,
            _ => ErrorKind::Other,
        }
    }
}

fn failed(sqlstate: &'static str) -> sqlx::Error {
    sqlx::Error::Database(Box::new(Sqlstate(sqlstate)))
}

/// How often `retrying` runs a transaction that always fails with `sqlstate`, and
/// what it answers in the end.
async fn always_failing(sqlstate: &'static str) -> (u32, StoreError) {
    let runs = AtomicU32::new(0);
    let error = retrying(|| async {
        runs.fetch_add(1, Ordering::SeqCst);
        Err::<(), _>(failed(sqlstate))
    })
    .await
    .expect_err("it never succeeds");
    (runs.load(Ordering::SeqCst), error)
}

#[tokio::test]
async fn a_deadlock_victim_is_run_again_from_its_start_until_it_commits() {
    let runs = AtomicU32::new(0);
    let committed = retrying(|| async {
        match runs.fetch_add(1, Ordering::SeqCst) {
            0 => Err(failed("40P01")),
            1 => Err(failed("40001")),
            _ => Ok("committed"),
        }
    })
    .await;
    assert_eq!(committed.expect("the third run"), "committed");
    assert_eq!(runs.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn contention_at_every_try_is_answered_unavailable_with_a_delay() {
    for (sqlstate, attempts) in [
        ("40P01", CONTENDED_ATTEMPTS),
        ("40001", CONTENDED_ATTEMPTS),
        ("23505", SEQUENCE_ATTEMPTS),
    ] {
        let (runs, error) = always_failing(sqlstate).await;
        assert_eq!(runs, attempts, "{sqlstate}");
        assert!(matches!(error, StoreError::Contended(_)), "{sqlstate}");
        let status = Status::from(AuthError::Store(error));
        assert_eq!(status.code(), Code::Unavailable, "{sqlstate}");
        assert!(status.get_details_retry_info().is_some(), "{sqlstate}");
    }
}

#[tokio::test]
async fn other_failures_are_not_run_again_and_stay_internal() {
    let (runs, error) = always_failing("23502").await;
    assert_eq!(runs, 1);
    assert!(matches!(error, StoreError::Database(_)));
    assert_eq!(Status::from(AuthError::Store(error)).code(), Code::Internal);
}

#[test]
fn a_user_record_prints_no_password_hash() {
    let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo";
    let user = UserRecord {
        id: UserId::issued("4f0c6a52-8d7e-4c3b-9a61-0f2d3e4c5b6a".into()),
        name: UserName::stored("Ada Lovelace".into()),
        email: Email::stored("ada@example.com".into()),
        password_hash: Some(PasswordHash::from_phc(hash.into())),
        created_at: 1,
        disabled_at: None,
        credential_version: 0,
    };
    let printed = format!("{user:?}");
    assert!(!printed.contains("c2FsdHNhbHQ"), "{printed}");
    assert!(!printed.contains("argon2id"), "{printed}");
    assert!(printed.contains("ada@example.com"), "{printed}");
}
