//! The conformance suite: the one set of tests every store backend must pass.
//!
//! The in-memory backend ([`crate::memory`]) defines the reference semantics; every other backend
//! runs the same cases. Each case is a public `async fn` taking an `Arc<dyn Store>` that is fresh
//! and empty, so a backend can also call single cases by hand.
//!
//! # Running the suite
//! A backend's test crate invokes [`conformance_suite!`](crate::conformance_suite) once:
//!
//! ```text
//! once_store::conformance_suite!(async {
//!     let dir = tempfile::tempdir().expect("tempdir");
//!     let store = MyStore::open(&dir.path().join("db")).expect("open");
//!     once_store::conformance::Subject::new(store).keep(dir)
//! });
//! ```
//!
//! The argument is a **future** (usually an `async` block) evaluated once per test, inside the
//! test's runtime. Its output is anything that converts into a [`Subject`]: a store itself
//! (`async { MemoryStore::new() }`), an `Arc<dyn Store>`, or a `Subject` that also keeps alive
//! whatever the store needs (a temp dir, a server handle). The subject is dropped after the case,
//! store first, then the guards.
//!
//! The macro expands to one `#[test]` per case, each running on its own multi-threaded tokio
//! runtime with 4 workers (what `#[tokio::test(flavor = "multi_thread", worker_threads = 4)]`
//! would build; the runtime is built through this crate's re-export of tokio, so the calling crate
//! needs no tokio dependency of its own). Races are real races: contenders are spawned as tasks
//! and released together by a [`tokio::sync::Barrier`].
//!
//! Times are always passed in, as the store traits require: the suite uses a fixed `NOW` and
//! moves it by hand.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

#[doc(hidden)]
pub use tokio;

use crate::audit::{chain, verify_chain};
use crate::{
    Account, AccountId, ApiKeyRecord, AuditAnchor, AuditEntry, AuditRecord, BurnOutcome, BurnReason, Claim,
    Cursor, DAY_SECS, FailureOutcome, FileInfo, Lockout, Receipt, ReceiptState, RecordId, Role, Scope,
    Scopes, SecretRecord, SessionRecord, Store, StoreError, TotpRecord, UsageRow, UsageState,
    VIEW_LOG_MAX_BYTES, ViewNote,
};

/// A store under test, plus whatever must live as long as it (a temp dir, a server handle).
pub struct Subject {
    // Fields drop in order: the store goes before the things it lives in.
    store: Arc<dyn Store>,
    guards: Vec<Box<dyn std::any::Any + Send>>,
}

impl Subject {
    pub fn new(store: impl Store + 'static) -> Self {
        Subject { store: Arc::new(store), guards: Vec::new() }
    }

    /// Keeps `guard` alive until the store under test has been dropped.
    pub fn keep(mut self, guard: impl std::any::Any + Send) -> Self {
        self.guards.push(Box::new(guard));
        self
    }

    /// The store, to hand to a case.
    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }
}

impl<S: Store + 'static> From<S> for Subject {
    fn from(store: S) -> Self {
        Subject::new(store)
    }
}

impl From<Arc<dyn Store>> for Subject {
    fn from(store: Arc<dyn Store>) -> Self {
        Subject { store, guards: Vec::new() }
    }
}

/// Runs one case on a fresh multi-threaded runtime (4 workers). Used by the macro.
#[doc(hidden)]
pub fn run(case: impl Future<Output = ()>) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("build the test runtime")
        .block_on(case);
}

/// The suite's "now". Cases move time by adding to it.
pub const NOW: i64 = 1_000;

static NEXT: AtomicU64 = AtomicU64::new(1);

/// A fresh record id, unique within the process (and distinct across processes).
pub fn fresh_id() -> RecordId {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let pid = u64::from(std::process::id());
    let mut id = [0u8; 32];
    // Multiplying by an odd constant is a bijection on u64: the leading bytes stay unique but no
    // longer sort in creation order (real ids are hashes and don't either).
    id[..8].copy_from_slice(&n.wrapping_mul(0x9E37_79B9_7F4A_7C15).to_be_bytes());
    id[8..16].copy_from_slice(&pid.to_be_bytes());
    id[16..24].copy_from_slice(&n.to_be_bytes());
    id[24..32].copy_from_slice(&(n ^ pid).wrapping_mul(0xC2B2_AE3D_27D4_EB4F).to_be_bytes());
    RecordId(id)
}

/// A secret (`views` reveals, expiring `ttl` seconds after `created_at`) and its receipt
/// (expiring after 2 × `ttl`), as the core would create them.
pub fn pair(views: u32, ttl: i64, owner: Option<&str>, created_at: i64) -> (SecretRecord, Receipt) {
    let (sid, rid) = (fresh_id(), fresh_id());
    let secret = SecretRecord {
        id: sid,
        receipt_id: rid,
        envelope: [&b"envelope:"[..], &sid.0[..]].concat(),
        has_passphrase: false,
        restricted_to: None,
        views_left: views,
        failures: 0,
        created_at,
        expires_at: created_at + ttl,
        file: None,
    };
    let receipt = Receipt {
        id: rid,
        secret_id: sid,
        owner: owner.map(|o| AccountId(o.to_owned())),
        sealed_secret_key: Some(vec![1, 2, 3]),
        sealed_receipt_key: owner.map(|_| vec![4, 5, 6]),
        state: ReceiptState::New,
        burn_reason: None,
        has_passphrase: false,
        max_views: views,
        views: 0,
        failures: 0,
        recipient: None,
        share_domain: "example.com".into(),
        created_at,
        updated_at: created_at,
        received_at: None,
        view_log: Vec::new(),
        secret_expires_at: created_at + ttl,
        expires_at: created_at + 2 * ttl,
    };
    (secret, receipt)
}

/// An account and its first API key (scopes `USER`, no expiry, not revoked).
pub fn account(email: &str, created_at: i64) -> (Account, ApiKeyRecord) {
    let a = Account {
        id: AccountId(format!("acct-{email}")),
        email: email.into(),
        role: Role::User,
        created_at,
        disabled: false,
    };
    let k = ApiKeyRecord {
        hash: fresh_id().0,
        account_id: a.id.clone(),
        name: "default".into(),
        created_at,
        last_used_at: None,
        wrapped_vault_key: vec![9; 48],
        scopes: Scopes::USER,
        expires_at: None,
        revoked_at: None,
    };
    (a, k)
}

/// A session of `account` created at `created_at`: 10 minutes idle timeout, 1 hour at most.
pub fn session(account: &Account, created_at: i64, client: &str) -> SessionRecord {
    SessionRecord {
        hash: fresh_id().0,
        account_id: account.id.clone(),
        created_at,
        last_seen_at: created_at,
        idle_timeout: 600,
        expires_at: created_at + 3600,
        second_factor: false,
        client: client.into(),
        vault: Some(format!("sealed vault of {client}").into_bytes()),
    }
}

/// Adds an account (with its first API key) and returns it.
async fn add(store: &Arc<dyn Store>, email: &str) -> Account {
    let (a, k) = account(email, NOW);
    store.add_account(a.clone(), Some(k)).await.expect("add account");
    a
}

/// Creates a secret with `views` reveals and a 60 s TTL at `NOW`.
async fn put(store: &Arc<dyn Store>, views: u32) -> (SecretRecord, Receipt) {
    let (secret, receipt) = pair(views, 60, None, NOW);
    store.create(secret.clone(), receipt.clone()).await.expect("create");
    (secret, receipt)
}

async fn receipt_now(store: &Arc<dyn Store>, id: &RecordId, now: i64) -> Receipt {
    store.receipt(id, now).await.expect("receipt").expect("receipt exists")
}

/// Spawns `callers` tasks that wait on one barrier, then each run `op`; returns their results.
async fn race<T, F, Fut>(store: &Arc<dyn Store>, callers: usize, op: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(Arc<dyn Store>, usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(callers));
    let mut tasks = Vec::with_capacity(callers);
    for i in 0..callers {
        let (barrier, fut) = (barrier.clone(), op(store.clone(), i));
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            fut.await
        }));
    }
    let mut out = Vec::with_capacity(callers);
    for t in tasks {
        out.push(t.await.expect("contender task"));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Create and peek
// ---------------------------------------------------------------------------------------------

pub async fn create_then_peek_changes_nothing(store: Arc<dyn Store>) {
    let (secret, receipt) = put(&store, 1).await;
    assert_eq!(store.peek(&secret.id, NOW).await.expect("peek"), Some(secret.clone()));
    assert_eq!(
        store.peek(&secret.id, NOW + 1).await.expect("peek"),
        Some(secret.clone()),
        "peek twice, same"
    );
    assert_eq!(
        store.receipt(&receipt.id, NOW).await.expect("receipt"),
        Some(receipt.clone()),
        "receipt untouched"
    );
    // Still takeable exactly once after any number of peeks.
    assert!(store.take(&secret.id, NOW).await.expect("take").is_some());
    assert_eq!(store.peek(&fresh_id(), NOW).await.expect("peek unknown"), None);
    assert_eq!(store.peek(&receipt.id, NOW).await.expect("peek receipt id"), None, "ids don't mix");
}

pub async fn duplicate_create_conflicts(store: Arc<dyn Store>) {
    let (secret, receipt) = put(&store, 1).await;
    let again = store.create(secret.clone(), receipt.clone()).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "same ids: {again:?}");

    // A clashing receipt id fails the whole create: the new secret is not stored either.
    let (mut other, _) = pair(1, 60, None, NOW);
    other.receipt_id = receipt.id;
    let mut clash = receipt.clone();
    clash.secret_id = other.id;
    let r = store.create(other.clone(), clash).await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "same receipt id: {r:?}");
    assert_eq!(store.peek(&other.id, NOW).await.expect("peek"), None, "create is atomic");

    // The original is unharmed.
    assert_eq!(store.peek(&secret.id, NOW).await.expect("peek"), Some(secret));
    assert_eq!(store.receipt(&receipt.id, NOW).await.expect("receipt"), Some(receipt));
}

// ---------------------------------------------------------------------------------------------
// Take
// ---------------------------------------------------------------------------------------------

pub async fn take_once(store: Arc<dyn Store>) {
    let (secret, receipt) = put(&store, 1).await;
    let taken = store.take(&secret.id, NOW + 1).await.expect("take").expect("first take wins");
    assert_eq!(taken.envelope, secret.envelope);
    assert_eq!(taken.views_left, 0);
    assert_eq!(store.take(&secret.id, NOW + 1).await.expect("take"), None, "second take loses");
    assert_eq!(store.peek(&secret.id, NOW + 1).await.expect("peek"), None);
    let r = receipt_now(&store, &receipt.id, NOW + 2).await;
    assert_eq!((r.state, r.views, r.received_at), (ReceiptState::Received, 1, Some(NOW + 1)));
    assert_eq!((r.sealed_secret_key, r.updated_at), (None, NOW + 1));
    assert_eq!(store.take(&fresh_id(), NOW).await.expect("take unknown"), None);
}

pub async fn max_views_count_down(store: Arc<dyn Store>) {
    let (secret, receipt) = put(&store, 3).await;
    for left in [2, 1, 0] {
        let taken = store.take(&secret.id, NOW).await.expect("take").expect("a view is left");
        assert_eq!((taken.views_left, &taken.envelope), (left, &secret.envelope));
        let r = receipt_now(&store, &receipt.id, NOW).await;
        assert_eq!(r.views, 3 - left);
        if left > 0 {
            assert_eq!((r.state, r.received_at), (ReceiptState::New, None));
            let peeked = store.peek(&secret.id, NOW).await.expect("peek").expect("still live");
            assert_eq!(peeked.views_left, left);
        } else {
            assert_eq!((r.state, r.received_at), (ReceiptState::Received, Some(NOW)));
        }
    }
    assert_eq!(store.take(&secret.id, NOW).await.expect("take"), None);
}

async fn concurrent_takes(store: Arc<dyn Store>, views: u32) {
    let (secret, receipt) = put(&store, views).await;
    let id = secret.id;
    let results = race(&store, 200, |s, _| async move { s.take(&id, NOW).await.expect("take") }).await;
    let wins: Vec<_> = results.into_iter().flatten().collect();
    assert_eq!(wins.len(), views as usize, "exactly {views} of 200 concurrent takes win");
    let mut left: Vec<u32> = wins.iter().map(|t| t.views_left).collect();
    left.sort_unstable();
    assert_eq!(left, (0..views).collect::<Vec<_>>(), "each winner saw a distinct count");
    assert!(wins.iter().all(|t| t.envelope == secret.envelope));
    let r = receipt_now(&store, &receipt.id, NOW).await;
    assert_eq!((r.state, r.views), (ReceiptState::Received, views));
    assert_eq!(store.peek(&id, NOW).await.expect("peek"), None);
}

pub async fn concurrent_takes_exactly_one_wins(store: Arc<dyn Store>) {
    concurrent_takes(store, 1).await;
}

pub async fn concurrent_takes_max_views_three(store: Arc<dyn Store>) {
    concurrent_takes(store, 3).await;
}

