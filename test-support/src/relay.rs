//! A TCP relay between a service and a server it depends on, which can fall silent
//! (sockets stay open and no byte passes, as when the server's process is stopped, or
//! a connection's path drops packets without a reset) or go down as a restarting server
//! does (every open connection closed, new ones closed as soon as they are accepted).

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

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
    silence: watch::Sender<Silence>,
    /// Connections accepted so far.
    accepted: Arc<AtomicU64>,
    accepting: JoinHandle<()>,
}

/// Which connections pass no byte, and which are closed. Connections are numbered in
/// the order accepted.
#[derive(Debug, Clone, Copy, Default)]
struct Silence {
    /// Every connection, open or new.
    all: bool,
    /// The connections numbered below this one.
    before: u64,
    /// Every connection is closed, open or new: the server is down.
    down: bool,
}

impl Silence {
    fn holds(&self, connection: u64) -> bool {
        self.all || connection < self.before
    }
}

impl Relay {
    /// A relay to `target` on a fresh port of 127.0.0.1, passing bytes.
    pub async fn to(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a relay port");
        let addr = listener.local_addr().expect("the relay's address");
        let (silence, _) = watch::channel(Silence::default());
        let gate = silence.clone();
        let accepted = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&accepted);
        let accepting = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (number, gate) = (counted.fetch_add(1, Ordering::SeqCst), gate.subscribe());
                tokio::spawn(async move {
                    if gate.borrow().down {
                        return;
                    }
                    let Ok(server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::join!(
                        pass(client_read, server_write, number, gate.clone()),
                        pass(server_read, client_write, number, gate),
                    );
                });
            }
        });
        Self {
            addr,
            silence,
            accepted,
            accepting,
        }
    }

    /// Stops passing bytes, on open connections and new ones, closing none.
    pub fn fall_silent(&self) {
        self.silence.send_modify(|silence| silence.all = true);
    }

    /// Stops passing bytes on the connections open now, closing none, for good; new
    /// ones pass, even after [`Relay::fall_silent`].
    pub fn strand_open_connections(&self) {
        let accepted = self.accepted.load(Ordering::SeqCst);
        self.silence.send_modify(|silence| {
            silence.all = false;
            silence.before = silence.before.max(accepted);
        });
    }

    /// Goes down as a restarting server does: closes every open connection and each new
    /// one as soon as it is accepted, until [`Relay::resume`].
    pub fn go_down(&self) {
        self.silence.send_modify(|silence| silence.down = true);
    }

    /// Passes bytes on every connection again, those held while silent first, and
    /// keeps new connections open after [`Relay::go_down`].
    pub fn resume(&self) {
        self.silence.send_replace(Silence::default());
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

/// Copies `from` to `to` while connection `number` is not held silent; a read that
/// arrives just as it falls silent is held until it may pass. Returns, closing its
/// halves, when either side closes or the relay goes down.
async fn pass(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    number: u64,
    mut silence: watch::Receiver<Silence>,
) {
    let mut down = silence.clone();
    tokio::select! {
        () = copy(&mut from, &mut to, number, &mut silence) => {}
        _ = down.wait_for(|silence| silence.down) => {}
    }
}

async fn copy(
    from: &mut OwnedReadHalf,
    to: &mut OwnedWriteHalf,
    number: u64,
    silence: &mut watch::Receiver<Silence>,
) {
    let mut buffer = vec![0; 16 * 1024];
    loop {
        if silence
            .wait_for(|silence| !silence.holds(number))
            .await
            .is_err()
        {
            return;
        }
        let read = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        if silence
            .wait_for(|silence| !silence.holds(number))
            .await
            .is_err()
            || to.write_all(&buffer[..read]).await.is_err()
        {
            return;
        }
    }
}
