//! The claims of a Bookshelf token and the validation every verifier applies.

use jsonwebtoken::{Algorithm, Validation};
use serde::{Deserialize, Serialize};

/// The `iss` of every token the auth service signs.
pub const ISSUER: &str = "bookshelf-auth";
/// The `aud` of every token: the Bookshelf services.
pub const AUDIENCE: &str = "bookshelf";
/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECS: u64 = 30;

/// The registered claims of a token, and the session it belongs to; no others are
/// trusted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: String,
    /// Always [`ISSUER`].
    pub iss: String,
    /// Always [`AUDIENCE`].
    pub aud: String,
    /// Issued at, seconds since the epoch.
    pub iat: u64,
    /// Not before, seconds since the epoch.
    pub nbf: u64,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// The session the token was issued to (a login, and the refreshes after it).
    /// Required: a token that names no session could not be ended by logging out.
    pub sid: String,
    /// When the holder last proved a factor (a password, a passkey or a second
    /// factor), seconds since the epoch; a refresh carries it over unchanged. Changes
    /// that take over or end an account ask that it be recent. Absent reads as 0:
    /// never recent.
    #[serde(default)]
    pub auth_time: u64,
}

impl Claims {
    /// Whether the token is within its lifetime at `now` (seconds since the epoch),
    /// give or take [`LEEWAY_SECS`]. The verifier asks this of its own clock rather
    /// than letting the decoder read the system's, so that tests can move time.
    pub fn valid_at(&self, now: u64) -> bool {
        self.exp.saturating_add(LEEWAY_SECS) >= now && self.nbf <= now.saturating_add(LEEWAY_SECS)
    }
}

/// The validation rules: EdDSA only, `exp`, `iss`, `aud` and `sub` required (RFC 8725).
/// The times themselves are left to [`Claims::valid_at`].
pub fn validation() -> Validation {
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.algorithms = vec![Algorithm::EdDSA];
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000;

    fn lifetime(nbf: u64, exp: u64) -> Claims {
        Claims {
            sub: "reader".into(),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            iat: nbf,
            nbf,
            exp,
            sid: "session".into(),
            auth_time: nbf,
        }
    }

    #[test]
    fn a_token_is_valid_until_its_expiry_plus_the_leeway_and_not_a_second_more() {
        let claims = lifetime(NOW - 3600, NOW);
        assert!(claims.valid_at(NOW + LEEWAY_SECS));
        assert!(!claims.valid_at(NOW + LEEWAY_SECS + 1));
    }

    #[test]
    fn a_token_is_valid_from_the_leeway_before_its_start_and_not_a_second_earlier() {
        let claims = lifetime(NOW, NOW + 3600);
        assert!(claims.valid_at(NOW - LEEWAY_SECS));
        assert!(!claims.valid_at(NOW - LEEWAY_SECS - 1));
    }

    #[test]
    fn a_token_without_a_session_does_not_decode() {
        let mut claims = serde_json::to_value(lifetime(NOW, NOW + 60)).expect("claims");
        claims.as_object_mut().expect("an object").remove("sid");
        assert!(serde_json::from_value::<Claims>(claims).is_err());
    }

    #[test]
    fn a_token_without_auth_time_was_never_recently_authenticated() {
        let mut claims = serde_json::to_value(lifetime(NOW, NOW + 60)).expect("claims");
        claims
            .as_object_mut()
            .expect("an object")
            .remove("auth_time");
        let claims: Claims = serde_json::from_value(claims).expect("claims");
        assert_eq!(claims.auth_time, 0);
    }

    #[test]
    fn the_furthest_times_do_not_overflow() {
        assert!(lifetime(0, u64::MAX).valid_at(NOW));
        assert!(!lifetime(u64::MAX, u64::MAX).valid_at(NOW));
        assert!(lifetime(0, u64::MAX).valid_at(u64::MAX));
    }
}
