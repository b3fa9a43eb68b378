//! The in-memory backend (`memory://`): nothing touches disk. Also the reference semantics the
//! conformance suite holds every other backend to.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;

use crate::{
    Account, AccountId, AccountStore, ApiKeyRecord, BurnOutcome, BurnReason, Cursor, FailureOutcome, Receipt,
    ReceiptState, RecordId, SecretRecord, SecretStore, SessionRecord, SessionStore, StoreError, StoreResult,
    Taken, UnixTime,
};

#[derive(Default)]
struct Inner {
    secrets: HashMap<RecordId, SecretRecord>,
    receipts: HashMap<RecordId, Receipt>,
    accounts: Vec<Account>,
    api_keys: HashMap<[u8; 32], ApiKeyRecord>,
    master_keys: HashMap<String, [u8; 32]>,
    sessions: HashMap<[u8; 32], SessionRecord>,
    totp_steps: HashMap<AccountId, u64>,
    passwords: HashMap<AccountId, String>,
}

/// Everything in one mutex: operations are short and this makes each one trivially atomic.
#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
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

    async fn take(&self, id: &RecordId, now: UnixTime) -> StoreResult<Option<Taken>> {
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
}

#[async_trait]
impl AccountStore for MemoryStore {
    async fn add_account(&self, account: Account, key: ApiKeyRecord) -> StoreResult<()> {
        let mut g = self.lock();
        if g.accounts.iter().any(|a| a.email == account.email || a.id == account.id) {
            return Err(StoreError::Conflict("account"));
        }
        if g.api_keys.contains_key(&key.hash) {
            return Err(StoreError::Conflict("api key"));
        }
        g.accounts.push(account);
        g.api_keys.insert(key.hash, key);
        Ok(())
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

#[cfg(all(test, feature = "testing"))]
mod tests {
    crate::conformance_suite!(async { crate::memory::MemoryStore::new() });
}
