//! Uploads staged in an S3-compatible bucket, as multipart uploads under `uploads/`
//! below the cover prefix. A part of at least 5 MiB is what a Write commits: bytes
//! short of a whole part when a Write ends unfinished are dropped, and the upload's
//! committed size says where to go on from. The last part may be any size.

use std::io;

use bytes::{Bytes, BytesMut};
use object_store::{
    MultipartId, ObjectStoreExt, PutPayload,
    aws::AmazonS3,
    multipart::{MultipartStore, PartId},
    path::Path as ObjectPath,
};

use super::staging::{Appender, Staged, UploadStaging};
use crate::{domain::UploadId, store::Segment};

/// The smallest part S3 accepts before the last.
pub(crate) const PART_BYTES: usize = 5 * 1024 * 1024;

/// Uploads as multipart uploads in a bucket.
#[derive(Debug, Clone)]
pub(crate) struct BucketStaging {
    store: AmazonS3,
    prefix: ObjectPath,
}

impl BucketStaging {
    /// Staging under `prefix` in the store.
    pub(crate) fn new(store: AmazonS3, prefix: ObjectPath) -> Self {
        Self { store, prefix }
    }

    fn key(&self, id: &UploadId) -> ObjectPath {
        self.prefix.clone().join(id.as_str())
    }

    fn multipart(upload: &Staged<'_>) -> io::Result<MultipartId> {
        upload
            .multipart_id
            .map(str::to_owned)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no multipart upload"))
    }
}

fn io_error(error: object_store::Error) -> io::Error {
    match error {
        object_store::Error::NotFound { .. } => io::Error::new(io::ErrorKind::NotFound, error),
        other => io::Error::other(other),
    }
}

/// A part's segment name: its entity tag, which completing the upload needs.
fn part_of(segment: &Segment) -> PartId {
    PartId {
        content_id: segment.name.clone(),
    }
}

#[tonic::async_trait]
impl UploadStaging for BucketStaging {
    fn min_append(&self) -> u64 {
        PART_BYTES as u64
    }

    async fn begin(&self, id: &UploadId) -> io::Result<Option<String>> {
        let multipart = self
            .store
            .create_multipart(&self.key(id))
            .await
            .map_err(io_error)?;
        Ok(Some(multipart))
    }

    async fn appender(
        &self,
        upload: Staged<'_>,
        start: i64,
        segments: &[Segment],
        _writer: &str,
    ) -> io::Result<Box<dyn Appender>> {
        Ok(Box::new(BucketAppender {
            store: self.store.clone(),
            key: self.key(upload.id),
            multipart: Self::multipart(&upload)?,
            next_part: segments.len(),
            start,
            buffer: BytesMut::new(),
        }))
    }

    async fn read(&self, upload: Staged<'_>, segments: &[Segment]) -> io::Result<Vec<u8>> {
        let key = self.key(upload.id);
        // Completed once, by the first read; a later read finds the object.
        match self.store.get(&key).await {
            Ok(object) => return Ok(object.bytes().await.map_err(io_error)?.to_vec()),
            Err(object_store::Error::NotFound { .. }) => {}
            Err(error) => return Err(io_error(error)),
        }
        let parts = segments.iter().map(part_of).collect();
        self.store
            .complete_multipart(&key, &Self::multipart(&upload)?, parts)
            .await
            .map_err(io_error)?;
        let object = self.store.get(&key).await.map_err(io_error)?;
        Ok(object.bytes().await.map_err(io_error)?.to_vec())
    }

    async fn remove(&self, upload: Staged<'_>, _segments: &[Segment]) -> io::Result<()> {
        let key = self.key(upload.id);
        if let Ok(multipart) = Self::multipart(&upload) {
            // Gone already once completed; the object is removed below then.
            if let Err(error) = self.store.abort_multipart(&key, &multipart).await {
                tracing::debug!(%error, "aborting a multipart upload");
            }
        }
        match self.store.delete(&key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(error) => Err(io_error(error)),
        }
    }
}

/// One Write's parts: bytes gather until a whole part, which is then put.
struct BucketAppender {
    store: AmazonS3,
    key: ObjectPath,
    multipart: MultipartId,
    next_part: usize,
    start: i64,
    buffer: BytesMut,
}

impl BucketAppender {
    async fn put(&mut self, bytes: Bytes) -> io::Result<Segment> {
        let length = bytes.len() as i64;
        let part = self
            .store
            .put_part(
                &self.key,
                &self.multipart,
                self.next_part,
                PutPayload::from(bytes),
            )
            .await
            .map_err(io_error)?;
        self.next_part += 1;
        let segment = Segment {
            start: self.start,
            length,
            name: part.content_id,
        };
        self.start += length;
        Ok(segment)
    }
}

#[tonic::async_trait]
impl Appender for BucketAppender {
    async fn push(&mut self, bytes: Bytes) -> io::Result<Option<Segment>> {
        self.buffer.extend_from_slice(&bytes);
        if self.buffer.len() < PART_BYTES {
            return Ok(None);
        }
        let part = self.buffer.split_to(PART_BYTES).freeze();
        self.put(part).await.map(Some)
    }

    async fn flush(&mut self, last: bool) -> io::Result<Option<Segment>> {
        if !last || self.buffer.is_empty() {
            return Ok(None);
        }
        let part = self.buffer.split().freeze();
        self.put(part).await.map(Some)
    }
}
