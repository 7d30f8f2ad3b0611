//! TOTP codes computed independently of the auth service, by `totp-rs` from the
//! base32 secret an enrolment answers, as an authenticator app computes them.

use bookshelf_proto::auth::v1::{
    ConfirmTotpRequest, EnrollTotpRequest, auth_service_client::AuthServiceClient,
};
use bookshelf_runtime::clock::Clock;
use tonic::transport::Channel;
use totp_rs::{Algorithm, Builder, Secret};

use crate::bearer;

/// The 6-digit code for `secret` (base32) at `at` (seconds since the epoch).
pub fn code(secret: &str, at: u64) -> String {
    let bytes = Secret::try_from_base32(secret)
        .expect("a base32 secret")
        .as_bytes()
        .to_vec();
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_step_duration(30)
        .with_secret(bytes)
        .build()
        .expect("a TOTP generator")
        .generate(at)
        .to_string()
}

/// A 6-digit code that `secret` does not give at `at`, nor one step either side.
pub fn wrong_code(secret: &str, at: u64) -> String {
    let right: Vec<String> = [at - 30, at, at + 30]
        .into_iter()
        .map(|time| code(secret, time))
        .collect();
    (0..)
        .map(|n: u32| format!("{:06}", (n * 7919) % 1_000_000))
        .find(|candidate| !right.contains(candidate))
        .expect("a wrong code")
}

/// Enrols the holder of `token` and confirms with the code of `clock`'s time: the
/// secret and the recovery codes.
pub async fn enrol(
    client: &mut AuthServiceClient<Channel>,
    token: &str,
    clock: &Clock,
) -> (String, Vec<String>) {
    let secret = client
        .enroll_totp(bearer(EnrollTotpRequest::default(), token))
        .await
        .expect("enrolment")
        .into_inner()
        .secret;
    let recovery_codes = client
        .confirm_totp(bearer(
            ConfirmTotpRequest {
                code: code(&secret, clock.now_secs()),
                ..Default::default()
            },
            token,
        ))
        .await
        .expect("confirmation")
        .into_inner()
        .recovery_codes;
    (secret, recovery_codes)
}
