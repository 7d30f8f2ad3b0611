//! The interface every cover store implements, and the one rule for the names covers
//! are stored under.

use std::{collections::HashSet, io};

use crate::domain::CoverId;

/// Whole-file storage of covers, each named by its id.
#[tonic::async_trait]
pub(crate) trait CoverStore: Send + Sync + 'static {
    /// Stores `bytes` as cover `id`, all or nothing: readers never see a partial file.
    async fn put(&self, id: &CoverId, bytes: &[u8]) -> io::Result<()>;
    /// The file of cover `id`, if present.
    async fn get(&self, id: &CoverId) -> io::Result<Option<Vec<u8>>>;
    /// Removes cover `id`; removing a missing file is not an error.
    async fn delete(&self, id: &CoverId) -> io::Result<()>;
    /// Removes every cover not in `keep`, and every partial write, last changed before
    /// `older_than_ms` (milliseconds since the epoch): what a crash, a failed delete or
    /// a lost race left behind. Younger ones may be uploads that a replica is about
    /// to commit, so they stay. Safe to run from several replicas at once. Returns
    /// how many were removed.
    async fn sweep(&self, keep: &HashSet<CoverId>, older_than_ms: i64) -> io::Result<usize>;
}

/// The name cover `id` is stored under. Ids are chosen by the server and checked when
/// parsed, but one read back from the database is not parsed again: this refuses any
/// name a sweep would not recognise as a cover (one that could leave the folder or
/// prefix among them), as the last line of defence.
pub(crate) fn checked_name(id: &CoverId) -> io::Result<&str> {
    let name = id.as_str();
    if !CoverId::is_cover_name(name) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "bad cover name",
        ));
    }
    Ok(name)
}
