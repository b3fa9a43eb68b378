//! The conformance suite: the one set of tests every store backend must pass.
//!
//! A backend's test crate invokes [`conformance_suite!`](crate::conformance_suite) with an async
//! expression that yields a fresh, empty [`Subject`]; the macro expands to one `#[tokio::test]` per
//! case, each with its own store.
//!
//! ```text
//! once_store::conformance_suite!(async {
//!     let dir = tempfile::tempdir().unwrap();
//!     let store = MyStore::open(dir.path()).unwrap();
//!     once_store::conformance::Subject::new(store).keep(dir)
//! });
//! ```

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

#[doc(hidden)]
pub use tokio;

use crate::{
    Account, AccountId, ApiKeyRecord, BurnOutcome, BurnReason, Cursor, FailureOutcome, Receipt, ReceiptState,
    RecordId, Role, SecretRecord, Store, StoreError,
};

/// A store under test, plus whatever must live as long as it (a temp dir, a server handle).
pub struct Subject {
    pub store: Arc<dyn Store>,
    _guards: Vec<Box<dyn Any + Send>>,
}

impl Subject {
    pub fn new(store: impl Store + 'static) -> Self {
        Subject { store: Arc::new(store), _guards: Vec::new() }
    }

    /// Keeps `guard` alive for the duration of the test.
    pub fn keep(mut self, guard: impl Any + Send) -> Self {
        self._guards.push(Box::new(guard));
        self
    }
}

const NOW: i64 = 1_700_000_000;

static NEXT: AtomicU64 = AtomicU64::new(1);

/// A fresh record id, unique within the process (and random enough across processes).
pub fn fresh_id() -> RecordId {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let salt = std::process::id() as u64;
    let mut id = [0u8; 32];
    id[..8].copy_from_slice(&n.to_be_bytes());
    id[8..16].copy_from_slice(&salt.to_be_bytes());
    id[16..24].copy_from_slice(&(n.wrapping_mul(0x9E37_79B9_7F4A_7C15)).to_be_bytes());
    RecordId(id)
}

/// A secret and its receipt, as the core would create them.
pub fn pair(views: u32, ttl: i64, owner: Option<&str>, created_at: i64) -> (SecretRecord, Receipt) {
    let (sid, rid) = (fresh_id(), fresh_id());
    let secret = SecretRecord {
        id: sid,
        receipt_id: rid,
        envelope: sid.0.to_vec(),
        has_passphrase: false,
        views_left: views,
        failures: 0,
        created_at,
        expires_at: created_at + ttl,
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
        share_domain: String::new(),
        created_at,
        updated_at: created_at,
        received_at: None,
        secret_expires_at: created_at + ttl,
        expires_at: created_at + 2 * ttl,
    };
    (secret, receipt)
}

async fn put(s: &Subject, views: u32) -> (SecretRecord, Receipt) {
    let (secret, receipt) = pair(views, 60, None, NOW);
    s.store.create(secret.clone(), receipt.clone()).await.expect("create");
    (secret, receipt)
}

pub async fn create_then_peek_changes_nothing(s: Subject) {
    let (secret, receipt) = put(&s, 1).await;
    assert_eq!(s.store.peek(&secret.id, NOW).await.expect("peek"), Some(secret.clone()));
    assert_eq!(s.store.peek(&secret.id, NOW).await.expect("peek"), Some(secret.clone()));
    assert_eq!(s.store.receipt(&receipt.id, NOW).await.expect("receipt"), Some(receipt));
    assert_eq!(s.store.peek(&fresh_id(), NOW).await.expect("peek unknown"), None);
}

pub async fn duplicate_create_conflicts(s: Subject) {
    let (secret, receipt) = put(&s, 1).await;
    let again = s.store.create(secret, receipt).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
}

pub async fn take_once(s: Subject) {
    let (secret, receipt) = put(&s, 1).await;
    let taken = s.store.take(&secret.id, NOW + 1).await.expect("take").expect("first take wins");
    assert_eq!(taken.envelope, secret.envelope);
    assert_eq!(taken.views_left, 0);
    assert_eq!(s.store.take(&secret.id, NOW + 1).await.expect("take"), None);
    assert_eq!(s.store.peek(&secret.id, NOW + 1).await.expect("peek"), None);
    let r = s.store.receipt(&receipt.id, NOW + 1).await.expect("receipt").expect("receipt stays");
    assert_eq!((r.state, r.views, r.received_at), (ReceiptState::Received, 1, Some(NOW + 1)));
    assert_eq!(r.sealed_secret_key, None);
}

