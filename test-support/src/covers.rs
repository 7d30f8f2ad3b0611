//! What a stack's cover folder holds, checked against the books that point at it.

use std::{collections::BTreeSet, path::Path};

use crate::{InProcessStack, Rest, eventually};

/// A fresh name the library could have chosen for a cover: 64 lower-case hexadecimal
/// digits, as a crash or another replica would leave one behind.
pub fn cover_name() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// The names of the files in a cover folder.
pub fn cover_files(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Asserts that the stack's cover folder holds exactly the covers of `client`'s
/// books, under names the server chose (64 hexadecimal digits), and nothing partial.
/// Refused uploads are cleaned up in the background, so this waits a moment for it.
pub async fn assert_covers_match_books(stack: &InProcessStack, client: &Rest) {
    let books = client.get("/books/").await;
    let expected: BTreeSet<String> = books
        .data()
        .as_array()
        .expect("a list of books")
        .iter()
        .map(|book| {
            let url = book["image_url"].as_str().expect("an image_url");
            url.rsplit('/').next().unwrap_or_default().to_owned()
        })
        .collect();
    let what = format!("the cover store to hold exactly the books' covers, {expected:?}");
    let on_disk = eventually(&what, || async {
        let on_disk = stack.cover_names().await;
        (on_disk == expected).then_some(on_disk)
    })
    .await;
    for name in &on_disk {
        assert!(
            name.len() == 64 && name.chars().all(|c| c.is_ascii_hexdigit()),
            "a cover name the server did not choose: {name}"
        );
    }
}
