//! Who is at the other end of a connection, as its certificate proves: what the
//! services authorize parts and service callers by, instead of their addresses.

use tonic::Request;

/// The certificate a peer presented, and proved it holds the key of, in a mutual TLS
/// handshake with this server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCertificate {
    /// The SPIFFE id in the certificate's URI SAN (`spiffe://<trust domain>/<path>`),
    /// when it carries one.
    pub spiffe_id: Option<String>,
    /// SHA-256 of the certificate's DER encoding: what a certificate-bound token names
    /// in its `cnf.x5t#S256` claim (RFC 8705).
    pub sha256: [u8; 32],
}

/// The verified client certificate of the connection `request` arrived on, or `None`
/// on a connection without one (plaintext, or TLS without a client certificate).
pub fn peer_certificate<T>(request: &Request<T>) -> Option<&PeerCertificate> {
    request.extensions().get::<PeerCertificate>()
}
