//! Result rows: an aligned text table on stdout, and JSON.

use serde_json::{Value, json};

use crate::args::Scenario;
use crate::bench::RunStats;

pub struct Row {
    pub scenario: Scenario,
    /// Secret size in bytes; `None` for `health`.
    pub size: Option<usize>,
    pub concurrency: usize,
    pub stats: RunStats,
    /// req/s divided by `health` req/s at the same concurrency, if `health` ran.
    pub vs_health: Option<f64>,
    /// Live secrets created by `--prefill` before this run (0 for the runs before the fill).
    pub prefilled: usize,
    /// `isolation` only: the same plain traffic alone, and the Argon2id load beside it.
    pub isolation: Option<Isolation>,
}

/// What an `isolation` row is compared with: its `mixed` traffic measured alone just before,
/// and the `passphrase` traffic that ran beside it on other connections.
pub struct Isolation {
    /// p99 of the same `mixed` traffic alone, ms.
    pub alone_p99_ms: f64,
    /// The passphrase connections' own run.
    pub kdf: RunStats,
    pub kdf_connections: usize,
}

impl Isolation {
    /// p99 under load / p99 alone.
    pub fn ratio(&self, loaded_p99_ms: f64) -> f64 {
        if self.alone_p99_ms > 0.0 { loaded_p99_ms / self.alone_p99_ms } else { f64::NAN }
    }
}

/// Column headers and widths (the first column is left-aligned, the rest right-aligned).
const COLUMNS: [(&str, usize); 16] = [
    ("scenario", 10),
    ("size", 6),
    ("conc", 5),
    ("req/s", 9),
    ("p50 ms", 8),
    ("p90 ms", 8),
    ("p99 ms", 8),
    ("max ms", 8),
    ("ok", 8),
    ("non2xx", 7),
    ("xport", 6),
    ("bad", 5),
    ("rss MiB", 8),
    ("cpu s", 7),
    ("cpu %", 6),
    ("vs health", 9),
];

/// The columns; with several instances the server columns are sums over them and say so.
fn columns(summed: bool) -> [(&'static str, usize); 16] {
    let mut columns = COLUMNS;
    if summed {
        columns[12] = ("sum rss MiB", 11);
        columns[13] = ("sum cpu s", 9);
        columns[14] = ("sum cpu %", 9);
    }
    columns
}

fn line(summed: bool, cells: &[String]) -> String {
    let mut out = String::new();
    for (i, (cell, (_, width))) in cells.iter().zip(columns(summed)).enumerate() {
        if i == 0 {
            out.push_str(&format!("{cell:<width$}"));
        } else {
            out.push_str(&format!(" {cell:>width$}"));
        }
    }
    out
}

/// The table's header; `summed` when there are several instances.
pub fn header(summed: bool) -> String {
    line(summed, &columns(summed).map(|(name, _)| name.to_owned()))
}

fn opt(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.decimals$}"))
}

impl Row {
    /// One line of the table; `summed` as for [`header`].
    pub fn table_line(&self, summed: bool) -> String {
        let s = &self.stats;
        let mut text = line(
            summed,
            &[
                self.scenario.name().to_owned(),
                self.size.map_or_else(|| "-".into(), |s| s.to_string()),
                self.concurrency.to_string(),
                format!("{:.0}", s.rps()),
                format!("{:.2}", s.m.lat.percentile_ms(50.0)),
                format!("{:.2}", s.m.lat.percentile_ms(90.0)),
                format!("{:.2}", s.m.lat.percentile_ms(99.0)),
                format!("{:.2}", s.m.lat.max_ms()),
                s.m.ok.to_string(),
                s.m.non_2xx.to_string(),
                s.m.transport.to_string(),
                s.m.invalid.to_string(),
                opt(s.server_rss_mib, 1),
                opt(s.server_cpu_s, 2),
                opt(s.server_cpu_pct, 0),
                self.vs_health.map_or_else(|| "-".into(), |r| format!("{:.1}%", 100.0 * r)),
            ],
        );
        if s.m.dry {
            text.push_str("  (ran out of secrets to reveal: rate is over the time they lasted)");
        }
        if let Some(iso) = &self.isolation {
            let p99 = s.m.lat.percentile_ms(99.0);
            let k = &iso.kdf;
            text.push_str(&format!(
                "\n  isolation: plain p99 {p99:.2} ms beside Argon2id load, {:.2} ms alone: ×{:.2}; \
                 {} passphrase connection(s): {:.0} req/s ok, p50 {:.0} ms, {} answered 503 (queue full), \
                 {} other non-2xx, {} transport, {} bad",
                iso.alone_p99_ms,
                iso.ratio(p99),
                iso.kdf_connections,
                k.rps(),
                k.m.lat.percentile_ms(50.0),
                k.m.unavailable,
                k.m.non_2xx - k.m.unavailable,
                k.m.transport,
                k.m.invalid,
            ));
        }
        text
    }

