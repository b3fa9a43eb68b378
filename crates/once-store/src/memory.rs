//! The in-memory backend (`memory://`): nothing touches disk. Also the reference semantics the
//! conformance suite holds every other backend to.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use crate::{
    Account, AccountId, AccountStore, ApiKeyRecord, AuditAnchor, AuditEntry, AuditRecord, AuditStore,
    BurnOutcome, BurnReason, ContentStore, Cursor, FailureOutcome, Lockout, LockoutStore, RateLimitStore,
    RateTable, Receipt, ReceiptState, RecordId, Role, SecretRecord, SecretStore, SessionRecord, SessionStore,
    StoreError, StoreResult, Taken, TotpRecord, UnixTime, UsageRow, UsageState, ViewNote, utc_day,
};

#[derive(Default)]
struct Inner {
    secrets: HashMap<RecordId, SecretRecord>,
    receipts: HashMap<RecordId, Receipt>,
    /// File contents: (secret, chunk index) → (expiry, bytes).
    chunks: BTreeMap<(RecordId, u32), (UnixTime, Vec<u8>)>,
    accounts: Vec<Account>,
    api_keys: HashMap<[u8; 32], ApiKeyRecord>,
    master_keys: HashMap<String, [u8; 32]>,
    sessions: HashMap<[u8; 32], SessionRecord>,
    totp_steps: HashMap<AccountId, u64>,
    passwords: HashMap<AccountId, String>,
    password_vaults: HashMap<AccountId, Vec<u8>>,
    totp: HashMap<AccountId, TotpRecord>,
    recovery: HashMap<AccountId, Vec<[u8; 32]>>,
    lockouts: HashMap<String, Counter>,
    audit: Vec<AuditRecord>,
    audit_anchor: AuditAnchor,
}

/// A lockout subject's counter: failures in the current round, the last failure's time, and the
/// lock's end.
#[derive(Clone, Copy, Default)]
struct Counter {
    failures: u32,
    last_failure: UnixTime,
    locked_until: UnixTime,
}

impl Counter {
    /// The state at `now`: a lock that ended and a round older than `window` count as nothing.
    fn at(self, window: i64, now: UnixTime) -> Lockout {
        if self.locked_until > now {
            return Lockout { failures: self.failures, locked_until: Some(self.locked_until) };
        }
        let stale = self.locked_until != 0 || now - self.last_failure >= window;
        Lockout { failures: if stale { 0 } else { self.failures }, locked_until: None }
    }
}

/// Everything in one mutex: operations are short and this makes each one trivially atomic. Rate
/// limits have their own table (and lock), shared with the backends that keep them per process.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    rates: RateTable,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-applied operation behind (every
        // operation mutates only after its checks), so a poisoned lock is still consistent.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn live(s: &SecretRecord, now: UnixTime) -> bool {
    s.expires_at > now && s.views_left > 0
}

#[async_trait]
impl SecretStore for MemoryStore {
    async fn create(&self, secret: SecretRecord, receipt: Receipt) -> StoreResult<()> {
        let mut g = self.lock();
        if g.secrets.contains_key(&secret.id) || g.receipts.contains_key(&receipt.id) {
            return Err(StoreError::Conflict("secret"));
        }
        g.secrets.insert(secret.id, secret);
        g.receipts.insert(receipt.id, receipt);
        Ok(())
    }

    async fn peek(&self, id: &RecordId, now: UnixTime) -> StoreResult<Option<SecretRecord>> {
        let g = self.lock();
        Ok(g.secrets.get(id).filter(|s| live(s, now)).cloned())
    }