pub async fn take_unguarded_leaves_passphrase_secrets_alone(store: Arc<dyn Store>) {
    let (mut guarded, mut guarded_receipt) = pair(1, 60, None, NOW);
    guarded.has_passphrase = true;
    guarded_receipt.has_passphrase = true;
    store.create(guarded.clone(), guarded_receipt).await.expect("create");
    assert_eq!(store.take_unguarded(&guarded.id, NOW).await.expect("take"), Claim::Guarded);
    assert_eq!(store.peek(&guarded.id, NOW).await.expect("peek"), Some(guarded.clone()), "nothing changed");

    let (open, _) = put(&store, 1).await;
    let Claim::Taken(taken) = store.take_unguarded(&open.id, NOW).await.expect("take") else {
        panic!("a secret without passphrase is claimed");
    };
    assert_eq!((taken.envelope, taken.views_left), (open.envelope.clone(), 0));
    assert_eq!(store.take_unguarded(&open.id, NOW).await.expect("take"), Claim::Gone);
    assert_eq!(store.take_unguarded(&fresh_id(), NOW).await.expect("take"), Claim::Gone);
    assert_eq!(store.take_unguarded(&guarded.id, guarded.expires_at).await.expect("take"), Claim::Gone);

    // A secret for a signed-in recipient is guarded too, and keeps its rule.
    let (mut restricted, receipt) = pair(2, 60, None, NOW);
    restricted.has_passphrase = true;
    restricted.restricted_to = Some("v1;2fa=1;email=bob@example.com".into());
    store.create(restricted.clone(), receipt).await.expect("create");
    assert_eq!(store.take_unguarded(&restricted.id, NOW).await.expect("take"), Claim::Guarded);
    assert_eq!(store.peek(&restricted.id, NOW).await.expect("peek"), Some(restricted.clone()));
    let taken = store.take(&restricted.id, NOW).await.expect("take").expect("taken");
    assert_eq!(taken.views_left, 1);
    let left = store.peek(&restricted.id, NOW).await.expect("peek").expect("one view left");
    assert_eq!(left.restricted_to, restricted.restricted_to, "the rule stays after a view");
}

pub async fn reveals_are_noted_on_the_receipt(store: Arc<dyn Store>) {
    let (secret, receipt) = put(&store, 3).await;
    let a = ViewNote::new(NOW, "203.0.113.0/24");
    let b = ViewNote::new(NOW + 1, "2001:db8:1::/48");
    assert!(store.take_noted(&secret.id, NOW, Some(&a)).await.expect("take").is_some());
    assert!(store.take(&secret.id, NOW + 1).await.expect("take").is_some(), "a take without a note");
    let Claim::Taken(_) = store.take_unguarded_noted(&secret.id, NOW + 1, Some(&b)).await.expect("take")
    else {
        panic!("the last view");
    };
    let r = receipt_now(&store, &receipt.id, NOW + 1).await;
    assert_eq!((r.state, r.views), (ReceiptState::Received, 3));
    assert_eq!(r.view_log, [a.clone(), b], "oldest first, the note-less take not listed");
    // Gone secrets note nothing.
    assert_eq!(store.take_noted(&secret.id, NOW + 2, Some(&a)).await.expect("take"), None);
    assert_eq!(receipt_now(&store, &receipt.id, NOW + 2).await.view_log.len(), 2);

    // The log stops growing at VIEW_LOG_MAX_BYTES; the secret's views go on.
    let (many, many_receipt) = put(&store, 200).await;
    for i in 0..200 {
        let note = ViewNote::new(NOW + i, "2001:db8:1234::/48");
        assert!(store.take_noted(&many.id, NOW, Some(&note)).await.expect("take").is_some(), "view {i}");
    }
    let log = receipt_now(&store, &many_receipt.id, NOW).await.view_log;
    let encoded = ViewNote::encode_log(&log);
    assert!(
        log.len() < 200 && encoded.len() >= VIEW_LOG_MAX_BYTES,
        "{} notes, {} bytes",
        log.len(),
        encoded.len()
    );
    assert!(encoded.len() < VIEW_LOG_MAX_BYTES + 64, "{} bytes", encoded.len());
    assert!(log.iter().enumerate().all(|(i, n)| n.at == NOW + i as i64), "the first reveals are kept");
}

pub async fn concurrent_unguarded_takes_exactly_one_wins(store: Arc<dyn Store>) {
    let (secret, _) = put(&store, 1).await;
    let id = secret.id;
    let results =
        race(&store, 200, |s, _| async move { s.take_unguarded(&id, NOW).await.expect("take") }).await;
    let wins = results.iter().filter(|c| matches!(c, Claim::Taken(_))).count();
    assert_eq!(wins, 1, "exactly one of 200 concurrent unguarded takes wins");
    assert!(results.iter().all(|c| !matches!(c, Claim::Guarded)));
}

// ---------------------------------------------------------------------------------------------
// Expiry
// ---------------------------------------------------------------------------------------------

pub async fn expired_secrets_are_unreadable(store: Arc<dyn Store>) {
    let (secret, receipt) = put(&store, 1).await;
    let expiry = secret.expires_at;
    assert_eq!(expiry, NOW + 60);
    assert!(store.peek(&secret.id, expiry - 1).await.expect("peek").is_some(), "live until expires_at");
    assert_eq!(store.peek(&secret.id, expiry).await.expect("peek"), None, "dead at expires_at");
    assert_eq!(store.take(&secret.id, expiry).await.expect("take"), None);
    assert_eq!(store.take(&secret.id, expiry + 100).await.expect("take"), None);
    assert_eq!(store.record_failure(&secret.id, 5, expiry).await.expect("fail"), FailureOutcome::Gone);
    let Some(BurnOutcome::AlreadyGone(r)) = store.burn(&receipt.id, expiry).await.expect("burn") else {
        panic!("an expired secret can't be burned");
    };
    assert_eq!(r, receipt, "nothing about an expired secret changes its receipt");
}

pub async fn file_secrets_keep_their_file_info(store: Arc<dyn Store>) {
    let (mut secret, receipt) = pair(2, 60, None, NOW);
    secret.file = Some(FileInfo { size: 5 * (1 << 20) + 7, chunks: 6 });
    secret.has_passphrase = true;
    store.create(secret.clone(), receipt).await.expect("create");
    assert_eq!(store.peek(&secret.id, NOW).await.expect("peek"), Some(secret.clone()));
    let taken = store.take(&secret.id, NOW).await.expect("take").expect("a view");
    assert_eq!(taken.views_left, 1);
    let after = store.peek(&secret.id, NOW).await.expect("peek").expect("one view left");
    assert_eq!(after.file, secret.file, "a view leaves the file info as it was");
}

/// A chunk's bytes, distinct per secret and index.
fn chunk_bytes(id: &RecordId, index: u32, len: usize) -> Vec<u8> {
    (0..len).map(|i| id.0[i % 32] ^ (i as u8).wrapping_mul(31) ^ index as u8).collect()
}

pub async fn chunks_round_trip_and_drop_per_secret(store: Arc<dyn Store>) {
    let (a, b) = (fresh_id(), fresh_id());
    let sizes = [1 << 20, 1 << 20, 12_345];
    for (i, &len) in sizes.iter().enumerate() {
        store.put_chunk(&a, i as u32, chunk_bytes(&a, i as u32, len), NOW, NOW + 60).await.expect("put");
    }
    store.put_chunk(&b, 0, chunk_bytes(&b, 0, 100), NOW, NOW + 60).await.expect("put");
    for (i, &len) in sizes.iter().enumerate() {
        let got = store.chunk(&a, i as u32, NOW).await.expect("read").expect("stored");
        assert!(got == chunk_bytes(&a, i as u32, len), "chunk {i} comes back byte for byte");
    }
    assert_eq!(store.chunk(&a, 3, NOW).await.expect("read"), None, "past the last chunk");
    // Writing an index again replaces it.
    store.put_chunk(&a, 2, b"again".to_vec(), NOW, NOW + 60).await.expect("put");
    assert_eq!(store.chunk(&a, 2, NOW).await.expect("read").as_deref(), Some(&b"again"[..]));
    // Empty chunks are kept as empty, not as missing.
    store.put_chunk(&a, 3, b"".to_vec(), NOW, NOW + 60).await.expect("put");
    assert_eq!(store.chunk(&a, 3, NOW).await.expect("read").as_deref(), Some(&b""[..]));

    store.drop_chunks(&a).await.expect("drop");
    for i in 0..4 {
        assert_eq!(store.chunk(&a, i, NOW).await.expect("read"), None, "chunk {i} dropped");
    }
    assert_eq!(store.chunk(&b, 0, NOW).await.expect("read"), Some(chunk_bytes(&b, 0, 100)), "others stay");
    store.drop_chunks(&a).await.expect("dropping nothing is fine");
}

pub async fn expired_chunks_are_unreadable_and_purged(store: Arc<dyn Store>) {
    let (old, live) = (fresh_id(), fresh_id());
    for i in 0..3 {
        store.put_chunk(&old, i, b"old".to_vec(), NOW, NOW + 10).await.expect("put");
    }
    store.put_chunk(&live, 0, b"live".to_vec(), NOW, NOW + 100).await.expect("put");
    assert!(store.chunk(&old, 0, NOW + 9).await.expect("read").is_some(), "live until its expiry");
    assert_eq!(store.chunk(&old, 0, NOW + 10).await.expect("read"), None, "dead at its expiry");
    // Backends that expire chunks by themselves (Redis) may find fewer to remove.
    let mut purged = 0;
    loop {
        let n = store.purge_chunks(NOW + 10, 2).await.expect("purge");
        assert!(n <= 2, "at most a batch at a time");
        purged += n;
        if n < 2 {
            break;
        }
    }
    assert!(purged <= 3);
    assert_eq!(store.chunk(&live, 0, NOW + 10).await.expect("read").as_deref(), Some(&b"live"[..]));
    assert_eq!(store.chunk(&old, 0, NOW).await.expect("read"), None, "purged chunks are gone for good");
}

pub async fn receipts_outlive_their_secrets(store: Arc<dyn Store>) {
    let (secret, receipt) = put(&store, 1).await;
    // After the secret expired, the receipt is readable until its own expiry.
    assert_eq!(store.receipt(&receipt.id, secret.expires_at).await.expect("receipt"), Some(receipt.clone()));
    assert!(store.receipt(&receipt.id, receipt.expires_at - 1).await.expect("receipt").is_some());
    assert_eq!(store.receipt(&receipt.id, receipt.expires_at).await.expect("receipt"), None);
    assert_eq!(store.open_receipt(&receipt.id, receipt.expires_at).await.expect("open"), None);

    // After the secret was revealed (and deleted), likewise.
    let (secret, receipt) = put(&store, 1).await;
    store.take(&secret.id, NOW).await.expect("take").expect("won");
    let r = receipt_now(&store, &receipt.id, receipt.expires_at - 1).await;
    assert_eq!(r.state, ReceiptState::Received);
    assert_eq!(store.receipt(&receipt.id, receipt.expires_at).await.expect("receipt"), None);
}

// ---------------------------------------------------------------------------------------------
// Wrong passphrases
// ---------------------------------------------------------------------------------------------

pub async fn failures_count_and_the_cap_burns(store: Arc<dyn Store>) {
    let (secret, receipt) = put(&store, 1).await;
    for n in 1..3 {
        let outcome = store.record_failure(&secret.id, 3, NOW + n as i64).await.expect("fail");
        assert_eq!(outcome, FailureOutcome::Counted { failures: n });
        let r = receipt_now(&store, &receipt.id, NOW).await;
        assert_eq!((r.failures, r.state, r.updated_at), (n, ReceiptState::New, NOW + n as i64));
    }
    assert_eq!(store.peek(&secret.id, NOW).await.expect("peek").map(|p| p.failures), Some(2));
    assert_eq!(store.record_failure(&secret.id, 3, NOW + 5).await.expect("fail"), FailureOutcome::Burned);
    assert_eq!(store.peek(&secret.id, NOW).await.expect("peek"), None);
    assert_eq!(store.take(&secret.id, NOW).await.expect("take"), None, "burned means gone");
    assert_eq!(store.record_failure(&secret.id, 3, NOW).await.expect("fail"), FailureOutcome::Gone);
    let r = receipt_now(&store, &receipt.id, NOW + 5).await;
    assert_eq!(
        (r.state, r.burn_reason, r.failures, r.updated_at),
        (ReceiptState::Burned, Some(BurnReason::PassphraseFailures), 3, NOW + 5)
    );
    assert_eq!((r.sealed_secret_key, r.views, r.received_at), (None, 0, None));
    assert_eq!(store.record_failure(&fresh_id(), 3, NOW).await.expect("fail unknown"), FailureOutcome::Gone);
}

pub async fn concurrent_failures_are_all_counted(store: Arc<dyn Store>) {
    let (secret, receipt) = put(&store, 1).await;
    let id = secret.id;
    let results =
        race(&store, 50, |s, _| async move { s.record_failure(&id, 1000, NOW).await.expect("fail") }).await;
    let mut counts: Vec<u32> = results
        .into_iter()
        .map(|o| match o {
            FailureOutcome::Counted { failures } => failures,
            other => panic!("below the cap every failure is counted, got {other:?}"),
        })
        .collect();
    counts.sort_unstable();
    assert_eq!(counts, (1..=50).collect::<Vec<_>>(), "each caller saw a distinct total");
    assert_eq!(store.peek(&id, NOW).await.expect("peek").map(|p| p.failures), Some(50));
    assert_eq!(receipt_now(&store, &receipt.id, NOW).await.failures, 50);
}

