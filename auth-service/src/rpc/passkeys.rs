//! The passkey RPCs: registration and sign-up, listing, renaming and deleting, and
//! passkey sign-in. WebAuthn's structures travel as JSON strings, parsed here.

use bookshelf_proto::auth::v1::{
    DeletePasskeyRequest, DeletePasskeyResponse, FinishPasskeyLoginRequest,
    FinishPasskeyLoginResponse, FinishPasskeyRegistrationRequest,
    FinishPasskeyRegistrationResponse, FinishPasskeySignUpRequest, FinishPasskeySignUpResponse,
    ListPasskeysRequest, ListPasskeysResponse, LoginMfaResponse, Passkey, PasskeyKind,
    RenamePasskeyRequest, RenamePasskeyResponse, StartPasskeyLoginRequest,
    StartPasskeyLoginResponse, StartPasskeyRegistrationRequest, StartPasskeyRegistrationResponse,
    StartPasskeySignUpRequest, StartPasskeySignUpResponse,
};
use bookshelf_runtime::{clock::timestamp, errors::FieldViolation};
use tonic::{Request, Status};

use super::AuthApi;
use crate::{
    domain::{
        Email, UserName,
        passkeys::{self, CeremonyId, CredentialKind, authenticator_model},
    },
    error::AuthError,
    store::passkeys::CredentialRecord,
};

/// A credential as its owner sees it.
fn passkey_message(record: &CredentialRecord) -> Passkey {
    Passkey {
        id: record.id.clone(),
        name: record.name.as_str().to_owned(),
        kind: match record.kind {
            CredentialKind::Passkey => PasskeyKind::Passkey,
            CredentialKind::SecurityKey => PasskeyKind::SecurityKey,
        } as i32,
        created_at: Some(timestamp(record.created_at)),
        last_used_at: record.last_used_at.map(timestamp),
        aaguid: record.aaguid.clone(),
        authenticator: authenticator_model(&record.aaguid)
            .unwrap_or_default()
            .to_owned(),
        backed_up: record.backed_up,
    }
}

/// A ceremony's id and the new credential, both violations reported at once.
fn finish_fields(
    ceremony_id: &str,
    credential: &str,
) -> Result<
    (
        CeremonyId,
        webauthn_rs::prelude::RegisterPublicKeyCredential,
    ),
    AuthError,
> {
    match (
        CeremonyId::parse(ceremony_id),
        passkeys::new_credential(credential),
    ) {
        (Ok(id), Ok(credential)) => Ok((id, credential)),
        (id, credential) => Err(AuthError::InvalidArgument(
            [id.err(), credential.err()].into_iter().flatten().collect(),
        )),
    }
}

impl AuthApi {
    pub(super) async fn start_registration(
        &self,
        request: Request<StartPasskeyRegistrationRequest>,
    ) -> Result<StartPasskeyRegistrationResponse, Status> {
        let caller = self.current(&request).await?;
        let address = self.client_key(&request);
        let request = request.into_inner();
        let kind = match PasskeyKind::try_from(request.kind) {
            Ok(PasskeyKind::Unspecified | PasskeyKind::Passkey) => CredentialKind::Passkey,
            Ok(PasskeyKind::SecurityKey) => CredentialKind::SecurityKey,
            Err(_) => {
                return Err(AuthError::from(FieldViolation::new(
                    "kind",
                    "must be passkey or security_key",
                ))
                .into());
            }
        };
        let started = self
            .auth
            .start_passkey_registration(&caller, &address, &request.current_password, kind)
            .await?;
        Ok(StartPasskeyRegistrationResponse {
            ceremony_id: started.ceremony_id.as_str().to_owned(),
            options_json: started.options_json,
        })
    }

    pub(super) async fn finish_registration(
        &self,
        request: Request<FinishPasskeyRegistrationRequest>,
    ) -> Result<FinishPasskeyRegistrationResponse, Status> {
        let caller = self.current(&request).await?;
        let request = request.into_inner();
        let (id, credential) = finish_fields(&request.ceremony_id, &request.credential_json)?;
        let record = self
            .auth
            .finish_passkey_registration(&caller, &id, &credential, &request.name)
            .await?;
        Ok(FinishPasskeyRegistrationResponse {
            passkey: Some(passkey_message(&record)),
        })
    }

