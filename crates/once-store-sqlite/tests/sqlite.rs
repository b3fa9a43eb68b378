//! SQLite-only properties: several stores and processes on one file, durability, migrations,
//! group-commit isolation, WAL growth. (Query plans are checked by unit tests in `src/lib.rs`.)

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use once_store::conformance::{NOW, account, fresh_id, pair};
use once_store::{
    AccountStore, AuditAnchor, AuditEntry, AuditStore, BurnOutcome, ContentStore, FailureOutcome,
    LockoutStore, RateLimitStore, ReceiptState, RecordId, Scopes, SecretStore, Store, StoreError, audit,
};
use once_store_sqlite::{SqliteOptions, SqliteStore};

fn db() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("once.db");
    (dir, path)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_file_claim_exactly_once() {
    let (_dir, path) = db();
    let a: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).expect("a"));
    let b: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).expect("b"));
    for views in [1u32, 3] {
        let (secret, receipt) = pair(views, 600, None, NOW);
        let id = secret.id;
        a.create(secret, receipt.clone()).await.expect("create");
        let barrier = Arc::new(tokio::sync::Barrier::new(200));
        let mut tasks = Vec::new();
        for i in 0..200 {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            let barrier = barrier.clone();
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                store.take(&id, NOW).await.expect("take").is_some()
            }));
        }
        let mut wins = 0;
        for t in tasks {
            wins += usize::from(t.await.expect("task"));
        }
        assert_eq!(wins, views as usize);
        for store in [&a, &b] {
            let r = store.receipt(&receipt.id, NOW).await.expect("receipt").expect("exists");
            assert_eq!((r.state, r.views), (ReceiptState::Received, views));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_file_count_failures_exactly() {
    let (_dir, path) = db();
    let a: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).expect("a"));
    let b: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).expect("b"));
    let (secret, receipt) = pair(1, 600, None, NOW);
    let id = secret.id;
    a.create(secret, receipt).await.expect("create");
    let barrier = Arc::new(tokio::sync::Barrier::new(100));
    let mut tasks = Vec::new();
    for i in 0..100 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store.record_failure(&id, 10, NOW).await.expect("fail")
        }));
    }
    let mut burned = 0;
    for t in tasks {
        burned += usize::from(t.await.expect("task") == FailureOutcome::Burned);
    }
    assert_eq!(burned, 1, "exactly one failure reaches the cap");
    assert_eq!(b.peek(&id, NOW).await.expect("peek"), None);
}

/// Two writers on one file (as two processes would be): each reads the head inside its own
/// `BEGIN IMMEDIATE`, so appends from both make one chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_file_append_to_one_audit_chain() {
    let (_dir, path) = db();
    let a: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).expect("a"));
    let b: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).expect("b"));
    let barrier = Arc::new(tokio::sync::Barrier::new(100));
    let mut tasks = Vec::new();
    for i in 0..100 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            let entries: Vec<AuditEntry> = (0..2)
                .map(|part| AuditEntry {
                    time: NOW,
                    actor: format!("caller-{i}"),
                    detail: format!("part={part}"),
                    ..AuditEntry::default()
                })
                .collect();
            barrier.wait().await;
            store.append_audit(&entries).await.expect("append");
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let records = a.audit_after(0, 1000).await.expect("read");
    assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), (1..=200).collect::<Vec<_>>());
    assert!(audit::verify_chain(AuditAnchor::default(), &records).is_ok());
    assert!(records.chunks(2).all(|p| p[0].entry.actor == p[1].entry.actor), "each append is one run");
}