async fn race(s: &Subject, views: u32, callers: usize) -> usize {
    let (secret, _) = put(s, views).await;
    let barrier = Arc::new(tokio::sync::Barrier::new(callers));
    let mut tasks = Vec::with_capacity(callers);
    for _ in 0..callers {
        let (store, barrier, id) = (s.store.clone(), barrier.clone(), secret.id);
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store.take(&id, NOW).await.expect("take")
        }));
    }
    let mut wins = 0;
    for t in tasks {
        if t.await.expect("task").is_some() {
            wins += 1;
        }
    }
    wins
}

pub async fn concurrent_takes_exactly_one_wins(s: Subject) {
    assert_eq!(race(&s, 1, 200).await, 1);
}

pub async fn concurrent_takes_max_views_three(s: Subject) {
    assert_eq!(race(&s, 3, 200).await, 3);
}

pub async fn max_views_count_down(s: Subject) {
    let (secret, receipt) = put(&s, 3).await;
    for left in [2, 1, 0] {
        assert_eq!(s.store.take(&secret.id, NOW).await.expect("take").map(|t| t.views_left), Some(left));
        let r = s.store.receipt(&receipt.id, NOW).await.expect("receipt").expect("receipt");
        assert_eq!(r.views, 3 - left);
        let expected = if left == 0 { ReceiptState::Received } else { ReceiptState::New };
        assert_eq!(r.state, expected);
    }
    assert_eq!(s.store.take(&secret.id, NOW).await.expect("take"), None);
}

pub async fn expired_secrets_are_unreadable(s: Subject) {
    let (secret, receipt) = put(&s, 1).await;
    let expiry = secret.expires_at;
    assert!(s.store.peek(&secret.id, expiry - 1).await.expect("peek").is_some());
    assert_eq!(s.store.peek(&secret.id, expiry).await.expect("peek"), None);
    assert_eq!(s.store.take(&secret.id, expiry).await.expect("take"), None);
    assert_eq!(s.store.record_failure(&secret.id, 5, expiry).await.expect("fail"), FailureOutcome::Gone);
    // The receipt outlives the secret, then expires too.
    assert!(s.store.receipt(&receipt.id, expiry).await.expect("receipt").is_some());
    assert!(matches!(
        s.store.burn(&receipt.id, expiry).await.expect("burn"),
        Some(BurnOutcome::AlreadyGone(_))
    ));
    assert_eq!(s.store.receipt(&receipt.id, receipt.expires_at).await.expect("receipt"), None);
}

pub async fn failures_count_and_the_cap_burns(s: Subject) {
    let (secret, receipt) = put(&s, 1).await;
    for n in 1..3 {
        assert_eq!(
            s.store.record_failure(&secret.id, 3, NOW).await.expect("fail"),
            FailureOutcome::Counted { failures: n }
        );
    }
    assert_eq!(s.store.peek(&secret.id, NOW).await.expect("peek").map(|p| p.failures), Some(2));
    assert_eq!(s.store.record_failure(&secret.id, 3, NOW).await.expect("fail"), FailureOutcome::Burned);
    assert_eq!(s.store.take(&secret.id, NOW).await.expect("take"), None);
    assert_eq!(s.store.record_failure(&secret.id, 3, NOW).await.expect("fail"), FailureOutcome::Gone);
    let r = s.store.receipt(&receipt.id, NOW).await.expect("receipt").expect("receipt");
    assert_eq!(
        (r.state, r.burn_reason, r.failures),
        (ReceiptState::Burned, Some(BurnReason::PassphraseFailures), 3)
    );
}

