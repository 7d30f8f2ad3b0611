//! Passkey-only accounts and security keys: signing up with a passkey and no
//! password (and what password calls then answer), never losing the last way in,
//! a security key as the second factor of a password login, and guesses throttled.

use bookshelf_proto::auth::v1::{
    ChangePasswordRequest, DeletePasskeyRequest, DisableCurrentUserRequest, LoginMfaRequest,
    LoginRequest, PasskeyKind, RenamePasskeyRequest,
};
use bookshelf_test_support::{
    TestAuth, authenticator::SoftAuthenticator, bearer, passkeys, password_login, register,
    strong_password,
};
use tonic::Code;

fn email() -> String {
    format!("only-passkey-{}@example.com", uuid::Uuid::new_v4().simple())
}

#[tokio::test]
async fn a_passkey_sign_up_has_no_password_until_it_sets_one() {
    let auth = TestAuth::spawn().await;
    let mut client = auth.client().await;
    let mut authenticator = SoftAuthenticator::new(passkeys::ORIGIN);
    let email = email();
    let signed_up = passkeys::sign_up(&mut client, &mut authenticator, &email)
        .await
        .expect("the sign-up");
    assert_eq!(signed_up.user.as_ref().unwrap().email, email);
    assert!(!signed_up.token.is_empty() && !signed_up.refresh_token.is_empty());
    assert_eq!(signed_up.passkey.unwrap().name, "Passkey");
    let token = signed_up.token;

    let taken = passkeys::sign_up(
        &mut client,
        &mut SoftAuthenticator::new(passkeys::ORIGIN),
        &email,
    )
    .await
    .expect_err("the email is taken");
    assert_eq!(taken.code(), Code::AlreadyExists);

    // No password opens it, the empty one included.
    for password in ["", &strong_password()] {
        let refused = client
            .login(LoginRequest {
                email: email.clone(),
                password: password.to_owned(),
            })
            .await
            .expect_err("no password");
        assert_eq!(refused.code(), Code::Unauthenticated);
    }
    // Calls that check the current password say there is none.
    let refused = client
        .change_password(bearer(
            ChangePasswordRequest {
                current_password: strong_password(),
                new_password: "N3w-Password!".into(),
            },
            &token,
        ))
        .await
        .expect_err("no current password to check");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    let refused = client
        .disable_current_user(bearer(
            DisableCurrentUserRequest {
                current_password: strong_password(),
            },
            &token,
        ))
        .await
        .expect_err("no current password to check");
    assert_eq!(refused.code(), Code::FailedPrecondition);

    passkeys::login(&mut client, &mut authenticator)
        .await
        .expect("the passkey signs in");
    // A recent sign-in sets a first password, which then logs in.
    client
        .change_password(bearer(
            ChangePasswordRequest {
                current_password: String::new(),
                new_password: strong_password(),
            },
            &token,
        ))
        .await
        .expect("a first password");
    assert!(!password_login(&mut client, &email).await.token.is_empty());
}

#[tokio::test]
async fn the_last_way_into_an_account_cannot_be_deleted() {
    let auth = TestAuth::spawn().await;
    let mut client = auth.client().await;
    let mut authenticator = SoftAuthenticator::new(passkeys::ORIGIN);
    let signed_up = passkeys::sign_up(&mut client, &mut authenticator, &email())
        .await
        .unwrap();
    let (token, first) = (signed_up.token, signed_up.passkey.unwrap());
    let delete = |id: String| DeletePasskeyRequest {
        id,
        current_password: String::new(),
    };

    let refused = client
        .delete_passkey(bearer(delete(first.id.clone()), &token))
        .await
        .expect_err("the only passkey of an account without a password");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(refused.message().contains("last way in"), "{refused:?}");
    let missing = client
        .delete_passkey(bearer(delete(uuid::Uuid::new_v4().to_string()), &token))
        .await
        .expect_err("no such passkey");
    assert_eq!(missing.code(), Code::NotFound);

    let mut phone = SoftAuthenticator::new(passkeys::ORIGIN);
    let second = passkeys::add_credential(
        &mut client,
        &token,
        &mut phone,
        PasskeyKind::Passkey,
        "Phone",
    )
    .await
    .unwrap();
    let renamed = client
        .rename_passkey(bearer(
            RenamePasskeyRequest {
                id: second.id.clone(),
                name: "Old phone".into(),
            },
            &token,
        ))
        .await
        .unwrap()
        .into_inner()
        .passkey
        .unwrap();
    assert_eq!(renamed.name, "Old phone");
    client
        .delete_passkey(bearer(delete(first.id), &token))
        .await
        .expect("another passkey remains");
    let refused = client
        .delete_passkey(bearer(delete(second.id), &token))
        .await
        .expect_err("now the last one");
    assert_eq!(refused.code(), Code::FailedPrecondition);
    passkeys::login(&mut client, &mut phone)
        .await
        .expect("the phone still signs in");
}

