//! A running library follows the auth service's key rotation without a restart: it
//! trusts a new key as soon as a token names it, and stops trusting a removed one.

use std::time::Duration;

use bookshelf_proto::library::v1::ListBooksRequest;
use bookshelf_test_support::{
    Forger, TestAuth, TestLibrary, bearer, eventually, manual_clock, register_and_login,
};
use bookshelf_tokens::claims::LEEWAY_SECS;
use tonic::Code;

#[tokio::test]
async fn a_follower_takes_new_keys_without_a_restart_and_drops_removed_ones() {
    let (clock, hand) = manual_clock();
    let auth_clock = clock.clone();
    let auth = TestAuth::spawn_with(|config| {
        config.clock = auth_clock;
        config.signing_keys_refresh_ms = 20;
        config.signing_key_activation_secs = 60;
    })
    .await;
    let library = TestLibrary::spawn_with(&auth, |config| {
        config.clock = clock.clone();
        config.signing_keys_refresh_ms = 50;
    })
    .await;
    let mut client = auth.client().await;
    let (_, old_token) = register_and_login(&mut client).await;
    let long_lived = Forger::real(&auth).sign(&Forger::long_lived_claims(&old_token, 30));
    library.books(&old_token).await;

    let new_kid = auth.rotate_signing_key().await;
    hand.advance(Duration::from_secs(60));
    let new_token = eventually("the new key to sign", || async {
        let token = register_and_login(&mut auth.client().await).await.1;
        (Forger::kid_of(&token) == new_kid).then_some(token)
    })
    .await;
    // A token naming a key the library has not fetched yet makes it fetch the keys.
    eventually("the library to trust the new key", || async {
        let request = bearer(ListBooksRequest::default(), &new_token);
        library.client().await.list_books(request).await.ok()
    })
    .await;
    library.books(&long_lived).await;

    hand.advance(Duration::from_secs(
        auth.config.token_ttl_secs + LEEWAY_SECS + 1,
    ));
    let status = library
        .until_refused(&long_lived, "the removed key's token to be refused")
        .await;
    assert_eq!(status.code(), Code::Unauthenticated);
    let fresh = register_and_login(&mut auth.client().await).await.1;
    library.books(&fresh).await;
}
