//! The one-command stack (`cargo run --release`) reads the same `AUTH_*`, `LIBRARY_*`
//! and `GATEWAY_*` variables as the three binaries: the README's tables hold for both.

use std::{
    path::Path,
    process::Stdio,
    time::{Duration, SystemTime},
};

use bookshelf_test_support::{ReservedPort, TestDatabase, eventually, rest::Rest, strong_password};
use reqwest::Method;
use serde_json::json;
use tempfile::TempDir;
use tokio::process::{Child, Command};

/// The one-command binary, started with nothing but `env` (and `NO_COLOR`), what it
/// prints and logs written to `output`.
fn start(env: &[(&str, String)], output: &Path) -> Child {
    let output = std::fs::File::create(output).expect("an output file");
    Command::new(env!("CARGO_BIN_EXE_bookshelf"))
        .env_clear()
        .env("NO_COLOR", "1")
        .envs(env.iter().map(|(name, value)| (name, value)))
        .stdin(Stdio::null())
        .stdout(output.try_clone().expect("an output handle"))
        .stderr(output)
        .kill_on_drop(true)
        .spawn()
        .expect("the bookshelf binary starts")
}

/// The stack's own variables: a data folder, reserved ports and no metrics listeners,
/// so that it takes nothing another test holds.
fn stack_env(data: &TempDir, ports: &[ReservedPort; 3]) -> Vec<(&'static str, String)> {
    let [http, auth, library] = ports.each_ref().map(ReservedPort::number);
    vec![
        ("BOOKSHELF_DATA_DIR", data.path().display().to_string()),
        ("BOOKSHELF_HTTP_PORT", http.to_string()),
        ("BOOKSHELF_AUTH_PORT", auth.to_string()),
        ("BOOKSHELF_LIBRARY_PORT", library.to_string()),
        ("AUTH_METRICS_LISTEN", "off".to_owned()),
        ("LIBRARY_METRICS_LISTEN", "off".to_owned()),
        ("GATEWAY_METRICS_LISTEN", "off".to_owned()),
        ("RUST_LOG", "warn".to_owned()),
    ]
}

/// Waits until the gateway at `http` is healthy; panics with the stack's output if it
/// exits first.
async fn wait_healthy(stack: &mut Child, http: &str) {
    let client = reqwest::Client::new();
    eventually("the one-command stack to become healthy", || {
        if let Ok(Some(status)) = stack.try_wait() {
            panic!("the stack exited ({status}) while starting");
        }
        let healthy = bookshelf_test_support::rest::is_healthy(&client, http);
        async move { healthy.await.then_some(()) }
    })
    .await;
}

/// How the stack exited and what it wrote to `output`, if it exits within a deadline:
/// `None` when it is still running then.
async fn exit_within(
    mut stack: Child,
    output: &Path,
    deadline: Duration,
) -> Option<(std::process::ExitStatus, String)> {
    let exited = tokio::time::timeout(deadline, stack.wait()).await.ok()?;
    let status = exited.expect("waiting on the stack");
    Some((status, read(output)))
}

fn read(output: &Path) -> String {
    std::fs::read_to_string(output).expect("the stack's output")
}

/// An `AUTH_ENCRYPTION_KEY`: base64 of 32 bytes.
const ENCRYPTION_KEY: &str = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVoxMjM0NTY=";

