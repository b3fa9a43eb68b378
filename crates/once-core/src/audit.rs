//! Security events. For now they go to the log under the target `once::audit` (one line each,
//! never secret material: record ids appear only as a short hash prefix). The hash-chained audit
//! trail builds on these same calls.

use once_store::RecordId;

/// Records one security event.
pub fn event(event: &'static str, outcome: &'static str, record: Option<&RecordId>, actor: &str) {
    let record = record.map(RecordId::short).unwrap_or_default();
    tracing::info!(target: "once::audit", event, outcome, record = %record, actor = %actor);
}

/// Records one security event with a detail (e.g. the observed TOTP clock drift). The detail is
/// made by the caller from non-secret facts only.
pub fn event_with(
    event: &'static str,
    outcome: &'static str,
    record: Option<&RecordId>,
    actor: &str,
    detail: &str,
) {
    let record = record.map(RecordId::short).unwrap_or_default();
    tracing::info!(target: "once::audit", event, outcome, record = %record, actor = %actor, detail = %detail);
}
