//! Tokens on the library service: verified locally, expired on the clock they were
//! signed by, revoked within a second, and refused while the revocation feed is down,
//! silent, or still sending its backlog.

use std::time::{Duration, Instant};

use bookshelf_proto::{auth::v1::DisableCurrentUserRequest, library::v1::ListBooksRequest};
use bookshelf_test_support::{
    FakeAuth, Forger, TestAuth, TestLibrary, bearer, eventually, eventually::within, manual_clock,
    register_and_login,
};
use bookshelf_tokens::claims::LEEWAY_SECS;
use tonic::Code;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

#[tokio::test]
async fn calls_without_a_valid_token_are_unauthenticated() {
    let auth = TestAuth::spawn().await;
    let library = TestLibrary::spawn(&auth).await;
    let (user, _) = register_and_login(&mut auth.client().await).await;
    let mut client = library.client().await;
    let status = client
        .list_books(ListBooksRequest::default())
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    let real = Forger::real(&auth);
    let mut claims = Forger::claims(&user.id);
    claims["aud"] = "elsewhere".into();
    for token in [
        Forger::stranger(&real).sign(&Forger::claims(&user.id)),
        real.unsigned(&Forger::claims(&user.id)),
        real.hmac_with_public_key(&Forger::claims(&user.id)),
        real.sign(&claims),
    ] {
        let status = client
            .list_books(bearer(ListBooksRequest::default(), &token))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated);
    }
}

