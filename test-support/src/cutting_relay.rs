//! A TCP relay that breaks connections as a train's tunnel does: it passes bytes from
//! clients to the server, and each time the bytes passed (over all connections
//! together) reach the next cut point, it closes the connection carrying them, both
//! ways, mid-request. After the last cut it passes everything.

use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

/// Relays connections made to [`CuttingRelay::addr`] to a target, cutting them at the
/// points given; until dropped.
pub struct CuttingRelay {
    /// Where to connect instead of the target.
    pub addr: SocketAddr,
    state: Arc<Mutex<Cuts>>,
    accepting: JoinHandle<()>,
}

/// Bytes passed from clients so far, and the cut points still ahead.
#[derive(Default)]
struct Cuts {
    passed: u64,
    ahead: VecDeque<u64>,
    made: usize,
}

impl Cuts {
    /// How many of `read` bytes may pass before the next cut, and whether the cut
    /// comes within them.
    fn take(&mut self, read: usize) -> (usize, bool) {
        let Some(&next) = self.ahead.front() else {
            self.passed += read as u64;
            return (read, false);
        };
        let room = next.saturating_sub(self.passed);
        if room >= read as u64 {
            self.passed += read as u64;
            return (read, false);
        }
        self.passed = next;
        self.ahead.pop_front();
        self.made += 1;
        (room as usize, true)
    }
}

impl CuttingRelay {
    /// A relay to `target` on a fresh port of 127.0.0.1 that cuts the connection
    /// carrying the client bytes numbered `cuts` (counted over every connection).
    pub async fn to(target: SocketAddr, mut cuts: Vec<u64>) -> Self {
        cuts.sort_unstable();
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a relay port");
        let addr = listener.local_addr().expect("the relay's address");
        let state = Arc::new(Mutex::new(Cuts {
            ahead: cuts.into(),
            ..Cuts::default()
        }));
        let shared = Arc::clone(&state);
        let accepting = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let state = Arc::clone(&shared);
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(target).await else {
                        return;
                    };
                    relay(client, server, state).await;
                });
            }
        });
        Self {
            addr,
            state,
            accepting,
        }
    }

    /// How many cuts were made so far.
    pub fn cuts_made(&self) -> usize {
        self.state.lock().expect("the relay's state").made
    }
}

impl Drop for CuttingRelay {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

/// Passes bytes both ways until either side closes or a cut falls on this connection;
/// both sockets are dropped then, which closes them.
async fn relay(client: TcpStream, server: TcpStream, state: Arc<Mutex<Cuts>>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let upstream = async {
        let mut buffer = vec![0; 16 * 1024];
        loop {
            let read = match client_read.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(read) => read,
            };
            let (pass, cut) = state.lock().expect("the relay's state").take(read);
            if server_write.write_all(&buffer[..pass]).await.is_err() || cut {
                return;
            }
        }
    };
    let downstream = async {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
    };
    // Whichever ends first ends the connection: a cut closes both directions at once.
    tokio::select! {
        () = upstream => {}
        () = downstream => {}
    }
}
