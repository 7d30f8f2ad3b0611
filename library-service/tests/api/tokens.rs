//! Tokens on the library service: verified locally, revoked within a second, and
//! refused while the revocation feed is down.

use std::time::{Duration, Instant};

use bookshelf_proto::{auth::v1::DisableCurrentUserRequest, library::v1::ListBooksRequest};
use bookshelf_test_support::{Forger, TestAuth, TestLibrary, bearer, register_and_login};
use tonic::Code;

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
        .disable_current_user(bearer(DisableCurrentUserRequest {}, &token))
        .await
        .unwrap();
    let disabled_at = Instant::now();
    loop {
        match client
            .list_books(bearer(ListBooksRequest::default(), &token))
            .await
        {
            Err(status) if status.code() == Code::Unauthenticated => break,
            Ok(_) if disabled_at.elapsed() < Duration::from_secs(1) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            other => panic!(
                "still not refused after {:?}: {other:?}",
                disabled_at.elapsed()
            ),
        }
    }
}

#[tokio::test]
async fn calls_are_unavailable_while_the_auth_service_is_down_and_resume_after() {
    let mut auth = TestAuth::spawn().await;
    let library =
        TestLibrary::spawn_with(&auth, |config| config.revocation_max_outage_ms = 500).await;
    let (_, token) = register_and_login(&mut auth.client().await).await;
    let mut client = library.client().await;
    client
        .list_books(bearer(ListBooksRequest::default(), &token))
        .await
        .expect("accepted while the feed is live");

    auth.stop().await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let status = client
        .list_books(bearer(ListBooksRequest::default(), &token))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);

    auth.start().await;
    let back = Instant::now();
    loop {
        match client
            .list_books(bearer(ListBooksRequest::default(), &token))
            .await
        {
            Ok(_) => break,
            Err(status)
                if status.code() == Code::Unavailable
                    && back.elapsed() < Duration::from_secs(10) =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(status) => panic!("not accepted again: {status:?}"),
        }
    }
}
