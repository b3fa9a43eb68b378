//! The shared store conformance suite, against a real Redis (`ONCE_TEST_REDIS_URL`, default
//! `redis://127.0.0.1:6379/`). Each test gets its own key prefix and removes its keys afterwards.

mod common;

once_store::conformance_suite!(async {
    let (store, guard) = common::fresh_store().await;
    once_store::conformance::Subject::new(store).keep(guard)
});
