//! The SQLite backend of Once: the embedded default (`sqlite://PATH`).
//!
//! # Design
//! - **One writer thread, group commit.** A dedicated thread owns the only write connection.
//!   Every write (`create`, `take`, `record_failure`, `burn`, `open_receipt`, `purge_expired`,
//!   account, API-key and second-factor writes, `touch_api_key`, lockout counting, audit appends
//!   and pruning) is queued to it as a closure. The thread drains whatever is queued (up to 256 operations) and runs it all in
//!   **one** `BEGIN IMMEDIATE … COMMIT`; each caller is answered through a oneshot only after the
//!   commit that holds its write. Many small writes thus share one commit, which is what lets a
//!   2-core box do tens of thousands of writes a second. If one operation of a group fails, the
//!   group is rolled back and each operation re-runs alone, so a bad one fails only itself. See
//!   the `writer` module.
//! - **Reads** (`peek`, `receipt`, `recent`, account, key and second-factor lookups, the admin's
//!   `usage` and `accounts_page`, lockout states, the audit trail, `ping`) go to a small pool of `query_only` connections (4 by default) run on tokio's
//!   blocking pool, bounded by a semaphore. In WAL mode they never wait for the writer, and each
//!   sees every write acknowledged before it started.
//! - **The one-time claim** is a conditional `UPDATE secrets SET views_left = views_left - 1
//!   WHERE id = ? AND views_left > 0 AND expires_at > ? RETURNING …` inside the write
//!   transaction, followed (on the last view) by deleting the row and marking the receipt, all in
//!   the same transaction. `record_failure` counts the same way; `burn` deletes the live secret
//!   and updates the receipt in one transaction. Nothing reads and then decides outside a
//!   transaction: an audit append, too, reads the chain's head and inserts after it inside the
//!   writer's transaction, so appends from any number of stores or processes never fork the chain.
//! - **Durability**: WAL with `synchronous=NORMAL`. A transaction is written to the WAL before
//!   `COMMIT` returns, and callers hear back only after that, so acknowledged writes survive
//!   `kill -9` of the process. They are not guaranteed to survive a power loss of the host: that
//!   would need `synchronous=FULL` (an fsync per commit). WAL checkpoints run on their own
//!   thread, off the writer's path.
//! - **Several processes** may open one file at once. Every write transaction (including
//!   migrations) is `BEGIN IMMEDIATE`: it takes SQLite's write lock up front, so `busy_timeout`
//!   (5 s) makes a second writer wait rather than fail, and no transaction ever has to upgrade a
//!   read lock (the upgrade fails with `SQLITE_BUSY` at once, ignoring the timeout). Because the
//!   claim is a conditional update under that lock, exactly one caller in any process wins.
//! - **Migrations** are compiled in (`migrations/*.sql`) and applied at open inside
//!   `BEGIN IMMEDIATE`, versioned by `PRAGMA user_version`; the version is re-read under the lock,
//!   so two processes opening a new file at once both end up with one schema. A file from a newer
//!   build is refused.
//! - **Rate limits** ([`RateLimitStore`]) are kept in process memory (a [`RateTable`]), not in
//!   the database: a rate check on every create and reveal must not cost a write, and so a turn
//!   on the one writer thread. The counters therefore start empty when the process starts, and
//!   they count per process: several processes on one file each allow the whole limit. (Every
//!   other guarantee here holds across processes.)
//! - **Errors** never carry record contents: SQLite's messages name tables and columns, never
//!   values, and nothing here logs an envelope, a sealed key or an id in full. Duplicate keys
//!   become [`StoreError::Conflict`], everything else [`StoreError::Backend`].
//!
//! Dropping a [`SqliteStore`] closes the write queue; the writer finishes what was queued, the
//! threads exit, and the drop returns once the file is closed.

mod checkpoint;
mod readers;
mod rows;
mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use once_store::{
    Account, AccountId, AccountStore, ApiKeyRecord, AuditAnchor, AuditEntry, AuditRecord, AuditStore,
    BurnOutcome, BurnReason, Claim, ContentStore, Cursor, FailureOutcome, Lockout, LockoutStore,
    RateLimitStore, RateTable, Receipt, ReceiptState, RecordId, Role, SecretRecord, SecretStore,
    SessionRecord, SessionStore, StoreError, StoreResult, Taken, TotpRecord, UnixTime, UsageRow, UsageState,
    ViewNote,
};
use rusqlite::{Connection, OptionalExtension, ffi, params};

use crate::checkpoint::Checkpointer;
use crate::readers::Readers;
use crate::rows::{
    API_KEY_COLUMN_COUNT, API_KEY_COLUMNS, AUDIT_COLUMNS, RECEIPT_COLUMNS, SESSION_COLUMNS, account_at,
    api_key_from_row, audit_anchor_from_row, audit_record_from_row, receipt_from_row, secret_from_row,
    session_from_row,
};
use crate::writer::Writer;

/// The schema version (`PRAGMA user_version`) this build brings a database to.
pub const SCHEMA_VERSION: i64 = schema::MIGRATIONS.len() as i64;

/// Settings for [`SqliteStore::open_with`]. [`SqliteOptions::default`] is what
/// [`SqliteStore::open`] uses.
#[derive(Clone, Debug)]
pub struct SqliteOptions {
    /// Read connections in the pool (at least 1). Default 4.
    pub readers: usize,
    /// How long a connection waits for another connection's (or process's) lock before failing.
    /// Default 5 s.
    pub busy_timeout: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions { readers: 4, busy_timeout: Duration::from_secs(5) }
    }
}

/// The SQLite store. See the [crate documentation](crate) for how it works.
pub struct SqliteStore {
    // Fields drop in order: the writer finishes its queue first, then the checkpointer stops.
    writer: Writer,
    _checkpointer: Checkpointer,
    readers: Arc<Readers>,
    /// Rate-limit counters: in memory, per process (see the crate documentation).
    rates: RateTable,
    path: PathBuf,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).finish_non_exhaustive()
    }
}

pub(crate) fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::backend(e)
}

/// Maps the error of an insert: a duplicate primary or unique key is `Conflict(what)`.
fn on_insert(what: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |e| match e.sqlite_extended_error_code() {
        Some(ffi::SQLITE_CONSTRAINT_PRIMARYKEY | ffi::SQLITE_CONSTRAINT_UNIQUE) => StoreError::Conflict(what),
        _ => backend(e),
    }
}

impl SqliteStore {
    /// Opens (creating the file and its directory if needed) the database at `path`, applies
    /// migrations and starts the writer and checkpointer threads.
    pub fn open(path: &Path) -> StoreResult<SqliteStore> {
        SqliteStore::open_with(path, SqliteOptions::default())
    }

