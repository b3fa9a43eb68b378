//! The audit trail on Redis: a hash chain appended by compare-and-set.
//!
//! Redis Lua has no SHA-256, so the chain is computed here: read the head, chain the entries
//! after it ([`once_store::audit::chain`]), then one script ([`scripts::APPEND_AUDIT`]) appends
//! them only if the head is still the one read. A caller that lost the race to another append
//! (from this or any other instance) waits a short random time and starts over, at most
//! [`APPEND_ATTEMPTS`] times. Every append moves the head by exactly its records, so the chain
//! never forks and never has a gap.
//!
//! # Keys
//! All share the `{audit}` hash tag (one Cluster slot) and carry no TTL: records leave only
//! through `prune_audit`.
//!
//! | key | type | what |
//! |---|---|---|
//! | `P{audit}:log` | sorted set | the records (member: [`encode_record`], score: seq), so `audit_after` is one `ZRANGEBYSCORE` from `(after` and pruning takes ranks from the start |
//! | `P{audit}:head` | string | the last record appended: seq (u64) ‖ hash, big-endian, 40 bytes; absent until the first append, kept when pruning |
//! | `P{audit}:anchor` | string | the last record pruned, in the same form; absent until the first pruning |
//!
//! Scores are doubles, exact for sequence numbers up to 2^53 (at a thousand events a second,
//! for 285,000 years).

use std::time::Duration;

use async_trait::async_trait;
use once_store::audit::chain;
use once_store::{AuditAnchor, AuditEntry, AuditRecord, AuditStore, StoreError, StoreResult, UnixTime};
use rand::Rng;
use redis::AsyncCommands;

use crate::{RedisStore, malformed, scripts};

/// How many times an append reads the head and tries again after losing to another append.
const APPEND_ATTEMPTS: u32 = 64;

/// The longest random wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_millis(32);

/// Records read per command when paging (a large `limit` is read in several).
const READ_CHUNK: usize = 1000;

/// Sequence numbers stay below this: scores are doubles, exact up to 2^53.
const MAX_SEQ: u64 = 1 << 53;

/// The encoding's version (first byte of every member of the log).
const VERSION: u8 = 1;

/// Bytes before the text fields: version, seq, time, prev, hash.
const FIXED: usize = 1 + 8 + 8 + 32 + 32;

impl RedisStore {
    fn audit_log_key(&self) -> String {
        format!("{}{{audit}}:log", self.prefix)
    }

    fn audit_head_key(&self) -> String {
        format!("{}{{audit}}:head", self.prefix)
    }

    fn audit_anchor_key(&self) -> String {
        format!("{}{{audit}}:anchor", self.prefix)
    }
}

/// A member of `P{audit}:log`. Layout (all integers big-endian): version 1; seq (u64); time
/// (i64); prev (32); hash (32); then event, outcome, actor, client, record and detail, each a
/// u32 length and its UTF-8 bytes. [`scripts::PRUNE_AUDIT`] reads the time at bytes 9..17 and
/// takes seq and hash from it for the anchor.
pub(crate) fn encode_record(r: &AuditRecord) -> Vec<u8> {
    let e = &r.entry;
    let fields = [&e.event, &e.outcome, &e.actor, &e.client, &e.record, &e.detail];
    let mut m = Vec::with_capacity(FIXED + fields.iter().map(|f| 4 + f.len()).sum::<usize>());
    m.push(VERSION);
    m.extend_from_slice(&r.seq.to_be_bytes());
    m.extend_from_slice(&e.time.to_be_bytes());
    m.extend_from_slice(&r.prev);
    m.extend_from_slice(&r.hash);
    for f in fields {
        // Redis refuses any argument over 512 MiB (`proto-max-bulk-len`), so a field whose length
        // does not fit a u32 never gets stored with this wrong length.
        m.extend_from_slice(&u32::try_from(f.len()).unwrap_or(u32::MAX).to_be_bytes());
        m.extend_from_slice(f.as_bytes());
    }
    m
}

/// What [`encode_record`] wrote; `None` for anything else (trailing bytes included).
pub(crate) fn decode_record(m: &[u8]) -> Option<AuditRecord> {
    let mut rest = m.strip_prefix(&[VERSION])?;
    let mut take = |n: usize| -> Option<&[u8]> {
        let (head, tail) = rest.split_at_checked(n)?;
        rest = tail;
        Some(head)
    };
    let seq = u64::from_be_bytes(take(8)?.try_into().ok()?);
    let time = i64::from_be_bytes(take(8)?.try_into().ok()?);
    let prev: [u8; 32] = take(32)?.try_into().ok()?;
    let hash: [u8; 32] = take(32)?.try_into().ok()?;
    let mut text = || -> Option<String> {
        let len = u32::from_be_bytes(take(4)?.try_into().ok()?);
        String::from_utf8(take(usize::try_from(len).ok()?)?.to_vec()).ok()
    };
    let entry = AuditEntry {
        time,
        event: text()?,
        outcome: text()?,
        actor: text()?,
        client: text()?,
        record: text()?,
        detail: text()?,
    };
    rest.is_empty().then_some(AuditRecord { seq, entry, prev, hash })
}

/// The head or anchor value: seq ‖ hash.
pub(crate) fn encode_position(p: AuditAnchor) -> [u8; 40] {
    let mut out = [0u8; 40];
    out[..8].copy_from_slice(&p.seq.to_be_bytes());
    out[8..].copy_from_slice(&p.hash);
    out
}

