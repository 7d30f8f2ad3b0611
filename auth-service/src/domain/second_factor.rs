//! The second factor's values: TOTP secrets and codes (RFC 6238: SHA-1, 6 digits,
//! 30-second steps, one step of drift either way, through `totp-rs`), recovery codes,
//! and the `mfa_token` that carries a login from its password to its code.
//!
//! Codes are parsed here, at the edge; what the database keeps of them is in
//! the store's `second_factor` tables.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use bookshelf_runtime::errors::FieldViolation;
use ring::rand::{SecureRandom, SystemRandom};
use totp_rs::{Algorithm, Builder, Secret, Totp};

/// The issuer an authenticator app shows beside the account.
pub(crate) const ISSUER: &str = "Bookshelf";
/// Seconds per step.
pub(crate) const STEP_SECS: u64 = 30;
/// Recovery codes issued at confirmation.
pub(crate) const RECOVERY_CODES: usize = 10;
/// Bytes of a TOTP secret: 160 bits, as RFC 4226 recommends.
const SECRET_BYTES: usize = 20;
/// Characters of a recovery code, without its dashes: 80 bits of base32.
const RECOVERY_CHARS: usize = 16;
const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// Why a second-factor value could not be made.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TotpError {
    /// The system's random source failed.
    #[error("no randomness available")]
    Random,
    /// The TOTP parameters were refused (a stored secret of the wrong length).
    #[error("cannot build the TOTP generator")]
    Build(#[from] totp_rs::TotpError),
}

fn random<const N: usize>() -> Result<[u8; N], TotpError> {
    let mut bytes = [0u8; N];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| TotpError::Random)?;
    Ok(bytes)
}

/// A user's TOTP secret, in the clear: only in memory, never logged.
pub(crate) struct TotpSecret(Vec<u8>);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(..)")
    }
}

impl TotpSecret {
    /// A new random secret.
    pub(crate) fn generate() -> Result<Self, TotpError> {
        Ok(Self(random::<SECRET_BYTES>()?.to_vec()))
    }

    /// A secret from its raw bytes, as opened from the database.
    pub(crate) fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The raw bytes, to be sealed.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    fn generator(&self, account: &str) -> Result<Totp, TotpError> {
        Ok(Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(6)
            .with_skew(1)
            .with_step_duration(STEP_SECS)
            .with_secret(self.0.clone())
            .with_account_name(account.replace(':', ""))
            .with_issuer(Some(ISSUER))
            .build()?)
    }

    /// The secret in base32, as an authenticator app takes it typed in.
    pub(crate) fn base32(&self) -> String {
        Secret::new(self.0.clone().into_boxed_slice()).to_base32()
    }

    /// The `otpauth://totp/...` URL an authenticator app reads from a QR code.
    pub(crate) fn otpauth_url(&self, account: &str) -> Result<String, TotpError> {
        Ok(self.generator(account)?.to_url()?)
    }

    /// The step (seconds since the epoch / 30) at which `code` is right at `now`
    /// (seconds), within one step either way; `None` when it matches none.
    pub(crate) fn matching_step(
        &self,
        code: &TotpCode,
        now: u64,
    ) -> Result<Option<u64>, TotpError> {
        Ok(self.generator("")?.check(&code.0, now))
    }
}

/// Six decimal digits, as an authenticator app shows them (spaces ignored).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct TotpCode(String);

/// A recovery code as issued: lower-case base32 in groups of four, compared without
/// its dashes, spaces or case.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct RecoveryCode(String);

/// A code or token is a credential while it lasts: printing one shows none of it.
macro_rules! redacted_debug {
    ($($name:ident),*) => {$(
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }
    )*};
}

redacted_debug!(TotpCode, RecoveryCode, MfaToken);

impl RecoveryCode {
    /// A new random code.
    fn generate() -> Result<Self, TotpError> {
        let bytes = random::<RECOVERY_CHARS>()?;
        Ok(Self(
            bytes
                .iter()
                .map(|byte| BASE32[(byte & 31) as usize] as char)
                .collect(),
        ))
    }

    /// The code as shown to the user: `abcd-efgh-ijkl-mnop`.
    pub(crate) fn display(&self) -> String {
        self.0
            .as_bytes()
            .chunks(4)
            .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
            .collect::<Vec<_>>()
            .join("-")
    }

    /// What the database keeps: a digest bound to the user. The code carries 80 random
    /// bits, so a plain digest cannot be searched back to it.
    pub(crate) fn digest(&self, user_id: &str) -> String {
        let mut input = user_id.as_bytes().to_vec();
        input.push(0);
        input.extend_from_slice(self.0.as_bytes());
        URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, &input))
    }
}

/// Ten new recovery codes.
pub(crate) fn recovery_codes() -> Result<Vec<RecoveryCode>, TotpError> {
    (0..RECOVERY_CODES)
        .map(|_| RecoveryCode::generate())
        .collect()
}

