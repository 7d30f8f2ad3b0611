//! A TCP relay between a service and a server it depends on, which can fall silent:
//! both sockets stay open and no byte passes, as when the server's process is stopped
//! or the network between them drops packets without a reset.

use std::net::SocketAddr;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{
        TcpListener, TcpStream,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
    sync::watch,
    task::JoinHandle,
};

/// Relays every connection made to [`Relay::addr`] to the target, until dropped.
pub struct Relay {
    /// Where to connect instead of the target.
    pub addr: SocketAddr,
    passing: watch::Sender<bool>,
    accepting: JoinHandle<()>,
}

impl Relay {
    /// A relay to `target` on a fresh port of 127.0.0.1, passing bytes.
    pub async fn to(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a relay port");
        let addr = listener.local_addr().expect("the relay's address");
        let (passing, _) = watch::channel(true);
        let gate = passing.clone();
        let accepting = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let gate = gate.subscribe();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::join!(
                        pass(client_read, server_write, gate.clone()),
                        pass(server_read, client_write, gate),
                    );
                });
            }
        });
        Self {
            addr,
            passing,
            accepting,
        }
    }

    /// Stops passing bytes, on open connections and new ones, closing none.
    pub fn fall_silent(&self) {
        self.passing.send_replace(false);
    }

    /// Passes bytes again, those held while silent first.
    pub fn resume(&self) {
        self.passing.send_replace(true);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

/// Copies `from` to `to` while the relay passes bytes; a read that arrives just as it
/// falls silent is held until it resumes.
async fn pass(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut passing: watch::Receiver<bool>) {
    let mut buffer = vec![0; 16 * 1024];
    loop {
        if passing.wait_for(|passing| *passing).await.is_err() {
            return;
        }
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        if passing.wait_for(|passing| *passing).await.is_err()
            || to.write_all(&buffer[..read]).await.is_err()
        {
            return;
        }
    }
}
