//! Passkey ceremonies against the auth service over gRPC, driven by a
//! [`SoftAuthenticator`]: each helper starts a ceremony, lets the authenticator answer
//! the options as a browser would, and finishes it.

use bookshelf_proto::auth::v1::{
    FinishPasskeyLoginRequest, FinishPasskeyLoginResponse, FinishPasskeyRegistrationRequest,
    FinishPasskeySignUpRequest, FinishPasskeySignUpResponse, Passkey, PasskeyKind,
    StartPasskeyLoginRequest, StartPasskeyRegistrationRequest, StartPasskeySignUpRequest,
    auth_service_client::AuthServiceClient,
};
use serde_json::Value;
use tonic::{Status, transport::Channel};

use crate::{authenticator::SoftAuthenticator, bearer};

/// The origin of the service's default configuration.
pub const ORIGIN: &str = "http://localhost:8080";

fn parsed(json: &str) -> Value {
    serde_json::from_str(json).expect("options are JSON")
}

/// Adds a credential of `kind` made by `authenticator` to the account of `token`
/// (signed in recently), named `name`.
pub async fn add_credential(
    client: &mut AuthServiceClient<Channel>,
    token: &str,
    authenticator: &mut SoftAuthenticator,
    kind: PasskeyKind,
    name: &str,
) -> Result<Passkey, Status> {
    let started = client
        .start_passkey_registration(bearer(
            StartPasskeyRegistrationRequest {
                kind: kind as i32,
                current_password: String::new(),
            },
            token,
        ))
        .await?
        .into_inner();
    let credential = authenticator.create(&parsed(&started.options_json));
    let finished = client
        .finish_passkey_registration(bearer(
            FinishPasskeyRegistrationRequest {
                ceremony_id: started.ceremony_id,
                credential_json: credential.to_string(),
                name: name.to_owned(),
            },
            token,
        ))
        .await?
        .into_inner();
    Ok(finished.passkey.expect("the passkey added"))
}

/// Signs up a passkey-only account for `email` with a passkey of `authenticator`.
pub async fn sign_up(
    client: &mut AuthServiceClient<Channel>,
    authenticator: &mut SoftAuthenticator,
    email: &str,
) -> Result<FinishPasskeySignUpResponse, Status> {
    let started = client
        .start_passkey_sign_up(StartPasskeySignUpRequest {
            name: "Passkey Reader".into(),
            email: email.to_owned(),
        })
        .await?
        .into_inner();
    let credential = authenticator.create(&parsed(&started.options_json));
    Ok(client
        .finish_passkey_sign_up(FinishPasskeySignUpRequest {
            ceremony_id: started.ceremony_id,
            credential_json: credential.to_string(),
            name: String::new(),
        })
        .await?
        .into_inner())
}

/// A usernameless sign-in begun: its ceremony id and request options.
pub async fn start_login(client: &mut AuthServiceClient<Channel>) -> (String, Value) {
    let started = client
        .start_passkey_login(StartPasskeyLoginRequest {})
        .await
        .expect("a sign-in begins")
        .into_inner();
    (started.ceremony_id, parsed(&started.options_json))
}

/// Finishes sign-in `ceremony_id` with `assertion`.
pub async fn finish_login(
    client: &mut AuthServiceClient<Channel>,
    ceremony_id: &str,
    assertion: &Value,
) -> Result<FinishPasskeyLoginResponse, Status> {
    client
        .finish_passkey_login(FinishPasskeyLoginRequest {
            ceremony_id: ceremony_id.to_owned(),
            credential_json: assertion.to_string(),
        })
        .await
        .map(tonic::Response::into_inner)
}

/// A whole usernameless sign-in with `authenticator`.
pub async fn login(
    client: &mut AuthServiceClient<Channel>,
    authenticator: &mut SoftAuthenticator,
) -> Result<FinishPasskeyLoginResponse, Status> {
    let (ceremony_id, options) = start_login(client).await;
    let assertion = authenticator.get(&options);
    finish_login(client, &ceremony_id, &assertion).await
}
