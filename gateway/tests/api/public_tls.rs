//! The public listener over HTTPS when given a certificate: HTTP/2 and HTTP/1.1 by
//! ALPN, and the handshake bound by the first request head's timeout.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use bookshelf_test_support::{
    pki,
    sockets::{HALF_A_CLIENT_HELLO, closed_within, stalled},
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

/// A gateway serving HTTPS with the gateway's test certificate; its backends are never
/// reached by these tests. The folder holds its files.
async fn https_gateway() -> (SocketAddr, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let files = pki::shared().part_files(dir.path(), "gateway");
    let mut config = gateway::Config::embedded(
        "https://127.0.0.1:9".into(),
        "https://127.0.0.1:9".into(),
        "https://127.0.0.1".into(),
    );
    config.tls_cert = Some(files.cert.clone());
    config.tls_key = Some(files.key.clone());
    config.tls_ca = Some(files.ca.clone());
    config.public_tls_cert = Some(files.cert);
    config.public_tls_key = Some(files.key);
    config.header_read_timeout_ms = 500;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = gateway::Application::build(&config, listener).unwrap();
    tokio::spawn(app.run_until(std::future::pending()));
    (address, dir)
}

/// A TLS connection offering `protocols`, and the one the server chose.
async fn connect(
    address: SocketAddr,
    protocols: &[&[u8]],
) -> (tokio_rustls::client::TlsStream<TcpStream>, Option<Vec<u8>>) {
    let mut config = bookshelf_runtime::tls::trusting(pki::shared().ca_pem().as_bytes())
        .unwrap()
        .as_ref()
        .clone();
    config.alpn_protocols = protocols.iter().map(|protocol| protocol.to_vec()).collect();
    let tcp = TcpStream::connect(address).await.unwrap();
    let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(rustls_pki_types::ServerName::from(address.ip()), tcp)
        .await
        .expect("a TLS handshake");
    let chosen = stream.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
    (stream, chosen)
}

#[tokio::test]
async fn https_offers_http2_and_serves_http1() {
    let (address, _dir) = https_gateway().await;
    let (_, chosen) = connect(address, &[b"h2", b"http/1.1"]).await;
    assert_eq!(chosen.as_deref(), Some(&b"h2"[..]));

    let (mut stream, chosen) = connect(address, &[b"http/1.1"]).await;
    assert_eq!(chosen.as_deref(), Some(&b"http/1.1"[..]));
    stream
        .write_all(b"GET /openapi.json HTTP/1.1\r\nHost: bookshelf\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.ok();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn plain_http_and_stalled_handshakes_get_nothing() {
    let (address, _dir) = https_gateway().await;
    let mut plain = TcpStream::connect(address).await.unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: bookshelf\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(3), plain.read_to_end(&mut answer)).await;
    assert!(
        !String::from_utf8_lossy(&answer).contains("HTTP/1.1"),
        "no HTTP answer over plain TCP"
    );

    let mut halves = stalled(address, 2, HALF_A_CLIENT_HELLO).await;
    for half in &mut halves {
        assert!(
            closed_within(half, Duration::from_secs(3)).await,
            "a stalled handshake is closed by the head timeout"
        );
    }
}
