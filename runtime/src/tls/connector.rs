//! Channels from one part to another: over TLS, presenting the part's certificate and
//! checking the server's against the part's CA bundle and the URL's host; or, when TLS
//! between the parts is turned off, plaintext.

use std::{
    future::Future,
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use http::Uri;
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tonic::transport::{Channel, Endpoint};

use super::InternalTls;

/// Why a channel to another part could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The URL's scheme does not match whether TLS between the parts is on: an
    /// `http://` URL would silently skip TLS, an `https://` one without TLS would
    /// fail on every call.
    #[error("{url}: the scheme must be {expected}:// ({reason})")]
    Scheme {
        /// The URL.
        url: String,
        /// The scheme it needs.
        expected: &'static str,
        /// Why.
        reason: &'static str,
    },
}

/// A channel that connects on first use to `endpoint`, over TLS with `tls`, or in
/// plaintext when `tls` is `None`.
pub fn connect_lazy(
    endpoint: Endpoint,
    tls: Option<&InternalTls>,
) -> Result<Channel, ChannelError> {
    let scheme = endpoint.uri().scheme_str().unwrap_or_default();
    let (expected, reason) = match tls {
        Some(_) => ("https", "TLS between the parts is on"),
        None => ("http", "TLS between the parts is off"),
    };
    if scheme != expected {
        return Err(ChannelError::Scheme {
            url: endpoint.uri().to_string(),
            expected,
            reason,
        });
    }
    Ok(match tls {
        Some(tls) => {
            let tls = tls.clone();
            endpoint.connect_with_connector_lazy(Connector {
                config: Arc::new(move || tls.client()),
            })
        }
        None => endpoint.connect_lazy(),
    })
}

/// A channel that connects on first use to the `https://` `endpoint` with `config`,
/// fixed: for a client that is not a part (a user's, which presents no certificate).
pub fn connect_lazy_with(endpoint: Endpoint, config: Arc<ClientConfig>) -> Channel {
    endpoint.connect_with_connector_lazy(Connector {
        config: Arc::new(move || config.clone()),
    })
}

/// Opens TCP connections and runs the client side of the TLS handshake on them.
#[derive(Clone)]
struct Connector {
    config: Arc<dyn Fn() -> Arc<ClientConfig> + Send + Sync>,
}

type Connecting = Pin<Box<dyn Future<Output = io::Result<TokioIo<TlsStream<TcpStream>>>> + Send>>;

impl tower::Service<Uri> for Connector {
    type Response = TokioIo<TlsStream<TcpStream>>;
    type Error = io::Error;
    type Future = Connecting;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        // The configuration as it is now: a connection made after a rotation presents
        // the new certificate.
        let config = (self.config)();
        Box::pin(async move {
            let host = uri
                .host()
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "a URL without a host"))?
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            let port = uri.port_u16().unwrap_or(443);
            let name = ServerName::try_from(host.clone())
                .map_err(|error| io::Error::new(io::ErrorKind::InvalidInput, error))?;
            let tcp = TcpStream::connect((host.as_str(), port)).await?;
            let _ = tcp.set_nodelay(true);
            let tls = tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await?;
            Ok(TokioIo::new(tls))
        })
    }
}
