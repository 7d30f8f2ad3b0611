//! The whole stack in the test's own process: auth, library and gateway serve real
//! gRPC and HTTP on loopback listeners this module binds on port 0 and keeps, so no
//! other process can take a port between a check and the bind. Tests that must kill,
//! pause or restart one part use the child processes of [`crate::process_stack`] instead.

use std::{
    collections::BTreeSet,
    ffi::OsStr,
    io::Write,
    net::SocketAddr,
    path::PathBuf,
    sync::{Arc, Mutex},
};

use bookshelf_proto::{
    auth::v1::auth_service_client::AuthServiceClient,
    library::v1::library_service_client::LibraryServiceClient,
};
use clap::CommandFactory;
use tempfile::TempDir;
use tokio::{net::TcpListener, runtime::Runtime};
use tonic::transport::Channel;
use tracing_subscriber::fmt::MakeWriter;

use crate::{
    Rest, TestDatabase,
    buckets::{TestBucket, TestCovers},
};

/// The three services of one test, with their own data folder and databases. Dropping
/// it stops them at once.
pub struct InProcessStack {
    /// The gateway's base URL, e.g. `http://127.0.0.1:40123`.
    pub http: String,
    /// The auth service's address.
    pub auth: SocketAddr,
    /// The library service's address.
    pub library: SocketAddr,
    /// Holds the data folders (SQLite files, signing key, covers).
    pub dir: TempDir,
    databases: [TestDatabase; 2],
    covers: TestCovers,
    logs: Logs,
    // The services run on a runtime of their own, as they would in their own process:
    // a test that blocks its thread, or ends mid-request, cannot stall them.
    runtime: Option<Runtime>,
}

impl InProcessStack {
    /// Starts the stack with the defaults and waits until `/healthz` says healthy.
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    /// Starts the stack with settings named as the binaries' environment variables
    /// name them (`("LIBRARY_MAX_UPLOADS_PER_ACCOUNT", "32")`), each given to every
    /// service that has it. A name that no service knows is a mistake in the test.
    pub async fn spawn_with(settings: &[(&str, &str)]) -> Self {
        let postgres = std::env::var(crate::database::POSTGRES_VARIABLE).ok();
        let dir = tempfile::tempdir().expect("a temporary folder");
        let databases = [
            TestDatabase::create_on(dir.path(), "auth", postgres.as_deref()).await,
            TestDatabase::create_on(dir.path(), "library", postgres.as_deref()).await,
        ];
        let bucket = TestBucket::create_if_configured().await;
        let covers = match &bucket {
            Some(bucket) => TestCovers::Bucket(bucket.clone()),
            None => TestCovers::Folder(dir.path().join("library").join("covers")),
        };
        let logs = Logs::default();
        let runtime = server_runtime(&logs);
        let plan = Plan {
            data: dir.path().to_path_buf(),
            auth_database: databases[0].url.clone(),
            library_database: databases[1].url.clone(),
            bucket,
            settings: settings
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string()))
                .collect(),
        };
        let (http, auth, library) = runtime.spawn(plan.start()).await.expect("the stack starts");
        let stack = Self {
            http: format!("http://{http}"),
            auth,
            library,
            dir,
            databases,
            covers,
            logs,
            runtime: Some(runtime),
        };
        crate::rest::wait_healthy(&stack.http).await;
        stack
    }

    /// A REST client of the gateway, without a token.
    pub fn rest(&self) -> Rest {
        Rest::new(&self.http)
    }

    /// A gRPC client of the auth service, over TLS without a client certificate.
    pub async fn auth_client(&self) -> AuthServiceClient<Channel> {
        AuthServiceClient::new(crate::pki::shared().user_channel(self.auth))
    }

    /// A gRPC client of the library service, over TLS without a client certificate.
    pub async fn library_client(&self) -> LibraryServiceClient<Channel> {
        LibraryServiceClient::new(crate::pki::shared().user_channel(self.library))
    }

    /// The library's covers, in its folder or its bucket.
    pub fn covers(&self) -> &TestCovers {
        &self.covers
    }

    /// The names of the library's stored covers, in its folder or its bucket.
    pub async fn cover_names(&self) -> BTreeSet<String> {
        self.covers.names().await
    }

    /// The auth service's configuration as its operator commands read it: its
    /// database and data folder.
    pub fn auth_config(&self) -> auth_service::Config {
        let mut config = auth_service::Config::embedded(self.dir.path().join("auth"));
        config.database_url = Some(self.databases[0].url.clone().into());
        config
    }

    /// Whether the stack runs on PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.databases[0].is_postgres()
    }

    /// What the three services logged so far, at `info` and above, without colour.
    pub fn logs(&self) -> String {
        self.logs.text()
    }
}