pub async fn concurrent_failures_burn_exactly_once(store: Arc<dyn Store>) {
    let (secret, receipt) = put(&store, 1).await;
    let id = secret.id;
    let results =
        race(&store, 50, |s, _| async move { s.record_failure(&id, 10, NOW).await.expect("fail") }).await;
    let counted = results.iter().filter(|o| matches!(o, FailureOutcome::Counted { .. })).count();
    let burned = results.iter().filter(|o| **o == FailureOutcome::Burned).count();
    let gone = results.iter().filter(|o| **o == FailureOutcome::Gone).count();
    assert_eq!((counted, burned, gone), (9, 1, 40));
    let r = receipt_now(&store, &receipt.id, NOW).await;
    assert_eq!(
        (r.state, r.burn_reason, r.failures),
        (ReceiptState::Burned, Some(BurnReason::PassphraseFailures), 10)
    );
}

// ---------------------------------------------------------------------------------------------
// Burn
// ---------------------------------------------------------------------------------------------

pub async fn burn_destroys_a_live_secret_once(store: Arc<dyn Store>) {
    let (secret, receipt) = put(&store, 2).await;
    let Some(BurnOutcome::Burned(r)) = store.burn(&receipt.id, NOW + 5).await.expect("burn") else {
        panic!("a live secret burns");
    };
    assert_eq!(
        (r.state, r.burn_reason, r.updated_at, r.sealed_secret_key.as_ref()),
        (ReceiptState::Burned, Some(BurnReason::Sender), NOW + 5, None)
    );
    assert_eq!((r.id, r.views, r.received_at), (receipt.id, 0, None));
    assert_eq!(receipt_now(&store, &receipt.id, NOW + 5).await, r, "the returned receipt is what is stored");
    assert_eq!(store.peek(&secret.id, NOW + 5).await.expect("peek"), None);
    assert_eq!(store.take(&secret.id, NOW + 5).await.expect("take"), None);
    assert_eq!(store.record_failure(&secret.id, 3, NOW + 5).await.expect("fail"), FailureOutcome::Gone);
    let Some(BurnOutcome::AlreadyGone(again)) = store.burn(&receipt.id, NOW + 6).await.expect("burn") else {
        panic!("a burned secret burns once");
    };
    assert_eq!(again, r, "burning again changes nothing");
}

pub async fn burn_after_reveal_is_already_gone(store: Arc<dyn Store>) {
    let (secret, receipt) = put(&store, 1).await;
    store.take(&secret.id, NOW).await.expect("take").expect("won");
    let Some(BurnOutcome::AlreadyGone(r)) = store.burn(&receipt.id, NOW + 1).await.expect("burn") else {
        panic!("a received secret can't be burned");
    };
    assert_eq!((r.state, r.burn_reason, r.views), (ReceiptState::Received, None, 1));
    assert_eq!(receipt_now(&store, &receipt.id, NOW + 1).await, r);
}

pub async fn burn_of_unknown_or_expired_receipt_is_none(store: Arc<dyn Store>) {
    assert_eq!(store.burn(&fresh_id(), NOW).await.expect("burn unknown"), None);
    let (secret, receipt) = put(&store, 1).await;
    assert_eq!(store.burn(&secret.id, NOW).await.expect("burn by secret id"), None, "ids don't mix");
    assert_eq!(store.burn(&receipt.id, receipt.expires_at).await.expect("burn expired"), None);
    // The live secret was not touched by any of that.
    assert!(store.peek(&secret.id, NOW).await.expect("peek").is_some());
}

pub async fn burn_races_take_one_wins(store: Arc<dyn Store>) {
    let (secret, receipt) = put(&store, 1).await;
    let (sid, rid) = (secret.id, receipt.id);
    let results = race(&store, 51, |s, i| async move {
        if i == 0 {
            matches!(s.burn(&rid, NOW).await.expect("burn"), Some(BurnOutcome::Burned(_)))
        } else {
            s.take(&sid, NOW).await.expect("take").is_some()
        }
    })
    .await;
    assert_eq!(results.iter().filter(|w| **w).count(), 1, "the burn or one take wins, never both");
    let r = receipt_now(&store, &rid, NOW).await;
    if results[0] {
        assert_eq!((r.state, r.views), (ReceiptState::Burned, 0));
    } else {
        assert_eq!((r.state, r.views), (ReceiptState::Received, 1));
    }
}

// ---------------------------------------------------------------------------------------------
// Receipts
// ---------------------------------------------------------------------------------------------

pub async fn receipt_is_read_only(store: Arc<dyn Store>) {
    let (secret, receipt) = put(&store, 1).await;
    for t in 0..3 {
        assert_eq!(store.receipt(&receipt.id, NOW + t).await.expect("receipt"), Some(receipt.clone()));
    }
    assert_eq!(store.receipt(&secret.id, NOW).await.expect("receipt by secret id"), None, "ids don't mix");
    assert_eq!(store.receipt(&fresh_id(), NOW).await.expect("receipt unknown"), None);
    // Reading the receipt did not consume the link it carries.
    let opened = store.open_receipt(&receipt.id, NOW).await.expect("open").expect("exists");
    assert_eq!(opened, receipt);
}

pub async fn open_receipt_shows_the_link_once(store: Arc<dyn Store>) {
    let (secret, receipt) = put(&store, 1).await;
    let first = store.open_receipt(&receipt.id, NOW + 1).await.expect("open").expect("exists");
    assert_eq!(first, receipt, "the first open returns the receipt as it was");
    let second = store.open_receipt(&receipt.id, NOW + 2).await.expect("open").expect("exists");
    assert_eq!((second.state, second.sealed_secret_key.as_ref()), (ReceiptState::Viewed, None));
    assert_eq!(second.updated_at, NOW + 1);
    assert_eq!(receipt_now(&store, &receipt.id, NOW + 3).await, second);
    // Opening the receipt does not touch the secret.
    assert_eq!(store.peek(&secret.id, NOW).await.expect("peek"), Some(secret.clone()));
    assert_eq!(store.open_receipt(&fresh_id(), NOW).await.expect("open unknown"), None);

    // After the reveal the receipt says so; opening it again changes nothing.
    store.take(&secret.id, NOW + 4).await.expect("take").expect("won");
    let third = store.open_receipt(&receipt.id, NOW + 5).await.expect("open").expect("exists");
    assert_eq!(third.state, ReceiptState::Received);
}

pub async fn concurrent_open_receipt_shows_the_link_once(store: Arc<dyn Store>) {
    let (_, receipt) = put(&store, 1).await;
    let rid = receipt.id;
    let results =
        race(
            &store,
            20,
            |s, _| async move { s.open_receipt(&rid, NOW).await.expect("open").expect("exists") },
        )
        .await;
    let with_link = results.iter().filter(|r| r.sealed_secret_key.is_some()).count();
    assert_eq!(with_link, 1, "exactly one opener sees the secret link");
    assert_eq!(results.iter().filter(|r| r.state == ReceiptState::New).count(), 1);
}

pub async fn recent_pages_newest_first(store: Arc<dyn Store>) {
    let owner = "owner@example.com";
    let mut made = Vec::new();
    for i in 0..25 {
        // Three receipts share each created_at: the id breaks ties.
        let (secret, receipt) = pair(1, 600, Some(owner), NOW + i / 3);
        made.push(receipt.id);
        store.create(secret, receipt).await.expect("create");
    }
    let (other_s, other_r) = pair(1, 600, Some("someone-else@example.com"), NOW);
    store.create(other_s, other_r).await.expect("create other owner");
    let (anon_s, anon_r) = pair(1, 600, None, NOW);
    store.create(anon_s, anon_r).await.expect("create anonymous");
    let (expired_s, expired_r) = pair(1, 10, Some(owner), NOW - 100);
    store.create(expired_s, expired_r).await.expect("create expired");

    let who = AccountId(owner.into());
    let mut seen: Vec<Receipt> = Vec::new();
    let mut cursor = None;
    let mut sizes = Vec::new();
    loop {
        let page = store.recent(&who, cursor, 10, NOW + 50).await.expect("recent");
        sizes.push(page.len());
        let Some(last) = page.last() else { break };
        cursor = Some(Cursor { created_at: last.created_at, id: last.id });
        let full = page.len() == 10;
        seen.extend(page);
        if !full {
            break;
        }
    }
    assert_eq!(sizes, vec![10, 10, 5]);
    assert!(seen.windows(2).all(|w| (w[0].created_at, w[0].id) > (w[1].created_at, w[1].id)), "newest first");
    assert!(seen.iter().all(|r| r.owner.as_ref() == Some(&who)));
    let mut ids: Vec<RecordId> = seen.iter().map(|r| r.id).collect();
    ids.sort();
    made.sort();
    assert_eq!(ids, made, "every receipt once, no others");

    // A cursor in the middle of a run of equal created_at values continues inside the run.
    let mid = &seen[4];
    let after = store
        .recent(&who, Some(Cursor { created_at: mid.created_at, id: mid.id }), 3, NOW + 50)
        .await
        .expect("recent");
    assert_eq!(after, seen[5..8].to_vec());
    assert_eq!(store.recent(&who, None, 0, NOW + 50).await.expect("recent"), vec![]);
    let nobody = AccountId("nobody@example.com".into());
    assert_eq!(store.recent(&nobody, None, 10, NOW).await.expect("recent"), vec![]);
    // Receipts stop showing once they expire.
    assert_eq!(store.recent(&who, None, 100, NOW + 1300).await.expect("recent"), vec![]);
}

// ---------------------------------------------------------------------------------------------
// Purge
// ---------------------------------------------------------------------------------------------

pub async fn purge_removes_only_expired_rows_in_batches(store: Arc<dyn Store>) {
    let mut expired = Vec::new();
    for _ in 0..5 {
        let (secret, receipt) = pair(1, 10, None, NOW);
        expired.push((secret.id, receipt.id));
        store.create(secret, receipt).await.expect("create");
    }
    let (live, live_r) = put(&store, 1).await;
    assert_eq!(store.purge_expired(NOW + 9, 100).await.expect("purge"), 0, "nothing expired yet");
    // At NOW+10 the five secrets (ttl 10) are expired, their receipts (2 × ttl) are not.
    assert_eq!(store.purge_expired(NOW + 10, 2).await.expect("purge"), 2, "at most `batch` secrets");
    assert_eq!(store.purge_expired(NOW + 10, 100).await.expect("purge"), 3);
    assert_eq!(store.purge_expired(NOW + 10, 100).await.expect("purge"), 0);
    for (sid, rid) in &expired {
        // Asked at a time when they would still be live: physically gone.
        assert_eq!(store.peek(sid, NOW).await.expect("peek"), None, "purged secrets are gone");
        assert_eq!(store.take(sid, NOW).await.expect("take"), None);
        assert!(store.receipt(rid, NOW + 10).await.expect("receipt").is_some(), "receipts outlive secrets");
    }
    assert_eq!(store.peek(&live.id, NOW).await.expect("peek"), Some(live.clone()));

    // At NOW+20 the five receipts go, in batches too.
    assert_eq!(store.purge_expired(NOW + 20, 3).await.expect("purge"), 3);
    assert_eq!(store.purge_expired(NOW + 20, 3).await.expect("purge"), 2);
    for (_, rid) in &expired {
        assert_eq!(store.receipt(rid, NOW).await.expect("receipt"), None, "purged receipts are gone");
    }
    assert_eq!(store.receipt(&live_r.id, NOW).await.expect("receipt"), Some(live_r.clone()));
    assert!(store.take(&live.id, NOW).await.expect("take").is_some(), "the live secret survived");

    // The revealed secret is gone already: only its receipt is left to purge.
    assert_eq!(store.purge_expired(live_r.expires_at, 100).await.expect("purge"), 1);
}

// ---------------------------------------------------------------------------------------------
// Accounts and API keys
// ---------------------------------------------------------------------------------------------

pub async fn accounts_and_api_keys(store: Arc<dyn Store>) {
    let (alice, alice_key) = account("alice@example.com", NOW);
    let (bob, bob_key) = account("bob@example.com", NOW + 1);
    store.add_account(bob.clone(), Some(bob_key.clone())).await.expect("bob");
    store.add_account(alice.clone(), Some(alice_key.clone())).await.expect("alice");

    assert_eq!(store.account_by_email("alice@example.com").await.expect("get"), Some(alice.clone()));
    assert_eq!(store.account_by_email("carol@example.com").await.expect("get"), None);
    assert_eq!(store.account(&alice.id).await.expect("by id"), Some(alice.clone()));
    assert_eq!(store.account(&AccountId("acct-carol".into())).await.expect("by id"), None);
    assert_eq!(store.accounts().await.expect("list"), vec![alice.clone(), bob.clone()], "oldest first");

    assert_eq!(store.api_key(&alice_key.hash).await.expect("key"), Some((alice_key.clone(), alice.clone())));
    assert_eq!(store.api_key(&bob_key.hash).await.expect("key"), Some((bob_key, bob)));
    assert_eq!(store.api_key(&fresh_id().0).await.expect("unknown key"), None);

    store.touch_api_key(&alice_key.hash, NOW + 9).await.expect("touch");
    let (k, _) = store.api_key(&alice_key.hash).await.expect("key").expect("exists");
    assert_eq!(k, ApiKeyRecord { last_used_at: Some(NOW + 9), ..alice_key.clone() });
    store.touch_api_key(&fresh_id().0, NOW).await.expect("touching an unknown key is not an error");

    let (_, mut second) = account("alice@example.com", NOW + 3);
    second.name = "ci".into();
    store.add_api_key(second.clone()).await.expect("second key");
    assert_eq!(store.api_key(&second.hash).await.expect("key"), Some((second, alice.clone())));
    // The first key still works.
    assert!(store.api_key(&alice_key.hash).await.expect("key").is_some());
}