    /// [`SqliteStore::open`] with explicit settings.
    pub fn open_with(path: &Path, options: SqliteOptions) -> StoreResult<SqliteStore> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(StoreError::backend)?;
        }
        let timeout = options.busy_timeout;
        let write = schema::connect(path, timeout).map_err(backend)?;
        schema::migrate(&write).map_err(backend)?;
        // Checkpoints (which fsync) run on their own thread so the writer never waits for them.
        write.pragma_update(None, "wal_autocheckpoint", 0).map_err(backend)?;
        let readers = Readers::open(path.to_owned(), timeout, options.readers).map_err(backend)?;
        let checkpoint_conn = schema::connect(path, timeout).map_err(backend)?;
        checkpoint_conn.pragma_update(None, "wal_autocheckpoint", 0).map_err(backend)?;
        let checkpointer = Checkpointer::start(checkpoint_conn).map_err(StoreError::backend)?;
        let writer = Writer::start(write).map_err(StoreError::backend)?;
        Ok(SqliteStore {
            writer,
            _checkpointer: checkpointer,
            readers: Arc::new(readers),
            rates: RateTable::new(),
            path: path.to_owned(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.readers.read(f).await
    }
}

// ---------------------------------------------------------------------------------------------
// Statements named here are the ones tests check query plans of.
// ---------------------------------------------------------------------------------------------

/// Deletes up to `?2` secrets expired at `?1`, found by the `secrets_expires_at` index.
const PURGE_SECRETS: &str =
    "DELETE FROM secrets WHERE id IN (SELECT id FROM secrets WHERE expires_at <= ?1 LIMIT ?2)";
/// Deletes up to `?2` receipts expired at `?1`, found by the `receipts_expires_at` index.
const PURGE_RECEIPTS: &str =
    "DELETE FROM receipts WHERE id IN (SELECT id FROM receipts WHERE expires_at <= ?1 LIMIT ?2)";

/// Deletes up to `?2` file chunks expired at `?1`, found by the `chunks_expires_at` index.
const PURGE_CHUNKS: &str =
    "DELETE FROM chunks WHERE rowid IN (SELECT rowid FROM chunks WHERE expires_at <= ?1 LIMIT ?2)";

/// Usage statistics at `?1`: receipts by UTC day of creation and state (`new` and `viewed` are
/// `expired` once their secret's expiry passed), with the envelope bytes of their live secrets.
/// One pass over the receipts, each joined to its secret by primary key.
const USAGE: &str = "SELECT r.created_at - (((r.created_at % 86400) + 86400) % 86400) AS day,
            CASE WHEN r.state IN ('new', 'viewed') AND r.secret_expires_at <= ?1 THEN 'expired'
                 ELSE r.state END AS usage_state,
            count(*),
            coalesce(sum(length(s.envelope)), 0)
     FROM receipts r
     LEFT JOIN secrets s ON s.id = r.secret_id AND s.views_left > 0 AND s.expires_at > ?1
     GROUP BY day, usage_state";

/// A page of accounts by e-mail after `?1`, those containing `?2` if it is not NULL, `?3` at most
/// (seeks the e-mail's unique index, in its order).
const ACCOUNTS_PAGE: &str = "SELECT id, email, role, created_at, disabled FROM accounts
     WHERE email > ?1 AND (?2 IS NULL OR instr(email, ?2) > 0) ORDER BY email LIMIT ?3";

/// The first page of an owner's receipts (`receipts_owner_recent` index).
fn recent_first_sql() -> String {
    format!(
        "SELECT {RECEIPT_COLUMNS} FROM receipts WHERE owner = ?1 AND expires_at > ?2
         ORDER BY created_at DESC, id DESC LIMIT ?3"
    )
}

/// A later page: the row-value comparison lets SQLite seek the index to the cursor instead of
/// scanning the pages before it.
fn recent_after_sql() -> String {
    format!(
        "SELECT {RECEIPT_COLUMNS} FROM receipts WHERE owner = ?1 AND expires_at > ?2 AND (created_at, id) < (?3, ?4)
         ORDER BY created_at DESC, id DESC LIMIT ?5"
    )
}

fn b(v: bool) -> i64 {
    i64::from(v)
}

fn receipt_by_id(conn: &Connection, id: &RecordId, now: UnixTime) -> rusqlite::Result<Option<Receipt>> {
    conn.prepare_cached(&format!("SELECT {RECEIPT_COLUMNS} FROM receipts WHERE id = ?1 AND expires_at > ?2"))?
        .query_row(params![&id.0[..], now], receipt_from_row)
        .optional()
}

fn delete_secret(conn: &Connection, id: &RecordId) -> rusqlite::Result<usize> {
    conn.prepare_cached("DELETE FROM secrets WHERE id = ?1")?.execute(params![&id.0[..]])
}

#[async_trait]
impl SecretStore for SqliteStore {
    async fn create(&self, s: SecretRecord, r: Receipt) -> StoreResult<()> {
        self.writer
            .write(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO secrets (id, receipt_id, envelope, has_passphrase, views_left, failures, created_at,
                                          expires_at, restricted_to, file)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
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
                        s.expires_at,
                        s.restricted_to,
                        s.file.map(|f| f.encode())
                    ])
                })
                .map_err(on_insert("secret"))?;
                conn.prepare_cached(&format!(
                    "INSERT INTO receipts ({RECEIPT_COLUMNS})
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)"
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
                        r.expires_at,
                        (!r.view_log.is_empty()).then(|| ViewNote::encode_log(&r.view_log))
                    ])
                })
                .map_err(on_insert("secret"))?;
                Ok(())
            })
            .await
    }

    async fn peek(&self, id: &RecordId, now: UnixTime) -> StoreResult<Option<SecretRecord>> {
        let id = *id;
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT id, receipt_id, envelope, has_passphrase, views_left, failures, created_at, expires_at,
                        restricted_to, file
                 FROM secrets WHERE id = ?1 AND views_left > 0 AND expires_at > ?2",
            )?
            .query_row(params![&id.0[..], now], secret_from_row)
            .optional()
        })
        .await
    }

    async fn take_noted(
        &self,
        id: &RecordId,
        now: UnixTime,
        note: Option<&ViewNote>,
    ) -> StoreResult<Option<Taken>> {
        let id = *id;
        let note = note.map(ViewNote::encode);
        self.writer.write(move |conn| take_in(conn, &id, now, false, note.as_deref())).await
    }

    async fn take_unguarded_noted(
        &self,
        id: &RecordId,
        now: UnixTime,
        note: Option<&ViewNote>,
    ) -> StoreResult<Claim> {
        let id = *id;
        let note = note.map(ViewNote::encode);
        self.writer
            .write(move |conn| {
                if let Some(taken) = take_in(conn, &id, now, true, note.as_deref())? {
                    return Ok(Claim::Taken(taken));
                }
                let live = conn
                    .prepare_cached(
                        "SELECT 1 FROM secrets WHERE id = ?1 AND views_left > 0 AND expires_at > ?2",
                    )
                    .and_then(|mut st| st.exists(params![&id.0[..], now]))
                    .map_err(backend)?;
                Ok(if live { Claim::Guarded } else { Claim::Gone })
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
                    delete_secret(conn, &id).map_err(backend)?;
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
                let burned = conn
                    .prepare_cached(&format!(
                        "UPDATE receipts SET state = 'burned', burn_reason = 'sender', updated_at = ?2,
                         sealed_secret_key = NULL WHERE id = ?1 RETURNING {RECEIPT_COLUMNS}"
                    ))
                    .and_then(|mut st| st.query_row(params![&id.0[..], now], receipt_from_row))
                    .map_err(backend)?;
                Ok(Some(BurnOutcome::Burned(burned)))
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
        self.read(move |conn| match before {
            None => {
                let mut st = conn.prepare_cached(&recent_first_sql())?;
                let rows = st.query_map(params![owner, now, limit], receipt_from_row)?;
                rows.collect()
            }
            Some(c) => {
                let mut st = conn.prepare_cached(&recent_after_sql())?;
                let rows =
                    st.query_map(params![owner, now, c.created_at, &c.id.0[..], limit], receipt_from_row)?;
                rows.collect()
            }
        })
        .await
    }

    async fn purge_expired(&self, now: UnixTime, batch: u32) -> StoreResult<u64> {
        self.writer
            .write(move |conn| {
                let secrets = conn
                    .prepare_cached(PURGE_SECRETS)
                    .and_then(|mut st| st.execute(params![now, batch]))
                    .map_err(backend)?;
                let receipts = conn
                    .prepare_cached(PURGE_RECEIPTS)
                    .and_then(|mut st| st.execute(params![now, batch]))
                    .map_err(backend)?;
                // usize → u64 is lossless on every platform Rust supports (usize ≤ 64 bits).
                Ok(secrets as u64 + receipts as u64)
            })
            .await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.read(|conn| conn.query_row("SELECT 1", [], |_| Ok(()))).await
    }

    async fn usage(&self, now: UnixTime) -> StoreResult<Vec<UsageRow>> {
        let mut rows = self
            .read(move |conn| {
                let mut st = conn.prepare_cached(USAGE)?;
                let bad = |i: usize, what: &str| {
                    rusqlite::Error::FromSqlConversionFailure(
                        i,
                        rusqlite::types::Type::Text,
                        format!("unexpected {what}").into(),
                    )
                };
                let rows = st.query_map(params![now], |r| {
                    let state: String = r.get(1)?;
                    let state = UsageState::ALL
                        .into_iter()
                        .find(|s| s.as_str() == state)
                        .ok_or_else(|| bad(1, "receipt state"))?;
                    // Counts and sums of lengths are never negative.
                    let count = |i: usize| u64::try_from(r.get::<_, i64>(i)?).map_err(|_| bad(i, "count"));
                    Ok(UsageRow { day: r.get(0)?, state, receipts: count(2)?, secret_bytes: count(3)? })
                })?;
                rows.collect::<rusqlite::Result<Vec<UsageRow>>>()
            })
            .await?;
        rows.sort_by_key(|r| (r.day, r.state));
        Ok(rows)
    }

    async fn register_keys(&self, keys: &[(String, [u8; 32])]) -> StoreResult<Vec<(String, [u8; 32])>> {
        let keys = keys.to_vec();
        self.writer
            .write(move |conn| {
                let mut insert = conn
                    .prepare_cached("INSERT OR IGNORE INTO master_keys (id, fingerprint) VALUES (?1, ?2)")
                    .map_err(backend)?;
                for (id, fingerprint) in &keys {
                    insert.execute(params![id, &fingerprint[..]]).map_err(backend)?;
                }
                let mut select =
                    conn.prepare_cached("SELECT id, fingerprint FROM master_keys").map_err(backend)?;
                let rows = select
                    .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?)))
                    .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                    .map_err(backend)?;
                rows.into_iter()
                    .map(|(id, f)| {
                        <[u8; 32]>::try_from(f.as_slice()).map(|f| (id, f)).map_err(|_| {
                            backend(schema::setup_error("malformed master key fingerprint".into()))
                        })
                    })
                    .collect()
            })
            .await
    }
}