    pub fn to_json(&self) -> Value {
        let s = &self.stats;
        let ms = |p: f64| s.m.lat.percentile_ms(p);
        json!({
            "scenario": self.scenario.name(),
            "size": self.size,
            "concurrency": self.concurrency,
            "seconds": s.elapsed,
            "requests_ok": s.m.ok,
            "rps": s.rps(),
            "latency_ms": {
                "p50": ms(50.0),
                "p90": ms(90.0),
                "p99": ms(99.0),
                "max": s.m.lat.max_ms(),
                "samples": s.m.lat.len(),
            },
            "errors": {
                "non_2xx": s.m.non_2xx,
                "non_2xx_503": s.m.unavailable,
                "transport": s.m.transport,
                "invalid": s.m.invalid,
            },
            "first_error": s.first_error,
            "reveals_ok": s.m.revealed,
            "reveals_cross_instance": s.m.revealed_elsewhere,
            "server_rss_mib": s.server_rss_mib,
            // In instance order; null like the others when the pids are unknown.
            "server_rss_mib_per_instance":
                (!s.server_rss_mib_per_instance.is_empty()).then_some(&s.server_rss_mib_per_instance),
            "server_cpu_s": s.server_cpu_s,
            "server_cpu_pct": s.server_cpu_pct,
            "vs_health": self.vs_health,
            "ran_out_of_secrets": s.m.dry,
            "prefilled": self.prefilled,
            "isolation": self.isolation.as_ref().map(|iso| {
                let k = &iso.kdf;
                json!({
                    "alone_p99_ms": iso.alone_p99_ms,
                    "p99_ratio": iso.ratio(ms(99.0)),
                    "kdf_connections": iso.kdf_connections,
                    "kdf_rps": k.rps(),
                    "kdf_requests_ok": k.m.ok,
                    "kdf_latency_ms": { "p50": k.m.lat.percentile_ms(50.0), "p99": k.m.lat.percentile_ms(99.0) },
                    "kdf_non_2xx_503": k.m.unavailable,
                    "kdf_non_2xx_other": k.m.non_2xx - k.m.unavailable,
                    "kdf_transport": k.m.transport,
                    "kdf_invalid": k.m.invalid,
                })
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::Measured;

    #[test]
    fn table_columns_line_up() {
        let mut m = Measured::default();
        m.lat.record(std::time::Duration::from_micros(1500));
        m.lat.finish();
        m.ok = 12345;
        let row = Row {
            scenario: Scenario::Passphrase,
            size: Some(8192),
            concurrency: 256,
            stats: RunStats {
                m,
                elapsed: 10.0,
                server_cpu_s: Some(9.5),
                server_cpu_pct: Some(95.0),
                server_rss_mib: None,
                server_rss_mib_per_instance: Vec::new(),
                first_error: None,
            },
            vs_health: Some(0.25),
            prefilled: 0,
            isolation: None,
        };
        let (h, l) = (header(false), row.table_line(false));
        assert_eq!(h.len(), l.len());
        let (h2, l2) = (header(true), row.table_line(true));
        assert_eq!(h2.len(), l2.len());
        assert!(h2.contains(" sum rss MiB ") && h2.contains(" sum cpu % "), "{h2}");
        assert!(l.starts_with("passphrase "));
        assert!(l.ends_with("25.0%"));
        assert!(l.contains(" 1234 ") || l.contains(" 1235 "), "req/s in {l}");
        let j = row.to_json();
        assert_eq!(j["size"], 8192);
        assert_eq!(j["latency_ms"]["p50"], 1.5);
        assert_eq!(j["errors"]["transport"], 0);
        assert!(j["server_rss_mib"].is_null());
        assert!(j["server_rss_mib_per_instance"].is_null());
        assert_eq!(j["reveals_cross_instance"], 0);
        assert_eq!(j["prefilled"], 0);
        assert!(j["isolation"].is_null());
    }
}