pub async fn account_conflicts(store: Arc<dyn Store>) {
    let (alice, alice_key) = account("alice@example.com", NOW);
    store.add_account(alice.clone(), Some(alice_key.clone())).await.expect("alice");

    // Same e-mail, new id and key.
    let (mut dup, dup_key) = account("alice@example.com", NOW + 2);
    dup.id = AccountId("another-id".into());
    let r = store.add_account(dup, Some(dup_key.clone())).await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "same e-mail: {r:?}");
    assert_eq!(store.api_key(&dup_key.hash).await.expect("key"), None, "add_account is atomic");

    // Same key hash on a new account.
    let (carol, mut carol_key) = account("carol@example.com", NOW + 3);
    carol_key.hash = alice_key.hash;
    let r = store.add_account(carol, Some(carol_key)).await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "same key hash: {r:?}");
    assert_eq!(
        store.account_by_email("carol@example.com").await.expect("get"),
        None,
        "add_account is atomic"
    );

    // Another key with a taken hash, or for an unknown account.
    let r = store.add_api_key(alice_key.clone()).await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "duplicate key: {r:?}");
    let (_, orphan) = account("nobody@example.com", NOW);
    let r = store.add_api_key(orphan.clone()).await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "key for an unknown account: {r:?}");
    assert_eq!(store.api_key(&orphan.hash).await.expect("key"), None);

    assert_eq!(store.accounts().await.expect("list"), vec![alice.clone()]);
    assert_eq!(store.api_key(&alice_key.hash).await.expect("key"), Some((alice_key, alice)));
}

pub async fn accounts_without_a_key_and_their_flags(store: Arc<dyn Store>) {
    let (alice, _) = account("alice@example.com", NOW);
    store.add_account(alice.clone(), None).await.expect("alice, no key");
    assert_eq!(store.account(&alice.id).await.expect("by id"), Some(alice.clone()));
    assert_eq!(store.account_by_email("alice@example.com").await.expect("by e-mail"), Some(alice.clone()));
    assert_eq!(store.accounts().await.expect("list"), vec![alice.clone()]);
    assert_eq!(store.api_keys_of(&alice.id).await.expect("keys"), vec![], "no key yet");
    let (mut dup, _) = account("alice@example.com", NOW + 1);
    dup.id = AccountId("another-id".into());
    let r = store.add_account(dup, None).await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "same e-mail, no key: {r:?}");

    // A key can come later.
    let (_, key) = account("alice@example.com", NOW + 2);
    store.add_api_key(key.clone()).await.expect("a first key later");
    assert_eq!(store.api_key(&key.hash).await.expect("key"), Some((key.clone(), alice.clone())));

    assert!(store.set_disabled(&alice.id, true).await.expect("disable"));
    let disabled = Account { disabled: true, ..alice.clone() };
    assert_eq!(store.account(&alice.id).await.expect("by id"), Some(disabled.clone()));
    assert_eq!(store.api_key(&key.hash).await.expect("key").map(|(_, a)| a), Some(disabled.clone()));
    assert!(store.set_disabled(&alice.id, true).await.expect("disable again"), "the account exists");
    assert!(store.set_role(&alice.id, Role::Admin).await.expect("promote"));
    let admin = Account { role: Role::Admin, ..disabled };
    assert_eq!(store.account_by_email("alice@example.com").await.expect("by e-mail"), Some(admin.clone()));
    assert_eq!(store.accounts().await.expect("list"), vec![admin]);
    assert!(store.set_disabled(&alice.id, false).await.expect("enable"));
    assert!(store.set_role(&alice.id, Role::User).await.expect("demote"));
    assert_eq!(store.account(&alice.id).await.expect("by id"), Some(alice.clone()), "back as it was");

    let nobody = AccountId("acct-nobody".into());
    assert!(!store.set_disabled(&nobody, true).await.expect("unknown account"));
    assert!(!store.set_role(&nobody, Role::Admin).await.expect("unknown account"));
    assert_eq!(store.account(&nobody).await.expect("by id"), None, "nothing was created");
    assert_eq!(store.accounts().await.expect("list"), vec![alice]);
}

pub async fn api_key_fields_round_trip(store: Arc<dyn Store>) {
    let (alice, first) = account("alice@example.com", NOW);
    store.add_account(alice.clone(), Some(first.clone())).await.expect("alice");
    assert_eq!(store.api_key(&first.hash).await.expect("key").map(|(k, _)| k.scopes), Some(Scopes::USER));
    let variants = [
        (Scopes::of(&[]), None),
        (Scopes::ALL, Some(NOW + 3600)),
        (Scopes::of(&[Scope::Admin]), None),
        (Scopes::of(&[Scope::Share, Scope::Burn]), Some(NOW + 1)),
    ];
    let mut keys = vec![first];
    for (i, (scopes, expires_at)) in variants.into_iter().enumerate() {
        let (_, mut k) = account("alice@example.com", NOW + 1 + i as i64);
        k.name = format!("key {i}");
        k.scopes = scopes;
        k.expires_at = expires_at;
        k.wrapped_vault_key = vec![u8::try_from(i).expect("small"); 40 + i];
        store.add_api_key(k.clone()).await.expect("add");
        let (read, owner) = store.api_key(&k.hash).await.expect("key").expect("exists");
        assert_eq!((&read, &owner), (&k, &alice), "{scopes:?}");
        assert_eq!(read.revoked_at, None);
        keys.push(k);
    }
    assert!(keys[1].scopes.is_empty());
    assert!(keys[2].scopes.contains(Scope::Admin) && keys[2].scopes.contains(Scope::Share));
    assert_eq!(keys[3].scopes.iter().collect::<Vec<_>>(), vec![Scope::Admin]);

    // Past its expiry a key is still returned: the caller decides (`usable_at`).
    let (expiring, _) = store.api_key(&keys[4].hash).await.expect("key").expect("exists");
    assert!(expiring.usable_at(NOW) && !expiring.usable_at(NOW + 1));
    assert!(store.api_key(&keys[4].hash).await.expect("key").is_some());

    // A touch changes the last use only.
    store.touch_api_key(&keys[2].hash, NOW + 7).await.expect("touch");
    let touched = ApiKeyRecord { last_used_at: Some(NOW + 7), ..keys[2].clone() };
    assert_eq!(store.api_key(&keys[2].hash).await.expect("key").map(|(k, _)| k), Some(touched.clone()));
    keys[2] = touched;
    keys.reverse();
    assert_eq!(store.api_keys_of(&alice.id).await.expect("list"), keys, "every field, newest first");
}

pub async fn api_keys_of_lists_one_accounts_keys_newest_first(store: Arc<dyn Store>) {
    let alice = add(&store, "alice@example.com").await;
    let bob = add(&store, "bob@example.com").await;
    let mut mine = store.api_keys_of(&alice.id).await.expect("list");
    assert_eq!(mine.len(), 1);
    for (i, at) in [NOW + 5, NOW + 2, NOW + 9, NOW + 5, NOW + 5].into_iter().enumerate() {
        let (_, mut k) = account("alice@example.com", at);
        k.name = format!("alice {i}");
        store.add_api_key(k.clone()).await.expect("add");
        mine.push(k);
    }
    let (_, theirs) = account("bob@example.com", NOW + 20);
    store.add_api_key(theirs.clone()).await.expect("bob's");
    // Newest first; keys created in the same second by hash, descending.
    mine.sort_by_key(|k| std::cmp::Reverse((k.created_at, k.hash)));
    assert_eq!(store.api_keys_of(&alice.id).await.expect("list"), mine);
    let bobs = store.api_keys_of(&bob.id).await.expect("list");
    assert_eq!(bobs.len(), 2);
    assert_eq!(bobs[0], theirs, "only bob's keys, newest first");
    assert!(bobs.iter().all(|k| k.account_id == bob.id));
    assert_eq!(store.api_keys_of(&AccountId("acct-nobody".into())).await.expect("list"), vec![]);
}

pub async fn an_api_key_is_revoked_once(store: Arc<dyn Store>) {
    let (alice, key) = account("alice@example.com", NOW);
    store.add_account(alice.clone(), Some(key.clone())).await.expect("alice");
    let (_, other) = account("alice@example.com", NOW + 1);
    store.add_api_key(other.clone()).await.expect("second key");
    let bob = add(&store, "bob@example.com").await;

    assert!(!store.revoke_api_key(&bob.id, &key.hash, NOW + 4).await.expect("revoke"), "not bob's key");
    assert!(!store.revoke_api_key(&alice.id, &fresh_id().0, NOW + 4).await.expect("revoke"), "no such key");
    assert!(store.revoke_api_key(&alice.id, &key.hash, NOW + 5).await.expect("revoke"));
    assert!(!store.revoke_api_key(&alice.id, &key.hash, NOW + 6).await.expect("revoke"), "already revoked");

    // Still found (the caller checks `usable_at`), revoked at the first revocation's time.
    let (revoked, owner) = store.api_key(&key.hash).await.expect("key").expect("still there");
    assert_eq!(revoked, ApiKeyRecord { revoked_at: Some(NOW + 5), ..key.clone() });
    assert_eq!(owner, alice);
    assert!(!revoked.usable_at(NOW));
    let (untouched, _) = store.api_key(&other.hash).await.expect("key").expect("there");
    assert_eq!(untouched, other, "the other key is untouched");
    assert!(untouched.usable_at(NOW + 5));
    assert_eq!(store.api_keys_of(&alice.id).await.expect("list"), vec![other, revoked]);
}

pub async fn ping_answers(store: Arc<dyn Store>) {
    store.ping().await.expect("ping");
}

pub async fn key_registry_keeps_the_first_fingerprint(store: Arc<dyn Store>) {
    let sorted = |mut v: Vec<(String, [u8; 32])>| {
        v.sort();
        v
    };
    assert_eq!(store.register_keys(&[]).await.expect("empty"), vec![]);
    let first = vec![("k1".to_owned(), [1u8; 32]), ("k2".to_owned(), [2u8; 32])];
    assert_eq!(sorted(store.register_keys(&first).await.expect("register")), first);
    // Another instance with k2 under different material and a new k3: k2 keeps its fingerprint.
    let other = vec![("k2".to_owned(), [9u8; 32]), ("k3".to_owned(), [3u8; 32])];
    let all = sorted(store.register_keys(&other).await.expect("register"));
    assert_eq!(all, vec![("k1".into(), [1u8; 32]), ("k2".into(), [2u8; 32]), ("k3".into(), [3u8; 32])]);
    assert_eq!(sorted(store.register_keys(&[]).await.expect("read")), all);
}

pub async fn sessions_end_when_idle_or_at_their_end(store: Arc<dyn Store>) {
    let alice = add(&store, "alice@example.com").await;
    let mut s = session(&alice, NOW, "Firefox on Linux");
    s.second_factor = true;
    store.create_session(s.clone()).await.expect("create");
    assert_eq!(store.session(&s.hash, NOW).await.expect("read"), Some(s.clone()));
    assert_eq!(store.session(&s.hash, NOW + 599).await.expect("read"), Some(s.clone()));
    assert_eq!(store.session(&s.hash, NOW + 600).await.expect("read"), None, "idle for 10 minutes");
    assert_eq!(store.session(&fresh_id().0, NOW).await.expect("unknown"), None);

    // Used now and then, it lives until its absolute end, and no longer.
    for t in (500..3600).step_by(500) {
        store.touch_session(&s.hash, NOW + t).await.expect("touch");
    }
    let seen = store.session(&s.hash, NOW + 3500).await.expect("read").expect("still live");
    assert_eq!(seen, SessionRecord { last_seen_at: NOW + 3500, ..s.clone() });
    assert_eq!(store.session(&s.hash, NOW + 3600).await.expect("read"), None, "past its end");

    // A touch never moves the last use back, and does not revive an idle session.
    let t = session(&alice, NOW, "curl");
    store.create_session(t.clone()).await.expect("create");
    store.touch_session(&t.hash, NOW + 300).await.expect("touch");
    store.touch_session(&t.hash, NOW + 100).await.expect("late touch");
    assert_eq!(
        store.session(&t.hash, NOW + 899).await.expect("read").map(|x| x.last_seen_at),
        Some(NOW + 300)
    );
    store.touch_session(&t.hash, NOW + 900).await.expect("touch after idle");
    assert_eq!(store.session(&t.hash, NOW + 901).await.expect("read"), None);
    store.touch_session(&fresh_id().0, NOW).await.expect("touching an unknown session is not an error");
}

