//! Raw TCP clients that behave as attackers do: connect and stall mid-header,
//! mid-body or mid-TLS-handshake, or open an HTTP/2 connection (over TLS or not) and
//! fall silent. Helpers to tell, by
//! polling, when the server has closed them.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// The first half of a request head: a request line and one header, never finished.
pub const HALF_A_HEADER: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: bookshelf\r\nX-Slow: ";

/// The HTTP/2 connection preface and an empty SETTINGS frame: what a client sends
/// before it may open a stream.
pub const H2_PREFACE_AND_SETTINGS: &[u8] =
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

/// The start of a TLS ClientHello: a record header announcing 512 bytes and the
/// handshake header, then nothing.
pub const HALF_A_CLIENT_HELLO: &[u8] = &[
    0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
];

/// Opens `count` connections to `addr` at once, each sending `bytes` and then
/// nothing. Connections that could not even connect are left out; one the server
/// closed before it could send is kept (and reads as closed).
pub async fn stalled(addr: SocketAddr, count: usize, bytes: &'static [u8]) -> Vec<TcpStream> {
    let opened = futures::future::join_all((0..count).map(|_| async move {
        let mut stream = TcpStream::connect(addr).await.ok()?;
        let _ = stream.write_all(bytes).await;
        Some(stream)
    }))
    .await;
    opened.into_iter().flatten().collect()
}

/// Completes a TLS handshake with the server at `addr` as a user's client (the test
/// CA trusted, no certificate, HTTP/2 by ALPN), sends `bytes` over it and then
/// nothing.
pub async fn stalled_over_tls(
    addr: SocketAddr,
    bytes: &[u8],
) -> tokio_rustls::client::TlsStream<TcpStream> {
    let config = bookshelf_runtime::tls::trusting(crate::pki::shared().ca_pem().as_bytes())
        .expect("a client configuration");
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let mut stream = tokio_rustls::TlsConnector::from(config)
        .connect(rustls_pki_types::ServerName::from(addr.ip()), tcp)
        .await
        .expect("a TLS handshake");
    stream.write_all(bytes).await.expect("sent");
    stream.flush().await.expect("flushed");
    stream
}

/// Whether the server has closed `stream`: reads and discards whatever the server
/// sent (an answer, a GOAWAY) until the end of the stream, for at most `wait`.
pub async fn closed_within(
    stream: &mut (impl tokio::io::AsyncRead + Unpin),
    wait: Duration,
) -> bool {
    let deadline = tokio::time::Instant::now() + wait;
    let mut buffer = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

/// How many of `streams` the server has closed, polling each without waiting.
pub async fn count_closed(streams: &mut [TcpStream]) -> usize {
    let mut closed = 0;
    for stream in streams.iter_mut() {
        if closed_within(stream, Duration::ZERO).await {
            closed += 1;
        }
    }
    closed
}

/// Polls until at least `at_least` of `streams` are closed, for at most `wait`; how
/// many were closed at the end and when the last count was taken.
pub async fn wait_until_closed(
    streams: &mut [TcpStream],
    at_least: usize,
    wait: Duration,
) -> (usize, Duration) {
    let started = Instant::now();
    loop {
        let closed = count_closed(streams).await;
        if closed >= at_least || started.elapsed() >= wait {
            return (closed, started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
