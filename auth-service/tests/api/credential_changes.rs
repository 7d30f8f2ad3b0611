//! A change of credentials shuts the old ones out at once: logins whose password check
//! began before a password change cannot open a session after it, and a second step
//! awaited since before it cannot complete.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use bookshelf_proto::auth::v1::{
    ChangePasswordRequest, GetCurrentUserRequest, LoginMfaRequest, LoginRequest,
    RefreshTokenRequest, auth_service_client::AuthServiceClient, error_info,
};
use bookshelf_test_support::eventually::within;
use bookshelf_test_support::{
    TestAuth, TestLibrary, bearer, manual_clock, password_login, register, strong_password,
    totp::{code, enrol},
};
use tonic::{Code, transport::Channel};
use tonic_types::StatusExt;

const NEW_PASSWORD: &str = "N3w-Horse-Battery!";

/// A session some login opened: its token and refresh token.
struct Opened {
    token: String,
    refresh_token: String,
}

/// Changes the password of the holder of `token` to [`NEW_PASSWORD`].
async fn change_password(client: &mut AuthServiceClient<Channel>, token: &str) {
    client
        .change_password(bearer(
            ChangePasswordRequest {
                current_password: strong_password(),
                new_password: NEW_PASSWORD.into(),
            },
            token,
        ))
        .await
        .expect("the change");
}

#[tokio::test]
async fn no_login_with_the_old_password_outlives_the_change() {
    let auth = TestAuth::spawn_with(|config| {
        // Only the race is under test here, not the guess limits.
        config.login_max_failures = 1000;
        config.login_max_failures_per_email = 1000;
        config.max_attempts_per_address = 100_000;
    })
    .await;
    let library = TestLibrary::spawn(&auth).await;
    let mut client = auth.client().await;
    let email = format!("changing-{}@example.com", uuid::Uuid::new_v4().simple());
    register(&mut client, &email).await;
    let owner = password_login(&mut client, &email).await.token;

    // Sixteen clients log in with the old password over and over.
    let stop = Arc::new(AtomicBool::new(false));
    let opened = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..16)
        .map(|_| {
            let (channel, email) = (
                bookshelf_test_support::pki::shared().user_channel(auth.addr),
                email.clone(),
            );
            let (stop, opened) = (stop.clone(), opened.clone());
            tokio::spawn(async move {
                let mut client =
                    bookshelf_proto::auth::v1::auth_service_client::AuthServiceClient::new(channel);
                while !stop.load(Ordering::SeqCst) {
                    let login = client
                        .login(LoginRequest {
                            email: email.clone(),
                            password: strong_password(),
                        })
                        .await;
                    if let Ok(login) = login {
                        let login = login.into_inner();
                        opened.lock().expect("not poisoned").push(Opened {
                            token: login.token,
                            refresh_token: login.refresh_token,
                        });
                    }
                }
            })
        })
        .collect();
    within(Duration::from_secs(20), "logins to go through", || async {
        (opened.lock().expect("not poisoned").len() >= 16).then_some(())
    })
    .await;

    change_password(&mut client, &owner).await;
    // The logins under way when it answered finish, then no more start.
    stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.await.expect("the client ran");
    }

    let opened = std::mem::take(&mut *opened.lock().expect("not poisoned"));
    let checks = opened.iter().map(|session| {
        let (auth, library) = (&auth, &library);
        async move {
            let mut client = auth.client().await;
            let refused = client
                .get_current_user(bearer(GetCurrentUserRequest {}, &session.token))
                .await
                .expect_err("a session of the old password is ended");
            assert_eq!(refused.code(), Code::Unauthenticated);
            let refresh = client
                .refresh_token(RefreshTokenRequest {
                    refresh_token: session.refresh_token.clone(),
                })
                .await
                .expect_err("its refresh token is dead");
            assert_eq!(refresh.code(), Code::Unauthenticated);
            within(
                Duration::from_secs(1),
                "the library to refuse it",
                || async { library.answer(&session.token).await.err() },
            )
            .await;
        }
    });
    futures::future::join_all(checks).await;
    // The owner's own session is kept, and the new password opens new ones.
    client
        .get_current_user(bearer(GetCurrentUserRequest {}, &owner))
        .await
        .expect("the changing session stays");
    client
        .login(LoginRequest {
            email,
            password: NEW_PASSWORD.into(),
        })
        .await
        .expect("the new password logs in");
}

#[tokio::test]
async fn a_second_step_awaited_since_before_a_change_cannot_complete() {
    let (clock, hand) = manual_clock();
    let configured = clock.clone();
    let auth = TestAuth::spawn_with(|config| config.clock = configured).await;
    let mut client = auth.client().await;
    let email = format!("pending-{}@example.com", uuid::Uuid::new_v4().simple());
    register(&mut client, &email).await;
    let owner = password_login(&mut client, &email).await.token;
    let (secret, _) = enrol(&mut client, &owner, &clock).await;
    // The confirming code's step is spent: the codes below are of later ones.
    hand.advance(Duration::from_secs(30));
    // A login with the old password waits for its code; then the password changes.
    let pending = password_login(&mut client, &email).await;
    assert!(pending.mfa_required);
    change_password(&mut client, &owner).await;
    let refused = client
        .login_mfa(LoginMfaRequest {
            mfa_token: pending.mfa_token,
            code: code(&secret, clock.now_secs()),
            ..Default::default()
        })
        .await
        .expect_err("the old password's second step");
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert_eq!(
        refused.get_details_error_info().map(|info| info.reason),
        Some(error_info::INVALID_MFA_TOKEN.to_owned())
    );
    // The code itself was good: the new password's login completes with it.
    let pending = client
        .login(LoginRequest {
            email,
            password: NEW_PASSWORD.into(),
        })
        .await
        .expect("the new password")
        .into_inner();
    client
        .login_mfa(LoginMfaRequest {
            mfa_token: pending.mfa_token,
            code: code(&secret, clock.now_secs()),
            ..Default::default()
        })
        .await
        .expect("the new password's second step");
}
