//! The contract services authorize by: a request on a mutual TLS connection carries
//! the certificate the client proved, and still its remote address.

use std::time::Duration;

use bookshelf_runtime::{
    certificates,
    connections::{self, GrpcLimits},
    peer::{PeerCertificate, peer_certificate},
    tls::{InternalTls, TlsFiles, connector, trusting},
};
use rustls_pki_types::{CertificateDer, pem::PemObject};
use tokio::sync::mpsc;
use tonic::{service::interceptor::InterceptedService, transport::Endpoint};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

const LIMITS: GrpcLimits = GrpcLimits {
    max_connections: 16,
    max_streams: 16,
    handshake_timeout: Duration::from_secs(5),
    keepalive_interval: Duration::from_secs(10),
    keepalive_timeout: Duration::from_secs(5),
    call_timeout: Duration::from_secs(10),
};

fn files(dir: &std::path::Path, part: &str) -> TlsFiles {
    TlsFiles {
        cert: dir.join(format!("{part}.crt")),
        key: dir.join(format!("{part}.key")),
        ca: dir.join("ca.crt"),
    }
}

#[tokio::test]
async fn a_request_carries_the_client_certificate_of_its_connection() {
    let dir = tempfile::tempdir().unwrap();
    certificates::ensure(dir.path(), "peer.test", 1).unwrap();
    let server_tls = InternalTls::start(files(dir.path(), "auth")).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (seen, mut heard) = mpsc::unbounded_channel();
    let (_reporter, health) = tonic_health::server::health_reporter();
    let service = InterceptedService::new(health, move |request: tonic::Request<()>| {
        let _ = seen.send((peer_certificate(&request).cloned(), request.remote_addr()));
        Ok(request)
    });
    tokio::spawn(
        LIMITS
            .server()
            .add_service(service)
            .serve_with_incoming(connections::incoming(listener, LIMITS, Some(server_tls))),
    );
    let endpoint = Endpoint::from_shared(format!("https://{address}")).unwrap();

    let library = InternalTls::start(files(dir.path(), "library")).unwrap();
    let channel = connector::connect_lazy(endpoint.clone(), Some(&library)).unwrap();
    let _ = HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await;
    let (certificate, remote) = heard.recv().await.unwrap();
    let pem = std::fs::read(dir.path().join("library.crt")).unwrap();
    let der = CertificateDer::from_pem_slice(&pem).unwrap();
    let digest = ring::digest::digest(&ring::digest::SHA256, &der);
    assert_eq!(
        certificate,
        Some(PeerCertificate {
            spiffe_id: Some("spiffe://peer.test/bookshelf/library".to_owned()),
            sha256: digest.as_ref().try_into().unwrap(),
        })
    );
    assert_eq!(remote.map(|remote| remote.ip()), Some(address.ip()));

    let ca = std::fs::read(dir.path().join("ca.crt")).unwrap();
    let anonymous = connector::connect_lazy_with(endpoint, trusting(&ca).unwrap());
    let _ = HealthClient::new(anonymous)
        .check(HealthCheckRequest::default())
        .await;
    let (certificate, remote) = heard.recv().await.unwrap();
    assert_eq!(certificate, None, "no client certificate, none claimed");
    assert!(remote.is_some());
}