/// Appends `?3` (an encoded view note, or NULL for none) to `view_log` by [`ViewNote::append`]'s
/// rule: the first note alone, nothing once the log reached the cap, else `;` and the note.
/// A macro, so that the statements below that use it are string constants.
macro_rules! append_view_note {
    () => {
        "view_log = CASE
         WHEN ?3 IS NULL THEN view_log
         WHEN view_log IS NULL OR view_log = '' THEN ?3
         WHEN length(CAST(view_log AS BLOB)) >= 4096 THEN view_log
         ELSE view_log || ';' || ?3 END"
    };
}
// The cap written out above.
const _: () = assert!(once_store::VIEW_LOG_MAX_BYTES == 4096);

/// The last view of a live secret: the row goes at once.
const TAKE_LAST: &str = "DELETE FROM secrets WHERE id = ?1 AND views_left = 1 AND expires_at > ?2
     RETURNING envelope, receipt_id";
/// [`TAKE_LAST`] for a secret without a passphrase only.
const TAKE_LAST_UNGUARDED: &str = "DELETE FROM secrets
     WHERE id = ?1 AND views_left = 1 AND expires_at > ?2 AND has_passphrase = 0
     RETURNING envelope, receipt_id";
/// A view of a live secret that has more left.
const TAKE_ONE: &str = "UPDATE secrets SET views_left = views_left - 1
     WHERE id = ?1 AND views_left > 1 AND expires_at > ?2
     RETURNING envelope, views_left, receipt_id";
/// [`TAKE_ONE`] for a secret without a passphrase only.
const TAKE_ONE_UNGUARDED: &str = "UPDATE secrets SET views_left = views_left - 1
     WHERE id = ?1 AND views_left > 1 AND expires_at > ?2 AND has_passphrase = 0
     RETURNING envelope, views_left, receipt_id";
const RECEIPT_LAST_VIEW: &str = concat!(
    "UPDATE receipts SET views = views + 1, updated_at = ?2, state = 'received', received_at = ?2,
     sealed_secret_key = NULL, ",
    append_view_note!(),
    " WHERE id = ?1"
);
const RECEIPT_VIEW: &str = concat!(
    "UPDATE receipts SET views = views + 1, updated_at = ?2, ",
    append_view_note!(),
    " WHERE id = ?1"
);