async fn register(client: &Rest, email: &str) -> u16 {
    client
        .json(
            Method::POST,
            "/users/",
            json!({"name": "Ada Lovelace", "email": email, "password": strong_password()}),
        )
        .await
        .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stack_honours_the_services_variables() {
    let data = tempfile::tempdir().expect("a data folder");
    let ports: [ReservedPort; 3] = Default::default();
    let auth_database = TestDatabase::create(data.path(), "stack_auth").await;
    let library_database = TestDatabase::create(data.path(), "stack_library").await;
    let mut env = stack_env(&data, &ports);
    env.retain(|(name, _)| *name != "RUST_LOG");
    env.extend([
        ("AUTH_MAX_ATTEMPTS_PER_ADDRESS", "2".to_owned()),
        ("AUTH_TOKEN_TTL_SECS", "120".to_owned()),
        ("AUTH_DATABASE_URL", auth_database.url.clone()),
        ("LIBRARY_DATABASE_URL", library_database.url.clone()),
        ("LIBRARY_MAX_BOOKS_PER_ACCOUNT", "1".to_owned()),
        ("GATEWAY_MAX_JSON_BYTES", "1024".to_owned()),
        ("AUTH_ENCRYPTION_KEY", ENCRYPTION_KEY.to_owned()),
        ("RUST_LOG", "info".to_owned()),
    ]);
    let output = data.path().join("output");
    let mut stack = start(&env, &output);
    let http = format!("http://127.0.0.1:{}", ports[0].number());
    wait_healthy(&mut stack, &http).await;
    let client = Rest::new(&http);

    assert_eq!(register(&client, "first@example.com").await, 201);
    let login = client.login("first@example.com", &strong_password()).await;
    assert_eq!(login.status, 200, "{:?}", login.body);
    let expires_at = login.data()["expires_at"].as_str().expect("expires_at");
    let expires_at = humantime::parse_rfc3339(expires_at).expect("an RFC 3339 time");
    let lifetime = expires_at
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    assert!(
        lifetime > Duration::from_secs(100) && lifetime <= Duration::from_secs(120),
        "AUTH_TOKEN_TTL_SECS=120, yet the token expires in {lifetime:?}"
    );

    assert_eq!(register(&client, "second@example.com").await, 201);
    assert_eq!(
        register(&client, "third@example.com").await,
        429,
        "AUTH_MAX_ATTEMPTS_PER_ADDRESS=2 allows two registrations from one address"
    );

    let signed_in = client.with_token(login.data()["token"].as_str().expect("a token"));
    signed_in
        .create_book("The Difference Engine", "science")
        .await;
    let second = signed_in
        .form(
            Method::POST,
            "/books/",
            bookshelf_test_support::rest::book_form(
                &[
                    ("title", "Sketch of the Analytical Engine"),
                    ("category", "science"),
                ],
                Some(("cover.jpg", bookshelf_test_support::images::jpeg(30, 30))),
            ),
        )
        .await;
    assert_eq!(second.status, 429, "{:?}", second.body);

    let padded_name = "A".repeat(2048);
    let too_large = client
        .json(
            Method::POST,
            "/users/",
            json!({"name": padded_name, "email": "large@example.com", "password": strong_password()}),
        )
        .await;
    assert_eq!(too_large.status, 413, "GATEWAY_MAX_JSON_BYTES=1024");

    // The accounts are in the databases the variables name, not in the data folder.
    assert_eq!(auth_database.count_rows("users").await, 2);
    assert_eq!(library_database.count_rows("books").await, 1);

    // The start-up print shows the settings each part runs with, and no secret.
    drop(stack);
    let printed = read(&output);
    assert!(
        printed.contains("max_attempts_per_address: 2") && printed.contains("max_json_bytes: 1024"),
        "{printed}"
    );
    assert!(!printed.contains(ENCRYPTION_KEY), "{printed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_value_stops_the_stack_naming_its_variable() {
    for (variable, value) in [
        ("AUTH_MAX_ATTEMPTS_PER_ADDRESS", "lots"),
        ("LIBRARY_MAX_BOOKS_PER_ACCOUNT", "-1"),
        ("GATEWAY_MAX_JSON_BYTES", "64k"),
        ("AUTH_INTERNAL_PLAINTEXT", "perhaps"),
    ] {
        let data = tempfile::tempdir().expect("a data folder");
        let ports: [ReservedPort; 3] = Default::default();
        let mut env = stack_env(&data, &ports);
        env.push((variable, value.to_owned()));
        let output = data.path().join("output");
        let stack = start(&env, &output);
        let Some((status, stderr)) = exit_within(stack, &output, Duration::from_secs(20)).await
        else {
            panic!("{variable}={value} is invalid, yet the stack kept running");
        };
        assert!(
            !status.success(),
            "{variable}={value}: exited with {status}"
        );
        assert!(
            stderr.contains(variable) && stderr.contains(value),
            "{variable}={value}: the message does not name the variable and its value:\n{stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listen_variable_places_the_part_and_contradicting_its_port_is_refused() {
    let data = tempfile::tempdir().expect("a data folder");
    let ports: [ReservedPort; 3] = Default::default();
    let gateway_port = ReservedPort::new();
    let mut env = stack_env(&data, &ports);
    env.retain(|(name, _)| *name != "BOOKSHELF_HTTP_PORT");
    env.push((
        "GATEWAY_LISTEN",
        format!("127.0.0.1:{}", gateway_port.number()),
    ));
    let mut stack = start(&env, &data.path().join("output"));
    wait_healthy(
        &mut stack,
        &format!("http://127.0.0.1:{}", gateway_port.number()),
    )
    .await;
    drop(stack);

    let data = tempfile::tempdir().expect("a data folder");
    let ports: [ReservedPort; 3] = Default::default();
    let elsewhere = ReservedPort::new();
    let mut env = stack_env(&data, &ports);
    env.push(("AUTH_LISTEN", format!("127.0.0.1:{}", elsewhere.number())));
    let output = data.path().join("output");
    let stack = start(&env, &output);
    let Some((status, stderr)) = exit_within(stack, &output, Duration::from_secs(20)).await else {
        panic!("AUTH_LISTEN and BOOKSHELF_AUTH_PORT disagree, yet the stack kept running");
    };
    assert!(!status.success());
    assert!(
        stderr.contains("AUTH_LISTEN") && stderr.contains("BOOKSHELF_AUTH_PORT"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stack_makes_its_certificates_once_and_prints_a_grpcurl_line_that_trusts_them() {
    let data = tempfile::tempdir().expect("a data folder");
    let ports: [ReservedPort; 3] = Default::default();
    let env = stack_env(&data, &ports);
    let http = format!("http://127.0.0.1:{}", ports[0].number());
    let tls = data.path().join("tls");
    let mut first_ca = None;
    for start_number in 0..2 {
        let output = data.path().join(format!("output-{start_number}"));
        let mut stack = start(&env, &output);
        // Healthy means the gateway reached both services, over mutual TLS.
        wait_healthy(&mut stack, &http).await;
        let ca = std::fs::read(tls.join("ca.crt")).expect("the stack's CA");
        assert_eq!(
            *first_ca.get_or_insert_with(|| ca.clone()),
            ca,
            "made once, kept"
        );
        for part in ["ca", "auth", "library", "gateway"] {
            use std::os::unix::fs::PermissionsExt;
            let key = std::fs::metadata(tls.join(format!("{part}.key"))).expect("a key");
            assert_eq!(key.permissions().mode() & 0o777, 0o600, "{part}.key");
            assert!(tls.join(format!("{part}.crt")).exists(), "{part}.crt");
        }
        let printed = format!(
            "grpcurl -cacert {} 127.0.0.1:{} list",
            tls.join("ca.crt").display(),
            ports[1].number()
        );
        let output = eventually("the start-up text", || {
            let text = read(&output);
            async move { text.contains("Ctrl-C").then_some(text) }
        })
        .await;
        assert!(output.contains(&printed), "{output}");
        assert!(
            output.contains(&format!(
                "auth service      https://127.0.0.1:{}",
                ports[1].number()
            )),
            "{output}"
        );
        stack.kill().await.expect("the stack stops");
    }
}
