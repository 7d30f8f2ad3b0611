//! The auth service's configuration: one struct, from flags or environment variables.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use bookshelf_runtime::clock::Clock;
use bookshelf_runtime::connections::{self, GrpcLimits};
use bookshelf_runtime::tls::{TlsError, TlsFiles};
use bookshelf_runtime::{metrics::MetricsListen, telemetry::LogFormat};
use secrecy::SecretString;
use webauthn_rs::prelude::Url;

use crate::domain::session::Lifetimes;

/// The binary's name, which clap shows in messages.
const NAME: &str = "auth-service";

/// How the auth service runs. Printing it shows no secret.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = NAME,
    version,
    about = "Bookshelf's users and tokens over gRPC"
)]
pub struct Config {
    /// Address to serve gRPC on.
    #[arg(long, env = "AUTH_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    /// Database URL: `postgres://...` for PostgreSQL; by default an SQLite file
    /// `auth.db` in the data folder.
    #[arg(long, env = "AUTH_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<SecretString>,
    /// Folder for the embedded default's database and generated signing key.
    #[arg(long, env = "AUTH_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
    /// An Ed25519 signing key as PKCS#8 PEM, added to the key set in the database if
    /// the set has never held it: the first key of an empty set, or, changed later,
    /// a rotation. Without it the first key is generated on first start and kept in
    /// the data folder (mode 0600).
    #[arg(long, env = "AUTH_SIGNING_KEY", hide_env_values = true)]
    pub signing_key: Option<SecretString>,
    /// The key (base64 of 32 bytes) that seals private signing keys and TOTP secrets
    /// in the database (AES-256-GCM). Replicas sharing a database need the same one.
    /// Without it one is generated on first start and kept in the data folder as
    /// `encryption-key` (mode 0600).
    #[arg(long, env = "AUTH_ENCRYPTION_KEY", hide_env_values = true)]
    pub encryption_key: Option<SecretString>,
    /// How long a rotated-in signing key is published before it signs, in seconds:
    /// longer than replicas and followers take to read the keys again, so none meets
    /// a token naming a key it does not know yet.
    #[arg(long, env = "AUTH_SIGNING_KEY_ACTIVATION_SECS", default_value_t = 120)]
    pub signing_key_activation_secs: u64,
    /// How often the key set is read from the database, in milliseconds.
    #[arg(long, env = "AUTH_SIGNING_KEYS_REFRESH_MS", default_value_t = 10_000)]
    pub signing_keys_refresh_ms: u64,
    /// Token lifetime in seconds.
    #[arg(long, env = "AUTH_TOKEN_TTL_SECS", default_value_t = 24 * 60 * 60)]
    pub token_ttl_secs: u64,
    /// Refresh token lifetime in seconds: a session unused for this long ends.
    #[arg(long, env = "AUTH_REFRESH_TOKEN_TTL_SECS", default_value_t = DEFAULT_REFRESH_TTL_SECS)]
    pub refresh_token_ttl_secs: u64,
    /// Session lifetime in seconds: however often it is refreshed, a session ends this
    /// long after its login, and the user logs in again.
    #[arg(long, env = "AUTH_SESSION_MAX_SECS", default_value_t = DEFAULT_SESSION_MAX_SECS)]
    pub session_max_secs: u64,
    /// Login attempts allowed per email from one client address within the throttle
    /// window (a successful login gives its own back and clears this count).
    #[arg(long, env = "AUTH_LOGIN_MAX_FAILURES", default_value_t = 5)]
    pub login_max_failures: u32,
    /// Login attempts allowed per email from all addresses together within the
    /// window: the ceiling for guesses spread over many addresses.
    #[arg(long, env = "AUTH_LOGIN_MAX_FAILURES_PER_EMAIL", default_value_t = 25)]
    pub login_max_failures_per_email: u32,
    /// Failed logins and registrations allowed per client address (IPv6: per /64)
    /// within the window, over every email.
    #[arg(long, env = "AUTH_MAX_ATTEMPTS_PER_ADDRESS", default_value_t = 100)]
    pub max_attempts_per_address: u32,
    /// Second-factor codes that may be offered for one account within the throttle
    /// window, at login, confirmation and disabling together.
    #[arg(long, env = "AUTH_MFA_MAX_GUESSES_PER_ACCOUNT", default_value_t = 10)]
    pub mfa_max_guesses_per_account: u32,
    /// Second-factor codes that may be offered with one `mfa_token`.
    #[arg(long, env = "AUTH_MFA_MAX_GUESSES_PER_TOKEN", default_value_t = 5)]
    pub mfa_max_guesses_per_token: u32,
    /// How long a login's `mfa_token` waits for its code, in seconds.
    #[arg(long, env = "AUTH_MFA_TOKEN_TTL_SECS", default_value_t = 300)]
    pub mfa_token_ttl_secs: u64,
    /// How long after proving a factor (a password or a second factor) a session may
    /// still change factors or disable its account without proving one again, in
    /// seconds. Past it such a change needs the current password or a new login.
    #[arg(long, env = "AUTH_RECENT_SIGN_IN_SECS", default_value_t = 600)]
    pub recent_sign_in_secs: u64,
    /// The WebAuthn relying party id: the domain passkeys are bound to (the site's
    /// host name or a registrable suffix of it). Changing it orphans every passkey.
    #[arg(long, env = "AUTH_WEBAUTHN_RP_ID", default_value = DEFAULT_WEBAUTHN_RP_ID)]
    pub webauthn_rp_id: String,
    /// The origin WebAuthn ceremonies must come from: the web app's URL (scheme,
    /// host and port), as the browser reports it.
    #[arg(long, env = "AUTH_WEBAUTHN_ORIGIN", default_value = DEFAULT_WEBAUTHN_ORIGIN,
          value_parser = Url::parse)]
    pub webauthn_origin: Url,
    /// How long a WebAuthn ceremony may take from its start to its finish, in
    /// seconds; past it the ceremony is refused and must start again.
    #[arg(long, env = "AUTH_WEBAUTHN_CEREMONY_TTL_SECS", default_value_t = 300)]
    pub webauthn_ceremony_ttl_secs: u64,
    /// The throttle window in seconds.
    #[arg(long, env = "AUTH_LOGIN_WINDOW_SECS", default_value_t = 15 * 60)]
    pub login_window_secs: u64,
    /// The service's certificate chain (PEM), whose URI SAN is its SPIFFE id
    /// (`spiffe://<trust domain>/bookshelf/auth`): served to callers. Re-read when it
    /// changes.
    #[arg(long, env = "AUTH_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of `AUTH_TLS_CERT` (PEM).
    #[arg(long, env = "AUTH_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// The CAs (PEM bundle) a caller's certificate must chain to.
    #[arg(long, env = "AUTH_TLS_CA")]
    pub tls_ca: Option<PathBuf>,
    /// Serves plaintext gRPC, with no TLS and no caller identities: every caller may
    /// then watch revocations and forward client addresses. Only behind a network
    /// that authenticates the parts itself (a service mesh, say).
    #[arg(long, env = "AUTH_INTERNAL_PLAINTEXT")]
    pub internal_plaintext: bool,
    /// SPIFFE ids (comma-separated) whose callers may watch the revocation feed: the
    /// services that verify tokens. By default the library service's id in this
    /// service's own trust domain.
    #[arg(long, env = "AUTH_VERIFIER_IDENTITIES", value_delimiter = ',')]
    pub verifier_identities: Vec<String>,
    /// SPIFFE ids (comma-separated) whose `x-client-address` and forwarded user agent
    /// metadata name the client: the gateways. From any other caller that metadata is
    /// ignored and the caller's own address is the client's. By default the gateway's
    /// id in this service's own trust domain.
    #[arg(long, env = "AUTH_FORWARDER_IDENTITIES", value_delimiter = ',')]
    pub forwarder_identities: Vec<String>,
    /// Password hashes computed at once; by default one per core.
    #[arg(long, env = "AUTH_HASH_CONCURRENCY")]
    pub hash_concurrency: Option<usize>,
    /// How often `WatchRevocations` sends a heartbeat, in milliseconds; none is sent
    /// while the database cannot be read.
    #[arg(long, env = "AUTH_REVOCATION_HEARTBEAT_MS", default_value_t = 1000)]
    pub revocation_heartbeat_ms: u64,
    /// Connections open at once; more are closed as soon as they are accepted. By
    /// default three quarters of the open-file limit.
    #[arg(long, env = "AUTH_GRPC_MAX_CONNECTIONS")]
    pub grpc_max_connections: Option<usize>,
    /// Concurrent calls on one HTTP/2 connection.
    #[arg(long, env = "AUTH_GRPC_MAX_STREAMS", default_value_t = 256)]
    pub grpc_max_streams: u32,
    /// How long a new connection may take to finish its TLS handshake and send the
    /// HTTP/2 preface, in milliseconds.
    #[arg(long, env = "AUTH_GRPC_HANDSHAKE_TIMEOUT_MS", default_value_t = 10_000)]
    pub grpc_handshake_timeout_ms: u64,
    /// How often a connection that has sent nothing is pinged, in milliseconds.
    #[arg(
        long,
        env = "AUTH_GRPC_KEEPALIVE_INTERVAL_MS",
        default_value_t = 10_000
    )]
    pub grpc_keepalive_interval_ms: u64,
    /// How long a ping may go unanswered before the connection is dropped, in
    /// milliseconds.
    #[arg(long, env = "AUTH_GRPC_KEEPALIVE_TIMEOUT_MS", default_value_t = 5_000)]
    pub grpc_keepalive_timeout_ms: u64,
    /// The longest a call may take, in milliseconds, when its caller sets no shorter
    /// deadline: past it the call is cancelled, so that none waits for ever on a
    /// database that has gone silent mid-query.
    #[arg(long, env = "AUTH_GRPC_CALL_TIMEOUT_MS", default_value_t = 30_000)]
    pub grpc_call_timeout_ms: u64,
    /// Where Prometheus metrics are served (`GET /metrics`), apart from the API port;
    /// `off` records none.
    #[arg(long, env = "AUTH_METRICS_LISTEN", default_value = "127.0.0.1:9051")]
    pub metrics_listen: MetricsListen,
    /// Log lines as `text` (coloured only on a terminal) or `json` (one object a line).
    #[arg(long, env = "LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,
    /// Logins and registrations that may wait for a hashing thread; past this they are
    /// refused at once (UNAVAILABLE, retry shortly) instead of queueing.
    #[arg(long, env = "AUTH_HASH_QUEUE_DEPTH", default_value_t = 64)]
    pub hash_queue_depth: usize,
    /// How long a session is kept after it ended or reached its absolute end, in
    /// seconds, for audits; ended sessions are never listed, and a sweep then removes
    /// it with its refresh tokens.
    #[arg(long, env = "AUTH_SESSION_RETENTION_SECS", default_value_t = DEFAULT_SESSION_RETENTION_SECS)]
    pub session_retention_secs: u64,
    /// How often each replica sweeps the rows that no longer decide anything (spent
    /// throttle attempts, expired refresh tokens, old sessions and revocations), in
    /// seconds; it also sweeps soon after start-up.
    #[arg(long, env = "AUTH_SWEEP_INTERVAL_SECS", default_value_t = 60 * 60)]
    pub sweep_interval_secs: u64,
    /// The URL service clients know this issuer by: their assertions' `aud` must be
    /// this URL or its token endpoint, this URL with `/oauth/token` appended (the
    /// gateway's public URL, where that endpoint is served).
    #[arg(long, env = "AUTH_ISSUER_URL", default_value = DEFAULT_ISSUER_URL)]
    pub issuer_url: String,
    /// Lifetime of a service token (client credentials grant), in seconds: 300 to 900.
    #[arg(long, env = "AUTH_SERVICE_TOKEN_TTL_SECS", default_value_t = 600,
          value_parser = clap::value_parser!(u64).range(300..=900))]
    pub service_token_ttl_secs: u64,
    /// The time tokens are issued and verified at and login attempts counted at: the
    /// system's, unless a test moves it. Never a flag.
    #[arg(skip)]
    pub clock: Clock,
}

