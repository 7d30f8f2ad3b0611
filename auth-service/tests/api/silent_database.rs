//! A PostgreSQL server that falls silent without closing its connections: every call
//! caught on it, however many at once, ends at the service's own bound on calls,
//! though no caller set a deadline, and the service answers again once the server
//! does.

use std::time::{Duration, Instant};

use bookshelf_proto::auth::v1::{GetCurrentUserRequest, LogoutRequest};
use bookshelf_test_support::{TestAuth, bearer, eventually, password_login, register};
use futures::future::join_all;
use tonic::Code;

/// The bound on calls here: well below the five seconds the database pool waits for a
/// connection, so that only the bound can end the call in time.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);

/// Calls in flight at once when the server falls silent: more than the database pool
/// holds connections, so some are caught on a connection and the rest wait for one.
const CALLERS: usize = 16;

#[tokio::test]
async fn calls_caught_on_a_silent_database_end_at_the_services_bound() {
    let mut auth = TestAuth::spawn_with(|config| {
        config.grpc_call_timeout_ms = CALL_TIMEOUT.as_millis() as u64;
    })
    .await;
    let Some(relay) = auth.relay_database().await else {
        // Only PostgreSQL has a server to fall silent; CI runs this suite on it too.
        return;
    };
    let mut client = auth.client().await;
    let email = format!("reader-{}@example.com", uuid::Uuid::new_v4().simple());
    register(&mut client, &email).await;
    let mut tokens = Vec::with_capacity(CALLERS);
    for _ in 0..CALLERS {
        tokens.push(password_login(&mut client, &email).await.token);
    }

    relay.fall_silent();
    let started = Instant::now();
    let calls = tokens.iter().map(|token| {
        let mut client = client.clone();
        // No deadline on the calls: the bound must come from the service.
        async move { client.logout(bearer(LogoutRequest {}, token)).await }
    });
    let caught = tokio::time::timeout(Duration::from_secs(30), join_all(calls))
        .await
        .expect("the calls end without their callers' deadlines");
    let took = started.elapsed();
    for answer in caught {
        let status = answer.expect_err("no logout on a silent database");
        assert_eq!(status.code(), Code::Cancelled, "{status:?}");
    }
    assert!(
        (CALL_TIMEOUT..CALL_TIMEOUT + Duration::from_secs(2)).contains(&took),
        "the last call ended after {took:?}"
    );

    relay.resume();
    // A logout whose statement the server held may have taken effect on resuming:
    // then the session is already over and a second logout is refused. Either way
    // each one ends, and no session is left open.
    for token in &tokens {
        eventually(
            "each logout to get a definite answer once the server answers",
            || {
                let mut client = client.clone();
                let token = token.clone();
                async move {
                    match client.logout(bearer(LogoutRequest {}, &token)).await {
                        Ok(_) => Some(()),
                        Err(status) if status.code() == Code::Unauthenticated => Some(()),
                        Err(_) => None,
                    }
                }
            },
        )
        .await;
        let status = client
            .get_current_user(bearer(GetCurrentUserRequest {}, token))
            .await
            .expect_err("a logged-out session's token is refused");
        assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    }
}