#[tokio::test]
async fn a_security_key_is_asked_for_after_the_password_and_completes_the_login() {
    let auth = TestAuth::spawn().await;
    let mut client = auth.client().await;
    let email = email();
    register(&mut client, &email).await;
    let token = password_login(&mut client, &email).await.token;
    let mut key = SoftAuthenticator::new(passkeys::ORIGIN);
    key.verifies_user = false;
    let added =
        passkeys::add_credential(&mut client, &token, &mut key, PasskeyKind::SecurityKey, "")
            .await
            .expect("a security key");
    assert_eq!(added.kind(), PasskeyKind::SecurityKey);
    assert_eq!(added.name, "Security key");

    let step = password_login(&mut client, &email).await;
    assert!(step.mfa_required && step.token.is_empty());
    assert_eq!(step.mfa_methods, ["security_key"]);
    let options: serde_json::Value = serde_json::from_str(&step.security_key_options_json).unwrap();
    assert_eq!(
        options["allowCredentials"].as_array().map(Vec::len),
        Some(1)
    );
    let assertion = key.get(&options);
    let second_step = |credential: &serde_json::Value| LoginMfaRequest {
        mfa_token: step.mfa_token.clone(),
        code: String::new(),
        credential_json: credential.to_string(),
    };
    let done = client
        .login_mfa(second_step(&assertion))
        .await
        .expect("the key completes the login")
        .into_inner();
    assert!(!done.token.is_empty());
    let replayed = client
        .login_mfa(second_step(&assertion))
        .await
        .expect_err("the step is spent");
    assert_eq!(replayed.code(), Code::Unauthenticated);

    // A passkey sign-in with the security key is refused: it is a second factor.
    let refused = passkeys::login(&mut client, &mut key)
        .await
        .expect_err("not a first factor");
    assert_eq!(refused.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn failed_passkey_sign_ins_are_throttled_per_client() {
    let auth = TestAuth::spawn_with(|config| config.max_attempts_per_address = 3).await;
    let mut client = auth.client().await;
    passkeys::sign_up(
        &mut client,
        &mut SoftAuthenticator::new(passkeys::ORIGIN),
        &email(),
    )
    .await
    .unwrap();
    let mut codes = Vec::new();
    for _ in 0..4 {
        let (ceremony_id, options) = passkeys::start_login(&mut client).await;
        // A credential the service never registered.
        let mut stranger = SoftAuthenticator::new(passkeys::ORIGIN);
        stranger.create(&serde_json::json!({
            "rp": {"id": options["rpId"]},
            "user": {"id": "AAAA"},
            "challenge": "AAAA",
        }));
        let assertion = stranger.get(&options);
        let answer = passkeys::finish_login(&mut client, &ceremony_id, &assertion).await;
        codes.push(answer.expect_err("a stranger's credential").code());
    }
    assert_eq!(
        codes,
        [
            Code::Unauthenticated,
            Code::Unauthenticated,
            Code::ResourceExhausted,
            Code::ResourceExhausted
        ],
        "the sign-up counted as one attempt of three"
    );
}
