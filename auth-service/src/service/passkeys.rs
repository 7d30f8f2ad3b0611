//! Passkeys and security keys: adding one to an account, signing up with a passkey
//! and no password, listing, renaming and deleting them.
//!
//! Each ceremony's state waits in the database between its two calls
//! ([`super::ceremonies`]).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::Serialize;
use webauthn_rs::prelude::{
    CreationChallengeResponse, Passkey, PasskeyRegistration, RegisterPublicKeyCredential,
    SecurityKey, SecurityKeyRegistration, Uuid,
};

use super::{Auth, CurrentCaller, ceremonies::purpose, sessions::CompletedLogin};
use crate::{
    domain::{
        Email, UserId, UserName,
        passkeys::{CeremonyError, CeremonyId, CredentialKind, PasskeyName, authenticator_facts},
        session::ClientSeen,
    },
    error::AuthError,
    store::passkeys::{CredentialRecord, Deletion},
};

/// A ceremony begun: its id and the options for the browser, as JSON.
pub(crate) struct Started {
    pub ceremony_id: CeremonyId,
    pub options_json: String,
}

/// A registration's state, by the kind of credential it makes.
#[derive(serde::Serialize, serde::Deserialize)]
enum Registration {
    Passkey(PasskeyRegistration),
    SecurityKey(SecurityKeyRegistration),
}

/// A sign-up's state: the account to create, and its passkey's registration.
#[derive(serde::Serialize, serde::Deserialize)]
struct SignUp {
    name: String,
    email: String,
    registration: PasskeyRegistration,
}

/// The user handle WebAuthn stores with a discoverable credential: the account's id.
pub(crate) fn user_handle(user_id: &UserId) -> Result<Uuid, AuthError> {
    Uuid::parse_str(user_id.as_str()).map_err(|_| AuthError::from(CeremonyError::UserHandle))
}

/// A credential id as stored: base64url.
pub(crate) fn stored_credential_id(id: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(id)
}

/// The creation options of `challenge` as `parseCreationOptionsFromJSON()` takes them;
/// for a passkey, with a discoverable credential required (the library asks for none,
/// and usernameless sign-in needs one).
fn creation_options(
    challenge: &CreationChallengeResponse,
    discoverable: bool,
) -> Result<String, AuthError> {
    let mut options = serde_json::to_value(&challenge.public_key).map_err(CeremonyError::State)?;
    if discoverable && let Some(selection) = options.get_mut("authenticatorSelection") {
        selection["residentKey"] = "required".into();
        selection["requireResidentKey"] = true.into();
    }
    drop_inconsistent_protection(&mut options);
    Ok(options.to_string())
}

/// Browsers refuse a creation that asks for the `userVerificationRequired` protection
/// policy without requiring user verification itself (WebAuthn calls the pair
/// inconsistent), and the library asks for exactly that pair, unenforced, for security
/// keys. Unenforced, the policy changes nothing the relying party checks, so it is left
/// out rather than let every browser's registration fail.
fn drop_inconsistent_protection(options: &mut serde_json::Value) {
    let verification_required = options["authenticatorSelection"]["userVerification"] == "required";
    let Some(extensions) = options
        .get_mut("extensions")
        .and_then(serde_json::Value::as_object_mut)
    else {
        return;
    };
    let asks_for_verification =
        extensions.get("credentialProtectionPolicy") == Some(&"userVerificationRequired".into());
    let enforced = extensions.get("enforceCredentialProtectionPolicy") == Some(&true.into());
    if asks_for_verification && !verification_required && !enforced {
        extensions.remove("credentialProtectionPolicy");
        extensions.remove("enforceCredentialProtectionPolicy");
    }
}

/// A registration the library refused: the credential does not answer the ceremony.
fn rejected(error: webauthn_rs::prelude::WebauthnError) -> AuthError {
    tracing::debug!(%error, "a new credential was refused");
    AuthError::from(bookshelf_runtime::errors::FieldViolation::new(
        "credential",
        "does not answer this ceremony (origin, relying party, challenge or user verification)",
    ))
}

