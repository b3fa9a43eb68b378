//! The bound on slow key derivations (Argon2id for passphrases and passwords), shared by the
//! services: they run on the blocking pool, at most `kdf_concurrency` at a time; up to
//! `kdf_queue` more wait for a turn, and past that a request is refused at once
//! ([`CoreError::Busy`]) instead of queueing without bound behind a flood of passphrase guesses.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Semaphore;

use crate::error::CoreError;

#[derive(Clone)]
pub(crate) struct KdfPool {
    permits: Arc<Semaphore>,
    /// Derivations running or waiting.
    admitted: Arc<AtomicUsize>,
    /// The most derivations running or waiting.
    limit: usize,
}

/// One admitted derivation; counts until dropped.
struct Admitted(Arc<AtomicUsize>);

impl Drop for Admitted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl KdfPool {
    pub(crate) fn new(concurrency: usize, queue: usize) -> Self {
        let concurrency = concurrency.max(1);
        KdfPool {
            permits: Arc::new(Semaphore::new(concurrency)),
            admitted: Arc::new(AtomicUsize::new(0)),
            limit: concurrency.saturating_add(queue),
        }
    }

    /// Runs `f` on the blocking pool once a permit is free; [`CoreError::Busy`] without running
    /// it when the queue is full.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, CoreError> {
        let before = self.admitted.fetch_add(1, Ordering::AcqRel);
        let admitted = Admitted(self.admitted.clone());
        if before >= self.limit {
            return Err(CoreError::Busy);
        }
        // The semaphore is never closed, so acquire can't fail; if it ever did, running without
        // the bound is still correct.
        let permit = self.permits.clone().acquire_owned().await.ok();
        let out = tokio::task::spawn_blocking(f).await;
        drop(permit);
        drop(admitted);
        match out {
            Ok(v) => Ok(v),
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn past_the_queue_a_derivation_is_refused_at_once() {
        let pool = KdfPool::new(1, 2);
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let gate = Arc::new(std::sync::Mutex::new(gate));
        // One runs (blocked on the gate), two wait: the pool is full.
        let mut held = Vec::new();
        for _ in 0..3 {
            let (pool, gate) = (pool.clone(), gate.clone());
            held.push(tokio::spawn(async move {
                pool.run(move || {
                    let _ = gate.lock().map(|g| g.recv());
                })
                .await
            }));
        }
        while pool.admitted.load(Ordering::Acquire) < 3 {
            tokio::task::yield_now().await;
        }
        assert!(matches!(pool.run(|| ()).await, Err(CoreError::Busy)), "the fourth is refused");
        for _ in 0..3 {
            release.send(()).expect("release");
        }
        for h in held {
            assert!(h.await.expect("join").is_ok(), "the admitted ones ran");
        }
        assert_eq!(pool.admitted.load(Ordering::Acquire), 0);
        assert!(pool.run(|| 7).await.is_ok_and(|v| v == 7), "room again");
    }
}
