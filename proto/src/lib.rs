//! The gRPC contract of Bookshelf: generated messages, clients and servers for
//! `auth.v1` and `library.v1`, and the encoded descriptor set that reflection serves.
#![forbid(unsafe_code)]

/// `auth.v1`: users, passwords and tokens.
pub mod auth {
    /// Version 1 of the auth contract.
    pub mod v1 {
        tonic::include_proto!("auth.v1");
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