/// Rate limits are kept in each store's memory, not in the file (no write per check): two stores
/// on one file, like two processes, each allow the whole limit, and the schema has no place for
/// them.
#[tokio::test]
async fn rate_limits_count_per_store_not_in_the_file() {
    let (_dir, path) = db();
    let a = SqliteStore::open(&path).expect("a");
    let b = SqliteStore::open(&path).expect("b");
    let now = NOW * 1_000;
    for store in [&a, &b] {
        for _ in 0..10 {
            assert_eq!(store.rate_hit("ip:192.0.2.1", 10, 60_000, now).await.expect("hit"), None);
        }
        assert_eq!(store.rate_hit("ip:192.0.2.1", 10, 60_000, now).await.expect("hit"), Some(6_000));
    }
    drop((a, b));
    let conn = rusqlite::Connection::open(&path).expect("open");
    let mut tables = conn.prepare("SELECT name FROM sqlite_schema WHERE type = 'table'").expect("prepare");
    let names: Vec<String> =
        tables.query_map([], |r| r.get(0)).expect("query").collect::<Result<_, _>>().expect("names");
    assert!(names.iter().all(|n| !n.contains("rate")), "{names:?}");
}

// ---------------------------------------------------------------------------------------------
// Two real processes: this test binary runs itself again as the second process.
// ---------------------------------------------------------------------------------------------

/// Set in the child's environment: the directory the parent prepared.
const CHILD_ENV: &str = "ONCE_SQLITE_TEST_CHILD_DIR";
const SECRETS: usize = 1000;
const MULTI_VIEWS: u32 = 3;

fn hex(id: &RecordId) -> String {
    id.0.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> RecordId {
    let mut id = [0u8; 32];
    for (i, byte) in id.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex");
    }
    RecordId(id)
}

/// Takes every id once, in order, 16 at a time, and the multi-view one along with each of the
/// first 50 groups; returns (wins, multi-view wins). Both processes walk the same order, so they
/// keep colliding on the same secrets.
async fn take_everything(store: Arc<SqliteStore>, ids: &[RecordId], multi: RecordId) -> (usize, usize) {
    let (mut wins, mut multi_wins) = (0, 0);
    for (n, group) in ids.chunks(16).enumerate() {
        let mut tasks = Vec::new();
        for &id in group {
            let store = store.clone();
            tasks.push(tokio::spawn(
                async move { (false, store.take(&id, NOW).await.expect("take").is_some()) },
            ));
        }
        if n < 50 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                (true, store.take(&multi, NOW).await.expect("take").is_some())
            }));
        }
        for t in tasks {
            match t.await.expect("task") {
                (false, won) => wins += usize::from(won),
                (true, won) => multi_wins += usize::from(won),
            }
        }
    }
    (wins, multi_wins)
}

fn wait_for(path: &Path) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !path.exists() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {}", path.display());
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The child half of `two_processes_claim_exactly_once`; does nothing when run as a normal test.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn child_process_takes() {
    let Some(dir) = std::env::var_os(CHILD_ENV).map(PathBuf::from) else {
        return;
    };
    let store = Arc::new(SqliteStore::open(&dir.join("once.db")).expect("child open"));
    let lines = std::fs::read_to_string(dir.join("ids")).expect("ids");
    let mut ids: Vec<RecordId> = lines.lines().map(unhex).collect();
    let multi = ids.pop().expect("multi-view id");
    std::fs::write(dir.join("ready"), b"").expect("ready");
    tokio::task::spawn_blocking({
        let go = dir.join("go");
        move || wait_for(&go)
    })
    .await
    .expect("go");
    let (wins, multi_wins) = take_everything(store, &ids, multi).await;
    std::fs::write(dir.join("child-wins.tmp"), format!("{wins} {multi_wins}")).expect("write wins");
    std::fs::rename(dir.join("child-wins.tmp"), dir.join("child-wins")).expect("publish wins");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_claim_exactly_once() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return; // We are the child: only `child_process_takes` runs there.
    }
    let (dir, path) = db();
    let store = Arc::new(SqliteStore::open(&path).expect("open"));
    let mut ids = Vec::new();
    for _ in 0..SECRETS {
        let (secret, receipt) = pair(1, 600, None, NOW);
        ids.push(secret.id);
        store.create(secret, receipt).await.expect("create");
    }
    let (secret, receipt) = pair(MULTI_VIEWS, 600, None, NOW);
    let multi = secret.id;
    store.create(secret, receipt).await.expect("create multi");
    let listing: Vec<String> = ids.iter().chain([&multi]).map(hex).collect();
    std::fs::write(dir.path().join("ids"), listing.join("\n")).expect("ids");

    let exe = std::env::current_exe().expect("test binary");
    let mut child = std::process::Command::new(exe)
        .args(["--exact", "child_process_takes", "--test-threads=1", "--quiet"])
        .env(CHILD_ENV, dir.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn child");
    let ready = dir.path().join("ready");
    tokio::task::spawn_blocking(move || wait_for(&ready)).await.expect("child ready");
    std::fs::write(dir.path().join("go"), b"").expect("go");
    let (wins, multi_wins) = take_everything(store, &ids, multi).await;
    let status = tokio::task::spawn_blocking(move || child.wait()).await.expect("join").expect("wait");
    assert!(status.success(), "child failed: {status}");
    let theirs = std::fs::read_to_string(dir.path().join("child-wins")).expect("child wins");
    let (child_wins, child_multi) = theirs.split_once(' ').expect("two numbers");
    let child_wins: usize = child_wins.parse().expect("number");
    let child_multi: usize = child_multi.parse().expect("number");
    assert_eq!(wins + child_wins, SECRETS, "every secret taken exactly once (us {wins}, child {child_wins})");
    assert_eq!(
        multi_wins + child_multi,
        MULTI_VIEWS as usize,
        "exactly {MULTI_VIEWS} views across processes"
    );
}