impl Drop for InProcessStack {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A runtime for the services, whose threads log into `logs`.
fn server_runtime(logs: &Logs) -> Runtime {
    let dispatch = tracing::Dispatch::new(
        tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_ansi(false)
            .with_target(false)
            .with_max_level(tracing::Level::INFO)
            .finish(),
    );
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("test-stack")
        .enable_all()
        .on_thread_start(move || {
            // The thread keeps this stack's subscriber for its whole life, so events
            // of several stacks in one test binary never mix.
            std::mem::forget(tracing::dispatcher::set_default(&dispatch));
        })
        .build()
        .expect("a runtime for the stack")
}

/// What the services need to start: folders, databases and the test's settings.
struct Plan {
    data: PathBuf,
    auth_database: String,
    library_database: String,
    bucket: Option<TestBucket>,
    settings: Vec<(String, String)>,
}

impl Plan {
    /// Binds the three listeners, builds the services on them and runs them until the
    /// runtime stops: the gateway's, the auth service's and the library's addresses.
    async fn start(self) -> (SocketAddr, SocketAddr, SocketAddr) {
        let listener = || async {
            TcpListener::bind("127.0.0.1:0")
                .await
                .expect("a loopback listener")
        };
        let (auth_listener, library_listener, http_listener) =
            (listener().await, listener().await, listener().await);
        let address = |listener: &TcpListener| listener.local_addr().expect("an address");
        let (auth, library, http) = (
            address(&auth_listener),
            address(&library_listener),
            address(&http_listener),
        );
        let data = |name: &str| self.data.join(name).display().to_string();
        let auth_url = format!("https://{auth}");
        let library_url = format!("https://{library}");
        // Mutual TLS between the parts, as shipped.
        let pki = crate::pki::shared();
        let tls = self.data.join("tls");
        let tls_settings = [
            ("AUTH", "auth"),
            ("LIBRARY", "library"),
            ("GATEWAY", "gateway"),
        ]
        .into_iter()
        .flat_map(|(prefix, part)| pki.settings(&tls, prefix, part));
        let public_url = format!("http://{http}");
        let mut configs = Configs::parse(
            [
                ("AUTH_DATA_DIR", data("auth")),
                ("AUTH_DATABASE_URL", self.auth_database.clone()),
                ("LIBRARY_DATA_DIR", data("library")),
                ("LIBRARY_DATABASE_URL", self.library_database.clone()),
                ("AUTH_URL", auth_url),
                ("LIBRARY_URL", library_url),
                ("GATEWAY_PUBLIC_URL", public_url),
            ]
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value))
            .chain(tls_settings)
            .chain(self.settings),
        );
        if let Some(bucket) = &self.bucket {
            bucket.configure(&mut configs.library);
        }
        let auth_app = auth_service::Application::build(&configs.auth, auth_listener)
            .await
            .expect("the auth service starts");
        let library_app = library_service::Application::build(&configs.library, library_listener)
            .await
            .expect("the library service starts");
        let gateway_app = gateway::Application::build(&configs.gateway, http_listener)
            .expect("the gateway starts");
        let forever = std::future::pending::<()>;
        tokio::spawn(async move { auth_app.run_until(forever()).await });
        tokio::spawn(async move { library_app.run_until(forever()).await });
        tokio::spawn(async move { gateway_app.run_until(forever()).await });
        (http, auth, library)
    }
}

/// The three services' configurations.
struct Configs {
    auth: auth_service::Config,
    library: library_service::Config,
    gateway: gateway::Config,
}

impl Configs {
    /// Each service's configuration from environment-style settings, read as its binary
    /// reads its environment but without touching the process's own, which the tests
    /// of one binary share.
    fn parse(settings: impl Iterator<Item = (String, String)>) -> Self {
        let settings: Vec<(String, String)> = settings.collect();
        for (name, _) in &settings {
            assert!(
                [
                    auth_service::Config::command(),
                    library_service::Config::command(),
                    gateway::Config::command(),
                ]
                .iter()
                .any(|command| long_flag(command, name).is_some()),
                "no service has a setting named {name}"
            );
        }
        Self {
            auth: parse_config(&settings),
            library: parse_config(&settings),
            gateway: parse_config(&settings),
        }
    }
}

/// The long flag of the argument that `variable` sets.
fn long_flag(command: &clap::Command, variable: &str) -> Option<String> {
    command
        .get_arguments()
        .find(|argument| argument.get_env() == Some(OsStr::new(variable)))
        .and_then(|argument| argument.get_long())
        .map(str::to_owned)
}

/// `Config` from the settings it has a flag for; the process environment is ignored.
fn parse_config<Config: clap::Parser>(settings: &[(String, String)]) -> Config {
    let command = Config::command();
    let mut arguments = vec![command.get_name().to_owned()];
    for (variable, value) in settings {
        if let Some(flag) = long_flag(&command, variable) {
            arguments.push(format!("--{flag}={value}"));
        }
    }
    let command = command.mut_args(|argument| argument.env(None::<&str>));
    let matches = command
        .try_get_matches_from(arguments)
        .unwrap_or_else(|error| panic!("a setting does not parse: {error}"));
    Config::from_arg_matches(&matches).expect("a configuration")
}

/// Log lines kept in memory, shared by every thread of one stack.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log lock")).into_owned()
    }
}

impl Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log lock").extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Logs {
    type Writer = Logs;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
