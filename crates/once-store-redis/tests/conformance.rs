//! The shared store conformance suite, against a real Redis (`ONCE_TEST_REDIS_URL`, default
//! `redis://127.0.0.1:6379/`). Each test gets its own key prefix and removes its keys afterwards.

use once_store_redis::testing::{Cleanup, fresh_prefix, shared_redis_url};
use once_store_redis::{RedisOptions, RedisStore};

once_store::conformance_suite!(async {
    let (url, prefix) = (shared_redis_url(), fresh_prefix());
    let options = RedisOptions { key_prefix: prefix.clone(), ..RedisOptions::default() };
    let (store, _report) = RedisStore::open(&url, options).await.expect("open the test Redis");
    // Keys go after the store: the guard drops last.
    once_store::conformance::Subject::new(store).keep(Cleanup { url, prefix })
});
