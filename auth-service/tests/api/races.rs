//! Refreshes racing logouts of the same sessions: whichever order the database lets
//! them run in, neither fails for the other's locks, and every session ends.

use std::sync::Arc;

use bookshelf_proto::auth::v1::{
    GetCurrentUserRequest, ListSessionsRequest, LoginResponse, LogoutRequest, RefreshTokenRequest,
    auth_service_client::AuthServiceClient,
};
use bookshelf_test_support::{TestAuth, bearer, forwarded_from, password_login, register};
use futures::{StreamExt, future::join_all};
use tokio::sync::Barrier;
use tonic::{Code, transport::Channel};

const SESSIONS: usize = 200;

/// How many HTTP/2 connections the racing calls are spread over.
const CONNECTIONS: usize = 8;

async fn is_refused(client: &mut AuthServiceClient<Channel>, token: &str) -> bool {
    match client
        .get_current_user(bearer(GetCurrentUserRequest {}, token))
        .await
    {
        Ok(_) => false,
        Err(status) => {
            assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
            true
        }
    }
}

async fn refresh_is_refused(client: &mut AuthServiceClient<Channel>, refresh_token: &str) -> bool {
    let request = RefreshTokenRequest {
        refresh_token: refresh_token.to_owned(),
    };
    match client.refresh_token(request).await {
        Ok(_) => false,
        Err(status) => {
            assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
            true
        }
    }
}

/// The ids of the open sessions of the holder of `token`.
async fn open_sessions(client: &mut AuthServiceClient<Channel>, token: &str) -> Vec<String> {
    client
        .list_sessions(bearer(ListSessionsRequest {}, token))
        .await
        .expect("the session list")
        .into_inner()
        .sessions
        .into_iter()
        .map(|session| session.id)
        .collect()
}

/// A new account and `count` sessions of it, besides the first: the observer's.
async fn account_with_sessions(
    client: &mut AuthServiceClient<Channel>,
    name: &str,
    count: usize,
) -> (LoginResponse, Vec<LoginResponse>) {
    let email = format!("{name}-{}@example.com", uuid::Uuid::new_v4().simple());
    register(client, &email).await;
    let observer = password_login(client, &email).await;
    let sessions = futures::stream::iter(0..count)
        .map(|_| {
            let mut client = client.clone();
            let email = email.clone();
            async move { password_login(&mut client, &email).await }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    (observer, sessions)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refreshes_racing_logouts_end_every_session_without_failing() {
    let auth = TestAuth::spawn_with(|config| {
        // The checks afterwards present hundreds of refused refresh tokens.
        config.max_attempts_per_address = 10_000;
    })
    .await;
    let mut clients = Vec::new();
    // As the gateway, so that each refresh comes from its own forwarded address and
    // the throttle's lock on one address does not put them in single file first.
    for _ in 0..CONNECTIONS {
        clients.push(auth.client_as("gateway").await);
    }
    let mut client = clients[0].clone();
    let (observer, sessions) = account_with_sessions(&mut client, "racer", SESSIONS).await;

    // Every call waits for every other, then all go at once.
    let start = Arc::new(Barrier::new(2 * SESSIONS));
    let mut refreshes = Vec::new();
    let mut logouts = Vec::new();
    for (index, session) in sessions.iter().enumerate() {
        let mut client = clients[index % CONNECTIONS].clone();
        let request = forwarded_from(
            RefreshTokenRequest {
                refresh_token: session.refresh_token.clone(),
            },
            &format!("10.1.{}.{}", index / 250, index % 250),
        );
        let start_refresh = start.clone();
        refreshes.push(tokio::spawn(async move {
            start_refresh.wait().await;
            client.refresh_token(request).await
        }));
        let mut client = clients[(index + 1) % CONNECTIONS].clone();
        let request = bearer(LogoutRequest {}, &session.token);
        let start_logout = start.clone();
        logouts.push(tokio::spawn(async move {
            start_logout.wait().await;
            client.logout(request).await
        }));
    }
    let refreshes = join_all(refreshes).await;
    let logouts = join_all(logouts).await;

    let mut failures = Vec::new();
    let mut rotations = Vec::new();
    for (index, (refresh, logout)) in refreshes.into_iter().zip(logouts).enumerate() {
        if let Err(status) = logout.expect("the logout task") {
            failures.push(format!("logout {index}: {status:?}"));
        }
        match refresh.expect("the refresh task") {
            Ok(response) => rotations.push(Some(response.into_inner())),
            Err(status) => {
                if status.code() != Code::Unauthenticated {
                    failures.push(format!("refresh {index}: {status:?}"));
                }
                rotations.push(None);
            }
        }
    }
    // Listed before anything below presents a spent token, which would end its
    // session as reuse.
    let open = open_sessions(&mut client, &observer.token).await;
    let rotated = rotations.iter().flatten().count();
    assert!(
        failures.is_empty(),
        "{} of {} calls failed, {rotated} sessions rotated before they ended, {} open: \
         {failures:#?}",
        failures.len(),
        2 * SESSIONS,
        open.len() - 1,
    );
    assert_eq!(
        open,
        [observer.session_id.as_str()],
        "only the observer's is open"
    );

    // Rotated then ended, or ended: either way nothing of the session passes.
    for (session, rotation) in sessions.iter().zip(&rotations) {
        assert!(refresh_is_refused(&mut client, &session.refresh_token).await);
        assert!(is_refused(&mut client, &session.token).await);
        if let Some(rotation) = rotation {
            assert!(refresh_is_refused(&mut client, &rotation.refresh_token).await);
            assert!(is_refused(&mut client, &rotation.token).await);
        }
    }
}

/// How many sessions [`many_logouts_at_once_each_end_their_session`] ends, and how
/// many of its logouts are in flight at once.
const LOGOUTS: usize = 320;
const LOGOUTS_IN_FLIGHT: usize = 64;

/// Every logout ends a session whose tokens could still pass, so each appends to the
/// revocation log, whose sequence numbers must increase in commit order: none of
/// them fails for the others' appends, however many run at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_logouts_at_once_each_end_their_session() {
    let auth = TestAuth::spawn_with(|config| config.max_attempts_per_address = 10_000).await;
    let mut clients = Vec::new();
    for _ in 0..CONNECTIONS {
        clients.push(auth.client().await);
    }
    let mut client = clients[0].clone();
    let (observer, sessions) = account_with_sessions(&mut client, "leaver", LOGOUTS).await;

    let failures: Vec<String> = futures::stream::iter(sessions.iter().enumerate())
        .map(|(index, session)| {
            let mut client = clients[index % CONNECTIONS].clone();
            async move {
                let answer = client
                    .logout(bearer(LogoutRequest {}, &session.token))
                    .await;
                answer
                    .err()
                    .map(|status| format!("logout {index}: {status:?}"))
            }
        })
        .buffer_unordered(LOGOUTS_IN_FLIGHT)
        .filter_map(|failure| async move { failure })
        .collect()
        .await;
    assert!(
        failures.is_empty(),
        "{} of {LOGOUTS} logouts failed: {failures:#?}",
        failures.len()
    );
    assert_eq!(
        open_sessions(&mut client, &observer.token).await,
        [observer.session_id.as_str()],
        "only the observer's is open"
    );
    for session in &sessions {
        assert!(is_refused(&mut client, &session.token).await);
    }
}
