//! Security events. Each goes to the log (target `once::audit`, one line, never secret material:
//! record ids appear only as a short hash prefix) and to the [`AuditSink`] the core was built with,
//! which in the server appends it to the store's hash-chained audit trail.

use std::sync::{Arc, Mutex, PoisonError};

use once_store::{AuditEntry, RecordId};

use crate::clock::Clock;

/// Where the core's security events go besides the log. `record` must not block: the server's
/// sink queues the entry for a task that appends batches to the store.
pub trait AuditSink: Send + Sync {
    fn record(&self, entry: AuditEntry);
}

/// A sink that keeps nothing (the log line is all): for commands that run no server.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogOnly;

impl AuditSink for LogOnly {
    fn record(&self, _: AuditEntry) {}
}

/// A sink that keeps the entries in memory, for tests.
#[derive(Debug, Default)]
pub struct MemorySink(Mutex<Vec<AuditEntry>>);

impl MemorySink {
    /// The entries so far, oldest first.
    pub fn entries(&self) -> Vec<AuditEntry> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl AuditSink for MemorySink {
    fn record(&self, entry: AuditEntry) {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).push(entry);
    }
}

/// What the services (and the server, for its own refusals) record events with: the sink, and
/// the clock that dates them.
#[derive(Clone)]
pub struct Auditor {
    sink: Arc<dyn AuditSink>,
    clock: Arc<dyn Clock>,
}

impl Auditor {
    pub fn new(sink: Arc<dyn AuditSink>, clock: Arc<dyn Clock>) -> Self {
        Auditor { sink, clock }
    }

    /// Records one security event.
    pub fn event(&self, event: &'static str, outcome: &'static str, record: Option<&RecordId>, actor: &str) {
        self.event_with(event, outcome, record, actor, "");
    }

    /// Records one security event with a detail (e.g. the observed TOTP clock drift). The detail
    /// is made by the caller from non-secret facts only.
    pub fn event_with(
        &self,
        event: &'static str,
        outcome: &'static str,
        record: Option<&RecordId>,
        actor: &str,
        detail: &str,
    ) {
        let record = record.map(RecordId::short).unwrap_or_default();
        if detail.is_empty() {
            tracing::info!(target: "once::audit", event, outcome, record = %record, actor = %actor);
        } else {
            tracing::info!(target: "once::audit", event, outcome, record = %record, actor = %actor, detail = %detail);
        }
        self.sink.record(AuditEntry {
            time: self.clock.now(),
            event: event.to_owned(),
            outcome: outcome.to_owned(),
            actor: actor.to_owned(),
            // The server's sink fills in the client of the request being served.
            client: String::new(),
            record,
            detail: detail.to_owned(),
        });
    }
}