impl Auth {
    /// Begins adding a credential of `kind` to `caller`'s account, given a recent
    /// sign-in or `current_password`.
    pub(crate) async fn start_passkey_registration(
        &self,
        caller: &CurrentCaller,
        address: &str,
        current_password: &str,
        kind: CredentialKind,
    ) -> Result<Started, AuthError> {
        self.require_recent_sign_in(caller, address, current_password)
            .await?;
        let user = &caller.user;
        let exclude = self
            .store
            .credentials(&user.id)
            .await?
            .iter()
            .filter_map(|record| URL_SAFE_NO_PAD.decode(&record.credential_id).ok())
            .collect();
        let handle = user_handle(&user.id)?;
        let (email, name) = (user.email.as_str(), user.name.as_str());
        let (options_json, state) = match kind {
            CredentialKind::Passkey => {
                let (challenge, state) = self
                    .webauthn
                    .start_passkey_registration(handle, email, name, Some(exclude))
                    .map_err(CeremonyError::Start)?;
                (
                    creation_options(&challenge, true)?,
                    Registration::Passkey(state),
                )
            }
            CredentialKind::SecurityKey => {
                let (challenge, state) = self
                    .webauthn
                    .start_securitykey_registration(handle, email, name, Some(exclude), None, None)
                    .map_err(CeremonyError::Start)?;
                (
                    creation_options(&challenge, false)?,
                    Registration::SecurityKey(state),
                )
            }
        };
        let id = CeremonyId::generate().map_err(|_| CeremonyError::Random)?;
        let ceremony_id = self
            .begin_ceremony(id, purpose::REGISTER, Some(&user.id), &state)
            .await?;
        Ok(Started {
            ceremony_id,
            options_json,
        })
    }

    /// Finishes adding a credential to `caller`'s account: the credential added.
    pub(crate) async fn finish_passkey_registration(
        &self,
        caller: &CurrentCaller,
        ceremony_id: &CeremonyId,
        credential: &RegisterPublicKeyCredential,
        name: &str,
    ) -> Result<CredentialRecord, AuthError> {
        let name = PasskeyName::given(name)?;
        let (owner, state) = self
            .take_ceremony::<Registration>(ceremony_id, purpose::REGISTER)
            .await?
            .ok_or(AuthError::CeremonyNotFound)?;
        if owner.as_deref() != Some(caller.user.id.as_str()) {
            return Err(AuthError::CeremonyNotFound);
        }
        let (kind, serialised, credential_id) = match state {
            Registration::Passkey(state) => {
                let passkey = self
                    .webauthn
                    .finish_passkey_registration(credential, &state)
                    .map_err(rejected)?;
                let id = passkey.cred_id().clone();
                (CredentialKind::Passkey, serialise(&passkey)?, id)
            }
            Registration::SecurityKey(state) => {
                let key = self
                    .webauthn
                    .finish_securitykey_registration(credential, &state)
                    .map_err(rejected)?;
                let id = key.cred_id().clone();
                (CredentialKind::SecurityKey, serialise(&key)?, id)
            }
        };
        let name = name.unwrap_or_else(|| PasskeyName::default_for(kind));
        let record = self.new_record(
            &caller.user.id,
            kind,
            name,
            serialised,
            &credential_id,
            credential,
        );
        if !self.store.add_credential(&record).await? {
            return Err(AuthError::InactiveUser);
        }
        tracing::info!(user_id = %caller.user.id, kind = kind.as_str(), "credential added");
        Ok(record)
    }

    /// Begins a passkey-only account's sign-up, for the client limited under
    /// `address`: counted as a registration is.
    pub(crate) async fn start_passkey_sign_up(
        &self,
        address: &str,
        name: UserName,
        email: Email,
    ) -> Result<Started, AuthError> {
        let attempt = self.throttle.register(address).await?;
        drop(attempt);
        if self.store.user_by_email(&email).await?.is_some() {
            return Err(crate::store::StoreError::EmailTaken.into());
        }
        let id = UserId::generate();
        let (challenge, registration) = self
            .webauthn
            .start_passkey_registration(user_handle(&id)?, email.as_str(), name.as_str(), None)
            .map_err(CeremonyError::Start)?;
        let options_json = creation_options(&challenge, true)?;
        let state = SignUp {
            name: name.as_str().to_owned(),
            email: email.as_str().to_owned(),
            registration,
        };
        let ceremony = CeremonyId::generate().map_err(|_| CeremonyError::Random)?;
        let ceremony_id = self
            .begin_ceremony(ceremony, purpose::SIGN_UP, Some(&id), &state)
            .await?;
        Ok(Started {
            ceremony_id,
            options_json,
        })
    }

