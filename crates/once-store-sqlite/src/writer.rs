//! The writer thread: owns the one write connection and commits queued operations in groups.
//!
//! Each caller's operation runs inside a shared `BEGIN IMMEDIATE … COMMIT`; the caller hears back
//! only after that commit, so an acknowledgement always means "in the WAL". If a group fails, it
//! is rolled back and every operation is retried alone, so one bad operation fails only itself.

use std::sync::mpsc;

use once_store::{StoreError, StoreResult};
use rusqlite::Connection;
use tokio::sync::oneshot;

/// Most operations committed together.
const MAX_BATCH: usize = 256;

pub(crate) trait WriteOp: Send {
    /// Runs inside the open transaction; may run again after a rollback.
    fn apply(&mut self, conn: &Connection) -> Result<(), StoreError>;
    /// Delivers the outcome once the transaction that holds it is committed (or failed).
    fn finish(self: Box<Self>, outcome: Result<(), StoreError>);
}

struct Op<T, F> {
    f: F,
    out: Option<T>,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<T, F> WriteOp for Op<T, F>
where
    T: Send,
    F: FnMut(&Connection) -> StoreResult<T> + Send,
{
    fn apply(&mut self, conn: &Connection) -> Result<(), StoreError> {
        self.out = Some((self.f)(conn)?);
        Ok(())
    }

    fn finish(self: Box<Self>, outcome: Result<(), StoreError>) {
        let result = match (outcome, self.out) {
            (Ok(()), Some(v)) => Ok(v),
            (Err(e), _) => Err(e),
            (Ok(()), None) => Err(StoreError::backend(std::io::Error::other("write produced no result"))),
        };
        // The caller may have gone away (request cancelled); the write stands either way.
        let _ = self.reply.send(result);
    }
}

#[derive(Clone)]
pub(crate) struct Writer {
    tx: mpsc::Sender<Box<dyn WriteOp>>,
}

impl Writer {
    pub(crate) fn start(conn: Connection) -> std::io::Result<Writer> {
        let (tx, rx) = mpsc::channel::<Box<dyn WriteOp>>();
        std::thread::Builder::new().name("once-sqlite-writer".into()).spawn(move || run(conn, rx))?;
        Ok(Writer { tx })
    }

    /// Queues `f` to run in the next group; resolves after the commit.
    pub(crate) async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnMut(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Box::new(Op { f, out: None, reply }))
            .map_err(|_| StoreError::backend(std::io::Error::other("SQLite writer has stopped")))?;
        rx.await
            .map_err(|_| StoreError::backend(std::io::Error::other("SQLite writer dropped the operation")))?
    }
}

/// How often the writer finishes a checkpoint itself. The checkpointer thread copies most of the
/// WAL in the background, but only a checkpoint with no write in flight can complete, and only a
/// completed checkpoint lets the next write start the WAL over instead of growing it.
const RESTART_WAL_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

fn run(conn: Connection, rx: mpsc::Receiver<Box<dyn WriteOp>>) {
    let mut last_restart = std::time::Instant::now();
    while let Ok(first) = rx.recv() {
        if last_restart.elapsed() >= RESTART_WAL_EVERY && complete_checkpoint(&conn) {
            last_restart = std::time::Instant::now();
        }
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        if batch.len() > 1 && in_transaction(&conn, &mut batch).is_ok() {
            for op in batch {
                op.finish(Ok(()));
            }
            continue;
        }
        for mut op in batch {
            let outcome = in_transaction(&conn, std::slice::from_mut(&mut op));
            op.finish(outcome);
        }
    }
}

/// Runs a passive checkpoint; true if it copied the whole WAL (so the next write restarts it).
/// False if the checkpointer thread was busy or another process's readers hold old frames: the
/// writer tries again after its next group.
fn complete_checkpoint(conn: &Connection) -> bool {
    match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
    }) {
        Ok((busy, log, done)) => busy == 0 && log == done,
        Err(e) => {
            tracing::warn!(error = %e, "SQLite checkpoint failed; will retry");
            false
        }
    }
}

fn in_transaction(conn: &Connection, ops: &mut [Box<dyn WriteOp>]) -> Result<(), StoreError> {
    conn.execute_batch("BEGIN IMMEDIATE").map_err(crate::backend)?;
    for op in ops.iter_mut() {
        if let Err(e) = op.apply(conn) {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e);
        }
    }
    if let Err(e) = conn.execute_batch("COMMIT") {
        let _ = conn.execute_batch("ROLLBACK");
        return Err(crate::backend(e));
    }
    Ok(())
}
