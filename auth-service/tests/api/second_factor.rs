//! TOTP as a second factor: enrolment, logins that need a code computed apart from
//! the service, replays and spent recovery codes refused, and guesses throttled
//! under concurrency.

use std::time::Duration;

use bookshelf_proto::auth::v1::{
    ConfirmTotpRequest, DisableTotpRequest, EnrollTotpRequest, GetCurrentUserRequest,
    LoginMfaRequest, RefreshTokenRequest,
};
use bookshelf_runtime::clock::Clock;
use bookshelf_test_support::{
    TestAuth, bearer, manual_clock, password_login, register,
    totp::{code, enrol, wrong_code},
};
use tonic::Code;

struct Enrolled {
    auth: TestAuth,
    clock: Clock,
    hand: bookshelf_runtime::clock::ClockHand,
    email: String,
    secret: String,
    recovery_codes: Vec<String>,
}

async fn enrolled_with(adjust: impl FnOnce(&mut auth_service::Config)) -> Enrolled {
    let (clock, hand) = manual_clock();
    let configured = clock.clone();
    let auth = TestAuth::spawn_with(|config| {
        config.clock = configured;
        adjust(config);
    })
    .await;
    let mut client = auth.client().await;
    let email = format!("second-{}@example.com", uuid::Uuid::new_v4().simple());
    register(&mut client, &email).await;
    let token = password_login(&mut client, &email).await.token;
    let (secret, recovery_codes) = enrol(&mut client, &token, &clock).await;
    // The confirming code's step is spent: start the tests at the next one.
    hand.advance(Duration::from_secs(30));
    Enrolled {
        auth,
        clock,
        hand,
        email,
        secret,
        recovery_codes,
    }
}

impl Enrolled {
    async fn mfa_token(&self) -> String {
        let response = password_login(&mut self.auth.client().await, &self.email).await;
        assert!(response.mfa_required);
        assert!(response.token.is_empty() && response.user.is_none());
        response.mfa_token
    }

    async fn second_step(&self, mfa_token: &str, code: &str) -> Result<String, Code> {
        self.auth
            .client()
            .await
            .login_mfa(LoginMfaRequest {
                mfa_token: mfa_token.to_owned(),
                code: code.to_owned(),
                ..Default::default()
            })
            .await
            .map(|response| response.into_inner().token)
            .map_err(|status| status.code())
    }

    fn code_now(&self) -> String {
        code(&self.secret, self.clock.now_secs())
    }
}

#[tokio::test]
async fn enrolment_takes_effect_only_once_confirmed_and_then_logins_need_a_code() {
    let (clock, hand) = manual_clock();
    let configured = clock.clone();
    let auth = TestAuth::spawn_with(|config| config.clock = configured).await;
    let mut client = auth.client().await;
    let email = format!("enrol-{}@example.com", uuid::Uuid::new_v4().simple());
    register(&mut client, &email).await;
    let token = password_login(&mut client, &email).await.token;

    let enrolment = client
        .enroll_totp(bearer(EnrollTotpRequest::default(), &token))
        .await
        .expect("enrolment")
        .into_inner();
    assert!(
        enrolment
            .otpauth_url
            .starts_with("otpauth://totp/Bookshelf:")
            && enrolment
                .otpauth_url
                .contains(&format!("secret={}", enrolment.secret)),
        "{}",
        enrolment.otpauth_url
    );
    // Not yet confirmed: the password alone still logs in.
    let login = password_login(&mut client, &email).await;
    assert!(!login.mfa_required && !login.token.is_empty());
    let wrong = client
        .confirm_totp(bearer(
            ConfirmTotpRequest {
                code: wrong_code(&enrolment.secret, clock.now_secs()),
                ..Default::default()
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), Code::Unauthenticated);
    let confirmed = client
        .confirm_totp(bearer(
            ConfirmTotpRequest {
                code: code(&enrolment.secret, clock.now_secs()),
                ..Default::default()
            },
            &token,
        ))
        .await
        .expect("a right code confirms")
        .into_inner();
    assert_eq!(confirmed.recovery_codes.len(), 10);
    let again = client
        .enroll_totp(bearer(EnrollTotpRequest::default(), &token))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::AlreadyExists);

    let login = password_login(&mut client, &email).await;
    assert!(login.mfa_required && login.token.is_empty());
    hand.advance(Duration::from_secs(30));
    let issued = client
        .login_mfa(LoginMfaRequest {
            mfa_token: login.mfa_token,
            code: code(&enrolment.secret, clock.now_secs()),
            ..Default::default()
        })
        .await
        .expect("the second step")
        .into_inner();
    client
        .get_current_user(bearer(GetCurrentUserRequest {}, &issued.token))
        .await
        .expect("the token works");
    // The login opened a session like a password login: its refresh token is
    // exchanged for new tokens.
    assert!(!issued.session_id.is_empty() && issued.refresh_expires_at.is_some());
    let refreshed = client
        .refresh_token(RefreshTokenRequest {
            refresh_token: issued.refresh_token.clone(),
        })
        .await
        .expect("the refresh token works")
        .into_inner();
    assert_ne!(refreshed.refresh_token, issued.refresh_token);
    client
        .get_current_user(bearer(GetCurrentUserRequest {}, &refreshed.token))
        .await
        .expect("the refreshed token works");
}

