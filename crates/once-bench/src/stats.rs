//! Latency recording: every sample is kept (microseconds, 4 bytes each) and percentiles are
//! taken by sorting. Exact, simple, and small enough for millions of requests.

use std::time::Duration;

#[derive(Default)]
pub struct Latencies {
    micros: Vec<u32>,
    sorted: bool,
}

impl Latencies {
    pub fn record(&mut self, d: Duration) {
        // u32 microseconds cover 71 minutes; anything longer is clamped.
        self.micros.push(u32::try_from(d.as_micros()).unwrap_or(u32::MAX));
        self.sorted = false;
    }

    pub fn merge(&mut self, other: Latencies) {
        self.micros.extend(other.micros);
        self.sorted = false;
    }

    pub fn len(&self) -> usize {
        self.micros.len()
    }

    /// Sorts the samples; call once recording is done (queries are slower before).
    pub fn finish(&mut self) {
        if !self.sorted {
            self.micros.sort_unstable();
            self.sorted = true;
        }
    }

    /// The nearest-rank percentile `p` (0–100] in milliseconds: the smallest sample such that
    /// at least `p`% of the samples are less than or equal to it. 0 with no samples.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        if !self.sorted {
            let mut copy = Latencies { micros: self.micros.clone(), sorted: false };
            copy.finish();
            return copy.percentile_ms(p);
        }
        if self.micros.is_empty() {
            return 0.0;
        }
        // p × n first: exact for whole percentiles, where (p / 100) × n can land just above an integer.
        let rank = (p * self.micros.len() as f64 / 100.0).ceil() as usize;
        let i = rank.clamp(1, self.micros.len()) - 1;
        f64::from(self.micros[i]) / 1000.0
    }

    pub fn max_ms(&self) -> f64 {
        self.percentile_ms(100.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(ms: impl IntoIterator<Item = u64>) -> Latencies {
        let mut l = Latencies::default();
        for m in ms {
            l.record(Duration::from_millis(m));
        }
        l
    }

    #[test]
    fn nearest_rank_percentiles() {
        let mut l = of((1..=100).rev());
        l.finish();
        assert_eq!(l.len(), 100);
        assert_eq!(l.percentile_ms(50.0), 50.0);
        assert_eq!(l.percentile_ms(90.0), 90.0);
        assert_eq!(l.percentile_ms(99.0), 99.0);
        assert_eq!(l.percentile_ms(99.5), 100.0);
        assert_eq!(l.percentile_ms(100.0), 100.0);
        assert_eq!(l.percentile_ms(0.0), 1.0);
        assert_eq!(l.max_ms(), 100.0);
    }

    #[test]
    fn small_and_empty_sets() {
        assert_eq!(Latencies::default().percentile_ms(50.0), 0.0);
        assert_eq!(Latencies::default().max_ms(), 0.0);
        let one = of([7]);
        for p in [1.0, 50.0, 99.0, 100.0] {
            assert_eq!(one.percentile_ms(p), 7.0);
        }
        // 10 samples: p50 is the 5th, p90 the 9th, p99 the 10th.
        let ten = of([10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(ten.percentile_ms(50.0), 5.0);
        assert_eq!(ten.percentile_ms(90.0), 9.0);
        assert_eq!(ten.percentile_ms(99.0), 10.0);
        // A tail: one slow request in 1000 shows at p99.9+, not at p99.
        let mut tail = of(std::iter::repeat_n(1, 999).chain([500]));
        tail.finish();
        assert_eq!(tail.percentile_ms(99.0), 1.0);
        assert_eq!(tail.percentile_ms(99.95), 500.0);
    }

    #[test]
    fn sub_millisecond_resolution_and_clamping() {
        let mut l = Latencies::default();
        l.record(Duration::from_micros(250));
        l.record(Duration::from_secs(u64::MAX / 4));
        assert_eq!(l.percentile_ms(50.0), 0.25);
        assert_eq!(l.max_ms(), f64::from(u32::MAX) / 1000.0);
    }

    #[test]
    fn merge_keeps_all_samples() {
        let mut a = of([1]);
        a.merge(of([3, 2]));
        assert_eq!(a.len(), 3);
        assert_eq!(a.percentile_ms(100.0), 3.0);
        assert_eq!(a.percentile_ms(50.0), 2.0);
        assert_eq!(a.percentile_ms(1.0), 1.0);
    }
}
