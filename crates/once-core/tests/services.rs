//! The services against the in-memory store, with a fake clock.

use std::sync::Arc;

use once_core::{
    AccessPolicy, AuthPolicy, Clock, Core, CoreError, CreateSecret, FakeClock, Policy, RecipientRule,
    SecretState, SignInStep, SignedIn, SignupMode, TtlRequest, Unlock, ViewLimit, Viewer, Visitor,
};
use once_crypto::password::{PasswordParams, Weak};
use once_crypto::totp::{TotpPolicy, TotpSecret};
use once_crypto::{KeyRing, PassphraseParams};
use once_store::memory::MemoryStore;
use once_store::{BurnReason, Role, Scope, Scopes};
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
        only_for: None,
        access: None,
    }
}

fn as_visitor(account: Option<&Viewer>) -> Visitor {
    Visitor { account: account.cloned(), ip: None, takes_files: false }
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

fn signed_in(step: Result<SignInStep, CoreError>) -> SignedIn {
    step.expect("sign in").signed_in().expect("no second factor")
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
        .expect("sign in")
        .signed_in()
        .expect("no second factor");
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

    let again = signed_in(core.accounts.sign_in("alice@example.com", password(GOOD), "x").await);
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
    let a = signed_in(core.accounts.sign_in("alice@example.com", password(GOOD), "a").await);
    let b = signed_in(core.accounts.sign_in("alice@example.com", password(GOOD), "b").await);
    let c = signed_in(core.accounts.sign_in("alice@example.com", password(GOOD), "c").await);
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

fn setup_with(auth: AuthPolicy) -> (Core, Arc<FakeClock>) {
    let clock = Arc::new(FakeClock::new(T0));
    let policy = Policy {
        passphrase_params: PassphraseParams { m_cost_kib: 64, t_cost: 1, p_cost: 1 },
        auth: AuthPolicy { password_params: CHEAP, ..auth },
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

#[tokio::test]
async fn sign_up_follows_the_mode() {
    let (closed, _) = setup_with(AuthPolicy::default());
    let r = closed.accounts.sign_up("alice@example.com", password(GOOD), "x").await;
    assert!(matches!(r, Err(CoreError::SignupRefused)), "closed by default: {r:?}");

    let domains =
        AuthPolicy { signup: SignupMode::Domains(vec!["example.com".into()]), ..AuthPolicy::default() };
    let (core, _) = setup_with(domains);
    let r = core.accounts.sign_up("mallory@evil.org", password(GOOD), "x").await;
    assert!(matches!(r, Err(CoreError::SignupRefused)), "{r:?}");
    let r = core.accounts.sign_up("alice@example.com", password("password1234"), "x").await;
    assert!(matches!(r, Err(CoreError::WeakPassword(_))), "{r:?}");
    let s = core.accounts.sign_up("Alice@Example.com", password(GOOD), "x").await.expect("sign up");
    assert_eq!((s.account.email.as_str(), s.account.role), ("alice@example.com", Role::User));
    assert!(core.accounts.session(s.token.expose()).await.expect("session").is_some(), "signed in");
    let r = core.accounts.sign_up("alice@example.com", password(GOOD), "x").await;
    assert!(matches!(r, Err(CoreError::Conflict(_))), "{r:?}");
    signed_in(core.accounts.sign_in("alice@example.com", password(GOOD), "x").await);
}

/// Signs alice up and enrols TOTP; returns the secret and the recovery codes.
async fn enrolled(core: &Core, clock: &FakeClock) -> (TotpSecret, Vec<Zeroizing<String>>) {
    let s = core.accounts.sign_up("alice@example.com", password(GOOD), "x").await.expect("sign up");
    let e = core.accounts.begin_totp(&s.account.id, &s.account.email).expect("begin");
    assert!(
        e.otpauth_uri.starts_with("otpauth://totp/Once:alice%40example.com?secret="),
        "{}",
        &*e.otpauth_uri
    );
    let secret = TotpSecret::from_base32(&e.secret_base32).expect("base32");
    let policy = TotpPolicy::default();
    let wrong = core.accounts.confirm_totp(&s.account.id, &e.ticket, "000000").await;
    let right = policy.code_at(&secret, clock.now() as u64).expect("code");
    if right != "000000" {
        assert!(matches!(wrong, Err(CoreError::Invalid(_))), "{wrong:?}");
    }
    let codes = core.accounts.confirm_totp(&s.account.id, &e.ticket, &right).await.expect("confirm");
    assert_eq!(codes.len(), 10);
    let st = core.accounts.second_factor_status(&s.account.id).await.expect("status").expect("enabled");
    assert_eq!(st.recovery_codes_left, 10);
    (secret, codes)
}

fn ticket(step: Result<SignInStep, CoreError>) -> String {
    match step.expect("password step") {
        SignInStep::SecondFactor { ticket } => ticket,
        SignInStep::Done(_) => panic!("the second factor was skipped"),
    }
}

#[tokio::test]
async fn totp_sign_in_accepts_each_code_once_and_recovery_codes_once() {
    let (core, clock) = setup_with(AuthPolicy { signup: SignupMode::Open, ..AuthPolicy::default() });
    let (secret, codes) = enrolled(&core, &clock).await;
    let policy = TotpPolicy::default();

    // The code that confirmed enrolment can't sign in.
    let confirming = policy.code_at(&secret, clock.now() as u64).expect("code");
    let t = ticket(core.accounts.sign_in("alice@example.com", password(GOOD), "x").await);
    let r = core.accounts.second_factor(&t, &confirming, "x").await;
    assert!(matches!(r, Err(CoreError::Unauthorized)), "{r:?}");

    clock.advance(30);
    let code = policy.code_at(&secret, clock.now() as u64).expect("code");
    let s = core.accounts.second_factor(&t, &code, "x").await.expect("code accepted");
    let live = core.accounts.session(s.token.expose()).await.expect("session").expect("live");
    assert!(live.session.second_factor);
    let again = core.accounts.second_factor(&t, &code, "x").await;
    assert!(matches!(again, Err(CoreError::Unauthorized)), "the same code twice: {again:?}");

    // A recovery code works once, typed any way.
    let typed = codes[0].to_uppercase().replace('-', " ");
    core.accounts.second_factor(&t, &typed, "x").await.expect("recovery code");
    let r = core.accounts.second_factor(&t, &codes[0], "x").await;
    assert!(matches!(r, Err(CoreError::Unauthorized)), "{r:?}");
    let id = s.account.id.clone();
    assert_eq!(core.accounts.second_factor_status(&id).await.expect("s").expect("on").recovery_codes_left, 9);

    // The ticket from the password step expires.
    clock.advance(5 * 60);
    let next = policy.code_at(&secret, clock.now() as u64).expect("code");
    let r = core.accounts.second_factor(&t, &next, "x").await;
    assert!(matches!(r, Err(CoreError::Unauthorized)), "expired ticket: {r:?}");
}

#[tokio::test]
async fn fifty_concurrent_submissions_of_one_code_sign_in_once() {
    let (core, clock) = setup_with(AuthPolicy { signup: SignupMode::Open, ..AuthPolicy::default() });
    let (secret, _) = enrolled(&core, &clock).await;
    clock.advance(30);
    let code = TotpPolicy::default().code_at(&secret, clock.now() as u64).expect("code");
    let t = ticket(core.accounts.sign_in("alice@example.com", password(GOOD), "x").await);
    let core = Arc::new(core);
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let (core, t, code) = (core.clone(), t.clone(), code.clone());
            tokio::spawn(async move { core.accounts.second_factor(&t, &code, "x").await.is_ok() })
        })
        .collect();
    let mut ok = 0;
    for task in tasks {
        ok += usize::from(task.await.expect("join"));
    }
    assert_eq!(ok, 1);
}

#[tokio::test]
async fn five_wrong_codes_lock_the_second_factor_for_fifteen_minutes() {
    let (core, clock) = setup_with(AuthPolicy { signup: SignupMode::Open, ..AuthPolicy::default() });
    let (secret, codes) = enrolled(&core, &clock).await;
    let policy = TotpPolicy::default();
    let t = ticket(core.accounts.sign_in("alice@example.com", password(GOOD), "x").await);
    let right = |clock: &FakeClock| policy.code_at(&secret, clock.now() as u64).expect("code");
    let wrong = |clock: &FakeClock| {
        let r = right(clock);
        (0..1_000_000u32).map(|n| format!("{n:06}")).find(|c| *c != r).expect("another code")
    };
    for i in 1..=4 {
        let r = core.accounts.second_factor(&t, &wrong(&clock), "x").await;
        assert!(matches!(r, Err(CoreError::Unauthorized)), "{i}: {r:?}");
    }
    let r = core.accounts.second_factor(&t, &wrong(&clock), "x").await;
    assert!(matches!(r, Err(CoreError::Locked { until }) if until == clock.now() + 900), "{r:?}");
    clock.advance(30);
    let r = core.accounts.second_factor(&t, &right(&clock), "x").await;
    assert!(matches!(r, Err(CoreError::Locked { .. })), "right code while locked: {r:?}");
    let r = core.accounts.second_factor(&t, &codes[1], "x").await;
    assert!(matches!(r, Err(CoreError::Locked { .. })), "recovery code while locked: {r:?}");

    clock.advance(15 * 60);
    let t = ticket(core.accounts.sign_in("alice@example.com", password(GOOD), "x").await);
    core.accounts.second_factor(&t, &right(&clock), "x").await.expect("after the lock");
}

#[tokio::test]
async fn api_keys_carry_scopes_expiry_and_revocation() {
    let (core, clock) = setup();
    let alice = core.accounts.add_user("alice@example.com", Role::User).await.expect("add");
    let p = core.accounts.authenticate("alice@example.com", alice.api_key.expose()).await.expect("auth");
    assert_eq!(p.scopes, Scopes::USER);
    let read_only = core
        .accounts
        .create_api_key(&p, "ci reader", Scopes::of(&[Scope::Read]), Some(clock.now() + 3600))
        .await
        .expect("create");
    let r = core.accounts.create_api_key(&p, "boss", Scopes::ALL, None).await;
    assert!(matches!(r, Err(CoreError::Invalid(_))), "no admin scope for a user: {r:?}");
    let r = core.accounts.create_api_key(&p, "none", Scopes::default(), None).await;
    assert!(matches!(r, Err(CoreError::Invalid(_))), "{r:?}");

    let q = core.accounts.authenticate_key(None, read_only.key.expose()).await.expect("auth");
    assert!(q.may(Scope::Read) && !q.may(Scope::Share));
    // The new key opens the same vault: the same recent list.
    assert_eq!(q.vault.expose(), p.vault.expose());
    let r = core.accounts.create_api_key(&q, "escalate", Scopes::of(&[Scope::Share]), None).await;
    assert!(matches!(r, Err(CoreError::Invalid(_))), "a key can't mint wider keys: {r:?}");

    clock.advance(3600);
    let r = core.accounts.authenticate_key(None, read_only.key.expose()).await;
    assert!(matches!(r, Err(CoreError::Unauthorized)), "expired: {r:?}");

    let keys = core.accounts.api_keys_of(&alice.account.id).await.expect("list");
    assert_eq!(keys.len(), 2);
    assert!(
        core.accounts.revoke_api_key(&alice.account.id, &alice.api_key.lookup_hash()).await.expect("revoke")
    );
    let r = core.accounts.authenticate("alice@example.com", alice.api_key.expose()).await;
    assert!(matches!(r, Err(CoreError::Unauthorized)), "revoked: {r:?}");
}

#[tokio::test]
async fn disabling_a_user_ends_their_sessions() {
    let (core, _) = setup();
    core.accounts.add_user("alice@example.com", Role::User).await.expect("add");
    core.accounts.set_password("alice@example.com", password(GOOD)).await.expect("set");
    let s = signed_in(core.accounts.sign_in("alice@example.com", password(GOOD), "x").await);
    let a = core.accounts.set_disabled("alice@example.com", true).await.expect("disable");
    assert!(a.disabled);
    assert!(core.accounts.session(s.token.expose()).await.expect("session").is_none());
    let r = core.accounts.sign_in("alice@example.com", password(GOOD), "x").await;
    assert!(matches!(r, Err(CoreError::Unauthorized)), "{r:?}");
    core.accounts.set_disabled("alice@example.com", false).await.expect("enable");
    let a = core.accounts.set_role("alice@example.com", Role::Admin).await.expect("role");
    assert_eq!(a.role, Role::Admin);
    signed_in(core.accounts.sign_in("alice@example.com", password(GOOD), "x").await);
}

#[tokio::test]
async fn web_sessions_carry_the_vault_so_the_recent_list_shows_receipt_links() {
    let (core, clock) = setup_with(AuthPolicy { signup: SignupMode::Open, ..AuthPolicy::default() });
    let s = core.accounts.sign_up("alice@example.com", password(GOOD), "x").await.expect("sign up");
    let who = core.accounts.session(s.token.expose()).await.expect("session").expect("live");
    let me = who.principal().expect("a vault in the session");
    assert_eq!(me.scopes, Scopes::USER);
    let mut made = secret("mine");
    made.owner = Some(me.clone());
    let created = core.secrets.create(made).await.expect("create");
    let receipt_key = created.receipt.receipt_key.as_ref().expect("key").expose().to_owned();
    let listed = |p: once_core::Principal| {
        let core = &core;
        async move {
            let page = core.secrets.recent(&p, None, 10).await.expect("recent");
            page.items
                .iter()
                .map(|v| v.receipt_key.as_ref().map(|k| k.expose().to_owned()))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(listed(me).await, vec![Some(receipt_key.clone())]);

    // Signing in again opens the same vault, through the second factor too.
    let (secret2, _) = {
        let e = core.accounts.begin_totp(&s.account.id, &s.account.email).expect("begin");
        let secret = TotpSecret::from_base32(&e.secret_base32).expect("base32");
        let code = TotpPolicy::default().code_at(&secret, clock.now() as u64).expect("code");
        (secret, core.accounts.confirm_totp(&s.account.id, &e.ticket, &code).await.expect("confirm"))
    };
    clock.advance(30);
    let t = ticket(core.accounts.sign_in("alice@example.com", password(GOOD), "y").await);
    let code = TotpPolicy::default().code_at(&secret2, clock.now() as u64).expect("code");
    let again = core.accounts.second_factor(&t, &code, "y").await.expect("signed in");
    let who = core.accounts.session(again.token.expose()).await.expect("session").expect("live");
    assert_eq!(listed(who.principal().expect("vault")).await, vec![Some(receipt_key.clone())]);

    // Changing the password keeps the vault and ends every other session.
    let new = "a different long passphrase 42";
    let changed = core
        .accounts
        .change_password(&who, password(GOOD), password(new), "y")
        .await
        .expect("change password");
    assert!(
        core.accounts.session(again.token.expose()).await.expect("session").is_none(),
        "old session ended"
    );
    let who = core.accounts.session(changed.token.expose()).await.expect("session").expect("new session");
    assert!(who.session.second_factor, "still past the second factor");
    assert_eq!(listed(who.principal().expect("vault")).await, vec![Some(receipt_key.clone())]);
    let r = core.accounts.change_password(&who, password(GOOD), password(new), "y").await;
    assert!(matches!(r, Err(CoreError::Unauthorized)), "the old password no longer works: {r:?}");

    // A password an admin sets can't open the old vault: the list keeps the receipt, not its link.
    core.accounts
        .set_password("alice@example.com", password("an admin's reset password 7"))
        .await
        .expect("reset");
    let t = ticket(
        core.accounts.sign_in("alice@example.com", password("an admin's reset password 7"), "z").await,
    );
    clock.advance(30);
    let code = TotpPolicy::default().code_at(&secret2, clock.now() as u64).expect("code");
    let reset = core.accounts.second_factor(&t, &code, "z").await.expect("signed in");
    let who = core.accounts.session(reset.token.expose()).await.expect("session").expect("live");
    assert_eq!(listed(who.principal().expect("a new vault")).await, vec![None]);
}

#[tokio::test]
async fn a_secret_for_a_signed_in_recipient_reveals_only_to_them_and_consumes_nothing_before() {
    let (core, _) = setup();
    let bob = |second_factor| Viewer { email: "bob@example.com".into(), second_factor };
    let alice = Viewer { email: "alice@example.com".into(), second_factor: true };

    let mut only_bob = secret("for bob");
    only_bob.only_for = Some(RecipientRule::new(Some("Bob@Example.com"), true).expect("rule"));
    only_bob.views = ViewLimit::new(1, &Policy::default()).expect("views");
    let c = core.secrets.create(only_bob).await.expect("create");
    let key = c.secret_key.expose().to_owned();
    for who in [None, Some(&alice), Some(&bob(false))] {
        let p = core.secrets.preview(&key, &as_visitor(who)).await;
        assert!(matches!(p, Err(CoreError::SignInRequired)), "{who:?}: {p:?}");
        let r = core.secrets.reveal_with(&key, Unlock::Nothing, &as_visitor(who)).await;
        assert!(matches!(r, Err(CoreError::SignInRequired)), "{who:?}: {r:?}");
        let r = core.secrets.reveal(&key, pw("a passphrase anyway")).await;
        assert!(matches!(r, Err(CoreError::SignInRequired)), "{r:?}");
    }
    assert_eq!(
        core.secrets.preview(&key, &as_visitor(Some(&bob(true)))).await.expect("preview").views_left,
        1
    );
    let r = core
        .secrets
        .reveal_with(&key, Unlock::Nothing, &as_visitor(Some(&bob(true))))
        .await
        .expect("bob reveals");
    assert_eq!(&r.plaintext[..], b"for bob");
    let again = core.secrets.reveal_with(&key, Unlock::Nothing, &as_visitor(Some(&bob(true)))).await;
    assert!(matches!(again, Err(CoreError::NotFound)), "once: {again:?}");

    // Any signed-in account, with a passphrase on top.
    let mut members = secret("for members");
    members.only_for = Some(RecipientRule::new(None, false).expect("rule"));
    members.passphrase = pw("open sesame");
    let c = core.secrets.create(members).await.expect("create");
    let key = c.secret_key.expose().to_owned();
    assert!(c.receipt.has_passphrase);
    let r = core.secrets.reveal_with(&key, Unlock::Nothing, &Visitor::default()).await;
    assert!(matches!(r, Err(CoreError::SignInRequired)), "{r:?}");
    let r = core.secrets.reveal_with(&key, Unlock::Nothing, &as_visitor(Some(&alice))).await;
    assert!(matches!(r, Err(CoreError::NotFound)), "the passphrase is still needed: {r:?}");
    let unlock = Unlock::Passphrase(Zeroizing::new("open sesame".into()));
    let r =
        core.secrets.reveal_with(&key, unlock, &as_visitor(Some(&bob(false)))).await.expect("member reveals");
    assert_eq!(&r.plaintext[..], b"for members");
}

#[tokio::test]
async fn security_events_reach_the_audit_sink_dated_and_without_secret_material() {
    let clock = Arc::new(FakeClock::new(T0));
    let sink = Arc::new(once_core::audit::MemorySink::default());
    let policy = Policy {
        passphrase_params: PassphraseParams { m_cost_kib: 64, t_cost: 1, p_cost: 1 },
        auth: AuthPolicy { password_params: CHEAP, ..AuthPolicy::default() },
        ..Policy::default()
    };
    let core = Core::with_audit(
        Arc::new(MemoryStore::new()),
        Arc::new(KeyRing::generate_new(T0)),
        clock.clone() as Arc<dyn Clock>,
        policy,
        sink.clone(),
    );
    let mut s = secret("AUDIT-CANARY-9d2");
    s.passphrase = pw("AUDIT-PASS-77");
    let c = core.secrets.create(s).await.expect("create");
    let key = c.secret_key.expose().to_owned();
    clock.advance(5);
    assert!(core.secrets.reveal(&key, pw("AUDIT-WRONG-13")).await.is_err());
    core.secrets.reveal(&key, pw("AUDIT-PASS-77")).await.expect("reveal");
    let events: Vec<(String, String, i64)> =
        sink.entries().iter().map(|e| (e.event.clone(), e.outcome.clone(), e.time)).collect();
    assert_eq!(
        events,
        [
            ("secret.created".to_owned(), "ok".to_owned(), T0),
            ("secret.reveal".to_owned(), "denied:wrong_passphrase".to_owned(), T0 + 5),
            ("secret.revealed".to_owned(), "ok".to_owned(), T0 + 5),
        ]
    );
    let record = &sink.entries()[0].record;
    assert_eq!(record.len(), 8, "a short hash prefix: {record}");
    assert!(sink.entries().iter().all(|e| e.record == *record), "the same secret throughout");
    let all = format!("{:?}", sink.entries());
    for needle in ["AUDIT-CANARY", "AUDIT-PASS", "AUDIT-WRONG", key.as_str(), c.receipt_key.expose()] {
        assert!(!all.contains(needle), "{needle} in the audit trail");
    }
}

#[tokio::test]
async fn an_access_policy_refuses_visits_outside_it_consumes_nothing_and_audits_why() {
    struct Geo;
    impl once_core::GeoIp for Geo {
        fn country(&self, ip: std::net::IpAddr) -> Option<String> {
            (ip.to_string() == "203.0.113.7").then(|| "KR".to_owned())
        }
    }
    let clock = Arc::new(FakeClock::new(T0));
    let sink = Arc::new(once_core::audit::MemorySink::default());
    let core = Core::with_audit(
        Arc::new(MemoryStore::new()),
        Arc::new(KeyRing::generate_new(T0)),
        clock.clone() as Arc<dyn Clock>,
        Policy::default(),
        sink.clone(),
    );
    let from = |ip: &str| Visitor { account: None, ip: Some(ip.parse().expect("ip")), takes_files: false };

    // Countries need a GeoIP database.
    let mut s = secret("kr only");
    s.access = AccessPolicy::new(&[], &["KR".to_owned()], None, None).expect("policy");
    let r = core.secrets.create(s).await;
    assert!(matches!(r, Err(CoreError::Invalid(ref m)) if m.contains("GeoIP")), "{r:?}");
    let core = core.with_geoip(Arc::new(Geo));

    let mut s = secret("office only");
    s.access = AccessPolicy::new(&["10.0.0.0/8".to_owned()], &["KR".to_owned()], Some(T0 + 60), None)
        .expect("policy");
    s.views = ViewLimit::new(2, &Policy::default()).expect("views");
    let key = core.secrets.create(s).await.expect("create").secret_key.expose().to_owned();

    let denied = |r: Result<once_core::Revealed, CoreError>| matches!(r, Err(CoreError::AccessDenied));
    assert!(denied(core.secrets.reveal_with(&key, Unlock::Nothing, &from("10.1.2.3")).await), "not yet");
    clock.advance(60);
    assert!(denied(core.secrets.reveal_with(&key, Unlock::Nothing, &from("192.0.2.1")).await), "network");
    assert!(denied(core.secrets.reveal_with(&key, Unlock::Nothing, &from("10.1.2.3")).await), "country");
    assert!(denied(core.secrets.reveal(&key, None).await), "an unknown address is outside any list");
    assert!(matches!(core.secrets.preview(&key, &from("192.0.2.1")).await, Err(CoreError::AccessDenied)));

    // In the network and the country: both views are still there.
    let mut s2 = secret("network only");
    s2.access =
        AccessPolicy::new(&["203.0.113.0/24".to_owned()], &["kr".to_owned()], None, None).expect("policy");
    let key2 = core.secrets.create(s2).await.expect("create").secret_key.expose().to_owned();
    assert_eq!(core.secrets.preview(&key2, &from("203.0.113.7")).await.expect("preview").views_left, 1);
    let r = core.secrets.reveal_with(&key2, Unlock::Nothing, &from("203.0.113.7")).await.expect("reveal");
    assert_eq!(&r.plaintext[..], b"network only");
    assert!(matches!(
        core.secrets.reveal_with(&key2, Unlock::Nothing, &from("203.0.113.7")).await,
        Err(CoreError::NotFound)
    ));
    assert_eq!(
        core.secrets.preview(&key, &from("203.0.113.7")).await.expect_err("network").to_string(),
        CoreError::AccessDenied.to_string()
    );

    let outcomes: Vec<String> =
        sink.entries().iter().filter(|e| e.event == "secret.reveal").map(|e| e.outcome.clone()).collect();
    assert_eq!(
        outcomes,
        [
            "denied:policy_not_before",
            "denied:policy_network",
            "denied:policy_country",
            "denied:policy_network",
            "denied:unknown",
        ]
    );
}

#[tokio::test]
async fn weekly_hours_open_and_close_a_secret_in_its_time_zone() {
    let (core, clock) = setup();
    let mut s = secret("office hours");
    s.ttl = TtlRequest::Seconds(3 * 86_400);
    let spans = ["mon-sun 09:00-18:00".to_owned()];
    s.access = AccessPolicy::new(&[], &[], None, Some(("Asia/Seoul", &spans))).expect("policy");
    let key = core.secrets.create(s).await.expect("create").secret_key.expose().to_owned();
    let seoul_day_start = {
        let now = clock.now();
        // Seoul is UTC+9 all year: its midnight is 15:00 UTC of the day before.
        now - (now + 9 * 3600).rem_euclid(86_400)
    };
    let tomorrow = seoul_day_start + 86_400;
    clock.set(tomorrow + 8 * 3600 + 3599);
    assert!(matches!(
        core.secrets.reveal_with(&key, Unlock::Nothing, &Visitor::default()).await,
        Err(CoreError::AccessDenied)
    ));
    clock.set(tomorrow + 9 * 3600);
    let r =
        core.secrets.reveal_with(&key, Unlock::Nothing, &Visitor::default()).await.expect("open at 09:00");
    assert_eq!(&r.plaintext[..], b"office hours");
}
