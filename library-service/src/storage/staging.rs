//! Where the bytes of resumable uploads wait until a book takes them: the interface,
//! [`UploadStaging`], that a folder and a bucket implement. The store's segment rows
//! say which bytes are committed; a staging store only writes, reads and removes
//! them, and never decides what counts.

use std::io;

use bytes::Bytes;

use crate::{domain::UploadId, store::Segment};

/// Where an upload's bytes are, as its record names them.
pub(crate) struct Staged<'a> {
    /// The upload.
    pub(crate) id: &'a UploadId,
    /// Its multipart upload, on a bucket.
    pub(crate) multipart_id: Option<&'a str>,
}

/// The bytes of unfinished and finished uploads.
#[tonic::async_trait]
pub(crate) trait UploadStaging: Send + Sync + 'static {
    /// The smallest append committed before an upload's last one (0: any).
    fn min_append(&self) -> u64;
    /// Prepares a new upload's storage: the multipart upload it writes to, if any.
    async fn begin(&self, id: &UploadId) -> io::Result<Option<String>>;
    /// An appender for one Write on `upload`, at `start`, after its committed
    /// `segments`. `writer` is the Write's own name, unique to it.
    async fn appender(
        &self,
        upload: Staged<'_>,
        start: i64,
        segments: &[Segment],
        writer: &str,
    ) -> io::Result<Box<dyn Appender>>;
    /// The committed bytes of a complete upload, whole.
    async fn read(&self, upload: Staged<'_>, segments: &[Segment]) -> io::Result<Vec<u8>>;
    /// Removes an upload's bytes, committed or not; removing what is gone is no error.
    async fn remove(&self, upload: Staged<'_>, segments: &[Segment]) -> io::Result<()>;
}

/// The writing end of one Write: takes bytes in order, and says when some have become
/// durable, as the segment that now holds them (to commit in the store).
#[tonic::async_trait]
pub(crate) trait Appender: Send {
    /// Takes the next bytes; a segment when some are durable now.
    async fn push(&mut self, bytes: Bytes) -> io::Result<Option<Segment>>;
    /// Makes what it can durable: everything on a folder; on a bucket, whole parts
    /// only, unless `last`, when the rest becomes the last part. `None` when nothing
    /// new became durable.
    async fn flush(&mut self, last: bool) -> io::Result<Option<Segment>>;
}
