//! Covers as objects in an S3-compatible bucket, under a prefix.

use std::{collections::HashSet, io};

use bytes::Bytes;
use object_store::{
    ObjectStore, ObjectStoreExt, PutPayload,
    aws::{AmazonS3, AmazonS3Builder},
    path::Path as ObjectPath,
};

use super::cover_store::{CoverStore, checked_name};
use crate::domain::CoverId;

/// Covers as objects in an S3-compatible bucket, under a prefix. A cover is a
/// thumbnail of at most 150x150 (tens of kilobytes), so each is written with one PUT,
/// which S3 makes visible all at once or not at all, and read whole.
#[derive(Debug)]
pub(crate) struct BucketCovers {
    store: AmazonS3,
    prefix: ObjectPath,
}

/// Names ring, the build's one crypto provider, as the process's TLS provider, which
/// object_store's HTTP client leaves to the program: without it, building a client
/// for an `https` endpoint panics. Idempotent: a later call finds it named.
pub fn use_ring_for_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl BucketCovers {
    /// The bucket `bucket`, configured by the standard `AWS_*` environment variables
    /// and then by `options` (keys as object_store names them, e.g. `aws_endpoint`),
    /// which take precedence.
    pub(crate) fn connect(
        bucket: &str,
        prefix: &str,
        options: &[(String, String)],
    ) -> io::Result<Self> {
        use_ring_for_tls();
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        for (key, value) in options {
            let key = key.to_ascii_lowercase().parse().map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("unknown object store option {key}"),
                )
            })?;
            builder = builder.with_config(key, value);
        }
        let store = builder.build().map_err(io_error)?;
        Ok(Self {
            store,
            prefix: ObjectPath::from(prefix),
        })
    }

    /// Staging for resumable uploads in the same bucket, under `uploads/` below the
    /// prefix, where the cover sweep (one level deep) never looks.
    pub(crate) fn staging(&self) -> super::BucketStaging {
        super::BucketStaging::new(self.store.clone(), self.prefix.clone().join("uploads"))
    }

    fn key(&self, id: &CoverId) -> io::Result<ObjectPath> {
        Ok(self.prefix.clone().join(checked_name(id)?))
    }

    /// The cover an object is, if it is named exactly like one and sits directly under
    /// the prefix; anything else in the bucket is not ours.
    fn cover_of(&self, location: &ObjectPath) -> Option<CoverId> {
        let mut below = location.prefix_match(&self.prefix)?;
        let name = below.next()?;
        if below.next().is_some() {
            return None;
        }
        CoverId::parse(name.as_ref())
    }
}

fn io_error(error: object_store::Error) -> io::Error {
    match error {
        object_store::Error::NotFound { .. } => io::Error::new(io::ErrorKind::NotFound, error),
        other => io::Error::other(other),
    }
}

#[tonic::async_trait]
impl CoverStore for BucketCovers {
    async fn put(&self, id: &CoverId, bytes: &[u8]) -> io::Result<()> {
        let payload = PutPayload::from(Bytes::copy_from_slice(bytes));
        self.store
            .put(&self.key(id)?, payload)
            .await
            .map(drop)
            .map_err(io_error)
    }

    async fn get(&self, id: &CoverId) -> io::Result<Option<Vec<u8>>> {
        match self.store.get(&self.key(id)?).await {
            Ok(object) => Ok(Some(object.bytes().await.map_err(io_error)?.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(error) => Err(io_error(error)),
        }
    }

    async fn delete(&self, id: &CoverId) -> io::Result<()> {
        match self.store.delete(&self.key(id)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(io_error(error)),
        }
    }

    async fn sweep(&self, keep: &HashSet<CoverId>, older_than_ms: i64) -> io::Result<usize> {
        // One level, as covers are written: objects in "folders" under the prefix, like
        // everything outside it, belong to someone else.
        let listing = self
            .store
            .list_with_delimiter(Some(&self.prefix))
            .await
            .map_err(io_error)?;
        let mut removed = 0;
        for object in listing.objects {
            let Some(id) = self.cover_of(&object.location) else {
                continue;
            };
            if keep.contains(&id) || object.last_modified.timestamp_millis() >= older_than_ms {
                continue;
            }
            match self.store.delete(&self.key(&id)?).await {
                Ok(()) => removed += 1,
                // Another replica's sweep took it first.
                Err(object_store::Error::NotFound { .. }) => {}
                Err(error) => return Err(io_error(error)),
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The store's HTTPS client needs a TLS crypto provider, which the build leaves to
    /// the program to name: without one, building the client panics.
    #[test]
    fn a_bucket_behind_https_connects_with_the_builds_one_crypto_provider() {
        let options = [
            ("aws_endpoint", "https://s3.example.com"),
            ("aws_region", "eu-west-1"),
            ("aws_access_key_id", "key"),
            ("aws_secret_access_key", "secret"),
        ]
        .map(|(key, value)| (key.to_owned(), value.to_owned()));
        BucketCovers::connect("covers", "shelf", &options).expect("a store for the bucket");
    }
}
