//! Security events. For now they go to the log under the target `once::audit` (one line each,
//! never secret material: record ids appear only as a short hash prefix). The hash-chained audit
//! trail builds on these same calls.

use once_store::RecordId;

/// A short, non-reversible handle for a record in logs: the first 4 bytes of its lookup hash.
pub fn short(id: &RecordId) -> String {
    format!("{:02x}{:02x}{:02x}{:02x}", id.0[0], id.0[1], id.0[2], id.0[3])
}

/// Records one security event.
pub fn event(event: &'static str, outcome: &'static str, record: Option<&RecordId>, actor: &str) {
    let record = record.map(short).unwrap_or_default();
    tracing::info!(target: "once::audit", event, outcome, record = %record, actor = %actor);
}
