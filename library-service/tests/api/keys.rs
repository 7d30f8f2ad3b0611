//! A running library follows the auth service's key rotation without a restart: it
//! trusts a new key as soon as a token names it, and stops trusting a removed one; a
//! key revoked in an emergency is refused everywhere within a second.

use std::time::Duration;

use bookshelf_proto::library::v1::ListBooksRequest;
use bookshelf_test_support::{
    Forger, TestAuth, TestLibrary, bearer, eventually, eventually::within, manual_clock,
    password_login, register, register_and_login,
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

/// The replicas read the key set only every ten seconds (the default): the revocation
/// reaches them, and the follower, through the revocation feed instead.
#[tokio::test]
async fn a_revoked_signing_key_is_refused_everywhere_within_a_second_and_a_new_key_signs() {
    let first = TestAuth::spawn().await;
    let second = first.replica_with(|_| {}).await;
    let library = TestLibrary::spawn(&second).await;
    let email = format!("leaked-{}@example.com", uuid::Uuid::new_v4().simple());
    register(&mut first.client().await, &email).await;
    let leaked = Forger::real(&first);
    let token = password_login(&mut first.client().await, &email)
        .await
        .token;
    assert_eq!(Forger::kid_of(&token), leaked.kid);
    // Anyone holding the leaked key can sign tokens of their own choosing.
    let forged = leaked.sign(&Forger::long_lived_claims(&token, 30));
    for token in [&token, &forged] {
        assert_eq!(first.answer(token).await, Ok(()));
        assert_eq!(second.answer(token).await, Ok(()));
        assert_eq!(library.answer(token).await, Ok(()));
    }

    let replacement = first.revoke_signing_key(&leaked.kid).await;
    let bound = Duration::from_secs(1);
    for token in [&token, &forged] {
        for auth in [&first, &second] {
            within(
                bound,
                "the auth service to refuse the revoked key",
                || async { (auth.answer(token).await == Err(Code::Unauthenticated)).then_some(()) },
            )
            .await;
        }
        within(bound, "the follower to refuse the revoked key", || async {
            (library.answer(token).await == Err(Code::Unauthenticated)).then_some(())
        })
        .await;
    }
    for auth in [&first, &second] {
        within(bound, "the JWKS to drop the revoked key", || async {
            (!auth.published_kids().await.contains(&leaked.kid)).then_some(())
        })
        .await;
    }

    let replacement = replacement.expect("the revoked key was signing: a new one takes over");
    assert_ne!(replacement, leaked.kid);
    for auth in [&first, &second] {
        let fresh = password_login(&mut auth.client().await, &email).await.token;
        assert_eq!(Forger::kid_of(&fresh), replacement);
        assert_eq!(first.answer(&fresh).await, Ok(()));
        assert_eq!(second.answer(&fresh).await, Ok(()));
        eventually("the follower to trust the new key", || async {
            library.answer(&fresh).await.ok()
        })
        .await;
    }
    // Still refused once the follower has fetched the keys again.
    assert_eq!(library.answer(&forged).await, Err(Code::Unauthenticated));
}
