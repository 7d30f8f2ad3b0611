//! `GetSigningKeys`: the public keys that verify tokens now, as the JWKS-like message
//! every follower fetches.

use bookshelf_proto::auth::v1::GetSigningKeysResponse;
use bookshelf_tokens::PublicKey;

/// The keys that verify tokens now.
pub(super) fn signing_keys_message(published: &[PublicKey]) -> GetSigningKeysResponse {
    GetSigningKeysResponse {
        keys: published.iter().map(PublicKey::to_signing_key).collect(),
    }
}
