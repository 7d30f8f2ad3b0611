//! A software WebAuthn authenticator for the tests: it reads the options JSON a
//! relying party sends (what `parseCreationOptionsFromJSON()` and
//! `parseRequestOptionsFromJSON()` take) and answers what a browser's
//! `PublicKeyCredential.toJSON()` would, with ES256 keys from `ring`, `none`
//! attestation, discoverable credentials and user handles.
//!
//! `webauthn-authenticator-rs`'s `softpasskey` builds without OpenSSL too, but it keeps
//! no resident credentials and answers no user handle, so it cannot take part in a
//! usernameless sign-in; and a test needs to move the counter, the origin and the
//! flags at will. Hence this one, written from the WebAuthn Level 3 data layouts.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ring::{
    digest::{SHA256, digest},
    rand::{SecureRandom, SystemRandom},
    signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair},
};
use serde_json::{Value, json};

/// The AAGUID iCloud Keychain declares: a model the service names.
pub const ICLOUD_KEYCHAIN: [u8; 16] = [
    0xfb, 0xfc, 0x30, 0x07, 0x15, 0x4e, 0x4e, 0xcc, 0x8c, 0x0b, 0x6e, 0x02, 0x05, 0x57, 0xd7, 0xbd,
];

/// Authenticator data flags (WebAuthn L3 6.1).
const USER_PRESENT: u8 = 0x01;
const USER_VERIFIED: u8 = 0x04;
const BACKUP_ELIGIBLE: u8 = 0x08;
const BACKED_UP: u8 = 0x10;
const ATTESTED_DATA: u8 = 0x40;

/// One credential the authenticator holds.
struct Credential {
    id: Vec<u8>,
    key: EcdsaKeyPair,
    rp_id: String,
    user_handle: Vec<u8>,
}

/// A software authenticator: its credentials, and what it will claim.
pub struct SoftAuthenticator {
    credentials: Vec<Credential>,
    /// The origin its client data names (a browser reports the page's).
    pub origin: String,
    /// The signature counter its next assertion carries, plus one.
    pub counter: u32,
    /// Whether it keeps a counter at all: many passkey providers send 0 every time,
    /// and then only the single-use ceremony stops a replay.
    pub keeps_counter: bool,
    /// Whether it says the user was verified.
    pub verifies_user: bool,
    /// Whether its credentials are backed up (synced), as a passkey provider's are.
    pub backed_up: bool,
    /// The AAGUID it declares at registration.
    pub aaguid: [u8; 16],
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(text)
        .expect("base64url from the relying party")
}

/// A CBOR head: major type `major` with argument `length`.
fn cbor_head(major: u8, length: usize, out: &mut Vec<u8>) {
    let major = major << 5;
    match length {
        0..=23 => out.push(major | length as u8),
        24..=255 => out.extend([major | 24, length as u8]),
        _ => {
            out.push(major | 25);
            out.extend((length as u16).to_be_bytes());
        }
    }
}

fn cbor_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    cbor_head(2, bytes.len(), out);
    out.extend_from_slice(bytes);
}

fn cbor_text(text: &str, out: &mut Vec<u8>) {
    cbor_head(3, text.len(), out);
    out.extend_from_slice(text.as_bytes());
}

/// The COSE_Key of an uncompressed P-256 point (`04 || x || y`): kty EC2, alg ES256,
/// crv P-256.
fn cose_key(point: &[u8]) -> Vec<u8> {
    let mut out = vec![0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21];
    cbor_bytes(&point[1..33], &mut out);
    out.push(0x22);
    cbor_bytes(&point[33..65], &mut out);
    out
}

impl SoftAuthenticator {
    /// An authenticator in a browser on `origin`, verifying its user, not backed up,
    /// declaring no model.
    pub fn new(origin: &str) -> Self {
        Self {
            credentials: Vec::new(),
            origin: origin.to_owned(),
            counter: 0,
            keeps_counter: true,
            verifies_user: true,
            backed_up: false,
            aaguid: [0; 16],
        }
    }

