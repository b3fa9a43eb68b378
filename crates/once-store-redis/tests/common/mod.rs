//! A store on the test Redis under a prefix of its own, and a guard that deletes its keys.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};

use once_store_redis::{RedisOptions, RedisStore};

pub fn redis_url() -> String {
    std::env::var("ONCE_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into())
}

static NEXT: AtomicU64 = AtomicU64::new(0);

/// A prefix no other test (in this or another process) uses.
pub fn fresh_prefix() -> String {
    format!("once-test:{}:{}:", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Deletes every key under its prefix when dropped (synchronously: it may drop outside a runtime).
pub struct Cleanup {
    pub url: String,
    pub prefix: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let Ok(client) = redis::Client::open(self.url.as_str()) else { return };
        let Ok(mut conn) = client.get_connection() else { return };
        let keys: Vec<Vec<u8>> = match redis::cmd("KEYS").arg(format!("{}*", self.prefix)).query(&mut conn) {
            Ok(keys) => keys,
            Err(_) => return,
        };
        if !keys.is_empty() {
            let _: redis::RedisResult<()> = redis::cmd("DEL").arg(keys).query(&mut conn);
        }
    }
}

pub async fn store_at(url: &str, options: RedisOptions) -> (RedisStore, Cleanup) {
    let prefix = options.key_prefix.clone();
    let (store, _report) = RedisStore::open(url, options).await.expect("open the test Redis");
    (store, Cleanup { url: url.to_owned(), prefix })
}

pub async fn fresh_store() -> (RedisStore, Cleanup) {
    let options = RedisOptions { key_prefix: fresh_prefix(), ..RedisOptions::default() };
    store_at(&redis_url(), options).await
}
