//! [`LibraryApi`]: the state every RPC shares.

use std::{sync::Arc, time::Duration};

use bookshelf_runtime::{clock::Clock, workers::WorkerPool};
use bookshelf_tokens::Verifier;

use super::streams::UploadRules;
use crate::{
    covers::DecodeLimits,
    in_flight::InFlight,
    storage::{CoverStore, UploadStaging},
    store::Store,
};

/// The state every RPC shares; cloning it clones handles only.
#[derive(Clone)]
pub(crate) struct LibraryApi {
    /// The books.
    pub(crate) store: Store,
    /// The cover files.
    pub(crate) covers: Arc<dyn CoverStore>,
    /// Where resumable uploads wait for a book to take them.
    pub(crate) staging: Arc<dyn UploadStaging>,
    /// How long a resumable upload lives.
    pub(crate) upload_expiry: Duration,
    /// Where covers are decoded: one thread per core, so decoding is bounded in CPU and
    /// in the memory its buffers keep.
    pub(crate) decoders: WorkerPool,
    /// Uploads in flight per account.
    pub(crate) in_flight: InFlight,
    /// How upload streams are read: size cap, idle timeout, memory budget.
    pub(crate) uploads: UploadRules,
    /// How far a cover may be decoded before it is refused.
    pub(crate) limits: DecodeLimits,
    /// Checks an uploader's token again just before its upload commits.
    pub(crate) verifier: Verifier,
    /// The time books are created and updated at.
    pub(crate) clock: Clock,
}