/// The one-time claim, inside the writer's transaction. With `unguarded_only`, a secret with a
/// passphrase is not claimed. `note` goes to the receipt's view log.
///
/// The last view deletes the row in one statement; most secrets have one view, so most reveals
/// run two statements (this delete and the receipt's update), not three.
fn take_in(
    conn: &Connection,
    id: &RecordId,
    now: UnixTime,
    unguarded_only: bool,
    note: Option<&str>,
) -> StoreResult<Option<Taken>> {
    let (take_last, take_one) =
        if unguarded_only { (TAKE_LAST_UNGUARDED, TAKE_ONE_UNGUARDED) } else { (TAKE_LAST, TAKE_ONE) };
    let last = conn
        .prepare_cached(take_last)
        .and_then(|mut st| {
            st.query_row(params![&id.0[..], now], |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, Vec<u8>>(1)?)))
                .optional()
        })
        .map_err(backend)?;
    let (envelope, views_left, receipt_id, receipt_sql) = match last {
        Some((envelope, receipt_id)) => (envelope, 0, receipt_id, RECEIPT_LAST_VIEW),
        None => {
            let claimed = conn
                .prepare_cached(take_one)
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
            (envelope, views_left, receipt_id, RECEIPT_VIEW)
        }
    };
    conn.prepare_cached(receipt_sql)
        .and_then(|mut st| st.execute(params![receipt_id, now, note]))
        .map_err(backend)?;
    Ok(Some(Taken { envelope, views_left }))
}

#[async_trait]
impl AccountStore for SqliteStore {
    async fn add_account(&self, account: Account, key: Option<ApiKeyRecord>) -> StoreResult<()> {
        self.writer
            .write(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO accounts (id, email, role, created_at, disabled) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .and_then(|mut st| {
                    st.execute(params![
                        account.id.0,
                        account.email,
                        account.role.as_str(),
                        account.created_at,
                        b(account.disabled)
                    ])
                })
                .map_err(on_insert("account"))?;
                match &key {
                    Some(key) => insert_api_key(conn, key),
                    None => Ok(()),
                }
            })
            .await
    }

    async fn set_disabled(&self, account: &AccountId, disabled: bool) -> StoreResult<bool> {
        let account = account.0.clone();
        self.writer
            .write(move |conn| {
                let n = conn
                    .prepare_cached("UPDATE accounts SET disabled = ?2 WHERE id = ?1")
                    .and_then(|mut st| st.execute(params![account, b(disabled)]))
                    .map_err(backend)?;
                Ok(n == 1)
            })
            .await
    }

    async fn set_role(&self, account: &AccountId, role: Role) -> StoreResult<bool> {
        let account = account.0.clone();
        self.writer
            .write(move |conn| {
                let n = conn
                    .prepare_cached("UPDATE accounts SET role = ?2 WHERE id = ?1")
                    .and_then(|mut st| st.execute(params![account, role.as_str()]))
                    .map_err(backend)?;
                Ok(n == 1)
            })
            .await
    }

    async fn account(&self, id: &AccountId) -> StoreResult<Option<Account>> {
        let id = id.0.clone();
        self.read(move |conn| {
            conn.prepare_cached("SELECT id, email, role, created_at, disabled FROM accounts WHERE id = ?1")?
                .query_row(params![id], |r| account_at(r, 0))
                .optional()
        })
        .await
    }

    async fn account_by_email(&self, email: &str) -> StoreResult<Option<Account>> {
        let email = email.to_owned();
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT id, email, role, created_at, disabled FROM accounts WHERE email = ?1",
            )?
            .query_row(params![email], |r| account_at(r, 0))
            .optional()
        })
        .await
    }

    async fn accounts(&self) -> StoreResult<Vec<Account>> {
        self.read(|conn| {
            let mut st = conn.prepare_cached(
                "SELECT id, email, role, created_at, disabled FROM accounts ORDER BY created_at, id",
            )?;
            let rows = st.query_map([], |r| account_at(r, 0))?;
            rows.collect()
        })
        .await
    }

    async fn accounts_page(
        &self,
        search: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<Account>> {
        // Every e-mail sorts after the empty string; `instr` (not LIKE) so `%` and `_` are
        // plain characters.
        let after = after.unwrap_or("").to_owned();
        let search = search.map(str::to_lowercase);
        self.read(move |conn| {
            let mut st = conn.prepare_cached(ACCOUNTS_PAGE)?;
            let rows = st.query_map(params![after, search, limit], |r| account_at(r, 0))?;
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
                        k.scopes, k.expires_at, k.revoked_at,
                        a.id, a.email, a.role, a.created_at, a.disabled
                 FROM api_keys k JOIN accounts a ON a.id = k.account_id WHERE k.hash = ?1",
            )?
            .query_row(params![&hash[..]], |r| {
                Ok((api_key_from_row(r)?, account_at(r, API_KEY_COLUMN_COUNT)?))
            })
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

    async fn api_keys_of(&self, account: &AccountId) -> StoreResult<Vec<ApiKeyRecord>> {
        let account = account.0.clone();
        self.read(move |conn| {
            let mut st = conn.prepare_cached(&api_keys_of_sql())?;
            let rows = st.query_map(params![account], api_key_from_row)?;
            rows.collect()
        })
        .await
    }

    async fn revoke_api_key(&self, account: &AccountId, hash: &[u8; 32], now: UnixTime) -> StoreResult<bool> {
        let (account, hash) = (account.0.clone(), *hash);
        self.writer
            .write(move |conn| {
                let n = conn
                    .prepare_cached(
                        "UPDATE api_keys SET revoked_at = ?3
                         WHERE hash = ?1 AND account_id = ?2 AND revoked_at IS NULL",
                    )
                    .and_then(|mut st| st.execute(params![&hash[..], account, now]))
                    .map_err(backend)?;
                Ok(n == 1)
            })
            .await
    }

    async fn set_totp(
        &self,
        account: &AccountId,
        totp: Option<TotpRecord>,
        recovery_hashes: &[[u8; 32]],
    ) -> StoreResult<bool> {
        let account = account.0.clone();
        let hashes = recovery_hashes.to_vec();
        self.writer
            .write(move |conn| {
                let exists = conn
                    .prepare_cached("SELECT 1 FROM accounts WHERE id = ?1")
                    .and_then(|mut st| st.exists(params![account]))
                    .map_err(backend)?;
                if !exists {
                    return Ok(false);
                }
                // The last accepted step (`totp_steps`) stays: a code used before re-enrolment
                // can't be replayed after it.
                conn.prepare_cached("DELETE FROM recovery_codes WHERE account_id = ?1")
                    .and_then(|mut st| st.execute(params![account]))
                    .map_err(backend)?;
                match &totp {
                    Some(t) => {
                        conn.prepare_cached(
                            "INSERT INTO totp (account_id, sealed_secret, enabled_at) VALUES (?1, ?2, ?3)
                             ON CONFLICT (account_id) DO UPDATE
                             SET sealed_secret = excluded.sealed_secret, enabled_at = excluded.enabled_at",
                        )
                        .and_then(|mut st| st.execute(params![account, t.sealed_secret, t.enabled_at]))
                        .map_err(backend)?;
                        let mut insert = conn
                            .prepare_cached(
                                "INSERT OR IGNORE INTO recovery_codes (account_id, hash) VALUES (?1, ?2)",
                            )
                            .map_err(backend)?;
                        for h in &hashes {
                            insert.execute(params![account, &h[..]]).map_err(backend)?;
                        }
                    }
                    None => {
                        conn.prepare_cached("DELETE FROM totp WHERE account_id = ?1")
                            .and_then(|mut st| st.execute(params![account]))
                            .map_err(backend)?;
                    }
                }
                Ok(true)
            })
            .await
    }

    async fn totp(&self, account: &AccountId) -> StoreResult<Option<TotpRecord>> {
        let account = account.0.clone();
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT sealed_secret, enabled_at,
                        (SELECT count(*) FROM recovery_codes WHERE account_id = ?1)
                 FROM totp WHERE account_id = ?1",
            )?
            .query_row(params![account], |r| {
                Ok(TotpRecord {
                    sealed_secret: r.get(0)?,
                    enabled_at: r.get(1)?,
                    recovery_codes_left: r.get(2)?,
                })
            })
            .optional()
        })
        .await
    }

    async fn use_recovery_code(&self, account: &AccountId, hash: &[u8; 32]) -> StoreResult<bool> {
        let (account, hash) = (account.0.clone(), *hash);
        self.writer
            .write(move |conn| {
                let n = conn
                    .prepare_cached("DELETE FROM recovery_codes WHERE account_id = ?1 AND hash = ?2")
                    .and_then(|mut st| st.execute(params![account, &hash[..]]))
                    .map_err(backend)?;
                Ok(n == 1)
            })
            .await
    }

    async fn use_totp_step(&self, account: &AccountId, step: u64) -> StoreResult<bool> {
        let account = account.0.clone();
        // Steps are Unix seconds / 30: far below i64::MAX; one beyond it can never be fresh.
        let Ok(step) = i64::try_from(step) else { return Ok(false) };
        if step <= 0 {
            return Ok(false);
        }
        self.writer
            .write(move |conn| {
                // One statement: insert the first step, or move it forward only. Inside the
                // writer's transaction, so two instances on one file can't both see the old step.
                let changed = conn
                    .prepare_cached(
                        "INSERT INTO totp_steps (account_id, last_step) VALUES (?1, ?2)
                         ON CONFLICT (account_id) DO UPDATE SET last_step = excluded.last_step
                         WHERE last_step < excluded.last_step",
                    )
                    .and_then(|mut st| st.execute(params![account, step]));
                match changed {
                    Ok(n) => Ok(n == 1),
                    Err(e) if e.sqlite_extended_error_code() == Some(ffi::SQLITE_CONSTRAINT_FOREIGNKEY) => {
                        Ok(false)
                    }
                    Err(e) => Err(backend(e)),
                }
            })
            .await
    }

    async fn set_password_hash(&self, account: &AccountId, phc: &str) -> StoreResult<bool> {
        let (account, phc) = (account.0.clone(), phc.to_owned());
        self.writer
            .write(move |conn| {
                let set = conn
                    .prepare_cached(
                        "INSERT INTO passwords (account_id, phc) VALUES (?1, ?2)
                         ON CONFLICT (account_id) DO UPDATE SET phc = excluded.phc",
                    )
                    .and_then(|mut st| st.execute(params![account, phc]));
                match set {
                    Ok(n) => Ok(n == 1),
                    Err(e) if e.sqlite_extended_error_code() == Some(ffi::SQLITE_CONSTRAINT_FOREIGNKEY) => {
                        Ok(false)
                    }
                    Err(e) => Err(backend(e)),
                }
            })
            .await
    }

    async fn set_password(&self, account: &AccountId, phc: &str, vault: &[u8]) -> StoreResult<bool> {
        let (account, phc, vault) = (account.0.clone(), phc.to_owned(), vault.to_vec());
        self.writer
            .write(move |conn| {
                let set = conn
                    .prepare_cached(
                        "INSERT INTO passwords (account_id, phc, vault) VALUES (?1, ?2, ?3)
                         ON CONFLICT (account_id) DO UPDATE SET phc = excluded.phc, vault = excluded.vault",
                    )
                    .and_then(|mut st| st.execute(params![account, phc, vault]));
                match set {
                    Ok(n) => Ok(n == 1),
                    Err(e) if e.sqlite_extended_error_code() == Some(ffi::SQLITE_CONSTRAINT_FOREIGNKEY) => {
                        Ok(false)
                    }
                    Err(e) => Err(backend(e)),
                }
            })
            .await
    }

    async fn password_vault(&self, account: &AccountId) -> StoreResult<Option<Vec<u8>>> {
        let account = account.0.clone();
        self.read(move |conn| {
            conn.prepare_cached("SELECT vault FROM passwords WHERE account_id = ?1")?
                .query_row(params![account], |r| r.get::<_, Option<Vec<u8>>>(0))
                .optional()
                .map(Option::flatten)
        })
        .await
    }

    async fn password_hash(&self, account: &AccountId) -> StoreResult<Option<String>> {
        let account = account.0.clone();
        self.read(move |conn| {
            conn.prepare_cached("SELECT phc FROM passwords WHERE account_id = ?1")?
                .query_row(params![account], |r| r.get(0))
                .optional()
        })
        .await
    }
}

