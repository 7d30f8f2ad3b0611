//! A login's second step with a code, in one transaction: the guess counted under
//! the throttle's limits (or refused, if one is full, whatever the code), then the
//! code spent, the guess given back, the waiting login spent and the session opened.
//! One commit instead of five. The guess is counted before anything else is read, so
//! concurrent guesses take turns under the limits' locks; and all of the rest or none
//! of it: a login whose session cannot open (its credentials changed meanwhile) spends
//! neither its code nor its `mfa_token`, and any step refused leaves its guess
//! counted (on PostgreSQL the rest runs under a savepoint, undone alone).
//!
//! Locks are taken in the order the factor's own changes take them (the user's
//! factor row, then the user's row), so they cannot deadlock with an enrolment or a
//! removal; on PostgreSQL a deadlock with anything else is run again whole
//! ([`retrying`]).

use bookshelf_runtime::sqlite_reads::{Connection, OptionalExtension, params, rusqlite};
use sqlx::{Acquire, AnyConnection};
use tracing::Instrument;

use super::{
    Store, StoreError,
    refresh_tokens::NewSession,
    retrying,
    sessions_sqlite::{OwnedSession, account_unchanged, insert_session},
    throttle::{
        Limit, Reserved, in_lock_order, release_on_sqlite, reserve_on_sqlite, reserve_within,
    },
};
use crate::domain::session::Expiries;

/// The code a second step offers, as the database spends it.
#[derive(Debug, Clone)]
pub(crate) enum CodeSpend {
    /// A TOTP code that matched this step (30 s intervals since the epoch): accepted
    /// once no code of this step or a later one was.
    TotpStep(i64),
    /// A recovery code, by its digest: accepted while unspent.
    RecoveryCode(String),
}

/// The guess a second step is, as the throttle counts it.
pub(crate) struct Guess<'a> {
    /// The id its counts are recorded under.
    pub attempt_id: &'a str,
    /// The limits it must fit under.
    pub limits: &'a [Limit],
    /// The window they are counted over, ms.
    pub window_ms: i64,
}

/// A second step to finish.
pub(crate) struct CodeStep<'a> {
    /// The code as the database spends it; `None` for a code that matches nothing of
    /// the account's (wrong, or no confirmed factor), which is counted and refused.
    pub code: Option<CodeSpend>,
    pub guess: Guess<'a>,
    /// The digest of the `mfa_token` the login waits under.
    pub challenge_digest: &'a str,
    pub session: NewSession<'a>,
}

/// How a second step ended.
#[derive(Debug)]
pub(crate) enum SecondStepEnd {
    /// Every part done: the new session's expiries.
    Opened(Expiries),
    /// The code was spent already, or is not one of the account's: nothing done.
    CodeRefused,
    /// The login was spent or expired meanwhile, or the account's credentials changed
    /// or it was disabled since the password step: nothing done.
    LoginGone,
    /// A limit of the guess is full: nothing counted, nothing checked. Another guess
    /// is allowed at this time, ms since the epoch.
    Throttled {
        /// When the next guess will be allowed.
        until: i64,
    },
}

impl Store {
    /// Finishes `step` in one transaction, as the module says.
    pub(crate) async fn finish_second_step(
        &self,
        step: &CodeStep<'_>,
    ) -> Result<SecondStepEnd, StoreError> {
        let span = self.reads.span("UPDATE", "mfa_challenges");
        async {
            match self.writer() {
                Some(writer) => {
                    let step = OwnedCodeStep {
                        code: step.code.clone(),
                        attempt_id: step.guess.attempt_id.to_owned(),
                        limits: in_lock_order(step.guess.limits),
                        window_ms: step.guess.window_ms,
                        challenge_digest: step.challenge_digest.to_owned(),
                        session: step.session.owned(),
                    };
                    Ok(writer
                        .write(move |connection| finish_on_sqlite(connection, &step))
                        .await?)
                }
                None => retrying(|| self.try_finish_second_step(step)).await,
            }
        }
        .instrument(span)
        .await
    }

    /// One run of [`Store::finish_second_step`]'s transaction.
    async fn try_finish_second_step(
        &self,
        step: &CodeStep<'_>,
    ) -> Result<SecondStepEnd, sqlx::Error> {
        let guess = &step.guess;
        let mut transaction = self.pool().begin().await?;
        let reserved = reserve_within(
            &mut transaction,
            guess.attempt_id,
            &in_lock_order(guess.limits),
            step.session.now,
            guess.window_ms,
        )
        .await?;
        if let Reserved::Refused { until } = reserved {
            transaction.rollback().await?;
            return Ok(SecondStepEnd::Throttled { until });
        }
        let end = match &step.code {
            None => SecondStepEnd::CodeRefused,
            Some(code) => {
                let mut rest = Acquire::begin(&mut transaction).await?;
                let end = self.second_step_within(&mut rest, step, code).await?;
                match end {
                    SecondStepEnd::Opened(_) => rest.commit().await?,
                    _ => rest.rollback().await?,
                }
                end
            }
        };
        // The guess stays counted unless the step gave it back.
        transaction.commit().await?;
        Ok(end)
    }