    /// Finishes a sign-up: the account is created with its passkey and signed in.
    pub(crate) async fn finish_passkey_sign_up(
        &self,
        ceremony_id: &CeremonyId,
        credential: &RegisterPublicKeyCredential,
        name: &str,
        client: &ClientSeen,
    ) -> Result<(CompletedLogin, CredentialRecord), AuthError> {
        let name = PasskeyName::given(name)?
            .unwrap_or_else(|| PasskeyName::default_for(CredentialKind::Passkey));
        let (user_id, state) = self
            .take_ceremony::<SignUp>(ceremony_id, purpose::SIGN_UP)
            .await?
            .ok_or(AuthError::CeremonyNotFound)?;
        let user_id = UserId::issued(user_id.ok_or(AuthError::CeremonyNotFound)?);
        let passkey = self
            .webauthn
            .finish_passkey_registration(credential, &state.registration)
            .map_err(rejected)?;
        let record = self.new_record(
            &user_id,
            CredentialKind::Passkey,
            name,
            serialise(&passkey)?,
            passkey.cred_id(),
            credential,
        );
        // Parsed when the sign-up began.
        let (user_name, email) = (UserName::stored(state.name), Email::stored(state.email));
        self.store
            .insert_passkey_user(&user_name, &email, &record, self.clock.now_ms())
            .await?;
        let user = self.user(&user_id).await?;
        let version = user.credential_version;
        let login = self
            .complete_login(user, version, client)
            .await?
            .ok_or(AuthError::InactiveUser)?;
        Ok((login, record))
    }

    fn new_record(
        &self,
        user_id: &UserId,
        kind: CredentialKind,
        name: PasskeyName,
        serialised: String,
        credential_id: &[u8],
        credential: &RegisterPublicKeyCredential,
    ) -> CredentialRecord {
        let facts = authenticator_facts(credential);
        CredentialRecord {
            id: Uuid::new_v4().to_string(),
            user_id: user_id.clone(),
            credential_id: stored_credential_id(credential_id),
            kind,
            name,
            credential: serialised,
            aaguid: facts.map_or_else(|| Uuid::nil().to_string(), |facts| facts.aaguid.to_string()),
            sign_count: facts.map_or(0, |facts| i64::from(facts.counter)),
            backed_up: facts.is_some_and(|facts| facts.backed_up),
            created_at: self.clock.now_ms(),
            last_used_at: None,
        }
    }

    /// `caller`'s credentials, oldest first.
    pub(crate) async fn list_passkeys(
        &self,
        caller: &CurrentCaller,
    ) -> Result<Vec<CredentialRecord>, AuthError> {
        Ok(self.store.credentials(&caller.user.id).await?)
    }

    /// Relabels one of `caller`'s credentials.
    pub(crate) async fn rename_passkey(
        &self,
        caller: &CurrentCaller,
        id: &str,
        name: &str,
    ) -> Result<CredentialRecord, AuthError> {
        let name = PasskeyName::parse(name)?;
        let id = Uuid::parse_str(id).map_err(|_| AuthError::PasskeyNotFound)?;
        self.store
            .rename_credential(&caller.user.id, &id.to_string(), &name)
            .await?
            .ok_or(AuthError::PasskeyNotFound)
    }

    /// Deletes one of `caller`'s credentials, given a recent sign-in or
    /// `current_password`, unless it is the account's last way in.
    pub(crate) async fn delete_passkey(
        &self,
        caller: &CurrentCaller,
        address: &str,
        current_password: &str,
        id: &str,
    ) -> Result<(), AuthError> {
        let id = Uuid::parse_str(id).map_err(|_| AuthError::PasskeyNotFound)?;
        self.require_recent_sign_in(caller, address, current_password)
            .await?;
        match self
            .store
            .delete_credential(&caller.user.id, &id.to_string())
            .await?
        {
            Deletion::Deleted => Ok(()),
            Deletion::NotFound => Err(AuthError::PasskeyNotFound),
            Deletion::LastWayIn => Err(AuthError::LastWayIn),
        }
    }
}

/// A credential as stored.
pub(crate) fn serialise(credential: &impl Serialize) -> Result<String, AuthError> {
    Ok(serde_json::to_string(credential).map_err(CeremonyError::State)?)
}

/// A stored passkey.
pub(crate) fn stored_passkey(record: &CredentialRecord) -> Result<Passkey, AuthError> {
    Ok(serde_json::from_str(&record.credential).map_err(CeremonyError::State)?)
}

/// A stored security key.
pub(crate) fn stored_security_key(record: &CredentialRecord) -> Result<SecurityKey, AuthError> {
    Ok(serde_json::from_str(&record.credential).map_err(CeremonyError::State)?)
}
