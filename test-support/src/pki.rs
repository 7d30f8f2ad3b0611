//! TLS for test servers as it ships: a throwaway CA and each part's certificate
//! (SPIFFE ids in [`TRUST_DOMAIN`]), made once per test process and written into
//! each server's own folder; clients that trust that CA, as a user or as a part; and
//! certificates an attacker would bring (another CA's, an expired one).

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::OnceLock,
    time::{Duration, SystemTime},
};

use bookshelf_runtime::{
    certificates::{Authority, Issued, PARTS, valid_for},
    tls::{InternalTls, TlsFiles, connector},
};
use rustls_pki_types::{CertificateDer, ServerName, pem::PemObject};
use tonic::transport::{Channel, Endpoint};

/// The trust domain of the test CA's certificates.
pub const TRUST_DOMAIN: &str = "bookshelf.test";

/// A CA and one certificate per part, in memory.
pub struct Pki {
    authority: Authority,
    parts: Vec<(&'static str, Issued)>,
}

static SHARED: OnceLock<Pki> = OnceLock::new();

/// The CA every test server and client of this process trusts.
pub fn shared() -> &'static Pki {
    SHARED.get_or_init(Pki::new)
}

impl Pki {
    /// A new CA, and a certificate for each part, valid for a day.
    pub fn new() -> Self {
        let authority = Authority::new(TRUST_DOMAIN, valid_for(1)).expect("a test CA");
        let parts = PARTS
            .into_iter()
            .map(|part| {
                (
                    part,
                    authority
                        .issue(TRUST_DOMAIN, part, valid_for(1))
                        .expect("a part's certificate"),
                )
            })
            .collect();
        Self { authority, parts }
    }

    /// The CA's certificate (PEM).
    pub fn ca_pem(&self) -> &str {
        &self.authority.issued.cert_pem
    }

    /// A new certificate for `part` from this CA, valid for `validity`.
    pub fn issue(&self, part: &str, validity: std::ops::Range<SystemTime>) -> Issued {
        self.authority
            .issue(TRUST_DOMAIN, part, validity)
            .expect("a certificate")
    }

    /// A certificate for `part` from this CA that expired an hour ago.
    pub fn expired(&self, part: &str) -> Issued {
        let now = SystemTime::now();
        let hour = Duration::from_secs(60 * 60);
        self.issue(part, now - 2 * hour..now - hour)
    }

    /// Writes `issued` and this CA into `dir` (made if missing) as `<name>.crt`,
    /// `<name>.key` and `ca.crt`: the files of a part that presents `issued`.
    pub fn write(&self, dir: &Path, name: &str, issued: &Issued) -> TlsFiles {
        std::fs::create_dir_all(dir).expect("a folder for TLS files");
        let files = TlsFiles {
            cert: dir.join(format!("{name}.crt")),
            key: dir.join(format!("{name}.key")),
            ca: dir.join("ca.crt"),
        };
        replace(&files.key, &issued.key_pem);
        replace(&files.cert, &issued.cert_pem);
        replace(&files.ca, self.ca_pem());
        files
    }

    /// The files of `part` with its own certificate, written into `dir`.
    pub fn part_files(&self, dir: &Path, part: &str) -> TlsFiles {
        let issued = &self
            .parts
            .iter()
            .find(|(name, _)| *name == part)
            .unwrap_or_else(|| panic!("no part named {part}"))
            .1;
        self.write(dir, part, issued)
    }

    /// Settings (as environment variables name them) that give the part with
    /// variable prefix `prefix` (`AUTH`) its certificate `part` (`auth`) in `dir`.
    pub fn settings(&self, dir: &Path, prefix: &str, part: &str) -> Vec<(String, String)> {
        let files = self.part_files(dir, part);
        let path = |path: PathBuf| path.display().to_string();
        vec![
            (format!("{prefix}_TLS_CERT"), path(files.cert)),
            (format!("{prefix}_TLS_KEY"), path(files.key)),
            (format!("{prefix}_TLS_CA"), path(files.ca)),
        ]
    }

    /// A channel to the part at `address` that trusts this CA and presents no
    /// certificate, as a user's client does.
    pub fn user_channel(&self, address: SocketAddr) -> Channel {
        let config = bookshelf_runtime::tls::trusting(self.ca_pem().as_bytes()).expect("a client");
        connector::connect_lazy_with(endpoint(address), config)
    }

    /// The certificate (DER) the server at `address` presents to a new connection.
    pub async fn served_certificate(&self, address: SocketAddr) -> Vec<u8> {
        let config = bookshelf_runtime::tls::trusting(self.ca_pem().as_bytes()).expect("a client");
        let tcp = tokio::net::TcpStream::connect(address)
            .await
            .expect("connect");
        let name = ServerName::from(address.ip());
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .expect("a TLS handshake");
        tls.get_ref()
            .1
            .peer_certificates()
            .expect("a server certificate")[0]
            .to_vec()
    }
}

impl Default for Pki {
    fn default() -> Self {
        Self::new()
    }
}

/// A channel to the part at `address` presenting the certificate in `files` and
/// trusting its CA bundle, as a part calls another.
pub fn part_channel(address: SocketAddr, files: &TlsFiles) -> Channel {
    let tls = InternalTls::start(files.clone()).expect("usable TLS files");
    connector::connect_lazy(endpoint(address), Some(&tls)).expect("an https endpoint")
}

/// The DER of the first certificate of a PEM file.
pub fn certificate_der(pem: &str) -> Vec<u8> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .expect("a PEM certificate")
        .to_vec()
}

/// Writes `contents` to `path` by renaming a finished file over it, so that a server
/// reading it at that moment (starting, or polling for a rotation) never sees half.
fn replace(path: &Path, contents: &str) {
    let mut partial = path.as_os_str().to_owned();
    partial.push(format!(".{}.partial", uuid::Uuid::new_v4().simple()));
    std::fs::write(&partial, contents).expect("a TLS file written");
    std::fs::rename(&partial, path).expect("a TLS file in place");
}

fn endpoint(address: SocketAddr) -> Endpoint {
    Endpoint::from_shared(format!("https://{address}"))
        .expect("a URL")
        .connect_timeout(Duration::from_secs(5))
}
