//! The services against the in-memory store, with a fake clock.

use std::sync::Arc;

use once_core::{
    AuthPolicy, Clock, Core, CoreError, CreateSecret, FakeClock, Policy, SecretState, TtlRequest, ViewLimit,
};
use once_crypto::password::{PasswordParams, Weak};
use once_crypto::{KeyRing, PassphraseParams};
use once_store::memory::MemoryStore;
use once_store::{BurnReason, Role};
use zeroize::Zeroizing;

const T0: i64 = 1_700_000_000;
/// Argon2id cost for passwords in tests: the parameters, not the logic, make it slow.
const CHEAP: PasswordParams = PasswordParams { m_cost_kib: 256, t_cost: 1, p_cost: 1 };

fn setup() -> (Core, Arc<FakeClock>) {
    let clock = Arc::new(FakeClock::new(T0));
    let policy = Policy {
        passphrase_params: PassphraseParams { m_cost_kib: 64, t_cost: 1, p_cost: 1 },
        auth: AuthPolicy { password_params: CHEAP, ..AuthPolicy::default() },
        ..Policy::default()
    };
    let core = Core::new(
        Arc::new(MemoryStore::new()),
        Arc::new(KeyRing::generate_new(T0)),
        clock.clone() as Arc<dyn Clock>,
        policy,
    );
    (core, clock)
}

fn secret(text: &str) -> CreateSecret {
    CreateSecret {
        plaintext: Zeroizing::new(text.as_bytes().to_vec()),
        passphrase: None,
        key_proof: None,
        ttl: TtlRequest::Seconds(3600),
        views: ViewLimit::ONCE,
        recipient: None,
        share_domain: String::new(),
        owner: None,
    }
}

fn pw(p: &str) -> Option<Zeroizing<String>> {
    Some(Zeroizing::new(p.to_owned()))
}

#[tokio::test]
async fn reveals_exactly_once() {
    let (core, _) = setup();
    let c = core.secrets.create(secret("hi")).await.expect("create");
    assert_eq!(c.receipt.state, SecretState::New);
    let key = c.secret_key.expose().to_owned();
    let r = core.secrets.reveal(&key, None).await.expect("reveal");
    assert_eq!(&r.plaintext[..], b"hi");
    assert_eq!(r.views_left, 0);
    assert!(matches!(core.secrets.reveal(&key, None).await, Err(CoreError::NotFound)));
    let receipt = core.secrets.receipt(c.receipt_key.expose(), false).await.expect("receipt");
    assert_eq!(receipt.state, SecretState::Received);
    assert_eq!(receipt.received_at, Some(T0));
}

#[tokio::test]
async fn expiry_follows_the_clock() {
    let (core, clock) = setup();
    let c = core.secrets.create(secret("hi")).await.expect("create");
    clock.advance(3599);
    let receipt = core.secrets.receipt(c.receipt_key.expose(), false).await.expect("receipt");
    assert_eq!(receipt.secret_ttl_left(), 1);
    clock.advance(1);
    assert!(matches!(core.secrets.reveal(c.secret_key.expose(), None).await, Err(CoreError::NotFound)));
    let receipt = core.secrets.receipt(c.receipt_key.expose(), false).await.expect("receipt");
    assert_eq!(receipt.state, SecretState::Expired);
    // The receipt lives 2 × TTL, then it is gone too, and purging removes the rows.
    clock.advance(3600);
    assert!(matches!(core.secrets.receipt(c.receipt_key.expose(), false).await, Err(CoreError::NotFound)));
    assert_eq!(core.secrets.purge_expired(10).await.expect("purge"), 2);
}

