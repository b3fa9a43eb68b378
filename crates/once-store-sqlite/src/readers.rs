//! The read pool: a few connections, used from the blocking thread pool.
//!
//! A semaphore with one permit per connection bounds how many reads run at once, so a burst of
//! reads waits on the async side instead of parking blocking threads on a mutex. Each read runs
//! in autocommit mode (no transaction is held between reads), so it sees every write the writer
//! has acknowledged before the read started.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use once_store::{StoreError, StoreResult};
use rusqlite::Connection;
use tokio::sync::Semaphore;

pub(crate) struct Readers {
    path: PathBuf,
    busy_timeout: Duration,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

impl Readers {
    pub(crate) fn open(path: PathBuf, busy_timeout: Duration, count: usize) -> rusqlite::Result<Readers> {
        let count = count.max(1);
        let mut idle = Vec::with_capacity(count);
        for _ in 0..count {
            idle.push(connect_reader(&path, busy_timeout)?);
        }
        Ok(Readers { path, busy_timeout, idle: Mutex::new(idle), permits: Arc::new(Semaphore::new(count)) })
    }

    /// Runs `f` on a pooled connection, off the async executor.
    pub(crate) async fn read<T, F>(self: &Arc<Self>, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::backend(std::io::Error::other("SQLite read pool closed")))?;
        let readers = self.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = readers.checkout()?;
            let out = f(&conn);
            readers.checkin(conn);
            out.map_err(crate::backend)
        })
        .await
        .map_err(StoreError::backend)?
    }

    /// An idle connection. With the permit held there is always one, unless a read panicked and
    /// took its connection with it: then a new one replaces it.
    fn checkout(&self) -> StoreResult<Connection> {
        match self.lock().pop() {
            Some(conn) => Ok(conn),
            None => connect_reader(&self.path, self.busy_timeout).map_err(crate::backend),
        }
    }

    fn checkin(&self, conn: Connection) {
        self.lock().push(conn);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        // Only push/pop run under the lock, so a poisoned lock still holds a consistent Vec.
        self.idle.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn connect_reader(path: &std::path::Path, busy_timeout: Duration) -> rusqlite::Result<Connection> {
    let conn = crate::schema::connect(path, busy_timeout)?;
    // Belt and braces: nothing on the read path may write.
    conn.pragma_update(None, "query_only", "ON")?;
    Ok(conn)
}
