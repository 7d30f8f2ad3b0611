//! A disabled account's tokens stay refused for as long as they live, whatever token
//! lifetime the replica a follower subscribes to was started with.

use std::time::Duration;

use bookshelf_proto::auth::v1::DisableCurrentUserRequest;
use bookshelf_test_support::{TestAuth, TestLibrary, bearer, manual_clock, register_and_login};
use tonic::Code;

const HOUR: u64 = 60 * 60;

#[tokio::test]
async fn a_disabled_account_stays_refused_behind_a_replica_started_later_with_a_shorter_lifetime() {
    let (clock, hand) = manual_clock();
    let long_clock = clock.clone();
    let first = TestAuth::spawn_with(|config| {
        config.clock = long_clock;
        config.token_ttl_secs = 24 * HOUR;
    })
    .await;
    let mut client = first.client().await;
    let (_, token) = register_and_login(&mut client).await;
    client
        .disable_current_user(bearer(DisableCurrentUserRequest::default(), &token))
        .await
        .expect("the account is disabled");

    // Two hours on the token has 22 left: longer ago than the new replica's lifetime.
    hand.advance(Duration::from_secs(2 * HOUR));
    let short_clock = clock.clone();
    let second = first
        .replica_with(|config| {
            config.clock = short_clock;
            config.token_ttl_secs = HOUR;
        })
        .await;
    let library = TestLibrary::spawn_with(&second, |config| config.clock = clock).await;
    assert_eq!(library.answer(&token).await, Err(Code::Unauthenticated));
    assert_eq!(second.answer(&token).await, Err(Code::Unauthenticated));
}
