//! The server side of a connection between the parts: the TLS handshake, with the
//! client's certificate optional but verified when given, and the stream it leaves,
//! plaintext or TLS, as one type.

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
};
use tokio_rustls::server::TlsStream;

use super::InternalTls;
use crate::peer::PeerCertificate;

/// An accepted connection's byte stream: TLS between the parts, or plaintext when
/// that is turned off.
pub enum Transport {
    /// TCP as accepted.
    Plain(TcpStream),
    /// TCP after a completed TLS handshake.
    Tls(Box<TlsStream<TcpStream>>),
}

impl Transport {
    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            Self::Plain(tcp) => tcp,
            Self::Tls(tls) => tls.get_ref().0,
        }
    }

    /// The certificate the client proved in the handshake, if it sent one.
    pub(crate) fn peer_certificate(&self) -> Option<PeerCertificate> {
        match self {
            Self::Plain(_) => None,
            Self::Tls(tls) => tls
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|chain| chain.first())
                .map(|leaf| PeerCertificate::from_der(leaf)),
        }
    }
}

/// Runs the server side of the handshake on `tcp` with the configuration as it is
/// now. A client that sends no certificate is let in (user-facing calls need only a
/// token); one whose certificate does not verify is refused here.
pub(crate) async fn handshake(tls: &InternalTls, tcp: TcpStream) -> io::Result<Transport> {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.server());
    let stream = acceptor.accept(tcp).await?;
    Ok(Transport::Tls(Box::new(stream)))
}

impl AsyncRead for Transport {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(tcp) => Pin::new(tcp).poll_write_vectored(cx, bufs),
            Self::Tls(tls) => Pin::new(tls.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(tcp) => tcp.is_write_vectored(),
            Self::Tls(tls) => tls.is_write_vectored(),
        }
    }
}
