//! Accounts and API keys (API v1 Basic auth).

use std::sync::Arc;

use once_crypto::password::{self, PasswordError};
use once_crypto::{ApiKey, KeyRing, SessionToken, VaultKey};
use once_store::{Account, AccountId, ApiKeyRecord, Role, SessionRecord, Store};
use zeroize::Zeroizing;

use crate::audit;
use crate::clock::Clock;
use crate::error::CoreError;
use crate::kdf::KdfPool;
use crate::policy::AuthPolicy;

/// How stale an API key's or a session's last-used time may get before a request updates it
/// (seconds).
const LAST_USED_GRANULARITY: i64 = 60;

/// A password sign-in that succeeded: the new session's token (for the cookie; only its hash is
/// stored) and the account.
#[derive(Debug)]
pub struct SignedIn {
    pub token: SessionToken,
    pub account: Account,
}

/// A live browser session, as a request sees it.
#[derive(Clone, Debug)]
pub struct SignedInSession {
    pub account: Account,
    pub session: SessionRecord,
}

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
    auth: AuthPolicy,
    /// Shared with the secret service: bounds all Argon2 work on the blocking pool.
    kdf: KdfPool,
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
    pub(crate) fn new(
        store: Arc<dyn Store>,
        keys: Arc<KeyRing>,
        clock: Arc<dyn Clock>,
        auth: AuthPolicy,
        kdf: KdfPool,
    ) -> Self {
        AccountService { store, keys, clock, auth, kdf }
    }

    /// Sets an account's password after checking it against the rules (the e-mail address is
    /// context it must not contain).
    pub async fn set_password(&self, email: &str, new_password: Zeroizing<String>) -> Result<(), CoreError> {
        let email = normalize_email(email)?;
        let account = self.store.account_by_email(&email).await?.ok_or(CoreError::NotFound)?;
        self.auth.password_rules.check(&new_password, &[&email]).map_err(CoreError::WeakPassword)?;
        let params = self.auth.password_params;
        let phc = self
            .kdf
            .run(move || password::hash_password(&new_password, params))
            .await
            .map_err(|e| CoreError::Crypto(e.to_string()))?;
        if !self.store.set_password_hash(&account.id, &phc).await? {
            return Err(CoreError::NotFound);
        }
        audit::event("account.password_set", "ok", None, &account.id.0);
        Ok(())
    }

    /// Signs in with e-mail and password and opens a new session (a fresh token every time).
    /// Unknown e-mail, no password set, a wrong password and a disabled account are the same
    /// [`CoreError::Unauthorized`], and cost the same Argon2 work.
    pub async fn sign_in(
        &self,
        email: &str,
        given: Zeroizing<String>,
        client: &str,
    ) -> Result<SignedIn, CoreError> {
        let params = self.auth.password_params;
        let denied = |reason: &'static str, actor: &str| {
            audit::event("auth.password", reason, None, actor);
            CoreError::Unauthorized
        };
        let found = match normalize_email(email) {
            Ok(e) => self.store.account_by_email(&e).await?,
            Err(_) => None,
        };
        let stored = match &found {
            Some(a) => self.store.password_hash(&a.id).await?,
            None => None,
        };
        let (Some(account), Some(phc)) = (found, stored) else {
            self.kdf.run(move || password::dummy_verify(&given, params)).await;
            return Err(denied("denied:unknown_or_no_password", "anon"));
        };
        let pw = given.clone();
        let checked = self.kdf.run(move || password::verify_password(&pw, &phc, params)).await;
        match checked {
            Ok(v) if !account.disabled => {
                if v.needs_rehash {
                    let pw = given.clone();
                    if let Ok(phc) = self.kdf.run(move || password::hash_password(&pw, params)).await {
                        self.store.set_password_hash(&account.id, &phc).await?;
                    }
                }
            }
            Ok(_) => return Err(denied("denied:disabled", &account.id.0)),
            Err(PasswordError::Mismatch) => return Err(denied("denied:wrong_password", &account.id.0)),
            Err(_) => return Err(denied("denied:unreadable_hash", &account.id.0)),
        }
        let now = self.clock.now();
        let token = SessionToken::generate();
        let session = SessionRecord {
            hash: token.lookup_hash(),
            account_id: account.id.clone(),
            created_at: now,
            last_seen_at: now,
            idle_timeout: self.auth.session_idle_secs,
            expires_at: now + self.auth.session_max_secs,
            second_factor: false,
            client: client.chars().take(120).collect(),
        };
        self.store.create_session(session).await?;
        audit::event("auth.password", "ok", None, &account.id.0);
        Ok(SignedIn { token, account })
    }

    /// The live session a cookie's token names, with its account; `None` for anything else
    /// (malformed, unknown, ended, or the account was disabled since). Marks it used (at most
    /// once a minute), so its idle timeout starts again.
    pub async fn session(&self, token: &str) -> Result<Option<SignedInSession>, CoreError> {
        let Some(token) = SessionToken::parse(token) else { return Ok(None) };
        let now = self.clock.now();
        let hash = token.lookup_hash();
        let Some(session) = self.store.session(&hash, now).await? else { return Ok(None) };
        let Some(account) = self.store.account(&session.account_id).await?.filter(|a| !a.disabled) else {
            return Ok(None);
        };
        if now - session.last_seen_at >= LAST_USED_GRANULARITY {
            self.store.touch_session(&hash, now).await?;
        }
        Ok(Some(SignedInSession { account, session }))
    }

    /// Ends the session a token names (sign out). Unknown tokens are fine.
    pub async fn sign_out(&self, token: &str) -> Result<(), CoreError> {
        if let Some(token) = SessionToken::parse(token) {
            self.store.end_session(&token.lookup_hash()).await?;
        }
        Ok(())
    }

    /// How long a session may live at most (seconds): the cookie's lifetime.
    pub fn session_max_secs(&self) -> i64 {
        self.auth.session_max_secs
    }

    /// An account's live sessions, newest first.
    pub async fn sessions_of(&self, account: &AccountId) -> Result<Vec<SessionRecord>, CoreError> {
        Ok(self.store.sessions_of(account, self.clock.now()).await?)
    }

    /// Ends every session of an account ("sign out everywhere"); returns how many there were.
    pub async fn sign_out_everywhere(&self, account: &AccountId) -> Result<u64, CoreError> {
        let n = self.store.end_sessions_of(account).await?;
        audit::event("auth.sign_out_everywhere", "ok", None, &account.0);
        Ok(n)
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
