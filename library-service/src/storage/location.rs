//! Where covers are kept, as configured: a local folder or an S3-compatible bucket.

use std::{fmt, path::PathBuf, str::FromStr};

/// Where covers are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CoverLocation {
    /// A local folder.
    Folder(PathBuf),
    /// An S3-compatible bucket, and the prefix of the covers' keys in it.
    Bucket {
        /// The bucket's name.
        bucket: String,
        /// Prepended to every key (no leading or trailing slash); may be empty.
        prefix: String,
    },
}

/// An `s3://` location without a bucket name.
#[derive(Debug, thiserror::Error)]
#[error("expected a folder or s3://bucket/prefix")]
pub struct InvalidLocation;

impl FromStr for CoverLocation {
    type Err = InvalidLocation;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value.strip_prefix("s3://") {
            Some(rest) => {
                let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() {
                    return Err(InvalidLocation);
                }
                Ok(Self::Bucket {
                    bucket: bucket.to_owned(),
                    prefix: prefix.trim_matches('/').to_owned(),
                })
            }
            None if value.is_empty() => Err(InvalidLocation),
            None => Ok(Self::Folder(PathBuf::from(value))),
        }
    }
}

/// The location as it is configured, with a trailing slash on a prefix: what a sweep
/// looks through.
impl fmt::Display for CoverLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Folder(dir) => write!(f, "{}", dir.display()),
            Self::Bucket { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}/"),
            Self::Bucket { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}/"),
        }
    }
}
