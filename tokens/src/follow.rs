//! Keeps a service's [`Verifier`] in step with the auth service: the signing keys from
//! `GetSigningKeys` (refetched when a token names an unknown `kid`, and on an interval
//! so that a key the auth service removed stops being trusted) and the revoked users,
//! ended sessions and revoked keys from a `WatchRevocations` subscription,
//! reconnecting with backoff, and treating a silent feed as a lost one.

use std::time::Duration;

use bookshelf_proto::auth::v1::{
    GetSigningKeysRequest, WatchRevocationsRequest, WatchRevocationsResponse,
    auth_service_client::AuthServiceClient, watch_revocations_response::Marker,
};
use tokio::time::timeout;
use tokio_stream::StreamExt;
use tonic::transport::Channel;

use crate::{KeySet, Verifier};

const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// The shortest gap between two key fetches caused by unknown `kid`s, so a flood of
/// forged tokens cannot turn into a flood of calls to the auth service.
const KEY_REFETCH_GAP: Duration = Duration::from_secs(1);

/// When the newest token of an ended session expires, in seconds since the epoch. An
/// auth service always says; were it silent, the session is remembered for a day
/// after it ended (or after now, without even that), the default token lifetime.
fn tokens_expire_at(message: &WatchRevocationsResponse) -> u64 {
    const DEFAULT_TOKEN_LIFETIME_SECS: i64 = 24 * 60 * 60;
    let seconds = match (&message.tokens_expire_at, &message.revoked_at) {
        (Some(expiry), _) => expiry.seconds,
        (None, Some(ended)) => ended.seconds.saturating_add(DEFAULT_TOKEN_LIFETIME_SECS),
        (None, None) => (bookshelf_runtime::clock::Clock::system().now_secs() as i64)
            .saturating_add(DEFAULT_TOKEN_LIFETIME_SECS),
    };
    seconds.max(0) as u64
}

/// Fetches the signing keys once and installs them in place of the ones before: a key
/// missing from the answer is no longer trusted.
pub async fn fetch_keys(
    client: &mut AuthServiceClient<Channel>,
    verifier: &Verifier,
) -> Result<(), tonic::Status> {
    let keys = client
        .get_signing_keys(GetSigningKeysRequest {})
        .await?
        .into_inner()
        .keys;
    verifier.set_keys(KeySet::from_jwks(&keys));
    Ok(())
}

/// Refetches the keys whenever the verifier meets an unknown `kid` (a key added by a
/// rotation), at most once per [`KEY_REFETCH_GAP`], and at least every `every` (a key
/// removed once its tokens have expired). Runs until the task is dropped.
///
/// A failed fetch keeps the keys fetched before: they may include a key removed
/// since, but only while the auth service cannot be reached, and then the revocation
/// feed goes silent too and every token is refused until it is back.
pub async fn refresh_keys(
    mut client: AuthServiceClient<Channel>,
    verifier: Verifier,
    every: Duration,
) {
    let wanted = verifier.key_refresh();
    loop {
        tokio::select! {
            _ = wanted.notified() => {}
            _ = tokio::time::sleep(every) => {}
        }
        if let Err(status) = fetch_keys(&mut client, &verifier).await {
            tracing::warn!(code = ?status.code(), "refetching signing keys failed");
        }
        tokio::time::sleep(KEY_REFETCH_GAP).await;
    }
}

/// Follows `WatchRevocations` forever, recording revoked users in the verifier's set.
///
/// The feed is live once its end-of-backlog marker arrives, and lost when the stream
/// drops or when nothing at all (not even a heartbeat) has come for `silence`: a
/// stopped or blackholed auth service keeps its connection open and says nothing, and
/// that silence is treated exactly like a dropped stream. Every reconnection resumes
/// after the last sequence number received, and fetches the keys again, since the auth
/// service may have restarted with new ones.
pub async fn follow_revocations(
    mut client: AuthServiceClient<Channel>,
    verifier: Verifier,
    silence: Duration,
) {
    let Some(revocations) = verifier.revocations().cloned() else {
        return;
    };
    let mut backoff = MIN_BACKOFF;
    let mut after_sequence = 0;
    loop {
        let request = WatchRevocationsRequest { after_sequence };
        match timeout(silence, client.watch_revocations(request)).await {
            Ok(Ok(response)) => {
                tracing::info!("revocation feed connected");
                let mut stream = response.into_inner();
                loop {
                    let message = match timeout(silence, stream.next()).await {
                        Err(_) => {
                            tracing::warn!(?silence, "revocation feed silent");
                            break;
                        }
                        Ok(None) => break,
                        Ok(Some(Err(status))) => {
                            tracing::warn!(code = ?status.code(), "revocation feed broke");
                            break;
                        }
                        Ok(Some(Ok(message))) => message,
                    };
                    match message.marker {
                        Some(Marker::BacklogEnd(_)) => {
                            match timeout(silence, fetch_keys(&mut client, &verifier)).await {
                                Ok(Ok(())) => {}
                                Ok(Err(status)) => {
                                    tracing::warn!(code = ?status.code(), "fetching signing keys failed");
                                }
                                Err(_) => tracing::warn!("fetching signing keys timed out"),
                            }
                            revocations.feed_up();
                            backoff = MIN_BACKOFF;
                            tracing::info!("revocation feed live");
                        }
                        Some(Marker::Heartbeat(_)) => {
                            revocations.heard();
                            revocations.forget_expired();
                            bookshelf_runtime::metrics::ended_sessions_remembered(
                                revocations.ended_sessions(),
                            );
                        }
                        None => {
                            if !message.revoked_key_id.is_empty() {
                                verifier.revoke_key(&message.revoked_key_id);
                                // A new key may have taken over at once: fetch it now
                                // rather than at the first token that names it.
                                verifier.key_refresh().notify_one();
                            } else if message.session_id.is_empty() {
                                revocations.revoke(&message.user_id);
                            } else {
                                revocations
                                    .end_session(&message.session_id, tokens_expire_at(&message));
                                bookshelf_runtime::metrics::ended_sessions_remembered(
                                    revocations.ended_sessions(),
                                );
                            }
                            revocations.heard();
                            bookshelf_runtime::metrics::revocation_arrived(
                                message.revoked_at.as_ref(),
                            );
                            after_sequence = after_sequence.max(message.sequence);
                        }
                    }
                }
                tracing::warn!("revocation feed lost");
            }
            Ok(Err(status)) => {
                tracing::warn!(code = ?status.code(), "revocation feed unreachable");
            }
            Err(_) => tracing::warn!(?silence, "revocation feed did not answer"),
        }
        revocations.feed_down();
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}