#[tokio::test]
async fn a_code_is_never_accepted_twice_nor_an_mfa_token() {
    let enrolled = enrolled_with(|_| {}).await;
    let current = enrolled.code_now();
    let first = enrolled.mfa_token().await;
    enrolled
        .second_step(&first, &current)
        .await
        .expect("a fresh code");
    // The same code, with a new login: a replay.
    let second = enrolled.mfa_token().await;
    assert_eq!(
        enrolled.second_step(&second, &current).await,
        Err(Code::Unauthenticated)
    );
    // The spent mfa_token, even with a code of a later step.
    enrolled.hand.advance(Duration::from_secs(30));
    assert_eq!(
        enrolled.second_step(&first, &enrolled.code_now()).await,
        Err(Code::Unauthenticated)
    );
    enrolled
        .second_step(&second, &enrolled.code_now())
        .await
        .expect("a code of the next step");
    // One step of drift either way, not two.
    let third = enrolled.mfa_token().await;
    let ahead = code(&enrolled.secret, enrolled.clock.now_secs() + 60);
    assert_eq!(
        enrolled.second_step(&third, &ahead).await,
        Err(Code::Unauthenticated)
    );
    let next = code(&enrolled.secret, enrolled.clock.now_secs() + 30);
    enrolled
        .second_step(&third, &next)
        .await
        .expect("a code one step ahead");
}

#[tokio::test]
async fn an_mfa_token_expires() {
    let enrolled = enrolled_with(|config| config.mfa_token_ttl_secs = 60).await;
    let token = enrolled.mfa_token().await;
    enrolled.hand.advance(Duration::from_secs(61));
    assert_eq!(
        enrolled.second_step(&token, &enrolled.code_now()).await,
        Err(Code::Unauthenticated)
    );
}

#[tokio::test]
async fn recovery_codes_work_once_each() {
    let enrolled = enrolled_with(|_| {}).await;
    let recovery = &enrolled.recovery_codes[0];
    let token = enrolled.mfa_token().await;
    enrolled
        .second_step(&token, recovery)
        .await
        .expect("a recovery code");
    let token = enrolled.mfa_token().await;
    assert_eq!(
        enrolled.second_step(&token, recovery).await,
        Err(Code::Unauthenticated)
    );
    enrolled
        .second_step(&token, &enrolled.recovery_codes[1].to_uppercase())
        .await
        .expect("another recovery code, whatever its case");
}

