//! Disabling an account: its tokens stop working and every subscriber hears of it.

use std::time::{Duration, Instant};

use bookshelf_proto::auth::v1::{
    DisableCurrentUserRequest, GetCurrentUserRequest, LogoutRequest, UpdateCurrentUserRequest,
    VerifyTokenRequest, WatchRevocationsRequest, WatchRevocationsResponse,
    watch_revocations_response::Marker,
};
use bookshelf_test_support::{TestAuth, bearer, register_and_login};
use tokio::time::timeout;
use tonic::{Code, Streaming};

/// The next revocation of a feed, past its markers (end of backlog, heartbeats).
async fn next_revocation(
    feed: &mut Streaming<WatchRevocationsResponse>,
) -> WatchRevocationsResponse {
    loop {
        let message = feed.message().await.unwrap().expect("the feed stays open");
        if message.marker.is_none() {
            return message;
        }
    }
}

#[tokio::test]
async fn a_disabled_users_tokens_are_refused_at_once() {
    let auth = TestAuth::spawn().await;
    let mut client = auth.client().await;
    let (_, token) = register_and_login(&mut client).await;
    client
        .disable_current_user(bearer(DisableCurrentUserRequest::default(), &token))
        .await
        .unwrap();
    let status = client
        .get_current_user(bearer(GetCurrentUserRequest {}, &token))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = client
        .update_current_user(bearer(
            UpdateCurrentUserRequest {
                name: "New Name".into(),
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = client
        .verify_token(VerifyTokenRequest {
            token: token.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = client
        .disable_current_user(bearer(DisableCurrentUserRequest::default(), &token))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = client
        .logout(bearer(LogoutRequest {}, &token))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn subscribers_receive_revocations_live_and_late_subscribers_the_backlog() {
    let auth = TestAuth::spawn().await;
    let mut client = auth.client_as("library").await;
    let (user, token) = register_and_login(&mut client).await;
    let (bystander, _) = register_and_login(&mut client).await;
    let mut live = client
        .watch_revocations(WatchRevocationsRequest::default())
        .await
        .unwrap()
        .into_inner();
    client
        .disable_current_user(bearer(DisableCurrentUserRequest::default(), &token))
        .await
        .unwrap();
    let revoked = timeout(Duration::from_secs(1), next_revocation(&mut live))
        .await
        .expect("within a second");
    assert_eq!(revoked.user_id, user.id);
    assert!(revoked.revoked_at.is_some());
    assert!(revoked.sequence > 0);

    let mut late = client
        .watch_revocations(WatchRevocationsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let backlog = timeout(Duration::from_secs(1), late.message())
        .await
        .expect("the backlog arrives at once")
        .unwrap()
        .unwrap();
    assert_eq!(backlog.user_id, user.id);
    assert_ne!(backlog.user_id, bystander.id);
    let end = timeout(Duration::from_secs(1), late.message())
        .await
        .expect("the end of the backlog follows it")
        .unwrap()
        .unwrap();
    assert!(matches!(end.marker, Some(Marker::BacklogEnd(_))), "{end:?}");
}

/// With heartbeats a minute apart, the other replica reads the database only when
/// told: on PostgreSQL, by the notification the disable sends (on SQLite it still
/// polls, a few times a second). Either way its subscribers hear within the second.
#[tokio::test]
async fn a_revocation_on_one_replica_reaches_the_subscribers_of_another() {
    let first = TestAuth::spawn().await;
    let second = first
        .replica_with(|config| config.revocation_heartbeat_ms = 60_000)
        .await;
    let mut on_first = first.client().await;
    let mut on_second = second.client_as("library").await;
    let (user, token) = register_and_login(&mut on_first).await;
    let mut feed = on_second
        .watch_revocations(WatchRevocationsRequest::default())
        .await
        .unwrap()
        .into_inner();
    on_first
        .disable_current_user(bearer(DisableCurrentUserRequest::default(), &token))
        .await
        .unwrap();
    let revoked = timeout(Duration::from_secs(1), next_revocation(&mut feed))
        .await
        .expect("within a second, though the next heartbeat is a minute away");
    assert_eq!(revoked.user_id, user.id);
    let status = on_second
        .get_current_user(bearer(GetCurrentUserRequest {}, &token))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn shutdown_ends_revocation_streams_and_the_server_exits() {
    let mut auth = TestAuth::spawn().await;
    let mut client = auth.client_as("library").await;
    let mut feed = client
        .watch_revocations(WatchRevocationsRequest::default())
        .await
        .unwrap()
        .into_inner();
    timeout(Duration::from_secs(10), auth.stop())
        .await
        .expect("the server drains and exits despite an open stream");
    // What was sent before the end (the end-of-backlog marker) may still be read.
    let end = timeout(Duration::from_secs(1), async {
        loop {
            match feed.message().await {
                Ok(Some(message)) if message.marker.is_some() => {}
                other => return other,
            }
        }
    })
    .await
    .unwrap();
    assert!(!matches!(end, Ok(Some(_))), "the stream ended");
}

#[tokio::test]
async fn the_feed_sends_its_backlog_then_its_end_then_a_heartbeat_every_interval() {
    let auth = TestAuth::spawn_with(|config| config.revocation_heartbeat_ms = 200).await;
    let mut client = auth.client_as("library").await;
    let mut feed = client
        .watch_revocations(WatchRevocationsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let first = timeout(Duration::from_secs(1), feed.message())
        .await
        .expect("at once")
        .unwrap()
        .unwrap();
    assert!(
        matches!(first.marker, Some(Marker::BacklogEnd(_))),
        "{first:?}"
    );
    let started = Instant::now();
    for _ in 0..3 {
        let beat = timeout(Duration::from_secs(1), feed.message())
            .await
            .expect("a heartbeat within the interval, with margin")
            .unwrap()
            .unwrap();
        assert!(
            matches!(beat.marker, Some(Marker::Heartbeat(_))),
            "{beat:?}"
        );
    }
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "about one per interval"
    );
}

#[tokio::test]
async fn revocations_are_numbered_by_the_database_and_a_follower_resumes_after_the_last() {
    let first = TestAuth::spawn().await;
    let second = first.replica_with(|_| {}).await;
    let mut tokens = Vec::new();
    for _ in 0..12 {
        tokens.push(register_and_login(&mut first.client().await).await);
    }
    // Disabled at once on both replicas: the database alone decides the order.
    let disables = tokens.iter().enumerate().map(|(index, (_, token))| {
        let replica = if index % 2 == 0 { &first } else { &second };
        let token = token.clone();
        async move {
            replica
                .client()
                .await
                .disable_current_user(bearer(DisableCurrentUserRequest::default(), &token))
                .await
                .expect("disabled")
        }
    });
    futures::future::join_all(disables).await;

    let second = &second;
    let backlog = |after_sequence| async move {
        let mut feed = second
            .client_as("library")
            .await
            .watch_revocations(WatchRevocationsRequest { after_sequence })
            .await
            .unwrap()
            .into_inner();
        let mut revoked = Vec::new();
        loop {
            let message = feed.message().await.unwrap().unwrap();
            match message.marker {
                Some(Marker::BacklogEnd(_)) => return revoked,
                Some(Marker::Heartbeat(_)) => {}
                None => revoked.push((message.sequence, message.user_id)),
            }
        }
    };
    let all = backlog(0).await;
    let sequences: Vec<i64> = all.iter().map(|(sequence, _)| *sequence).collect();
    let mut expected = sequences.clone();
    expected.sort_unstable();
    expected.dedup();
    assert_eq!(sequences, expected, "strictly increasing, no duplicates");
    assert_eq!(all.len(), tokens.len());

    let resumed = backlog(sequences[4]).await;
    assert_eq!(resumed, all[5..].to_vec(), "only what came after, in order");
}
