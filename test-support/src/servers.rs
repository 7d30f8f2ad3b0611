//! Real servers on port 0 and typed client helpers.

use std::net::SocketAddr;

use auth_service::{Application, Config};
use bookshelf_proto::auth::v1::{
    LoginRequest, LoginResponse, RegisterRequest, User, auth_service_client::AuthServiceClient,
};
use bookshelf_runtime::clock::{Clock, ClockHand};
use secrecy::{ExposeSecret, SecretString};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tonic::{Request, transport::Channel};

use crate::{Relay, TestDatabase, running::Running};

/// A password that meets every rule.
pub fn strong_password() -> String {
    "Corr3ct-Horse!".to_owned()
}

/// A clock standing at the present until the test moves it with its hand: give it to
/// a service's `config.clock`, and a throttle window or a token's lifetime passes in a
/// call instead of a sleep. It starts at the present so that tokens signed by hand
/// ([`crate::Forger`]) and by the service agree.
pub fn manual_clock() -> (Clock, ClockHand) {
    Clock::manual(Clock::system().now_ms())
}

/// A request carrying `authorization: Bearer <token>`.
pub fn bearer<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}")
            .parse()
            .expect("a token is valid metadata"),
    );
    request
}

/// A request saying it comes from the client at `address`, as a gateway forwards it
/// (`x-client-address` metadata); believed only from a trusted forwarder.
pub fn forwarded_from<T>(message: T, address: &str) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "x-client-address",
        address.parse().expect("an address is valid metadata"),
    );
    request
}

/// Registers `email` with [`strong_password`] and a fixed name, asserting success.
pub async fn register(client: &mut AuthServiceClient<Channel>, email: &str) -> User {
    client
        .register(RegisterRequest {
            name: "Test Reader".into(),
            email: email.to_owned(),
            password: strong_password(),
        })
        .await
        .expect("register")
        .into_inner()
        .user
        .expect("a user")
}

/// Logs in `email` with [`strong_password`]: a new session, or the second factor's
/// first step for an account that has one.
pub async fn password_login(client: &mut AuthServiceClient<Channel>, email: &str) -> LoginResponse {
    client
        .login(LoginRequest {
            email: email.to_owned(),
            password: strong_password(),
        })
        .await
        .expect("login")
        .into_inner()
}

/// The real auth service, in-process on a free port, with its own data folder and
/// database. Dropping it stops the server.
pub struct TestAuth {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its data folder (SQLite file, signing key).
    pub dir: TempDir,
    /// Its database.
    pub database: TestDatabase,
    /// The configuration it was started with.
    pub config: Config,
    /// The listening socket, kept open across restarts so that the port stays this
    /// server's: no other socket of the machine can take it while the server is down
    /// (connections made then wait in the backlog for the restart).
    socket: Option<std::net::TcpListener>,
    running: Option<Running>,
}

