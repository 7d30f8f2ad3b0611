//! A cover store shared with anything else: another deployment's prefix in the same
//! bucket, or files some other program keeps in the folder. The sweep takes only
//! covers this service could have written, directly under its own prefix or folder;
//! everything else stays, whichever replica sweeps and however old it is.

use std::collections::BTreeSet;

use bookshelf_test_support::{
    TestAuth, TestLibrary,
    buckets::{TestBucket, TestCovers},
    covers::cover_name,
    images::jpeg,
    library::{create_book, new_book},
    register_and_login,
};
use library_service::{Config, storage::CoverLocation};

/// Names that differ from a cover name by one character, or by a part around it.
fn look_alikes() -> Vec<String> {
    let name = cover_name();
    let with_first = |c: char| format!("{c}{}", &name[1..]);
    vec![
        with_first('g'),
        with_first('A'),
        name[..63].to_owned(),
        format!("{name}0"),
        format!("{name}.jpg"),
        format!(".partial-{}", with_first('g')),
        "notes.txt".to_owned(),
    ]
}

/// Everything a neighbour keeps inside the store's own folder or prefix: names close
/// to ours, and real cover names one level down.
fn neighbours_inside() -> Vec<String> {
    let mut names = look_alikes();
    names.push(format!("x/{}", cover_name()));
    names.push(format!("x/y/{}", cover_name()));
    names
}

/// What the store looks like for one test: the covers' own folder or prefix, the
/// whole folder or bucket around it, and the neighbours' objects in either.
struct Shared {
    /// The library's covers.
    ours: TestCovers,
    /// The whole bucket (or the folder itself), where the neighbours keep theirs.
    whole: TestCovers,
    /// The path of `ours` in `whole`, with a trailing slash unless empty.
    ours_in_whole: String,
    /// Neighbours' names, relative to `ours`.
    inside: Vec<String>,
    /// Neighbours' names, relative to `whole`.
    outside: Vec<String>,
}

/// Two replicas on one database and one store, both sweeping with no grace, after
/// the store was filled with a kept cover, orphans of ours and the neighbours'
/// objects: everything but the orphans must remain.
async fn two_replicas_sweep(
    point_at: impl Fn(&mut Config) + Clone + Send + 'static,
    shared: Shared,
) {
    let auth = TestAuth::spawn().await;
    let configure = move |config: &mut Config| {
        point_at(config);
        config.sweep_grace_secs = 0;
    };
    let mut first = TestLibrary::spawn_with(&auth, configure.clone()).await;
    let (_, token) = register_and_login(&mut auth.client().await).await;
    let book = create_book(
        &mut first.client().await,
        &token,
        new_book("Kept", "poetry"),
        &jpeg(20, 20),
    )
    .await
    .unwrap();
    let mut orphans = vec![cover_name(), cover_name()];
    if let TestCovers::Folder(_) = shared.ours {
        orphans.push(format!(".partial-{}", cover_name()));
    }
    for name in shared.inside.iter().chain(&orphans) {
        shared.ours.put_behind_the_back(name, b"not a book's").await;
    }
    for name in &shared.outside {
        shared.whole.put_behind_the_back(name, b"another's").await;
    }
    assert!(
        shared
            .ours
            .everything()
            .await
            .is_superset(&orphans.iter().cloned().collect()),
        "the orphans were written where the library keeps its covers"
    );
    first.stop().await;

    // Each replica sweeps as it starts, both at once.
    let database_url = first.config.database_url.clone();
    let (_, _second) = tokio::join!(
        first.start(),
        TestLibrary::spawn_with(&auth, move |config| {
            configure(config);
            config.database_url = database_url;
        })
    );

    let mut expected: BTreeSet<String> = shared
        .inside
        .iter()
        .chain([&book.cover_id])
        .map(|name| format!("{}{name}", shared.ours_in_whole))
        .collect();
    expected.extend(shared.outside.iter().cloned());
    assert_eq!(
        shared.whole.everything().await,
        expected,
        "only the orphans of ours are taken"
    );
}

#[tokio::test]
async fn sweeps_of_a_shared_folder_take_only_our_orphans() {
    let outside = tempfile::tempdir().unwrap();
    let folder = outside.path().join("covers");
    let covers = TestCovers::Folder(folder.clone());
    let shared = Shared {
        ours: covers.clone(),
        whole: covers,
        ours_in_whole: String::new(),
        inside: neighbours_inside(),
        outside: Vec::new(),
    };
    two_replicas_sweep(
        move |config| {
            config.cover_store = Some(CoverLocation::Folder(folder.clone()));
        },
        shared,
    )
    .await;
}

/// Runs when `BOOKSHELF_TEST_S3` names a server, like every test on a bucket.
#[tokio::test]
async fn sweeps_of_a_shared_bucket_take_only_our_orphans_under_our_prefix() {
    let Some(bucket) = TestBucket::create_if_configured().await else {
        return;
    };
    let ours = bucket.with_prefix("covers");
    let shared = Shared {
        ours: TestCovers::Bucket(ours.clone()),
        whole: TestCovers::Bucket(bucket.with_prefix("")),
        ours_in_whole: "covers/".to_owned(),
        inside: neighbours_inside(),
        outside: vec![
            format!("other/{}", cover_name()),
            cover_name(),
            format!("covers-old/{}", cover_name()),
        ],
    };
    two_replicas_sweep(move |config| ours.configure(config), shared).await;
}

/// `s3://bucket`: the covers at the bucket's top level, beside everything else in it;
/// when `BOOKSHELF_TEST_S3` names a server.
#[tokio::test]
async fn sweeps_of_a_whole_bucket_take_only_our_orphans_at_its_top_level() {
    let Some(bucket) = TestBucket::create_if_configured().await else {
        return;
    };
    let ours = bucket.with_prefix("");
    let mut outside = vec![
        format!("other/{}", cover_name()),
        format!("covers/{}", cover_name()),
    ];
    outside.extend(neighbours_inside());
    let shared = Shared {
        ours: TestCovers::Bucket(ours.clone()),
        whole: TestCovers::Bucket(ours.clone()),
        ours_in_whole: String::new(),
        inside: Vec::new(),
        outside,
    };
    two_replicas_sweep(move |config| ours.configure(config), shared).await;
}