    async fn take_noted(
        &self,
        id: &RecordId,
        now: UnixTime,
        note: Option<&ViewNote>,
    ) -> StoreResult<Option<Taken>> {
        let mut g = self.lock();
        let Some(s) = g.secrets.get_mut(id).filter(|s| live(s, now)) else {
            return Ok(None);
        };
        s.views_left -= 1;
        let taken = Taken { envelope: s.envelope.clone(), views_left: s.views_left };
        let receipt_id = s.receipt_id;
        if taken.views_left == 0 {
            g.secrets.remove(id);
        }
        if let Some(r) = g.receipts.get_mut(&receipt_id) {
            r.views += 1;
            r.updated_at = now;
            if let Some(note) = note
                && ViewNote::append(&ViewNote::encode_log(&r.view_log), note).is_some()
            {
                r.view_log.push(note.clone());
            }
            if taken.views_left == 0 {
                r.state = ReceiptState::Received;
                r.received_at = Some(now);
                r.sealed_secret_key = None;
            }
        }
        Ok(Some(taken))
    }

    async fn record_failure(&self, id: &RecordId, cap: u32, now: UnixTime) -> StoreResult<FailureOutcome> {
        let mut g = self.lock();
        let Some(s) = g.secrets.get_mut(id).filter(|s| live(s, now)) else {
            return Ok(FailureOutcome::Gone);
        };
        s.failures += 1;
        let failures = s.failures;
        let receipt_id = s.receipt_id;
        let burned = failures >= cap;
        if burned {
            g.secrets.remove(id);
        }
        if let Some(r) = g.receipts.get_mut(&receipt_id) {
            r.failures = failures;
            r.updated_at = now;
            if burned {
                r.state = ReceiptState::Burned;
                r.burn_reason = Some(BurnReason::PassphraseFailures);
                r.sealed_secret_key = None;
            }
        }
        Ok(if burned { FailureOutcome::Burned } else { FailureOutcome::Counted { failures } })
    }

    async fn burn(&self, receipt_id: &RecordId, now: UnixTime) -> StoreResult<Option<BurnOutcome>> {
        let mut g = self.lock();
        let Some(r) = g.receipts.get(receipt_id).filter(|r| r.expires_at > now) else {
            return Ok(None);
        };
        let secret_id = r.secret_id;
        let secret_live = g.secrets.get(&secret_id).is_some_and(|s| live(s, now));
        if !secret_live {
            return Ok(Some(BurnOutcome::AlreadyGone(r.clone())));
        }
        g.secrets.remove(&secret_id);
        let Some(r) = g.receipts.get_mut(receipt_id) else {
            return Ok(None);
        };
        r.state = ReceiptState::Burned;
        r.burn_reason = Some(BurnReason::Sender);
        r.updated_at = now;
        r.sealed_secret_key = None;
        Ok(Some(BurnOutcome::Burned(r.clone())))
    }

    async fn receipt(&self, receipt_id: &RecordId, now: UnixTime) -> StoreResult<Option<Receipt>> {
        let g = self.lock();
        Ok(g.receipts.get(receipt_id).filter(|r| r.expires_at > now).cloned())
    }

    async fn open_receipt(&self, receipt_id: &RecordId, now: UnixTime) -> StoreResult<Option<Receipt>> {
        let mut g = self.lock();
        let Some(r) = g.receipts.get_mut(receipt_id).filter(|r| r.expires_at > now) else {
            return Ok(None);
        };
        let before = r.clone();
        if r.state == ReceiptState::New {
            r.state = ReceiptState::Viewed;
            r.sealed_secret_key = None;
            r.updated_at = now;
        }
        Ok(Some(before))
    }

    async fn recent(
        &self,
        owner: &AccountId,
        before: Option<Cursor>,
        limit: u32,
        now: UnixTime,
    ) -> StoreResult<Vec<Receipt>> {
        let g = self.lock();
        let mut list: Vec<Receipt> = g
            .receipts
            .values()
            .filter(|r| r.owner.as_ref() == Some(owner) && r.expires_at > now)
            .filter(|r| before.is_none_or(|c| (r.created_at, r.id) < (c.created_at, c.id)))
            .cloned()
            .collect();
        list.sort_by_key(|r| std::cmp::Reverse((r.created_at, r.id)));
        list.truncate(limit as usize);
        Ok(list)
    }