// ---------------------------------------------------------------------------------------------
// Durability and lifecycle
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_reopening() {
    let (_dir, path) = db();
    let (secret, receipt) = pair(2, 600, None, NOW);
    let (burnt, burnt_r) = pair(1, 600, None, NOW);
    let (alice, alice_key) = account("alice@example.com", NOW);
    {
        let store = SqliteStore::open(&path).expect("open");
        store.create(secret.clone(), receipt.clone()).await.expect("create");
        store.create(burnt.clone(), burnt_r.clone()).await.expect("create");
        store.take(&secret.id, NOW + 1).await.expect("take").expect("won");
        assert!(matches!(
            store.burn(&burnt_r.id, NOW + 1).await.expect("burn"),
            Some(BurnOutcome::Burned(_))
        ));
        store.add_account(alice.clone(), Some(alice_key.clone())).await.expect("account");
        store.touch_api_key(&alice_key.hash, NOW + 2).await.expect("touch");
    }
    let store = SqliteStore::open(&path).expect("reopen");
    let left = store.peek(&secret.id, NOW + 1).await.expect("peek").expect("one view left");
    assert_eq!(left.views_left, 1);
    assert_eq!(store.receipt(&receipt.id, NOW + 1).await.expect("receipt").map(|r| r.views), Some(1));
    assert_eq!(store.peek(&burnt.id, NOW + 1).await.expect("peek"), None);
    let r = store.receipt(&burnt_r.id, NOW + 1).await.expect("receipt").expect("exists");
    assert_eq!(r.state, ReceiptState::Burned);
    let (k, a) = store.api_key(&alice_key.hash).await.expect("key").expect("exists");
    assert_eq!((k.last_used_at, a), (Some(NOW + 2), alice));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_store_finishes_and_closes_the_file() {
    let (dir, path) = db();
    let store = SqliteStore::open(&path).expect("open");
    let (secret, receipt) = pair(1, 600, None, NOW);
    store.create(secret, receipt).await.expect("create");
    assert!(dir.path().join("once.db-wal").exists(), "WAL mode");
    drop(store);
    // The last connection to close checkpoints and removes the WAL: every thread has stopped
    // and every connection is closed by the time drop returns.
    assert!(!dir.path().join("once.db-wal").exists(), "all connections closed on drop");
}

#[test]
fn open_creates_missing_directories() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("a").join("b").join("once.db");
    let store = SqliteStore::open(&path).expect("open");
    assert_eq!(store.path(), path);
    assert!(path.exists());
}

#[test]
fn concurrent_opens_of_a_new_file_migrate_once() {
    for _ in 0..20 {
        let (_dir, path) = db();
        let barrier = Arc::new(std::sync::Barrier::new(4));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (barrier, path) = (barrier.clone(), path.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    SqliteStore::open(&path).map(drop)
                })
            })
            .collect();
        for t in threads {
            t.join().expect("thread").expect("every concurrent open succeeds");
        }
        let conn = rusqlite::Connection::open(&path).expect("open");
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).expect("version");
        assert_eq!(version, once_store_sqlite::SCHEMA_VERSION);
    }
}

