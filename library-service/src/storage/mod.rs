//! Where cover files live: one small interface, [`CoverStore`], so the rest of the
//! service does not know which store it writes to; and [`PendingCover`], a file
//! written ahead of the row that will point at it.
//!
//! - [`cover_store`]: the [`CoverStore`] interface, and the names covers are stored
//!   under.
//! - [`pending`] holds [`PendingCover`].
//! - [`location`]: where covers are kept, as configured (a folder or a bucket).
//! - [`folder`]: covers as files in a local folder.
//! - [`bucket`]: covers as objects in an S3-compatible bucket.
//! - [`staging`]: the [`UploadStaging`] interface, where resumable uploads wait;
//!   [`staging_folder`] and [`staging_bucket`] implement it.

mod bucket;
mod cover_store;
mod folder;
mod location;
mod pending;
mod staging;
mod staging_bucket;
mod staging_folder;

pub(crate) use bucket::BucketCovers;
pub use bucket::use_ring_for_tls;
pub(crate) use cover_store::CoverStore;
pub(crate) use folder::LocalCovers;
pub use location::CoverLocation;
pub(crate) use pending::PendingCover;
pub(crate) use staging::{Appender, Staged, UploadStaging};
pub(crate) use staging_bucket::BucketStaging;
pub(crate) use staging_folder::{FolderStaging, uploads_folder};
