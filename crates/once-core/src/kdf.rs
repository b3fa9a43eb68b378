//! The bound on slow key derivations (Argon2id for passphrases and passwords), shared by the
//! services: they run on the blocking pool, at most `kdf_concurrency` at a time; the rest wait.

use std::sync::Arc;

use tokio::sync::Semaphore;

#[derive(Clone)]
pub(crate) struct KdfPool(Arc<Semaphore>);

impl KdfPool {
    pub(crate) fn new(concurrency: usize) -> Self {
        KdfPool(Arc::new(Semaphore::new(concurrency.max(1))))
    }

    /// Runs `f` on the blocking pool once a permit is free.
    pub(crate) async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        // The semaphore is never closed, so acquire can't fail; if it ever did, running without
        // the bound is still correct.
        let permit = self.0.clone().acquire_owned().await.ok();
        let out = tokio::task::spawn_blocking(f).await;
        drop(permit);
        match out {
            Ok(v) => v,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
}
