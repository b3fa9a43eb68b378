//! Connections, pragmas and the embedded migrations.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, OpenFlags};

/// The migrations, in order. Migration `i` (0-based) brings `PRAGMA user_version` from `i` to
/// `i + 1`. Never edit one that has shipped: add the next.
pub(crate) const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_initial.sql"),
    include_str!("../migrations/0002_master_keys.sql"),
    include_str!("../migrations/0003_sessions.sql"),
    include_str!("../migrations/0004_totp_steps.sql"),
    include_str!("../migrations/0005_passwords.sql"),
    include_str!("../migrations/0006_key_scopes_totp_lockouts.sql"),
    include_str!("../migrations/0007_vaults.sql"),
    include_str!("../migrations/0008_restricted_secrets.sql"),
    include_str!("../migrations/0009_audit.sql"),
    include_str!("../migrations/0010_view_log.sql"),
    include_str!("../migrations/0011_files.sql"),
];

/// Records are keyed by random hashes, so every insert dirties its own leaf page and WAL traffic
/// per insert grows with the page size; too small a page splits often and overflows for larger
/// secrets. Measured at c = 64 (docs/BENCHMARKS.md): 2 KiB beat 1 KiB and 4 KiB overall.
const PAGE_SIZE: i64 = 2048;

/// An error of ours in rusqlite's error type (for setup steps that run as rusqlite code).
pub(crate) fn setup_error(message: String) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR), Some(message))
}

/// Opens a read-write connection with our settings: WAL, `synchronous=NORMAL`, `busy_timeout`,
/// foreign keys on.
pub(crate) fn connect(path: &Path, busy_timeout: Duration) -> rusqlite::Result<Connection> {
    // NO_MUTEX: every connection is used by one thread at a time (the writer thread owns its
    // own; readers sit behind a mutex), so SQLite's own per-connection mutex is not needed.
    let flags =
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(busy_timeout)?;
    // Takes effect only when the file is new (before the first table exists).
    conn.pragma_update(None, "page_size", PAGE_SIZE)?;
    enable_wal(&conn, path, busy_timeout)?;
    // In WAL mode, NORMAL writes every commit to the WAL before COMMIT returns but fsyncs only at
    // checkpoints: committed data survives a crash of the process, not of the host.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // After a checkpoint restarts the WAL, keep at most this much of the file on disk.
    conn.pragma_update(None, "journal_size_limit", 1024 * 1024 * 1024)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Switches the file to WAL (a property of the file: the first connection switches it, later ones
/// just see it). The switch needs an exclusive lock and SQLite does not run the busy handler for
/// it, so when several connections or processes open a new file at once, all but one get
/// `SQLITE_BUSY` (or the old mode back) immediately. Retry until the busy timeout instead.
fn enable_wal(conn: &Connection, path: &Path, busy_timeout: Duration) -> rusqlite::Result<()> {
    let deadline = Instant::now() + busy_timeout;
    loop {
        let outcome = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0));
        let retry = match &outcome {
            Ok(mode) if mode.eq_ignore_ascii_case("wal") => return Ok(()),
            Ok(_) => true,
            Err(e) => e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy),
        };
        if !retry || Instant::now() >= deadline {
            return match outcome {
                Ok(mode) => Err(setup_error(format!("cannot switch {} to WAL (got {mode})", path.display()))),
                Err(e) => Err(e),
            };
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Brings the schema up to date, inside `BEGIN IMMEDIATE`: the version is read under the write
/// lock, so two processes opening a new file at once apply each migration exactly once.
pub(crate) fn migrate(conn: &Connection) -> rusqlite::Result<()> {
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
            tracing::info!(version = i + 1, "applied SQLite migration");
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
