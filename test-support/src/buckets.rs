//! A fresh bucket on a real S3-compatible server for each test that wants one, when
//! `BOOKSHELF_TEST_S3` names the server (e.g. `http://127.0.0.1:9000`, a local moto
//! or MinIO); without it, covers stay in a folder. And [`TestCovers`], what a test
//! reads of a library's covers on either store.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    sync::Arc,
};

use futures::StreamExt;
use library_service::{
    Config,
    storage::{CoverLocation, use_ring_for_tls},
};
use object_store::{ObjectStore, ObjectStoreExt, aws::AmazonS3Builder, path::Path as ObjectPath};

/// The variable that names the S3-compatible server the tests may use.
pub const S3_VARIABLE: &str = "BOOKSHELF_TEST_S3";

/// The prefix of the covers' keys in a test bucket, unless a test picks another.
const PREFIX: &str = "covers";

/// A bucket made for one test, left behind on the test server (it holds only
/// thumbnails, and the server is the test run's own), and the prefix a library keeps
/// its covers under in it.
#[derive(Debug, Clone)]
pub struct TestBucket {
    endpoint: String,
    name: String,
    prefix: String,
}

impl TestBucket {
    /// A new, empty bucket when [`S3_VARIABLE`] is set.
    pub async fn create_if_configured() -> Option<Self> {
        let endpoint = std::env::var(S3_VARIABLE).ok()?;
        Some(Self::create_on(&endpoint).await)
    }

    /// A new, empty bucket on the S3-compatible server at `endpoint`.
    pub async fn create_on(endpoint: &str) -> Self {
        let bucket = Self {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            name: format!("bookshelf-test-{}", uuid::Uuid::new_v4().simple()),
            prefix: PREFIX.to_owned(),
        };
        // A plain PUT creates a bucket on a local server that checks no signature;
        // the object-store client has no call for it.
        let created = reqwest::Client::new()
            .put(format!("{}/{}", bucket.endpoint, bucket.name))
            .send()
            .await
            .expect("the S3 test server answers");
        assert!(
            created.status().is_success(),
            "creating a bucket failed: {}",
            created.status()
        );
        bucket
    }

    /// The same bucket with covers under `prefix` (no leading or trailing slash; empty
    /// for the bucket's top level), as another deployment sharing it would have them.
    pub fn with_prefix(&self, prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
            ..self.clone()
        }
    }

    /// Where a library keeps its covers in this bucket: `s3://bucket/covers` unless
    /// [`Self::with_prefix`] chose another prefix.
    pub fn location(&self) -> CoverLocation {
        CoverLocation::Bucket {
            bucket: self.name.clone(),
            prefix: self.prefix.clone(),
        }
    }

    /// The client settings for the test server, as a library takes them.
    pub fn options(&self) -> Vec<(String, String)> {
        [
            ("aws_endpoint", self.endpoint.as_str()),
            ("aws_allow_http", "true"),
            ("aws_region", "us-east-1"),
            ("aws_access_key_id", "bookshelf-test"),
            ("aws_secret_access_key", "bookshelf-test"),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect()
    }

    /// The environment that points a library process at this bucket, as an operator
    /// would set it.
    pub fn process_env(&self) -> Vec<(String, String)> {
        [
            (
                "LIBRARY_COVER_STORE",
                format!("s3://{}/{}", self.name, self.prefix),
            ),
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ALLOW_HTTP", "true".to_owned()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ACCESS_KEY_ID", "bookshelf-test".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "bookshelf-test".to_owned()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
    }

    /// Points `config`'s covers at this bucket.
    pub fn configure(&self, config: &mut Config) {
        config.cover_store = Some(self.location());
        config.object_store_options = self.options();
    }

    fn client(&self) -> Arc<dyn ObjectStore> {
        use_ring_for_tls();
        let mut builder = AmazonS3Builder::new().with_bucket_name(&self.name);
        for (key, value) in self.options() {
            builder = builder.with_config(key.parse().expect("a known option"), value);
        }
        Arc::new(builder.build().expect("a client of the test bucket"))
    }

    /// The key of `name`, a path relative to the prefix that may have folders of its own.
    fn key(&self, name: &str) -> ObjectPath {
        ObjectPath::from_iter(self.prefix.split('/').chain(name.split('/')))
    }
}

/// A library's covers, wherever they are kept.
#[derive(Debug, Clone)]
pub enum TestCovers {
    /// Files in a folder.
    Folder(PathBuf),
    /// Objects in a test bucket.
    Bucket(TestBucket),
}

impl TestCovers {
    /// Where the library keeps these covers, as it is configured.
    pub fn location(&self) -> CoverLocation {
        match self {
            Self::Folder(dir) => CoverLocation::Folder(dir.clone()),
            Self::Bucket(bucket) => bucket.location(),
        }
    }

    /// The names of the stored covers (and of any partial write).
    pub async fn names(&self) -> BTreeSet<String> {
        match self {
            Self::Folder(dir) => crate::covers::cover_files(dir),
            Self::Bucket(bucket) => {
                let prefix = ObjectPath::from(bucket.prefix.as_str());
                bucket
                    .client()
                    .list(Some(&prefix))
                    .map(|object| {
                        object
                            .expect("listing the test bucket")
                            .location
                            .filename()
                            .unwrap_or_default()
                            .to_owned()
                    })
                    .collect()
                    .await
            }
        }
    }

    /// Every file or object at any depth under the store's folder or prefix, as a path
    /// relative to it (`x/name` for one in a subfolder), sorted.
    pub async fn everything(&self) -> BTreeSet<String> {
        match self {
            Self::Folder(dir) => {
                let mut found = BTreeSet::new();
                files_under(dir, "", &mut found);
                found
            }
            Self::Bucket(bucket) => {
                let prefix = ObjectPath::from(bucket.prefix.as_str());
                bucket
                    .client()
                    .list(Some(&prefix))
                    .map(|object| {
                        let location = object.expect("listing the test bucket").location;
                        let relative = location
                            .prefix_match(&prefix)
                            .expect("listed under the prefix");
                        relative
                            .map(|part| part.as_ref().to_owned())
                            .collect::<Vec<_>>()
                            .join("/")
                    })
                    .collect()
                    .await
            }
        }
    }

    /// Stores `bytes` under `name` behind the service's back, as a crash, another
    /// replica or anything else sharing the store would leave it; `name` is relative
    /// to the folder or prefix and may go into subfolders (`x/name`).
    pub async fn put_behind_the_back(&self, name: &str, bytes: &[u8]) {
        match self {
            Self::Folder(dir) => {
                let path = dir.join(name);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).expect("a folder");
                }
                std::fs::write(path, bytes).expect("a file");
            }
            Self::Bucket(bucket) => {
                bucket
                    .client()
                    .put(&bucket.key(name), bytes.to_vec().into())
                    .await
                    .expect("an object");
            }
        }
    }
}

fn files_under(dir: &Path, relative: &str, found: &mut BTreeSet<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let entry = entry.expect("a folder entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = if relative.is_empty() {
            name
        } else {
            format!("{relative}/{name}")
        };
        if entry.file_type().expect("a file type").is_dir() {
            files_under(&entry.path(), &path, found);
        } else {
            found.insert(path);
        }
    }
}
