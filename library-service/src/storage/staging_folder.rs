//! Uploads staged in a folder: each Write appends to a file of its own in the folder
//! beside the covers' (`covers-uploads` for `covers`), so a Write that lost its hold can never touch bytes
//! another Write has committed. Only the bytes the store's segment rows count are
//! read back.

use std::{
    io::{self, Read},
    path::{Path, PathBuf},
};

use bytes::Bytes;

use super::staging::{Appender, Staged, UploadStaging};
use crate::{domain::UploadId, store::Segment};

/// Uploads as append-only files in a folder of their own, apart from the covers.
#[derive(Debug, Clone)]
pub(crate) struct FolderStaging {
    dir: PathBuf,
}

/// The folder where uploads wait for covers kept in `covers`: its sibling, named
/// after it, so a deployment's uploads are as much its own as its covers are.
pub(crate) fn uploads_folder(covers: &Path) -> PathBuf {
    let name = covers.file_name().map_or_else(
        || "covers".into(),
        |name| name.to_string_lossy().into_owned(),
    );
    covers.with_file_name(format!("{name}-uploads"))
}

impl FolderStaging {
    /// Staging in `dir`, created if missing.
    pub(crate) fn open(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    /// The file of one Write, named by the upload, its start and the Write: the names
    /// come from the service alone (an upload id is parsed, a writer is random hex).
    fn file(&self, id: &UploadId, start: i64, writer: &str) -> PathBuf {
        self.dir.join(format!("{id}.{start}.{writer}"))
    }

    fn segment_path(&self, id: &UploadId, segment: &Segment) -> io::Result<PathBuf> {
        // A name read back from the database is one this module wrote; refuse any
        // other rather than open it.
        let prefix = format!("{id}.");
        let ok = segment.name.starts_with(&prefix)
            && segment
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.');
        if !ok {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "bad segment name",
            ));
        }
        Ok(self.dir.join(&segment.name))
    }
}

#[tonic::async_trait]
impl UploadStaging for FolderStaging {
    fn min_append(&self) -> u64 {
        0
    }

    async fn begin(&self, _id: &UploadId) -> io::Result<Option<String>> {
        Ok(None)
    }

    async fn appender(
        &self,
        upload: Staged<'_>,
        start: i64,
        _segments: &[Segment],
        writer: &str,
    ) -> io::Result<Box<dyn Appender>> {
        let path = self.file(upload.id, start, writer);
        let name = path
            .file_name()
            .and_then(|name| name.to_str())
            .map(str::to_owned)
            .ok_or_else(|| io::Error::other("unnamed staging file"))?;
        let file = tokio::fs::OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .await?;
        Ok(Box::new(FolderAppender {
            file,
            start,
            name,
            written: 0,
            durable: 0,
        }))
    }

    async fn read(&self, upload: Staged<'_>, segments: &[Segment]) -> io::Result<Vec<u8>> {
        let paths = segments
            .iter()
            .map(|segment| Ok((self.segment_path(upload.id, segment)?, segment.length)))
            .collect::<io::Result<Vec<_>>>()?;
        tokio::task::spawn_blocking(move || {
            let mut bytes = Vec::new();
            for (path, length) in paths {
                let file = std::fs::File::open(path)?;
                let length = u64::try_from(length).map_err(io::Error::other)?;
                let read = file.take(length).read_to_end(&mut bytes)?;
                if read as u64 != length {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "a staged segment is shorter than committed",
                    ));
                }
            }
            Ok(bytes)
        })
        .await
        .map_err(io::Error::other)?
    }

    async fn remove(&self, upload: Staged<'_>, segments: &[Segment]) -> io::Result<()> {
        for segment in segments {
            match tokio::fs::remove_file(self.segment_path(upload.id, segment)?).await {
                Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
                _ => {}
            }
        }
        // Files of Writes that committed nothing are named by the upload too.
        let prefix = format!("{}.", upload.id);
        let mut entries = tokio::fs::read_dir(&self.dir).await?;
        while let Some(entry) = entries.next_entry().await? {
            let name = entry.file_name();
            if name.to_str().is_some_and(|name| name.starts_with(&prefix)) {
                match tokio::fs::remove_file(entry.path()).await {
                    Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

/// One Write's file, appended to and synced.
struct FolderAppender {
    file: tokio::fs::File,
    start: i64,
    name: String,
    written: i64,
    durable: i64,
}

#[tonic::async_trait]
impl Appender for FolderAppender {
    async fn push(&mut self, bytes: Bytes) -> io::Result<Option<Segment>> {
        use tokio::io::AsyncWriteExt;
        self.file.write_all(&bytes).await?;
        self.written += bytes.len() as i64;
        Ok(None)
    }

    async fn flush(&mut self, _last: bool) -> io::Result<Option<Segment>> {
        use tokio::io::AsyncWriteExt;
        if self.written == self.durable {
            return Ok(None);
        }
        self.file.flush().await?;
        self.file.sync_data().await?;
        self.durable = self.written;
        Ok(Some(Segment {
            start: self.start,
            length: self.durable,
            name: self.name.clone(),
        }))
    }
}
