//! The second factor over REST: enrolment, a login answering `mfa_required`, the
//! second step with a TOTP code computed apart from the service or a recovery code,
//! and disabling, each in the envelope.

use bookshelf_runtime::clock::Clock;
use bookshelf_test_support::{InProcessStack, Rest, rest::Answer, strong_password, totp};
use reqwest::Method;
use serde_json::json;

fn now() -> u64 {
    Clock::system().now_secs()
}

/// Confirms the enrolment under way with `code`.
async fn confirm(rest: &Rest, code: String) -> Answer {
    rest.json(
        Method::POST,
        "/users/mfa/totp/confirm",
        json!({ "code": code }),
    )
    .await
}

/// The second step of a login: its `mfa_token` and a code.
async fn second_step(rest: Rest, mfa_token: String, code: String) -> Answer {
    rest.json(
        Method::POST,
        "/users/login/mfa",
        json!({"mfa_token": mfa_token, "code": code}),
    )
    .await
}

#[tokio::test]
async fn a_totp_factor_is_enrolled_required_at_login_and_disabled_over_rest() {
    let stack = InProcessStack::spawn().await;
    let (user, rest) = stack.rest().signed_up("Two Factor").await;
    let email = user["email"].as_str().unwrap().to_owned();

    let enrolment = rest.json(Method::POST, "/users/mfa/totp", json!({})).await;
    assert_eq!(enrolment.status, 200, "{:?}", enrolment.body);
    assert!(enrolment.is_envelope());
    let secret = enrolment.data()["secret"].as_str().unwrap().to_owned();
    assert!(
        enrolment.data()["otpauth_url"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/")
    );
    let wrong = confirm(&rest, totp::wrong_code(&secret, now())).await;
    assert_eq!(wrong.status, 401, "{:?}", wrong.body);
    assert_eq!(wrong.message(), "Invalid code");
    let confirmed = confirm(&rest, totp::code(&secret, now())).await;
    assert_eq!(confirmed.status, 200, "{:?}", confirmed.body);
    let recovery: Vec<String> = confirmed.data()["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|code| code.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(recovery.len(), 10);

    let login = stack.rest().login(&email, &strong_password()).await;
    assert_eq!(login.status, 200, "{:?}", login.body);
    assert_eq!(login.data()["mfa_required"], true);
    assert!(login.data().get("token").is_none());
    let mfa_token = login.data()["mfa_token"].as_str().unwrap().to_owned();
    let second_step = |code: String| second_step(stack.rest(), mfa_token.clone(), code);
    // The confirming code's step is spent; the next step's code is within the drift.
    let replayed = second_step(totp::code(&secret, now() - 30)).await;
    assert_eq!(replayed.status, 401, "{:?}", replayed.body);
    let logged_in = second_step(totp::code(&secret, now() + 30)).await;
    assert_eq!(logged_in.status, 200, "{:?}", logged_in.body);
    assert_eq!(logged_in.data()["email"], email.as_str());
    let token = logged_in.data()["token"].as_str().unwrap().to_owned();
    let spent = second_step(recovery[0].clone()).await;
    assert_eq!(spent.status, 401, "{:?}", spent.body);
    assert_eq!(
        spent.message(),
        "Invalid or expired mfa_token, log in again"
    );

    let signed_in = stack.rest().with_token(&token);
    assert_eq!(signed_in.get("/users/").await.status, 200);
    let missing = signed_in
        .json(Method::DELETE, "/users/mfa/totp", json!({}))
        .await;
    assert_eq!(missing.status, 400, "{:?}", missing.body);
    assert!(missing.body["error"]["code"].is_string());
    let disabled = signed_in
        .json(
            Method::DELETE,
            "/users/mfa/totp",
            json!({"code": recovery[1]}),
        )
        .await;
    assert_eq!(disabled.status, 204, "{:?}", disabled.body);
    let login = stack.rest().login(&email, &strong_password()).await;
    assert!(login.data()["token"].is_string(), "{:?}", login.body);
}

/// Wrong codes sent at once through the gateway, with several `mfa_token`s of one
/// account: each token gets its allowance and the account its own, the rest are 429
/// with the real wait, and the owner's right code then waits too.
#[tokio::test]
async fn concurrent_wrong_codes_through_the_gateway_get_no_more_guesses_than_allowed() {
    let stack = InProcessStack::spawn_with(&[
        ("AUTH_MFA_MAX_GUESSES_PER_TOKEN", "3"),
        ("AUTH_MFA_MAX_GUESSES_PER_ACCOUNT", "8"),
    ])
    .await;
    let (user, rest) = stack.rest().signed_up("Guessed Factor").await;
    let email = user["email"].as_str().unwrap().to_owned();
    let secret = rest
        .json(Method::POST, "/users/mfa/totp", json!({}))
        .await
        .data()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let confirmed = confirm(&rest, totp::code(&secret, now())).await;
    assert_eq!(confirmed.status, 200, "{:?}", confirmed.body);

    let mfa_token = || async {
        let login = stack.rest().login(&email, &strong_password()).await;
        assert_eq!(login.data()["mfa_required"], true, "{:?}", login.body);
        login.data()["mfa_token"].as_str().unwrap().to_owned()
    };
    let mut tokens = Vec::new();
    for _ in 0..3 {
        tokens.push(mfa_token().await);
    }
    let wrong = totp::wrong_code(&secret, now());
    let guesses = tokens
        .iter()
        .flat_map(|token| (0..12).map(|_| second_step(stack.rest(), token.clone(), wrong.clone())));
    let answers = futures::future::join_all(guesses).await;
    let count = |status: u16| {
        answers
            .iter()
            .filter(|answer| answer.status == status)
            .count()
    };
    assert_eq!(count(401), 8, "the account's allowance is checked, no more");
    assert_eq!(count(429), 36 - 8, "the rest wait");
    assert_eq!(count(401) + count(429), answers.len());
    for throttled in answers.iter().filter(|answer| answer.status == 429) {
        assert!(throttled.is_envelope(), "{:?}", throttled.body);
        assert!(throttled.headers.contains_key(reqwest::header::RETRY_AFTER));
    }

    let owner = second_step(stack.rest(), mfa_token().await, totp::code(&secret, now())).await;
    assert_eq!(owner.status, 429, "{:?}", owner.body);
    assert!(
        owner
            .data()
            .get("token")
            .is_none_or(|token| token.is_null())
    );
}
