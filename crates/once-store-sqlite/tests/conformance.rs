//! The shared store conformance suite, on a fresh SQLite file per test.

once_store::conformance_suite!(async {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = once_store_sqlite::SqliteStore::open(&dir.path().join("once.db")).expect("open");
    // The temp dir is removed only after the store (and with it every connection) is gone.
    once_store::conformance::Subject::new(store).keep(dir)
});
