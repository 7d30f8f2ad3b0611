//! The three real binaries as child processes on reserved ports, for end-to-end tests.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Stdio,
    sync::{Arc, OnceLock},
    time::Duration,
};

use tempfile::TempDir;
use tokio::process::{Child, Command};

use crate::{Relay, TestDatabase, eventually, ports::ReservedPort};

/// One of the stack's processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// `auth-service`.
    Auth,
    /// `library-service`.
    Library,
    /// `gateway`.
    Gateway,
}

impl Service {
    /// All three, in the order they start.
    pub const ALL: [Self; 3] = [Self::Auth, Self::Library, Self::Gateway];

    /// The binary's name.
    pub fn binary(self) -> &'static str {
        match self {
            Self::Auth => "auth-service",
            Self::Library => "library-service",
            Self::Gateway => "gateway",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The folder of the workspace's binaries (the three services and the one-command
/// `bookshelf`), built once per run in the profile of the running test or harness.
pub fn binaries() -> &'static Path {
    static BINARIES: OnceLock<PathBuf> = OnceLock::new();
    BINARIES.get_or_init(|| {
        // A test runs from target/<profile>/deps/, a binary from target/<profile>/.
        let running = std::env::current_exe().expect("the running binary's path");
        let mut profile_dir = running.parent().expect("a folder").to_path_buf();
        if profile_dir.ends_with("deps") {
            profile_dir.pop();
        }
        let status = workspace_build(profile_dir.ends_with("release"))
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building the workspace's binaries failed");
        profile_dir
    })
}

/// The variables cargo sets for the crate it runs, by name or prefix.
const RUNNING_CRATE_VARIABLES: [&str; 8] = [
    "CARGO_PKG_",
    "CARGO_MANIFEST_",
    "CARGO_BIN_",
    "CARGO_CRATE_",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_TARGET_TMPDIR",
    "CARGO_RUSTC_CURRENT_DIR",
    "OUT_DIR",
];

/// `cargo build` of the workspace's binaries from inside a test or the harness, shaped
/// so that it finds what the build that started it made instead of making it again:
///
/// - the variables cargo set for the running crate are removed: build scripts that
///   watch them (`ring`'s and every `cc` user's watch `CARGO_PKG_NAME` and
///   `CARGO_MANIFEST_DIR`) would otherwise run again, and every crate above them be
///   rebuilt, here and again by the next build from a shell;
/// - in a debug build, test targets are selected too, so that dependencies get the
///   features `cargo test --workspace` gave them (dev-dependencies count only when
///   tests are built) and are not compiled a second time with fewer.
fn workspace_build(release: bool) -> std::process::Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut build = std::process::Command::new(cargo);
    build.args(["build", "--quiet", "--workspace", "--bins"]);
    if release {
        build.arg("--release");
    } else {
        build.arg("--tests");
    }
    for (name, _) in std::env::vars_os() {
        let set_for_running_crate = name.to_str().is_some_and(|name| {
            RUNNING_CRATE_VARIABLES
                .iter()
                .any(|variable| name.starts_with(variable))
        });
        if set_for_running_crate {
            build.env_remove(name);
        }
    }
    build
}

/// The environment of a stack under load: quiet logs; one address standing in for
/// many people, so its limit on sign-ups and failed logins, meant for guessing, is
/// raised past what the load sends; and one account standing in for many clients, so
/// its limits on uploads in flight and on books are raised too.
pub const LOAD_ENV: [(&str, &str); 4] = [
    ("RUST_LOG", "warn"),
    ("AUTH_MAX_ATTEMPTS_PER_ADDRESS", "100000000"),
    ("LIBRARY_MAX_UPLOADS_PER_ACCOUNT", "1024"),
    ("LIBRARY_MAX_BOOKS_PER_ACCOUNT", "10000000"),
];

/// The stack: auth, library and gateway processes with their own data folders and
/// databases, and their logs captured to files. Dropping it kills all three.
pub struct ProcessStack {
    /// The gateway's base URL, e.g. `http://127.0.0.1:40123`.
    pub http: String,
    /// The auth service's address.
    pub auth: SocketAddr,
    /// The library service's address.
    pub library: SocketAddr,
    /// Holds data folders and logs.
    pub dir: TempDir,
    // The auth and library databases; replicas share them.
    databases: Arc<[TestDatabase; 2]>,
    // The gateway's, the auth service's and the library's ports, held until the stack
    // is dropped so that a restarted service finds its port still free.
    _ports: [ReservedPort; 3],
    children: [Option<Child>; 3],
    extra_env: Vec<(String, String)>,
}