#[tokio::test]
async fn an_older_schema_is_upgraded_in_place() {
    let (_dir, path) = db();
    let (secret, receipt) = pair(1, 600, None, NOW);
    let (alice, alice_key) = account("alice@example.com", NOW);
    {
        let store = SqliteStore::open(&path).expect("create");
        store.create(secret.clone(), receipt).await.expect("create");
        store.add_account(alice.clone(), Some(alice_key.clone())).await.expect("account");
    }
    // Back to version 1, as a database from before the key registry, sessions, and key scopes.
    let conn = rusqlite::Connection::open(&path).expect("open");
    conn.execute_batch(
        "DROP TABLE master_keys; DROP TABLE sessions; DROP TABLE totp_steps; DROP TABLE passwords;
         DROP TABLE totp; DROP TABLE recovery_codes; DROP TABLE lockouts;
         DROP TABLE audit; DROP TABLE audit_anchor;
         ALTER TABLE api_keys DROP COLUMN scopes; ALTER TABLE api_keys DROP COLUMN expires_at;
         ALTER TABLE api_keys DROP COLUMN revoked_at; ALTER TABLE secrets DROP COLUMN restricted_to;
         ALTER TABLE receipts DROP COLUMN view_log;
         DROP TABLE chunks; ALTER TABLE secrets DROP COLUMN file;
         PRAGMA user_version = 1;",
    )
    .expect("downgrade");
    drop(conn);

    let store = SqliteStore::open(&path).expect("upgrade");
    assert_eq!(store.peek(&secret.id, NOW).await.expect("peek"), Some(secret.clone()), "data kept");
    let keys = vec![("k".to_owned(), [1u8; 32])];
    assert_eq!(store.register_keys(&keys).await.expect("the new table works"), keys);
    // A key from before scopes can do what every key could then (share, read, burn), for ever.
    assert_eq!(store.api_key(&alice_key.hash).await.expect("key"), Some((alice_key.clone(), alice.clone())));
    assert_eq!(alice_key.scopes, Scopes::USER);
    assert_eq!((alice_key.expires_at, alice_key.revoked_at), (None, None));
    assert!(store.revoke_api_key(&alice.id, &alice_key.hash, NOW + 1).await.expect("the new columns work"));
    assert!(store.set_totp(&alice.id, None, &[]).await.expect("the new tables work"));
    let lockout = store.lockout_failure("s", 3, 60, 60, NOW).await.expect("the new tables work");
    assert_eq!(lockout.failures, 1);
    let entry = AuditEntry { time: NOW, event: "secret.created".into(), ..AuditEntry::default() };
    store.append_audit(std::slice::from_ref(&entry)).await.expect("the audit tables work");
    assert_eq!(
        store.audit_anchor().await.expect("anchor"),
        AuditAnchor::default(),
        "the anchor row is there"
    );
    assert_eq!(
        store.audit_after(0, 10).await.expect("audit"),
        audit::chain(AuditAnchor::default(), &[entry])
    );
    store.put_chunk(&secret.id, 0, b"chunk".to_vec(), NOW, NOW + 600).await.expect("the chunks table works");
    assert_eq!(store.chunk(&secret.id, 0, NOW).await.expect("chunk").as_deref(), Some(&b"chunk"[..]));
    let conn = rusqlite::Connection::open(&path).expect("open");
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).expect("version");
    assert_eq!(version, once_store_sqlite::SCHEMA_VERSION);
}

#[test]
fn a_newer_schema_is_refused() {
    let (_dir, path) = db();
    drop(SqliteStore::open(&path).expect("create"));
    let conn = rusqlite::Connection::open(&path).expect("open");
    conn.pragma_update(None, "user_version", 99).expect("bump");
    drop(conn);
    let err = SqliteStore::open(&path).expect_err("refused");
    assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
    assert!(err.to_string().contains("newer"), "{err}");
}

