use std::sync::atomic::{AtomicI64, Ordering};

use once_store::UnixTime;

/// The source of "now" for everything in Once. Injected, so tests can move time.
pub trait Clock: Send + Sync {
    fn now(&self) -> UnixTime;

    /// Now in milliseconds (rate limits need finer steps than seconds).
    fn now_ms(&self) -> i64 {
        self.now().saturating_mul(1000)
    }
}

/// The wall clock. The only place in Once that reads it.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods, reason = "SystemClock is the one sanctioned wall-clock reader")]
    fn now(&self) -> UnixTime {
        let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
    }

    #[allow(clippy::disallowed_methods, reason = "SystemClock is the one sanctioned wall-clock reader")]
    fn now_ms(&self) -> i64 {
        let d = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
    }
}

/// A clock that moves only when told to (tests).
#[derive(Debug)]
pub struct FakeClock(AtomicI64);

impl FakeClock {
    pub fn new(now: UnixTime) -> Self {
        FakeClock(AtomicI64::new(now))
    }

    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }

    pub fn set(&self, now: UnixTime) {
        self.0.store(now, Ordering::SeqCst);
    }
}

impl Clock for FakeClock {
    fn now(&self) -> UnixTime {
        self.0.load(Ordering::SeqCst)
    }
}