pub async fn sessions_end_one_or_everywhere(store: Arc<dyn Store>) {
    let alice = add(&store, "alice@example.com").await;
    let bob = add(&store, "bob@example.com").await;
    let a: Vec<SessionRecord> = (0..3).map(|i| session(&alice, NOW + i, &format!("browser {i}"))).collect();
    for s in &a {
        store.create_session(s.clone()).await.expect("create");
    }
    let b = session(&bob, NOW, "bob's phone");
    store.create_session(b.clone()).await.expect("create");

    let newest_first: Vec<SessionRecord> = a.iter().rev().cloned().collect();
    assert_eq!(store.sessions_of(&alice.id, NOW + 5).await.expect("list"), newest_first);
    assert_eq!(store.sessions_of(&alice.id, NOW + 700).await.expect("list"), vec![], "all idle");

    assert!(store.end_session(&a[1].hash).await.expect("end"));
    assert!(!store.end_session(&a[1].hash).await.expect("end again"));
    assert_eq!(store.session(&a[1].hash, NOW + 5).await.expect("read"), None);
    assert_eq!(store.end_sessions_of(&alice.id).await.expect("everywhere"), 2);
    assert_eq!(store.sessions_of(&alice.id, NOW + 5).await.expect("list"), vec![]);
    assert_eq!(store.session(&a[0].hash, NOW + 5).await.expect("read"), None);
    assert_eq!(store.end_sessions_of(&alice.id).await.expect("again"), 0);
    assert_eq!(store.session(&b.hash, NOW + 5).await.expect("bob's"), Some(b.clone()), "others untouched");
    assert_eq!(store.sessions_of(&bob.id, NOW + 5).await.expect("list"), vec![b]);
}

pub async fn session_conflicts(store: Arc<dyn Store>) {
    let alice = add(&store, "alice@example.com").await;
    let s = session(&alice, NOW, "a");
    store.create_session(s.clone()).await.expect("create");
    let again = store.create_session(SessionRecord { client: "b".into(), ..s.clone() }).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "same hash: {again:?}");
    assert_eq!(store.session(&s.hash, NOW).await.expect("read"), Some(s), "the first is unharmed");
    let ghost = Account { id: AccountId("acct-nobody".into()), ..alice };
    let r = store.create_session(session(&ghost, NOW, "x")).await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "unknown account: {r:?}");
}

pub async fn purge_removes_only_dead_sessions(store: Arc<dyn Store>) {
    let alice = add(&store, "alice@example.com").await;
    let idle: Vec<SessionRecord> = (0..5).map(|i| session(&alice, NOW + i, "idle")).collect();
    for s in &idle {
        store.create_session(s.clone()).await.expect("create");
    }
    let busy = session(&alice, NOW, "busy");
    store.create_session(busy.clone()).await.expect("create");
    store.touch_session(&busy.hash, NOW + 550).await.expect("touch");

    assert_eq!(store.purge_sessions(NOW + 599, 10).await.expect("purge"), 0, "nothing dead yet");
    assert_eq!(store.purge_sessions(NOW + 700, 3).await.expect("purge"), 3, "one batch");
    assert_eq!(store.purge_sessions(NOW + 700, 10).await.expect("purge"), 2, "the rest");
    assert_eq!(store.purge_sessions(NOW + 700, 10).await.expect("purge"), 0);
    assert_eq!(
        store.sessions_of(&alice.id, NOW + 700).await.expect("list"),
        vec![SessionRecord { last_seen_at: NOW + 550, ..busy.clone() }]
    );
    assert_eq!(store.purge_sessions(NOW + 1150, 10).await.expect("purge"), 1, "idle since its touch");
    assert_eq!(store.end_sessions_of(&alice.id).await.expect("none left"), 0);
}

pub async fn a_totp_step_is_accepted_once(store: Arc<dyn Store>) {
    let alice = add(&store, "alice@example.com").await;
    let bob = add(&store, "bob@example.com").await;
    let step = 59_000_000;
    assert!(store.use_totp_step(&alice.id, step).await.expect("first"));
    assert!(!store.use_totp_step(&alice.id, step).await.expect("replay"));
    assert!(!store.use_totp_step(&alice.id, step - 1).await.expect("older"));
    assert!(store.use_totp_step(&bob.id, step).await.expect("another account's own"));
    assert!(store.use_totp_step(&alice.id, step + 1).await.expect("next"));
    assert!(!store.use_totp_step(&AccountId("acct-nobody".into()), step + 5).await.expect("unknown account"));

    // The same fresh code submitted 50 times at once: one wins.
    let wins: Vec<bool> = join_all((0..50).map(|_| {
        let store = store.clone();
        let id = alice.id.clone();
        tokio::spawn(async move { store.use_totp_step(&id, step + 2).await.expect("use") })
    }))
    .await;
    assert_eq!(wins.iter().filter(|w| **w).count(), 1, "exactly one of 50 concurrent uses");
}

pub async fn password_hashes_are_kept_per_account(store: Arc<dyn Store>) {
    let alice = add(&store, "alice@example.com").await;
    let bob = add(&store, "bob@example.com").await;
    assert_eq!(store.password_hash(&alice.id).await.expect("none yet"), None);
    let first = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g";
    assert!(store.set_password_hash(&alice.id, first).await.expect("set"));
    assert_eq!(store.password_hash(&alice.id).await.expect("get").as_deref(), Some(first));
    let second = "$argon2id$v=19$m=65536,t=3,p=1$c2FsdDI$aGFzaDI";
    assert!(store.set_password_hash(&alice.id, second).await.expect("replace"));
    assert_eq!(store.password_hash(&alice.id).await.expect("get").as_deref(), Some(second));
    assert_eq!(store.password_hash(&bob.id).await.expect("bob's"), None, "per account");
    let nobody = AccountId("acct-nobody".into());
    assert!(!store.set_password_hash(&nobody, first).await.expect("unknown account"));
    assert_eq!(store.password_hash(&nobody).await.expect("get"), None);

    // A password and the vault sealed under it are set together; a rehash keeps the vault.
    assert_eq!(store.password_vault(&alice.id).await.expect("none yet"), None);
    assert!(store.set_password(&alice.id, first, b"vault under first").await.expect("set"));
    assert_eq!(store.password_hash(&alice.id).await.expect("get").as_deref(), Some(first));
    assert_eq!(
        store.password_vault(&alice.id).await.expect("get").as_deref(),
        Some(&b"vault under first"[..])
    );
    assert!(store.set_password_hash(&alice.id, second).await.expect("rehash"));
    assert_eq!(
        store.password_vault(&alice.id).await.expect("kept").as_deref(),
        Some(&b"vault under first"[..])
    );
    assert_eq!(store.password_vault(&bob.id).await.expect("bob's"), None, "per account");
    assert!(!store.set_password(&nobody, first, b"v").await.expect("unknown account"));
    assert_eq!(store.password_vault(&nobody).await.expect("get"), None);
}

/// A second factor as the core would store it.
fn totp_record(secret: &[u8], enabled_at: i64) -> TotpRecord {
    // `recovery_codes_left` is ignored by `set_totp`: the store counts what it keeps.
    TotpRecord { sealed_secret: secret.to_vec(), enabled_at, recovery_codes_left: 99 }
}

fn codes(n: usize) -> Vec<[u8; 32]> {
    (0..n).map(|_| fresh_id().0).collect()
}

pub async fn second_factors_and_recovery_codes(store: Arc<dyn Store>) {
    let alice = add(&store, "alice@example.com").await;
    let bob = add(&store, "bob@example.com").await;
    assert_eq!(store.totp(&alice.id).await.expect("none yet"), None);
    let first = codes(3);
    assert!(store.set_totp(&alice.id, Some(totp_record(b"sealed-1", NOW)), &first).await.expect("set"));
    let expect = |secret: &[u8], at, left| {
        Some(TotpRecord { sealed_secret: secret.to_vec(), enabled_at: at, recovery_codes_left: left })
    };
    assert_eq!(store.totp(&alice.id).await.expect("read"), expect(b"sealed-1", NOW, 3));
    assert_eq!(store.totp(&bob.id).await.expect("bob's"), None, "per account");

    assert!(store.use_recovery_code(&alice.id, &first[1]).await.expect("use"));
    assert!(!store.use_recovery_code(&alice.id, &first[1]).await.expect("use again"), "used up");
    assert!(!store.use_recovery_code(&bob.id, &first[0]).await.expect("use"), "not bob's code");
    assert!(!store.use_recovery_code(&alice.id, &fresh_id().0).await.expect("use"), "no such code");
    assert_eq!(store.totp(&alice.id).await.expect("read"), expect(b"sealed-1", NOW, 2));

    // Re-enrolment replaces the secret and every code (a code given twice is one code).
    let second = codes(2);
    let given = [second[0], second[1], second[0]];
    assert!(
        store.set_totp(&alice.id, Some(totp_record(b"sealed-2", NOW + 5)), &given).await.expect("replace")
    );
    assert_eq!(store.totp(&alice.id).await.expect("read"), expect(b"sealed-2", NOW + 5, 2));
    assert!(!store.use_recovery_code(&alice.id, &first[0]).await.expect("use"), "old codes are gone");
    assert!(store.use_recovery_code(&alice.id, &second[0]).await.expect("use"));
    assert_eq!(store.totp(&alice.id).await.expect("read"), expect(b"sealed-2", NOW + 5, 1));

    // Without recovery codes.
    assert!(store.set_totp(&bob.id, Some(totp_record(b"bob", NOW)), &[]).await.expect("set"));
    assert_eq!(store.totp(&bob.id).await.expect("read"), expect(b"bob", NOW, 0));

    // Removing the second factor removes the codes too.
    assert!(store.set_totp(&alice.id, None, &codes(2)).await.expect("remove"));
    assert_eq!(store.totp(&alice.id).await.expect("read"), None);
    assert!(!store.use_recovery_code(&alice.id, &second[1]).await.expect("use"), "codes went with it");
    assert!(store.set_totp(&alice.id, None, &[]).await.expect("remove again"), "the account exists");
    assert_eq!(store.totp(&bob.id).await.expect("read"), expect(b"bob", NOW, 0), "bob's untouched");

    let nobody = AccountId("acct-nobody".into());
    assert!(
        !store.set_totp(&nobody, Some(totp_record(b"x", NOW)), &codes(1)).await.expect("unknown account")
    );
    assert_eq!(store.totp(&nobody).await.expect("read"), None);
}

pub async fn concurrent_recovery_code_uses_win_once(store: Arc<dyn Store>) {
    let alice = add(&store, "alice@example.com").await;
    let all = codes(4);
    assert!(store.set_totp(&alice.id, Some(totp_record(b"s", NOW)), &all).await.expect("set"));
    let (id, code) = (alice.id.clone(), all[2]);
    let wins = race(&store, 50, |s, _| {
        let id = id.clone();
        async move { s.use_recovery_code(&id, &code).await.expect("use") }
    })
    .await;
    assert_eq!(wins.iter().filter(|w| **w).count(), 1, "exactly one of 50 concurrent uses");
    assert_eq!(store.totp(&alice.id).await.expect("read").map(|t| t.recovery_codes_left), Some(3));
}

pub async fn the_last_totp_step_survives_re_enrolment(store: Arc<dyn Store>) {
    let alice = add(&store, "alice@example.com").await;
    let step = 59_000_000;
    assert!(store.set_totp(&alice.id, Some(totp_record(b"old", NOW)), &codes(2)).await.expect("set"));
    assert!(store.use_totp_step(&alice.id, step).await.expect("use"));
    assert!(
        store.set_totp(&alice.id, Some(totp_record(b"new", NOW + 1)), &codes(2)).await.expect("re-enrol")
    );
    assert!(!store.use_totp_step(&alice.id, step).await.expect("replay"), "still used after re-enrolment");
    assert!(!store.use_totp_step(&alice.id, step - 1).await.expect("older"));
    assert!(store.set_totp(&alice.id, None, &[]).await.expect("remove"));
    assert!(!store.use_totp_step(&alice.id, step).await.expect("replay"), "still used after removal");
    assert!(store.use_totp_step(&alice.id, step + 1).await.expect("a fresh step"));
}

// ---------------------------------------------------------------------------------------------
// Lockouts
// ---------------------------------------------------------------------------------------------

fn counted(failures: u32) -> Lockout {
    Lockout { failures, locked_until: None }
}

fn locked_at(failures: u32, until: i64) -> Lockout {
    Lockout { failures, locked_until: Some(until) }
}

pub async fn lockouts_count_lock_and_start_over(store: Arc<dyn Store>) {
    let (limit, window, lock) = (3, 60, 300);
    let fail = |subject: &'static str, now: i64| {
        let store = store.clone();
        async move { store.lockout_failure(subject, limit, window, lock, now).await.expect("failure") }
    };
    let state = |subject: &'static str, now: i64| {
        let store = store.clone();
        async move { store.lockout(subject, window, now).await.expect("state") }
    };
    let s = "2fa:alice@example.com";
    assert_eq!(state(s, NOW).await, Lockout::default());
    assert_eq!(fail(s, NOW).await, counted(1));
    assert_eq!(fail(s, NOW + 10).await, counted(2));
    assert_eq!(state(s, NOW + 10).await, counted(2));
    assert_eq!(state("2fa:bob@example.com", NOW + 10).await, Lockout::default(), "per subject");

    // The failure that reaches the limit locks, and says so.
    assert_eq!(fail(s, NOW + 20).await, locked_at(3, NOW + 320));
    assert_eq!(state(s, NOW + 21).await, locked_at(3, NOW + 320));
    // While locked nothing changes: not the count, not the lock's end.
    assert_eq!(fail(s, NOW + 30).await, locked_at(3, NOW + 320));
    assert_eq!(fail(s, NOW + 319).await, locked_at(3, NOW + 320));
    assert_eq!(state(s, NOW + 319).await, locked_at(3, NOW + 320));
    // When the lock ends, so does the round: the next starts from one.
    assert_eq!(state(s, NOW + 320).await, Lockout::default());
    assert_eq!(fail(s, NOW + 320).await, counted(1));
    assert_eq!(fail(s, NOW + 321).await, counted(2));
    assert_eq!(fail(s, NOW + 322).await, locked_at(3, NOW + 622), "a second lock");

    // A round whose last failure is `window` old counts as nothing.
    let w = "2fa:carol@example.com";
    assert_eq!(fail(w, NOW).await, counted(1));
    assert_eq!(fail(w, NOW + 59).await, counted(2), "within the window of the last failure");
    assert_eq!(state(w, NOW + 118).await, counted(2));
    assert_eq!(state(w, NOW + 119).await, Lockout::default(), "window passed");
    assert_eq!(fail(w, NOW + 119).await, counted(1), "a new round");
    assert_eq!(fail(w, NOW + 120).await, counted(2));

    // Clearing forgets the count, and a lock.
    store.clear_lockout(w).await.expect("clear");
    assert_eq!(state(w, NOW + 120).await, Lockout::default());
    assert_eq!(fail(w, NOW + 121).await, counted(1));
    store.clear_lockout(s).await.expect("clear a lock");
    assert_eq!(state(s, NOW + 323).await, Lockout::default());
    assert_eq!(store.locked(NOW + 323, 10).await.expect("locked"), vec![]);
    assert_eq!(fail(s, NOW + 324).await, counted(1));
    store.clear_lockout("never-failed").await.expect("clearing nothing is not an error");
}