#[tokio::test]
async fn wrong_passphrase_never_consumes_and_the_cap_burns() {
    let (core, _) = setup();
    let mut s = secret("hi");
    s.passphrase = pw("correct horse");
    let c = core.secrets.create(s).await.expect("create");
    let key = c.secret_key.expose().to_owned();
    assert!(c.receipt.has_passphrase);
    for _ in 0..4 {
        assert!(matches!(core.secrets.reveal(&key, pw("wrong")).await, Err(CoreError::NotFound)));
    }
    // No passphrase at all: refused, not counted, not consumed.
    assert!(matches!(core.secrets.reveal(&key, None).await, Err(CoreError::NotFound)));
    let r = core.secrets.receipt(c.receipt_key.expose(), false).await.expect("receipt");
    assert_eq!((r.state, r.failures), (SecretState::New, 4));
    let ok = core.secrets.reveal(&key, pw("correct horse")).await.expect("right passphrase");
    assert_eq!(&ok.plaintext[..], b"hi");

    let mut s = secret("hi");
    s.passphrase = pw("correct horse");
    let c = core.secrets.create(s).await.expect("create");
    let key = c.secret_key.expose().to_owned();
    for _ in 0..5 {
        assert!(matches!(core.secrets.reveal(&key, pw("wrong")).await, Err(CoreError::NotFound)));
    }
    assert!(matches!(core.secrets.reveal(&key, pw("correct horse")).await, Err(CoreError::NotFound)));
    let r = core.secrets.receipt(c.receipt_key.expose(), false).await.expect("receipt");
    assert_eq!(r.state, SecretState::Burned);
    assert_eq!(r.burn_reason, Some(BurnReason::PassphraseFailures));
}

#[tokio::test]
async fn max_views_are_exact() {
    let (core, _) = setup();
    let mut s = secret("hi");
    s.views = ViewLimit::new(3, core.secrets.policy()).expect("3 views");
    let c = core.secrets.create(s).await.expect("create");
    let key = c.secret_key.expose().to_owned();
    let lefts: Vec<u32> = futures_lite_join(&core, &key, 10).await;
    assert_eq!(lefts.len(), 3);
    let r = core.secrets.receipt(c.receipt_key.expose(), false).await.expect("receipt");
    assert_eq!((r.state, r.views, r.views_left()), (SecretState::Received, 3, 0));
}

async fn futures_lite_join(core: &Core, key: &str, n: usize) -> Vec<u32> {
    let mut out = Vec::new();
    for _ in 0..n {
        if let Ok(r) = core.secrets.reveal(key, None).await {
            out.push(r.views_left);
        }
    }
    out
}

#[tokio::test]
async fn receipt_shows_the_secret_link_once_and_burn_works() {
    let (core, _) = setup();
    let c = core.secrets.create(secret("hi")).await.expect("create");
    let rk = c.receipt_key.expose().to_owned();
    let first = core.secrets.receipt(&rk, true).await.expect("open");
    assert_eq!(first.secret_key.as_ref(), Some(&c.secret_key));
    let second = core.secrets.receipt(&rk, true).await.expect("open again");
    assert_eq!(second.state, SecretState::Viewed);
    assert!(second.secret_key.is_none());
    let (burned, now) = core.secrets.burn(&rk).await.expect("burn");
    assert!(now);
    assert_eq!((burned.state, burned.burn_reason), (SecretState::Burned, Some(BurnReason::Sender)));
    assert!(matches!(core.secrets.reveal(c.secret_key.expose(), None).await, Err(CoreError::NotFound)));
    let (again, now) = core.secrets.burn(&rk).await.expect("burn again");
    assert!(!now);
    assert_eq!(again.state, SecretState::Burned);
    assert!(matches!(core.secrets.burn(c.secret_key.expose()).await, Err(CoreError::NotFound)));
}

#[tokio::test]
async fn hostile_inputs_are_refused() {
    let (core, _) = setup();
    assert!(matches!(core.secrets.create(secret("")).await, Err(CoreError::Invalid(_))));
    let big = "x".repeat(core.secrets.policy().max_secret_bytes + 1);
    assert!(matches!(core.secrets.create(secret(&big)).await, Err(CoreError::TooLarge { .. })));
    for key in ["", "..", "%00", "a", &"z".repeat(8192)] {
        assert!(matches!(core.secrets.reveal(key, None).await, Err(CoreError::NotFound)));
        assert!(matches!(core.secrets.receipt(key, true).await, Err(CoreError::NotFound)));
    }
}

