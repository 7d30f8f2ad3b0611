//! A login's second step with a code, finished in one transaction: the code spent,
//! the guess given back to the throttle, the waiting login spent and the session
//! opened. One commit instead of four, and all of it or none: a login whose session
//! cannot open (its credentials changed meanwhile) spends neither its code nor its
//! `mfa_token`, and a code refused leaves its guess counted.
//!
//! Locks are taken in the order the factor's own changes take them (the user's
//! factor row, then the user's row), so they cannot deadlock with an enrolment or a
//! removal; on PostgreSQL a deadlock with anything else is run again whole
//! ([`retrying`]).

use bookshelf_runtime::sqlite_reads::{Connection, OptionalExtension, params, rusqlite};
use sqlx::AnyConnection;
use tracing::Instrument;

use super::{
    Store, StoreError,
    refresh_tokens::NewSession,
    retrying,
    sessions_sqlite::{OwnedSession, account_unchanged, insert_session},
    throttle::release_on_sqlite,
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

/// A second step to finish.
pub(crate) struct CodeStep<'a> {
    pub code: CodeSpend,
    /// The throttle's reservation of this guess, given back when it succeeds.
    pub attempt_id: &'a str,
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
                        attempt_id: step.attempt_id.to_owned(),
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
        let mut transaction = self.pool().begin().await?;
        let end = self.second_step_within(&mut transaction, step).await?;
        match end {
            SecondStepEnd::Opened(_) => transaction.commit().await?,
            _ => transaction.rollback().await?,
        }
        Ok(end)
    }

    async fn second_step_within(
        &self,
        connection: &mut AnyConnection,
        step: &CodeStep<'_>,
    ) -> Result<SecondStepEnd, sqlx::Error> {
        let (user_id, now) = (step.session.user_id.as_str(), step.session.now);
        let spent = match &step.code {
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
            .bind(step.attempt_id)
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
    code: CodeSpend,
    attempt_id: String,
    challenge_digest: String,
    session: OwnedSession,
}

/// Finishes `step` as [`Store::finish_second_step`] does, on SQLite's writer: every
/// condition read first, then the code spent, the guess given back, the login spent
/// and the session opened.
fn finish_on_sqlite(
    connection: &Connection,
    step: &OwnedCodeStep,
) -> rusqlite::Result<SecondStepEnd> {
    let (user_id, now) = (step.session.user_id.as_str(), step.session.now);
    let spendable = match &step.code {
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
    match &step.code {
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