/// Dead sessions (no longer live at `?1`), oldest deadline first, `?2` at most.
const PURGE_SESSIONS: &str = "DELETE FROM sessions WHERE hash IN (SELECT hash FROM sessions WHERE ends_at <= ?1 ORDER BY ends_at LIMIT ?2)";

#[async_trait]
impl SessionStore for SqliteStore {
    async fn create_session(&self, session: SessionRecord) -> StoreResult<()> {
        self.writer
            .write(move |conn| {
                conn.prepare_cached(
                    "INSERT INTO sessions (hash, account_id, created_at, last_seen_at, idle_timeout, expires_at,
                                           ends_at, second_factor, client, vault)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .and_then(|mut st| {
                    st.execute(params![
                        &session.hash[..],
                        session.account_id.0,
                        session.created_at,
                        session.last_seen_at,
                        session.idle_timeout,
                        session.expires_at,
                        session.ends_at(),
                        i64::from(session.second_factor),
                        session.client,
                        session.vault,
                    ])
                })
                .map_err(|e| match e.sqlite_extended_error_code() {
                    Some(ffi::SQLITE_CONSTRAINT_PRIMARYKEY) => StoreError::Conflict("session"),
                    Some(ffi::SQLITE_CONSTRAINT_FOREIGNKEY) => StoreError::Conflict("unknown account"),
                    _ => backend(e),
                })?;
                Ok(())
            })
            .await
    }

