//! Keeps a service's [`Verifier`] in step with the auth service: the signing keys from
//! `GetSigningKeys` (refetched when a token names an unknown `kid`) and the revoked
//! users from a `WatchRevocations` subscription, reconnecting with backoff.

use std::time::Duration;

use bookshelf_proto::auth::v1::{
    GetSigningKeysRequest, WatchRevocationsRequest, auth_service_client::AuthServiceClient,
};
use tokio_stream::StreamExt;
use tonic::transport::Channel;

use crate::{KeySet, Verifier};

const MIN_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// The shortest gap between two key fetches caused by unknown `kid`s, so a flood of
/// forged tokens cannot turn into a flood of calls to the auth service.
const KEY_REFETCH_GAP: Duration = Duration::from_secs(1);

/// Fetches the signing keys once and installs them.
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

/// Refetches the keys whenever the verifier meets an unknown `kid`. Runs until the
/// task is dropped.
pub async fn refresh_keys_on_demand(mut client: AuthServiceClient<Channel>, verifier: Verifier) {
    let wanted = verifier.key_refresh();
    loop {
        wanted.notified().await;
        if let Err(status) = fetch_keys(&mut client, &verifier).await {
            tracing::warn!(code = ?status.code(), "refetching signing keys failed");
        }
        tokio::time::sleep(KEY_REFETCH_GAP).await;
    }
}

/// Follows `WatchRevocations` forever, recording revoked users in the verifier's set
/// and marking the feed down while disconnected. Keys are fetched again on every
/// reconnection, since the auth service may have restarted with new ones.
pub async fn follow_revocations(mut client: AuthServiceClient<Channel>, verifier: Verifier) {
    let Some(revocations) = verifier.revocations().cloned() else {
        return;
    };
    let mut backoff = MIN_BACKOFF;
    loop {
        match client.watch_revocations(WatchRevocationsRequest {}).await {
            Ok(response) => {
                if let Err(status) = fetch_keys(&mut client, &verifier).await {
                    tracing::warn!(code = ?status.code(), "fetching signing keys failed");
                }
                revocations.feed_up();
                backoff = MIN_BACKOFF;
                tracing::info!("revocation feed connected");
                let mut stream = response.into_inner();
                while let Some(message) = stream.next().await {
                    match message {
                        Ok(revoked) => {
                            revocations.revoke(&revoked.user_id);
                            bookshelf_runtime::metrics::revocation_arrived(
                                revoked.revoked_at.as_ref(),
                            );
                        }
                        Err(status) => {
                            tracing::warn!(code = ?status.code(), "revocation feed broke");
                            break;
                        }
                    }
                }
                tracing::warn!("revocation feed lost");
            }
            Err(status) => {
                tracing::warn!(code = ?status.code(), "revocation feed unreachable");
            }
        }
        revocations.feed_down();
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}