    async fn purge_expired(&self, now: UnixTime, batch: u32) -> StoreResult<u64> {
        let mut g = self.lock();
        let secrets: Vec<RecordId> =
            g.secrets.values().filter(|s| s.expires_at <= now).take(batch as usize).map(|s| s.id).collect();
        let receipts: Vec<RecordId> =
            g.receipts.values().filter(|r| r.expires_at <= now).take(batch as usize).map(|r| r.id).collect();
        for id in &secrets {
            g.secrets.remove(id);
        }
        for id in &receipts {
            g.receipts.remove(id);
        }
        Ok((secrets.len() + receipts.len()) as u64)
    }

    async fn ping(&self) -> StoreResult<()> {
        Ok(())
    }

    async fn register_keys(&self, keys: &[(String, [u8; 32])]) -> StoreResult<Vec<(String, [u8; 32])>> {
        let mut g = self.lock();
        for (id, fingerprint) in keys {
            g.master_keys.entry(id.clone()).or_insert(*fingerprint);
        }
        Ok(g.master_keys.iter().map(|(id, f)| (id.clone(), *f)).collect())
    }

    async fn usage(&self, now: UnixTime) -> StoreResult<Vec<UsageRow>> {
        let g = self.lock();
        let mut rows: std::collections::BTreeMap<(UnixTime, UsageState), (u64, u64)> = Default::default();
        for r in g.receipts.values() {
            let bytes = g.secrets.get(&r.secret_id).filter(|s| live(s, now)).map_or(0, |s| s.envelope.len());
            let row = rows
                .entry((utc_day(r.created_at), UsageState::of(r.state, r.secret_expires_at, now)))
                .or_default();
            row.0 += 1;
            row.1 += bytes as u64;
        }
        Ok(rows
            .into_iter()
            .map(|((day, state), (receipts, secret_bytes))| UsageRow { day, state, receipts, secret_bytes })
            .collect())
    }
}

#[async_trait]
impl AccountStore for MemoryStore {
    async fn add_account(&self, account: Account, key: Option<ApiKeyRecord>) -> StoreResult<()> {
        let mut g = self.lock();
        if g.accounts.iter().any(|a| a.email == account.email || a.id == account.id) {
            return Err(StoreError::Conflict("account"));
        }
        if key.as_ref().is_some_and(|k| g.api_keys.contains_key(&k.hash)) {
            return Err(StoreError::Conflict("api key"));
        }
        g.accounts.push(account);
        if let Some(key) = key {
            g.api_keys.insert(key.hash, key);
        }
        Ok(())
    }

    async fn set_disabled(&self, account: &AccountId, disabled: bool) -> StoreResult<bool> {
        let mut g = self.lock();
        let Some(a) = g.accounts.iter_mut().find(|a| &a.id == account) else { return Ok(false) };
        a.disabled = disabled;
        Ok(true)
    }

    async fn set_role(&self, account: &AccountId, role: Role) -> StoreResult<bool> {
        let mut g = self.lock();
        let Some(a) = g.accounts.iter_mut().find(|a| &a.id == account) else { return Ok(false) };
        a.role = role;
        Ok(true)
    }

    async fn account(&self, id: &AccountId) -> StoreResult<Option<Account>> {
        Ok(self.lock().accounts.iter().find(|a| &a.id == id).cloned())
    }

    async fn account_by_email(&self, email: &str) -> StoreResult<Option<Account>> {
        let g = self.lock();
        Ok(g.accounts.iter().find(|a| a.email == email).cloned())
    }

    async fn accounts(&self) -> StoreResult<Vec<Account>> {
        let mut list = self.lock().accounts.clone();
        list.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(list)
    }

