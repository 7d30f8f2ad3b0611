//! A PostgreSQL server that falls silent without closing its connections: a call
//! caught on it ends at the service's own bound on calls, though its caller set no
//! deadline, and the service answers again once the server does.

use std::time::{Duration, Instant};

use bookshelf_proto::auth::v1::LogoutRequest;
use bookshelf_test_support::{TestAuth, bearer, eventually, register_and_login};
use tonic::Code;

/// The bound on calls here: well below the five seconds the database pool waits for a
/// connection, so that only the bound can end the call in time.
const CALL_TIMEOUT: Duration = Duration::from_secs(2);

#[tokio::test]
async fn a_call_caught_on_a_silent_database_ends_at_the_services_bound() {
    let mut auth = TestAuth::spawn_with(|config| {
        config.grpc_call_timeout_ms = CALL_TIMEOUT.as_millis() as u64;
    })
    .await;
    let Some(relay) = auth.relay_database().await else {
        // Only PostgreSQL has a server to fall silent; CI runs this suite on it too.
        return;
    };
    let mut client = auth.client().await;
    let (_, token) = register_and_login(&mut client).await;

    relay.fall_silent();
    let started = Instant::now();
    // No deadline on the call: the bound must come from the service.
    let caught = tokio::time::timeout(
        Duration::from_secs(30),
        client.logout(bearer(LogoutRequest {}, &token)),
    )
    .await
    .expect("the call ends without its caller's deadline");
    let status = caught.expect_err("no logout on a silent database");
    assert_eq!(status.code(), Code::Cancelled, "{status:?}");
    let took = started.elapsed();
    assert!(
        (CALL_TIMEOUT..CALL_TIMEOUT + Duration::from_secs(2)).contains(&took),
        "ended after {took:?}"
    );

    relay.resume();
    eventually("the logout to go through once the server answers", || {
        let mut client = client.clone();
        let token = token.clone();
        async move { client.logout(bearer(LogoutRequest {}, &token)).await.ok() }
    })
    .await;
}
