//! Signing keys rotate across replicas without downtime: a new key is published
//! before it signs, the old one verifies until its last token has expired, then it
//! is removed and refused everywhere.

use std::time::Duration;

use bookshelf_proto::auth::v1::GetCurrentUserRequest;
use bookshelf_runtime::clock::Clock;
use bookshelf_test_support::{
    Forger, TestAuth, bearer, eventually, manual_clock, password_login, register,
};
use bookshelf_tokens::claims::LEEWAY_SECS;
use tonic::Code;

const ACTIVATION_SECS: u64 = 60;

fn settings(clock: &Clock) -> impl FnOnce(&mut auth_service::Config) {
    let clock = clock.clone();
    move |config| {
        config.clock = clock;
        config.signing_keys_refresh_ms = 20;
        config.signing_key_activation_secs = ACTIVATION_SECS;
    }
}

async fn login(auth: &TestAuth, email: &str) -> String {
    password_login(&mut auth.client().await, email).await.token
}

async fn accepted(auth: &TestAuth, token: &str) -> Result<(), Code> {
    auth.client()
        .await
        .get_current_user(bearer(GetCurrentUserRequest {}, token))
        .await
        .map(|_| ())
        .map_err(|status| status.code())
}

#[tokio::test]
async fn a_rotated_key_signs_after_its_delay_and_the_old_one_verifies_until_its_tokens_expire() {
    let (clock, hand) = manual_clock();
    let first = TestAuth::spawn_with(settings(&clock)).await;
    let second = first.replica_with(settings(&clock)).await;
    let replicas = [&first, &second];
    let email = format!("rotating-{}@example.com", uuid::Uuid::new_v4().simple());
    register(&mut first.client().await, &email).await;
    let old = Forger::real(&first);
    let old_token = login(&first, &email).await;
    assert_eq!(Forger::kid_of(&old_token), old.kid);
    // Signed by the old key, but far from expiry: only the key's removal refuses it.
    let long_lived = old.sign(&Forger::long_lived_claims(&old_token, 30));

    let new_kid = first.rotate_signing_key().await;
    let mut both = vec![old.kid.clone(), new_kid.clone()];
    both.sort();
    for auth in replicas {
        eventually("every replica to publish the new key", || async {
            (auth.published_kids().await == both).then_some(())
        })
        .await;
        // Published, not yet signing.
        assert_eq!(Forger::kid_of(&login(auth, &email).await), old.kid);
    }

    hand.advance(Duration::from_secs(ACTIVATION_SECS));
    let mut new_tokens = Vec::new();
    for auth in replicas {
        let token = login(auth, &email).await;
        assert_eq!(Forger::kid_of(&token), new_kid, "the new key signs");
        new_tokens.push(token);
    }
    for auth in replicas {
        for token in new_tokens.iter().chain([&old_token, &long_lived]) {
            assert_eq!(accepted(auth, token).await, Ok(()));
        }
        assert_eq!(auth.published_kids().await, both);
    }

    // Just before the last token of the old key expires, it still verifies.
    let ttl = Duration::from_secs(first.config.token_ttl_secs + LEEWAY_SECS);
    hand.advance(ttl - Duration::from_secs(1));
    for auth in replicas {
        assert_eq!(accepted(auth, &long_lived).await, Ok(()));
    }
    hand.advance(Duration::from_secs(1));
    for auth in replicas {
        eventually("the old key to be removed", || async {
            (auth.published_kids().await == [new_kid.clone()]).then_some(())
        })
        .await;
        eventually("the old key's tokens to be refused", || async {
            (accepted(auth, &long_lived).await == Err(Code::Unauthenticated)).then_some(())
        })
        .await;
        assert_eq!(accepted(auth, &old_token).await, Err(Code::Unauthenticated));
        // The new key signs on.
        let token = login(auth, &email).await;
        assert_eq!(accepted(auth, &token).await, Ok(()));
    }
}

#[tokio::test]
async fn replicas_without_a_configured_key_share_the_first_one_in_the_database() {
    let first = TestAuth::spawn().await;
    let encryption_key = std::fs::read_to_string(first.dir.path().join("encryption-key"))
        .expect("the generated encryption key");
    let url = first.database.url.clone();
    let second = TestAuth::spawn_with(|config| {
        config.database_url = Some(url.into());
        config.encryption_key = Some(encryption_key.into());
    })
    .await;
    let email = format!("shared-{}@example.com", uuid::Uuid::new_v4().simple());
    register(&mut first.client().await, &email).await;
    let token = login(&second, &email).await;
    assert_eq!(Forger::kid_of(&token), Forger::real(&first).kid);
    assert_eq!(accepted(&first, &token).await, Ok(()));
    assert_eq!(first.published_kids().await, second.published_kids().await);
}

#[tokio::test]
async fn a_changed_configured_key_is_a_rotation_and_an_old_one_is_never_reinstated() {
    let (clock, hand) = manual_clock();
    let mut auth = TestAuth::spawn_with(settings(&clock)).await;
    let first_kid = Forger::real(&auth).kid;
    let replacement = auth_service::signing::SigningKey::generate().expect("a key");
    auth.stop().await;
    auth.config.signing_key = Some(replacement.to_pem().into());
    auth.start().await;
    let mut both = vec![first_kid.clone(), replacement.public_key().kid.clone()];
    both.sort();
    assert_eq!(auth.published_kids().await, both);

    hand.advance(Duration::from_secs(ACTIVATION_SECS));
    let email = format!("configured-{}@example.com", uuid::Uuid::new_v4().simple());
    register(&mut auth.client().await, &email).await;
    assert_eq!(
        Forger::kid_of(&login(&auth, &email).await),
        replacement.public_key().kid
    );

    // A replica restarted with the first key configured again does not sign with it.
    let pem = std::fs::read_to_string(auth.dir.path().join("signing-key.pem")).expect("pem");
    auth.stop().await;
    auth.config.signing_key = Some(pem.into());
    auth.start().await;
    assert_eq!(
        Forger::kid_of(&login(&auth, &email).await),
        replacement.public_key().kid
    );
}
