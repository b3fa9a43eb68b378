//! The SQLite backend of Once: the embedded default (`sqlite://PATH`).
//!
//! # Design
//! - **One writer thread** owns the write connection. Writes from all requests are queued to it and
//!   committed in groups (one `BEGIN IMMEDIATE … COMMIT` for everything queued, up to 256
//!   operations); each caller is answered after the commit that holds its write. See [`writer`].
//! - **Reads** (`peek`, `receipt`, `recent`, account lookups) use a small pool of connections on
//!   the blocking thread pool, never the writer.
//! - **Durability**: WAL with `synchronous=NORMAL`. A committed transaction is in the WAL file
//!   before the caller hears back, so it survives `kill -9` of the process (not necessarily a power
//!   loss of the host: that needs `synchronous=FULL`).
//! - **Several processes** may open one file: every write transaction is `BEGIN IMMEDIATE`, so
//!   SQLite's file lock serialises writers and `busy_timeout` (5 s) makes the others wait rather
//!   than fail. The one-time claim is a conditional `UPDATE … RETURNING` inside that transaction,
//!   so exactly one process wins.
//! - **Migrations** are compiled in and applied at open inside `BEGIN IMMEDIATE`, versioned by
//!   `PRAGMA user_version`.

mod rows;
mod writer;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use once_store::{
    Account, AccountId, AccountStore, ApiKeyRecord, BurnOutcome, BurnReason, Cursor, FailureOutcome, Receipt,
    ReceiptState, RecordId, SecretRecord, SecretStore, StoreError, StoreResult, Taken, UnixTime,
};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::rows::{RECEIPT_COLUMNS, account_from_row, api_key_from_row, receipt_from_row, secret_from_row};
use crate::writer::Writer;

const MIGRATIONS: &[&str] = &[include_str!("../migrations/0001_initial.sql")];
const READERS: usize = 4;
/// Small pages: records are keyed by random hashes, so every insert dirties its own leaf page,
/// and WAL traffic per insert is proportional to the page size.
const PAGE_SIZE: i64 = 1024;
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::backend(e)
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation)
}

fn conflict_or_backend(what: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| if is_unique_violation(&e) { StoreError::Conflict(what) } else { backend(e) }
}

/// An error of ours in rusqlite's error type (for setup steps that run as rusqlite code).
fn setup_error(message: String) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR), Some(message))
}

fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let flags =
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Takes effect only when the file is new (before the first table exists).
    conn.pragma_update(None, "page_size", PAGE_SIZE)?;
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(setup_error(format!("cannot switch {} to WAL (got {mode})", path.display())));
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // After a checkpoint restarts the WAL, keep at most this much of the file on disk.
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = (|| {
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let version = usize::try_from(version).unwrap_or(usize::MAX);
        if version > MIGRATIONS.len() {
            return Err(setup_error(format!(
                "database schema version {version} is newer than this build knows ({}); upgrade Once",
                MIGRATIONS.len()
            )));
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
            conn.execute_batch(sql)?;
            conn.pragma_update(None, "user_version", i64::try_from(i + 1).unwrap_or(i64::MAX))?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => conn.execute_batch("COMMIT"),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// A pool of read connections, used from the blocking thread pool.
struct Readers {
    conns: Vec<std::sync::Mutex<Connection>>,
    next: AtomicUsize,
}

pub struct SqliteStore {
    writer: Writer,
    readers: Arc<Readers>,
    /// The checkpointer thread stops once this is dropped.
    _alive: Arc<()>,
}

/// How often the WAL is copied back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// Runs passive checkpoints on a timer, off the writer's path: a passive checkpoint copies what
/// it can without blocking writers or readers, and the fsync it ends with delays nobody.
fn start_checkpointer(conn: Connection, alive: std::sync::Weak<()>) -> std::io::Result<()> {
    std::thread::Builder::new().name("once-sqlite-checkpoint".into()).spawn(move || {
        while alive.strong_count() > 0 {
            std::thread::sleep(CHECKPOINT_EVERY);
            if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                tracing::warn!(error = %e, "SQLite checkpoint failed; will retry");
            }
        }
    })?;
    Ok(())
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, applies migrations and starts the writer.
    pub fn open(path: &Path) -> StoreResult<SqliteStore> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(StoreError::backend)?;
        }
        let write = connect(path).map_err(backend)?;
        migrate(&write).map_err(backend)?;
        let mut conns = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            let c = connect(path).map_err(backend)?;
            c.pragma_update(None, "query_only", "ON").map_err(backend)?;
            conns.push(std::sync::Mutex::new(c));
        }
        // Checkpoints (which fsync) run on their own thread so the writer never waits for them.
        write.pragma_update(None, "wal_autocheckpoint", 0).map_err(backend)?;
        let checkpointer = connect(path).map_err(backend)?;
        checkpointer.pragma_update(None, "wal_autocheckpoint", 0).map_err(backend)?;
        let writer = Writer::start(write).map_err(StoreError::backend)?;
        let alive = Arc::new(());
        start_checkpointer(checkpointer, Arc::downgrade(&alive)).map_err(StoreError::backend)?;
        Ok(SqliteStore {
            writer,
            readers: Arc::new(Readers { conns, next: AtomicUsize::new(0) }),
            _alive: alive,
        })
    }

    async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            let i = readers.next.fetch_add(1, Ordering::Relaxed) % readers.conns.len();
            // A panic inside `f` cannot leave a connection half-used (each read is one statement
            // with no open transaction), so a poisoned lock is still usable.
            let conn = readers.conns[i].lock().unwrap_or_else(|p| p.into_inner());
            f(&conn).map_err(backend)
        })
        .await
        .map_err(StoreError::backend)?
    }
}

