//! Rate-limit counters kept in process memory: the [`RateLimitStore`](crate::RateLimitStore) state
//! of the in-memory backend, and of any backend that keeps its limits per process (SQLite, so
//! that a rate check never costs a write).
//!
//! One theoretical arrival time (TAT, in ms) per key, moved by [`gcra`]. A TAT at or before `now`
//! means exactly what no entry means (the key has its whole burst), so entries are dropped once
//! they are in the past; that sweep runs only when the table has doubled since the last one,
//! which keeps each call O(1) amortised however many keys are live.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use crate::gcra;

/// The table never sweeps below this many keys.
const SWEEP_FLOOR: usize = 10_000;

/// Rate-limit key → theoretical arrival time, behind one mutex (each call is a hash lookup and
/// an insert: short enough that one lock makes every call atomic without contention to speak
/// of).
#[derive(Debug)]
pub struct RateTable {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    tats: HashMap<String, i64>,
    /// Sweep out past TATs when the table grows beyond this.
    sweep_at: usize,
}

impl Default for RateTable {
    fn default() -> Self {
        RateTable { inner: Mutex::new(Inner { tats: HashMap::new(), sweep_at: SWEEP_FLOOR }) }
    }
}

impl RateTable {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves a consistent map behind (each call writes at most
        // one entry, after computing it), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// One [`RateLimitStore::rate_hit`](crate::RateLimitStore::rate_hit) on this table: `None`
    /// when allowed (counted), `Some(ms to wait)` when refused (nothing counted).
    pub fn hit(&self, key: &str, limit: u32, period_ms: i64, now_ms: i64) -> Option<i64> {
        let mut g = self.lock();
        if g.tats.len() > g.sweep_at {
            g.tats.retain(|_, tat| *tat > now_ms);
            g.sweep_at = (2 * g.tats.len()).max(SWEEP_FLOOR);
        }
        match gcra(g.tats.get(key).copied(), limit, period_ms, now_ms) {
            Ok(tat) => {
                match g.tats.get_mut(key) {
                    Some(stored) => *stored = tat,
                    None => {
                        g.tats.insert(key.to_owned(), tat);
                    }
                }
                None
            }
            Err(wait) => Some(wait),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn len(table: &RateTable) -> usize {
        table.lock().tats.len()
    }

    #[test]
    fn sweeps_past_keys_only_when_grown() {
        let table = RateTable::new();
        for i in 0..=SWEEP_FLOOR {
            assert_eq!(table.hit(&format!("k{i}"), 1, 1_000, 0), None);
        }
        assert_eq!(len(&table), SWEEP_FLOOR + 1, "no sweep until the table outgrows the floor");
        // At 1_000 every TAT so far (1_000) is past; the next call sweeps them and adds its own.
        assert_eq!(table.hit("late", 1, 1_000, 1_000), None);
        assert_eq!(len(&table), 1);
        assert_eq!(table.hit("late", 1, 1_000, 1_000), Some(1_000), "the live key was kept");
    }

    #[test]
    fn live_keys_raise_the_sweep_mark() {
        let table = RateTable::new();
        for i in 0..=SWEEP_FLOOR {
            table.hit(&format!("k{i}"), 1, 1_000_000, 0);
        }
        // Nothing is past: the sweep keeps everything and waits for twice as many keys.
        table.hit("one more", 1, 1_000_000, 1);
        assert_eq!(len(&table), SWEEP_FLOOR + 2);
        assert_eq!(table.lock().sweep_at, 2 * (SWEEP_FLOOR + 1));
        assert_eq!(table.hit("k0", 1, 1_000_000, 1), Some(999_999), "still counted");
    }
}
