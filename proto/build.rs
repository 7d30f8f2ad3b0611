//! Compiles the .proto contract with protox (pure Rust, no system `protoc`) and writes
//! the generated code and the descriptor set for reflection to `OUT_DIR` only.

use std::{env, path::PathBuf};

const PROTOS: &[&str] = &[
    "auth/v1/auth.proto",
    "auth/v1/passkeys.proto",
    "library/v1/library.proto",
    "library/v1/uploads.proto",
];

/// Messages that carry a plaintext password, a refresh token, a second-factor code or
/// a secret: their `Debug` is written by hand in `src/lib.rs`, so that printing one
/// never shows it.
const SECRET_BEARING: &[&str] = &[
    ".auth.v1.LoginRequest",
    ".auth.v1.RegisterRequest",
    ".auth.v1.LoginResponse",
    ".auth.v1.RefreshTokenRequest",
    ".auth.v1.RefreshTokenResponse",
    ".auth.v1.ChangePasswordRequest",
    ".auth.v1.LoginMfaRequest",
    ".auth.v1.LoginMfaResponse",
    ".auth.v1.ConfirmTotpRequest",
    ".auth.v1.DisableCurrentUserRequest",
    ".auth.v1.EnrollTotpRequest",
    ".auth.v1.DisableTotpRequest",
    ".auth.v1.EnrollTotpResponse",
    ".auth.v1.ConfirmTotpResponse",
    ".auth.v1.IssueServiceTokenRequest",
    ".auth.v1.IssueServiceTokenResponse",
    ".auth.v1.StartPasskeyRegistrationRequest",
    ".auth.v1.DeletePasskeyRequest",
    ".auth.v1.FinishPasskeySignUpResponse",
    ".auth.v1.FinishPasskeyLoginResponse",
];

/// Cover chunks decode as slices of the received buffer and encode from the sender's
/// buffer, so a cover's bytes are not copied once more per hop.
const COVER_CHUNKS: &[&str] = &[
    ".library.v1.CoverPart.chunk",
    ".library.v1.GetCoverResponse.chunk",
    ".library.v1.WriteRequest.data",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={proto}");
    }
    let descriptors = protox::compile(PROTOS, ["."])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("bookshelf_descriptor.bin"),
        prost::Message::encode_to_vec(&descriptors),
    )?;
    let builder = tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .skip_debug(SECRET_BEARING.iter().copied());
    COVER_CHUNKS
        .iter()
        .fold(builder, |builder, path| builder.bytes(path))
        .compile_fds(descriptors)?;
    Ok(())
}
