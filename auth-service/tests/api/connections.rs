//! Connections that stall or go silent on the gRPC port are shed: a cap on open
//! connections, a handshake timeout, and HTTP/2 keepalive.

use std::time::{Duration, Instant};

use bookshelf_proto::auth::v1::GetSigningKeysRequest;
use bookshelf_test_support::{
    TestAuth,
    sockets::{
        H2_PREFACE_AND_SETTINGS, HALF_A_CLIENT_HELLO, closed_within, stalled, stalled_over_tls,
        wait_until_closed,
    },
};

#[tokio::test]
async fn connections_past_the_cap_are_closed_at_once_and_silent_ones_after_the_handshake_timeout() {
    const CAP: usize = 20;
    let auth = TestAuth::spawn_with(|config| {
        config.grpc_max_connections = Some(CAP);
        config.grpc_handshake_timeout_ms = 2000;
    })
    .await;
    let mut silent = stalled(auth.addr, 60, b"").await;
    assert_eq!(silent.len(), 60);
    let (closed, after) =
        wait_until_closed(&mut silent, 60 - CAP, Duration::from_millis(1000)).await;
    assert!(
        closed >= 60 - CAP,
        "at most {CAP} stay open: {} after {after:?}",
        60 - closed
    );
    let (closed, after) = wait_until_closed(&mut silent, 60, Duration::from_millis(4000)).await;
    assert_eq!(
        closed, 60,
        "silent connections are closed by the handshake timeout ({after:?})"
    );

    let mut client = auth.client().await;
    client
        .get_signing_keys(GetSigningKeysRequest {})
        .await
        .expect("an honest client is served once the slots are free");
}

#[tokio::test]
async fn a_connection_that_goes_silent_after_its_handshake_is_dropped_by_keepalive() {
    let auth = TestAuth::spawn_with(|config| {
        config.grpc_keepalive_interval_ms = 300;
        config.grpc_keepalive_timeout_ms = 300;
    })
    .await;
    // The TLS handshake and the preface, then nothing: not even the answer to a ping.
    let mut silent = stalled_over_tls(auth.addr, H2_PREFACE_AND_SETTINGS).await;
    let started = Instant::now();
    assert!(
        closed_within(&mut silent, Duration::from_secs(3)).await,
        "a peer that stops answering is dropped"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "by keepalive, not at once: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_client_that_stalls_mid_tls_handshake_is_dropped_after_the_handshake_timeout() {
    let auth = TestAuth::spawn_with(|config| {
        config.grpc_handshake_timeout_ms = 500;
    })
    .await;
    let started = Instant::now();
    let mut halves = stalled(auth.addr, 3, HALF_A_CLIENT_HELLO).await;
    let (closed, after) = wait_until_closed(&mut halves, 3, Duration::from_secs(3)).await;
    assert_eq!(
        closed, 3,
        "half a ClientHello holds no connection ({after:?})"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(450),
        "by the timeout, not at once: {:?}",
        started.elapsed()
    );
    // A stalled handshake delays no other connection.
    let mut stalling = stalled(auth.addr, 1, HALF_A_CLIENT_HELLO).await;
    auth.client()
        .await
        .get_signing_keys(GetSigningKeysRequest {})
        .await
        .expect("an honest client is served beside a stalled handshake");
    assert!(!closed_within(&mut stalling[0], Duration::ZERO).await);
}
