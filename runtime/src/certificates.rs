//! A private CA and each part's certificate, for a deployment without a CA of its own:
//! the `auth-service certificates` command and the one-command stack's first start.
//! Only missing files are made, so running it again (a one-shot container on every
//! start) changes nothing, and files an operator replaced are kept.
//!
//! Each part's certificate names its SPIFFE id (`spiffe://<trust domain>/bookshelf/<part>`)
//! as a URI SAN, which is what the parts authorize each other by, and `<part>`,
//! `localhost` and 127.0.0.1 as the names it may be reached at.

use std::{
    net::{IpAddr, Ipv4Addr},
    ops::Range,
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

use crate::{files, peer::part_id};

/// The parts that get a certificate, by their file and SPIFFE path names.
pub const PARTS: [&str; 3] = ["auth", "library", "gateway"];

/// The trust domain when none is given.
pub const DEFAULT_TRUST_DOMAIN: &str = "bookshelf.local";

/// How long a made certificate is valid when no other length is given.
pub const DEFAULT_VALID_DAYS: u32 = 365;

/// How far back a certificate's validity starts, so that a peer whose clock is a
/// little behind accepts it at once.
const BACKDATE: Duration = Duration::from_secs(60 * 60);

/// Why certificates could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// The CA's certificate or key is there without the other: a part's certificate
    /// cannot be made, and making a new CA would leave the old one's certificates
    /// unverifiable.
    #[error("{present} exists but {missing} does not; restore it or remove both")]
    HalfAuthority {
        /// The file that exists.
        present: PathBuf,
        /// The one that does not.
        missing: PathBuf,
    },
    /// Generating or signing failed, or an existing CA file does not parse.
    #[error("certificate generation failed: {0}")]
    Rcgen(#[from] rcgen::Error),
}

/// A PEM certificate and its PEM private key.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The certificate.
    pub cert_pem: String,
    /// Its private key (PKCS#8).
    pub key_pem: String,
}

/// A CA that signs parts' certificates.
pub struct Authority {
    issuer: Issuer<'static, KeyPair>,
    /// The CA's own certificate and key.
    pub issued: Issued,
}

impl Authority {
    /// A new self-signed CA for `trust_domain`, valid for `validity`.
    pub fn new(trust_domain: &str, validity: Range<SystemTime>) -> Result<Self, CertificateError> {
        let mut params = CertificateParams::default();
        params.distinguished_name = name(&format!("Bookshelf CA ({trust_domain})"));
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = validity.start.into();
        params.not_after = validity.end.into();
        let key = KeyPair::generate()?;
        let certificate = params.self_signed(&key)?;
        let issued = Issued {
            cert_pem: certificate.pem(),
            key_pem: key.serialize_pem(),
        };
        Ok(Self {
            issuer: Issuer::new(params, key),
            issued,
        })
    }

    /// The CA whose certificate and key are `issued`.
    pub fn load(issued: Issued) -> Result<Self, CertificateError> {
        let key = KeyPair::from_pem(&issued.key_pem)?;
        let issuer = Issuer::from_ca_cert_pem(&issued.cert_pem, key)?;
        Ok(Self { issuer, issued })
    }

