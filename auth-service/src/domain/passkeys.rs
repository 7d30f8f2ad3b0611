//! WebAuthn credentials' values: what a credential is for (a passkey or a security
//! key), its label, the id of a ceremony in progress, and what a registration tells
//! of its authenticator (the model's AAGUID, whether the credential is backed up).
//!
//! The ceremonies themselves (challenges, signatures, origins, counters) are
//! `webauthn-rs`'s; the JSON a browser sends is parsed into its types here, at the
//! edge.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use bookshelf_runtime::errors::FieldViolation;
use ring::rand::{SecureRandom, SystemRandom};
use uuid::Uuid;
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential, WebauthnError};

use super::second_factor::SecondFactor;

/// Why a ceremony could not be begun or its state kept: never the client's doing.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CeremonyError {
    /// The library could not make the challenge.
    #[error("cannot begin the WebAuthn ceremony")]
    Start(#[source] WebauthnError),
    /// A ceremony's or a credential's state could not be written or read back.
    #[error("cannot serialise WebAuthn state")]
    State(#[source] serde_json::Error),
    /// The system's random source failed.
    #[error("no randomness available")]
    Random,
    /// An account id is not the UUID a user handle is made of.
    #[error("an account id is not a UUID")]
    UserHandle,
}

/// What a login's second step offers.
#[derive(Debug)]
pub(crate) enum SecondStepProof {
    /// A code: TOTP or a recovery code.
    Code(SecondFactor),
    /// A security key's assertion for the options the login answered.
    SecurityKey(Box<PublicKeyCredential>),
}

/// What a credential is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CredentialKind {
    /// A discoverable credential with user verification: a first factor.
    Passkey,
    /// A second factor beside TOTP, asked for after the password.
    SecurityKey,
}

impl CredentialKind {
    /// The kind as stored.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Passkey => "passkey",
            Self::SecurityKey => "security_key",
        }
    }

    /// A kind as stored; anything else is a security key, the kind that opens less.
    pub(crate) fn stored(raw: &str) -> Self {
        if raw == "passkey" {
            Self::Passkey
        } else {
            Self::SecurityKey
        }
    }

    /// The label a credential gets when its owner gives none.
    pub(crate) fn default_name(self) -> &'static str {
        match self {
            Self::Passkey => "Passkey",
            Self::SecurityKey => "Security key",
        }
    }
}

/// A credential's label: 1 to 64 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PasskeyName(String);

