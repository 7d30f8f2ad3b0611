//! The hot write transactions of the auth service with nothing around them, for the
//! benchmark harness's write floors: the same store calls a refresh and a logout
//! make, on a database of the harness's choosing, without gRPC, signing or a gateway.
//! Not part of the service's API.

use bookshelf_runtime::{
    clock::Clock,
    db::{self, DbError},
    sqlite_writes::Synchronous,
};

use crate::{
    config::{DEFAULT_REFRESH_TTL_SECS, DEFAULT_SESSION_MAX_SECS},
    domain::{
        Email, PasswordHash, RefreshToken, SessionId, UserId, UserName,
        session::{ClientSeen, Lifetimes},
    },
    store::{Store, StoreError, refresh_tokens::Rotation, sessions::Ending, throttle::Limit},
};

/// The allowance of failed refreshes: as the harness's stack has it, never reached.
const ATTEMPTS: u32 = 100_000_000;

/// Why a floor's transaction did not do its work.
#[derive(Debug, thiserror::Error)]
pub enum FloorError {
    /// The database could not be opened.
    #[error("cannot open the database")]
    Open(#[from] DbError),
    /// A store call failed.
    #[error("store call failed")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The transaction ran but did not do the work (a refresh refused, a session not
    /// ended).
    #[error("the transaction did not do its work")]
    NotDone,
}

/// One session opened by [`WriteFloor::open_sessions`].
#[derive(Debug, Clone)]
pub struct FloorSession {
    id: String,
    /// Its refresh token, as a client holds it.
    pub refresh_token: String,
}

/// A migrated database with one account, whose sessions the floors refresh and end.
#[derive(Debug, Clone)]
pub struct WriteFloor {
    store: Store,
    user: UserId,
    lifetimes: Lifetimes,
    clock: Clock,
}

impl WriteFloor {
    /// Opens and migrates the database at `url` (with `synchronous` on SQLite) and
    /// adds an account.
    pub async fn open(url: &str, synchronous: Synchronous) -> Result<Self, FloorError> {
        let database = db::connect_with(url, &sqlx::migrate!(), synchronous).await?;
        let store = Store::new(database);
        let user = UserId::generate();
        let email = format!("floor-{user}@example.com");
        let clock = Clock::system();
        store
            .insert_user(
                &user,
                &UserName::parse("Write Floor").expect("a valid name"),
                &Email::parse(&email).expect("a valid email"),
                &PasswordHash::from_phc("$argon2id$v=19$m=19456,t=2,p=1$unused".into()),
                clock.now_ms(),
            )
            .await?;
        let ms = |secs: u64| secs as i64 * 1000;
        Ok(Self {
            store,
            user,
            lifetimes: Lifetimes {
                access_ms: ms(24 * 60 * 60),
                refresh_ms: ms(DEFAULT_REFRESH_TTL_SECS),
                session_ms: ms(DEFAULT_SESSION_MAX_SECS),
            },
            clock,
        })
    }

    /// Opens `count` sessions, as logins do once the password is proven.
    pub async fn open_sessions(&self, count: usize) -> Result<Vec<FloorSession>, FloorError> {
        let mut sessions = Vec::with_capacity(count);
        for _ in 0..count {
            let id = SessionId::generate();
            let refresh_token = RefreshToken::generate();
            self.store
                .open_session(
                    &id,
                    &self.user,
                    0,
                    &ClientSeen::default(),
                    &refresh_token.digest(),
                    self.clock.now_ms(),
                    self.lifetimes,
                )
                .await?
                .ok_or(FloorError::NotDone)?;
            sessions.push(FloorSession {
                id: id.as_str().to_owned(),
                refresh_token: refresh_token.expose().to_owned(),
            });
        }
        Ok(sessions)
    }

    /// A refresh's transaction: spends `refresh_token`, answers the next one.
    pub async fn refresh(&self, refresh_token: &str) -> Result<String, FloorError> {
        let presented = RefreshToken::presented(refresh_token).ok_or(FloorError::NotDone)?;
        let replacement = RefreshToken::generate();
        let limit = Limit {
            key: "address:floor".to_owned(),
            max: ATTEMPTS,
        };
        let rotation = self
            .store
            .rotate_refresh_token(
                &presented.digest(),
                &replacement.digest(),
                &ClientSeen::default(),
                self.clock.now_ms(),
                self.lifetimes,
                (&limit, 15 * 60 * 1000),
            )
            .await?;
        match rotation {
            Rotation::Rotated { .. } => Ok(replacement.expose().to_owned()),
            _ => Err(FloorError::NotDone),
        }
    }

    /// A logout's transaction: ends `session`.
    pub async fn logout(&self, session: &FloorSession) -> Result<(), FloorError> {
        let id = SessionId::issued(session.id.clone());
        let ended = self
            .store
            .end_sessions(&self.user, Ending::One(&id), self.clock.now_ms())
            .await?;
        if ended == 1 {
            Ok(())
        } else {
            Err(FloorError::NotDone)
        }
    }
}

impl From<StoreError> for FloorError {
    fn from(error: StoreError) -> Self {
        Self::Store(Box::new(error))
    }
}
