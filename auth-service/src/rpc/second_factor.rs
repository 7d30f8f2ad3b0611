//! The second factor's RPCs' messages: `EnrollTotp`, `ConfirmTotp`, `DisableTotp`,
//! `LoginMfa`.

use bookshelf_proto::auth::v1::{ConfirmTotpResponse, EnrollTotpResponse, LoginMfaRequest};

use crate::{
    domain::{
        passkeys::{self, SecondStepProof},
        second_factor::{MfaToken, RecoveryCode, SecondFactor},
    },
    error::AuthError,
    service::second_factor::Enrolment,
};

/// A second step's token and code (or a security key's assertion in place of the
/// code), both violations reported at once.
pub(super) fn second_step(
    request: &LoginMfaRequest,
) -> Result<(MfaToken, SecondStepProof), AuthError> {
    let proof = if request.credential_json.is_empty() {
        SecondFactor::parse(&request.code).map(SecondStepProof::Code)
    } else {
        passkeys::assertion(&request.credential_json)
            .map(|assertion| SecondStepProof::SecurityKey(Box::new(assertion)))
    };
    match (MfaToken::parse(&request.mfa_token), proof) {
        (Ok(token), Ok(code)) => Ok((token, code)),
        (token, code) => Err(AuthError::InvalidArgument(
            [token.err(), code.err()].into_iter().flatten().collect(),
        )),
    }
}

impl From<Enrolment> for EnrollTotpResponse {
    fn from(enrolment: Enrolment) -> Self {
        Self {
            secret: enrolment.secret,
            otpauth_url: enrolment.otpauth_url,
        }
    }
}

/// The recovery codes as the user writes them down.
pub(super) fn recovery_codes_message(codes: &[RecoveryCode]) -> ConfirmTotpResponse {
    ConfirmTotpResponse {
        recovery_codes: codes.iter().map(RecoveryCode::display).collect(),
    }
}