    /// A certificate for `part` of `trust_domain`, valid for `validity`, for both
    /// serving and calling.
    pub fn issue(
        &self,
        trust_domain: &str,
        part: &str,
        validity: Range<SystemTime>,
    ) -> Result<Issued, CertificateError> {
        let mut params = CertificateParams::default();
        params.distinguished_name = name(part);
        params.subject_alt_names = vec![
            SanType::URI(part_id(trust_domain, part).try_into()?),
            SanType::DnsName(part.try_into()?),
            SanType::DnsName("localhost".try_into()?),
            SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        ];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        params.not_before = validity.start.into();
        params.not_after = validity.end.into();
        let key = KeyPair::generate()?;
        let certificate = params.signed_by(&key, &self.issuer)?;
        Ok(Issued {
            cert_pem: certificate.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

fn name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, "Bookshelf");
    name.push(DnType::CommonName, common_name);
    name
}

/// From an hour ago to `days` from now.
pub fn valid_for(days: u32) -> Range<SystemTime> {
    let now = SystemTime::now();
    now - BACKDATE..now + Duration::from_secs(u64::from(days) * 24 * 60 * 60)
}

/// Makes whichever of `ca.crt`, `ca.key` and each part's `<part>.crt` and `<part>.key`
/// are missing in `dir` (created 0700 if missing; keys 0600), valid for `valid_days`:
/// the paths it wrote, none when all were there.
pub fn ensure(
    dir: &Path,
    trust_domain: &str,
    valid_days: u32,
) -> Result<Vec<PathBuf>, CertificateError> {
    files::private_dir(dir).map_err(|source| io(dir, source))?;
    let pair = |stem: &str| {
        (
            dir.join(format!("{stem}.crt")),
            dir.join(format!("{stem}.key")),
        )
    };
    let missing: Vec<&str> = PARTS
        .into_iter()
        .filter(|part| {
            let (cert, key) = pair(part);
            !cert.exists() || !key.exists()
        })
        .collect();
    let (ca_cert, ca_key) = pair("ca");
    let mut written = Vec::new();
    if missing.is_empty() && ca_cert.exists() {
        // Every part's files and the CA bundle are in place. An operator's own CA keeps
        // its key elsewhere: nothing here needs it.
        return Ok(written);
    }
    let authority = match (ca_cert.exists(), ca_key.exists()) {
        (true, true) => Authority::load(Issued {
            cert_pem: read(&ca_cert)?,
            key_pem: read(&ca_key)?,
        })?,
        (false, false) => {
            let authority = Authority::new(trust_domain, valid_for(valid_days))?;
            write_pair(&ca_cert, &ca_key, &authority.issued)?;
            written.extend([ca_cert, ca_key]);
            authority
        }
        (cert_exists, _) => {
            let (present, missing) = if cert_exists {
                (ca_cert, ca_key)
            } else {
                (ca_key, ca_cert)
            };
            return Err(CertificateError::HalfAuthority { present, missing });
        }
    };
    for part in missing {
        let (cert, key) = pair(part);
        let issued = authority.issue(trust_domain, part, valid_for(valid_days))?;
        write_pair(&cert, &key, &issued)?;
        written.extend([cert, key]);
    }
    Ok(written)
}

/// Writes the key first, created 0600 before it holds anything, then the certificate.
fn write_pair(cert: &Path, key: &Path, issued: &Issued) -> Result<(), CertificateError> {
    files::private_file(key).map_err(|source| io(key, source))?;
    std::fs::write(key, &issued.key_pem).map_err(|source| io(key, source))?;
    std::fs::write(cert, &issued.cert_pem).map_err(|source| io(cert, source))
}

fn read(path: &Path) -> Result<String, CertificateError> {
    std::fs::read_to_string(path).map_err(|source| io(path, source))
}

fn io(path: &Path, source: std::io::Error) -> CertificateError {
    CertificateError::Io {
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use rustls_pki_types::{CertificateDer, pem::PemObject};

    use super::*;

    #[test]
    fn makes_only_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let first = ensure(dir.path(), "example.test", 30).unwrap();
        assert_eq!(first.len(), 8);
        assert!(ensure(dir.path(), "example.test", 30).unwrap().is_empty());
        let library = std::fs::read(dir.path().join("library.crt")).unwrap();
        std::fs::remove_file(dir.path().join("gateway.key")).unwrap();
        let again = ensure(dir.path(), "example.test", 30).unwrap();
        assert_eq!(again.len(), 2);
        assert_eq!(
            std::fs::read(dir.path().join("library.crt")).unwrap(),
            library
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("gateway.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // An operator's own CA: its certificate and the parts' files, never its key.
        std::fs::remove_file(dir.path().join("ca.key")).unwrap();
        assert!(ensure(dir.path(), "example.test", 30).unwrap().is_empty());
        let pem = std::fs::read(dir.path().join("gateway.crt")).unwrap();
        let der = CertificateDer::from_pem_slice(&pem).unwrap();
        assert_eq!(
            crate::peer::spiffe_id(&der).as_deref(),
            Some("spiffe://example.test/bookshelf/gateway")
        );
    }
}
