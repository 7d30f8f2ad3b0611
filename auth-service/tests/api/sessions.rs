//! Sessions over gRPC: refresh tokens rotated and their reuse caught, logout, the
//! session list, revoking one session, password changes, and the feed that tells
//! followers of every session that ends.

use std::time::Duration;

use bookshelf_proto::auth::v1::{
    ChangePasswordRequest, DisableCurrentUserRequest, GetCurrentUserRequest, ListSessionsRequest,
    LoginRequest, LogoutRequest, RefreshTokenRequest, RefreshTokenResponse, RevokeSessionRequest,
    VerifyTokenRequest, WatchRevocationsRequest, auth_service_client::AuthServiceClient,
    error_info,
};
use bookshelf_test_support::{
    TestAuth, bearer, manual_clock, password_login, register, strong_password,
};
use tokio::time::timeout;
use tonic::{Code, Request, transport::Channel};
use tonic_types::StatusExt;

/// Registers a user with a unique email: its email.
async fn new_user(client: &mut AuthServiceClient<Channel>) -> String {
    let email = format!("reader-{}@example.com", uuid::Uuid::new_v4().simple());
    register(client, &email).await;
    email
}

async fn refresh(
    client: &mut AuthServiceClient<Channel>,
    refresh_token: &str,
) -> Result<RefreshTokenResponse, tonic::Status> {
    client
        .refresh_token(RefreshTokenRequest {
            refresh_token: refresh_token.to_owned(),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn is_accepted(client: &mut AuthServiceClient<Channel>, token: &str) -> bool {
    match client
        .get_current_user(bearer(GetCurrentUserRequest {}, token))
        .await
    {
        Ok(_) => true,
        Err(status) if status.code() == Code::Unauthenticated => false,
        Err(status) => panic!("unexpected {status:?}"),
    }
}

#[tokio::test]
async fn a_session_lives_from_login_through_refreshes_to_logout() {
    let auth = TestAuth::spawn().await;
    let mut client = auth.client().await;
    let email = new_user(&mut client).await;
    let phone = password_login(&mut client, &email).await;
    assert!(!phone.session_id.is_empty());
    assert_eq!(phone.refresh_token.len(), 43, "32 random bytes, base64url");
    assert!(phone.refresh_expires_at.unwrap().seconds > phone.expires_at.unwrap().seconds);

    // The refresh token is spent for a new pair; the new token works, in one session.
    let refreshed = refresh(&mut client, &phone.refresh_token).await.unwrap();
    assert_ne!(refreshed.refresh_token, phone.refresh_token);
    assert!(is_accepted(&mut client, &refreshed.token).await);
    assert!(is_accepted(&mut client, &phone.token).await);
    let verified = client
        .verify_token(VerifyTokenRequest {
            token: refreshed.token.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(verified.user_id, phone.user.as_ref().unwrap().id);

    // A second login is a second session; each sees itself as current.
    let laptop = password_login(&mut client, &email).await;
    let listed = client
        .list_sessions(bearer(ListSessionsRequest {}, &laptop.token))
        .await
        .unwrap()
        .into_inner()
        .sessions;
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].id, laptop.session_id, "newest first");
    assert!(listed[0].current && !listed[1].current);
    assert_eq!(listed[1].id, phone.session_id);
    assert_eq!(listed[1].client_address, "127.0.0.1");
    assert!(
        listed[1].user_agent.contains("tonic"),
        "{:?}",
        listed[1].user_agent
    );

    // Logging out ends this session only.
    client
        .logout(bearer(LogoutRequest {}, &refreshed.token))
        .await
        .unwrap();
    assert!(!is_accepted(&mut client, &refreshed.token).await);
    assert!(!is_accepted(&mut client, &phone.token).await);
    let status = refresh(&mut client, &refreshed.refresh_token)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let status = client
        .logout(bearer(LogoutRequest {}, &refreshed.token))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(is_accepted(&mut client, &laptop.token).await);
    let listed = client
        .list_sessions(bearer(ListSessionsRequest {}, &laptop.token))
        .await
        .unwrap()
        .into_inner()
        .sessions;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, laptop.session_id);
}

#[tokio::test]
async fn a_spent_refresh_token_presented_again_ends_the_whole_session() {
    let auth = TestAuth::spawn().await;
    let mut client = auth.client().await;
    let email = new_user(&mut client).await;
    let login = password_login(&mut client, &email).await;
    let first = refresh(&mut client, &login.refresh_token).await.unwrap();
    let second = refresh(&mut client, &first.refresh_token).await.unwrap();
    assert!(is_accepted(&mut client, &second.token).await);

    // The thief (or the victim) presents a spent token: refused, and the session ends,
    // so the other holder's newest tokens die too.
    let status = refresh(&mut client, &login.refresh_token)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(!is_accepted(&mut client, &second.token).await);
    let status = refresh(&mut client, &second.refresh_token)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    for made_up in ["", "not-a-token", &"A".repeat(43)] {
        let status = refresh(&mut client, made_up).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated, "{made_up:?}");
    }
}

#[tokio::test]
async fn concurrent_refreshes_of_one_token_give_exactly_one_success() {
    let auth = TestAuth::spawn().await;
    let mut client = auth.client().await;
    let email = new_user(&mut client).await;
    let login = password_login(&mut client, &email).await;
    let attempts: Vec<_> = (0..16)
        .map(|_| {
            let mut client = client.clone();
            let token = login.refresh_token.clone();
            tokio::spawn(async move { refresh(&mut client, &token).await })
        })
        .collect();
    let mut successes = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(_) => successes += 1,
            Err(status) => assert_eq!(status.code(), Code::Unauthenticated, "{status:?}"),
        }
    }
    assert_eq!(successes, 1);
}

