//! Passkeys over REST, end to end with a software authenticator: a passkey sign-up,
//! usernameless sign-in, the credential list's shape, renaming, the last way in kept,
//! and a security key as the second step of a password login, each in the envelope
//! and in the JSON shapes WebAuthn's `toJSON()` and `parse*FromJSON()` use.

use bookshelf_test_support::{
    InProcessStack, Rest, authenticator::SoftAuthenticator, passkeys::ORIGIN, strong_password,
};
use reqwest::Method;
use serde_json::{Value, json};

/// Starts a ceremony at `path`: its id and options, checked for their shape.
async fn start(rest: &Rest, path: &str, body: Value) -> (String, Value) {
    let started = rest.json(Method::POST, path, body).await;
    assert_eq!(started.status, 200, "{:?}", started.body);
    assert!(started.is_envelope());
    let options = started.data()["options"].clone();
    assert!(options["challenge"].is_string(), "{options}");
    (
        started.data()["ceremony_id"].as_str().unwrap().to_owned(),
        options,
    )
}

#[tokio::test]
async fn a_passkey_account_signs_up_signs_in_and_manages_its_passkeys_over_rest() {
    let stack = InProcessStack::spawn().await;
    let rest = stack.rest();
    let mut phone = SoftAuthenticator::new(ORIGIN);
    let email = format!("{}@example.com", uuid::Uuid::new_v4().simple());

    let (ceremony_id, options) = start(
        &rest,
        "/users/passkeys/register/start",
        json!({"name": "Grace Hopper", "email": email}),
    )
    .await;
    assert_eq!(options["rp"]["id"], "localhost");
    assert_eq!(options["user"]["name"], email.as_str());
    assert_eq!(options["authenticatorSelection"]["residentKey"], "required");
    assert_eq!(
        options["authenticatorSelection"]["userVerification"],
        "required"
    );
    let credential = phone.create(&options);
    let signed_up = rest
        .json(
            Method::POST,
            "/users/passkeys/register/finish/",
            json!({"ceremony_id": ceremony_id, "credential": credential, "name": "Phone"}),
        )
        .await;
    assert_eq!(signed_up.status, 201, "{:?}", signed_up.body);
    assert_eq!(signed_up.data()["email"], email.as_str());
    for field in ["_id", "token", "refresh_token", "expires_at"] {
        assert!(
            signed_up.data()[field].is_string(),
            "{field}: {:?}",
            signed_up.body
        );
    }
    // The same ceremony again is refused: it was spent.
    let again = rest
        .json(
            Method::POST,
            "/users/passkeys/register/finish",
            json!({"ceremony_id": ceremony_id, "credential": credential}),
        )
        .await;
    assert_eq!(again.status, 400, "{:?}", again.body);

    // Usernameless sign-in.
    let (ceremony_id, options) = start(&rest, "/users/login/passkey/start", json!({})).await;
    assert!(
        options["allowCredentials"]
            .as_array()
            .is_none_or(Vec::is_empty)
    );
    assert_eq!(options["rpId"], "localhost");
    let assertion = phone.get(&options);
    let signed_in = rest
        .json(
            Method::POST,
            "/users/login/passkey/finish",
            json!({"ceremony_id": ceremony_id, "credential": assertion}),
        )
        .await;
    assert_eq!(signed_in.status, 200, "{:?}", signed_in.body);
    let token = signed_in.data()["token"].as_str().unwrap();
    let owner = rest.with_token(token);
    let replayed = rest
        .json(
            Method::POST,
            "/users/login/passkey/finish",
            json!({"ceremony_id": ceremony_id, "credential": assertion}),
        )
        .await;
    assert_eq!(replayed.status, 401);
    assert_eq!(replayed.message(), "Passkey sign-in failed");

    let listed = owner.get("/users/passkeys").await;
    assert_eq!(listed.status, 200);
    let passkey = &listed.data()[0];
    let mut fields: Vec<&str> = passkey
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "_id",
            "aaguid",
            "authenticator",
            "backed_up",
            "created_at",
            "kind",
            "last_used_at",
            "name"
        ]
    );
    assert_eq!(passkey["name"], "Phone");
    assert_eq!(passkey["kind"], "passkey");
    assert!(passkey["authenticator"].is_null());
    assert!(passkey["last_used_at"].is_string());
    let id = passkey["_id"].as_str().unwrap();

    let renamed = owner
        .json(
            Method::PATCH,
            &format!("/users/passkeys/{id}"),
            json!({"name": "Work phone"}),
        )
        .await;
    assert_eq!(renamed.status, 200, "{:?}", renamed.body);
    assert_eq!(renamed.data()["name"], "Work phone");
    let last = owner.delete(&format!("/users/passkeys/{id}")).await;
    assert_eq!(last.status, 400, "{:?}", last.body);
    assert!(last.message().contains("last way in"), "{:?}", last.body);
    let missing = owner
        .delete(&format!("/users/passkeys/{}", uuid::Uuid::new_v4()))
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.message(), "Passkey not found");

    // No password opens the account.
    assert_eq!(rest.login(&email, &strong_password()).await.status, 401);
}

#[tokio::test]
async fn a_security_key_is_the_second_step_of_a_password_login_over_rest() {
    let stack = InProcessStack::spawn().await;
    let (user, rest) = stack.rest().signed_up("Key Holder").await;
    let email = user["email"].as_str().unwrap().to_owned();
    let mut key = SoftAuthenticator::new(ORIGIN);
    key.verifies_user = false;

    let (ceremony_id, options) = start(
        &rest,
        "/users/passkeys/register/start",
        json!({"kind": "security_key"}),
    )
    .await;
    // Browsers refuse the whole creation when the options ask for the
    // user-verification-required protection policy but not for user verification.
    if options["authenticatorSelection"]["userVerification"] != "required" {
        assert!(
            options["extensions"]["credentialProtectionPolicy"] != "userVerificationRequired",
            "options a browser would refuse: {options}"
        );
    }
    let added = rest
        .json(
            Method::POST,
            "/users/passkeys/register/finish",
            json!({"ceremony_id": ceremony_id, "credential": key.create(&options), "name": "YubiKey 5"}),
        )
        .await;
    assert_eq!(added.status, 201, "{:?}", added.body);
    assert_eq!(added.data()["kind"], "security_key");
    assert_eq!(added.data()["name"], "YubiKey 5");
    assert_eq!(added.data()["backed_up"], false);

    let unknown_kind = rest
        .json(
            Method::POST,
            "/users/passkeys/register/start",
            json!({"kind": "fingerprint"}),
        )
        .await;
    assert_eq!(unknown_kind.status, 400);

    let step = stack.rest().login(&email, &strong_password()).await;
    assert_eq!(step.status, 200, "{:?}", step.body);
    assert_eq!(step.data()["mfa_required"], true);
    assert!(step.data().get("token").is_none());
    assert_eq!(step.data()["mfa_methods"], json!(["security_key"]));
    let options = &step.data()["security_key"]["options"];
    assert_eq!(
        options["allowCredentials"].as_array().map(Vec::len),
        Some(1)
    );
    let done = stack
        .rest()
        .json(
            Method::POST,
            "/users/login/mfa",
            json!({"mfa_token": step.data()["mfa_token"], "credential": key.get(options)}),
        )
        .await;
    assert_eq!(done.status, 200, "{:?}", done.body);
    assert!(done.data()["token"].is_string());
}
