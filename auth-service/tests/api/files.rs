//! The embedded default's files are the service user's alone: the data folder 0700,
//! the SQLite database and its journals, the generated signing key and encryption key
//! 0600, whatever
//! the process umask lets other files be.

use std::{os::unix::fs::PermissionsExt, path::Path};

use auth_service::{Application, Config};
use bookshelf_test_support::{TestAuth, register};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn the_data_folder_and_its_secrets_are_private() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let mut config = Config::embedded(data.clone());
    config.internal_plaintext = true;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app = Application::build(&config, listener).await.unwrap();
    assert_eq!(mode(&data), 0o700, "the data folder");
    const SECRETS: [&str; 2] = ["signing-key.pem", "encryption-key"];
    for file in ["auth.db"].into_iter().chain(SECRETS) {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }
    let wal = data.join("auth.db-wal");
    if wal.exists() {
        assert_eq!(mode(&wal), 0o600, "the write-ahead log");
    }
    let leftovers: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| !name.starts_with("auth.db") && !SECRETS.contains(&name.as_str()))
        .collect();
    assert!(
        leftovers.is_empty(),
        "no temporary key file left: {leftovers:?}"
    );
    drop(app);

    // A restart reads the same key, whole.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    Application::build(&config, listener)
        .await
        .expect("the kept key loads");
}

#[tokio::test]
async fn the_database_journals_written_in_use_are_private() {
    let auth = TestAuth::spawn().await;
    if auth.database.is_postgres() {
        return;
    }
    let mut client = auth.client().await;
    register(&mut client, "journal@example.com").await;
    for entry in std::fs::read_dir(auth.dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("auth.db") {
            assert_eq!(mode(&path), 0o600, "{name}");
        }
    }
}
