//! The gRPC contract of Bookshelf: generated messages, clients and servers for
//! `auth.v1` and `library.v1`, and the encoded descriptor set that reflection serves.
#![forbid(unsafe_code)]

/// `auth.v1`: users, passwords and tokens.
pub mod auth {
    /// Version 1 of the auth contract.
    pub mod v1 {
        tonic::include_proto!("auth.v1");

        // The messages below carry a plaintext password, a refresh token or a token:
        // their `Debug` never shows it.

        impl std::fmt::Debug for LoginRequest {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct("LoginRequest")
                    .field("email", &self.email)
                    .field("password", &"<redacted>")
                    .finish()
            }
        }

        /// Writes `name`'s `Debug` with every field redacted: second-factor codes,
        /// secrets and `mfa_token`s are as good as a password while they last.
        macro_rules! redacted_debug {
            ($($name:ident),* $(,)?) => {$(
                impl std::fmt::Debug for $name {
                    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.debug_struct(stringify!($name)).finish_non_exhaustive()
                    }
                }
            )*};
        }

        redacted_debug!(
            IssueServiceTokenRequest,
            IssueServiceTokenResponse,
            DisableCurrentUserRequest,
            EnrollTotpRequest,
            LoginMfaRequest,
            LoginMfaResponse,
            ConfirmTotpRequest,
            DisableTotpRequest,
            EnrollTotpResponse,
            ConfirmTotpResponse,
            StartPasskeyRegistrationRequest,
            DeletePasskeyRequest,
            FinishPasskeySignUpResponse,
            FinishPasskeyLoginResponse,
        );

        /// The scopes a service token may grant (the `scope` of `IssueServiceToken`),
        /// each the right to one service RPC; there are no others.
        pub mod scopes {
            /// `library.v1.LibraryService/ListBooks` with `owner_id`: any account's books.
            pub const BOOKS_READ: &str = "books:read";
            /// `GetUser`: any account.
            pub const USERS_READ: &str = "users:read";
            /// `DisableUser`: disabling any account.
            pub const USERS_DISABLE: &str = "users:disable";
            /// Every scope.
            pub const ALL: [&str; 3] = [BOOKS_READ, USERS_READ, USERS_DISABLE];
        }

        /// The `google.rpc.ErrorInfo` the auth service attaches to a refusal that
        /// callers tell apart by more than its code: clients match the reason, never
        /// the message text.
        pub mod error_info {
            /// The domain of every reason below.
            pub const DOMAIN: &str = "auth.bookshelf";
            /// A second-factor code is wrong, replayed or already spent.
            pub const INVALID_CODE: &str = "INVALID_CODE";
            /// An `mfa_token` is unknown, expired or spent.
            pub const INVALID_MFA_TOKEN: &str = "INVALID_MFA_TOKEN";
            /// `ChangePassword`'s current password is wrong (the token itself is fine).
            pub const WRONG_PASSWORD: &str = "WRONG_PASSWORD";
            /// The change asked for needs a recent sign-in: log in again, or send the
            /// current password with it.
            pub const REAUTHENTICATION_REQUIRED: &str = "REAUTHENTICATION_REQUIRED";
            /// `IssueServiceToken`: a parameter is missing or not the one supported.
            pub const INVALID_REQUEST: &str = "invalid_request";
            /// `IssueServiceToken`: a grant other than `client_credentials`.
            pub const UNSUPPORTED_GRANT_TYPE: &str = "unsupported_grant_type";
            /// `IssueServiceToken`: the client or its assertion is not accepted.
            pub const INVALID_CLIENT: &str = "invalid_client";
            /// `IssueServiceToken`: a scope unknown or not allowed to the client.
            pub const INVALID_SCOPE: &str = "invalid_scope";
        }

        impl std::fmt::Debug for RegisterRequest {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct("RegisterRequest")
                    .field("name", &self.name)
                    .field("email", &self.email)
                    .field("password", &"<redacted>")
                    .finish()
            }
        }

        impl std::fmt::Debug for LoginResponse {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct("LoginResponse")
                    .field("token", &"<redacted>")
                    .field("expires_at", &self.expires_at)
                    .field("user", &self.user)
                    .field("refresh_token", &"<redacted>")
                    .field("session_id", &self.session_id)
                    .field("refresh_expires_at", &self.refresh_expires_at)
                    .field("mfa_required", &self.mfa_required)
                    .field("mfa_token", &"<redacted>")
                    .field("mfa_methods", &self.mfa_methods)
                    .finish_non_exhaustive()
            }
        }

        impl std::fmt::Debug for RefreshTokenRequest {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct("RefreshTokenRequest")
                    .field("refresh_token", &"<redacted>")
                    .finish()
            }
        }

        impl std::fmt::Debug for RefreshTokenResponse {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct("RefreshTokenResponse")
                    .field("token", &"<redacted>")
                    .field("expires_at", &self.expires_at)
                    .field("refresh_token", &"<redacted>")
                    .field("refresh_expires_at", &self.refresh_expires_at)
                    .finish()
            }
        }

        impl std::fmt::Debug for ChangePasswordRequest {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct("ChangePasswordRequest")
                    .field("current_password", &"<redacted>")
                    .field("new_password", &"<redacted>")
                    .finish()
            }
        }
    }
}

/// `library.v1`: books and cover images.
pub mod library {
    /// Version 1 of the library contract.
    pub mod v1 {
        tonic::include_proto!("library.v1");

        /// The `google.rpc.ErrorInfo` the library service attaches to a refusal that
        /// callers tell apart by more than its code: clients match the reason, never
        /// the message text, so the service and its clients share these names.
        pub mod error_info {
            /// The domain of every reason below.
            pub const DOMAIN: &str = "library.bookshelf";
            /// The cover is not an image the service takes.
            pub const UNSUPPORTED_IMAGE: &str = "UNSUPPORTED_IMAGE";
            /// The cover passes the byte cap.
            pub const COVER_TOO_LARGE: &str = "COVER_TOO_LARGE";
            /// The cover claims a supported format but does not decode, or its
            /// dimensions pass the decoding limits.
            pub const INVALID_IMAGE: &str = "INVALID_IMAGE";
            /// The caller already has as many uploads in flight as allowed.
            pub const TOO_MANY_UPLOADS: &str = "TOO_MANY_UPLOADS";
            /// The caller's quota of books or cover bytes is reached.
            pub const QUOTA_EXCEEDED: &str = "QUOTA_EXCEEDED";
            /// A Write cannot append at its offset (wrong, busy or complete); the
            /// metadata `committed_size` tells where the next Write must start.
            pub const WRONG_OFFSET: &str = "WRONG_OFFSET";
            /// The resumable upload named is not the caller's, or is gone.
            pub const UPLOAD_NOT_FOUND: &str = "UPLOAD_NOT_FOUND";
        }
    }
}

/// The encoded `FileDescriptorSet` of both packages, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/bookshelf_descriptor.bin"));
