//! Log setup. What must never be logged is listed in docs/LOGGING.md.

use std::io::IsTerminal;

use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::LogFormat;
use crate::metrics::{AUDIT_TARGET, AuditMetricsLayer};

/// Installs the global subscriber (once per process; later calls are no-ops). `RUST_LOG`, when
/// set, overrides `level`.
///
/// Besides the log, the subscriber carries [`AuditMetricsLayer`], which turns audit events into
/// the secret counters of `/metrics`. Each layer has its own filter, so a quiet `level` does not
/// stop the counting.
pub fn init(format: LogFormat, level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let log = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    let log = match format {
        LogFormat::Json => log.json().flatten_event(true).boxed(),
        LogFormat::Pretty => log.compact().boxed(),
    };
    let audit_only = Targets::new().with_target(AUDIT_TARGET, Level::INFO);
    let _ = tracing_subscriber::registry()
        .with(log.with_filter(filter))
        .with(AuditMetricsLayer.with_filter(audit_only))
        .try_init();
}
