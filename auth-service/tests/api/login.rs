//! Login, its single answer for every bad credential, and throttling.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bookshelf_proto::auth::v1::{DisableCurrentUserRequest, LoginRequest, RegisterRequest};
use bookshelf_test_support::{TestAuth, bearer, register_and_login, strong_password};
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
    let auth = TestAuth::spawn().await;
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
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let lifetime = response.expires_at.unwrap().seconds - now;
    assert!((86_390..=86_400).contains(&lifetime), "lifetime {lifetime}");
}

#[tokio::test]
async fn unknown_email_wrong_password_and_disabled_account_get_one_answer() {
    let auth = TestAuth::spawn().await;
    let mut client = auth.client().await;
    let (user, token) = register_and_login(&mut client).await;
    let (disabled, disabled_token) = register_and_login(&mut client).await;
    client
        .disable_current_user(bearer(DisableCurrentUserRequest {}, &disabled_token))
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
    let auth = TestAuth::spawn().await;
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
    assert!(
        delay > Duration::from_secs(800) && delay <= Duration::from_secs(900),
        "{delay:?}"
    );
    // Another email is not affected.
    let (other, _) = register_and_login(&mut client).await;
    client
        .login(login(&other.email, &strong_password()))
        .await
        .unwrap();
}

#[tokio::test]
async fn the_throttle_lifts_when_the_window_passes() {
    let auth = TestAuth::spawn_with(|config| config.login_window_secs = 6).await;
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
    tokio::time::sleep(Duration::from_millis(6100)).await;
    client
        .login(login(&user.email, &strong_password()))
        .await
        .unwrap();
}