    async fn accounts_page(
        &self,
        search: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<Account>> {
        let search = search.map(str::to_lowercase);
        let mut list: Vec<Account> = self
            .lock()
            .accounts
            .iter()
            .filter(|a| after.is_none_or(|after| a.email.as_str() > after))
            .filter(|a| search.as_deref().is_none_or(|s| a.email.contains(s)))
            .cloned()
            .collect();
        list.sort_by(|a, b| a.email.cmp(&b.email));
        list.truncate(limit as usize);
        Ok(list)
    }

    async fn add_api_key(&self, key: ApiKeyRecord) -> StoreResult<()> {
        let mut g = self.lock();
        if !g.accounts.iter().any(|a| a.id == key.account_id) {
            return Err(StoreError::Conflict("unknown account"));
        }
        if g.api_keys.contains_key(&key.hash) {
            return Err(StoreError::Conflict("api key"));
        }
        g.api_keys.insert(key.hash, key);
        Ok(())
    }

    async fn api_key(&self, hash: &[u8; 32]) -> StoreResult<Option<(ApiKeyRecord, Account)>> {
        let g = self.lock();
        let Some(key) = g.api_keys.get(hash) else {
            return Ok(None);
        };
        let account = g.accounts.iter().find(|a| a.id == key.account_id).cloned();
        Ok(account.map(|a| (key.clone(), a)))
    }

    async fn touch_api_key(&self, hash: &[u8; 32], now: UnixTime) -> StoreResult<()> {
        if let Some(k) = self.lock().api_keys.get_mut(hash) {
            k.last_used_at = Some(now);
        }
        Ok(())
    }

    async fn api_keys_of(&self, account: &AccountId) -> StoreResult<Vec<ApiKeyRecord>> {
        let g = self.lock();
        let mut list: Vec<ApiKeyRecord> =
            g.api_keys.values().filter(|k| &k.account_id == account).cloned().collect();
        list.sort_by_key(|k| std::cmp::Reverse((k.created_at, k.hash)));
        Ok(list)
    }

    async fn revoke_api_key(&self, account: &AccountId, hash: &[u8; 32], now: UnixTime) -> StoreResult<bool> {
        let mut g = self.lock();
        match g.api_keys.get_mut(hash) {
            Some(k) if &k.account_id == account && k.revoked_at.is_none() => {
                k.revoked_at = Some(now);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn set_totp(
        &self,
        account: &AccountId,
        totp: Option<TotpRecord>,
        recovery_hashes: &[[u8; 32]],
    ) -> StoreResult<bool> {
        let mut g = self.lock();
        if !g.accounts.iter().any(|a| &a.id == account) {
            return Ok(false);
        }
        match totp {
            Some(t) => {
                g.totp.insert(account.clone(), TotpRecord { recovery_codes_left: 0, ..t });
                // A set of codes: a hash given twice is one code (as a primary key or a Redis
                // set keeps it), so it counts once in `recovery_codes_left`.
                let mut codes = recovery_hashes.to_vec();
                codes.sort_unstable();
                codes.dedup();
                g.recovery.insert(account.clone(), codes);
            }
            None => {
                g.totp.remove(account);
                g.recovery.remove(account);
            }
        }
        Ok(true)
    }

    async fn totp(&self, account: &AccountId) -> StoreResult<Option<TotpRecord>> {
        let g = self.lock();
        let left = g.recovery.get(account).map_or(0, |r| r.len() as u32);
        Ok(g.totp.get(account).map(|t| TotpRecord { recovery_codes_left: left, ..t.clone() }))
    }

    async fn use_recovery_code(&self, account: &AccountId, hash: &[u8; 32]) -> StoreResult<bool> {
        let mut g = self.lock();
        let Some(codes) = g.recovery.get_mut(account) else { return Ok(false) };
        let before = codes.len();
        codes.retain(|h| h != hash);
        Ok(codes.len() < before)
    }

    async fn use_totp_step(&self, account: &AccountId, step: u64) -> StoreResult<bool> {
        let mut g = self.lock();
        if !g.accounts.iter().any(|a| &a.id == account) {
            return Ok(false);
        }
        let last = g.totp_steps.entry(account.clone()).or_insert(0);
        if step == 0 || step <= *last {
            return Ok(false);
        }
        *last = step;
        Ok(true)
    }

    async fn set_password_hash(&self, account: &AccountId, phc: &str) -> StoreResult<bool> {
        let mut g = self.lock();
        if !g.accounts.iter().any(|a| &a.id == account) {
            return Ok(false);
        }
        g.passwords.insert(account.clone(), phc.to_owned());
        Ok(true)
    }

    async fn set_password(&self, account: &AccountId, phc: &str, vault: &[u8]) -> StoreResult<bool> {
        let mut g = self.lock();
        if !g.accounts.iter().any(|a| &a.id == account) {
            return Ok(false);
        }
        g.passwords.insert(account.clone(), phc.to_owned());
        g.password_vaults.insert(account.clone(), vault.to_vec());
        Ok(true)
    }

    async fn password_vault(&self, account: &AccountId) -> StoreResult<Option<Vec<u8>>> {
        Ok(self.lock().password_vaults.get(account).cloned())
    }

    async fn password_hash(&self, account: &AccountId) -> StoreResult<Option<String>> {
        Ok(self.lock().passwords.get(account).cloned())
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn create_session(&self, session: SessionRecord) -> StoreResult<()> {
        let mut g = self.lock();
        if !g.accounts.iter().any(|a| a.id == session.account_id) {
            return Err(StoreError::Conflict("unknown account"));
        }
        if g.sessions.contains_key(&session.hash) {
            return Err(StoreError::Conflict("session"));
        }
        g.sessions.insert(session.hash, session);
        Ok(())
    }

    async fn session(&self, hash: &[u8; 32], now: UnixTime) -> StoreResult<Option<SessionRecord>> {
        Ok(self.lock().sessions.get(hash).filter(|s| s.live_at(now)).cloned())
    }

    async fn touch_session(&self, hash: &[u8; 32], now: UnixTime) -> StoreResult<()> {
        if let Some(s) = self.lock().sessions.get_mut(hash).filter(|s| s.live_at(now)) {
            s.last_seen_at = s.last_seen_at.max(now);
        }
        Ok(())
    }

    async fn end_session(&self, hash: &[u8; 32]) -> StoreResult<bool> {
        Ok(self.lock().sessions.remove(hash).is_some())
    }

    async fn end_sessions_of(&self, account: &AccountId) -> StoreResult<u64> {
        let mut g = self.lock();
        let before = g.sessions.len();
        g.sessions.retain(|_, s| &s.account_id != account);
        Ok((before - g.sessions.len()) as u64)
    }

    async fn sessions_of(&self, account: &AccountId, now: UnixTime) -> StoreResult<Vec<SessionRecord>> {
        let g = self.lock();
        let mut list: Vec<SessionRecord> =
            g.sessions.values().filter(|s| &s.account_id == account && s.live_at(now)).cloned().collect();
        list.sort_by_key(|s| std::cmp::Reverse((s.created_at, s.hash)));
        Ok(list)
    }

    async fn purge_sessions(&self, now: UnixTime, batch: u32) -> StoreResult<u64> {
        let mut g = self.lock();
        let dead: Vec<[u8; 32]> =
            g.sessions.values().filter(|s| !s.live_at(now)).map(|s| s.hash).take(batch as usize).collect();
        for h in &dead {
            g.sessions.remove(h);
        }
        Ok(dead.len() as u64)
    }
}

#[async_trait]
impl ContentStore for MemoryStore {
    async fn put_chunk(
        &self,
        id: &RecordId,
        index: u32,
        bytes: Vec<u8>,
        _now: UnixTime,
        expires_at: UnixTime,
    ) -> StoreResult<()> {
        self.lock().chunks.insert((*id, index), (expires_at, bytes));
        Ok(())
    }

    async fn chunk(&self, id: &RecordId, index: u32, now: UnixTime) -> StoreResult<Option<Vec<u8>>> {
        let g = self.lock();
        Ok(g.chunks.get(&(*id, index)).filter(|(x, _)| *x > now).map(|(_, b)| b.clone()))
    }

    async fn drop_chunks(&self, id: &RecordId) -> StoreResult<()> {
        let mut g = self.lock();
        let mine: Vec<(RecordId, u32)> =
            g.chunks.range((*id, 0)..=(*id, u32::MAX)).map(|(k, _)| *k).collect();
        for k in mine {
            g.chunks.remove(&k);
        }
        Ok(())
    }

    async fn purge_chunks(&self, now: UnixTime, batch: u32) -> StoreResult<u64> {
        let mut g = self.lock();
        let dead: Vec<(RecordId, u32)> =
            g.chunks.iter().filter(|(_, (x, _))| *x <= now).map(|(k, _)| *k).take(batch as usize).collect();
        for k in &dead {
            g.chunks.remove(k);
        }
        Ok(dead.len() as u64)
    }
}

#[async_trait]
impl RateLimitStore for MemoryStore {
    async fn rate_hit(&self, key: &str, limit: u32, period_ms: i64, now_ms: i64) -> StoreResult<Option<i64>> {
        Ok(self.rates.hit(key, limit, period_ms, now_ms))
    }
}

#[async_trait]
impl AuditStore for MemoryStore {
    async fn append_audit(&self, entries: &[AuditEntry]) -> StoreResult<()> {
        let mut g = self.lock();
        let head = g.audit.last().map_or(g.audit_anchor, |r| AuditAnchor { seq: r.seq, hash: r.hash });
        let records = crate::audit::chain(head, entries);
        g.audit.extend(records);
        Ok(())
    }

    async fn audit_after(&self, after: u64, limit: u32) -> StoreResult<Vec<AuditRecord>> {
        let g = self.lock();
        Ok(g.audit.iter().filter(|r| r.seq > after).take(limit as usize).cloned().collect())
    }

    async fn audit_before(&self, before: u64, limit: u32) -> StoreResult<Vec<AuditRecord>> {
        let g = self.lock();
        Ok(g.audit.iter().rev().filter(|r| r.seq < before).take(limit as usize).cloned().collect())
    }

    async fn audit_anchor(&self) -> StoreResult<AuditAnchor> {
        Ok(self.lock().audit_anchor)
    }

    async fn prune_audit(&self, before: UnixTime, batch: u32) -> StoreResult<u64> {
        let mut g = self.lock();
        let n = g.audit.iter().take(batch as usize).take_while(|r| r.entry.time < before).count();
        if let Some(last) = n.checked_sub(1).map(|i| &g.audit[i]) {
            g.audit_anchor = AuditAnchor { seq: last.seq, hash: last.hash };
        }
        g.audit.drain(..n);
        Ok(n as u64)
    }
}

#[async_trait]
impl LockoutStore for MemoryStore {
    async fn lockout_failure(
        &self,
        subject: &str,
        limit: u32,
        window: i64,
        lock_secs: i64,
        now: UnixTime,
    ) -> StoreResult<Lockout> {
        let mut g = self.lock();
        let c = g.lockouts.entry(subject.to_owned()).or_default();
        let state = c.at(window, now);
        if state.locked_until.is_some() {
            return Ok(state);
        }
        let failures = state.failures + 1;
        *c = if failures >= limit {
            Counter { failures, last_failure: now, locked_until: now + lock_secs }
        } else {
            Counter { failures, last_failure: now, locked_until: 0 }
        };
        Ok(c.at(window, now))
    }

    async fn lockout(&self, subject: &str, window: i64, now: UnixTime) -> StoreResult<Lockout> {
        Ok(self.lock().lockouts.get(subject).map_or_else(Lockout::default, |c| c.at(window, now)))
    }

    async fn clear_lockout(&self, subject: &str) -> StoreResult<()> {
        self.lock().lockouts.remove(subject);
        Ok(())
    }

    async fn locked(&self, now: UnixTime, limit: u32) -> StoreResult<Vec<(String, UnixTime)>> {
        let g = self.lock();
        let mut list: Vec<(String, UnixTime)> = g
            .lockouts
            .iter()
            .filter(|(_, c)| c.locked_until > now)
            .map(|(s, c)| (s.clone(), c.locked_until))
            .collect();
        list.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        list.truncate(limit as usize);
        Ok(list)
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    crate::conformance_suite!(async { crate::memory::MemoryStore::new() });
}
