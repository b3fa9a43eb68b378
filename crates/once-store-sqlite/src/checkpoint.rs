//! The checkpointer thread: copies the WAL back into the database file on a timer.
//!
//! Automatic checkpoints are off on our connections, because SQLite would run them inside the
//! commit of whichever write crossed the threshold, and a checkpoint ends with an fsync. Here a
//! passive checkpoint copies what it can without blocking the writer or readers, and its fsync
//! delays nobody. (The writer still completes one now and then; see `writer`.)

use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

/// How often the WAL is copied back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

pub(crate) struct Checkpointer {
    /// Dropping this wakes the thread and tells it to stop.
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    pub(crate) fn start(conn: Connection) -> std::io::Result<Checkpointer> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new().name("once-sqlite-checkpoint".into()).spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_EVERY) {
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::warn!(error = %e, "SQLite checkpoint failed; will retry");
                }
            }
        })?;
        Ok(Checkpointer { stop: Some(stop), thread: Some(thread) })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("SQLite checkpointer thread panicked");
        }
    }
}
