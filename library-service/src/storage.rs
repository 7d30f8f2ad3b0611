//! Where cover files live: a small interface and its local-folder implementation, so
//! an S3-compatible store can take its place without touching the rest; and
//! [`PendingCover`], a file written ahead of the row that will point at it.

use std::{
    collections::HashSet,
    io::{self, Write},
    path::{Path, PathBuf},
    sync::Arc,
};

use crate::{
    domain::{CoverId, CoverRef},
    store::StoredCover,
};

/// Whole-file storage of covers, each named by its id.
#[tonic::async_trait]
pub trait CoverStore: Send + Sync + 'static {
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

/// A cover written to storage whose row is not committed yet: dropped uncommitted
/// (the row could not be written), it deletes its file, so no file outlives a failure.
pub struct PendingCover {
    /// The cover as its row will record it.
    pub stored: StoredCover,
    covers: Arc<dyn CoverStore>,
    committed: bool,
}

impl PendingCover {
    /// Stores `bytes` as a new cover, under a fresh random id.
    pub async fn write(
        covers: Arc<dyn CoverStore>,
        bytes: &[u8],
        content_type: &'static str,
    ) -> io::Result<Self> {
        let id = CoverId::random();
        covers.put(&id, bytes).await?;
        Ok(Self {
            stored: StoredCover {
                reference: CoverRef {
                    id,
                    content_type: content_type.to_owned(),
                },
                bytes: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
            },
            covers,
            committed: false,
        })
    }

    /// Keeps the file: the row pointing at it is committed.
    pub fn commit(mut self) {
        self.committed = true;
    }

    /// Removes the file now (no row will point at it), so that once the refusal is
    /// answered nothing of the upload remains.
    pub async fn discard(mut self) {
        self.committed = true;
        if let Err(error) = self.covers.delete(&self.stored.reference.id).await {
            tracing::warn!(%error, "cannot remove an uncommitted cover");
        }
    }
}

impl Drop for PendingCover {
    fn drop(&mut self) {
        if !self.committed {
            let covers = self.covers.clone();
            let id = self.stored.reference.id.clone();
            tokio::spawn(async move {
                if let Err(error) = covers.delete(&id).await {
                    tracing::warn!(%error, "cannot remove an uncommitted cover");
                }
            });
        }
    }
}

/// Covers as files in one local folder. Writes go to a temporary name and are renamed
/// into place once complete and synced.
#[derive(Debug, Clone)]
pub struct LocalCovers {
    dir: PathBuf,
}

const TEMPORARY_PREFIX: &str = ".partial-";

impl LocalCovers {
    /// Covers in `dir`, created if missing.
    pub fn open(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    fn path(&self, id: &CoverId) -> io::Result<PathBuf> {
        Ok(self.dir.join(checked_name(id)?))
    }
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

/// What a file directly in the folder is to the sweep, by its name alone: a cover, a
/// partial write of one, or something that is not ours and is never removed.
enum FolderEntry {
    Cover(CoverId),
    Partial,
    Foreign,
}

impl FolderEntry {
    fn of(name: &std::ffi::OsStr) -> Self {
        let Some(name) = name.to_str() else {
            return Self::Foreign;
        };
        if let Some(id) = CoverId::parse(name) {
            return Self::Cover(id);
        }
        match name.strip_prefix(TEMPORARY_PREFIX) {
            Some(id) if CoverId::is_cover_name(id) => Self::Partial,
            _ => Self::Foreign,
        }
    }
}

#[tonic::async_trait]
impl CoverStore for LocalCovers {
    async fn put(&self, id: &CoverId, bytes: &[u8]) -> io::Result<()> {
        let path = self.path(id)?;
        let temporary = self
            .dir
            .join(format!("{TEMPORARY_PREFIX}{}", checked_name(id)?));
        let bytes = bytes.to_vec();
        // One blocking task for the whole write: each `tokio::fs` call would be a
        // hand-off to a blocking thread and back of its own, four per cover.
        tokio::task::spawn_blocking(move || {
            let write = || {
                let mut file = std::fs::File::create(&temporary)?;
                file.write_all(&bytes)?;
                file.sync_all()?;
                std::fs::rename(&temporary, &path)
            };
            let result = write();
            if result.is_err() {
                let _ = std::fs::remove_file(&temporary);
            }
            result
        })
        .await
        .map_err(io::Error::other)?
    }

    async fn get(&self, id: &CoverId) -> io::Result<Option<Vec<u8>>> {
        match tokio::fs::read(self.path(id)?).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error),
        }
    }

    async fn delete(&self, id: &CoverId) -> io::Result<()> {
        match tokio::fs::remove_file(self.path(id)?).await {
            Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        }
    }

    async fn sweep(&self, keep: &HashSet<CoverId>, older_than_ms: i64) -> io::Result<usize> {
        let mut removed = 0;
        let mut entries = tokio::fs::read_dir(&self.dir).await?;
        while let Some(entry) = entries.next_entry().await? {
            let kept = match FolderEntry::of(&entry.file_name()) {
                FolderEntry::Cover(id) => keep.contains(&id),
                FolderEntry::Partial => false,
                FolderEntry::Foreign => continue,
            };
            // Not followed: a link or a folder named like a cover is not one.
            let metadata = match entry.metadata().await {
                Ok(metadata) => metadata,
                // Another replica's sweep took it since the folder was listed.
                Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
                Err(error) => return Err(error),
            };
            let changed_ms = metadata
                .modified()?
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |since| since.as_millis() as i64);
            if kept || !metadata.is_file() || changed_ms >= older_than_ms {
                continue;
            }
            match tokio::fs::remove_file(entry.path()).await {
                Ok(()) => removed += 1,
                // Another replica's sweep took it first.
                Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                Err(error) => return Err(error),
            }
        }
        Ok(removed)
    }
}