    async fn second_step_within(
        &self,
        connection: &mut AnyConnection,
        step: &CodeStep<'_>,
        code: &CodeSpend,
    ) -> Result<SecondStepEnd, sqlx::Error> {
        let (user_id, now) = (step.session.user_id.as_str(), step.session.now);
        let spent = match code {
            CodeSpend::TotpStep(totp_step) => sqlx::query(
                "UPDATE totp_factors SET last_step = $1 \
                 WHERE user_id = $2 AND last_step < $1 AND confirmed_at IS NOT NULL",
            )
            .bind(*totp_step)
            .bind(user_id),
            CodeSpend::RecoveryCode(digest) => sqlx::query(
                "UPDATE recovery_codes SET used_at = $1 \
                 WHERE user_id = $2 AND digest = $3 AND used_at IS NULL",
            )
            .bind(now)
            .bind(user_id)
            .bind(digest.as_str()),
        }
        .execute(&mut *connection)
        .await?;
        if spent.rows_affected() != 1 {
            return Ok(SecondStepEnd::CodeRefused);
        }
        sqlx::query("DELETE FROM throttle_attempts WHERE attempt_id = $1")
            .bind(step.guess.attempt_id)
            .execute(&mut *connection)
            .await?;
        let challenge = sqlx::query(
            "UPDATE mfa_challenges SET used_at = $1 \
             WHERE digest = $2 AND used_at IS NULL AND expires_at > $1",
        )
        .bind(now)
        .bind(step.challenge_digest)
        .execute(&mut *connection)
        .await?;
        if challenge.rows_affected() != 1 {
            return Ok(SecondStepEnd::LoginGone);
        }
        Ok(
            match self.open_session_within(connection, &step.session).await? {
                Some(expiries) => SecondStepEnd::Opened(expiries),
                None => SecondStepEnd::LoginGone,
            },
        )
    }
}

/// A second step with a code, owned, for a closure on the writer.
struct OwnedCodeStep {
    code: Option<CodeSpend>,
    attempt_id: String,
    /// In lock order.
    limits: Vec<Limit>,
    window_ms: i64,
    challenge_digest: String,
    session: OwnedSession,
}

/// Finishes `step` as [`Store::finish_second_step`] does, on SQLite's writer: the
/// guess counted (the writer runs one closure at a time, so no other guess comes
/// between its count and its check), then every condition read, then the code spent,
/// the guess given back, the login spent and the session opened.
fn finish_on_sqlite(
    connection: &Connection,
    step: &OwnedCodeStep,
) -> rusqlite::Result<SecondStepEnd> {
    let (user_id, now) = (step.session.user_id.as_str(), step.session.now);
    let reserved = reserve_on_sqlite(
        connection,
        &step.attempt_id,
        &step.limits,
        now,
        step.window_ms,
    )?;
    if let Reserved::Refused { until } = reserved {
        return Ok(SecondStepEnd::Throttled { until });
    }
    // From here every refusal returns before any write but the count.
    let Some(code) = &step.code else {
        return Ok(SecondStepEnd::CodeRefused);
    };
    let spendable = match code {
        CodeSpend::TotpStep(totp_step) => connection
            .prepare_cached(
                "SELECT 1 FROM totp_factors \
                 WHERE user_id = ?1 AND last_step < ?2 AND confirmed_at IS NOT NULL",
            )?
            .query_row(params![user_id, totp_step], |_| Ok(()))
            .optional()?,
        CodeSpend::RecoveryCode(digest) => connection
            .prepare_cached(
                "SELECT 1 FROM recovery_codes \
                 WHERE user_id = ?1 AND digest = ?2 AND used_at IS NULL",
            )?
            .query_row(params![user_id, digest], |_| Ok(()))
            .optional()?,
    };
    if spendable.is_none() {
        return Ok(SecondStepEnd::CodeRefused);
    }
    let waiting = connection
        .prepare_cached(
            "SELECT 1 FROM mfa_challenges \
             WHERE digest = ?1 AND used_at IS NULL AND expires_at > ?2",
        )?
        .query_row(params![step.challenge_digest, now], |_| Ok(()))
        .optional()?;
    if waiting.is_none() || !account_unchanged(connection, &step.session)? {
        return Ok(SecondStepEnd::LoginGone);
    }
    match code {
        CodeSpend::TotpStep(totp_step) => connection
            .prepare_cached("UPDATE totp_factors SET last_step = ?1 WHERE user_id = ?2")?
            .execute(params![totp_step, user_id])?,
        CodeSpend::RecoveryCode(digest) => connection
            .prepare_cached(
                "UPDATE recovery_codes SET used_at = ?1 WHERE user_id = ?2 AND digest = ?3",
            )?
            .execute(params![now, user_id, digest])?,
    };
    release_on_sqlite(connection, &step.attempt_id, &[])?;
    connection
        .prepare_cached("UPDATE mfa_challenges SET used_at = ?1 WHERE digest = ?2")?
        .execute(params![now, step.challenge_digest])?;
    Ok(SecondStepEnd::Opened(insert_session(
        connection,
        &step.session,
    )?))
}
