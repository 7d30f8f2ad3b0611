//! A value built from files and rebuilt when they change: certificates that a
//! certificate manager rotates in place are picked up without a restart. The files are
//! read every few seconds and compared by content, so that an atomic rename, a
//! symlink swap (how Kubernetes updates a mounted secret) and a rewrite in place are
//! all seen. A change that does not build (a key written before its certificate, a
//! truncated file) keeps the last good value and is logged.

use std::{
    path::PathBuf,
    sync::{Arc, RwLock, Weak},
    time::Duration,
};

use super::files::TlsError;

/// How often the files are read again.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_secs(2);

type Build<T> = Box<dyn Fn(&[Vec<u8>]) -> Result<T, TlsError> + Send + Sync>;

pub(crate) struct Watched<T> {
    paths: Vec<PathBuf>,
    build: Build<T>,
    current: RwLock<Current<T>>,
}

struct Current<T> {
    contents: Vec<Vec<u8>>,
    value: Arc<T>,
}

impl<T: Send + Sync + 'static> Watched<T> {
    /// Builds the value from `paths` now, failing if it does not build, and polls them
    /// on the current runtime for as long as the returned handle lives.
    pub(crate) fn start(
        paths: Vec<PathBuf>,
        build: impl Fn(&[Vec<u8>]) -> Result<T, TlsError> + Send + Sync + 'static,
    ) -> Result<Arc<Self>, TlsError> {
        let contents = read_all(&paths)?;
        let value = Arc::new(build(&contents)?);
        let watched = Arc::new(Self {
            paths,
            build: Box::new(build),
            current: RwLock::new(Current { contents, value }),
        });
        tokio::spawn(poll(Arc::downgrade(&watched)));
        Ok(watched)
    }

    /// The value built from the files as they were last read successfully.
    pub(crate) fn current(&self) -> Arc<T> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .value
            .clone()
    }

    /// Reads the files again and rebuilds the value if they changed.
    fn refresh(&self) {
        let contents = match read_all(&self.paths) {
            Ok(contents) => contents,
            Err(error) => {
                tracing::warn!(%error, "TLS files unreadable; the last good ones stay in use");
                return;
            }
        };
        let unchanged = self
            .current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contents
            == contents;
        if unchanged {
            return;
        }
        match (self.build)(&contents) {
            Ok(value) => {
                *self
                    .current
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Current {
                    contents,
                    value: Arc::new(value),
                };
                tracing::info!(files = ?self.paths, "TLS files changed: new connections use them");
            }
            Err(error) => {
                tracing::warn!(%error, "changed TLS files refused; the last good ones stay in use");
            }
        }
    }
}

fn read_all(paths: &[PathBuf]) -> Result<Vec<Vec<u8>>, TlsError> {
    paths
        .iter()
        .map(|path| {
            std::fs::read(path).map_err(|error| TlsError::File {
                path: path.clone(),
                reason: error.to_string(),
            })
        })
        .collect()
}

async fn poll<T: Send + Sync + 'static>(watched: Weak<Watched<T>>) {
    let mut ticks = tokio::time::interval(POLL_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let Some(watched) = watched.upgrade() else {
            return;
        };
        // Small files, but still blocking reads: off the runtime's worker threads.
        let refreshed = tokio::task::spawn_blocking(move || watched.refresh()).await;
        if refreshed.is_err() {
            return;
        }
    }
}
