//! Accounts and API keys (API v1 Basic auth).

use std::sync::Arc;

use once_crypto::{ApiKey, KeyRing, VaultKey};
use once_store::{Account, AccountId, ApiKeyRecord, Role, Store};

use crate::audit;
use crate::clock::Clock;
use crate::error::CoreError;

/// How stale an API key's last-used time may get before a request updates it (seconds).
const LAST_USED_GRANULARITY: i64 = 60;

/// An authenticated caller: the account and its vault key (unsealed with the API key it used).
#[derive(Clone, Debug)]
pub struct Principal {
    pub account: Account,
    pub vault: VaultKey,
}

/// A user just added, with the API key shown to the admin this once.
#[derive(Debug)]
pub struct NewUser {
    pub account: Account,
    pub api_key: ApiKey,
}

pub struct AccountService {
    store: Arc<dyn Store>,
    keys: Arc<KeyRing>,
    clock: Arc<dyn Clock>,
}

/// Lower-cases and checks an e-mail address (shape only: something@domain, no spaces or controls).
pub fn normalize_email(email: &str) -> Result<String, CoreError> {
    let e = email.trim().to_lowercase();
    let bad = || CoreError::Invalid("not a valid e-mail address".into());
    if e.len() > 254 || e.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    match e.split_once('@') {
        Some((local, domain)) if !local.is_empty() && domain.contains('.') && !domain.contains('@') => Ok(e),
        _ => Err(bad()),
    }
}

impl AccountService {
    pub(crate) fn new(store: Arc<dyn Store>, keys: Arc<KeyRing>, clock: Arc<dyn Clock>) -> Self {
        AccountService { store, keys, clock }
    }

    fn wrap_vault(&self, key: &ApiKey, vault: &VaultKey) -> Result<Vec<u8>, CoreError> {
        self.keys
            .seal(&key.lookup_hash(), key.expose().as_bytes(), None, vault.expose())
            .map_err(|e| CoreError::Crypto(e.to_string()))
    }

    /// Adds a user with a first API key (returned once; only its hash is stored).
    pub async fn add_user(&self, email: &str, role: Role) -> Result<NewUser, CoreError> {
        let email = normalize_email(email)?;
        let now = self.clock.now();
        let account = Account { id: AccountId(email.clone()), email, role, created_at: now, disabled: false };
        let api_key = ApiKey::generate();
        let vault = VaultKey::generate();
        let record = ApiKeyRecord {
            hash: api_key.lookup_hash(),
            account_id: account.id.clone(),
            name: "default".into(),
            created_at: now,
            last_used_at: None,
            wrapped_vault_key: self.wrap_vault(&api_key, &vault)?,
        };
        self.store.add_account(account.clone(), record).await.map_err(|e| match e {
            once_store::StoreError::Conflict(_) => {
                CoreError::Conflict(format!("{} already has an account", account.email))
            }
            other => CoreError::Unavailable(other),
        })?;
        audit::event("account.created", "ok", None, &account.id.0);
        Ok(NewUser { account, api_key })
    }

    pub async fn users(&self) -> Result<Vec<Account>, CoreError> {
        Ok(self.store.accounts().await?)
    }

    /// Removes sessions that have ended (idle or past their end), in batches, until none are
    /// left. Returns the count.
    pub async fn purge_sessions(&self, batch: u32) -> Result<u64, CoreError> {
        let now = self.clock.now();
        let mut total = 0;
        loop {
            let n = self.store.purge_sessions(now, batch).await?;
            total += n;
            if n < u64::from(batch) {
                return Ok(total);
            }
        }
    }

    /// Checks HTTP Basic credentials (e-mail + API key). Unknown user, wrong key and disabled
    /// account are the same [`CoreError::Unauthorized`].
    pub async fn authenticate(&self, email: &str, key: &str) -> Result<Principal, CoreError> {
        self.authenticate_key(Some(email), key).await
    }

    /// Checks an API key alone (API v2 `Bearer`), or with the e-mail it must belong to.
    pub async fn authenticate_key(&self, email: Option<&str>, key: &str) -> Result<Principal, CoreError> {
        let denied = |reason: &'static str| {
            audit::event("auth.apikey", reason, None, "anon");
            CoreError::Unauthorized
        };
        let Some(key) = ApiKey::parse(key) else {
            return Err(denied("denied:malformed"));
        };
        let hash = key.lookup_hash();
        let Some((record, account)) = self.store.api_key(&hash).await? else {
            return Err(denied("denied:unknown_key"));
        };
        if email.is_some_and(|e| !account.email.eq_ignore_ascii_case(e.trim())) {
            return Err(denied("denied:email_mismatch"));
        }
        if account.disabled {
            return Err(denied("denied:disabled"));
        }
        let vault = self
            .keys
            .open(&hash, key.expose().as_bytes(), None, &record.wrapped_vault_key)
            .ok()
            .and_then(|b| VaultKey::from_bytes(&b))
            .ok_or_else(|| denied("denied:vault_unopenable"))?;
        // Last-used time to the minute: a busy key does not cost a write on every request.
        let now = self.clock.now();
        if record.last_used_at.is_none_or(|t| now - t >= LAST_USED_GRANULARITY) {
            self.store.touch_api_key(&hash, now).await?;
        }
        Ok(Principal { account, vault })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_and_checked() {
        assert_eq!(normalize_email(" Alice@Example.COM ").ok().as_deref(), Some("alice@example.com"));
        for bad in
            ["", "alice", "@example.com", "alice@localhost", "a b@example.com", "a@b@c.com", "a\n@b.com"]
        {
            assert!(normalize_email(bad).is_err(), "{bad:?}");
        }
    }
}