#[tokio::test]
async fn a_token_is_refused_once_its_lifetime_and_the_leeway_have_passed() {
    let (clock, hand) = manual_clock();
    let auth = TestAuth::spawn_with(|config| config.clock = clock.clone()).await;
    let library = TestLibrary::spawn_with(&auth, |config| config.clock = clock).await;
    let (_, token) = register_and_login(&mut auth.client().await).await;
    let mut client = library.client().await;
    let list = || bearer(ListBooksRequest::default(), &token);
    client.list_books(list()).await.expect("fresh");
    hand.advance(Duration::from_secs(
        auth.config.token_ttl_secs + LEEWAY_SECS,
    ));
    client.list_books(list()).await.expect("within the leeway");
    hand.advance(Duration::from_secs(1));
    let status = client.list_books(list()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn a_disabled_users_token_is_refused_within_a_second() {
    let auth = TestAuth::spawn().await;
    let library = TestLibrary::spawn(&auth).await;
    let mut auth_client = auth.client().await;
    let (_, token) = register_and_login(&mut auth_client).await;
    let mut client = library.client().await;
    client
        .list_books(bearer(ListBooksRequest::default(), &token))
        .await
        .expect("accepted before");
    auth_client
        .disable_current_user(bearer(DisableCurrentUserRequest::default(), &token))
        .await
        .unwrap();
    within(
        Duration::from_secs(1),
        "the token to be refused",
        || async {
            match client
                .clone()
                .list_books(bearer(ListBooksRequest::default(), &token))
                .await
            {
                Err(status) if status.code() == Code::Unauthenticated => Some(()),
                Ok(_) => None,
                Err(status) => panic!("refused for another reason: {status:?}"),
            }
        },
    )
    .await;
}

#[tokio::test]
async fn calls_are_unavailable_while_the_auth_service_is_down_and_resume_after() {
    // Heartbeats well within the bound, as the defaults have them (1 s against 5 s).
    let mut auth = TestAuth::spawn_with(|config| config.revocation_heartbeat_ms = 100).await;
    let library =
        TestLibrary::spawn_with(&auth, |config| config.revocation_max_outage_ms = 500).await;
    let (_, token) = register_and_login(&mut auth.client().await).await;
    let mut client = library.client().await;
    client
        .list_books(bearer(ListBooksRequest::default(), &token))
        .await
        .expect("accepted while the feed is live");

    // Timed from the start of the stop: the heartbeats end there, and a busy machine
    // can take a while to finish stopping.
    let stopping = Instant::now();
    auth.stop().await;
    let status = library
        .until_refused(&token, "calls to be refused past the outage bound")
        .await;
    assert_eq!(status.code(), Code::Unavailable);
    // Trusted until the bound (500 ms) has passed since the last heartbeat, at most
    // 100 ms before the stop when on time; the rest is slack for a late heartbeat.
    assert!(
        stopping.elapsed() >= Duration::from_millis(300),
        "not before the bound"
    );

    auth.start().await;
    eventually("calls to be accepted again", || async {
        match client
            .clone()
            .list_books(bearer(ListBooksRequest::default(), &token))
            .await
        {
            Ok(_) => Some(()),
            Err(status) if status.code() == Code::Unavailable => None,
            Err(status) => panic!("not accepted again: {status:?}"),
        }
    })
    .await;
}

/// Waits until the library's health reports `wanted` (the report follows the feed on
/// a 50 ms tick).
async fn reports(library: &TestLibrary, wanted: ServingStatus) {
    let what = format!("the library to report {wanted:?}");
    eventually(&what, || async {
        (serving(library).await == wanted).then_some(())
    })
    .await;
}

async fn serving(library: &TestLibrary) -> ServingStatus {
    let channel = bookshelf_test_support::pki::shared().user_channel(library.addr);
    let mut health = HealthClient::new(channel);
    health
        .check(HealthCheckRequest {
            service: "library.v1.LibraryService".into(),
        })
        .await
        .expect("health answers")
        .into_inner()
        .status()
}

/// Waits until `condition` holds of the follower's state.
async fn until(what: &str, condition: impl Fn() -> bool) {
    eventually(what, || async { condition().then_some(()) }).await;
}

#[tokio::test]
async fn the_follower_is_live_only_after_the_end_of_the_backlog_and_fails_closed_when_silent() {
    const MAX_OUTAGE: Duration = Duration::from_millis(800);
    let mut auth = FakeAuth::spawn().await;
    let library = TestLibrary::spawn_following(&auth.url(), |config| {
        config.revocation_max_outage_ms = MAX_OUTAGE.as_millis() as u64;
        config.revocation_silence_ms = 400;
    })
    .await;
    let feed = auth.next_subscription(Duration::from_secs(5)).await;
    assert_eq!(
        feed.after_sequence, 0,
        "a new follower asks for the whole backlog"
    );

    // Connected, and part of the backlog received: not live yet.
    feed.revoke("revoked-earlier", 7).await;
    let revocations = library.revocations().clone();
    until("the backlog's revocation to arrive", || {
        revocations.is_revoked("revoked-earlier")
    })
    .await;
    assert!(!revocations.is_live());
    assert!(revocations.is_stale(), "tokens are not trusted mid-backlog");
    assert_eq!(serving(&library).await, ServingStatus::NotServing);

    feed.end_backlog().await;
    until("the feed to go live", || !revocations.is_stale()).await;
    reports(&library, ServingStatus::Serving).await;

    // The stream stays open and says nothing: an outage, within the bound.
    let last_heard = Instant::now();
    feed.heartbeat().await;
    within(
        MAX_OUTAGE + Duration::from_millis(600),
        "a silent feed to fail closed",
        || async { revocations.is_stale().then_some(()) },
    )
    .await;
    assert!(last_heard.elapsed() >= MAX_OUTAGE, "not before the bound");
    let status = library
        .client()
        .await
        .list_books(bearer(ListBooksRequest::default(), "any.token.at-all"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "no token is trusted");

    // It reconnected by itself, resuming after what it had.
    let resumed = auth.next_subscription(Duration::from_secs(5)).await;
    assert_eq!(resumed.after_sequence, 7);
    resumed.end_backlog().await;
    until("the feed to go live", || !revocations.is_stale()).await;
    drop(feed);
}
