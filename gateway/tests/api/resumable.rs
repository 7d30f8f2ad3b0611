//! Resumable uploads as a real client makes them: tus-js-client in its IETF draft mode
//! (`ietf-draft-05`, the draft's interop version 6) uploads a 20 MB cover through a
//! relay that cuts its connection at 20 random points, resuming each time with `HEAD`
//! and `PATCH`, and the book made from the upload holds exactly the bytes sent.
//!
//! The routes' own answers are checked in [`routes`].
//!
//! The client is installed by `scripts/tus-client.sh` (CI sets `BOOKSHELF_TUS_CLIENT`,
//! and then a missing client fails the test rather than skipping it).

use std::{path::PathBuf, time::Duration};

use bookshelf_proto::library::v1::{CreateBookRequest, create_book_request};
use bookshelf_test_support::{
    CuttingRelay, InProcessStack, bearer, images,
    library::{cover_end, finished, new_book},
    rest::book_form,
};
use reqwest::Method;

mod routes;

/// Covers up to 32 MiB for these tests: the default cap (10 MiB) is kept for everyone
/// else, and a 20 MB cover passes it.
const SETTINGS: [(&str, &str); 2] = [
    ("GATEWAY_MAX_COVER_BYTES", "33554432"),
    ("LIBRARY_MAX_COVER_BYTES", "33554432"),
];
const COVER_BYTES: usize = 20_000_000;
const CUTS: usize = 20;

/// Where tus-js-client is installed, or `None` (the test is skipped, saying so) when
/// it is not and CI did not ask for it.
fn tus_client() -> Option<PathBuf> {
    let asked = std::env::var_os("BOOKSHELF_TUS_CLIENT");
    let dir = asked.clone().map(PathBuf::from).unwrap_or_else(|| {
        let home = std::env::var_os("HOME").unwrap_or_default();
        PathBuf::from(home).join(".cache/bookshelf/tus")
    });
    let node = std::process::Command::new("node").arg("--version").output();
    let usable = node.is_ok_and(|node| node.status.success())
        && dir.join("node_modules/tus-js-client").is_dir();
    match (usable, asked) {
        (true, _) => Some(dir),
        (false, Some(_)) => {
            panic!("BOOKSHELF_TUS_CLIENT is set but node or tus-js-client is missing")
        }
        (false, None) => {
            eprintln!("skipped: node and tus-js-client are needed; run scripts/tus-client.sh");
            None
        }
    }
}

/// Random numbers for the cut points and the cover's bytes, from a seed printed so a
/// failure can be replayed.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// A real JPEG of exactly `size` bytes whose comment segments (which decoders skip
/// and the thumbnail drops) hold random bytes, so that any byte out of place changes
/// its digest.
fn cover(size: usize, random: &mut Random) -> Vec<u8> {
    images::jpeg_of_size(images::jpeg(1200, 800), size, || random.next())
}

/// Runs the tus client on `file` against `endpoint`: the upload's id.
async fn tus_upload(
    tools: &std::path::Path,
    endpoint: &str,
    token: &str,
    file: &std::path::Path,
) -> String {
    // Run from the tools folder, where node finds tus-js-client.
    let script = tools.join(format!("tus-upload-{}.mjs", uuid::Uuid::new_v4().simple()));
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/tus-upload.mjs");
    std::fs::copy(source, &script).expect("the script copied");
    let output = tokio::time::timeout(
        Duration::from_secs(300),
        tokio::process::Command::new("node")
            .arg(&script)
            .args([endpoint, token])
            .arg(file)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the upload ends within five minutes")
    .expect("node runs");
    let _ = std::fs::remove_file(&script);
    assert!(
        output.status.success(),
        "tus-js-client failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("JSON from the script");
    eprintln!("tus-js-client: {answer}");
    let url = answer["url"].as_str().expect("the upload's URL");
    url.rsplit('/').next().expect("an id").to_owned()
}

async fn thumbnail(book: &serde_json::Value) -> Vec<u8> {
    let url = book["image_url"].as_str().expect("an image_url");
    reqwest::get(url)
        .await
        .expect("the cover")
        .bytes()
        .await
        .expect("its bytes")
        .to_vec()
}

#[tokio::test]
async fn a_real_tus_client_resumes_a_20_mb_cover_through_20_cut_connections() {
    let Some(tools) = tus_client() else { return };
    let stack = InProcessStack::spawn_with(&SETTINGS).await;
    let (_, rest) = stack.rest().signed_up("Ada Lovelace").await;
    let token = rest.token.clone().expect("a token");
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after the epoch")
        .as_nanos() as u64
        | 1;
    eprintln!("seed {seed}");
    let mut random = Random(seed);
    let bytes = cover(COVER_BYTES, &mut random);
    let file = stack.dir.path().join("cover.jpg");
    std::fs::write(&file, &bytes).expect("the cover written");

    // Cut points over the bytes the client sends, so every cut falls mid-body.
    let cuts = (0..CUTS)
        .map(|_| 100_000 + random.next() % (COVER_BYTES as u64 - 200_000))
        .collect();
    let gateway = stack
        .http
        .trim_start_matches("http://")
        .parse()
        .expect("an address");
    let relay = CuttingRelay::to(gateway, cuts).await;
    let endpoint = format!("http://{}/uploads/", relay.addr);
    let id = tus_upload(&tools, &endpoint, &token, &file).await;
    assert_eq!(relay.cuts_made(), CUTS, "every cut fell on the upload");

    // The stored upload is exactly the file: the library checks its length and
    // SHA-256 before it takes it as a cover.
    let mut metadata = new_book("Resumed", "science");
    metadata.cover_upload = id.clone();
    let messages = vec![
        CreateBookRequest {
            part: Some(create_book_request::Part::Metadata(metadata)),
        },
        CreateBookRequest {
            part: Some(create_book_request::Part::Cover(cover_end(finished(
                &bytes,
            )))),
        },
    ];
    let resumed = stack
        .library_client()
        .await
        .create_book(bearer(futures::stream::iter(messages), &token))
        .await
        .expect("the book takes the uploaded cover, whole")
        .into_inner()
        .book
        .expect("a book");

    // And it makes the same cover as the file uploaded in one go.
    let form = book_form(
        &[("title", "In one go"), ("category", "science")],
        Some(("cover.jpg", bytes)),
    );
    let in_one_go = rest.form(Method::POST, "/books/", form).await;
    assert_eq!(in_one_go.status, 201, "{:?}", in_one_go.body);
    let resumed = rest.get(&format!("/books/{}", resumed.id)).await;
    assert_eq!(
        thumbnail(resumed.data()).await,
        thumbnail(in_one_go.data()).await
    );
}