fn b(v: bool) -> i64 {
    i64::from(v)
}

fn receipt_by_id(conn: &Connection, id: &RecordId, now: UnixTime) -> rusqlite::Result<Option<Receipt>> {
    conn.prepare_cached(&format!("SELECT {RECEIPT_COLUMNS} FROM receipts WHERE id = ?1 AND expires_at > ?2"))?
        .query_row(params![&id.0[..], now], receipt_from_row)
        .optional()
}

#[async_trait]
impl SecretStore for SqliteStore {
    async fn create(&self, s: SecretRecord, r: Receipt) -> StoreResult<()> {
        self.writer
            .write(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO secrets (id, receipt_id, envelope, has_passphrase, views_left, failures, created_at, expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .and_then(|mut st| {
                    st.execute(params![
                        &s.id.0[..],
                        &s.receipt_id.0[..],
                        &s.envelope,
                        b(s.has_passphrase),
                        s.views_left,
                        s.failures,
                        s.created_at,
                        s.expires_at
                    ])
                })
                .map_err(conflict_or_backend("secret"))?;
                conn.prepare_cached(&format!(
                    "INSERT INTO receipts ({RECEIPT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)"
                ))
                .and_then(|mut st| {
                    st.execute(params![
                        &r.id.0[..],
                        &r.secret_id.0[..],
                        r.owner.as_ref().map(|o| o.0.as_str()),
                        r.sealed_secret_key,
                        r.sealed_receipt_key,
                        r.state.as_str(),
                        r.burn_reason.map(BurnReason::as_str),
                        b(r.has_passphrase),
                        r.max_views,
                        r.views,
                        r.failures,
                        r.recipient,
                        r.share_domain,
                        r.created_at,
                        r.updated_at,
                        r.received_at,
                        r.secret_expires_at,
                        r.expires_at
                    ])
                })
                .map_err(conflict_or_backend("secret"))?;
                Ok(())
            })
            .await
    }