#[tokio::test]
async fn concurrent_wrong_codes_get_no_more_guesses_than_allowed() {
    let enrolled = enrolled_with(|config| {
        config.mfa_max_guesses_per_token = 3;
        config.mfa_max_guesses_per_account = 8;
    })
    .await;
    let wrong = wrong_code(&enrolled.secret, enrolled.clock.now_secs());
    let mut refused = 0;
    let mut throttled = 0;
    // Three logins, twelve guesses each, all at once: three per mfa_token at most,
    // and eight for the account.
    let mut tokens = Vec::new();
    for _ in 0..3 {
        tokens.push(enrolled.mfa_token().await);
    }
    let guesses = tokens.iter().flat_map(|token| {
        let enrolled = &enrolled;
        let wrong = wrong.clone();
        (0..12).map(move |_| {
            let (token, wrong) = (token.clone(), wrong.clone());
            async move { enrolled.second_step(&token, &wrong).await }
        })
    });
    for outcome in futures::future::join_all(guesses).await {
        match outcome {
            Err(Code::Unauthenticated) => refused += 1,
            Err(Code::ResourceExhausted) => throttled += 1,
            other => panic!("a wrong code answered {other:?}"),
        }
    }
    assert_eq!(refused, 8, "guesses checked");
    assert_eq!(throttled, 36 - 8);
    // The owner's right code waits for the window too.
    let token = enrolled.mfa_token().await;
    assert_eq!(
        enrolled.second_step(&token, &enrolled.code_now()).await,
        Err(Code::ResourceExhausted)
    );
}

#[tokio::test]
async fn disabling_needs_a_current_code_and_then_the_password_suffices() {
    let enrolled = enrolled_with(|_| {}).await;
    let mut client = enrolled.auth.client().await;
    let token = enrolled
        .second_step(&enrolled.mfa_token().await, &enrolled.code_now())
        .await
        .expect("logged in");
    enrolled.hand.advance(Duration::from_secs(30));
    let wrong = client
        .disable_totp(bearer(
            DisableTotpRequest {
                code: wrong_code(&enrolled.secret, enrolled.clock.now_secs()),
                ..Default::default()
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(wrong.code(), Code::Unauthenticated);
    client
        .disable_totp(bearer(
            DisableTotpRequest {
                code: enrolled.code_now(),
                ..Default::default()
            },
            &token,
        ))
        .await
        .expect("a current code disables");
    let login = password_login(&mut client, &enrolled.email).await;
    assert!(!login.mfa_required && !login.token.is_empty());
    let again = client
        .disable_totp(bearer(
            DisableTotpRequest {
                code: enrolled.code_now(),
                ..Default::default()
            },
            &token,
        ))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);
}

#[tokio::test]
async fn a_token_guessing_codes_at_disable_cannot_lock_the_owner_out_of_logging_in() {
    let enrolled = enrolled_with(|config| config.mfa_max_guesses_per_account = 4).await;
    let thief = enrolled
        .second_step(&enrolled.mfa_token().await, &enrolled.code_now())
        .await
        .expect("logged in");
    enrolled.hand.advance(Duration::from_secs(30));
    let wrong = wrong_code(&enrolled.secret, enrolled.clock.now_secs());
    // Sixteen guesses at once with the token alone: four are checked, the rest wait.
    let guesses = (0..16).map(|_| {
        let (auth, thief, wrong) = (&enrolled.auth, &thief, wrong.clone());
        async move {
            auth.client()
                .await
                .disable_totp(bearer(
                    DisableTotpRequest {
                        code: wrong,
                        ..Default::default()
                    },
                    thief,
                ))
                .await
                .unwrap_err()
                .code()
        }
    });
    let outcomes = futures::future::join_all(guesses).await;
    let checked = outcomes
        .iter()
        .filter(|code| **code == Code::Unauthenticated)
        .count();
    assert_eq!(checked, 4, "{outcomes:?}");
    // The owner's login is counted apart and still goes through.
    let owner = enrolled
        .second_step(&enrolled.mfa_token().await, &enrolled.code_now())
        .await;
    assert!(owner.is_ok(), "the owner's second step answered {owner:?}");
}
