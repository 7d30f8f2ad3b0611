//! The gRPC contract of Bookshelf: generated messages, clients and servers for
//! `auth.v1` and `library.v1`, and the encoded descriptor set that reflection serves.
#![forbid(unsafe_code)]

/// `auth.v1`: users, passwords and tokens.
pub mod auth {
    /// Version 1 of the auth contract.
    pub mod v1 {
        tonic::include_proto!("auth.v1");

        // The messages below carry a plaintext password: their `Debug` never shows it.

        impl std::fmt::Debug for LoginRequest {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct("LoginRequest")
                    .field("email", &self.email)
                    .field("password", &"<redacted>")
                    .finish()
            }
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
    }
}

/// `library.v1`: books and cover images.
pub mod library {
    /// Version 1 of the library contract.
    pub mod v1 {
        tonic::include_proto!("library.v1");
    }
}

/// The encoded `FileDescriptorSet` of both packages, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/bookshelf_descriptor.bin"));