    async fn peek(&self, id: &RecordId, now: UnixTime) -> StoreResult<Option<SecretRecord>> {
        let id = *id;
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT id, receipt_id, envelope, has_passphrase, views_left, failures, created_at, expires_at
                 FROM secrets WHERE id = ?1 AND views_left > 0 AND expires_at > ?2",
            )?
            .query_row(params![&id.0[..], now], secret_from_row)
            .optional()
        })
        .await
    }

    async fn take(&self, id: &RecordId, now: UnixTime) -> StoreResult<Option<Taken>> {
        let id = *id;
        self.writer
            .write(move |conn| {
                let claimed = conn
                    .prepare_cached(
                        "UPDATE secrets SET views_left = views_left - 1
                         WHERE id = ?1 AND views_left > 0 AND expires_at > ?2
                         RETURNING envelope, views_left, receipt_id",
                    )
                    .and_then(|mut st| {
                        st.query_row(params![&id.0[..], now], |r| {
                            Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, u32>(1)?, r.get::<_, Vec<u8>>(2)?))
                        })
                        .optional()
                    })
                    .map_err(backend)?;
                let Some((envelope, views_left, receipt_id)) = claimed else {
                    return Ok(None);
                };
                if views_left == 0 {
                    conn.prepare_cached("DELETE FROM secrets WHERE id = ?1")
                        .and_then(|mut st| st.execute(params![&id.0[..]]))
                        .map_err(backend)?;
                    conn.prepare_cached(
                        "UPDATE receipts SET views = views + 1, updated_at = ?2, state = 'received',
                         received_at = ?2, sealed_secret_key = NULL WHERE id = ?1",
                    )
                    .and_then(|mut st| st.execute(params![receipt_id, now]))
                    .map_err(backend)?;
                } else {
                    conn.prepare_cached(
                        "UPDATE receipts SET views = views + 1, updated_at = ?2 WHERE id = ?1",
                    )
                    .and_then(|mut st| st.execute(params![receipt_id, now]))
                    .map_err(backend)?;
                }
                Ok(Some(Taken { envelope, views_left }))
            })
            .await
    }

    async fn record_failure(&self, id: &RecordId, cap: u32, now: UnixTime) -> StoreResult<FailureOutcome> {
        let id = *id;
        self.writer
            .write(move |conn| {
                let counted = conn
                    .prepare_cached(
                        "UPDATE secrets SET failures = failures + 1
                         WHERE id = ?1 AND views_left > 0 AND expires_at > ?2
                         RETURNING failures, receipt_id",
                    )
                    .and_then(|mut st| {
                        st.query_row(params![&id.0[..], now], |r| {
                            Ok((r.get::<_, u32>(0)?, r.get::<_, Vec<u8>>(1)?))
                        })
                        .optional()
                    })
                    .map_err(backend)?;
                let Some((failures, receipt_id)) = counted else {
                    return Ok(FailureOutcome::Gone);
                };
                if failures >= cap {
                    conn.prepare_cached("DELETE FROM secrets WHERE id = ?1")
                        .and_then(|mut st| st.execute(params![&id.0[..]]))
                        .map_err(backend)?;
                    conn.prepare_cached(
                        "UPDATE receipts SET failures = ?2, updated_at = ?3, state = 'burned',
                         burn_reason = 'passphrase_failures', sealed_secret_key = NULL WHERE id = ?1",
                    )
                    .and_then(|mut st| st.execute(params![receipt_id, failures, now]))
                    .map_err(backend)?;
                    Ok(FailureOutcome::Burned)
                } else {
                    conn.prepare_cached("UPDATE receipts SET failures = ?2, updated_at = ?3 WHERE id = ?1")
                        .and_then(|mut st| st.execute(params![receipt_id, failures, now]))
                        .map_err(backend)?;
                    Ok(FailureOutcome::Counted { failures })
                }
            })
            .await
    }

    async fn burn(&self, receipt_id: &RecordId, now: UnixTime) -> StoreResult<Option<BurnOutcome>> {
        let id = *receipt_id;
        self.writer
            .write(move |conn| {
                let Some(r) = receipt_by_id(conn, &id, now).map_err(backend)? else {
                    return Ok(None);
                };
                let deleted = conn
                    .prepare_cached(
                        "DELETE FROM secrets WHERE id = ?1 AND views_left > 0 AND expires_at > ?2",
                    )
                    .and_then(|mut st| st.execute(params![&r.secret_id.0[..], now]))
                    .map_err(backend)?;
                if deleted == 0 {
                    return Ok(Some(BurnOutcome::AlreadyGone(r)));
                }
                conn.prepare_cached(
                    "UPDATE receipts SET state = 'burned', burn_reason = 'sender', updated_at = ?2,
                     sealed_secret_key = NULL WHERE id = ?1",
                )
                .and_then(|mut st| st.execute(params![&id.0[..], now]))
                .map_err(backend)?;
                let r = receipt_by_id(conn, &id, now).map_err(backend)?;
                Ok(r.map(BurnOutcome::Burned))
            })
            .await
    }

    async fn receipt(&self, receipt_id: &RecordId, now: UnixTime) -> StoreResult<Option<Receipt>> {
        let id = *receipt_id;
        self.read(move |conn| receipt_by_id(conn, &id, now)).await
    }

    async fn open_receipt(&self, receipt_id: &RecordId, now: UnixTime) -> StoreResult<Option<Receipt>> {
        let id = *receipt_id;
        self.writer
            .write(move |conn| {
                let Some(r) = receipt_by_id(conn, &id, now).map_err(backend)? else {
                    return Ok(None);
                };
                if r.state == ReceiptState::New {
                    conn.prepare_cached(
                        "UPDATE receipts SET state = 'viewed', sealed_secret_key = NULL, updated_at = ?2
                         WHERE id = ?1 AND state = 'new'",
                    )
                    .and_then(|mut st| st.execute(params![&id.0[..], now]))
                    .map_err(backend)?;
                }
                Ok(Some(r))
            })
            .await
    }

    async fn recent(
        &self,
        owner: &AccountId,
        before: Option<Cursor>,
        limit: u32,
        now: UnixTime,
    ) -> StoreResult<Vec<Receipt>> {
        let owner = owner.0.clone();
        self.read(move |conn| {
            let (t, id) = match before {
                Some(c) => (Some(c.created_at), Some(c.id.0.to_vec())),
                None => (None, None),
            };
            let mut st = conn.prepare_cached(&format!(
                "SELECT {RECEIPT_COLUMNS} FROM receipts
                 WHERE owner = ?1 AND expires_at > ?2 AND (?3 IS NULL OR (created_at, id) < (?3, ?4))
                 ORDER BY created_at DESC, id DESC LIMIT ?5"
            ))?;
            let rows = st.query_map(params![owner, now, t, id, limit], receipt_from_row)?;
            rows.collect()
        })
        .await
    }

    async fn purge_expired(&self, now: UnixTime, batch: u32) -> StoreResult<u64> {
        self.writer
            .write(move |conn| {
                let secrets = conn
                    .prepare_cached(
                        "DELETE FROM secrets WHERE id IN (SELECT id FROM secrets WHERE expires_at <= ?1 LIMIT ?2)",
                    )
                    .and_then(|mut st| st.execute(params![now, batch]))
                    .map_err(backend)?;
                let receipts = conn
                    .prepare_cached(
                        "DELETE FROM receipts WHERE id IN (SELECT id FROM receipts WHERE expires_at <= ?1 LIMIT ?2)",
                    )
                    .and_then(|mut st| st.execute(params![now, batch]))
                    .map_err(backend)?;
                Ok((secrets + receipts) as u64)
            })
            .await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.read(|conn| conn.query_row("SELECT 1", [], |_| Ok(()))).await
    }
}

