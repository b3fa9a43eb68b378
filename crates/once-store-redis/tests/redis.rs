//! Redis-only properties: persistence across a crash, outage and recovery, refusal of evicting
//! servers, the key layout Redis Cluster needs, and scripts surviving a flushed script cache.

use std::time::{Duration, Instant};

use once_store::conformance::{NOW, account, pair};
use once_store::{
    AccountStore, AuditAnchor, AuditEntry, AuditStore, LockoutStore, RateLimitStore, Scopes, SecretStore,
    audit,
};
use once_store_redis::testing::{Cleanup, OwnedRedis, fresh_prefix};
use once_store_redis::{OpenError, RedisOptions, RedisStore};

fn options() -> RedisOptions {
    RedisOptions { key_prefix: fresh_prefix(), op_timeout: Duration::from_secs(1), ..RedisOptions::default() }
}

async fn open(url: &str) -> RedisStore {
    RedisStore::open(url, options()).await.expect("open").0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_aof_a_crash_neither_loses_nor_resurrects_secrets() {
    let mut redis = OwnedRedis::start(&["--appendonly", "yes", "--appendfsync", "everysec"]);
    let (store, report) = RedisStore::open(&redis.url(), options()).await.expect("open");
    assert!(report.aof_enabled, "{report:?}");
    let (revealed, revealed_receipt) = pair(1, 600, None, NOW);
    let (kept, kept_receipt) = pair(1, 600, None, NOW);
    store.create(revealed.clone(), revealed_receipt.clone()).await.expect("create");
    store.create(kept.clone(), kept_receipt).await.expect("create");
    assert!(store.take(&revealed.id, NOW).await.expect("take").is_some());

    redis.kill_9();
    redis.restart();

    let deadline = Instant::now() + Duration::from_secs(5);
    while store.ping().await.is_err() {
        assert!(Instant::now() < deadline, "no reconnect within 5 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(store.take(&revealed.id, NOW).await.expect("take"), None, "a revealed secret stays gone");
    assert_eq!(
        store.receipt(&revealed_receipt.id, NOW).await.expect("receipt").map(|r| r.views),
        Some(1),
        "its receipt still says it was received"
    );
    assert_eq!(store.peek(&kept.id, NOW).await.expect("peek"), Some(kept), "an acknowledged create survives");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_fails_fast_and_the_store_recovers_by_itself() {
    let mut redis = OwnedRedis::start(&["--appendonly", "yes"]);
    let store = open(&redis.url()).await;
    let (secret, receipt) = pair(1, 600, None, NOW);
    store.create(secret.clone(), receipt).await.expect("create");

    redis.kill_9();
    for _ in 0..3 {
        let started = Instant::now();
        assert!(store.peek(&secret.id, NOW).await.is_err(), "no answer from a dead Redis");
        assert!(store.ping().await.is_err());
        assert!(started.elapsed() < Duration::from_secs(3), "failed in {:?}", started.elapsed());
    }

    redis.restart();
    let back = Instant::now();
    while store.ping().await.is_err() {
        assert!(back.elapsed() < Duration::from_secs(5), "no reconnect within 5 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(store.peek(&secret.id, NOW).await.expect("peek"), Some(secret));
}

#[tokio::test]
async fn an_evicting_redis_is_refused_unless_explicitly_allowed() {
    let redis = OwnedRedis::start(&["--maxmemory-policy", "allkeys-lru"]);
    let err = RedisStore::open(&redis.url(), options()).await.err().expect("refused");
    assert!(matches!(err, OpenError::Evicting { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains("allkeys-lru") && message.contains("noeviction"), "{message}");
    assert!(message.contains("danger_allow_eviction"), "{message}");

    let allowed = RedisOptions { danger_allow_eviction: true, ..options() };
    let (_, report) = RedisStore::open(&redis.url(), allowed).await.expect("allowed");
    assert_eq!(report.maxmemory_policy, "allkeys-lru");
    assert!(!report.aof_enabled);
}

#[tokio::test]
async fn an_unreachable_redis_fails_startup_with_its_address() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let started = Instant::now();
    let opts = RedisOptions { connect_wait: Duration::from_millis(600), ..options() };
    let err = RedisStore::open(&format!("redis://127.0.0.1:{port}/"), opts).await.err().expect("unreachable");
    assert!(matches!(err, OpenError::Unreachable { .. }), "{err}");
    assert!(err.to_string().contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());

    let err = RedisStore::open("redis://user:hunter2@", options()).await.err().expect("bad url");
    assert!(!err.to_string().contains("hunter2"), "{err}");
    let bad_prefix = RedisOptions { key_prefix: "a{b}:".into(), ..options() };
    assert!(matches!(RedisStore::open("redis://127.0.0.1/", bad_prefix).await, Err(OpenError::Prefix(_))));
}

#[tokio::test]
async fn each_secret_lives_in_one_cluster_slot_and_carries_a_ttl() {
    let url = once_store_redis::testing::shared_redis_url();
    let opts = options();
    let prefix = opts.key_prefix.clone();
    let _cleanup = Cleanup { url: url.clone(), prefix: prefix.clone() };
    let (store, _) = RedisStore::open(&url, opts).await.expect("open");
    let (secret, receipt) = pair(2, 600, Some("owner-1"), NOW);
    store.create(secret.clone(), receipt.clone()).await.expect("create");
    let (a, k) = account("alice@example.com", NOW);
    store.add_account(a, Some(k)).await.expect("account");

    let client = redis::Client::open(url.as_str()).expect("client");
    let mut conn = client.get_connection().expect("connection");
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}*")).query(&mut conn).expect("keys");
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let sid_tag = format!("{{{}}}", hex(&secret.id.0));
    let rid_tag = format!("{{{}}}", hex(&receipt.id.0));
    let of_secret: Vec<&String> = keys.iter().filter(|k| k.contains(&sid_tag)).collect();
    assert_eq!(of_secret.len(), 2, "secret and receipt state share the secret's tag: {keys:?}");
    assert_eq!(keys.iter().filter(|k| k.contains(&rid_tag)).count(), 1, "the receipt pointer: {keys:?}");
    for key in keys.iter().filter(|k| k.contains(&sid_tag) || k.contains(&rid_tag)) {
        let ttl: i64 = redis::cmd("PTTL").arg(key).query(&mut conn).expect("pttl");
        // Lifetime (600 s for the secret, 1200 s for the receipt) plus an hour's grace.
        assert!((600_000..=(1200 + 3600) * 1000).contains(&ttl), "{key}: {ttl}");
    }
    let account_keys: Vec<&String> = keys.iter().filter(|k| k.contains("{acct}")).collect();
    assert!(account_keys.len() >= 4, "accounts live in one slot: {keys:?}");
    let tagged = |k: &&String| k.contains('{');
    let untagged: Vec<&String> = keys.iter().filter(|k| !tagged(k)).collect();
    assert!(
        untagged.iter().all(|k| k.ends_with("exp:s") || k.ends_with("exp:r") || k.contains("owner:")),
        "only single-key indexes go untagged: {untagged:?}"
    );
    // The secret's value in Redis is exactly the envelope the core sealed, nothing more.
    let envelope: Vec<u8> = redis::cmd("HGET")
        .arg(of_secret.iter().find(|k| k.ends_with(":s")).expect("s"))
        .arg("e")
        .query(&mut conn)
        .expect("hget");
    assert_eq!(envelope, secret.envelope);
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// API keys written before scopes, expiry and revocation (and before each account had a key
/// index) read as `share read burn` keys that never expire, and are listed once a store opens.
#[tokio::test]
async fn api_keys_from_the_earlier_layout_read_with_defaults_and_are_indexed() {
    let url = once_store_redis::testing::shared_redis_url();
    let opts = options();
    let prefix = opts.key_prefix.clone();
    let _cleanup = Cleanup { url: url.clone(), prefix: prefix.clone() };
    let client = redis::Client::open(url.as_str()).expect("client");
    let mut conn = client.get_connection().expect("connection");
    let layout = format!("{prefix}{{acct}}:layout");

    let (store, _) = RedisStore::open(&url, opts.clone()).await.expect("open");
    let marker: Option<i64> = redis::cmd("GET").arg(&layout).query(&mut conn).expect("get");
    assert_eq!(marker, Some(2), "a new store starts at the current layout");
    let (alice, first) = account("alice@example.com", NOW);
    store.add_account(alice.clone(), Some(first.clone())).await.expect("account");
    let (_, second) = account("alice@example.com", NOW + 1);
    store.add_api_key(second.clone()).await.expect("key");
    let (bob, bobs) = account("bob@example.com", NOW + 2);
    store.add_account(bob.clone(), Some(bobs.clone())).await.expect("account");
    drop(store);

    // Back to the earlier layout: no new fields, no key index, no layout marker.
    for k in [&first, &second, &bobs] {
        let key = format!("{prefix}{{acct}}:k:{}", hex(&k.hash));
        let _: () = redis::cmd("HDEL").arg(&key).arg("sc").query(&mut conn).expect("hdel");
        let fields: Vec<String> = redis::cmd("HKEYS").arg(&key).query(&mut conn).expect("hkeys");
        assert!(fields.iter().all(|f| ["a", "n", "c", "w"].contains(&f.as_str())), "{fields:?}");
    }
    for a in [&alice, &bob] {
        let _: () = redis::cmd("DEL")
            .arg(format!("{prefix}{{acct}}:ks:{}", hex(a.id.0.as_bytes())))
            .query(&mut conn)
            .expect("del");
    }
    let _: () = redis::cmd("DEL").arg(&layout).query(&mut conn).expect("del");

    let (store, _) = RedisStore::open(&url, opts).await.expect("reopen");
    let marker: Option<i64> = redis::cmd("GET").arg(&layout).query(&mut conn).expect("get");
    assert_eq!(marker, Some(2));
    let (k, a) = store.api_key(&first.hash).await.expect("key").expect("exists");
    assert_eq!((k.scopes, k.expires_at, k.revoked_at), (Scopes::USER, None, None));
    assert_eq!((k, a), (first.clone(), alice.clone()));
    assert_eq!(store.api_keys_of(&alice.id).await.expect("list"), vec![second, first.clone()]);
    assert_eq!(store.api_keys_of(&bob.id).await.expect("list"), vec![bobs]);
    assert!(store.revoke_api_key(&alice.id, &first.hash, NOW + 5).await.expect("revoke"));
    let (k, _) = store.api_key(&first.hash).await.expect("key").expect("exists");
    assert_eq!((k.scopes, k.revoked_at), (Scopes::USER, Some(NOW + 5)));
}

#[tokio::test]
async fn lockouts_live_in_one_slot_and_carry_a_ttl() {
    let url = once_store_redis::testing::shared_redis_url();
    let opts = options();
    let prefix = opts.key_prefix.clone();
    let _cleanup = Cleanup { url: url.clone(), prefix: prefix.clone() };
    let (store, _) = RedisStore::open(&url, opts).await.expect("open");
    store.lockout_failure("2fa:alice", 5, 600, 900, NOW).await.expect("counted");
    store.lockout_failure("2fa:bob", 1, 600, 7200, NOW).await.expect("locked");

    let client = redis::Client::open(url.as_str()).expect("client");
    let mut conn = client.get_connection().expect("connection");
    let mut keys: Vec<String> =
        redis::cmd("KEYS").arg(format!("{prefix}{{lock}}*")).query(&mut conn).expect("keys");
    keys.sort();
    let counter = |s: &str| format!("{prefix}{{lock}}:l:{}", hex(s.as_bytes()));
    assert_eq!(keys, vec![counter("2fa:alice"), counter("2fa:bob"), format!("{prefix}{{lock}}:locked")]);
    let ttl = |key: String, conn: &mut redis::Connection| -> i64 {
        redis::cmd("PTTL").arg(key).query(conn).expect("pttl")
    };
    // The longer of window and lock, plus an hour's grace: a backstop, not the lock itself.
    let alice = ttl(counter("2fa:alice"), &mut conn);
    assert!(((600 + 3590) * 1000..=(600 + 3600) * 1000).contains(&alice), "{alice}");
    let bob = ttl(counter("2fa:bob"), &mut conn);
    assert!(((7200 + 3590) * 1000..=(7200 + 3600) * 1000).contains(&bob), "{bob}");

    // An ended lock leaves the index once it is older than the grace period.
    assert_eq!(store.locked(NOW + 7200, 10).await.expect("locked"), vec![]);
    let indexed: i64 =
        redis::cmd("ZCARD").arg(format!("{prefix}{{lock}}:locked")).query(&mut conn).expect("zcard");
    assert_eq!(indexed, 1, "kept a while: another instance's clock may be behind");
    assert_eq!(store.locked(NOW + 7200 + 3600, 10).await.expect("locked"), vec![]);
    let indexed: i64 =
        redis::cmd("ZCARD").arg(format!("{prefix}{{lock}}:locked")).query(&mut conn).expect("zcard");
    assert_eq!(indexed, 0);
}

#[tokio::test]
async fn rate_counters_are_hex_named_in_slots_of_their_own_and_vanish_when_idle() {
    let url = once_store_redis::testing::shared_redis_url();
    let opts = options();
    let prefix = opts.key_prefix.clone();
    let _cleanup = Cleanup { url: url.clone(), prefix: prefix.clone() };
    let (store, _) = RedisStore::open(&url, opts).await.expect("open");
    let client = redis::Client::open(url.as_str()).expect("client");
    let mut conn = client.get_connection().expect("connection");

    // Braces in a caller's key can't touch the hash tag: the key is hex in a tag of its own.
    let now = 1_754_000_000_000;
    assert_eq!(store.rate_hit("ip:a}b{", 10, 60_000, now).await.expect("hit"), None);
    assert_eq!(store.rate_hit("ip:a}b{", 10, 60_000, now).await.expect("hit"), None);
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}{{rl*")).query(&mut conn).expect("keys");
    let key = format!("{prefix}{{rl:{}}}", hex(b"ip:a}b{"));
    assert_eq!(keys, vec![key.clone()]);
    let tat: String = redis::cmd("GET").arg(&key).query(&mut conn).expect("get");
    assert_eq!(tat, (now + 12_000).to_string(), "the TAT in ms, as an integer");
    let ttl: i64 = redis::cmd("PTTL").arg(&key).query(&mut conn).expect("pttl");
    assert!((11_000..=12_000).contains(&ttl), "expires when the TAT is reached: {ttl}");

    // With Redis's own clock running, an idle key goes when its TAT passes (10 ms here).
    assert_eq!(store.rate_hit("idle", 100, 1_000, now).await.expect("hit"), None);
    let idle = format!("{prefix}{{rl:{}}}", hex(b"idle"));
    let deadline = Instant::now() + Duration::from_secs(5);
    while redis::cmd("EXISTS").arg(&idle).query::<i64>(&mut conn).expect("exists") == 1 {
        assert!(Instant::now() < deadline, "the idle counter stayed");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // Exact at the edge of the range Lua's doubles hold; refused beyond it.
    let edge = 1_i64 << 51;
    let mut tat = None;
    for _ in 0..4 {
        let expected = once_store::gcra(tat, 3, edge, edge);
        tat = expected.ok().or(tat);
        assert_eq!(store.rate_hit("edge", 3, edge, edge).await.expect("hit"), expected.err());
    }
    assert!(store.rate_hit("edge", 3, 60_000, edge + 1).await.is_err());
    assert!(store.rate_hit("edge", 3, -edge - 1, now).await.is_err());
}

#[tokio::test]
async fn scripts_survive_a_flushed_script_cache() {
    let redis = OwnedRedis::start(&[]);
    let store = open(&redis.url()).await;
    let client = redis::Client::open(redis.url()).expect("client");
    let mut conn = client.get_connection().expect("connection");
    for round in 0..3 {
        let _: () = redis::cmd("SCRIPT").arg("FLUSH").query(&mut conn).expect("flush");
        let (secret, receipt) = pair(1, 600, None, NOW);
        store.create(secret.clone(), receipt.clone()).await.unwrap_or_else(|e| panic!("create {round}: {e}"));
        let _: () = redis::cmd("SCRIPT").arg("FLUSH").query(&mut conn).expect("flush");
        assert!(store.take(&secret.id, NOW).await.expect("take").is_some(), "round {round}");
        let _: () = redis::cmd("SCRIPT").arg("FLUSH").query(&mut conn).expect("flush");
        assert!(store.receipt(&receipt.id, NOW).await.expect("receipt").is_some());
        let _: () = redis::cmd("SCRIPT").arg("FLUSH").query(&mut conn).expect("flush");
        assert_eq!(store.purge_expired(NOW + 10_000, 100).await.expect("purge"), 1, "round {round}");
    }
}

/// Two stores with their own connections, as two instances have: claims stay exactly-once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_claim_exactly_once_and_count_views_exactly() {
    let url = once_store_redis::testing::shared_redis_url();
    let opts = options();
    let _cleanup = Cleanup { url: url.clone(), prefix: opts.key_prefix.clone() };
    let a = std::sync::Arc::new(RedisStore::open(&url, opts.clone()).await.expect("a").0);
    let b = std::sync::Arc::new(RedisStore::open(&url, opts).await.expect("b").0);
    for (views, secrets) in [(1u32, 100), (3, 20)] {
        for _ in 0..secrets {
            let (secret, receipt) = pair(views, 600, None, NOW);
            a.create(secret.clone(), receipt).await.expect("create");
            let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(200));
            let tasks: Vec<_> = (0..200)
                .map(|i| {
                    let store = if i % 2 == 0 { a.clone() } else { b.clone() };
                    let (barrier, id) = (barrier.clone(), secret.id);
                    tokio::spawn(async move {
                        barrier.wait().await;
                        store.take(&id, NOW).await.expect("no store error")
                    })
                })
                .collect();
            let mut won = 0;
            for t in tasks {
                if t.await.expect("task").is_some() {
                    won += 1;
                }
            }
            assert_eq!(won, views, "views {views}");
        }
    }
}

/// Accounts written before the accounts-by-e-mail index existed (or by an older instance, whose
/// script does not add to it) are listed all the same: the index is completed when found short.
#[tokio::test]
async fn accounts_missing_from_the_email_index_are_listed() {
    let url = once_store_redis::testing::shared_redis_url();
    let opts = options();
    let prefix = opts.key_prefix.clone();
    let _cleanup = Cleanup { url: url.clone(), prefix: prefix.clone() };
    let client = redis::Client::open(url.as_str()).expect("client");
    let mut conn = client.get_connection().expect("connection");
    let store = RedisStore::open(&url, opts).await.expect("open").0;
    let emails = ["carol@example.com", "alice@example.com", "bob@example.com"];
    for (i, e) in emails.iter().enumerate() {
        store.add_account(account(e, NOW + i as i64).0, None).await.expect("account");
    }
    let index = format!("{prefix}{{acct}}:em");
    let _: () = redis::cmd("DEL").arg(&index).query(&mut conn).expect("del");
    let page = store.accounts_page(None, None, 10).await.expect("page");
    let listed: Vec<&str> = page.iter().map(|a| a.email.as_str()).collect();
    assert_eq!(listed, ["alice@example.com", "bob@example.com", "carol@example.com"]);
    let members: Vec<String> =
        redis::cmd("ZRANGE").arg(&index).arg(0).arg(-1).query(&mut conn).expect("zrange");
    assert_eq!(members.len(), 3, "the index is complete again");
}

/// Two instances (own connections) appending at once build one chain: each append is chained
/// client-side and lands only if the head is still the one it read. The `{audit}` keys share one
/// slot and never expire.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_append_to_one_audit_chain_in_one_slot() {
    let url = once_store_redis::testing::shared_redis_url();
    let opts = options();
    let prefix = opts.key_prefix.clone();
    let _cleanup = Cleanup { url: url.clone(), prefix: prefix.clone() };
    let a = std::sync::Arc::new(RedisStore::open(&url, opts.clone()).await.expect("a").0);
    let b = std::sync::Arc::new(RedisStore::open(&url, opts).await.expect("b").0);
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(100));
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let store = if i % 2 == 0 { a.clone() } else { b.clone() };
            let barrier = barrier.clone();
            tokio::spawn(async move {
                let entries: Vec<AuditEntry> = (0..2)
                    .map(|part| AuditEntry {
                        time: NOW + i,
                        event: "secret.created".into(),
                        actor: format!("caller-{i}"),
                        detail: format!("part={part}"),
                        ..AuditEntry::default()
                    })
                    .collect();
                barrier.wait().await;
                store.append_audit(&entries).await.expect("append");
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    let records = b.audit_after(0, 1000).await.expect("read");
    assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), (1..=200).collect::<Vec<_>>());
    assert!(audit::verify_chain(AuditAnchor::default(), &records).is_ok());
    assert!(records.chunks(2).all(|p| p[0].entry.actor == p[1].entry.actor), "each append is one run");
    assert_eq!(a.prune_audit(NOW + 1000, 20).await.expect("prune"), 20);
    assert_eq!(b.audit_anchor().await.expect("anchor"), AuditAnchor { seq: 20, hash: records[19].hash });

    let client = redis::Client::open(url.as_str()).expect("client");
    let mut conn = client.get_connection().expect("connection");
    let mut keys: Vec<String> =
        redis::cmd("KEYS").arg(format!("{prefix}*audit*")).query(&mut conn).expect("keys");
    keys.sort();
    let key = |name: &str| format!("{prefix}{{audit}}:{name}");
    assert_eq!(keys, vec![key("anchor"), key("head"), key("log")]);
    for k in &keys {
        let ttl: i64 = redis::cmd("PTTL").arg(k).query(&mut conn).expect("pttl");
        assert_eq!(ttl, -1, "{k}: kept until pruned");
    }
}
