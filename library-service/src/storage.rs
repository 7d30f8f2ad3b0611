//! Where cover files live: a small interface and its local-folder implementation, so
//! an S3-compatible store can take its place without touching the rest; and
//! [`PendingCover`], a file written ahead of the row that will point at it.

use std::{
    collections::HashSet,
    io,
    path::{Path, PathBuf},
    sync::Arc,
};

use tokio::io::AsyncWriteExt;

/// Whole-file storage of covers under names the server chose.
#[tonic::async_trait]
pub trait CoverStore: Send + Sync + 'static {
    /// Stores `bytes` under `name`, all or nothing: readers never see a partial file.
    async fn put(&self, name: &str, bytes: &[u8]) -> io::Result<()>;
    /// The file named `name`, if present.
    async fn get(&self, name: &str) -> io::Result<Option<Vec<u8>>>;
    /// Removes `name`; removing a missing file is not an error.
    async fn delete(&self, name: &str) -> io::Result<()>;
    /// Removes every partial write and every file not in `keep`, after a crash.
    /// Returns how many files were removed.
    async fn sweep(&self, keep: &HashSet<String>) -> io::Result<usize>;
}

/// A cover written to storage whose row is not committed yet: dropped uncommitted
/// (the row could not be written), it deletes its file, so no file outlives a failure.
pub struct PendingCover {
    /// The name the server chose for the file.
    pub name: String,
    /// The media type it is served with.
    pub content_type: &'static str,
    /// Its size in bytes.
    pub bytes: i64,
    covers: Arc<dyn CoverStore>,
    committed: bool,
}

impl PendingCover {
    /// Stores `bytes` under a new name: 256 random bits, hex. The name is a
    /// capability: whoever knows it may fetch the thumbnail, as an `<img>` tag must.
    pub async fn write(
        covers: Arc<dyn CoverStore>,
        bytes: &[u8],
        content_type: &'static str,
    ) -> io::Result<Self> {
        let name = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        covers.put(&name, bytes).await?;
        Ok(Self {
            name,
            content_type,
            bytes: i64::try_from(bytes.len()).unwrap_or(i64::MAX),
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
        if let Err(error) = self.covers.delete(&self.name).await {
            tracing::warn!(%error, "cannot remove an uncommitted cover");
        }
    }
}

impl Drop for PendingCover {
    fn drop(&mut self) {
        if !self.committed {
            let covers = self.covers.clone();
            let name = std::mem::take(&mut self.name);
            tokio::spawn(async move {
                if let Err(error) = covers.delete(&name).await {
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

    fn path(&self, name: &str) -> io::Result<PathBuf> {
        // Names are chosen by the server; this refuses anything else that could
        // leave the folder, whatever a caller passes.
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "bad cover name",
            ));
        }
        Ok(self.dir.join(name))
    }
}

#[tonic::async_trait]
impl CoverStore for LocalCovers {
    async fn put(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        let path = self.path(name)?;
        let temporary = self.dir.join(format!("{TEMPORARY_PREFIX}{name}"));
        let write = async {
            let mut file = tokio::fs::File::create(&temporary).await?;
            file.write_all(bytes).await?;
            file.sync_all().await?;
            tokio::fs::rename(&temporary, &path).await
        };
        let result = write.await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&temporary).await;
        }
        result
    }

    async fn get(&self, name: &str) -> io::Result<Option<Vec<u8>>> {
        match tokio::fs::read(self.path(name)?).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error),
        }
    }

    async fn delete(&self, name: &str) -> io::Result<()> {
        match tokio::fs::remove_file(self.path(name)?).await {
            Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
            _ => Ok(()),
        }
    }

    async fn sweep(&self, keep: &HashSet<String>) -> io::Result<usize> {
        let mut removed = 0;
        let mut entries = tokio::fs::read_dir(&self.dir).await?;
        while let Some(entry) = entries.next_entry().await? {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !keep.contains(&name) && entry.file_type().await?.is_file() {
                tokio::fs::remove_file(entry.path()).await?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}