pub async fn concurrent_failures_are_all_counted(s: Subject) {
    let (secret, _) = put(&s, 1).await;
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (store, id) = (s.store.clone(), secret.id);
        tasks.push(tokio::spawn(async move { store.record_failure(&id, 1000, NOW).await.expect("fail") }));
    }
    for t in tasks {
        assert!(matches!(t.await.expect("task"), FailureOutcome::Counted { .. }));
    }
    assert_eq!(s.store.peek(&secret.id, NOW).await.expect("peek").map(|p| p.failures), Some(50));
}

pub async fn burn_destroys_a_live_secret_once(s: Subject) {
    let (secret, receipt) = put(&s, 1).await;
    let Some(BurnOutcome::Burned(r)) = s.store.burn(&receipt.id, NOW + 5).await.expect("burn") else {
        panic!("a live secret burns");
    };
    assert_eq!(
        (r.state, r.burn_reason, r.updated_at),
        (ReceiptState::Burned, Some(BurnReason::Sender), NOW + 5)
    );
    assert_eq!(r.sealed_secret_key, None);
    assert_eq!(s.store.take(&secret.id, NOW + 5).await.expect("take"), None);
    assert!(matches!(
        s.store.burn(&receipt.id, NOW + 5).await.expect("burn"),
        Some(BurnOutcome::AlreadyGone(_))
    ));
    assert_eq!(s.store.burn(&fresh_id(), NOW).await.expect("burn unknown"), None);

    let (secret, receipt) = put(&s, 1).await;
    s.store.take(&secret.id, NOW).await.expect("take").expect("won");
    let Some(BurnOutcome::AlreadyGone(r)) = s.store.burn(&receipt.id, NOW).await.expect("burn") else {
        panic!("a received secret can't be burned");
    };
    assert_eq!(r.state, ReceiptState::Received);
}

pub async fn open_receipt_shows_the_link_once(s: Subject) {
    let (_, receipt) = put(&s, 1).await;
    let first = s.store.open_receipt(&receipt.id, NOW + 1).await.expect("open").expect("exists");
    assert_eq!(first.state, ReceiptState::New);
    assert_eq!(first.sealed_secret_key, receipt.sealed_secret_key);
    let second = s.store.open_receipt(&receipt.id, NOW + 2).await.expect("open").expect("exists");
    assert_eq!((second.state, second.sealed_secret_key.as_ref()), (ReceiptState::Viewed, None));
    // receipt() never changes anything.
    let read = s.store.receipt(&receipt.id, NOW + 3).await.expect("read").expect("exists");
    assert_eq!(read, second);
    assert_eq!(s.store.open_receipt(&fresh_id(), NOW).await.expect("open unknown"), None);
}