    async fn session(&self, hash: &[u8; 32], now: UnixTime) -> StoreResult<Option<SessionRecord>> {
        let hash = *hash;
        self.read(move |conn| {
            conn.prepare_cached(&format!(
                "SELECT {SESSION_COLUMNS} FROM sessions WHERE hash = ?1 AND ends_at > ?2"
            ))?
            .query_row(params![&hash[..], now], session_from_row)
            .optional()
        })
        .await
    }

    async fn touch_session(&self, hash: &[u8; 32], now: UnixTime) -> StoreResult<()> {
        let hash = *hash;
        self.writer
            .write(move |conn| {
                conn.prepare_cached(
                    "UPDATE sessions SET last_seen_at = ?2, ends_at = min(expires_at, ?2 + idle_timeout)
                     WHERE hash = ?1 AND ends_at > ?2 AND last_seen_at < ?2",
                )
                .and_then(|mut st| st.execute(params![&hash[..], now]))
                .map_err(backend)?;
                Ok(())
            })
            .await
    }

    async fn end_session(&self, hash: &[u8; 32]) -> StoreResult<bool> {
        let hash = *hash;
        self.writer
            .write(move |conn| {
                let n = conn
                    .prepare_cached("DELETE FROM sessions WHERE hash = ?1")
                    .and_then(|mut st| st.execute(params![&hash[..]]))
                    .map_err(backend)?;
                Ok(n > 0)
            })
            .await
    }

    async fn end_sessions_of(&self, account: &AccountId) -> StoreResult<u64> {
        let account = account.0.clone();
        self.writer
            .write(move |conn| {
                let n = conn
                    .prepare_cached("DELETE FROM sessions WHERE account_id = ?1")
                    .and_then(|mut st| st.execute(params![account]))
                    .map_err(backend)?;
                Ok(n as u64)
            })
            .await
    }

    async fn sessions_of(&self, account: &AccountId, now: UnixTime) -> StoreResult<Vec<SessionRecord>> {
        let account = account.0.clone();
        self.read(move |conn| {
            let mut st = conn.prepare_cached(&format!(
                "SELECT {SESSION_COLUMNS} FROM sessions WHERE account_id = ?1 AND ends_at > ?2
                 ORDER BY created_at DESC, hash DESC"
            ))?;
            let rows = st.query_map(params![account, now], session_from_row)?;
            rows.collect()
        })
        .await
    }

    async fn purge_sessions(&self, now: UnixTime, batch: u32) -> StoreResult<u64> {
        self.writer
            .write(move |conn| {
                let n = conn
                    .prepare_cached(PURGE_SESSIONS)
                    .and_then(|mut st| st.execute(params![now, batch]))
                    .map_err(backend)?;
                Ok(n as u64)
            })
            .await
    }
}

/// An account's keys, newest first (`api_keys_account` index; an account has a few keys, so they
/// are sorted after the lookup).
fn api_keys_of_sql() -> String {
    format!(
        "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE account_id = ?1 ORDER BY created_at DESC, hash DESC"
    )
}

/// Subjects locked at `?1`, soonest end first, `?2` at most (`lockouts_locked_until` index).
const LOCKED: &str = "SELECT subject, locked_until FROM lockouts WHERE locked_until > ?1
     ORDER BY locked_until, subject LIMIT ?2";

/// A lockout row: failures in the round, the last failure's time, the lock's end (if it locked).
#[derive(Clone, Copy, Default)]
struct Counter {
    failures: u32,
    last_failure: UnixTime,
    locked_until: Option<UnixTime>,
}

impl Counter {
    fn read(conn: &Connection, subject: &str) -> rusqlite::Result<Option<Counter>> {
        conn.prepare_cached("SELECT failures, last_failure, locked_until FROM lockouts WHERE subject = ?1")?
            .query_row(params![subject], |r| {
                Ok(Counter { failures: r.get(0)?, last_failure: r.get(1)?, locked_until: r.get(2)? })
            })
            .optional()
    }

    /// The state at `now`: a lock that has ended, or a round whose last failure is `window`
    /// seconds old, counts as nothing.
    fn at(self, window: i64, now: UnixTime) -> Lockout {
        match self.locked_until {
            Some(until) if until > now => Lockout { failures: self.failures, locked_until: Some(until) },
            Some(_) => Lockout::default(),
            None if now.saturating_sub(self.last_failure) >= window => Lockout::default(),
            None => Lockout { failures: self.failures, locked_until: None },
        }
    }
}

#[async_trait]
impl LockoutStore for SqliteStore {
    async fn lockout_failure(
        &self,
        subject: &str,
        limit: u32,
        window: i64,
        lock_secs: i64,
        now: UnixTime,
    ) -> StoreResult<Lockout> {
        let subject = subject.to_owned();
        self.writer
            .write(move |conn| {
                // Read and write inside the writer's transaction (`BEGIN IMMEDIATE`): no other
                // connection or process can count in between.
                let state = Counter::read(conn, &subject).map_err(backend)?.unwrap_or_default().at(window, now);
                if state.locked_until.is_some() {
                    return Ok(state);
                }
                let failures = state.failures.saturating_add(1);
                let counter = Counter {
                    failures,
                    last_failure: now,
                    locked_until: (failures >= limit).then(|| now.saturating_add(lock_secs)),
                };
                conn.prepare_cached(
                    "INSERT INTO lockouts (subject, failures, last_failure, locked_until) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (subject) DO UPDATE SET failures = excluded.failures,
                         last_failure = excluded.last_failure, locked_until = excluded.locked_until",
                )
                .and_then(|mut st| {
                    st.execute(params![subject, counter.failures, counter.last_failure, counter.locked_until])
                })
                .map_err(backend)?;
                Ok(counter.at(window, now))
            })
            .await
    }

    async fn lockout(&self, subject: &str, window: i64, now: UnixTime) -> StoreResult<Lockout> {
        let subject = subject.to_owned();
        self.read(move |conn| {
            Ok(Counter::read(conn, &subject)?.map_or_else(Lockout::default, |c| c.at(window, now)))
        })
        .await
    }

    async fn clear_lockout(&self, subject: &str) -> StoreResult<()> {
        let subject = subject.to_owned();
        self.writer
            .write(move |conn| {
                conn.prepare_cached("DELETE FROM lockouts WHERE subject = ?1")
                    .and_then(|mut st| st.execute(params![subject]))
                    .map_err(backend)?;
                Ok(())
            })
            .await
    }

