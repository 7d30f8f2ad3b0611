//! Who is at the other end of a connection, as its certificate proves: what the
//! services authorize parts and service callers by, instead of their addresses.
//!
//! The TLS handshake (in [`crate::connections`]) records the verified client
//! certificate in the connection's [`ConnectionInfo`]; [`PeerLayer`] hands every
//! request on it the certificate and the remote address as separate extensions, so
//! that [`peer_certificate`] and `Request::remote_addr` both answer.

use std::task::{Context, Poll};

use tonic::{Request, transport::server::TcpConnectInfo};

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

impl PeerCertificate {
    /// The identity of a certificate (DER) the handshake has already verified.
    pub(crate) fn from_der(der: &[u8]) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA256, der);
        let mut sha256 = [0; 32];
        sha256.copy_from_slice(digest.as_ref());
        Self {
            spiffe_id: spiffe_id(der),
            sha256,
        }
    }
}

/// The first `spiffe://` URI among the certificate's subject alternative names.
pub(crate) fn spiffe_id(der: &[u8]) -> Option<String> {
    use x509_parser::{extensions::GeneralName, prelude::FromDer};
    let (_, certificate) = x509_parser::certificate::X509Certificate::from_der(der).ok()?;
    let names = certificate.subject_alternative_name().ok()??;
    names
        .value
        .general_names
        .iter()
        .find_map(|name| match name {
            GeneralName::URI(uri) if uri.starts_with("spiffe://") => Some((*uri).to_owned()),
            _ => None,
        })
}

/// The trust domain of a SPIFFE id: `bookshelf.local` in
/// `spiffe://bookshelf.local/bookshelf/auth`.
pub fn trust_domain(spiffe_id: &str) -> Option<&str> {
    let rest = spiffe_id.strip_prefix("spiffe://")?;
    let domain = rest.split('/').next()?;
    (!domain.is_empty()).then_some(domain)
}

/// The SPIFFE id of Bookshelf's `part` (`auth`, `library`, `gateway`) in
/// `trust_domain`.
pub fn part_id(trust_domain: &str, part: &str) -> String {
    format!("spiffe://{trust_domain}/bookshelf/{part}")
}

/// The callers a server grants a privilege reserved for parts (a feed, believing
/// forwarded client metadata).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Callers {
    /// Those whose verified certificate names one of these SPIFFE ids.
    Identified(Vec<String>),
    /// Every caller: TLS between the parts is turned off, so no caller can prove who
    /// it is and the network is trusted instead.
    Anyone,
}

impl Callers {
    /// Whether the caller of `request` is one of these.
    pub fn admit<T>(&self, request: &Request<T>) -> bool {
        match self {
            Self::Anyone => true,
            Self::Identified(ids) => {
                peer_id(request).is_some_and(|id| ids.iter().any(|allowed| allowed == id))
            }
        }
    }
}

/// What a server knows of one connection: its addresses and, over mutual TLS, the
/// client's verified certificate.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    /// The local and remote addresses.
    pub tcp: TcpConnectInfo,
    /// The client certificate, when the client presented one.
    pub certificate: Option<PeerCertificate>,
}

/// The verified client certificate of the connection `request` arrived on, or `None`
/// on a connection without one (plaintext, or TLS without a client certificate).
pub fn peer_certificate<T>(request: &Request<T>) -> Option<&PeerCertificate> {
    request.extensions().get::<PeerCertificate>()
}

/// The SPIFFE id `request`'s connection proved, if any.
pub(crate) fn peer_id<T>(request: &Request<T>) -> Option<&str> {
    peer_certificate(request)?.spiffe_id.as_deref()
}

/// Splits each request's [`ConnectionInfo`] into the extensions
/// [`peer_certificate`] and `Request::remote_addr` read.
#[derive(Debug, Clone, Copy, Default)]
pub struct PeerLayer;

impl<S> tower::Layer<S> for PeerLayer {
    type Service = PeerService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        PeerService { inner }
    }
}

/// The service [`PeerLayer`] makes.
#[derive(Debug, Clone)]
pub struct PeerService<S> {
    inner: S,
}

impl<S, B> tower::Service<http::Request<B>> for PeerService<S>
where
    S: tower::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        if let Some(info) = request.extensions_mut().remove::<ConnectionInfo>() {
            request.extensions_mut().insert(info.tcp);
            if let Some(certificate) = info.certificate {
                request.extensions_mut().insert(certificate);
            }
        }
        self.inner.call(request)
    }
}
