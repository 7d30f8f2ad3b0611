//! Login, its single answer for every bad credential, and throttling.

use std::time::Duration;

use bookshelf_proto::auth::v1::{DisableCurrentUserRequest, LoginRequest, RegisterRequest};
use bookshelf_test_support::{TestAuth, bearer, manual_clock, register_and_login, strong_password};
use tonic::Code;
use tonic_types::StatusExt;

fn login(email: &str, password: &str) -> LoginRequest {
    LoginRequest {
        email: email.into(),
        password: password.into(),
    }
}

#[tokio::test]
async fn login_returns_a_token_valid_for_a_day() {
    let (clock, hand) = manual_clock();
    let auth = TestAuth::spawn_with(|config| config.clock = clock).await;
    let mut client = auth.client().await;
    client
        .register(RegisterRequest {
            name: "Ada Lovelace".into(),
            email: "ada@example.com".into(),
            password: strong_password(),
        })
        .await
        .unwrap();
    let response = client
        .login(login("ADA@example.com", &strong_password()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.token.split('.').count(), 3);
    assert_eq!(response.user.unwrap().email, "ada@example.com");
    let lifetime = response.expires_at.unwrap().seconds - hand.now_ms() / 1000;
    assert_eq!(lifetime, 24 * 60 * 60);
}

#[tokio::test]
async fn unknown_email_wrong_password_and_disabled_account_get_one_answer() {
    let auth = TestAuth::spawn().await;
    let mut client = auth.client().await;
    let (user, token) = register_and_login(&mut client).await;
    let (disabled, disabled_token) = register_and_login(&mut client).await;
    client
        .disable_current_user(bearer(
            DisableCurrentUserRequest::default(),
            &disabled_token,
        ))
        .await
        .unwrap();
    let answers = [
        client
            .login(login("nobody@example.com", &strong_password()))
            .await,
        client.login(login(&user.email, "Wr0ng-password!")).await,
        client
            .login(login(&disabled.email, &strong_password()))
            .await,
        client
            .login(login("not an email", &strong_password()))
            .await,
    ];
    for answer in answers {
        let status = answer.unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated);
        assert_eq!(status.message(), "invalid email or password");
    }
    drop(token);
}

#[tokio::test]
async fn repeated_failures_are_throttled_even_for_the_right_password() {
    let (clock, _hand) = manual_clock();
    let auth = TestAuth::spawn_with(|config| config.clock = clock).await;
    let mut client = auth.client().await;
    let (user, _) = register_and_login(&mut client).await;
    for _ in 0..5 {
        let status = client
            .login(login(&user.email, "Wr0ng-password!"))
            .await
            .unwrap_err();
        assert_eq!(status.code(), Code::Unauthenticated);
    }
    let status = client
        .login(login(&user.email, &strong_password()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    let retry = status.get_details_retry_info().expect("RetryInfo");
    let delay = retry.retry_delay.expect("a delay");
    assert_eq!(delay, Duration::from_secs(15 * 60), "the whole window");
    // Another email is not affected.
    let (other, _) = register_and_login(&mut client).await;
    client
        .login(login(&other.email, &strong_password()))
        .await
        .unwrap();
}

#[tokio::test]
async fn the_throttle_lifts_when_the_window_passes() {
    let (clock, hand) = manual_clock();
    let auth = TestAuth::spawn_with(|config| config.clock = clock).await;
    let mut client = auth.client().await;
    let (user, _) = register_and_login(&mut client).await;
    for _ in 0..5 {
        let _ = client.login(login(&user.email, "Wr0ng-password!")).await;
    }
    let status = client
        .login(login(&user.email, &strong_password()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);

    let window = Duration::from_secs(15 * 60);
    hand.advance(window - Duration::from_millis(1));
    let status = client
        .login(login(&user.email, &strong_password()))
        .await
        .unwrap_err();
    assert_eq!(
        status.code(),
        Code::ResourceExhausted,
        "not before the window"
    );
    let delay = status.get_details_retry_info().unwrap().retry_delay;
    assert_eq!(delay, Some(Duration::from_millis(1)));

    hand.advance(Duration::from_millis(1));
    client
        .login(login(&user.email, &strong_password()))
        .await
        .unwrap();
}
