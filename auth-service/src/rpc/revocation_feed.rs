//! `WatchRevocations`: the backlog, then live revocations and heartbeats, as one
//! stream of messages.

use std::pin::Pin;

use bookshelf_proto::auth::v1::{
    BacklogEnd, Heartbeat, WatchRevocationsResponse, watch_revocations_response::Marker,
};
use bookshelf_runtime::clock::timestamp;
use futures::{Stream, StreamExt};
use tokio::sync::{broadcast, watch};
use tokio_stream::wrappers::BroadcastStream;
use tonic::Status;

use crate::{service::revocations::FeedEvent, store::revocations::Revocation};

/// The stream `WatchRevocations` answers.
pub(super) type RevocationStream =
    Pin<Box<dyn Stream<Item = Result<WatchRevocationsResponse, Status>> + Send + 'static>>;

/// A revocation as the feed sends it. An ended session or a revoked key leaves
/// `user_id` empty, so a follower that reads only `user_id` revokes no account for it.
fn revocation_message(revocation: Revocation) -> WatchRevocationsResponse {
    let (user_id, session_id) = match revocation.session_id {
        Some(session_id) => (String::new(), session_id),
        None if revocation.key_id.is_some() => (String::new(), String::new()),
        None => (revocation.user_id, String::new()),
    };
    WatchRevocationsResponse {
        user_id,
        revoked_at: Some(timestamp(revocation.revoked_at)),
        sequence: revocation.sequence,
        marker: None,
        session_id,
        tokens_expire_at: revocation.tokens_expire_at.map(timestamp),
        revoked_key_id: revocation.key_id.unwrap_or_default(),
    }
}

fn marker_message(marker: Marker) -> WatchRevocationsResponse {
    WatchRevocationsResponse {
        marker: Some(marker),
        ..Default::default()
    }
}

/// `backlog` (read after subscribing to `live`, for revocations past `after`), its
/// end marker, then what `live` publishes past the backlog, until `shutting_down`.
pub(super) fn stream(
    backlog: Vec<Revocation>,
    after: i64,
    live: broadcast::Receiver<FeedEvent>,
    mut shutting_down: watch::Receiver<bool>,
) -> RevocationStream {
    // What the backlog holds is not sent again when the poller publishes it.
    let sent = backlog.last().map_or(after, |last| last.sequence);
    let backlog = futures::stream::iter(
        backlog
            .into_iter()
            .map(|r| Ok(revocation_message(r)))
            .chain([Ok(marker_message(Marker::BacklogEnd(BacklogEnd {})))]),
    );
    // A subscriber too slow to keep up has missed revocations: end its stream with
    // an error so it reconnects and reads the backlog again.
    let live = BroadcastStream::new(live).filter_map(move |item| {
        futures::future::ready(match item {
            Ok(FeedEvent::Revoked(revocation)) if revocation.sequence > sent => {
                Some(Ok(revocation_message(revocation)))
            }
            Ok(FeedEvent::Revoked(_)) => None,
            Ok(FeedEvent::Heartbeat) => Some(Ok(marker_message(Marker::Heartbeat(Heartbeat {})))),
            Err(_lagged) => Some(Err(Status::unavailable(
                "revocation feed overrun; reconnect",
            ))),
        })
    });
    let stop = async move {
        let _ = shutting_down.wait_for(|&stopping| stopping).await;
    };
    Box::pin(backlog.chain(live).take_until(stop))
}