#[async_trait]
impl AccountStore for SqliteStore {
    async fn add_account(&self, account: Account, key: ApiKeyRecord) -> StoreResult<()> {
        self.writer
            .write(move |conn| {
                conn.prepare_cached("INSERT INTO accounts (id, email, role, created_at, disabled) VALUES (?1, ?2, ?3, ?4, ?5)")
                    .and_then(|mut st| {
                        st.execute(params![account.id.0, account.email, account.role.as_str(), account.created_at, b(account.disabled)])
                    })
                    .map_err(conflict_or_backend("account"))?;
                insert_api_key(conn, &key)
            })
            .await
    }

    async fn account_by_email(&self, email: &str) -> StoreResult<Option<Account>> {
        let email = email.to_owned();
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT id, email, role, created_at, disabled FROM accounts WHERE email = ?1",
            )?
            .query_row(params![email], account_from_row)
            .optional()
        })
        .await
    }

    async fn accounts(&self) -> StoreResult<Vec<Account>> {
        self.read(|conn| {
            let mut st = conn.prepare_cached(
                "SELECT id, email, role, created_at, disabled FROM accounts ORDER BY created_at, id",
            )?;
            let rows = st.query_map([], account_from_row)?;
            rows.collect()
        })
        .await
    }

    async fn add_api_key(&self, key: ApiKeyRecord) -> StoreResult<()> {
        self.writer.write(move |conn| insert_api_key(conn, &key)).await
    }

    async fn api_key(&self, hash: &[u8; 32]) -> StoreResult<Option<(ApiKeyRecord, Account)>> {
        let hash = *hash;
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT k.hash, k.account_id, k.name, k.created_at, k.last_used_at, k.wrapped_vault_key,
                        a.id, a.email, a.role, a.created_at, a.disabled
                 FROM api_keys k JOIN accounts a ON a.id = k.account_id WHERE k.hash = ?1",
            )?
            .query_row(params![&hash[..]], |r| Ok((api_key_from_row(r)?, rows::account_at(r, 6)?)))
            .optional()
        })
        .await
    }

    async fn touch_api_key(&self, hash: &[u8; 32], now: UnixTime) -> StoreResult<()> {
        let hash = *hash;
        self.writer
            .write(move |conn| {
                conn.prepare_cached("UPDATE api_keys SET last_used_at = ?2 WHERE hash = ?1")
                    .and_then(|mut st| st.execute(params![&hash[..], now]))
                    .map_err(backend)?;
                Ok(())
            })
            .await
    }
}

fn insert_api_key(conn: &Connection, key: &ApiKeyRecord) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO api_keys (hash, account_id, name, created_at, last_used_at, wrapped_vault_key)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut st| {
        st.execute(params![
            &key.hash[..],
            key.account_id.0,
            key.name,
            key.created_at,
            key.last_used_at,
            key.wrapped_vault_key
        ])
    })
    .map_err(|e| match &e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation => {
            StoreError::Conflict("api key or unknown account")
        }
        _ => backend(e),
    })?;
    Ok(())
}
