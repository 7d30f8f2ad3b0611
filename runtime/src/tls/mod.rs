//! TLS with rustls and ring: mutual TLS between the parts, each proving a SPIFFE id
//! with its certificate, and the gateway's public HTTPS.
//!
//! - [`files`]: the PEM files a part is given and what they must hold.
//! - `accept`: the server side of a handshake, and the stream it leaves.
//! - `watched`: configurations rebuilt when their files change, for new connections.
//! - [`connector`]: the client side, channels that present the part's certificate.
//!
//! The servers' side is in [`crate::connections`], where the TLS handshake is one
//! more step a connection must finish within the handshake timeout.

mod accept;
pub mod connector;
pub mod files;
mod watched;

use std::{path::PathBuf, sync::Arc};

use rustls::{ClientConfig, ServerConfig, crypto::CryptoProvider, server::WebPkiClientVerifier};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};

pub use accept::Transport;
pub use files::{TlsError, TlsFiles};

pub(crate) use accept::handshake;

use self::{files::Material, watched::Watched};

/// The ALPN id of HTTP/2, the only protocol gRPC is spoken over.
const H2: &[u8] = b"h2";

/// ring, named for every configuration rather than installed for the process: no
/// other provider can be picked by accident.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Both sides of one part's mutual TLS, built from the same files.
struct Sides {
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
    /// The SPIFFE id the part's own certificate names.
    spiffe_id: Option<String>,
}

/// A part's TLS between the parts: it serves its certificate, asks callers for
/// theirs (verified against its CA bundle, but optional, so that users' clients need
/// only trust the CA) and presents it when it calls another part. Cheap to clone;
/// new connections use the files as they are now, open ones keep what they began with.
#[derive(Clone)]
pub struct InternalTls {
    sides: Arc<Watched<Sides>>,
}

impl std::fmt::Debug for InternalTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InternalTls")
    }
}

impl InternalTls {
    /// Loads `files`, failing if they do not make a configuration, and watches them
    /// for changes on the current runtime.
    pub fn start(files: TlsFiles) -> Result<Self, TlsError> {
        let paths = files.paths();
        let sides = Watched::start(paths, move |contents| {
            let material = Material::parse(&files, contents)?;
            Ok(Sides {
                server: Arc::new(server_config(&material)?),
                client: Arc::new(client_config(&material)?),
                spiffe_id: crate::peer::spiffe_id(&material.chain[0]),
            })
        })?;
        Ok(Self { sides })
    }

    /// The SPIFFE id of the part's own certificate, as it is now.
    pub fn own_id(&self) -> Option<String> {
        self.sides.current().spiffe_id.clone()
    }

    /// The configuration a new server connection uses.
    pub(crate) fn server(&self) -> Arc<ServerConfig> {
        self.sides.current().server.clone()
    }

    /// The configuration a new client connection uses.
    pub(crate) fn client(&self) -> Arc<ClientConfig> {
        self.sides.current().client.clone()
    }
}

fn server_config(material: &Material) -> Result<ServerConfig, TlsError> {
    let verifier = WebPkiClientVerifier::builder_with_provider(material.roots.clone(), provider())
        .allow_unauthenticated()
        .build()?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(material.chain.clone(), material.key.clone_key())?;
    config.alpn_protocols = vec![H2.to_vec()];
    Ok(config)
}

fn client_config(material: &Material) -> Result<ClientConfig, TlsError> {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(material.roots.clone())
        .with_client_auth_cert(material.chain.clone(), material.key.clone_key())?;
    config.alpn_protocols = vec![H2.to_vec()];
    Ok(config)
}

/// A client configuration that trusts the CAs of the PEM bundle `ca` and presents no
/// certificate: what a user's client (a test's, a benchmark's) calls the parts with.
pub fn trusting(ca: &[u8]) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(ca) {
        let certificate = certificate.map_err(|error| TlsError::Bundle(error.to_string()))?;
        roots
            .add(certificate)
            .map_err(|error| TlsError::Bundle(error.to_string()))?;
    }
    if roots.is_empty() {
        return Err(TlsError::Bundle("no certificate in it".to_owned()));
    }
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![H2.to_vec()];
    Ok(Arc::new(config))
}

/// The gateway's public HTTPS: a certificate and key, no client certificates, HTTP/2
/// and HTTP/1.1 offered by ALPN; reloaded like [`InternalTls`].
#[derive(Clone)]
pub struct PublicTls {
    config: Arc<Watched<Arc<ServerConfig>>>,
}

impl std::fmt::Debug for PublicTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PublicTls")
    }
}

impl PublicTls {
    /// Loads the certificate chain at `cert` and the key at `key`, and watches them.
    pub fn start(cert: PathBuf, key: PathBuf) -> Result<Self, TlsError> {
        let paths = vec![cert.clone(), key.clone()];
        let config = Watched::start(paths, move |contents| {
            let invalid = |path: &PathBuf, reason: String| TlsError::File {
                path: path.clone(),
                reason,
            };
            let chain = CertificateDer::pem_slice_iter(&contents[0])
                .collect::<Result<Vec<_>, _>>()
                .map_err(|error| invalid(&cert, error.to_string()))?;
            let private = PrivateKeyDer::from_pem_slice(&contents[1])
                .map_err(|error| invalid(&key, error.to_string()))?;
            let mut config = ServerConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()?
                .with_no_client_auth()
                .with_single_cert(chain, private)?;
            config.alpn_protocols = vec![H2.to_vec(), b"http/1.1".to_vec()];
            Ok(Arc::new(config))
        })?;
        Ok(Self { config })
    }

    /// The server side of the handshake on `tcp`, with the files as they are now.
    pub async fn accept(&self, tcp: tokio::net::TcpStream) -> std::io::Result<Transport> {
        let config = self.config.current().as_ref().clone();
        let stream = tokio_rustls::TlsAcceptor::from(config).accept(tcp).await?;
        Ok(Transport::Tls(Box::new(stream)))
    }
}