pub async fn locked_lists_current_locks_soonest_first(store: Arc<dyn Store>) {
    let lock = |subject: &'static str, secs: i64| {
        let store = store.clone();
        async move { store.lockout_failure(subject, 1, 60, secs, NOW).await.expect("failure") }
    };
    assert_eq!(store.locked(NOW, 10).await.expect("locked"), vec![]);
    assert_eq!(lock("2fa:zed", 100).await, locked_at(1, NOW + 100));
    assert_eq!(lock("2fa:amy", 100).await, locked_at(1, NOW + 100));
    assert_eq!(lock("2fa:bea", 50).await, locked_at(1, NOW + 50));
    assert_eq!(lock("2fa:cat", 200).await, locked_at(1, NOW + 200));
    // Counted but not locked.
    store.lockout_failure("2fa:dan", 5, 60, 100, NOW).await.expect("failure");
    let list = |now: i64, limit: u32| {
        let store = store.clone();
        async move { store.locked(now, limit).await.expect("locked") }
    };
    let entry = |s: &str, t: i64| (s.to_owned(), t);
    assert_eq!(
        list(NOW, 10).await,
        vec![
            entry("2fa:bea", NOW + 50),
            entry("2fa:amy", NOW + 100),
            entry("2fa:zed", NOW + 100),
            entry("2fa:cat", NOW + 200)
        ],
        "soonest end first, then by subject"
    );
    assert_eq!(list(NOW, 2).await, vec![entry("2fa:bea", NOW + 50), entry("2fa:amy", NOW + 100)]);
    assert_eq!(list(NOW, 0).await, vec![]);
    store.clear_lockout("2fa:zed").await.expect("clear");
    assert_eq!(
        list(NOW + 49, 10).await,
        vec![entry("2fa:bea", NOW + 50), entry("2fa:amy", NOW + 100), entry("2fa:cat", NOW + 200)]
    );
    assert_eq!(list(NOW + 50, 10).await, vec![entry("2fa:amy", NOW + 100), entry("2fa:cat", NOW + 200)]);
    assert_eq!(list(NOW + 150, 10).await, vec![entry("2fa:cat", NOW + 200)]);
    assert_eq!(list(NOW + 200, 10).await, vec![]);
    // A subject whose lock ended starts over, and is listed again once it locks again.
    assert_eq!(
        store.lockout_failure("2fa:bea", 1, 60, 500, NOW + 200).await.expect("failure"),
        locked_at(1, NOW + 700)
    );
    assert_eq!(list(NOW + 200, 10).await, vec![entry("2fa:bea", NOW + 700)]);
}

pub async fn concurrent_lockout_failures_are_all_counted(store: Arc<dyn Store>) {
    let results = race(&store, 50, |s, _| async move {
        s.lockout_failure("2fa:x", 1000, 60, 300, NOW).await.expect("failure")
    })
    .await;
    let mut counts: Vec<u32> = results.iter().map(|l| l.failures).collect();
    counts.sort_unstable();
    assert_eq!(counts, (1..=50).collect::<Vec<_>>(), "each caller saw its own count");
    assert!(results.iter().all(|l| l.locked_until.is_none()));
    assert_eq!(store.lockout("2fa:x", 60, NOW).await.expect("state"), counted(50));
}

pub async fn concurrent_lockout_failures_lock_once(store: Arc<dyn Store>) {
    let results = race(&store, 50, |s, _| async move {
        s.lockout_failure("2fa:x", 5, 60, 300, NOW).await.expect("failure")
    })
    .await;
    // Four failures are counted (1 to 4); the fifth locks, and every later one sees that lock,
    // unchanged. Which of the locked answers came from the locking call can't be told apart.
    let mut counts: Vec<u32> =
        results.iter().filter(|l| l.locked_until.is_none()).map(|l| l.failures).collect();
    counts.sort_unstable();
    assert_eq!(counts, vec![1, 2, 3, 4], "{results:?}");
    let locked: Vec<&Lockout> = results.iter().filter(|l| l.locked_until.is_some()).collect();
    assert_eq!(locked.len(), 46);
    assert!(locked.iter().all(|l| **l == locked_at(5, NOW + 300)), "{results:?}");
    assert_eq!(store.lockout("2fa:x", 60, NOW).await.expect("state"), locked_at(5, NOW + 300));
    assert_eq!(store.locked(NOW, 10).await.expect("locked"), vec![("2fa:x".to_owned(), NOW + 300)]);
}

// ---------------------------------------------------------------------------------------------
// Rate limits
// ---------------------------------------------------------------------------------------------

/// The suite's "now" in milliseconds, for rate limits.
const NOW_MS: i64 = NOW * 1_000;

/// 10 per minute: bursts of 10, one slot back every 6 s. Periods stay long in these cases:
/// Redis drops a key after (its TAT − now) of *real* time, which must not run out while a case
/// holds its logical time still.
const LIMIT: u32 = 10;
const PERIOD_MS: i64 = 60_000;
const INTERVAL_MS: i64 = 6_000;

async fn hit(store: &Arc<dyn Store>, key: &str, now_ms: i64) -> Option<i64> {
    store.rate_hit(key, LIMIT, PERIOD_MS, now_ms).await.expect("rate hit")
}

/// `n` hits of `key` at `now_ms`, each of which must be allowed.
async fn burst(store: &Arc<dyn Store>, key: &str, n: usize, now_ms: i64) {
    for i in 1..=n {
        assert_eq!(hit(store, key, now_ms).await, None, "{key:?}: hit {i} of {n} at {now_ms}");
    }
}

pub async fn rate_limit_allows_a_burst_then_says_how_long_to_wait(store: Arc<dyn Store>) {
    // What `gcra` says from no state: ten arrival times one interval apart, then a refusal.
    let mut tat = None;
    for i in 1..=10 {
        let next = crate::gcra(tat, LIMIT, PERIOD_MS, NOW_MS).expect("within the burst");
        assert_eq!(next, NOW_MS + i * INTERVAL_MS);
        tat = Some(next);
    }
    assert_eq!(crate::gcra(tat, LIMIT, PERIOD_MS, NOW_MS), Err(INTERVAL_MS));

    let k = "ip:192.0.2.1";
    burst(&store, k, 10, NOW_MS).await;
    assert_eq!(hit(&store, k, NOW_MS).await, Some(INTERVAL_MS), "the 11th waits one interval");
    // Later in that interval the wait is shorter by the time that passed.
    assert_eq!(hit(&store, k, NOW_MS + 1_000).await, Some(INTERVAL_MS - 1_000));
    assert_eq!(hit(&store, k, NOW_MS + INTERVAL_MS - 1).await, Some(1));

    // An interval that doesn't divide the period is rounded down: 7 per 600 s is one per
    // 85_714 ms, so a burst of 7 leaves 2 ms, the 8th waits 85_712 ms, and at that moment its
    // arrival time is exactly one period ahead, which is still allowed.
    let (k, limit, period, interval) = ("odd", 7, 600_000, 85_714);
    let odd = |now| {
        let store = store.clone();
        async move { store.rate_hit(k, limit, period, now).await.expect("rate hit") }
    };
    for _ in 0..7 {
        assert_eq!(odd(NOW_MS).await, None);
    }
    assert_eq!(crate::gcra(Some(NOW_MS + 7 * interval), limit, period, NOW_MS), Err(85_712));
    assert_eq!(odd(NOW_MS).await, Some(85_712));
    assert_eq!(odd(NOW_MS + 85_712).await, None);
    assert_eq!(odd(NOW_MS + 85_712).await, Some(interval));
}

pub async fn rate_limit_refills_one_slot_per_interval(store: Arc<dyn Store>) {
    let k = "ip:2001:db8::1";
    burst(&store, k, 10, NOW_MS).await;
    // One interval later one slot is back, and only one.
    assert_eq!(hit(&store, k, NOW_MS + INTERVAL_MS).await, None);
    assert_eq!(hit(&store, k, NOW_MS + INTERVAL_MS).await, Some(INTERVAL_MS));
    // Three intervals after that, three.
    let t = NOW_MS + 4 * INTERVAL_MS;
    burst(&store, k, 3, t).await;
    assert_eq!(hit(&store, k, t).await, Some(INTERVAL_MS));
    // Traffic at exactly the rate is never refused; a little faster is.
    for i in 1..=20 {
        assert_eq!(hit(&store, k, t + i * INTERVAL_MS).await, None, "steady hit {i}");
    }
    assert_eq!(hit(&store, k, t + 21 * INTERVAL_MS - 1).await, Some(1));
}

pub async fn rate_limit_keys_are_independent(store: Arc<dyn Store>) {
    // Keys are whatever the caller counts by (addresses, e-mails), including bytes a key name
    // could trip on: hash-tag braces, glob characters, separators, NUL, the empty key.
    let keys = [
        "ip:192.0.2.1",
        "ip:192.0.2.10",
        "ip:192.0.2.1 ",
        "email:alice@example.com",
        "email:Alice@example.com",
        "{rl}",
        "}{",
        "a}b{c",
        "*",
        "x:y:z",
        "nul\0byte",
        "카카오",
        "",
    ];
    burst(&store, keys[0], 10, NOW_MS).await;
    assert_eq!(hit(&store, keys[0], NOW_MS).await, Some(INTERVAL_MS));
    for k in &keys[1..] {
        burst(&store, k, 10, NOW_MS).await;
        assert_eq!(hit(&store, k, NOW_MS).await, Some(INTERVAL_MS), "{k:?} counted on its own");
    }
    // A key has one arrival time, whatever limit a call checks it against: at 100 per minute
    // (one slot per 600 ms), the ten hits so far leave a wait of one such interval.
    assert_eq!(store.rate_hit(keys[0], 100, PERIOD_MS, NOW_MS).await.expect("rate hit"), Some(600));
}

pub async fn a_refused_rate_hit_counts_nothing(store: Arc<dyn Store>) {
    let k = "email:bob@example.com";
    burst(&store, k, 10, NOW_MS).await;
    for i in 0..25 {
        assert_eq!(hit(&store, k, NOW_MS).await, Some(INTERVAL_MS), "retry {i} waits as long");
    }
    // One interval on, exactly one slot, as if no refused call had happened.
    assert_eq!(hit(&store, k, NOW_MS + INTERVAL_MS).await, None);
    assert_eq!(hit(&store, k, NOW_MS + INTERVAL_MS).await, Some(INTERVAL_MS));
}

pub async fn concurrent_rate_hits_allow_exactly_the_limit(store: Arc<dyn Store>) {
    let k = "ip:198.51.100.7";
    let at_once = |s: Arc<dyn Store>, _: usize| async move {
        s.rate_hit(k, LIMIT, PERIOD_MS, NOW_MS).await.expect("rate hit")
    };
    let results = race(&store, 50, at_once).await;
    assert_eq!(results.iter().filter(|r| r.is_none()).count(), 10, "{results:?}");
    // Refusals count nothing, so each of the 40 waits the same one interval.
    assert!(results.iter().flatten().all(|wait| *wait == INTERVAL_MS), "{results:?}");
    assert_eq!(hit(&store, k, NOW_MS).await, Some(INTERVAL_MS));
    assert_eq!(hit(&store, k, NOW_MS + INTERVAL_MS).await, None);
}

pub async fn an_idle_rate_key_starts_fresh(store: Arc<dyn Store>) {
    let k = "ip:203.0.113.9";
    burst(&store, k, 10, NOW_MS).await;
    assert_eq!(hit(&store, k, NOW_MS).await, Some(INTERVAL_MS));
    // A whole period after the burst the key has its whole burst again, and no more.
    let later = NOW_MS + PERIOD_MS;
    burst(&store, k, 10, later).await;
    assert_eq!(hit(&store, k, later).await, Some(INTERVAL_MS));
    // Long after (the state may be gone by now), the same.
    let much_later = later + 100 * PERIOD_MS;
    burst(&store, k, 10, much_later).await;
    assert_eq!(hit(&store, k, much_later).await, Some(INTERVAL_MS));
    // Half a period idle gives half the burst back.
    let half = much_later + PERIOD_MS / 2;
    burst(&store, k, 5, half).await;
    assert_eq!(hit(&store, k, half).await, Some(INTERVAL_MS));
}

