//! Covers as files in one local folder.

use std::{
    collections::HashSet,
    io::{self, Write},
    path::{Path, PathBuf},
};

use super::cover_store::{CoverStore, checked_name};
use crate::domain::CoverId;

/// Covers as files in one local folder. Writes go to a temporary name and are renamed
/// into place once complete and synced.
#[derive(Debug, Clone)]
pub(crate) struct LocalCovers {
    dir: PathBuf,
}

const TEMPORARY_PREFIX: &str = ".partial-";

impl LocalCovers {
    /// Covers in `dir`, created if missing.
    pub(crate) fn open(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    fn path(&self, id: &CoverId) -> io::Result<PathBuf> {
        Ok(self.dir.join(checked_name(id)?))
    }
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