impl ProcessStack {
    /// Starts the stack with the defaults and waits until `/healthz` says healthy.
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    /// Starts the stack with extra environment variables for every process.
    pub async fn spawn_with(env: &[(&str, &str)]) -> Self {
        let postgres = std::env::var(crate::database::POSTGRES_VARIABLE).ok();
        Self::spawn_on(postgres.as_deref(), env).await
    }

    /// Starts the stack on the PostgreSQL server at `postgres_admin_url` (a fresh
    /// database per service) or, without one, on SQLite files.
    pub async fn spawn_on(postgres_admin_url: Option<&str>, env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let databases = Arc::new([
            TestDatabase::create_on(dir.path(), "auth", postgres_admin_url).await,
            TestDatabase::create_on(dir.path(), "library", postgres_admin_url).await,
        ]);
        Self::spawn_in(dir, databases, env).await
    }

    /// Starts the stack with its data folders and logs in `dir`, on `databases` (the
    /// auth service's, then the library's), which other stacks may share as replicas.
    pub(crate) async fn spawn_in(
        dir: TempDir,
        databases: Arc<[TestDatabase; 2]>,
        env: &[(&str, &str)],
    ) -> Self {
        let ports: [ReservedPort; 3] = Default::default();
        let loopback = |port: &ReservedPort| SocketAddr::from(([127, 0, 0, 1], port.number()));
        let mut stack = Self {
            http: format!("http://{}", loopback(&ports[0])),
            auth: loopback(&ports[1]),
            library: loopback(&ports[2]),
            dir,
            databases,
            _ports: ports,
            children: [None, None, None],
            extra_env: env
                .iter()
                .map(|(key, value)| (key.to_string(), value.to_string()))
                .collect(),
        };
        for service in Service::ALL {
            stack.start(service);
        }
        stack.wait_healthy().await;
        stack
    }

    fn log_path(&self, service: Service) -> PathBuf {
        self.dir.path().join(format!("{}.log", service.binary()))
    }

    /// The environment a service is started with.
    pub fn environment(&self, service: Service) -> Vec<(String, String)> {
        let data = |name: &str| self.dir.path().join(name).display().to_string();
        // Port 0: the service picks a free port and logs it, so no other process can
        // take it between a check and the bind.
        let metrics = "127.0.0.1:0".to_owned();
        let mut env: Vec<(String, String)> = match service {
            Service::Auth => vec![
                ("AUTH_LISTEN".into(), self.auth.to_string()),
                ("AUTH_DATA_DIR".into(), data("auth")),
                ("AUTH_DATABASE_URL".into(), self.databases[0].url.clone()),
                ("AUTH_METRICS_LISTEN".into(), metrics),
            ],
            Service::Library => vec![
                ("LIBRARY_LISTEN".into(), self.library.to_string()),
                ("LIBRARY_DATA_DIR".into(), data("library")),
                ("LIBRARY_DATABASE_URL".into(), self.databases[1].url.clone()),
                ("LIBRARY_METRICS_LISTEN".into(), metrics),
                ("AUTH_URL".into(), format!("https://{}", self.auth)),
            ],
            Service::Gateway => vec![
                (
                    "GATEWAY_LISTEN".into(),
                    self.http.trim_start_matches("http://").to_owned(),
                ),
                ("GATEWAY_PUBLIC_URL".into(), self.http.clone()),
                ("AUTH_URL".into(), format!("https://{}", self.auth)),
                ("LIBRARY_URL".into(), format!("https://{}", self.library)),
                ("GATEWAY_METRICS_LISTEN".into(), metrics),
            ],
        };
        // Mutual TLS between the parts, as shipped.
        let (prefix, part) = match service {
            Service::Auth => ("AUTH", "auth"),
            Service::Library => ("LIBRARY", "library"),
            Service::Gateway => ("GATEWAY", "gateway"),
        };
        env.extend(crate::pki::shared().settings(&self.dir.path().join("tls"), prefix, part));
        env.push(("RUST_LOG".into(), "info".into()));
        env.push(("NO_COLOR".into(), "1".into()));
        env.extend(self.extra_env.iter().cloned());
        env
    }