pub(crate) fn decode_position(raw: &[u8]) -> Option<AuditAnchor> {
    let raw: &[u8; 40] = raw.try_into().ok()?;
    let (seq, hash) = raw.split_at(8);
    Some(AuditAnchor { seq: u64::from_be_bytes(seq.try_into().ok()?), hash: hash.try_into().ok()? })
}

/// A random wait before attempt `attempt` (1, 2, …): up to 2, 4, 8, … ms, at most
/// [`MAX_BACKOFF`], so contenders spread out instead of colliding again.
fn backoff(attempt: u32) -> Duration {
    let cap = Duration::from_millis(1 << attempt.min(6)).min(MAX_BACKOFF);
    let micros = u64::try_from(cap.as_micros()).unwrap_or(u64::MAX);
    Duration::from_micros(rand::thread_rng().gen_range(0..=micros))
}

#[async_trait]
impl AuditStore for RedisStore {
    async fn append_audit(&self, entries: &[AuditEntry]) -> StoreResult<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let (head_key, anchor_key, log_key) =
            (self.audit_head_key(), self.audit_anchor_key(), self.audit_log_key());
        for attempt in 0..APPEND_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(backoff(attempt)).await;
            }
            let (h, a) = (head_key.clone(), anchor_key.clone());
            let (head, anchor): (Option<Vec<u8>>, Option<Vec<u8>>) = self
                .run(|mut c| async move { redis::cmd("MGET").arg(h).arg(a).query_async(&mut c).await })
                .await?;
            // No head: nothing was ever appended, so the chain starts at the anchor (the
            // default, unless the keys were restored without it).
            let after = match head.as_deref().or(anchor.as_deref()) {
                Some(raw) => {
                    decode_position(raw).filter(|p| p.seq < MAX_SEQ).ok_or_else(|| malformed("audit head"))?
                }
                None => AuditAnchor::default(),
            };
            let records = chain(after, entries);
            let Some(last) = records.last() else { return Ok(()) };
            let mut invocation = scripts::APPEND_AUDIT.prepare_invoke();
            invocation
                .key(&head_key)
                .key(&log_key)
                .arg(head.unwrap_or_default())
                .arg(&encode_position(AuditAnchor { seq: last.seq, hash: last.hash })[..]);
            for r in &records {
                invocation.arg(r.seq).arg(encode_record(r));
            }
            let appended: i64 =
                self.run(|mut c| async move { invocation.invoke_async(&mut c).await }).await?;
            if appended == 1 {
                return Ok(());
            }
        }
        tracing::warn!(attempts = APPEND_ATTEMPTS, "audit append kept losing the race for the chain's head");
        Err(StoreError::backend(std::io::Error::other(format!(
            "audit append gave up after {APPEND_ATTEMPTS} conflicting appends"
        ))))
    }

    async fn audit_after(&self, after: u64, limit: u32) -> StoreResult<Vec<AuditRecord>> {
        let limit = limit as usize;
        let mut out: Vec<AuditRecord> = Vec::with_capacity(limit.min(READ_CHUNK));
        let mut cursor = after;
        while out.len() < limit {
            let (key, n) = (self.audit_log_key(), (limit - out.len()).min(READ_CHUNK));
            let members: Vec<Vec<u8>> = self
                .run(|mut c| async move {
                    redis::cmd("ZRANGEBYSCORE")
                        .arg(key)
                        .arg(format!("({cursor}"))
                        .arg("+inf")
                        .arg("LIMIT")
                        .arg(0)
                        .arg(n)
                        .query_async(&mut c)
                        .await
                })
                .await?;
            let got = members.len();
            for m in members {
                // A member's seq is its score: anything else (a member not moving past the
                // cursor) is damage, and would have the next page read the same members again.
                let r =
                    decode_record(&m).filter(|r| r.seq > cursor).ok_or_else(|| malformed("audit record"))?;
                cursor = r.seq;
                out.push(r);
            }
            if got < n {
                break;
            }
        }
        Ok(out)
    }

    async fn audit_before(&self, before: u64, limit: u32) -> StoreResult<Vec<AuditRecord>> {
        let (key, n) = (self.audit_log_key(), (limit as usize).min(READ_CHUNK));
        let top = if before == u64::MAX { "+inf".to_owned() } else { format!("({before}") };
        let members: Vec<Vec<u8>> = self
            .run(|mut c| async move {
                redis::cmd("ZREVRANGEBYSCORE")
                    .arg(key)
                    .arg(top)
                    .arg("-inf")
                    .arg("LIMIT")
                    .arg(0)
                    .arg(n)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        let mut out = Vec::with_capacity(members.len());
        for m in members {
            let r = decode_record(&m).filter(|r| r.seq < before).ok_or_else(|| malformed("audit record"))?;
            if out.last().is_some_and(|p: &AuditRecord| p.seq <= r.seq) {
                return Err(malformed("audit record"));
            }
            out.push(r);
        }
        Ok(out)
    }

    async fn audit_anchor(&self) -> StoreResult<AuditAnchor> {
        let key = self.audit_anchor_key();
        let raw: Option<Vec<u8>> = self.run(|mut c| async move { c.get(key).await }).await?;
        match raw {
            Some(raw) => decode_position(&raw).ok_or_else(|| malformed("audit anchor")),
            None => Ok(AuditAnchor::default()),
        }
    }

    async fn prune_audit(&self, before: UnixTime, batch: u32) -> StoreResult<u64> {
        let (log, anchor) = (self.audit_log_key(), self.audit_anchor_key());
        self.run(|mut c| async move {
            scripts::PRUNE_AUDIT
                .key(log)
                .key(anchor)
                .arg(&before.to_be_bytes()[..])
                .arg(batch)
                .invoke_async(&mut c)
                .await
        })
        .await
    }
}
