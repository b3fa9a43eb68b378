//! The crash suite: creates and reveals under load while `once serve` is `kill -9`ed at
//! pseudo-random moments, again and again on one SQLite file. Afterwards every acknowledged
//! create reveals exactly once (unless a reveal of it was already answered, or was cut off
//! mid-flight), no answered reveal comes back, SQLite's integrity check passes and the audit
//! chain verifies.
//!
//! `ONCE_TEST_CRASH_ITERATIONS` sets the number of kills: 5 by default (CI), 100 on demand:
//! `ONCE_TEST_CRASH_ITERATIONS=100 cargo test -p once --test crash -- --nocapture`.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use common::{Server, once};
use once_client::ShareOptions;

/// What the clients saw.
#[derive(Default)]
struct Seen {
    /// Acknowledged creates: key → value.
    created: HashMap<String, String>,
    /// Reveals answered with the secret.
    revealed: HashSet<String>,
    /// Reveals sent without an answer (the server died): may or may not have happened.
    unsure: HashSet<String>,
}

/// A small deterministic generator (xorshift), so a failing run can be repeated.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

async fn load(base: String, seen: Arc<Mutex<Seen>>, worker: usize) {
    let client = once_client::Client::new(&base);
    let lock = |s: &Arc<Mutex<Seen>>| s.lock().unwrap_or_else(PoisonError::into_inner).created.len();
    for n in 0.. {
        let value = format!("w{worker}-n{n}-{}", lock(&seen));
        match client.share(&value, &ShareOptions::default()).await {
            Ok(m) => {
                let key = m.secret_key.expect("key");
                seen.lock().unwrap_or_else(PoisonError::into_inner).created.insert(key, value);
            }
            Err(_) => return,
        }
        // Reveal a secret not yet revealed (picked and marked in one step, so no two workers
        // reveal the same one).
        let pick = {
            let mut g = seen.lock().unwrap_or_else(PoisonError::into_inner);
            let key = g
                .created
                .keys()
                .find(|k| !g.revealed.contains(*k) && !g.unsure.contains(*k) && k.len() % 2 == n % 2)
                .cloned();
            if let Some(k) = &key {
                g.unsure.insert(k.clone());
            }
            key
        };
        if let Some(key) = pick {
            match client.reveal(&key, None).await {
                Ok(s) => {
                    let mut g = seen.lock().unwrap_or_else(PoisonError::into_inner);
                    assert_eq!(Some(&s.value), g.created.get(&key), "the right value");
                    g.unsure.remove(&key);
                    g.revealed.insert(key);
                }
                Err(e) if e.status() == Some(404) => panic!("an acknowledged, unrevealed secret was gone"),
                // Cut off mid-flight: stays unsure.
                Err(_) => return,
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_under_load_loses_nothing_acknowledged_and_resurrects_nothing() {
    let iterations: u64 =
        std::env::var("ONCE_TEST_CRASH_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let dir = tempfile::tempdir().expect("tempdir");
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for i in 0..iterations {
        let server = Server::start(dir.path(), &format!("run-{i}"), &[]);
        let workers: Vec<_> = (0..8).map(|w| tokio::spawn(load(server.base(), seen.clone(), w))).collect();
        tokio::time::sleep(Duration::from_millis(30 + rng.next() % 400)).await;
        server.kill_9();
        for w in workers {
            w.await.expect("a worker's checks");
        }
    }

    // After the last kill: what must hold.
    let server = Server::start(dir.path(), "after", &[]);
    let client = server.client();
    let seen = std::mem::take(&mut *seen.lock().unwrap_or_else(PoisonError::into_inner));
    assert!(!seen.created.is_empty(), "the load created something");
    for (key, value) in &seen.created {
        let r = client.reveal(key, None).await;
        if seen.revealed.contains(key) {
            assert_eq!(r.expect_err("no resurrection").status(), Some(404), "revealed before a kill");
        } else if seen.unsure.contains(key) {
            match r {
                Ok(s) => assert_eq!(&s.value, value),
                Err(e) => assert_eq!(e.status(), Some(404)),
            }
        } else {
            assert_eq!(&r.expect("acknowledged and never revealed: still there").value, value);
        }
        assert_eq!(client.reveal(key, None).await.expect_err("once").status(), Some(404));
    }
    server.stop();
    println!(
        "{iterations} kills: {} acknowledged creates, {} answered reveals, {} cut off",
        seen.created.len(),
        seen.revealed.len(),
        seen.unsure.len()
    );

    let db = rusqlite::Connection::open(dir.path().join("once.db")).expect("open");
    let check: String = db.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("integrity");
    assert_eq!(check, "ok");
    let (ok, out, err) = once(&["audit", "verify"], dir.path());
    assert!(ok && out.starts_with("ok"), "the audit chain survives the kills: {out}{err}");
}
