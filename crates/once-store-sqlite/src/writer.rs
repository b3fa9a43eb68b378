//! The writer thread: owns the one write connection and commits queued operations in groups.
//!
//! Callers queue a closure and await a oneshot. The thread takes the first queued operation,
//! drains whatever else is already waiting (up to [`MAX_BATCH`]) and runs them all inside one
//! `BEGIN IMMEDIATE … COMMIT`. Each caller hears back only after the commit that holds its write,
//! so an acknowledgement always means "in the WAL". One fsync-free commit is shared by the whole
//! group, which is what makes thousands of small writes per second cheap.
//!
//! If an operation fails (a conflict, say), the group is rolled back and every operation runs
//! again alone, in its own transaction, so one bad operation fails only itself. If the
//! transaction cannot even start (another process held the write lock past `busy_timeout`),
//! every operation of the group fails with that error: retrying them one by one would only make
//! each wait out the timeout again.
//!
//! Dropping the [`Writer`] closes the queue; the thread finishes what is queued, then exits, and
//! the drop waits for it, so the file is closed when the store is gone.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use once_store::{StoreError, StoreResult};
use rusqlite::Connection;
use tokio::sync::oneshot;

/// Most operations committed together.
pub(crate) const MAX_BATCH: usize = 256;

/// How often the writer finishes a checkpoint itself. The checkpointer thread copies most of the
/// WAL in the background, but only a checkpoint with no write in flight can complete, and only a
/// completed checkpoint lets the next write start the WAL over instead of growing it.
const RESTART_WAL_EVERY: Duration = Duration::from_secs(2);

trait WriteOp: Send {
    /// Runs inside the open transaction; may run again after a rollback.
    fn apply(&mut self, conn: &Connection) -> StoreResult<()>;
    /// Delivers the outcome once the transaction that holds it is committed (or failed).
    fn finish(self: Box<Self>, outcome: StoreResult<()>);
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
    fn apply(&mut self, conn: &Connection) -> StoreResult<()> {
        self.out = None;
        // A panicking operation must not take the writer (and so every later write) down with
        // it. Unwind safety: on a panic the transaction is rolled back and this operation is
        // answered with an error; `rusqlite` statements reset themselves when dropped, so the
        // connection is left as it was before the operation.
        match std::panic::catch_unwind(AssertUnwindSafe(|| (self.f)(conn))) {
            Ok(result) => {
                self.out = Some(result?);
                Ok(())
            }
            Err(_) => Err(other("an SQLite write operation panicked")),
        }
    }

    fn finish(self: Box<Self>, outcome: StoreResult<()>) {
        let result = match (outcome, self.out) {
            (Ok(()), Some(v)) => Ok(v),
            (Err(e), _) => Err(e),
            (Ok(()), None) => Err(other("SQLite write produced no result")),
        };
        // The caller may have gone away (request cancelled); the write stands either way.
        let _ = self.reply.send(result);
    }
}

fn other(message: &'static str) -> StoreError {
    StoreError::backend(std::io::Error::other(message))
}

/// The handle to the writer thread.
pub(crate) struct Writer {
    /// `None` only while dropping.
    tx: Option<mpsc::Sender<Box<dyn WriteOp>>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    pub(crate) fn start(conn: Connection) -> std::io::Result<Writer> {
        let (tx, rx) = mpsc::channel::<Box<dyn WriteOp>>();
        let thread =
            std::thread::Builder::new().name("once-sqlite-writer".into()).spawn(move || run(conn, rx))?;
        Ok(Writer { tx: Some(tx), thread: Some(thread) })
    }

    /// Queues `f` to run in the next group; resolves after the commit that holds it.
    pub(crate) async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnMut(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let tx = self.tx.as_ref().ok_or_else(|| other("SQLite writer has stopped"))?;
        tx.send(Box::new(Op { f, out: None, reply })).map_err(|_| other("SQLite writer has stopped"))?;
        rx.await.map_err(|_| other("SQLite writer dropped the operation"))?
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Closing the queue ends the thread once it has run everything already queued.
        drop(self.tx.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("SQLite writer thread panicked");
        }
    }
}

fn run(conn: Connection, rx: mpsc::Receiver<Box<dyn WriteOp>>) {
    let mut last_restart = Instant::now();
    let mut batch: Vec<Box<dyn WriteOp>> = Vec::with_capacity(MAX_BATCH);
    while let Ok(first) = rx.recv() {
        if last_restart.elapsed() >= RESTART_WAL_EVERY && complete_checkpoint(&conn) {
            last_restart = Instant::now();
        }
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        match in_transaction(&conn, &mut batch) {
            Ok(()) => batch.drain(..).for_each(|op| op.finish(Ok(()))),
            Err(Failed::Begin(e)) => {
                tracing::warn!(error = %e, ops = batch.len(), "SQLite write transaction could not start");
                let message = format!("cannot start an SQLite write transaction: {e}");
                for op in batch.drain(..) {
                    op.finish(Err(StoreError::backend(std::io::Error::other(message.clone()))));
                }
            }
            Err(Failed::Op(e)) if batch.len() == 1 => {
                if let Some(op) = batch.pop() {
                    op.finish(Err(e));
                }
            }
            Err(_) => {
                // Someone's operation failed: give each its own transaction.
                for mut op in batch.drain(..) {
                    let outcome =
                        in_transaction(&conn, std::slice::from_mut(&mut op)).map_err(Failed::into_error);
                    op.finish(outcome);
                }
            }
        }
    }
}

enum Failed {
    /// `BEGIN IMMEDIATE` failed: nothing ran.
    Begin(rusqlite::Error),
    /// An operation or the commit failed; the transaction was rolled back.
    Op(StoreError),
}

impl Failed {
    fn into_error(self) -> StoreError {
        match self {
            Failed::Begin(e) => crate::backend(e),
            Failed::Op(e) => e,
        }
    }
}

fn in_transaction(conn: &Connection, ops: &mut [Box<dyn WriteOp>]) -> Result<(), Failed> {
    if let Err(e) = conn.prepare_cached("BEGIN IMMEDIATE").and_then(|mut st| st.execute([])) {
        if !conn.is_autocommit() {
            // A transaction left open by an earlier failure would make every later BEGIN fail.
            let _ = conn.execute_batch("ROLLBACK");
        }
        return Err(Failed::Begin(e));
    }
    let applied = ops.iter_mut().try_for_each(|op| op.apply(conn));
    let committed = applied.and_then(|()| {
        conn.prepare_cached("COMMIT").and_then(|mut st| st.execute([])).map(drop).map_err(crate::backend)
    });
    if let Err(e) = committed {
        // If the failure already ended the transaction, this fails harmlessly.
        let _ = conn.execute_batch("ROLLBACK");
        return Err(Failed::Op(e));
    }
    Ok(())
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
