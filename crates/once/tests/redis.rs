//! `once serve --store redis://…`: several instances on one Redis, and Redis going away.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Server, reveal_race};
use once_client::ShareOptions;
use once_store_redis::testing::{Cleanup, OwnedRedis, fresh_prefix, shared_redis_url};

/// Every instance of one deployment shares the master key (here 32 bytes of 0x2a).
const MASTER_KEY: &str = "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio=";

fn instance(dir: &std::path::Path, name: &str, url: &str, prefix: &str) -> Server {
    instance_with(dir, name, url, prefix, &[])
}

/// An instance with more settings (`ONCE_*` variables) on top of the shared ones.
fn instance_with(
    dir: &std::path::Path,
    name: &str,
    url: &str,
    prefix: &str,
    more: &[(&str, &str)],
) -> Server {
    let log = dir.join(format!("{name}.log"));
    let mut envs = vec![
        ("ONCE_MASTER_KEY", MASTER_KEY),
        ("ONCE_REDIS__KEY_PREFIX", prefix),
        ("ONCE_REDIS__TIMEOUT_MS", "1000"),
    ];
    envs.extend_from_slice(more);
    Server::spawn(&dir.join(name), log, &["--store", url], &envs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_one_redis_reveal_each_secret_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (url, prefix) = (shared_redis_url(), fresh_prefix());
    let _cleanup = Cleanup { url: url.clone(), prefix: prefix.clone() };
    let a = instance(dir.path(), "a", &url, &prefix);
    let b = instance(dir.path(), "b", &url, &prefix);
    let http = reqwest::Client::new();

    let mut keys = Vec::new();
    for i in 0..100 {
        // Created on either instance, revealed through both.
        let creator = if i % 2 == 0 { &a } else { &b };
        let m =
            creator.client().share(&format!("secret-{i}"), &ShareOptions::default()).await.expect("share");
        keys.push(m.secret_key.expect("key"));
    }
    let bases = [a.base(), b.base()];
    for (i, key) in keys.iter().enumerate() {
        assert_eq!(reveal_race(&http, &bases, key, 200, &format!("secret-{i}")).await, 1, "secret {i}");
    }
}

/// API v1 has no view limit, so these secrets are made through the core on the same Redis and
/// master key, then revealed over HTTP through both instances.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_one_redis_honour_max_views_exactly() {
    use once_core::{Core, CreateSecret, Policy, SystemClock, TtlRequest, ViewLimit};
    use once_store_redis::{RedisOptions, RedisStore};

    let dir = tempfile::tempdir().expect("tempdir");
    let (url, prefix) = (shared_redis_url(), fresh_prefix());
    let _cleanup = Cleanup { url: url.clone(), prefix: prefix.clone() };
    let a = instance(dir.path(), "a", &url, &prefix);
    let b = instance(dir.path(), "b", &url, &prefix);
    let options = RedisOptions { key_prefix: prefix.clone(), ..RedisOptions::default() };
    let store = Arc::new(RedisStore::open(&url, options).await.expect("store").0);
    let key = once_crypto::MasterKey::from_base64(MASTER_KEY).expect("key");
    let keys = Arc::new(once_crypto::KeyRing::from_single_key(key));
    let policy = Policy::default();
    let core = Core::new(store, keys, Arc::new(SystemClock), policy.clone());
    let http = reqwest::Client::new();

    for round in 0..10 {
        let created = core
            .secrets
            .create(CreateSecret {
                plaintext: zeroize::Zeroizing::new(format!("three-{round}").into_bytes()),
                passphrase: None,
                key_proof: None,
                ttl: TtlRequest::Default,
                views: ViewLimit::new(3, &policy).expect("3 views"),
                recipient: None,
                share_domain: String::new(),
                owner: None,
                only_for: None,
                access: None,
            })
            .await
            .expect("create");
        let token = created.secret_key.expose();
        let views = reveal_race(&http, &[a.base(), b.base()], token, 200, &format!("three-{round}")).await;
        assert_eq!(views, 3, "round {round}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_means_fast_503_and_service_resumes_by_itself() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut redis = OwnedRedis::start(&["--appendonly", "yes"]);
    let server = instance(dir.path(), "solo", &redis.url(), "once:");
    let m = server.client().share("survives the outage", &ShareOptions::default()).await.expect("share");
    let key = m.secret_key.expect("key");
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().expect("client");

    redis.kill_9();
    let reveal = format!("{}/api/v1/secret/{key}", server.base());
    for request in [http.get(format!("{}/readyz", server.base())), http.post(&reveal)] {
        let started = Instant::now();
        let resp = request.send().await.expect("answered");
        assert_eq!(resp.status().as_u16(), 503, "{}", resp.url().path());
        assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    }
    assert_eq!(
        http.get(format!("{}/healthz", server.base())).send().await.expect("healthz").status().as_u16(),
        200,
        "the process itself is alive"
    );

    redis.restart();
    let back = Instant::now();
    loop {
        let resp = http.get(format!("{}/readyz", server.base())).send().await.expect("readyz");
        if resp.status().is_success() {
            break;
        }
        assert!(back.elapsed() < Duration::from_secs(5), "not ready again within 5 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let secret = server.client().reveal(&key, None).await.expect("the secret is still there");
    assert_eq!(secret.value, "survives the outage");
    let log = server.stop();
    assert!(log.contains("append-only") || log.contains("connected to Redis"), "{log}");
}

#[tokio::test]
async fn an_instance_with_another_master_key_refuses_to_serve_the_shared_redis() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (url, prefix) = (shared_redis_url(), fresh_prefix());
    let _cleanup = Cleanup { url: url.clone(), prefix: prefix.clone() };
    let a = instance(dir.path(), "a", &url, &prefix);
    a.client().share("sealed under the shared key", &ShareOptions::default()).await.expect("share");

    // Forgot ONCE_MASTER_KEY: this instance would generate its own key ring.
    let out = common::once_command()
        .args(["serve", "--listen", "127.0.0.1:0", "--store", &url, "--data-dir"])
        .arg(dir.path().join("forgetful"))
        .env("ONCE_REDIS__KEY_PREFIX", &prefix)
        .output()
        .expect("run once serve");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "must refuse: {stderr}");
    assert!(stderr.contains("does not have") && stderr.contains("same keys"), "{stderr}");

    // It left no trace: the right instances still start.
    let b = instance(dir.path(), "b", &url, &prefix);
    b.client().share("still fine", &ShareOptions::default()).await.expect("share");
}

#[tokio::test]
async fn rate_limits_are_shared_by_the_instances_on_one_redis() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (url, prefix) = (shared_redis_url(), fresh_prefix());
    let _cleanup = Cleanup { url: url.clone(), prefix: prefix.clone() };
    let limits = [("ONCE_LIMITS__ENABLED", "true"), ("ONCE_LIMITS__CREATE_PER_MINUTE", "4")];
    let spawn = |name: &str| instance_with(dir.path(), name, &url, &prefix, &limits);
    let (a, b) = (spawn("a"), spawn("b"));
    let http = reqwest::Client::new();
    let mut created = 0;
    for i in 0..10 {
        let base = if i % 2 == 0 { a.base() } else { b.base() };
        let r = http
            .post(format!("{base}/api/v2/secrets"))
            .json(&serde_json::json!({"secret": "x"}))
            .send()
            .await;
        match r.expect("create").status().as_u16() {
            201 => created += 1,
            429 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(created, 4, "one quota for both instances");
}

/// 1,000 wrong passphrases from 50 addresses through two instances: the per-secret cap counts
/// every one of them, no more and no fewer.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn passphrase_guesses_through_two_instances_and_fifty_addresses_meet_the_cap_exactly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (url, prefix) = (shared_redis_url(), fresh_prefix());
    let _cleanup = Cleanup { url: url.clone(), prefix: prefix.clone() };
    let more = [
        ("ONCE_SECRETS__MAX_PASSPHRASE_FAILURES", "1000"),
        // The test client stands in for 50 clients behind a proxy.
        ("ONCE_HTTP__TRUSTED_PROXIES", "[\"127.0.0.1/32\"]"),
    ];
    let spawn = |name: &str| instance_with(dir.path(), name, &url, &prefix, &more);
    let (a, b) = (spawn("a"), spawn("b"));
    let opts = ShareOptions { passphrase: Some("the right one".into()), ..ShareOptions::default() };
    let m = a.client().share("guarded", &opts).await.expect("share");
    let key = m.secret_key.expect("key");
    let http = reqwest::Client::new();
    let bases = [a.base(), b.base()];

    let guess = |i: usize, passphrase: &'static str| {
        let (http, url) = (http.clone(), format!("{}/api/v1/secret/{key}", bases[i % 2]));
        async move {
            let resp = http
                .post(url)
                .header("x-forwarded-for", format!("10.0.0.{}", i % 50))
                .form(&[("passphrase", passphrase)])
                .send()
                .await
                .expect("guess");
            resp.status()
        }
    };
    let receipt = || {
        let (http, url) = (http.clone(), format!("{}/api/v2/receipts/{}", a.base(), m.metadata_key));
        async move {
            http.get(url).send().await.expect("receipt").json::<serde_json::Value>().await.expect("json")
        }
    };

    // 999 wrong guesses, 50 at a time: all refused, all counted, the secret still there.
    let sem = Arc::new(tokio::sync::Semaphore::new(50));
    let mut tasks = Vec::new();
    for i in 0..999 {
        let permit = sem.clone().acquire_owned().await.expect("permit");
        let g = guess(i, "wrong");
        tasks.push(tokio::spawn(async move {
            let status = g.await;
            drop(permit);
            status
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("task"), reqwest::StatusCode::NOT_FOUND);
    }
    let r = receipt().await;
    assert_eq!((r["failures"].as_u64(), r["state"].as_str()), (Some(999), Some("new")), "{r}");

    // The thousandth burns it; the right passphrase comes too late.
    assert_eq!(guess(999, "wrong").await, reqwest::StatusCode::NOT_FOUND);
    let r = receipt().await;
    assert_eq!(
        (r["failures"].as_u64(), r["state"].as_str(), r["burn_reason"].as_str()),
        (Some(1000), Some("burned"), Some("passphrase_failures")),
        "{r}"
    );
    assert_eq!(guess(1000, "the right one").await, reqwest::StatusCode::NOT_FOUND);
}
