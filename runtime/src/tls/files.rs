//! The PEM files a part's TLS is made of, read and checked together: a certificate
//! chain, its private key, and the CAs peers are verified against.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use rustls::RootCertStore;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};

/// Why a part's TLS files could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Some of the three files are configured and some are not, and plaintext was not
    /// chosen explicitly.
    #[error(
        "{prefix}_TLS_CERT, {prefix}_TLS_KEY and {prefix}_TLS_CA are all required, unless \
         {prefix}_INTERNAL_PLAINTEXT=true turns TLS between the parts off"
    )]
    Missing {
        /// The part's variable prefix (`AUTH`, `LIBRARY`, `GATEWAY`).
        prefix: &'static str,
    },
    /// A file could not be read or holds no usable PEM.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
    /// The files were read but rustls refused them together (a key that does not
    /// match the certificate, say).
    #[error("TLS configuration refused: {0}")]
    Rustls(#[from] rustls::Error),
    /// A CA bundle given as bytes holds no usable certificate.
    #[error("CA bundle: {0}")]
    Bundle(String),
    /// The CA bundle could not serve as a client certificate verifier.
    #[error("the CA bundle cannot verify clients: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

/// Where a part's certificate, key and trusted CAs are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The part's certificate chain (PEM), its own certificate first.
    pub cert: PathBuf,
    /// The certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// The CAs (PEM bundle) a peer's certificate must chain to, both directions.
    pub ca: PathBuf,
}

impl TlsFiles {
    /// The three files of a part from its `P_TLS_*` settings, or `None` when TLS
    /// between the parts is turned off by `plaintext` (`P_INTERNAL_PLAINTEXT`), with a
    /// warning. Anything in between is an error: TLS is never dropped by omission.
    pub fn configured(
        prefix: &'static str,
        cert: Option<&Path>,
        key: Option<&Path>,
        ca: Option<&Path>,
        plaintext: bool,
    ) -> Result<Option<Self>, TlsError> {
        if plaintext {
            tracing::warn!(
                "{prefix}_INTERNAL_PLAINTEXT=true: calls between the parts are neither \
                 encrypted nor authenticated; anyone on the network can read them and \
                 call as any part"
            );
            return Ok(None);
        }
        match (cert, key, ca) {
            (Some(cert), Some(key), Some(ca)) => Ok(Some(Self {
                cert: cert.to_owned(),
                key: key.to_owned(),
                ca: ca.to_owned(),
            })),
            _ => Err(TlsError::Missing { prefix }),
        }
    }

    /// The paths in the order [`Material::parse`] takes their contents.
    pub(crate) fn paths(&self) -> Vec<PathBuf> {
        vec![self.cert.clone(), self.key.clone(), self.ca.clone()]
    }
}

/// What the three files hold, parsed.
pub(crate) struct Material {
    pub(crate) chain: Vec<CertificateDer<'static>>,
    pub(crate) key: PrivateKeyDer<'static>,
    pub(crate) roots: Arc<RootCertStore>,
}

impl Material {
    /// Parses `contents` as read from `files` (the paths name the file in errors).
    pub(crate) fn parse(files: &TlsFiles, contents: &[Vec<u8>]) -> Result<Self, TlsError> {
        let [cert, key, ca] = contents else {
            unreachable!("three paths give three contents");
        };
        let chain = certificates(&files.cert, cert)?;
        let key = PrivateKeyDer::from_pem_slice(key).map_err(|error| invalid(&files.key, error))?;
        let mut roots = RootCertStore::empty();
        for certificate in certificates(&files.ca, ca)? {
            roots
                .add(certificate)
                .map_err(|error| invalid(&files.ca, error))?;
        }
        Ok(Self {
            chain,
            key,
            roots: Arc::new(roots),
        })
    }
}

fn certificates(path: &Path, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| invalid(path, error))?;
    if certificates.is_empty() {
        return Err(invalid(path, "no certificate in the file"));
    }
    Ok(certificates)
}

fn invalid(path: &Path, reason: impl std::fmt::Display) -> TlsError {
    TlsError::File {
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}
