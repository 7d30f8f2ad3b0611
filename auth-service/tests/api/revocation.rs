//! Disabling an account: its tokens stop working and every subscriber hears of it.

use std::time::Duration;

use bookshelf_proto::auth::v1::{
    DisableCurrentUserRequest, GetCurrentUserRequest, UpdateCurrentUserRequest, VerifyTokenRequest,
    WatchRevocationsRequest,
};
use bookshelf_test_support::{TestAuth, bearer, register_and_login};
use secrecy::SecretString;
use tokio::time::timeout;
use tonic::Code;

#[tokio::test]
async fn a_disabled_users_tokens_are_refused_at_once() {
    let auth = TestAuth::spawn().await;
    let mut client = auth.client().await;
    let (_, token) = register_and_login(&mut client).await;
    client
        .disable_current_user(bearer(DisableCurrentUserRequest {}, &token))
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
        .disable_current_user(bearer(DisableCurrentUserRequest {}, &token))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn subscribers_receive_revocations_live_and_late_subscribers_the_backlog() {
    let auth = TestAuth::spawn().await;
    let mut client = auth.client().await;
    let (user, token) = register_and_login(&mut client).await;
    let (bystander, _) = register_and_login(&mut client).await;
    let mut live = client
        .watch_revocations(WatchRevocationsRequest {})
        .await
        .unwrap()
        .into_inner();
    client
        .disable_current_user(bearer(DisableCurrentUserRequest {}, &token))
        .await
        .unwrap();
    let revoked = timeout(Duration::from_secs(1), live.message())
        .await
        .expect("within a second")
        .unwrap()
        .unwrap();
    assert_eq!(revoked.user_id, user.id);
    assert!(revoked.revoked_at.is_some());

    let mut late = client
        .watch_revocations(WatchRevocationsRequest {})
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
}

#[tokio::test]
async fn a_revocation_on_one_replica_reaches_the_subscribers_of_another() {
    let first = TestAuth::spawn().await;
    let pem = std::fs::read_to_string(first.dir.path().join("signing-key.pem")).unwrap();
    let database_url = first.database.url.clone();
    let second = TestAuth::spawn_with(|config| {
        config.database_url = Some(SecretString::from(database_url));
        config.signing_key = Some(SecretString::from(pem));
    })
    .await;
    let mut on_first = first.client().await;
    let mut on_second = second.client().await;
    let (user, token) = register_and_login(&mut on_first).await;
    let mut feed = on_second
        .watch_revocations(WatchRevocationsRequest {})
        .await
        .unwrap()
        .into_inner();
    on_first
        .disable_current_user(bearer(DisableCurrentUserRequest {}, &token))
        .await
        .unwrap();
    let revoked = timeout(Duration::from_secs(1), feed.message())
        .await
        .expect("within a second")
        .unwrap()
        .unwrap();
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
    let mut client = auth.client().await;
    let mut feed = client
        .watch_revocations(WatchRevocationsRequest {})
        .await
        .unwrap()
        .into_inner();
    timeout(Duration::from_secs(10), auth.stop())
        .await
        .expect("the server drains and exits despite an open stream");
    let end = timeout(Duration::from_secs(1), feed.message())
        .await
        .unwrap();
    assert!(!matches!(end, Ok(Some(_))), "the stream ended");
}