    async fn locked(&self, now: UnixTime, limit: u32) -> StoreResult<Vec<(String, UnixTime)>> {
        self.read(move |conn| {
            let mut st = conn.prepare_cached(LOCKED)?;
            let rows = st.query_map(params![now, limit], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
        .await
    }
}

/// The head of the audit chain: its last record (by rowid, backwards).
const AUDIT_HEAD: &str = "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1";
/// The oldest `?1` audit records, for pruning (by rowid).
const AUDIT_OLDEST: &str = "SELECT seq, hash, time FROM audit ORDER BY seq LIMIT ?1";

/// Up to `?2` audit records after `?1` (a rowid range).
fn audit_after_sql() -> String {
    format!("SELECT {AUDIT_COLUMNS} FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2")
}

fn audit_anchor_in(conn: &Connection) -> rusqlite::Result<AuditAnchor> {
    conn.prepare_cached("SELECT seq, hash FROM audit_anchor WHERE id = 1")?
        .query_row([], audit_anchor_from_row)
        .optional()
        .map(Option::unwrap_or_default)
}

#[async_trait]
impl ContentStore for SqliteStore {
    async fn put_chunk(
        &self,
        id: &RecordId,
        index: u32,
        bytes: Vec<u8>,
        _now: UnixTime,
        expires_at: UnixTime,
    ) -> StoreResult<()> {
        let id = *id;
        self.writer
            .write(move |conn| {
                conn.prepare_cached(
                    "INSERT OR REPLACE INTO chunks (secret_id, idx, expires_at, bytes) VALUES (?1, ?2, ?3, ?4)",
                )
                .and_then(|mut st| st.execute(params![&id.0[..], index, expires_at, bytes]))
                .map_err(backend)?;
                Ok(())
            })
            .await
    }

    async fn chunk(&self, id: &RecordId, index: u32, now: UnixTime) -> StoreResult<Option<Vec<u8>>> {
        let id = *id;
        self.read(move |conn| {
            conn.prepare_cached(
                "SELECT bytes FROM chunks WHERE secret_id = ?1 AND idx = ?2 AND expires_at > ?3",
            )?
            .query_row(params![&id.0[..], index, now], |r| r.get(0))
            .optional()
        })
        .await
    }

    async fn drop_chunks(&self, id: &RecordId) -> StoreResult<()> {
        let id = *id;
        self.writer
            .write(move |conn| {
                conn.prepare_cached("DELETE FROM chunks WHERE secret_id = ?1")
                    .and_then(|mut st| st.execute(params![&id.0[..]]))
                    .map_err(backend)?;
                Ok(())
            })
            .await
    }

    async fn purge_chunks(&self, now: UnixTime, batch: u32) -> StoreResult<u64> {
        self.writer
            .write(move |conn| {
                let n = conn
                    .prepare_cached(PURGE_CHUNKS)
                    .and_then(|mut st| st.execute(params![now, batch]))
                    .map_err(backend)?;
                // usize → u64 is lossless on every platform Rust supports (usize ≤ 64 bits).
                Ok(n as u64)
            })
            .await
    }
}

/// Rate limits live in this process's memory, not in the database: a check on every create and
/// reveal would otherwise be a write, queued to the one writer thread and committed before the
/// request could go on, competing with the writes that matter. So the limits count per process
/// and start empty at each start: several processes on one file each allow the whole limit.
#[async_trait]
impl RateLimitStore for SqliteStore {
    async fn rate_hit(&self, key: &str, limit: u32, period_ms: i64, now_ms: i64) -> StoreResult<Option<i64>> {
        Ok(self.rates.hit(key, limit, period_ms, now_ms))
    }
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append_audit(&self, entries: &[AuditEntry]) -> StoreResult<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let entries = entries.to_vec();
        self.writer
            .write(move |conn| {
                // Read the head and insert after it inside the writer's transaction (`BEGIN
                // IMMEDIATE`): no other connection or process can append in between, so the chain
                // never forks. Operations of one group run one after the other, each seeing the
                // records of those before it.
                let last = conn
                    .prepare_cached(AUDIT_HEAD)
                    .and_then(|mut st| st.query_row([], audit_anchor_from_row).optional())
                    .map_err(backend)?;
                let head = match last {
                    Some(head) => head,
                    None => audit_anchor_in(conn).map_err(backend)?,
                };
                let mut insert = conn
                    .prepare_cached(
                        "INSERT INTO audit (seq, time, event, outcome, actor, client, record, detail, prev, hash)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                    )
                    .map_err(backend)?;
                for r in once_store::audit::chain(head, &entries) {
                    let seq = i64::try_from(r.seq)
                        .map_err(|_| backend(schema::setup_error("audit sequence number beyond i64".into())))?;
                    let e = &r.entry;
                    insert
                        .execute(params![
                            seq,
                            e.time,
                            e.event,
                            e.outcome,
                            e.actor,
                            e.client,
                            e.record,
                            e.detail,
                            &r.prev[..],
                            &r.hash[..]
                        ])
                        .map_err(backend)?;
                }
                Ok(())
            })
            .await
    }

    async fn audit_after(&self, after: u64, limit: u32) -> StoreResult<Vec<AuditRecord>> {
        // Sequence numbers are SQLite integers: none lies beyond i64::MAX.
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        self.read(move |conn| {
            let mut st = conn.prepare_cached(&audit_after_sql())?;
            let rows = st.query_map(params![after, limit], audit_record_from_row)?;
            rows.collect()
        })
        .await
    }

    async fn audit_before(&self, before: u64, limit: u32) -> StoreResult<Vec<AuditRecord>> {
        let before = i64::try_from(before).unwrap_or(i64::MAX);
        self.read(move |conn| {
            let mut st = conn.prepare_cached(&format!(
                "SELECT {AUDIT_COLUMNS} FROM audit WHERE seq < ?1 ORDER BY seq DESC LIMIT ?2"
            ))?;
            let rows = st.query_map(params![before, limit], audit_record_from_row)?;
            rows.collect()
        })
        .await
    }

    async fn audit_anchor(&self) -> StoreResult<AuditAnchor> {
        self.read(audit_anchor_in).await
    }

    async fn prune_audit(&self, before: UnixTime, batch: u32) -> StoreResult<u64> {
        self.writer
            .write(move |conn| {
                // The oldest records while they are older than `before`: the first one that is
                // not ends the run, whatever follows it.
                let mut removed = 0u64;
                let mut last: Option<(i64, Vec<u8>)> = None;
                {
                    let mut st = conn.prepare_cached(AUDIT_OLDEST).map_err(backend)?;
                    let mut rows = st.query(params![batch]).map_err(backend)?;
                    while let Some(row) = rows.next().map_err(backend)? {
                        if row.get::<_, UnixTime>(2).map_err(backend)? >= before {
                            break;
                        }
                        last = Some((row.get(0).map_err(backend)?, row.get(1).map_err(backend)?));
                        removed += 1;
                    }
                }
                let Some((seq, hash)) = last else { return Ok(0) };
                // The records removed and the anchor moved in one transaction: the rest always
                // verifies from the anchor.
                conn.prepare_cached("DELETE FROM audit WHERE seq <= ?1")
                    .and_then(|mut st| st.execute(params![seq]))
                    .map_err(backend)?;
                conn.prepare_cached(
                    "INSERT INTO audit_anchor (id, seq, hash) VALUES (1, ?1, ?2)
                     ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
                )
                .and_then(|mut st| st.execute(params![seq, hash]))
                .map_err(backend)?;
                Ok(removed)
            })
            .await
    }
}

fn insert_api_key(conn: &Connection, key: &ApiKeyRecord) -> StoreResult<()> {
    conn.prepare_cached(&format!(
        "INSERT INTO api_keys ({API_KEY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
    ))
    .and_then(|mut st| {
        st.execute(params![
            &key.hash[..],
            key.account_id.0,
            key.name,
            key.created_at,
            key.last_used_at,
            key.wrapped_vault_key,
            key.scopes.bits(),
            key.expires_at,
            key.revoked_at
        ])
    })
    .map_err(|e| match e.sqlite_extended_error_code() {
        Some(ffi::SQLITE_CONSTRAINT_PRIMARYKEY) => StoreError::Conflict("api key"),
        Some(ffi::SQLITE_CONSTRAINT_FOREIGNKEY) => StoreError::Conflict("unknown account"),
        _ => backend(e),
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(conn: &Connection, sql: &str) -> String {
        let mut st = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).expect("explain");
        let nulls = std::iter::repeat_n(rusqlite::types::Null, st.parameter_count());
        let rows = st.query_map(rusqlite::params_from_iter(nulls), |r| r.get::<_, String>(3)).expect("rows");
        rows.map(|r| r.expect("row")).collect::<Vec<_>>().join(" | ")
    }

    fn schema_only() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("once.db");
        drop(SqliteStore::open(&path).expect("create schema"));
        let conn = Connection::open(&path).expect("open");
        (dir, conn)
    }

    #[test]
    fn the_sweeper_finds_expired_rows_by_index() {
        let (_dir, conn) = schema_only();
        let secrets = plan(&conn, PURGE_SECRETS);
        assert!(secrets.contains("USING COVERING INDEX secrets_expires_at (expires_at<?)"), "{secrets}");
        let receipts = plan(&conn, PURGE_RECEIPTS);
        assert!(receipts.contains("USING COVERING INDEX receipts_expires_at (expires_at<?)"), "{receipts}");
        let chunks = plan(&conn, PURGE_CHUNKS);
        assert!(chunks.contains("USING COVERING INDEX chunks_expires_at (expires_at<?)"), "{chunks}");
    }

    #[test]
    fn sessions_are_found_by_index() {
        let (_dir, conn) = schema_only();
        let purge = plan(&conn, PURGE_SESSIONS);
        assert!(purge.contains("USING COVERING INDEX sessions_ends_at (ends_at<?)"), "{purge}");
        let list = plan(
            &conn,
            "SELECT hash FROM sessions WHERE account_id = ?1 AND ends_at > ?2 ORDER BY created_at DESC, hash DESC",
        );
        assert!(list.contains("USING INDEX sessions_account (account_id=?)"), "{list}");
    }

    #[test]
    fn recent_seeks_the_owner_index() {
        let (_dir, conn) = schema_only();
        let first = plan(&conn, &recent_first_sql());
        assert!(first.contains("USING INDEX receipts_owner_recent (owner=?)"), "{first}");
        assert!(!first.contains("TEMP B-TREE"), "no sort: {first}");
        let after = plan(&conn, &recent_after_sql());
        assert!(
            after.contains("USING INDEX receipts_owner_recent (owner=? AND"),
            "seeks past the cursor: {after}"
        );
        assert!(!after.contains("TEMP B-TREE"), "no sort: {after}");
    }

    #[test]
    fn account_pages_seek_the_email_index() {
        let (_dir, conn) = schema_only();
        let page = plan(&conn, ACCOUNTS_PAGE);
        assert!(page.contains("(email>?)"), "seeks past the cursor: {page}");
        assert!(!page.contains("TEMP B-TREE"), "no sort: {page}");
        let usage = plan(&conn, USAGE);
        assert!(usage.contains("USING PRIMARY KEY (id=?)"), "secrets by key: {usage}");
    }

    #[test]
    fn locks_and_keys_are_found_by_index() {
        let (_dir, conn) = schema_only();
        let locked = plan(&conn, LOCKED);
        assert!(locked.contains("USING COVERING INDEX lockouts_locked_until (locked_until>?)"), "{locked}");
        assert!(!locked.contains("TEMP B-TREE"), "no sort: {locked}");
        let keys = plan(&conn, &api_keys_of_sql());
        assert!(keys.contains("USING INDEX api_keys_account (account_id=?)"), "{keys}");
        let codes = plan(&conn, "DELETE FROM recovery_codes WHERE account_id = ?1 AND hash = ?2");
        assert!(codes.contains("USING PRIMARY KEY (account_id=? AND hash=?)"), "{codes}");
    }

    #[test]
    fn point_lookups_use_primary_keys() {
        let (_dir, conn) = schema_only();
        let take = plan(
            &conn,
            "UPDATE secrets SET views_left = views_left - 1 WHERE id = ?1 AND views_left > 0 AND expires_at > ?2
             RETURNING envelope, views_left, receipt_id",
        );
        assert!(take.contains("USING PRIMARY KEY (id=?)"), "{take}");
        let receipt =
            plan(&conn, &format!("SELECT {RECEIPT_COLUMNS} FROM receipts WHERE id = ?1 AND expires_at > ?2"));
        assert!(receipt.contains("USING PRIMARY KEY (id=?)"), "{receipt}");
    }

    #[test]
    fn the_audit_trail_is_walked_by_rowid() {
        let (_dir, conn) = schema_only();
        for sql in [AUDIT_HEAD, AUDIT_OLDEST, &audit_after_sql(), "DELETE FROM audit WHERE seq <= ?1"] {
            let plan = plan(&conn, sql);
            assert!(!plan.contains("TEMP B-TREE"), "no sort: {plan}");
            assert!(!plan.contains("INDEX"), "the table itself, in seq order: {plan}");
        }
        let after = plan(&conn, &audit_after_sql());
        assert!(after.contains("USING INTEGER PRIMARY KEY (rowid>?)"), "seeks past `after`: {after}");
    }

    #[test]
    fn the_schema_is_at_the_latest_version_with_our_pragmas() {
        let (_dir, conn) = schema_only();
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).expect("version");
        assert_eq!(version, schema::MIGRATIONS.len() as i64);
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).expect("mode");
        assert_eq!(mode, "wal");
        let store_conn =
            schema::connect(&conn.path().map(PathBuf::from).expect("path"), Duration::from_secs(5))
                .expect("connect");
        let sync: i64 = store_conn.query_row("PRAGMA synchronous", [], |r| r.get(0)).expect("sync");
        assert_eq!(sync, 1, "NORMAL");
        let fk: i64 = store_conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0)).expect("fk");
        assert_eq!(fk, 1);
        let timeout: i64 = store_conn.query_row("PRAGMA busy_timeout", [], |r| r.get(0)).expect("timeout");
        assert_eq!(timeout, 5000);
    }
}