/// What a user offers as a second factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SecondFactor {
    /// A code from the authenticator app.
    Totp(TotpCode),
    /// One of the recovery codes.
    Recovery(RecoveryCode),
}

impl SecondFactor {
    /// Parses a code: six digits, or a recovery code.
    pub(crate) fn parse(raw: &str) -> Result<Self, FieldViolation> {
        let compact: String = raw
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect::<String>()
            .to_ascii_lowercase();
        if compact.len() == 6 && compact.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(Self::Totp(TotpCode(compact)));
        }
        if compact.len() == RECOVERY_CHARS && compact.bytes().all(|b| BASE32.contains(&b)) {
            return Ok(Self::Recovery(RecoveryCode(compact)));
        }
        Err(FieldViolation::new(
            "code",
            "a 6-digit code from the authenticator app, or a recovery code",
        ))
    }

    /// Parses a code that must come from the authenticator app.
    pub(crate) fn parse_totp(raw: &str) -> Result<TotpCode, FieldViolation> {
        match Self::parse(raw)? {
            Self::Totp(code) => Ok(code),
            Self::Recovery(_) => Err(FieldViolation::new(
                "code",
                "a 6-digit code from the authenticator app",
            )),
        }
    }
}

/// The opaque token a login with a second factor answers instead of an access token.
/// Only its digest is stored.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct MfaToken(String);

impl MfaToken {
    /// A new random token (256 bits).
    pub(crate) fn generate() -> Result<Self, TotpError> {
        Ok(Self(URL_SAFE_NO_PAD.encode(random::<32>()?)))
    }

    /// Parses a token as a client sends it back.
    pub(crate) fn parse(raw: &str) -> Result<Self, FieldViolation> {
        let raw = raw.trim();
        if raw.len() == 43 && URL_SAFE_NO_PAD.decode(raw).is_ok() {
            Ok(Self(raw.to_owned()))
        } else {
            Err(FieldViolation::new(
                "mfa_token",
                "the mfa_token the login answered",
            ))
        }
    }

    /// The token, to send to the client.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// What the database keeps of it.
    pub(crate) fn digest(&self) -> String {
        URL_SAFE_NO_PAD.encode(ring::digest::digest(
            &ring::digest::SHA256,
            self.0.as_bytes(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_6238_sha1_vector_matches_at_its_step_and_one_either_side() {
        // RFC 6238 appendix B: secret "12345678901234567890", T = 59 s gives 94287082;
        // its last six digits are the 6-digit code.
        let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
        let code = TotpCode("287082".into());
        assert_eq!(secret.matching_step(&code, 59).unwrap(), Some(1));
        assert_eq!(secret.matching_step(&code, 59 + 30).unwrap(), Some(1));
        assert_eq!(secret.matching_step(&code, 59 + 60).unwrap(), None);
    }

    #[test]
    fn codes_parse_at_the_edge() {
        assert!(matches!(
            SecondFactor::parse(" 123 456 "),
            Ok(SecondFactor::Totp(_))
        ));
        let recovery = recovery_codes().unwrap().remove(0);
        assert_eq!(
            SecondFactor::parse(&recovery.display().to_uppercase()).unwrap(),
            SecondFactor::Recovery(recovery)
        );
        for bad in ["", "12345", "1234567", "abcdef", "' OR 1=1 --"] {
            assert!(SecondFactor::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn recovery_digests_are_bound_to_the_user() {
        let code = recovery_codes().unwrap().remove(0);
        assert_ne!(code.digest("a"), code.digest("b"));
    }

    #[test]
    fn an_mfa_token_round_trips_and_garbage_is_refused() {
        let token = MfaToken::generate().unwrap();
        assert_eq!(MfaToken::parse(token.as_str()).unwrap(), token);
        assert!(MfaToken::parse("short").is_err());
    }

    #[test]
    fn secrets_codes_and_mfa_tokens_print_none_of_themselves() {
        let secret = TotpSecret::generate().unwrap();
        let printed = format!("{secret:?}");
        assert!(!printed.contains(&secret.base32()), "{printed}");
        assert!(
            !printed.contains(&format!("{:?}", secret.as_bytes())[1..10]),
            "{printed}"
        );

        let recovery = recovery_codes().unwrap().remove(0);
        let totp = SecondFactor::parse("123456").unwrap();
        let offered = SecondFactor::Recovery(recovery.clone());
        for printed in [format!("{recovery:?}"), format!("{offered:?}")] {
            assert!(!printed.contains(&recovery.0), "{printed}");
        }
        assert!(!format!("{totp:?}").contains("123456"));

        let token = MfaToken::generate().unwrap();
        let printed = format!("{token:?}");
        assert!(!printed.contains(token.as_str()), "{printed}");
    }
}
