//! The hot write transactions of the auth service with nothing around them, for the
//! benchmark harness's write floors: the same store calls a refresh, a logout and a
//! login's second step make, on a database of the harness's choosing, without gRPC,
//! signing or a gateway. It also prepares what the harness's rows on a running stack
//! need straight in that stack's database: sessions, and logins waiting for a TOTP
//! code. Not part of the service's API.

use bookshelf_runtime::{
    clock::Clock,
    db::{self, DbError},
    sqlite_writes::Synchronous,
};

use crate::{
    config::{DEFAULT_REFRESH_TTL_SECS, DEFAULT_SESSION_MAX_SECS},
    domain::{
        Email, PasswordHash, RefreshToken, SessionId, UserId, UserName,
        second_factor::{MfaToken, SecondFactor, TotpSecret},
        session::{ClientSeen, Lifetimes},
    },
    sealing::SealingKey,
    service::second_factor::secret_context,
    store::{
        Store, StoreError,
        refresh_tokens::{NewSession, Rotation},
        second_step::{CodeSpend, CodeStep, Guess, SecondStepEnd},
        sessions::Ending,
        throttle::Limit,
    },
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

/// How long a prepared login waits for its code: longer than any run.
const SECOND_STEP_TTL_MS: i64 = 60 * 60 * 1000;

/// The throttle's window, as the service's default.
const WINDOW_MS: i64 = 15 * 60 * 1000;

/// One login made by [`WriteFloor::second_steps`]: its password step done, waiting
/// for a TOTP code of its own account.
#[derive(Debug, Clone)]
pub struct FloorSecondStep {
    /// The `mfa_token` the second step brings back.
    pub mfa_token: String,
    /// The account's TOTP secret in base32, as its authenticator app holds it.
    pub totp_secret: String,
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
        let store = Store::open(database).await?;
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

impl WriteFloor {
    /// Makes `count` accounts with a confirmed TOTP factor, its secret sealed with
    /// `encryption_key` (base64, the service's `AUTH_ENCRYPTION_KEY` or the key in its
    /// data folder), and one login per account waiting for its code: one account
    /// each, since an account takes one code per 30 s step.
    pub async fn second_steps(
        &self,
        count: usize,
        encryption_key: &str,
    ) -> Result<Vec<FloorSecondStep>, FloorError> {
        let sealing = SealingKey::from_base64(encryption_key.trim()).map_err(boxed)?;
        let mut steps = Vec::with_capacity(count);
        for _ in 0..count {
            let user = UserId::generate();
            let now = self.clock.now_ms();
            self.store
                .insert_user(
                    &user,
                    &UserName::parse("Second Step").expect("a valid name"),
                    &Email::parse(&format!("floor-{user}@example.com")).expect("a valid email"),
                    &PasswordHash::from_phc("$argon2id$v=19$m=19456,t=2,p=1$unused".into()),
                    now,
                )
                .await?;
            let secret = TotpSecret::generate().map_err(boxed)?;
            let sealed = sealing
                .seal(secret.as_bytes(), &secret_context(&user))
                .map_err(boxed)?;
            self.store.begin_totp(&user, &sealed, now).await?;
            if !self.store.confirm_totp(&user, &sealed, 0, &[], now).await? {
                return Err(FloorError::NotDone);
            }
            let version = self
                .store
                .user_by_id(&user)
                .await?
                .ok_or(FloorError::NotDone)?
                .credential_version;
            let token = MfaToken::generate().map_err(boxed)?;
            self.store
                .insert_challenge(
                    &token.digest(),
                    &user,
                    version,
                    now,
                    now + SECOND_STEP_TTL_MS,
                )
                .await?;
            steps.push(FloorSecondStep {
                mfa_token: token.as_str().to_owned(),
                totp_secret: secret.base32(),
            });
        }
        Ok(steps)
    }

    /// A login's second step with a TOTP `code`, as the service runs it: the waiting
    /// login read, its limits read (a client at one is turned away without a lock),
    /// the code checked, the account read, then one transaction that
    /// counts the guess under the throttle, spends the code's step, gives the guess
    /// back, spends the login and opens its session.
    pub async fn second_step(
        &self,
        login: &FloorSecondStep,
        code: &str,
        encryption_key: &str,
    ) -> Result<(), FloorError> {
        let token = MfaToken::parse(&login.mfa_token).map_err(|_| FloorError::NotDone)?;
        let digest = token.digest();
        let challenge = self
            .store
            .challenge(&digest, self.clock.now_ms())
            .await?
            .ok_or(FloorError::NotDone)?;
        let user = &challenge.user_id;
        let limits = [
            Limit {
                key: format!("code:{user}"),
                max: ATTEMPTS,
            },
            Limit {
                key: format!("mfa-token:{digest}"),
                max: ATTEMPTS,
            },
        ];
        if self
            .store
            .refusal(&limits, self.clock.now_ms(), WINDOW_MS)
            .await?
            .is_some()
        {
            return Err(FloorError::NotDone);
        }
        let attempt = uuid::Uuid::new_v4().to_string();
        let factor = self
            .store
            .totp_factor(user)
            .await?
            .ok_or(FloorError::NotDone)?;
        let sealing = SealingKey::from_base64(encryption_key.trim()).map_err(boxed)?;
        let secret = TotpSecret::from_bytes(
            sealing
                .open(&factor.sealed_secret, &secret_context(user))
                .map_err(boxed)?,
        );
        let Ok(SecondFactor::Totp(code)) = SecondFactor::parse(code) else {
            return Err(FloorError::NotDone);
        };
        let step = secret
            .matching_step(&code, self.clock.now_secs())
            .map_err(boxed)?
            .ok_or(FloorError::NotDone)?;
        self.store
            .user_by_id(user)
            .await?
            .ok_or(FloorError::NotDone)?;
        let step = CodeStep {
            code: Some(CodeSpend::TotpStep(step as i64)),
            guess: Guess {
                attempt_id: &attempt,
                limits: &limits,
                window_ms: WINDOW_MS,
            },
            challenge_digest: &digest,
            session: NewSession {
                id: &SessionId::generate(),
                user_id: user,
                credential_version: challenge.credential_version,
                client: &ClientSeen::default(),
                refresh_digest: &RefreshToken::generate().digest(),
                now: self.clock.now_ms(),
                lifetimes: self.lifetimes,
            },
        };
        match self.store.finish_second_step(&step).await? {
            SecondStepEnd::Opened(_) => Ok(()),
            _ => Err(FloorError::NotDone),
        }
    }
}

/// A failure of the floor's own making (a key, a random source) as a store failure.
fn boxed(error: impl std::error::Error + Send + Sync + 'static) -> FloorError {
    FloorError::Store(Box::new(error))
}

impl From<StoreError> for FloorError {
    fn from(error: StoreError) -> Self {
        Self::Store(Box::new(error))
    }
}