pub async fn recent_pages_newest_first(s: Subject) {
    let owner = format!(
        "owner-{}@example.com",
        fresh_id().0[0..8].iter().map(|b| format!("{b:02x}")).collect::<String>()
    );
    let mut made = Vec::new();
    for i in 0..25 {
        let (secret, receipt) = pair(1, 600, Some(&owner), NOW + i / 3);
        made.push(receipt.id);
        s.store.create(secret, receipt).await.expect("create");
    }
    let (other_s, other_r) = pair(1, 600, Some("someone-else@example.com"), NOW);
    s.store.create(other_s, other_r).await.expect("create other");
    let (expired_s, expired_r) = pair(1, 1, Some(&owner), NOW - 100);
    s.store.create(expired_s, expired_r).await.expect("create expired");

    let who = AccountId(owner);
    let mut seen: Vec<Receipt> = Vec::new();
    let mut cursor = None;
    let mut sizes = Vec::new();
    loop {
        let page = s.store.recent(&who, cursor, 10, NOW + 50).await.expect("recent");
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
    let mut ids: Vec<RecordId> = seen.iter().map(|r| r.id).collect();
    ids.sort();
    made.sort();
    assert_eq!(ids, made, "every receipt once, no others");
}

pub async fn purge_removes_only_expired_rows_in_batches(s: Subject) {
    let mut expired = Vec::new();
    for _ in 0..5 {
        let (secret, receipt) = pair(1, 10, None, NOW);
        expired.push((secret.id, receipt.id));
        s.store.create(secret, receipt).await.expect("create");
    }
    let (live, live_r) = put(&s, 1).await;
    // At NOW+10 the five secrets (ttl 10) are expired, their receipts (ttl 20) are not.
    assert_eq!(s.store.purge_expired(NOW + 10, 2).await.expect("purge"), 2);
    assert_eq!(s.store.purge_expired(NOW + 10, 100).await.expect("purge"), 3);
    assert_eq!(s.store.purge_expired(NOW + 10, 100).await.expect("purge"), 0);
    for (sid, rid) in &expired {
        assert_eq!(s.store.peek(sid, NOW).await.expect("peek"), None, "physically gone");
        assert!(s.store.receipt(rid, NOW + 10).await.expect("receipt").is_some());
    }
    assert!(s.store.peek(&live.id, NOW).await.expect("peek").is_some());
    assert_eq!(s.store.purge_expired(NOW + 20, 100).await.expect("purge"), 5);
    assert!(s.store.receipt(&live_r.id, NOW).await.expect("receipt").is_some());
}

fn account(email: &str, at: i64) -> (Account, ApiKeyRecord) {
    let a = Account {
        id: AccountId(email.into()),
        email: email.into(),
        role: Role::User,
        created_at: at,
        disabled: false,
    };
    let k = ApiKeyRecord {
        hash: fresh_id().0,
        account_id: a.id.clone(),
        name: "default".into(),
        created_at: at,
        last_used_at: None,
        wrapped_vault_key: vec![9; 48],
    };
    (a, k)
}

pub async fn accounts_and_api_keys(s: Subject) {
    let (alice, alice_key) = account("alice@example.com", NOW);
    let (bob, bob_key) = account("bob@example.com", NOW + 1);
    s.store.add_account(bob.clone(), bob_key).await.expect("bob");
    s.store.add_account(alice.clone(), alice_key.clone()).await.expect("alice");
    let (dup, dup_key) = account("alice@example.com", NOW + 2);
    assert!(matches!(s.store.add_account(dup, dup_key).await, Err(StoreError::Conflict(_))));
    assert_eq!(s.store.account_by_email("alice@example.com").await.expect("get"), Some(alice.clone()));
    assert_eq!(s.store.account_by_email("carol@example.com").await.expect("get"), None);
    assert_eq!(s.store.accounts().await.expect("list"), vec![alice.clone(), bob]);

    assert_eq!(
        s.store.api_key(&alice_key.hash).await.expect("key"),
        Some((alice_key.clone(), alice.clone()))
    );
    assert_eq!(s.store.api_key(&fresh_id().0).await.expect("unknown key"), None);
    s.store.touch_api_key(&alice_key.hash, NOW + 9).await.expect("touch");
    let (k, _) = s.store.api_key(&alice_key.hash).await.expect("key").expect("exists");
    assert_eq!(k.last_used_at, Some(NOW + 9));

    let (_, mut second) = account("alice@example.com", NOW + 3);
    second.name = "ci".into();
    s.store.add_api_key(second.clone()).await.expect("second key");
    assert_eq!(
        s.store.api_key(&second.hash).await.expect("key").map(|(k, a)| (k.name, a.email)),
        Some(("ci".into(), alice.email))
    );
}

pub async fn ping_answers(s: Subject) {
    s.store.ping().await.expect("ping");
}

/// Expands to one test per conformance case. `$make` is an async expression yielding a fresh
/// [`Subject`]; it is evaluated once per test.
#[macro_export]
macro_rules! conformance_suite {
    ($make:expr) => {
        $crate::conformance_suite!(@cases $make;
            create_then_peek_changes_nothing,
            duplicate_create_conflicts,
            take_once,
            concurrent_takes_exactly_one_wins,
            concurrent_takes_max_views_three,
            max_views_count_down,
            expired_secrets_are_unreadable,
            failures_count_and_the_cap_burns,
            concurrent_failures_are_all_counted,
            burn_destroys_a_live_secret_once,
            open_receipt_shows_the_link_once,
            recent_pages_newest_first,
            purge_removes_only_expired_rows_in_batches,
            accounts_and_api_keys,
            ping_answers,
        );
    };
    (@cases $make:expr; $($case:ident),+ $(,)?) => {
        $(
            #[$crate::conformance::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let subject: $crate::conformance::Subject = $make.await;
                $crate::conformance::$case(subject).await;
            }
        )+
    };
}