    /// Starts (or restarts) one service, appending to its log.
    pub fn start(&mut self, service: Service) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path(service))
            .expect("a log file");
        let child = Command::new(binaries().join(service.binary()))
            .env_clear()
            .envs(self.environment(service))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("the service binary starts");
        self.children[service.index()] = Some(child);
    }

    /// Sends `signal` to a service and waits for it to exit; its exit code.
    pub async fn signal(&mut self, service: Service, signal: &str) -> Option<i32> {
        let mut child = self.children[service.index()].take()?;
        let pid = child.id()?;
        let _ = std::process::Command::new("kill")
            .args([format!("-{signal}"), pid.to_string()])
            .status();
        let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .expect("the service exits")
            .expect("waiting on the child");
        status.code()
    }

    /// Stops a service without ending it (SIGSTOP): its sockets stay open and nothing
    /// flows, as with a wedged process or a network that drops every packet.
    pub fn pause(&self, service: Service) {
        self.send_signal(service, "STOP");
    }

    /// Resumes a paused service (SIGCONT).
    pub fn resume(&self, service: Service) {
        self.send_signal(service, "CONT");
    }

    fn send_signal(&self, service: Service, signal: &str) {
        let pid = self.pid(service).expect("the service is running");
        let status = std::process::Command::new("kill")
            .args([format!("-{signal}"), pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{signal} {pid} failed");
    }

    /// Puts the auth service's and the library's databases behind a [`Relay`] each
    /// (in that order) and restarts both services on them; `None` on SQLite, which has
    /// no server to go down.
    pub async fn relay_databases(&mut self) -> Option<[Relay; 2]> {
        let (auth_relay, auth_url) = self.databases[0].relayed().await?;
        let (library_relay, library_url) = self.databases[1].relayed().await?;
        self.extra_env.extend([
            ("AUTH_DATABASE_URL".to_owned(), auth_url),
            ("LIBRARY_DATABASE_URL".to_owned(), library_url),
        ]);
        for service in [Service::Auth, Service::Library] {
            self.kill(service).await;
            self.start(service);
        }
        self.wait_healthy().await;
        Some([auth_relay, library_relay])
    }

    /// The process id of a running service.
    pub fn pid(&self, service: Service) -> Option<u32> {
        self.children[service.index()].as_ref()?.id()
    }

    /// Kills a service at once (SIGKILL).
    pub async fn kill(&mut self, service: Service) {
        self.signal(service, "KILL").await;
    }

    /// Polls `/healthz` until both backends serve; panics with its log if one of the
    /// processes exits first, rather than waiting out the deadline for a dead process.
    pub async fn wait_healthy(&mut self) {
        let client = reqwest::Client::new();
        let http = self.http.clone();
        eventually("the stack to become healthy", || {
            if let Some((service, status)) = self.exited() {
                panic!(
                    "{} exited ({status}) while the stack was starting:\n{}",
                    service.binary(),
                    self.log(service)
                );
            }
            let healthy = crate::rest::is_healthy(&client, &http);
            async move { healthy.await.then_some(()) }
        })
        .await;
    }

    /// The first service found to have exited, and how, if one has.
    pub fn exited(&mut self) -> Option<(Service, std::process::ExitStatus)> {
        Service::ALL.into_iter().find_map(|service| {
            let child = self.children[service.index()].as_mut()?;
            Some((service, child.try_wait().ok()??))
        })
    }

    /// The URL of a service's Prometheus metrics, from the address it logged on its
    /// latest start.
    pub fn metrics_url(&self, service: Service) -> String {
        let log = self.log(service);
        let line = log
            .lines()
            .rev()
            .find(|line| line.contains("metrics at /metrics"))
            .unwrap_or_else(|| panic!("{} logged no metrics address", service.binary()));
        let start = line.find("127.0.0.1:").expect("a loopback address");
        let address: String = line[start..]
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
            .collect();
        format!("http://{address}/metrics")
    }

    /// What one service logged so far.
    pub fn log(&self, service: Service) -> String {
        std::fs::read_to_string(self.log_path(service)).unwrap_or_default()
    }

    /// Polls one service's log until `done` holds of it (logs are written by a
    /// background thread, a moment after the request): the log then.
    pub async fn wait_for_log(&self, service: Service, done: impl Fn(&str) -> bool) -> String {
        let what = format!("{} to log what the test expects", service.binary());
        eventually(&what, || async {
            let log = self.log(service);
            done(&log).then_some(log)
        })
        .await
    }

    /// Everything the three processes logged so far.
    pub fn logs(&self) -> String {
        Service::ALL.map(|service| self.log(service)).join("\n")
    }

    /// The library's cover folder.
    pub fn cover_dir(&self) -> PathBuf {
        self.dir.path().join("library").join("covers")
    }

    /// Whether the stack runs on PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        self.databases[0].is_postgres()
    }
}