#[tokio::test]
async fn users_authenticate_and_list_their_recent_secrets() {
    let (core, clock) = setup();
    let u = core.accounts.add_user("Alice@Example.com", Role::User).await.expect("add");
    assert!(matches!(
        core.accounts.add_user("alice@example.com", Role::User).await,
        Err(CoreError::Conflict(_))
    ));
    let key = u.api_key.expose().to_owned();
    assert!(matches!(
        core.accounts.authenticate("bob@example.com", &key).await,
        Err(CoreError::Unauthorized)
    ));
    assert!(matches!(
        core.accounts.authenticate("alice@example.com", "once_nope").await,
        Err(CoreError::Unauthorized)
    ));
    let me = core.accounts.authenticate("ALICE@example.com", &key).await.expect("auth");
    let mut made = Vec::new();
    for i in 0..25 {
        let mut s = secret(&format!("s{i}"));
        s.owner = Some(me.clone());
        made.push(core.secrets.create(s).await.expect("create").receipt_key);
        if i % 3 == 0 {
            clock.advance(1);
        }
    }
    core.secrets.create(secret("someone else's")).await.expect("anon");
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = core.secrets.recent(&me, cursor.as_deref(), 10).await.expect("recent");
        for item in &page.items {
            assert_eq!(item.owner.as_deref(), Some("alice@example.com"));
            assert!(item.secret_key.is_none());
            seen.push(item.receipt_key.clone().expect("receipt key"));
        }
        match page.next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    made.reverse();
    assert_eq!(seen.len(), 25);
    let mut a: Vec<_> = seen.iter().map(|t| t.expose().to_owned()).collect();
    let mut b: Vec<_> = made.iter().map(|t| t.expose().to_owned()).collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
}

#[tokio::test]
async fn api_key_last_use_is_recorded_to_the_minute() {
    use once_store::AccountStore;
    let clock = Arc::new(FakeClock::new(T0));
    let store = Arc::new(MemoryStore::new());
    let core = Core::new(
        store.clone(),
        Arc::new(KeyRing::generate_new(T0)),
        clock.clone() as Arc<dyn Clock>,
        Policy::default(),
    );
    let u = core.accounts.add_user("carol@example.com", Role::User).await.expect("add");
    let hash = u.api_key.lookup_hash();
    let last_used = || async { store.api_key(&hash).await.expect("lookup").expect("key").0.last_used_at };
    assert_eq!(last_used().await, None);
    core.accounts.authenticate("carol@example.com", u.api_key.expose()).await.expect("auth");
    assert_eq!(last_used().await, Some(T0));
    clock.advance(59);
    core.accounts.authenticate("carol@example.com", u.api_key.expose()).await.expect("auth");
    assert_eq!(last_used().await, Some(T0), "no write within the minute");
    clock.advance(1);
    core.accounts.authenticate("carol@example.com", u.api_key.expose()).await.expect("auth");
    assert_eq!(last_used().await, Some(T0 + 60));
}

fn password(p: &str) -> Zeroizing<String> {
    Zeroizing::new(p.to_owned())
}

const GOOD: &str = "correct horse battery staple";

