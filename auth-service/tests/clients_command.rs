//! The operator's `clients` commands, run as the built binary on a real database.

use std::process::{Command, Output};

use bookshelf_test_support::{TestDatabase, service_clients::ClientKey};

/// Runs `auth-service clients <args>` on the database at `url`.
fn clients(dir: &std::path::Path, url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_auth-service"))
        .arg("clients")
        .args(args)
        .env("AUTH_DATA_DIR", dir)
        .env("AUTH_DATABASE_URL", url)
        .env("AUTH_METRICS_LISTEN", "off")
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("the binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn clients_are_added_listed_and_removed_by_command() {
    let dir = tempfile::tempdir().unwrap();
    let database = TestDatabase::create(dir.path(), "auth").await;
    let jwks = dir.path().join("indexer.jwks.json");
    let key = ClientKey::ed25519("indexer-2026");
    std::fs::write(&jwks, ClientKey::jwks(&[&key])).unwrap();
    let jwks = jwks.to_str().unwrap();
    let url = database.url.as_str();

    let added = clients(
        dir.path(),
        url,
        &[
            "add",
            "indexer",
            "--scope",
            "books:read",
            "--scope",
            "users:read",
            "--jwks",
            jwks,
        ],
    );
    assert!(added.status.success(), "{added:?}");
    let again = clients(
        dir.path(),
        url,
        &["add", "indexer", "--scope", "books:read", "--jwks", jwks],
    );
    assert!(!again.status.success(), "a name is registered once");

    for (why, args) in [
        (
            "a scope off the allow-list",
            vec!["add", "writer", "--scope", "books:write", "--jwks", jwks],
        ),
        ("no scope", vec!["add", "writer", "--jwks", jwks]),
        (
            "a bad name",
            vec!["add", "a/b", "--scope", "books:read", "--jwks", jwks],
        ),
    ] {
        let refused = clients(dir.path(), url, &args);
        assert!(!refused.status.success(), "{why}: {refused:?}");
    }
    let private = dir.path().join("private.json");
    let mut leaked = key.jwk.clone();
    leaked["d"] = "c2VjcmV0".into();
    std::fs::write(
        &private,
        serde_json::json!({ "keys": [leaked] }).to_string(),
    )
    .unwrap();
    let refused = clients(
        dir.path(),
        url,
        &[
            "add",
            "leaky",
            "--scope",
            "books:read",
            "--jwks",
            private.to_str().unwrap(),
        ],
    );
    assert!(!refused.status.success(), "a private key is refused");

    let listed = clients(dir.path(), url, &["list"]);
    assert!(listed.status.success(), "{listed:?}");
    let lines: Vec<String> = stdout(&listed).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("indexer\tscopes=books:read,users:read\tkeys=indexer-2026"),
        "{lines:?}"
    );

    let removed = clients(dir.path(), url, &["remove", "indexer"]);
    assert!(removed.status.success(), "{removed:?}");
    assert_eq!(stdout(&clients(dir.path(), url, &["list"])), "");
    let missing = clients(dir.path(), url, &["remove", "indexer"]);
    assert!(
        !missing.status.success(),
        "removing an unknown client fails"
    );
}
