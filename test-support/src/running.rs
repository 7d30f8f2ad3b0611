//! A server running in a task of the test's own process, until stopped.

use std::{future::Future, pin::Pin};

use tokio::{sync::oneshot, task::JoinHandle};

/// The future a server is given to learn when to shut down.
pub type Shutdown = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A server task and the means to stop it. Dropped, it stops the server at once.
pub struct Running {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Running {
    /// Runs `serve` in a task, handing it the future that resolves on [`Running::stop`].
    pub fn spawn<F>(serve: impl FnOnce(Shutdown) -> F) -> Self
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let (stop, stopped) = oneshot::channel::<()>();
        let shutdown: Shutdown = Box::pin(async move {
            let _ = stopped.await;
        });
        Self {
            stop: Some(stop),
            task: Some(tokio::spawn(serve(shutdown))),
        }
    }

    /// Asks the server to shut down and waits until it has drained and exited.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("the server stops cleanly");
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