pub async fn rate_hits_follow_gcra_exactly(store: Arc<dyn Store>) {
    // Intervals that don't divide the period, a limit of 0 (`gcra` counts it as 1), a period of 0
    // (always refused), at a real epoch time in ms (Redis's Lua computes in doubles). Every
    // interval is at least 6 s, for the reason given at `PERIOD_MS`.
    let limits: [(&str, u32, i64); 7] = [
        ("a", 7, 600_000),
        ("b", 3, 100_000),
        ("c", 1, 60_000),
        ("d", 0, 60_000),
        ("e", 13, 3_600_000),
        ("f", 1_000, 6_000_000),
        ("g", 5, 0),
    ];
    let mut model: std::collections::HashMap<&str, i64> = std::collections::HashMap::new();
    let mut now = 1_754_000_000_123_i64;
    // xorshift64: reproducible without a dependency.
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    let mut random = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n.max(1)
    };
    let (mut allowed, mut refused) = (0, 0);
    for step in 0..600 {
        let (key, limit, period) = limits[random(limits.len() as u64) as usize];
        now += match random(8) {
            0..=3 => 0,
            4 | 5 => random(10_000) as i64,
            6 => random(period as u64) as i64,
            _ => random(2 * period as u64 + 1) as i64,
        };
        let expected = match crate::gcra(model.get(key).copied(), limit, period, now) {
            Ok(tat) => {
                model.insert(key, tat);
                allowed += 1;
                None
            }
            Err(wait) => {
                refused += 1;
                Some(wait)
            }
        };
        let got = store.rate_hit(key, limit, period, now).await.expect("rate hit");
        assert_eq!(got, expected, "step {step}: {key:?}, {limit} per {period} ms, at {now}");
    }
    assert!(allowed > 100 && refused > 100, "both outcomes exercised: {allowed} allowed, {refused} refused");
}

// ---------------------------------------------------------------------------------------------
// Administration: usage statistics and the accounts list
// ---------------------------------------------------------------------------------------------

/// Creates a secret of `envelope_len` bytes (`views` reveals, `ttl` seconds, with or without a
/// passphrase) at `created_at`.
async fn seed(
    store: &Arc<dyn Store>,
    views: u32,
    ttl: i64,
    created_at: i64,
    envelope_len: usize,
    passphrase: bool,
) -> (SecretRecord, Receipt) {
    let (mut secret, mut receipt) = pair(views, ttl, None, created_at);
    secret.envelope = vec![0x5a; envelope_len];
    secret.has_passphrase = passphrase;
    receipt.has_passphrase = passphrase;
    store.create(secret.clone(), receipt.clone()).await.expect("create");
    (secret, receipt)
}

fn row(day: i64, state: UsageState, receipts: u64, secret_bytes: u64) -> UsageRow {
    UsageRow { day, state, receipts, secret_bytes }
}

pub async fn usage_counts_receipts_and_live_bytes_by_day_and_state(store: Arc<dyn Store>) {
    use UsageState::{Burned, Expired, New, Received, Viewed};
    assert_eq!(store.usage(NOW).await.expect("usage"), vec![], "an empty store");
    const DAY: i64 = DAY_SECS;
    let d = 20_000 * DAY;
    let now = d + 3 * DAY + 43_200;

    // The day before the epoch: days are UTC days, also below zero.
    let (_, before_epoch) = seed(&store, 1, now + 10, -1, 5, false).await;
    assert_eq!(before_epoch.secret_expires_at, now + 9);

    // Day 0: live with a passphrase; expired unrevealed (its receipt expired too, not purged);
    // revealed.
    let t0 = d + 100;
    seed(&store, 1, 10 * DAY, t0, 100, true).await;
    seed(&store, 1, 60, t0, 50, false).await;
    let (c, _) = seed(&store, 1, 10 * DAY, t0, 70, false).await;
    assert!(store.take(&c.id, t0 + 10).await.expect("take c").is_some());

    // Day 1: opened and one of two views taken; opened then expired; burned by the sender;
    // burned by a wrong passphrase.
    let t1 = d + DAY + 5000;
    let (dd, dr) = seed(&store, 2, 5 * DAY, t1, 200, false).await;
    assert!(store.open_receipt(&dr.id, t1 + 1).await.expect("open d").is_some());
    assert!(store.take(&dd.id, t1 + 2).await.expect("take d").is_some());
    let (_, er) = seed(&store, 1, 3600, t1, 30, false).await;
    assert!(store.open_receipt(&er.id, t1 + 1).await.expect("open e").is_some());
    let (_, fr) = seed(&store, 1, 5 * DAY, t1, 40, false).await;
    assert!(matches!(store.burn(&fr.id, t1 + 3).await.expect("burn f"), Some(BurnOutcome::Burned(_))));
    let (g, _) = seed(&store, 1, 5 * DAY, t1, 45, true).await;
    assert_eq!(store.record_failure(&g.id, 1, t1 + 4).await.expect("fail g"), FailureOutcome::Burned);

    // Day 2, its last second: one of three views taken (still new); live with a passphrase.
    let t2 = d + 3 * DAY - 1;
    let (h, _) = seed(&store, 3, 5 * DAY, t2, 300, false).await;
    assert!(store.take(&h.id, t2).await.expect("take h").is_some());
    seed(&store, 1, 5 * DAY, t2, 10, true).await;

    // Day 3, its first second: revealed; opened, and expires before `now` (its receipt does
    // not); new, and expires before `now`; revealed in two views.
    let t3 = d + 3 * DAY;
    let (j, _) = seed(&store, 1, DAY, t3, 20, false).await;
    assert!(store.take(&j.id, t3 + 5).await.expect("take j").is_some());
    let (_, kr) = seed(&store, 1, 30_000, t3, 25, false).await;
    assert!(store.open_receipt(&kr.id, t3 + 6).await.expect("open k").is_some());
    seed(&store, 1, 30_000, t3, 15, false).await;
    let (m, _) = seed(&store, 2, DAY, t3, 60, false).await;
    assert!(store.take(&m.id, t3 + 5).await.expect("take m").is_some());
    assert!(store.take(&m.id, t3 + 6).await.expect("take m again").is_some());

    // Early on day 3, before k and l expire: their bytes count.
    assert_eq!(
        store.usage(t3 + 7).await.expect("usage"),
        vec![
            row(-DAY, New, 1, 5),
            row(d, New, 1, 100),
            row(d, Received, 1, 0),
            row(d, Expired, 1, 0),
            row(d + DAY, Viewed, 1, 200),
            row(d + DAY, Burned, 2, 0),
            row(d + DAY, Expired, 1, 0),
            row(d + 2 * DAY, New, 2, 310),
            row(d + 3 * DAY, New, 1, 15),
            row(d + 3 * DAY, Viewed, 1, 25),
            row(d + 3 * DAY, Received, 2, 0),
        ]
    );
    let at_now = vec![
        row(-DAY, New, 1, 5),
        row(d, New, 1, 100),
        row(d, Received, 1, 0),
        row(d, Expired, 1, 0),
        row(d + DAY, Viewed, 1, 200),
        row(d + DAY, Burned, 2, 0),
        row(d + DAY, Expired, 1, 0),
        row(d + 2 * DAY, New, 2, 310),
        row(d + 3 * DAY, Received, 2, 0),
        row(d + 3 * DAY, Expired, 2, 0),
    ];
    assert_eq!(store.usage(now).await.expect("usage"), at_now);
    assert_eq!(store.usage(now).await.expect("usage again"), at_now, "reading changes nothing");

    // The sweeper removes the expired secrets and the receipts past their own expiry (b's and
    // e's); k's and l's receipts stay until theirs.
    assert!(store.purge_expired(now, 1000).await.expect("purge") > 0);
    assert_eq!(
        store.usage(now).await.expect("usage"),
        vec![
            row(-DAY, New, 1, 5),
            row(d, New, 1, 100),
            row(d, Received, 1, 0),
            row(d + DAY, Viewed, 1, 200),
            row(d + DAY, Burned, 2, 0),
            row(d + 2 * DAY, New, 2, 310),
            row(d + 3 * DAY, Received, 2, 0),
            row(d + 3 * DAY, Expired, 2, 0),
        ]
    );
}

/// Pages through every account (optionally matching `search`), `limit` at a time.
async fn all_pages(store: &Arc<dyn Store>, search: Option<&str>, limit: u32) -> Vec<String> {
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.accounts_page(search, after.as_deref(), limit).await.expect("page");
        assert!(page.len() <= limit as usize);
        let Some(last) = page.last() else { break };
        after = Some(last.email.clone());
        let full = page.len() == limit as usize;
        seen.extend(page.into_iter().map(|a| a.email));
        if !full {
            break;
        }
    }
    seen
}

pub async fn accounts_page_lists_by_email_with_search(store: Arc<dyn Store>) {
    assert_eq!(store.accounts_page(None, None, 10).await.expect("page"), vec![], "no accounts yet");
    let mut emails: Vec<String> = (0..23).map(|i| format!("user{:02}@pages.example", (i * 7) % 23)).collect();
    emails.extend(
        ["zed@example.com", "alice@example.com", "under_score@example.com", "a@x.io", "bob@example.org"]
            .map(str::to_owned),
    );
    for (i, e) in emails.iter().enumerate() {
        let (mut a, _) = account(e, NOW + i as i64);
        if i % 4 == 0 {
            a.role = Role::Admin;
        }
        a.disabled = i % 5 == 0;
        store.add_account(a, None).await.expect("add");
    }
    let mut sorted = emails.clone();
    sorted.sort();

    // Every account once, in e-mail order, whatever the page size.
    for limit in [1, 7, 28, 100] {
        assert_eq!(all_pages(&store, None, limit).await, sorted, "pages of {limit}");
    }
    // The accounts come whole.
    let first = store.accounts_page(None, None, 1).await.expect("page");
    assert_eq!(first, vec![store.account_by_email("a@x.io").await.expect("get").expect("exists")]);
    assert!(store.accounts_page(None, None, 0).await.expect("page").is_empty());
    assert!(store.accounts_page(None, Some("zed@example.com"), 10).await.expect("page").is_empty());
    let after_bob = store.accounts_page(None, Some("bob@example.org"), 2).await.expect("page");
    assert_eq!(
        after_bob.iter().map(|a| a.email.as_str()).collect::<Vec<_>>(),
        ["under_score@example.com", "user00@pages.example"]
    );
    // `after` need not be an account's e-mail.
    let after_b = store.accounts_page(None, Some("b"), 1).await.expect("page");
    assert_eq!(after_b[0].email, "bob@example.org");

    // Search: a substring, ignoring case, with no wildcard meaning for `_` or `%`.
    let example_com = ["alice@example.com", "under_score@example.com", "zed@example.com"];
    assert_eq!(all_pages(&store, Some("EXAMPLE.com"), 2).await, example_com);
    assert_eq!(all_pages(&store, Some("_"), 10).await, ["under_score@example.com"]);
    assert_eq!(all_pages(&store, Some("%"), 10).await, Vec::<String>::new());
    assert_eq!(all_pages(&store, Some("user1"), 3).await.len(), 10);
    assert_eq!(all_pages(&store, Some("nobody"), 3).await, Vec::<String>::new());
    let page = store.accounts_page(Some("example"), Some("alice@example.com"), 1).await.expect("page");
    assert_eq!(page[0].email, "bob@example.org");

    // The older listing still has everyone, oldest first.
    assert_eq!(
        store.accounts().await.expect("all").iter().map(|a| a.email.clone()).collect::<Vec<_>>(),
        emails
    );
}

pub async fn accounts_pages_see_everyone_once_while_accounts_are_added(store: Arc<dyn Store>) {
    let before: Vec<String> = (0..40).map(|i| format!("m{:03}@before.example", i * 5)).collect();
    for e in &before {
        let (a, _) = account(e, NOW);
        store.add_account(a, None).await.expect("add");
    }
    // Accounts keep arriving, sorting before, between and after the ones there, while a reader
    // pages through.
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for i in 0..60 {
                let (a, _) = account(&format!("m{:03}@during.example", (i * 37) % 200), NOW + 1);
                store.add_account(a, None).await.expect("add during");
                tokio::task::yield_now().await;
            }
        })
    };
    let seen = all_pages(&store, None, 3).await;
    writer.await.expect("writer");
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "strictly ascending, so no account twice: {seen:?}");
    for e in &before {
        assert!(seen.contains(e), "{e} was there all along");
    }
    assert_eq!(all_pages(&store, None, 7).await.len(), 100, "everyone, once the writer is done");
}

// ---------------------------------------------------------------------------------------------
// The audit trail
// ---------------------------------------------------------------------------------------------

/// An ordinary audit entry at `time`; `n` shows up in its detail.
fn audit_entry(time: i64, n: usize) -> AuditEntry {
    AuditEntry {
        time,
        event: "secret.revealed".into(),
        outcome: "ok".into(),
        actor: "acct-1".into(),
        client: "203.0.113.7".into(),
        record: "3f9a1c".into(),
        detail: format!("n={n}"),
    }
}