#[tokio::test]
async fn changing_the_password_ends_every_other_session() {
    let auth = TestAuth::spawn().await;
    let mut client = auth.client().await;
    let email = new_user(&mut client).await;
    let here = password_login(&mut client, &email).await;
    let elsewhere = password_login(&mut client, &email).await;
    let change = |current: &str, new: &str| {
        bearer(
            ChangePasswordRequest {
                current_password: current.to_owned(),
                new_password: new.to_owned(),
            },
            &here.token,
        )
    };

    let status = client
        .change_password(change("Wr0ng-Guess!", "N3w-Secret-Phrase!"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(
        status.get_details_error_info().unwrap().reason,
        error_info::WRONG_PASSWORD
    );
    let status = client
        .change_password(change(&strong_password(), "weak"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let violations = status.get_details_bad_request().unwrap().field_violations;
    assert_eq!(violations[0].field, "new_password");
    assert!(is_accepted(&mut client, &elsewhere.token).await);

    let changed = client
        .change_password(change(&strong_password(), "N3w-Secret-Phrase!"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(changed.ended_sessions, 1);
    assert!(is_accepted(&mut client, &here.token).await);
    assert!(!is_accepted(&mut client, &elsewhere.token).await);
    assert!(
        refresh(&mut client, &elsewhere.refresh_token)
            .await
            .is_err()
    );
    assert!(refresh(&mut client, &here.refresh_token).await.is_ok());
    let old = client
        .login(LoginRequest {
            email: email.clone(),
            password: strong_password(),
        })
        .await
        .unwrap_err();
    assert_eq!(old.code(), Code::Unauthenticated);
    client
        .login(LoginRequest {
            email,
            password: "N3w-Secret-Phrase!".into(),
        })
        .await
        .expect("the new password logs in");
}

#[tokio::test]
async fn sessions_are_the_callers_own_and_end_with_the_account() {
    let auth = TestAuth::spawn().await;
    let mut client = auth.client().await;
    let ada_email = new_user(&mut client).await;
    let ada = password_login(&mut client, &ada_email).await;
    let email = new_user(&mut client).await;
    let grace = password_login(&mut client, &email).await;
    let grace_elsewhere = password_login(&mut client, &email).await;
    for not_hers in [
        ada.session_id.as_str(),
        "not-a-uuid",
        &uuid::Uuid::new_v4().to_string(),
    ] {
        let status = client
            .revoke_session(bearer(
                RevokeSessionRequest {
                    session_id: not_hers.to_owned(),
                },
                &grace.token,
            ))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::NotFound, "{not_hers}");
    }
    assert!(is_accepted(&mut client, &ada.token).await);
    client
        .revoke_session(bearer(
            RevokeSessionRequest {
                session_id: grace_elsewhere.session_id.clone(),
            },
            &grace.token,
        ))
        .await
        .unwrap();
    assert!(!is_accepted(&mut client, &grace_elsewhere.token).await);

    client
        .disable_current_user(bearer(DisableCurrentUserRequest::default(), &grace.token))
        .await
        .unwrap();
    let status = refresh(&mut client, &grace.refresh_token)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn refresh_tokens_expire_and_sessions_end_at_their_absolute_lifetime() {
    let (clock, hand) = manual_clock();
    let auth = TestAuth::spawn_with(|config| {
        config.clock = clock;
        config.token_ttl_secs = 60 * 60;
        config.refresh_token_ttl_secs = 24 * 60 * 60;
        config.session_max_secs = 3 * 24 * 60 * 60;
    })
    .await;
    let mut client = auth.client().await;
    let email = new_user(&mut client).await;
    let idle = password_login(&mut client, &email).await;
    let active = password_login(&mut client, &email).await;

    // A day and a bit later the idle session's refresh token has expired; the active
    // one, refreshed every 20 hours, lives on until the session's end.
    let mut latest = active.refresh_token.clone();
    for _ in 0..3 {
        hand.advance(Duration::from_secs(20 * 60 * 60));
        latest = refresh(&mut client, &latest).await.unwrap().refresh_token;
    }
    let status = refresh(&mut client, &idle.refresh_token).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    hand.advance(Duration::from_secs(11 * 60 * 60 + 30 * 60));
    let last = refresh(&mut client, &latest).await.unwrap();
    let session_end = active.expires_at.unwrap().seconds - 60 * 60 + 3 * 24 * 60 * 60;
    assert_eq!(
        last.expires_at.unwrap().seconds,
        session_end,
        "no token outlives its session"
    );
    assert_eq!(last.refresh_expires_at.unwrap().seconds, session_end);
    hand.advance(Duration::from_secs(60 * 60));
    let status = refresh(&mut client, &last.refresh_token).await.unwrap_err();
    assert_eq!(
        status.code(),
        Code::Unauthenticated,
        "past the session's end"
    );
}

#[tokio::test]
async fn subscribers_hear_of_an_ended_session_with_when_its_tokens_expire() {
    let auth = TestAuth::spawn().await;
    let mut client = auth.client_as("library").await;
    let email = new_user(&mut client).await;
    let login = password_login(&mut client, &email).await;
    let mut feed = client
        .watch_revocations(WatchRevocationsRequest::default())
        .await
        .unwrap()
        .into_inner();
    client
        .logout(bearer(LogoutRequest {}, &login.token))
        .await
        .unwrap();
    let ended = timeout(Duration::from_secs(1), async {
        loop {
            let message = feed.message().await.unwrap().expect("the feed stays open");
            if message.marker.is_none() {
                return message;
            }
        }
    })
    .await
    .expect("within a second");
    assert_eq!(ended.session_id, login.session_id);
    assert!(
        ended.user_id.is_empty(),
        "a session's end revokes no account"
    );
    assert_eq!(ended.tokens_expire_at, login.expires_at);

    // A late subscriber finds it in the backlog, since its token has not expired.
    let mut late = client
        .watch_revocations(WatchRevocationsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let backlog = late.message().await.unwrap().unwrap();
    assert_eq!(backlog.session_id, login.session_id);
    assert_eq!(backlog.sequence, ended.sequence);
}

#[tokio::test]
async fn refreshing_with_made_up_tokens_is_throttled_per_client() {
    // The registration counts against the client too: one, then three failures.
    let auth = TestAuth::spawn_with(|config| config.max_attempts_per_address = 4).await;
    let mut client = auth.client().await;
    let email = new_user(&mut client).await;
    let login = password_login(&mut client, &email).await;
    // Successes give their attempt back, so refreshing often is never throttled.
    let mut latest = login.refresh_token;
    for _ in 0..5 {
        latest = refresh(&mut client, &latest).await.unwrap().refresh_token;
    }
    for _ in 0..3 {
        let status = refresh(&mut client, &"B".repeat(43)).await.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated);
    }
    let status = client
        .refresh_token(Request::new(RefreshTokenRequest {
            refresh_token: latest,
        }))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(status.get_details_retry_info().is_some());
}