/// The relying party id of the one-command stack, opened at `localhost`.
const DEFAULT_WEBAUTHN_RP_ID: &str = "localhost";

/// The web app's origin in the one-command stack.
const DEFAULT_WEBAUTHN_ORIGIN: &str = "http://localhost:8080";

/// The gateway's address when it runs with its defaults.
const DEFAULT_ISSUER_URL: &str = "http://127.0.0.1:8080";

/// Thirty days: a device unused for a month logs in again.
pub(crate) const DEFAULT_REFRESH_TTL_SECS: u64 = 30 * 24 * 60 * 60;

/// Ninety days: however active, a session proves the password again each quarter.
pub(crate) const DEFAULT_SESSION_MAX_SECS: u64 = 90 * 24 * 60 * 60;

/// Thirty days of ended sessions for audits.
const DEFAULT_SESSION_RETENTION_SECS: u64 = 30 * 24 * 60 * 60;

impl Config {
    /// The defaults, with nothing read from flags or the environment: for embedding.
    pub fn embedded(data_dir: PathBuf) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            database_url: None,
            data_dir,
            signing_key: None,
            encryption_key: None,
            signing_key_activation_secs: 120,
            signing_keys_refresh_ms: 10_000,
            token_ttl_secs: 24 * 60 * 60,
            refresh_token_ttl_secs: DEFAULT_REFRESH_TTL_SECS,
            session_max_secs: DEFAULT_SESSION_MAX_SECS,
            login_max_failures: 5,
            login_max_failures_per_email: 25,
            max_attempts_per_address: 100,
            mfa_max_guesses_per_account: 10,
            mfa_max_guesses_per_token: 5,
            mfa_token_ttl_secs: 300,
            recent_sign_in_secs: 600,
            login_window_secs: 15 * 60,
            webauthn_rp_id: DEFAULT_WEBAUTHN_RP_ID.to_owned(),
            webauthn_origin: Url::parse(DEFAULT_WEBAUTHN_ORIGIN)
                .expect("the default origin is a URL"),
            webauthn_ceremony_ttl_secs: 300,
            tls_cert: None,
            tls_key: None,
            tls_ca: None,
            internal_plaintext: false,
            verifier_identities: Vec::new(),
            forwarder_identities: Vec::new(),
            hash_concurrency: None,
            revocation_heartbeat_ms: 1000,
            grpc_max_connections: None,
            grpc_max_streams: 256,
            grpc_handshake_timeout_ms: 10_000,
            grpc_keepalive_interval_ms: 10_000,
            grpc_keepalive_timeout_ms: 5_000,
            grpc_call_timeout_ms: 30_000,
            metrics_listen: MetricsListen::On(SocketAddr::from(([127, 0, 0, 1], 9051))),
            log_format: LogFormat::Text,
            hash_queue_depth: 64,
            session_retention_secs: DEFAULT_SESSION_RETENTION_SECS,
            sweep_interval_secs: 60 * 60,
            issuer_url: DEFAULT_ISSUER_URL.to_owned(),
            service_token_ttl_secs: 600,
            clock: Clock::system(),
        }
    }

    /// The configuration the environment gives, read as the binary reads it but from no
    /// flags (whoever embeds the service has flags of its own), with `defaults`, such
    /// as [`Config::embedded`] adjusted by the embedder, for every setting whose
    /// variable is unset. An invalid value is an error, as it is for the binary.
    pub fn from_env_with(mut defaults: Self) -> Result<Self, clap::Error> {
        use clap::{CommandFactory, FromArgMatches};
        // Without clap's own defaults, only the variables that are set reach the
        // matches, and `defaults` keeps every other value.
        let command = Self::command().mut_args(|arg| arg.default_value(None));
        let matches = command.try_get_matches_from([NAME])?;
        defaults.update_from_arg_matches(&matches)?;
        Ok(defaults)
    }

    /// The throttle's allowances.
    pub fn allowances(&self) -> Allowances {
        Allowances {
            per_email_and_address: self.login_max_failures,
            per_email: self.login_max_failures_per_email,
            per_address: self.max_attempts_per_address,
            codes_per_account: self.mfa_max_guesses_per_account,
            codes_per_token: self.mfa_max_guesses_per_token,
            window: Duration::from_secs(self.login_window_secs),
        }
    }

    /// The WebAuthn relying party these settings describe.
    pub(crate) fn webauthn(
        &self,
    ) -> Result<webauthn_rs::Webauthn, webauthn_rs::prelude::WebauthnError> {
        webauthn_rs::WebauthnBuilder::new(&self.webauthn_rp_id, &self.webauthn_origin)?
            .rp_name("Bookshelf")
            .timeout(Duration::from_secs(self.webauthn_ceremony_ttl_secs))
            .build()
    }

    /// The TLS files, or `None` when TLS is explicitly turned off.
    pub(crate) fn tls_files(&self) -> Result<Option<TlsFiles>, TlsError> {
        TlsFiles::configured(
            "AUTH",
            self.tls_cert.as_deref(),
            self.tls_key.as_deref(),
            self.tls_ca.as_deref(),
            self.internal_plaintext,
        )
    }

    /// The bounds the gRPC server puts on its connections.
    pub(crate) fn grpc_limits(&self) -> GrpcLimits {
        GrpcLimits {
            max_connections: self
                .grpc_max_connections
                .unwrap_or_else(connections::default_max_connections),
            max_streams: self.grpc_max_streams,
            handshake_timeout: Duration::from_millis(self.grpc_handshake_timeout_ms),
            keepalive_interval: Duration::from_millis(self.grpc_keepalive_interval_ms),
            keepalive_timeout: Duration::from_millis(self.grpc_keepalive_timeout_ms),
            call_timeout: Duration::from_millis(self.grpc_call_timeout_ms),
        }
    }

    /// How often the revocation feed sends a heartbeat.
    pub(crate) fn revocation_heartbeat(&self) -> Duration {
        Duration::from_millis(self.revocation_heartbeat_ms)
    }

    /// How long a rotated-in signing key is published before it signs.
    pub(crate) fn signing_key_activation(&self) -> Duration {
        Duration::from_secs(self.signing_key_activation_secs)
    }

    /// How often the key set is read from the database.
    pub(crate) fn signing_keys_refresh(&self) -> Duration {
        Duration::from_millis(self.signing_keys_refresh_ms)
    }

    /// The token lifetime.
    pub(crate) fn token_ttl(&self) -> Duration {
        Duration::from_secs(self.token_ttl_secs)
    }

    /// The audiences a client assertion may name: the issuer URL and its token
    /// endpoint.
    pub(crate) fn assertion_audiences(&self) -> [String; 2] {
        let issuer = self.issuer_url.trim_end_matches('/');
        [issuer.to_owned(), format!("{issuer}/oauth/token")]
    }

    /// How often the database is swept.
    pub(crate) fn sweep_interval(&self) -> Duration {
        Duration::from_secs(self.sweep_interval_secs.max(1))
    }

    /// The lifetimes of tokens, refresh tokens and sessions.
    pub(crate) fn lifetimes(&self) -> Lifetimes {
        let ms = |secs: u64| (secs.saturating_mul(1000)).min(i64::MAX as u64) as i64;
        Lifetimes {
            access_ms: ms(self.token_ttl_secs),
            refresh_ms: ms(self.refresh_token_ttl_secs),
            session_ms: ms(self.session_max_secs),
        }
    }
}

/// The allowances, per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allowances {
    /// Login attempts per email from one client address.
    pub per_email_and_address: u32,
    /// Login attempts per email from all addresses together.
    pub per_email: u32,
    /// Failed logins and registrations per client address.
    pub per_address: u32,
    /// Second-factor codes per account.
    pub codes_per_account: u32,
    /// Second-factor codes per `mfa_token`.
    pub codes_per_token: u32,
    /// The window they are counted over.
    pub window: Duration,
}
