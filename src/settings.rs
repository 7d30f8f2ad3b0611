//! The three parts' settings in the one-command stack: each part's own configuration,
//! read from the same variables as its binary, with the stack's choices (data folders
//! under the stack's, loopback on the stack's ports, the parts reaching each other)
//! wherever a variable is unset. The parts talk mutual TLS with certificates the
//! stack makes on first start under `<data>/tls`, unless their variables name others.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use clap::{
    CommandFactory,
    error::{ContextKind, ContextValue},
    parser::ValueSource,
};

/// Where the stack puts its parts, from its own flags and `BOOKSHELF_*` variables.
pub struct StackChoices<'a> {
    /// The folder holding each part's data folder.
    pub data_dir: &'a std::path::Path,
    /// The ports the stack binds on loopback, and whether each was given rather than
    /// left at its default: the auth service's, the library's, the gateway's.
    pub ports: [(u16, bool); 3],
}

/// The auth and library configurations, and where the gateway listens: all that is
/// needed before anything binds. The gateway's configuration waits for the addresses
/// the others were given (see [`gateway`]).
pub struct Parts {
    /// The auth service's.
    pub auth: auth_service::Config,
    /// The library service's; its `auth_url` is set once the auth service listens.
    pub library: library_service::Config,
    /// Where the gateway listens.
    pub gateway_listen: SocketAddr,
}

/// The parts' configurations, from the environment over the stack's choices. A
/// `*_LISTEN` variable places its part instead of the stack's port; it may not
/// contradict a `BOOKSHELF_*_PORT` that was also given.
pub fn parts(choices: &StackChoices) -> anyhow::Result<Parts> {
    let [auth_port, library_port, http_port] = choices.ports;

    let tls = tls_dir(choices.data_dir);
    let mut auth_defaults = auth_service::Config::embedded(choices.data_dir.join("auth"));
    auth_defaults.listen = loopback(auth_port.0);
    [
        auth_defaults.tls_cert,
        auth_defaults.tls_key,
        auth_defaults.tls_ca,
    ] = part_files(&tls, "auth");
    let auth = auth_service::Config::from_env_with(auth_defaults)
        .map_err(|error| naming_variable(auth_service::Config::command(), error))?;
    agree("AUTH_LISTEN", auth.listen, "BOOKSHELF_AUTH_PORT", auth_port)?;

    let mut library_defaults =
        library_service::Config::embedded(choices.data_dir.join("library"), String::new());
    library_defaults.listen = loopback(library_port.0);
    [
        library_defaults.tls_cert,
        library_defaults.tls_key,
        library_defaults.tls_ca,
    ] = part_files(&tls, "library");
    let library = library_service::Config::from_env_with(library_defaults)
        .map_err(|error| naming_variable(library_service::Config::command(), error))?;
    agree(
        "LIBRARY_LISTEN",
        library.listen,
        "BOOKSHELF_LIBRARY_PORT",
        library_port,
    )?;

    let gateway_listen = gateway(
        loopback(http_port.0),
        String::new(),
        String::new(),
        choices.data_dir,
    )?
    .listen;
    agree(
        "GATEWAY_LISTEN",
        gateway_listen,
        "BOOKSHELF_HTTP_PORT",
        http_port,
    )?;
    Ok(Parts {
        auth,
        library,
        gateway_listen,
    })
}

/// The gateway's configuration, once the stack knows the addresses the parts listen
/// on: its own (`listen`, and the public URL unless `GATEWAY_PUBLIC_URL` names one)
/// and the backends'.
pub fn gateway(
    listen: SocketAddr,
    auth_url: String,
    library_url: String,
    data_dir: &Path,
) -> anyhow::Result<gateway::Config> {
    let mut defaults =
        gateway::Config::embedded(auth_url.clone(), library_url.clone(), http_url(listen));
    defaults.listen = listen;
    [defaults.tls_cert, defaults.tls_key, defaults.tls_ca] =
        part_files(&tls_dir(data_dir), "gateway");
    let mut config = gateway::Config::from_env_with(defaults)
        .map_err(|error| naming_variable(gateway::Config::command(), error))?;
    // The backends are the stack's own parts, whatever `AUTH_URL` and `LIBRARY_URL`
    // say: they serve another deployment's separate binaries.
    config.auth_url = auth_url;
    config.library_url = library_url;
    Ok(config)
}

/// The variables the stack reads for its parts but overrides, with what it does
/// instead: set, they are reported at start-up rather than ignored in silence.
pub const OVERRIDDEN: [(&str, &str); 3] = [
    (
        "AUTH_URL",
        "the library and the gateway use this stack's auth service",
    ),
    (
        "LIBRARY_URL",
        "the gateway uses this stack's library service",
    ),
    (
        "OTEL_SERVICE_NAME",
        "each part's spans are named by the part: gateway, auth, library",
    ),
];

/// Whether a value was set, on the command line or in the environment, rather than
/// left at its default.
pub fn given(source: Option<ValueSource>) -> bool {
    matches!(
        source,
        Some(ValueSource::CommandLine | ValueSource::EnvVariable)
    )
}

/// The URL of a part listening at `address`.
pub fn http_url(address: SocketAddr) -> String {
    format!("http://{address}")
}

/// The URL of a gRPC part listening at `address`: over TLS unless `plaintext`.
pub fn grpc_url(address: SocketAddr, plaintext: bool) -> String {
    if plaintext {
        http_url(address)
    } else {
        format!("https://{address}")
    }
}

/// Where the stack keeps the CA and the parts' certificates it makes.
pub fn tls_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("tls")
}

/// A part's certificate, key and CA bundle among those the stack makes.
fn part_files(tls: &Path, part: &str) -> [Option<PathBuf>; 3] {
    [
        Some(tls.join(format!("{part}.crt"))),
        Some(tls.join(format!("{part}.key"))),
        Some(tls.join("ca.crt")),
    ]
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Refuses a part's `*_LISTEN` and the stack's port for it when both are given and
/// name different ports: either way one of them would be ignored.
fn agree(
    listen_variable: &str,
    listen: SocketAddr,
    port_variable: &str,
    (port, port_given): (u16, bool),
) -> anyhow::Result<()> {
    if port_given && listen.port() != port {
        anyhow::bail!(
            "{listen_variable}={listen} and {port_variable}={port} disagree on where the \
             part listens: set one of them"
        );
    }
    Ok(())
}

/// A configuration error that names the variable it came from: the stack takes no
/// flags for its parts, so clap's message, which names a flag, would mislead.
/// A value hidden from `--help` (a secret) stays out of the message too.
fn naming_variable(mut command: clap::Command, error: clap::Error) -> anyhow::Error {
    // Built, as clap builds it to parse, for an argument to show as in clap's message.
    command.build();
    let argument = match error.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(shown)) => command
            .get_arguments()
            .find(|argument| argument.to_string() == *shown),
        _ => None,
    };
    let Some((argument, variable)) =
        argument.and_then(|argument| Some((argument, argument.get_env()?.to_string_lossy())))
    else {
        return anyhow::anyhow!("{}", error.render());
    };
    let reason = std::error::Error::source(&error)
        .map(ToString::to_string)
        .unwrap_or_else(|| error.kind().to_string());
    match error.get(ContextKind::InvalidValue) {
        Some(ContextValue::String(value)) if !argument.is_hide_env_values_set() => {
            anyhow::anyhow!("{variable}={value:?} is not a valid value: {reason}")
        }
        _ => anyhow::anyhow!("{variable} does not hold a valid value: {reason}"),
    }
}