    fn flags(&self) -> u8 {
        let mut flags = USER_PRESENT;
        if self.verifies_user {
            flags |= USER_VERIFIED;
        }
        if self.backed_up {
            flags |= BACKUP_ELIGIBLE | BACKED_UP;
        }
        flags
    }

    fn client_data(&self, kind: &str, challenge: &Value) -> Vec<u8> {
        json!({
            "type": kind,
            "challenge": challenge,
            "origin": self.origin,
            "crossOrigin": false,
        })
        .to_string()
        .into_bytes()
    }

    /// `navigator.credentials.create()` for `options` (a
    /// PublicKeyCredentialCreationOptionsJSON): the new credential's `toJSON()`.
    pub fn create(&mut self, options: &Value) -> Value {
        let random = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &random)
            .expect("a P-256 key");
        let key =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &random)
                .expect("the key just made");
        let mut id = vec![0u8; 32];
        random.fill(&mut id).expect("randomness");
        let rp_id = options["rp"]["id"].as_str().expect("rp.id").to_owned();

        let mut auth_data = digest(&SHA256, rp_id.as_bytes()).as_ref().to_vec();
        auth_data.push(self.flags() | ATTESTED_DATA);
        auth_data.extend(self.counter.to_be_bytes());
        auth_data.extend(self.aaguid);
        auth_data.extend((id.len() as u16).to_be_bytes());
        auth_data.extend(&id);
        auth_data.extend(cose_key(key.public_key().as_ref()));

        let mut attestation = vec![0xa3];
        cbor_text("fmt", &mut attestation);
        cbor_text("none", &mut attestation);
        cbor_text("attStmt", &mut attestation);
        attestation.push(0xa0);
        cbor_text("authData", &mut attestation);
        cbor_bytes(&auth_data, &mut attestation);

        let client_data = self.client_data("webauthn.create", &options["challenge"]);
        let user_handle = unb64(options["user"]["id"].as_str().expect("user.id"));
        self.credentials.push(Credential {
            id: id.clone(),
            key,
            rp_id,
            user_handle,
        });
        json!({
            "id": b64(&id),
            "rawId": b64(&id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64(&client_data),
                "attestationObject": b64(&attestation),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        })
    }

    /// `navigator.credentials.get()` for `options` (a
    /// PublicKeyCredentialRequestOptionsJSON): the assertion's `toJSON()`, by a
    /// credential `allowCredentials` names or, when it names none, the newest
    /// discoverable one for the relying party. The counter moves on by one, if it is kept.
    pub fn get(&mut self, options: &Value) -> Value {
        let rp_id = options["rpId"].as_str().expect("rpId");
        let allowed: Vec<Vec<u8>> = options["allowCredentials"]
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|credential| unb64(credential["id"].as_str().expect("an id")))
                    .collect()
            })
            .unwrap_or_default();
        let credential = self
            .credentials
            .iter()
            .rev()
            .find(|credential| {
                credential.rp_id == rp_id
                    && (allowed.is_empty() || allowed.contains(&credential.id))
            })
            .expect("a credential for this relying party");
        if self.keeps_counter {
            self.counter += 1;
        }
        let mut auth_data = digest(&SHA256, rp_id.as_bytes()).as_ref().to_vec();
        auth_data.push(self.flags());
        auth_data.extend(self.counter.to_be_bytes());
        let client_data = self.client_data("webauthn.get", &options["challenge"]);
        let mut signed = auth_data.clone();
        signed.extend(digest(&SHA256, &client_data).as_ref());
        let signature = credential
            .key
            .sign(&SystemRandom::new(), &signed)
            .expect("a signature");
        json!({
            "id": b64(&credential.id),
            "rawId": b64(&credential.id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64(&client_data),
                "authenticatorData": b64(&auth_data),
                "signature": b64(signature.as_ref()),
                "userHandle": b64(&credential.user_handle),
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        })
    }
}