#[tokio::test]
async fn password_sign_in_opens_a_session_that_ends_when_idle_or_at_its_end() {
    let (core, clock) = setup();
    core.accounts.add_user("alice@example.com", Role::User).await.expect("add");
    let weak = core.accounts.set_password("alice@example.com", password("alice-2026-password")).await;
    assert!(matches!(weak, Err(CoreError::WeakPassword(Weak::ContainsContext))), "{weak:?}");
    let short = core.accounts.set_password("alice@example.com", password("Tr0ub4dor&3")).await;
    assert!(matches!(short, Err(CoreError::WeakPassword(Weak::TooShort { min: 12 }))), "{short:?}");
    core.accounts.set_password("Alice@Example.com", password(GOOD)).await.expect("set");

    for (email, given) in
        [("alice@example.com", "wrong horse battery staple"), ("bob@example.com", GOOD), ("nope", GOOD)]
    {
        let r = core.accounts.sign_in(email, password(given), "test").await;
        assert!(matches!(r, Err(CoreError::Unauthorized)), "{email}: {r:?}");
    }
    let signed = core
        .accounts
        .sign_in("ALICE@example.com", password(GOOD), "Firefox on Linux")
        .await
        .expect("sign in");
    assert_eq!(signed.account.email, "alice@example.com");
    let token = signed.token.expose().to_owned();
    let s = core.accounts.session(&token).await.expect("session").expect("live");
    assert_eq!(
        (s.account.email.as_str(), s.session.client.as_str()),
        ("alice@example.com", "Firefox on Linux")
    );
    assert!(!s.session.second_factor);

    // Used every 20 minutes it lives (idle timeout 30 min) until its 12-hour end.
    for _ in 0..35 {
        clock.advance(20 * 60);
        assert!(core.accounts.session(&token).await.expect("session").is_some());
    }
    clock.advance(20 * 60);
    assert!(core.accounts.session(&token).await.expect("session").is_none(), "past 12 hours");

    let again = core.accounts.sign_in("alice@example.com", password(GOOD), "x").await.expect("sign in");
    assert_ne!(again.token.expose(), token.as_str(), "a fresh session id each time");
    clock.advance(31 * 60);
    assert!(core.accounts.session(again.token.expose()).await.expect("session").is_none(), "idle");

    for bad in ["", "short", &"a".repeat(44), &token.to_uppercase()] {
        assert!(core.accounts.session(bad).await.expect("session").is_none(), "{bad:?}");
    }
}

#[tokio::test]
async fn sign_out_here_and_everywhere() {
    let (core, _clock) = setup();
    let alice = core.accounts.add_user("alice@example.com", Role::User).await.expect("add");
    core.accounts.set_password("alice@example.com", password(GOOD)).await.expect("set");
    let a = core.accounts.sign_in("alice@example.com", password(GOOD), "a").await.expect("a");
    let b = core.accounts.sign_in("alice@example.com", password(GOOD), "b").await.expect("b");
    let c = core.accounts.sign_in("alice@example.com", password(GOOD), "c").await.expect("c");
    core.accounts.sign_out(a.token.expose()).await.expect("sign out");
    assert!(core.accounts.session(a.token.expose()).await.expect("a").is_none());
    assert!(core.accounts.session(b.token.expose()).await.expect("b").is_some());
    core.accounts.sign_out("not-a-token").await.expect("harmless");
    assert_eq!(core.accounts.sign_out_everywhere(&alice.account.id).await.expect("everywhere"), 2);
    assert!(core.accounts.session(c.token.expose()).await.expect("c").is_none());
}

#[tokio::test]
async fn a_hash_under_weaker_parameters_is_upgraded_at_sign_in() {
    let store = Arc::new(MemoryStore::new());
    let keys = Arc::new(KeyRing::generate_new(T0));
    let clock = Arc::new(FakeClock::new(T0)) as Arc<dyn Clock>;
    let with = |m_cost_kib| Policy {
        auth: AuthPolicy { password_params: PasswordParams { m_cost_kib, ..CHEAP }, ..AuthPolicy::default() },
        ..Policy::default()
    };
    let old = Core::new(store.clone(), keys.clone(), clock.clone(), with(256));
    let alice = old.accounts.add_user("alice@example.com", Role::User).await.expect("add");
    old.accounts.set_password("alice@example.com", password(GOOD)).await.expect("set");
    use once_store::AccountStore;
    let before = store.password_hash(&alice.account.id).await.expect("get").expect("hash");
    assert!(before.contains("m=256,"), "{before}");

    let new = Core::new(store.clone(), keys, clock, with(512));
    new.accounts.sign_in("alice@example.com", password(GOOD), "x").await.expect("sign in");
    let after = store.password_hash(&alice.account.id).await.expect("get").expect("hash");
    assert!(after.contains("m=512,"), "rehashed: {after}");
    new.accounts.sign_in("alice@example.com", password(GOOD), "x").await.expect("the new hash works");
}