impl TestAuth {
    /// Starts an auth service with the defaults.
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Starts an auth service after `adjust` changed its configuration.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let database = TestDatabase::create(dir.path(), "auth").await;
        let mut config = Config::embedded(dir.path().to_path_buf());
        config.database_url = Some(SecretString::from(database.url.clone()));
        let tls = crate::pki::shared().part_files(&dir.path().join("tls"), "auth");
        config.tls_cert = Some(tls.cert);
        config.tls_key = Some(tls.key);
        config.tls_ca = Some(tls.ca);
        adjust(&mut config);
        let mut auth = Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            dir,
            database,
            config,
            socket: None,
            running: None,
        };
        auth.start().await;
        auth
    }

    /// Another replica of this service: its own data folder and port, this one's
    /// database, first signing key and encryption key, as replicas are run; `adjust`
    /// changes the rest.
    pub async fn replica_with(&self, adjust: impl FnOnce(&mut Config)) -> TestAuth {
        let pem = std::fs::read_to_string(self.dir.path().join("signing-key.pem"))
            .expect("the generated signing key");
        let encryption_key = match &self.config.encryption_key {
            Some(key) => key.expose_secret().to_owned(),
            None => std::fs::read_to_string(self.dir.path().join("encryption-key"))
                .expect("the generated encryption key"),
        };
        let database_url = self.database.url.clone();
        TestAuth::spawn_with(|config| {
            config.database_url = Some(SecretString::from(database_url));
            config.signing_key = Some(SecretString::from(pem));
            config.encryption_key = Some(SecretString::from(encryption_key));
            adjust(config);
        })
        .await
    }

    /// Rotates the signing key as the operator's command does, on this service's
    /// database and with its configuration: the new key's `kid`.
    pub async fn rotate_signing_key(&self) -> String {
        auth_service::rotate_signing_key(&self.config)
            .await
            .expect("the rotation")
            .public
            .kid
    }

    /// Revokes signing key `kid` as the operator's emergency command does, on this
    /// service's database and with its configuration: the key that signs after it,
    /// when a new one had to take over.
    pub async fn revoke_signing_key(&self, kid: &str) -> Option<String> {
        auth_service::revoke_signing_key(&self.config, kid)
            .await
            .expect("the revocation")
            .replacement
            .map(|key| key.public.kid)
    }

    /// How the service answers a `GetCurrentUser` call with `token`: accepted, or the
    /// code.
    pub async fn answer(&self, token: &str) -> Result<(), tonic::Code> {
        self.client()
            .await
            .get_current_user(bearer(
                bookshelf_proto::auth::v1::GetCurrentUserRequest {},
                token,
            ))
            .await
            .map(|_| ())
            .map_err(|status| status.code())
    }

    /// The `kid`s `GetSigningKeys` answers, sorted.
    pub async fn published_kids(&self) -> Vec<String> {
        let mut kids: Vec<String> = self
            .client()
            .await
            .get_signing_keys(bookshelf_proto::auth::v1::GetSigningKeysRequest {})
            .await
            .expect("the signing keys")
            .into_inner()
            .keys
            .into_iter()
            .map(|key| key.kid)
            .collect();
        kids.sort();
        kids
    }

    /// (Re)starts the server, on a fresh port the first time and on the same one after.
    pub async fn start(&mut self) {
        let socket = match &self.socket {
            Some(socket) => socket,
            None => {
                let socket = std::net::TcpListener::bind(self.addr).expect("bind");
                socket.set_nonblocking(true).expect("a non-blocking socket");
                self.addr = socket.local_addr().expect("local address");
                self.socket.insert(socket)
            }
        };
        let listener = TcpListener::from_std(socket.try_clone().expect("a second handle"))
            .expect("a listener on the runtime");
        let app = Application::build(&self.config, listener)
            .await
            .expect("the auth service starts");
        self.running = Some(Running::spawn(|shutdown| async move {
            app.run_until(shutdown)
                .await
                .expect("the auth service runs");
        }));
    }

    /// Stops the server gracefully and waits until it has exited.
    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await;
        }
    }

    /// Restarts the server with its database reached through a [`Relay`] that the
    /// test can silence; `None`, and nothing restarted, on SQLite, which has no server.
    pub async fn relay_database(&mut self) -> Option<Relay> {
        let (relay, relayed_url) = self.database.relayed().await?;
        self.stop().await;
        self.config.database_url = Some(SecretString::from(relayed_url));
        self.start().await;
        Some(relay)
    }

    /// The URL of the server: `https://`, or `http://` when TLS is turned off.
    pub fn url(&self) -> String {
        let scheme = if self.config.internal_plaintext {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{}", self.addr)
    }

    /// A client of the server as a user's: over TLS without a client certificate.
    pub async fn client(&self) -> AuthServiceClient<Channel> {
        AuthServiceClient::new(crate::pki::shared().user_channel(self.addr))
    }

    /// A client of the server presenting the shared test certificate of `part`.
    pub async fn client_as(&self, part: &str) -> AuthServiceClient<Channel> {
        let files = crate::pki::shared().part_files(&self.dir.path().join("callers"), part);
        AuthServiceClient::new(crate::pki::part_channel(self.addr, &files))
    }
}

/// Registers a user with a unique email and logs in: the user and a token.
pub async fn register_and_login(client: &mut AuthServiceClient<Channel>) -> (User, String) {
    let email = format!("reader-{}@example.com", uuid::Uuid::new_v4().simple());
    let user = register(client, &email).await;
    let token = password_login(client, &email).await.token;
    (user, token)
}
