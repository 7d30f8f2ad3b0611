//! Recent sign-in: a token whose factor was proven longer ago than the window cannot
//! enrol a second factor or disable its account (what a thief holding a stolen token
//! would do), unless the request brings the current password; a refresh never makes
//! an old sign-in recent.

use std::time::Duration;

use auth_service::Config;
use bookshelf_proto::auth::v1::{
    DisableCurrentUserRequest, EnrollTotpRequest, GetCurrentUserRequest, RefreshTokenRequest,
    auth_service_client::AuthServiceClient, error_info,
};
use bookshelf_runtime::clock::ClockHand;
use bookshelf_test_support::{
    TestAuth, bearer, manual_clock, password_login, register, strong_password,
};
use tonic::{Code, Status, transport::Channel};
use tonic_types::StatusExt;

const RECENT_SECS: u64 = 600;

struct SignedIn {
    auth: TestAuth,
    hand: ClockHand,
    email: String,
    token: String,
    refresh_token: String,
}

async fn signed_in() -> SignedIn {
    let (clock, hand) = manual_clock();
    let auth = TestAuth::spawn_with(|config: &mut Config| {
        config.clock = clock;
        config.recent_sign_in_secs = RECENT_SECS;
    })
    .await;
    let mut client = auth.client().await;
    let email = format!("recent-{}@example.com", uuid::Uuid::new_v4().simple());
    register(&mut client, &email).await;
    let login = password_login(&mut client, &email).await;
    SignedIn {
        auth,
        hand,
        email,
        token: login.token,
        refresh_token: login.refresh_token,
    }
}

fn reason(status: &Status) -> Option<String> {
    status.get_details_error_info().map(|info| info.reason)
}

fn assert_reauthentication_required(status: &Status) {
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert_eq!(
        reason(status).as_deref(),
        Some(error_info::REAUTHENTICATION_REQUIRED)
    );
    assert!(status.message().contains("sign"), "{}", status.message());
}

async fn enrol(
    client: &mut AuthServiceClient<Channel>,
    token: &str,
    current_password: &str,
) -> Result<(), Status> {
    let request = EnrollTotpRequest {
        current_password: current_password.to_owned(),
    };
    client.enroll_totp(bearer(request, token)).await.map(drop)
}

async fn disable(
    client: &mut AuthServiceClient<Channel>,
    token: &str,
    current_password: &str,
) -> Result<(), Status> {
    let request = DisableCurrentUserRequest {
        current_password: current_password.to_owned(),
    };
    client
        .disable_current_user(bearer(request, token))
        .await
        .map(drop)
}

#[tokio::test]
async fn a_token_past_the_window_cannot_enrol_a_factor_nor_disable_the_account() {
    let signed_in = signed_in().await;
    let mut client = signed_in.auth.client().await;
    signed_in.hand.advance(Duration::from_secs(RECENT_SECS + 1));
    // Sixteen tries at once, as a thief would: every one refused, nothing changed.
    let tries = (0..16).map(|n| {
        let (auth, token) = (&signed_in.auth, &signed_in.token);
        async move {
            let mut client = auth.client().await;
            if n % 2 == 0 {
                enrol(&mut client, token, "").await
            } else {
                disable(&mut client, token, "").await
            }
        }
    });
    for outcome in futures::future::join_all(tries).await {
        assert_reauthentication_required(&outcome.expect_err("refused"));
    }
    let user = client
        .get_current_user(bearer(GetCurrentUserRequest {}, &signed_in.token))
        .await
        .expect("the token itself still works")
        .into_inner()
        .user
        .expect("a user");
    assert!(user.active);
    // Not a factor enrolled: the password alone still logs in.
    assert!(
        !password_login(&mut client, &signed_in.email)
            .await
            .mfa_required
    );
}

#[tokio::test]
async fn a_refresh_keeps_the_sign_in_time() {
    let signed_in = signed_in().await;
    let mut client = signed_in.auth.client().await;
    signed_in.hand.advance(Duration::from_secs(RECENT_SECS + 1));
    let refreshed = client
        .refresh_token(RefreshTokenRequest {
            refresh_token: signed_in.refresh_token.clone(),
        })
        .await
        .expect("a refresh")
        .into_inner();
    let status = disable(&mut client, &refreshed.token, "")
        .await
        .expect_err("a refreshed token is no proof");
    assert_reauthentication_required(&status);
}

#[tokio::test]
async fn the_current_password_stands_in_for_a_recent_sign_in_and_a_wrong_one_is_a_guess() {
    let signed_in = signed_in().await;
    let mut client = signed_in.auth.client().await;
    signed_in.hand.advance(Duration::from_secs(RECENT_SECS + 1));
    let wrong = enrol(&mut client, &signed_in.token, "Wr0ng-Password!")
        .await
        .expect_err("a wrong password");
    assert_eq!(wrong.code(), Code::Unauthenticated);
    assert_eq!(reason(&wrong).as_deref(), Some(error_info::WRONG_PASSWORD));
    // Wrong passwords here meet the login's limit (five per account and address).
    let mut last = wrong;
    for _ in 0..8 {
        last = disable(&mut client, &signed_in.token, "Wr0ng-Password!")
            .await
            .expect_err("a wrong password");
    }
    assert_eq!(last.code(), Code::ResourceExhausted, "{last:?}");
}

#[tokio::test]
async fn with_the_current_password_an_old_token_may_disable_the_account() {
    let signed_in = signed_in().await;
    let mut client = signed_in.auth.client().await;
    signed_in.hand.advance(Duration::from_secs(RECENT_SECS + 1));
    disable(&mut client, &signed_in.token, &strong_password())
        .await
        .expect("the password proves the sign-in");
    let refused = client
        .get_current_user(bearer(GetCurrentUserRequest {}, &signed_in.token))
        .await
        .expect_err("a disabled account");
    assert_eq!(refused.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn within_the_window_the_token_alone_suffices_and_a_new_login_restarts_it() {
    let signed_in = signed_in().await;
    let mut client = signed_in.auth.client().await;
    enrol(&mut client, &signed_in.token, "")
        .await
        .expect("a recent sign-in enrols");
    signed_in.hand.advance(Duration::from_secs(RECENT_SECS + 1));
    let fresh = password_login(&mut client, &signed_in.email).await.token;
    disable(&mut client, &fresh, "")
        .await
        .expect("a new login is a recent sign-in");
}