impl PasskeyName {
    /// Parses a label given in field `name`.
    pub(crate) fn parse(raw: &str) -> Result<Self, FieldViolation> {
        let name = raw.trim();
        let length = name.chars().count();
        if length == 0 || length > 64 || name.chars().any(char::is_control) {
            return Err(FieldViolation::new(
                "name",
                "must be 1 to 64 characters, without control characters",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    /// A label when one was given (`raw` not blank).
    pub(crate) fn given(raw: &str) -> Result<Option<Self>, FieldViolation> {
        if raw.trim().is_empty() {
            Ok(None)
        } else {
            Self::parse(raw).map(Some)
        }
    }

    /// The label a credential of `kind` gets when its owner gives none.
    pub(crate) fn default_for(kind: CredentialKind) -> Self {
        Self(kind.default_name().to_owned())
    }

    /// A label as stored.
    pub(crate) fn stored(raw: String) -> Self {
        Self(raw)
    }

    /// The label.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// The id of a ceremony in progress: 256 random bits, base64url.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CeremonyId(String);

impl CeremonyId {
    /// A new random id.
    pub(crate) fn generate() -> Result<Self, ring::error::Unspecified> {
        let mut bytes = [0u8; 32];
        SystemRandom::new().fill(&mut bytes)?;
        Ok(Self(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// The id that names the second-factor ceremony of the login waiting under the
    /// `mfa_token` digest `digest`: one per such login, found again by its token.
    pub(crate) fn for_second_step(digest: &str) -> Self {
        Self(format!("mfa.{digest}"))
    }

    /// Parses an id as a client sends it back.
    pub(crate) fn parse(raw: &str) -> Result<Self, FieldViolation> {
        let raw = raw.trim();
        if raw.len() == 43 && URL_SAFE_NO_PAD.decode(raw).is_ok() {
            Ok(Self(raw.to_owned()))
        } else {
            Err(FieldViolation::new(
                "ceremony_id",
                "the ceremony_id the start of the ceremony answered",
            ))
        }
    }

    /// The id as stored and sent.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new credential, as `navigator.credentials.create()` made it (its `toJSON()`).
pub(crate) fn new_credential(raw: &str) -> Result<RegisterPublicKeyCredential, FieldViolation> {
    serde_json::from_str(raw).map_err(|_| {
        FieldViolation::new(
            "credential",
            "the PublicKeyCredential.toJSON() of navigator.credentials.create()",
        )
    })
}

/// An assertion, as `navigator.credentials.get()` made it (its `toJSON()`).
pub(crate) fn assertion(raw: &str) -> Result<PublicKeyCredential, FieldViolation> {
    serde_json::from_str(raw).map_err(|_| {
        FieldViolation::new(
            "credential",
            "the PublicKeyCredential.toJSON() of navigator.credentials.get()",
        )
    })
}

/// What a registration's authenticator data says of the authenticator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AuthenticatorFacts {
    /// The model's AAGUID (all zeros when it declares none).
    pub aaguid: Uuid,
    /// The backup state flag (BS): the credential is synced beyond the device.
    pub backed_up: bool,
    /// The signature counter at registration.
    pub counter: u32,
}

/// The flag bit of backup state in authenticator data (WebAuthn L3 6.1).
const BACKUP_STATE: u8 = 0x10;
/// Where the AAGUID starts: after the RP id hash (32), flags (1) and counter (4).
const AAGUID_AT: usize = 37;

/// The AAGUID and backup state in `credential`'s attestation object, which the
/// library has verified by the time this is read; `None` if it holds none.
pub(crate) fn authenticator_facts(
    credential: &RegisterPublicKeyCredential,
) -> Option<AuthenticatorFacts> {
    let object: serde_cbor_2::Value =
        serde_cbor_2::from_slice(&credential.response.attestation_object).ok()?;
    let serde_cbor_2::Value::Map(entries) = object else {
        return None;
    };
    let auth_data = entries.iter().find_map(|(key, value)| match (key, value) {
        (serde_cbor_2::Value::Text(key), serde_cbor_2::Value::Bytes(data)) if key == "authData" => {
            Some(data)
        }
        _ => None,
    })?;
    let flags = *auth_data.get(32)?;
    let counter = auth_data.get(33..AAGUID_AT)?;
    let aaguid = auth_data.get(AAGUID_AT..AAGUID_AT + 16)?;
    Some(AuthenticatorFacts {
        aaguid: Uuid::from_slice(aaguid).ok()?,
        backed_up: flags & BACKUP_STATE != 0,
        counter: u32::from_be_bytes(counter.try_into().ok()?),
    })
}

/// A few well-known authenticator models by AAGUID, as their makers publish them.
const KNOWN_MODELS: &[(&str, &str)] = &[
    (
        "ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4",
        "Google Password Manager",
    ),
    ("adce0002-35bc-c60a-648b-0b25f1f05503", "Chrome on Mac"),
    ("fbfc3007-154e-4ecc-8c0b-6e020557d7bd", "iCloud Keychain"),
    ("08987058-cadc-4b81-b6e1-30de50dcbe96", "Windows Hello"),
    ("9ddd1817-af5a-4672-a2b9-3e3dd95000a9", "Windows Hello"),
    ("6028b017-b1d4-4c02-b4b3-afcdafc96bb2", "Windows Hello"),
    ("bada5566-a7aa-401f-bd96-45619a55120d", "1Password"),
    ("d548826e-79b4-db40-a3d8-11116f7e8349", "Bitwarden"),
    ("cb69481e-8ff7-4039-93ec-0a2729a154a8", "YubiKey 5 Series"),
    ("ee882879-721c-4913-9775-3dfcce97072a", "YubiKey 5 Series"),
    (
        "fa2b99dc-9e39-4257-8f92-4a30d23c4118",
        "YubiKey 5 Series with NFC",
    ),
    (
        "2fc0579f-8113-47ea-b116-bb5a8db9202a",
        "YubiKey 5 Series with NFC",
    ),
];

/// The model's name for `aaguid`, when it is one of [`KNOWN_MODELS`].
pub(crate) fn authenticator_model(aaguid: &str) -> Option<&'static str> {
    KNOWN_MODELS
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(aaguid))
        .map(|(_, model)| *model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_bounded_and_default_by_kind() {
        assert_eq!(PasskeyName::given("  ").unwrap(), None);
        assert_eq!(
            PasskeyName::default_for(CredentialKind::SecurityKey).as_str(),
            "Security key"
        );
        assert_eq!(
            PasskeyName::parse(" YubiKey 5 ").unwrap().as_str(),
            "YubiKey 5"
        );
        assert!(PasskeyName::parse(&"x".repeat(65)).is_err());
        assert!(PasskeyName::parse("a\u{7}b").is_err());
    }

    #[test]
    fn ceremony_ids_round_trip_and_garbage_is_refused() {
        let id = CeremonyId::generate().unwrap();
        assert_eq!(CeremonyId::parse(id.as_str()).unwrap(), id);
        for bad in ["", "short", "mfa.abc", &"!".repeat(43)] {
            assert!(CeremonyId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn known_models_are_named_and_others_are_not() {
        assert_eq!(
            authenticator_model("FBFC3007-154E-4ECC-8C0B-6E020557D7BD"),
            Some("iCloud Keychain")
        );
        assert_eq!(
            authenticator_model("00000000-0000-0000-0000-000000000000"),
            None
        );
    }
}