/// Every record, in pages of 1000.
async fn audit_all(store: &Arc<dyn Store>) -> Vec<AuditRecord> {
    let mut out: Vec<AuditRecord> = Vec::new();
    loop {
        let after = out.last().map_or(0, |r| r.seq);
        let page = store.audit_after(after, 1000).await.expect("audit page");
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

fn at(record: &AuditRecord) -> AuditAnchor {
    AuditAnchor { seq: record.seq, hash: record.hash }
}

pub async fn audit_records_chain_in_order_and_page(store: Arc<dyn Store>) {
    assert_eq!(store.audit_anchor().await.expect("anchor"), AuditAnchor::default(), "nothing pruned yet");
    assert_eq!(store.audit_after(0, 100).await.expect("after"), vec![], "an empty trail");
    store.append_audit(&[]).await.expect("an empty append");
    assert_eq!(store.audit_after(0, 100).await.expect("after"), vec![], "an empty append is a no-op");

    // Fields at their edges: all empty, unicode, long, a NUL and quotes, extreme times.
    let odd = vec![
        AuditEntry { time: NOW, ..AuditEntry::default() },
        AuditEntry {
            time: NOW + 1,
            event: "auth.login".into(),
            outcome: "denied:wrong_password".into(),
            actor: "계정-ünïcödé 🔐".into(),
            client: "2001:db8::1".into(),
            record: "ab12".into(),
            detail: "긴 ".repeat(10_000),
        },
        AuditEntry {
            time: -1,
            event: "key.rotated".into(),
            detail: "nul\0inside, quotes ' \" and a newline\n".into(),
            ..AuditEntry::default()
        },
        AuditEntry { time: i64::MAX, event: "admin.x".into(), ..AuditEntry::default() },
        AuditEntry { time: i64::MIN, actor: "anon".into(), ..AuditEntry::default() },
    ];
    let mut all = Vec::new();
    for part in [vec![audit_entry(NOW, 0)], (1..5).map(|n| audit_entry(NOW + 2, n)).collect(), odd] {
        store.append_audit(&part).await.expect("append");
        all.extend(part);
    }
    store.append_audit(&[]).await.expect("an empty append");
    let more: Vec<AuditEntry> = (10..20).map(|n| audit_entry(NOW + 3, n)).collect();
    store.append_audit(&more).await.expect("append");
    all.extend(more);

    let records = store.audit_after(0, 100_000).await.expect("after");
    assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), (1..=all.len() as u64).collect::<Vec<_>>());
    for (r, e) in records.iter().zip(&all) {
        assert_eq!(&r.entry, e, "record {} round-trips", r.seq);
    }
    assert_eq!(records, chain(AuditAnchor::default(), &all), "chained exactly as `chain` does");
    assert_eq!(records[0].prev, [0; 32]);
    assert_eq!(verify_chain(AuditAnchor::default(), &records), Ok(at(&records[all.len() - 1])));

    // Pages of any size walk the same records; a page starts right after `after`.
    for limit in [1, 3, 7, all.len() as u32, all.len() as u32 + 5] {
        let mut paged = Vec::new();
        loop {
            let after = paged.last().map_or(0, |r: &AuditRecord| r.seq);
            let page = store.audit_after(after, limit).await.expect("page");
            assert!(page.len() <= limit as usize);
            if page.is_empty() {
                break;
            }
            paged.extend(page);
        }
        assert_eq!(paged, records, "pages of {limit}");
    }
    assert_eq!(store.audit_after(7, 2).await.expect("page"), records[7..9].to_vec());
    let n = all.len() as u64;
    assert_eq!(store.audit_after(n - 1, 10).await.expect("page"), records[all.len() - 1..].to_vec());
    assert_eq!(store.audit_after(n, 10).await.expect("page"), vec![]);
    assert_eq!(store.audit_after(n + 100, 10).await.expect("page"), vec![]);
    assert_eq!(store.audit_after(u64::MAX, 10).await.expect("page"), vec![]);
    assert_eq!(store.audit_after(0, 0).await.expect("page"), vec![]);

    // Newest first, for browsing: pages walk back to the oldest.
    let mut newest_first: Vec<AuditRecord> = records.iter().rev().cloned().collect();
    assert_eq!(store.audit_before(u64::MAX, 1000).await.expect("before"), newest_first);
    let mut back = Vec::new();
    loop {
        let before = back.last().map_or(u64::MAX, |r: &AuditRecord| r.seq);
        let page = store.audit_before(before, 3).await.expect("page");
        if page.is_empty() {
            break;
        }
        back.extend(page);
    }
    assert_eq!(back, newest_first, "pages of 3, newest first");
    newest_first.retain(|r| r.seq < 5);
    assert_eq!(store.audit_before(5, 100).await.expect("before"), newest_first);
    assert_eq!(store.audit_before(1, 100).await.expect("before"), vec![]);
    assert_eq!(store.audit_before(u64::MAX, 0).await.expect("before"), vec![]);
    assert_eq!(store.audit_anchor().await.expect("anchor"), AuditAnchor::default(), "reading prunes nothing");
}

pub async fn concurrent_audit_appends_never_fork_or_leave_a_gap(store: Arc<dyn Store>) {
    const CALLERS: usize = 50;
    race(&store, CALLERS, |s, i| async move {
        let entries: Vec<AuditEntry> = (0..3)
            .map(|part| AuditEntry { actor: format!("caller-{i}"), ..audit_entry(NOW, part) })
            .collect();
        s.append_audit(&entries).await.expect("append");
    })
    .await;
    let records = audit_all(&store).await;
    assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), (1..=150).collect::<Vec<_>>());
    assert_eq!(verify_chain(AuditAnchor::default(), &records), Ok(at(&records[149])), "one chain, no fork");
    // Each call's three entries are one run, in order.
    for run in records.chunks(3) {
        let actor = &run[0].entry.actor;
        assert!(run.iter().all(|r| &r.entry.actor == actor), "a call's entries are contiguous: {run:?}");
        let details: Vec<&str> = run.iter().map(|r| r.entry.detail.as_str()).collect();
        assert_eq!(details, ["n=0", "n=1", "n=2"], "in the order given");
    }
    let mut actors: Vec<&str> = records.iter().step_by(3).map(|r| r.entry.actor.as_str()).collect();
    actors.sort_unstable();
    actors.dedup();
    assert_eq!(actors.len(), CALLERS, "every call landed once");
}

pub async fn pruning_moves_the_anchor_and_the_chain_goes_on(store: Arc<dyn Store>) {
    assert_eq!(store.prune_audit(i64::MAX, 100).await.expect("prune"), 0, "nothing to prune");
    assert_eq!(store.audit_anchor().await.expect("anchor"), AuditAnchor::default());

    // Seq 7 is older than seq 6: pruning stops at 6 all the same (oldest first, never past a
    // record it keeps).
    let times = [-7, 100, 101, 102, 104, 200, 105, 300];
    let entries: Vec<AuditEntry> = times.iter().enumerate().map(|(n, &t)| audit_entry(t, n)).collect();
    store.append_audit(&entries[..3]).await.expect("append");
    store.append_audit(&entries[3..]).await.expect("append");
    let records = audit_all(&store).await;
    assert_eq!(records.len(), 8);

    // Only records strictly before `before` go; a batch of 0 removes nothing.
    assert_eq!(store.prune_audit(-7, 100).await.expect("prune"), 0);
    assert_eq!(store.prune_audit(i64::MIN, 100).await.expect("prune"), 0);
    assert_eq!(store.prune_audit(150, 0).await.expect("prune"), 0);
    assert_eq!(store.audit_anchor().await.expect("anchor"), AuditAnchor::default());
    assert_eq!(audit_all(&store).await, records);

    // At most `batch` at a time, oldest first; the anchor is the last one removed.
    assert_eq!(store.prune_audit(150, 2).await.expect("prune"), 2);
    let anchor = store.audit_anchor().await.expect("anchor");
    assert_eq!(anchor, at(&records[1]));
    let kept = audit_all(&store).await;
    assert_eq!(kept, records[2..].to_vec());
    assert_eq!(verify_chain(anchor, &kept), Ok(at(&records[7])), "the rest verifies from the anchor");

    assert_eq!(store.prune_audit(150, 100).await.expect("prune"), 3, "stops at the first record it keeps");
    let anchor = store.audit_anchor().await.expect("anchor");
    assert_eq!(anchor, at(&records[4]));
    let kept = audit_all(&store).await;
    assert_eq!(kept, records[5..].to_vec(), "seq 7 (older than 150) stays behind seq 6");
    assert_eq!(store.audit_after(0, 1).await.expect("page"), records[5..6].to_vec(), "paging starts at 6");
    assert_eq!(verify_chain(anchor, &kept), Ok(at(&records[7])));
    assert_eq!(store.prune_audit(150, 100).await.expect("prune"), 0, "the oldest kept is not before 150");
    assert_eq!(store.audit_anchor().await.expect("anchor"), anchor, "unmoved");

    // Appending after pruning continues the chain: sequence and hash.
    let later: Vec<AuditEntry> = (8..10).map(|n| audit_entry(400, n)).collect();
    store.append_audit(&later).await.expect("append");
    let kept = audit_all(&store).await;
    assert_eq!(kept.iter().map(|r| r.seq).collect::<Vec<_>>(), (6..=10).collect::<Vec<_>>());
    assert_eq!(kept[3..].to_vec(), chain(at(&records[7]), &later));
    assert_eq!(verify_chain(anchor, &kept), Ok(at(&kept[4])));

    // Pruning everything leaves the anchor at the last record, and the next one chains from it.
    assert_eq!(store.prune_audit(i64::MAX, 100).await.expect("prune"), 5);
    let anchor = store.audit_anchor().await.expect("anchor");
    assert_eq!(anchor, at(&kept[4]));
    assert_eq!(audit_all(&store).await, vec![]);
    assert_eq!(store.prune_audit(i64::MAX, 100).await.expect("prune"), 0);
    store.append_audit(&[audit_entry(500, 10)]).await.expect("append");
    let last = audit_all(&store).await;
    assert_eq!(last, chain(anchor, &[audit_entry(500, 10)]));
    assert_eq!((last[0].seq, last[0].prev), (11, anchor.hash));
    assert_eq!(verify_chain(anchor, &last), Ok(at(&last[0])));
}

async fn join_all<T: Send + 'static>(handles: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for h in handles.collect::<Vec<_>>() {
        out.push(h.await.expect("task"));
    }
    out
}

/// Expands to one `#[test]` per conformance case.
///
/// `$make` is a future (usually an `async` block) whose output converts into a
/// [`Subject`]: a store, an `Arc<dyn Store>` or a `Subject` with
/// guards. It is evaluated once per test, inside that test's multi-threaded runtime (4 workers).
#[macro_export]
macro_rules! conformance_suite {
    ($make:expr) => {
        $crate::conformance_suite!(@cases $make;
            create_then_peek_changes_nothing,
            duplicate_create_conflicts,
            take_once,
            max_views_count_down,
            concurrent_takes_exactly_one_wins,
            concurrent_takes_max_views_three,
            take_unguarded_leaves_passphrase_secrets_alone,
            concurrent_unguarded_takes_exactly_one_wins,
            reveals_are_noted_on_the_receipt,
            expired_secrets_are_unreadable,
            file_secrets_keep_their_file_info,
            chunks_round_trip_and_drop_per_secret,
            expired_chunks_are_unreadable_and_purged,
            receipts_outlive_their_secrets,
            failures_count_and_the_cap_burns,
            concurrent_failures_are_all_counted,
            concurrent_failures_burn_exactly_once,
            burn_destroys_a_live_secret_once,
            burn_after_reveal_is_already_gone,
            burn_of_unknown_or_expired_receipt_is_none,
            burn_races_take_one_wins,
            receipt_is_read_only,
            open_receipt_shows_the_link_once,
            concurrent_open_receipt_shows_the_link_once,
            recent_pages_newest_first,
            purge_removes_only_expired_rows_in_batches,
            accounts_and_api_keys,
            account_conflicts,
            ping_answers,
            key_registry_keeps_the_first_fingerprint,
            sessions_end_when_idle_or_at_their_end,
            sessions_end_one_or_everywhere,
            session_conflicts,
            purge_removes_only_dead_sessions,
            a_totp_step_is_accepted_once,
            password_hashes_are_kept_per_account,
            accounts_without_a_key_and_their_flags,
            api_key_fields_round_trip,
            api_keys_of_lists_one_accounts_keys_newest_first,
            an_api_key_is_revoked_once,
            second_factors_and_recovery_codes,
            concurrent_recovery_code_uses_win_once,
            the_last_totp_step_survives_re_enrolment,
            lockouts_count_lock_and_start_over,
            locked_lists_current_locks_soonest_first,
            concurrent_lockout_failures_are_all_counted,
            concurrent_lockout_failures_lock_once,
            rate_limit_allows_a_burst_then_says_how_long_to_wait,
            rate_limit_refills_one_slot_per_interval,
            rate_limit_keys_are_independent,
            a_refused_rate_hit_counts_nothing,
            concurrent_rate_hits_allow_exactly_the_limit,
            an_idle_rate_key_starts_fresh,
            rate_hits_follow_gcra_exactly,
            usage_counts_receipts_and_live_bytes_by_day_and_state,
            accounts_page_lists_by_email_with_search,
            accounts_pages_see_everyone_once_while_accounts_are_added,
            audit_records_chain_in_order_and_page,
            concurrent_audit_appends_never_fork_or_leave_a_gap,
            pruning_moves_the_anchor_and_the_chain_goes_on,
        );
    };
    (@cases $make:expr; $($case:ident),+ $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::conformance::run(async {
                    let subject: $crate::conformance::Subject = ::core::convert::Into::into($make.await);
                    $crate::conformance::$case(subject.store()).await;
                    ::core::mem::drop(subject);
                });
            }
        )+
    };
}