    pub(super) async fn start_sign_up(
        &self,
        request: Request<StartPasskeySignUpRequest>,
    ) -> Result<StartPasskeySignUpResponse, Status> {
        let address = self.client_key(&request);
        let request = request.into_inner();
        let (name, email) = match (UserName::parse(&request.name), Email::parse(&request.email)) {
            (Ok(name), Ok(email)) => (name, email),
            (name, email) => {
                return Err(AuthError::InvalidArgument(
                    [name.err(), email.err()].into_iter().flatten().collect(),
                )
                .into());
            }
        };
        let started = self
            .auth
            .start_passkey_sign_up(&address, name, email)
            .await?;
        Ok(StartPasskeySignUpResponse {
            ceremony_id: started.ceremony_id.as_str().to_owned(),
            options_json: started.options_json,
        })
    }

    pub(super) async fn finish_sign_up(
        &self,
        request: Request<FinishPasskeySignUpRequest>,
    ) -> Result<FinishPasskeySignUpResponse, Status> {
        let client = self.client_seen(&request);
        let request = request.into_inner();
        let (id, credential) = finish_fields(&request.ceremony_id, &request.credential_json)?;
        let (login, record) = self
            .auth
            .finish_passkey_sign_up(&id, &credential, &request.name, &client)
            .await?;
        let login = LoginMfaResponse::from(login);
        Ok(FinishPasskeySignUpResponse {
            token: login.token,
            expires_at: login.expires_at,
            user: login.user,
            refresh_token: login.refresh_token,
            session_id: login.session_id,
            refresh_expires_at: login.refresh_expires_at,
            passkey: Some(passkey_message(&record)),
        })
    }

    pub(super) async fn list(
        &self,
        request: Request<ListPasskeysRequest>,
    ) -> Result<ListPasskeysResponse, Status> {
        let caller = self.current(&request).await?;
        let records = self.auth.list_passkeys(&caller).await?;
        Ok(ListPasskeysResponse {
            passkeys: records.iter().map(passkey_message).collect(),
        })
    }

    pub(super) async fn rename(
        &self,
        request: Request<RenamePasskeyRequest>,
    ) -> Result<RenamePasskeyResponse, Status> {
        let caller = self.current(&request).await?;
        let request = request.get_ref();
        let record = self
            .auth
            .rename_passkey(&caller, &request.id, &request.name)
            .await?;
        Ok(RenamePasskeyResponse {
            passkey: Some(passkey_message(&record)),
        })
    }

    pub(super) async fn delete(
        &self,
        request: Request<DeletePasskeyRequest>,
    ) -> Result<DeletePasskeyResponse, Status> {
        let caller = self.current(&request).await?;
        let address = self.client_key(&request);
        let request = request.get_ref();
        self.auth
            .delete_passkey(&caller, &address, &request.current_password, &request.id)
            .await?;
        Ok(DeletePasskeyResponse {})
    }

    pub(super) async fn start_login(
        &self,
        _request: Request<StartPasskeyLoginRequest>,
    ) -> Result<StartPasskeyLoginResponse, Status> {
        let started = self.auth.start_passkey_login().await?;
        Ok(StartPasskeyLoginResponse {
            ceremony_id: started.ceremony_id.as_str().to_owned(),
            options_json: started.options_json,
        })
    }

    pub(super) async fn finish_login(
        &self,
        request: Request<FinishPasskeyLoginRequest>,
    ) -> Result<FinishPasskeyLoginResponse, Status> {
        let address = self.client_key(&request);
        let client = self.client_seen(&request);
        let request = request.into_inner();
        let (id, assertion) = match (
            CeremonyId::parse(&request.ceremony_id),
            passkeys::assertion(&request.credential_json),
        ) {
            (Ok(id), Ok(assertion)) => (id, assertion),
            (id, assertion) => {
                return Err(AuthError::InvalidArgument(
                    [id.err(), assertion.err()].into_iter().flatten().collect(),
                )
                .into());
            }
        };
        let login = self
            .auth
            .finish_passkey_login(&id, &assertion, &address, &client)
            .await?;
        let login = LoginMfaResponse::from(login);
        Ok(FinishPasskeyLoginResponse {
            token: login.token,
            expires_at: login.expires_at,
            user: login.user,
            refresh_token: login.refresh_token,
            session_id: login.session_id,
            refresh_expires_at: login.refresh_expires_at,
        })
    }
}