#[test]
fn a_file_that_is_not_a_database_is_an_error() {
    let (_dir, path) = db();
    std::fs::write(&path, b"this is not an SQLite database, just some bytes to fill a header....")
        .expect("write");
    assert!(matches!(SqliteStore::open(&path), Err(StoreError::Backend(_))));
}

// ---------------------------------------------------------------------------------------------
// Group commit
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_write_fails_only_itself() {
    let (_dir, path) = db();
    let store = Arc::new(SqliteStore::open(&path).expect("open"));
    let (taken, taken_r) = pair(1, 600, None, NOW);
    store.create(taken.clone(), taken_r.clone()).await.expect("create");
    // 200 creates queued together: every tenth reuses an existing id, so many groups contain a
    // conflict and have to be re-run one by one.
    let barrier = Arc::new(tokio::sync::Barrier::new(200));
    let mut tasks = Vec::new();
    for i in 0..200 {
        let (store, barrier) = (store.clone(), barrier.clone());
        let (mut secret, mut receipt) = pair(1, 600, None, NOW);
        if i % 10 == 0 {
            secret.id = taken.id;
            receipt.secret_id = taken.id;
        }
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            (i % 10 == 0, secret.id, store.create(secret, receipt).await)
        }));
    }
    for t in tasks {
        let (dup, id, result) = t.await.expect("task");
        if dup {
            assert!(matches!(result, Err(StoreError::Conflict("secret"))), "{result:?}");
        } else {
            result.expect("a good create succeeds whatever else was in its group");
            assert!(store.peek(&id, NOW).await.expect("peek").is_some());
        }
    }
    assert_eq!(store.peek(&taken.id, NOW).await.expect("peek"), Some(taken));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_database_makes_writes_fail_after_the_busy_timeout() {
    let (_dir, path) = db();
    let options = SqliteOptions { busy_timeout: Duration::from_millis(200), ..SqliteOptions::default() };
    let store = SqliteStore::open_with(&path, options).expect("open");
    // Another "process" holds the write lock.
    let other = rusqlite::Connection::open(&path).expect("other");
    other.execute_batch("BEGIN IMMEDIATE").expect("lock");
    let (secret, receipt) = pair(1, 600, None, NOW);
    let started = std::time::Instant::now();
    let result = store.create(secret.clone(), receipt.clone()).await;
    assert!(matches!(result, Err(StoreError::Backend(_))), "{result:?}");
    assert!(started.elapsed() >= Duration::from_millis(150), "waited for the lock first");
    // Reads still work while the lock is held (WAL).
    assert_eq!(store.peek(&fresh_id(), NOW).await.expect("peek"), None);
    other.execute_batch("COMMIT").expect("unlock");
    // And the writer recovers once the lock is released.
    store.create(secret.clone(), receipt).await.expect("create after unlock");
    assert_eq!(store.peek(&secret.id, NOW).await.expect("peek"), Some(secret));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wal_stops_growing_under_continuous_writes() {
    let (dir, path) = db();
    let wal = dir.path().join("once.db-wal");
    let store = Arc::new(SqliteStore::open(&path).expect("open"));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (store, stop) = (store.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (secret, receipt) = pair(1, 600, None, NOW);
                store.create(secret, receipt).await.expect("create");
            }
        }));
    }
    // A WAL restart (the file is written again from its start instead of growing) bumps the
    // checkpoint sequence number in the WAL header (bytes 12..16, big-endian). Watch it rather
    // than the file size, so a slow or busy machine cannot fake or hide a restart.
    let sequence = || {
        let header = std::fs::read(&wal).ok()?;
        Some(u32::from_be_bytes(header.get(12..16)?.try_into().ok()?))
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut first = None;
    let mut restarts = 0;
    while restarts < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        match (first, sequence()) {
            (None, Some(seq)) => first = Some(seq),
            (Some(start), Some(seq)) => restarts = seq.wrapping_sub(start),
            _ => {}
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in tasks {
        t.await.expect("task");
    }
    // Writes never paused, yet the WAL started over (about every 2 s).
    assert!(restarts >= 2, "the WAL restarted {restarts} time(s) in 20 s of continuous writes");
}
