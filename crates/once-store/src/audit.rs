//! The audit trail's records and its hash chain, shared by every backend.
//!
//! Each record carries the SHA-256 of the record before it (`prev`) and its own hash over its
//! sequence number, `prev` and every field, so editing, deleting, inserting or reordering any
//! record breaks the chain at that point. Pruning old records moves the chain's *anchor* (the
//! sequence number and hash of the last record removed), so what remains still verifies.

use sha2::{Digest, Sha256};

use crate::UnixTime;

/// One security event, as the core reports it. Never secret material: record ids appear only as
/// a short prefix of their hash, actors as account ids or `anon`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditEntry {
    pub time: UnixTime,
    /// What happened: `secret.revealed`, `auth.password`, …
    pub event: String,
    /// `ok`, or why not (`denied:wrong_passphrase`, …).
    pub outcome: String,
    /// The account id, or `anon`.
    pub actor: String,
    /// The client's IP address, or empty when there is none (a command, the sweeper).
    pub client: String,
    /// The short hash prefix of the record concerned, or empty.
    pub record: String,
    /// Further non-secret facts (`drift=1`), or empty.
    pub detail: String,
}

/// An entry in the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    /// 1, 2, 3, … with no gaps.
    pub seq: u64,
    pub entry: AuditEntry,
    /// The hash of record `seq - 1` (or of the anchor, or all zeros for the very first).
    pub prev: [u8; 32],
    pub hash: [u8; 32],
}

/// Where the chain starts after pruning: the last removed record's sequence number and hash, or
/// `(0, [0; 32])` when nothing was ever removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AuditAnchor {
    pub seq: u64,
    pub hash: [u8; 32],
}

const LABEL: &[u8] = b"once/audit/v1\0";

/// The hash of record `seq` with `prev` and `entry`: SHA-256 over a label, `seq`, `prev`, the time
/// and each text field length-prefixed (so no two different records hash alike by shifting bytes
/// between fields).
pub fn audit_hash(seq: u64, prev: &[u8; 32], entry: &AuditEntry) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(LABEL);
    h.update(seq.to_be_bytes());
    h.update(prev);
    h.update(entry.time.to_be_bytes());
    for field in [&entry.event, &entry.outcome, &entry.actor, &entry.client, &entry.record, &entry.detail] {
        h.update(u32::try_from(field.len()).unwrap_or(u32::MAX).to_be_bytes());
        h.update(field.as_bytes());
    }
    h.finalize().into()
}

/// Chains `entries` after the record `(seq, hash)` (the head, or the anchor of an empty chain).
pub fn chain(after: AuditAnchor, entries: &[AuditEntry]) -> Vec<AuditRecord> {
    let mut prev = after;
    entries
        .iter()
        .map(|e| {
            let seq = prev.seq + 1;
            let hash = audit_hash(seq, &prev.hash, e);
            let r = AuditRecord { seq, entry: e.clone(), prev: prev.hash, hash };
            prev = AuditAnchor { seq, hash };
            r
        })
        .collect()
}

/// Where a chain breaks.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    /// A record's sequence number is not the one after the previous (a record was deleted or
    /// inserted, or records were reordered).
    #[error("record {found} follows record {after}: one is missing or out of order")]
    Gap { after: u64, found: u64 },
    /// A record's `prev` is not the previous record's hash (the one before it was changed).
    #[error("record {seq} does not link to the record before it")]
    Link { seq: u64 },
    /// A record's own hash does not match its contents (it was changed).
    #[error("record {seq} was altered")]
    Altered { seq: u64 },
}

impl ChainBreak {
    /// The first record that fails.
    pub fn seq(&self) -> u64 {
        match self {
            ChainBreak::Gap { found, .. } => *found,
            ChainBreak::Link { seq } | ChainBreak::Altered { seq } => *seq,
        }
    }
}

/// Checks records that follow `from` (the anchor, or the last record of an earlier batch) and
/// returns the last one's position, to continue with the next batch.
pub fn verify_chain<'a>(
    from: AuditAnchor,
    records: impl IntoIterator<Item = &'a AuditRecord>,
) -> Result<AuditAnchor, ChainBreak> {
    let mut at = from;
    for r in records {
        // Checked: the records (and the anchor) are what is being distrusted here, and a
        // sequence number at u64::MAX must be reported, not overflow.
        if at.seq.checked_add(1) != Some(r.seq) {
            return Err(ChainBreak::Gap { after: at.seq, found: r.seq });
        }
        if r.prev != at.hash {
            return Err(ChainBreak::Link { seq: r.seq });
        }
        if audit_hash(r.seq, &r.prev, &r.entry) != r.hash {
            return Err(ChainBreak::Altered { seq: r.seq });
        }
        at = AuditAnchor { seq: r.seq, hash: r.hash };
    }
    Ok(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: i64) -> AuditEntry {
        AuditEntry { time: n, event: "secret.revealed".into(), outcome: "ok".into(), ..AuditEntry::default() }
    }

    #[test]
    fn any_edit_delete_insert_or_reorder_breaks_the_chain_where_it_happened() {
        let records = chain(AuditAnchor::default(), &(1..=5).map(entry).collect::<Vec<_>>());
        assert_eq!(
            verify_chain(AuditAnchor::default(), &records),
            Ok(AuditAnchor { seq: 5, hash: records[4].hash })
        );

        let mut edited = records.clone();
        edited[2].entry.outcome = "denied".into();
        assert_eq!(verify_chain(AuditAnchor::default(), &edited), Err(ChainBreak::Altered { seq: 3 }));

        let mut rehashed = edited.clone();
        rehashed[2].hash = audit_hash(3, &rehashed[2].prev, &rehashed[2].entry);
        assert_eq!(verify_chain(AuditAnchor::default(), &rehashed), Err(ChainBreak::Link { seq: 4 }));

        let mut deleted = records.clone();
        deleted.remove(1);
        assert_eq!(
            verify_chain(AuditAnchor::default(), &deleted),
            Err(ChainBreak::Gap { after: 1, found: 3 })
        );

        let mut reordered = records.clone();
        reordered.swap(1, 2);
        assert_eq!(verify_chain(AuditAnchor::default(), &reordered).map_err(|b| b.seq()), Err(3));

        // Shifting bytes between fields changes the hash.
        let a = AuditEntry { actor: "ab".into(), client: "c".into(), ..entry(1) };
        let b = AuditEntry { actor: "a".into(), client: "bc".into(), ..entry(1) };
        assert_ne!(audit_hash(1, &[0; 32], &a), audit_hash(1, &[0; 32], &b));

        // After pruning, the rest verifies from the anchor.
        let anchor = AuditAnchor { seq: 2, hash: records[1].hash };
        assert!(verify_chain(anchor, &records[2..]).is_ok());

        // A forged anchor at the end of the sequence space is a break, not an overflow.
        let forged = AuditAnchor { seq: u64::MAX, hash: [0; 32] };
        assert_eq!(verify_chain(forged, &records), Err(ChainBreak::Gap { after: u64::MAX, found: 1 }));
    }
}
