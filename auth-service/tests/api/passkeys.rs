//! Passkeys as a first factor, driven by a software authenticator over gRPC:
//! registration and usernameless sign-in, and what must be refused (a wrong origin,
//! a replayed assertion, a counter gone back, a spent or expired ceremony), with two
//! replicas finishing each other's ceremonies.

use std::time::Duration;

use bookshelf_proto::auth::v1::{
    FinishPasskeyRegistrationRequest, GetCurrentUserRequest, ListPasskeysRequest,
    ListSessionsRequest, PasskeyKind, StartPasskeyRegistrationRequest,
    auth_service_client::AuthServiceClient,
};
use bookshelf_test_support::{
    TestAuth,
    authenticator::{ICLOUD_KEYCHAIN, SoftAuthenticator},
    bearer, manual_clock, passkeys, password_login, register,
};
use tonic::{Code, transport::Channel};

/// A password account signed in just now: its client and token.
async fn signed_in(auth: &TestAuth) -> (AuthServiceClient<Channel>, String) {
    let mut client = auth.client().await;
    let email = format!("passkey-{}@example.com", uuid::Uuid::new_v4().simple());
    register(&mut client, &email).await;
    let token = password_login(&mut client, &email).await.token;
    (client, token)
}

#[tokio::test]
async fn a_passkey_registered_signs_in_without_a_username_and_opens_a_session() {
    let auth = TestAuth::spawn().await;
    let (mut client, token) = signed_in(&auth).await;
    let mut authenticator = SoftAuthenticator::new(passkeys::ORIGIN);
    authenticator.aaguid = ICLOUD_KEYCHAIN;
    authenticator.backed_up = true;

    let added = passkeys::add_credential(
        &mut client,
        &token,
        &mut authenticator,
        PasskeyKind::Passkey,
        "Laptop",
    )
    .await
    .expect("the passkey is added");
    assert_eq!(added.name, "Laptop");
    assert_eq!(added.kind(), PasskeyKind::Passkey);
    assert_eq!(added.authenticator, "iCloud Keychain");
    assert_eq!(added.aaguid, "fbfc3007-154e-4ecc-8c0b-6e020557d7bd");
    assert!(added.backed_up);
    assert!(added.last_used_at.is_none());

    let (ceremony_id, options) = passkeys::start_login(&mut client).await;
    assert!(
        options["allowCredentials"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "usernameless: {options}"
    );
    assert_eq!(options["userVerification"], "required");
    let assertion = authenticator.get(&options);
    let session = passkeys::finish_login(&mut client, &ceremony_id, &assertion)
        .await
        .expect("the passkey signs in");
    assert!(!session.refresh_token.is_empty());
    let user = client
        .get_current_user(bearer(GetCurrentUserRequest {}, &session.token))
        .await
        .expect("the token works")
        .into_inner()
        .user
        .unwrap();
    assert_eq!(Some(user), session.user);
    let sessions = client
        .list_sessions(bearer(ListSessionsRequest {}, &session.token))
        .await
        .unwrap()
        .into_inner()
        .sessions;
    assert!(
        sessions
            .iter()
            .any(|listed| listed.id == session.session_id)
    );

    let listed = client
        .list_passkeys(bearer(ListPasskeysRequest {}, &session.token))
        .await
        .unwrap()
        .into_inner()
        .passkeys;
    assert_eq!(listed.len(), 1);
    assert!(listed[0].last_used_at.is_some(), "a use is recorded");
}

#[tokio::test]
async fn a_passkey_needs_user_verification_and_the_configured_origin() {
    let auth = TestAuth::spawn().await;
    let (mut client, token) = signed_in(&auth).await;

    let mut unverified = SoftAuthenticator::new(passkeys::ORIGIN);
    unverified.verifies_user = false;
    let refused = passkeys::add_credential(
        &mut client,
        &token,
        &mut unverified,
        PasskeyKind::Passkey,
        "",
    )
    .await
    .expect_err("no user verification");
    assert_eq!(refused.code(), Code::InvalidArgument);

    let mut elsewhere = SoftAuthenticator::new("http://localhost.evil.example:8080");
    let refused = passkeys::add_credential(
        &mut client,
        &token,
        &mut elsewhere,
        PasskeyKind::Passkey,
        "",
    )
    .await
    .expect_err("a foreign origin");
    assert_eq!(refused.code(), Code::InvalidArgument);

    // Registered at the right origin, then offered from another one.
    let mut authenticator = SoftAuthenticator::new(passkeys::ORIGIN);
    passkeys::add_credential(
        &mut client,
        &token,
        &mut authenticator,
        PasskeyKind::Passkey,
        "",
    )
    .await
    .unwrap();
    authenticator.origin = "https://phish.example".into();
    let refused = passkeys::login(&mut client, &mut authenticator)
        .await
        .expect_err("a foreign origin");
    assert_eq!(refused.code(), Code::Unauthenticated);
    authenticator.origin = passkeys::ORIGIN.into();
    passkeys::login(&mut client, &mut authenticator)
        .await
        .expect("the right origin signs in");
}

#[tokio::test]
async fn an_assertion_counts_once_and_a_ceremony_does_not_outlive_its_expiry() {
    let (clock, hand) = manual_clock();
    let auth = TestAuth::spawn_with(|config| config.clock = clock).await;
    let (mut client, token) = signed_in(&auth).await;
    let mut authenticator = SoftAuthenticator::new(passkeys::ORIGIN);
    // No counter to go back: the ceremony alone stops a replay.
    authenticator.keeps_counter = false;
    passkeys::add_credential(
        &mut client,
        &token,
        &mut authenticator,
        PasskeyKind::Passkey,
        "",
    )
    .await
    .unwrap();

    let (ceremony_id, options) = passkeys::start_login(&mut client).await;
    let assertion = authenticator.get(&options);
    passkeys::finish_login(&mut client, &ceremony_id, &assertion)
        .await
        .expect("the first use");
    let replayed = passkeys::finish_login(&mut client, &ceremony_id, &assertion)
        .await
        .expect_err("the same ceremony again");
    assert_eq!(replayed.code(), Code::Unauthenticated);
    // Into a fresh ceremony: its challenge is not the one signed.
    let (fresh, _) = passkeys::start_login(&mut client).await;
    let replayed = passkeys::finish_login(&mut client, &fresh, &assertion)
        .await
        .expect_err("another ceremony's assertion");
    assert_eq!(replayed.code(), Code::Unauthenticated);

    let (ceremony_id, options) = passkeys::start_login(&mut client).await;
    let assertion = authenticator.get(&options);
    hand.advance(Duration::from_secs(301));
    let expired = passkeys::finish_login(&mut client, &ceremony_id, &assertion)
        .await
        .expect_err("an expired ceremony");
    assert_eq!(expired.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn a_counter_gone_back_is_refused_as_a_cloned_authenticator() {
    let auth = TestAuth::spawn().await;
    let (mut client, token) = signed_in(&auth).await;
    let mut authenticator = SoftAuthenticator::new(passkeys::ORIGIN);
    passkeys::add_credential(
        &mut client,
        &token,
        &mut authenticator,
        PasskeyKind::Passkey,
        "",
    )
    .await
    .unwrap();
    authenticator.counter = 10;
    passkeys::login(&mut client, &mut authenticator)
        .await
        .expect("counter 11");
    // A copy of the key that signed less often.
    authenticator.counter = 5;
    let refused = passkeys::login(&mut client, &mut authenticator)
        .await
        .expect_err("counter 6 after 11");
    assert_eq!(refused.code(), Code::Unauthenticated);
    authenticator.counter = 11;
    passkeys::login(&mut client, &mut authenticator)
        .await
        .expect("counter 12 after 11 is fine");
}

#[tokio::test]
async fn replicas_on_one_database_finish_each_others_ceremonies_and_one_finish_wins() {
    let first = TestAuth::spawn().await;
    let second = first.replica_with(|_| {}).await;
    let (mut on_first, token) = signed_in(&first).await;
    let mut on_second = second.client().await;
    let mut authenticator = SoftAuthenticator::new(passkeys::ORIGIN);
    // No counter: only the ceremony's single use decides between the two finishes.
    authenticator.keeps_counter = false;

    // Registration begun on one, finished on the other.
    let started = on_first
        .start_passkey_registration(bearer(
            StartPasskeyRegistrationRequest {
                kind: PasskeyKind::Passkey as i32,
                current_password: String::new(),
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner();
    let credential = authenticator.create(&serde_json::from_str(&started.options_json).unwrap());
    on_second
        .finish_passkey_registration(bearer(
            FinishPasskeyRegistrationRequest {
                ceremony_id: started.ceremony_id,
                credential_json: credential.to_string(),
                name: String::new(),
            },
            &token,
        ))
        .await
        .expect("the other replica finishes the registration");

    // Sign-in begun on one; both finish it at once, and one wins.
    let (ceremony_id, options) = passkeys::start_login(&mut on_second).await;
    let assertion = authenticator.get(&options);
    let (a, b) = tokio::join!(
        passkeys::finish_login(&mut on_first, &ceremony_id, &assertion),
        passkeys::finish_login(&mut on_second, &ceremony_id, &assertion),
    );
    assert_eq!(
        [a.is_ok(), b.is_ok()].iter().filter(|ok| **ok).count(),
        1,
        "{a:?} {b:?}"
    );
}

#[tokio::test]
async fn two_assertions_with_one_counter_on_two_replicas_at_once_get_one_success() {
    let first = TestAuth::spawn().await;
    let second = first.replica_with(|_| {}).await;
    let (mut on_first, token) = signed_in(&first).await;
    let mut on_second = second.client().await;
    let mut authenticator = SoftAuthenticator::new(passkeys::ORIGIN);
    passkeys::add_credential(
        &mut on_first,
        &token,
        &mut authenticator,
        PasskeyKind::Passkey,
        "",
    )
    .await
    .unwrap();
    // A clone: two ceremonies signed with the same counter, each checked against the
    // counter stored before either finished.
    let (one, options) = passkeys::start_login(&mut on_first).await;
    let first_assertion = authenticator.get(&options);
    authenticator.counter -= 1;
    let (other, options) = passkeys::start_login(&mut on_second).await;
    let second_assertion = authenticator.get(&options);
    let (a, b) = tokio::join!(
        passkeys::finish_login(&mut on_first, &one, &first_assertion),
        passkeys::finish_login(&mut on_second, &other, &second_assertion),
    );
    assert_eq!(
        [a.is_ok(), b.is_ok()].iter().filter(|ok| **ok).count(),
        1,
        "{a:?} {b:?}"
    );
}
