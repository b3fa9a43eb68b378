//! Accounts and API keys (API v1 Basic auth).

use std::sync::Arc;

use once_crypto::password::{self, PasswordError};
use once_crypto::{ApiKey, KeyRing, SessionToken, VaultKey};
use once_store::{Account, AccountId, ApiKeyRecord, Role, Scope, Scopes, SessionRecord, Store, UnixTime};
use zeroize::Zeroizing;

use crate::audit::Auditor;
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

/// The password step's outcome: signed in, or the second factor is next.
pub enum SignInStep {
    Done(SignedIn),
    /// The password was right and the account has two-factor sign-in: show the code form with
    /// this ticket (sealed; it names the account and expires in a few minutes).
    SecondFactor {
        ticket: String,
    },
}

impl std::fmt::Debug for SignInStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignInStep::Done(s) => f.debug_tuple("Done").field(s).finish(),
            // The ticket stands in for a password just given: never printed.
            SignInStep::SecondFactor { .. } => f.write_str("SecondFactor { ticket: [redacted] }"),
        }
    }
}

impl SignInStep {
    /// The session, when no second step is needed.
    pub fn signed_in(self) -> Option<SignedIn> {
        match self {
            SignInStep::Done(s) => Some(s),
            SignInStep::SecondFactor { .. } => None,
        }
    }
}

/// A live browser session, as a request sees it.
#[derive(Clone, Debug)]
pub struct SignedInSession {
    pub account: Account,
    pub session: SessionRecord,
    /// The account's vault key, opened with the session's token (`None` for sessions from
    /// before vaults were kept in sessions).
    pub vault: Option<VaultKey>,
}

impl SignedInSession {
    /// The session as the viewer of a secret only for a signed-in recipient.
    pub fn viewer(&self) -> crate::Viewer {
        crate::Viewer { email: self.account.email.clone(), second_factor: self.session.second_factor }
    }

    /// The session as an API caller: the account, its vault, and the scopes its role allows.
    /// `None` without a vault.
    pub fn principal(&self) -> Option<Principal> {
        let scopes = if self.account.role == Role::Admin { Scopes::ALL } else { Scopes::USER };
        Some(Principal { account: self.account.clone(), vault: self.vault.clone()?, scopes })
    }
}

/// An authenticated caller: the account, its vault key (unsealed with the API key it used) and
/// what that key may do.
#[derive(Clone, Debug)]
pub struct Principal {
    pub account: Account,
    pub vault: VaultKey,
    pub scopes: Scopes,
}

impl Principal {
    /// An API key's account as the viewer of a secret only for a signed-in recipient (an API key
    /// never counts as a second factor).
    pub fn viewer(&self) -> crate::Viewer {
        crate::Viewer { email: self.account.email.clone(), second_factor: false }
    }

    /// Whether the key used may do `scope`.
    pub fn may(&self, scope: Scope) -> bool {
        self.scopes.contains(scope)
    }
}

/// A new API key for an account, shown this once (only its hash is stored).
#[derive(Debug)]
pub struct NewApiKey {
    pub key: ApiKey,
    pub record: ApiKeyRecord,
}

/// A user just added, with the API key shown to the admin this once.
#[derive(Debug)]
pub struct NewUser {
    pub account: Account,
    pub api_key: ApiKey,
}

pub struct AccountService {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) keys: Arc<KeyRing>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) auth: AuthPolicy,
    /// Shared with the secret service: bounds all Argon2 work on the blocking pool.
    pub(crate) kdf: KdfPool,
    pub(crate) audit: Auditor,
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
        audit: Auditor,
    ) -> Self {
        AccountService { store, keys, clock, auth, kdf, audit }
    }

    /// Sets an account's password after checking it against the rules (the e-mail address is
    /// context it must not contain).
    pub async fn set_password(&self, email: &str, new_password: Zeroizing<String>) -> Result<(), CoreError> {
        let email = normalize_email(email)?;
        let account = self.store.account_by_email(&email).await?.ok_or(CoreError::NotFound)?;
        let phc = self.checked_password_hash(&email, new_password.clone()).await?;
        // The old password is not known here, so its copy of the vault can't be opened: a new
        // vault starts (see `vault.rs`).
        let sealed = self.seal_vault_under_password(&account.id, new_password, &VaultKey::generate()).await?;
        if !self.store.set_password(&account.id, &phc, &sealed).await? {
            return Err(CoreError::NotFound);
        }
        self.audit.event("account.password_set", "ok", None, &account.id.0);
        Ok(())
    }

    /// Checks a new password against the rules (the e-mail address is context it must not
    /// contain) and hashes it on the KDF pool.
    async fn checked_password_hash(
        &self,
        email: &str,
        new_password: Zeroizing<String>,
    ) -> Result<String, CoreError> {
        self.auth.password_rules.check(&new_password, &[email]).map_err(CoreError::WeakPassword)?;
        let params = self.auth.password_params;
        self.kdf
            .run(move || password::hash_password(&new_password, params))
            .await?
            .map_err(|e| CoreError::Crypto(e.to_string()))
    }

    /// Creates an account on the sign-up page (when the sign-up mode admits the address) and
    /// signs it in. The account has no API key yet; it makes its own.
    pub async fn sign_up(
        &self,
        email: &str,
        new_password: Zeroizing<String>,
        client: &str,
    ) -> Result<SignedIn, CoreError> {
        let email = normalize_email(email)?;
        if !self.auth.signup.admits(&email) {
            self.audit.event("account.signup", "denied:mode", None, "anon");
            return Err(CoreError::SignupRefused);
        }
        let phc = self.checked_password_hash(&email, new_password.clone()).await?;
        let now = self.clock.now();
        let account = Account {
            id: AccountId(email.clone()),
            email,
            role: Role::User,
            created_at: now,
            disabled: false,
        };
        self.store.add_account(account.clone(), None).await.map_err(|e| match e {
            once_store::StoreError::Conflict(_) => {
                CoreError::Conflict(format!("{} already has an account", account.email))
            }
            other => CoreError::Unavailable(other),
        })?;
        let vault = VaultKey::generate();
        let sealed = self.seal_vault_under_password(&account.id, new_password, &vault).await?;
        self.store.set_password(&account.id, &phc, &sealed).await?;
        self.audit.event("account.signup", "ok", None, &account.id.0);
        self.open_session(account, false, client, Some(&vault)).await
    }

    /// Opens a new session for an account (a fresh token every time).
    pub(crate) async fn open_session(
        &self,
        account: Account,
        second_factor: bool,
        client: &str,
        vault: Option<&VaultKey>,
    ) -> Result<SignedIn, CoreError> {
        let now = self.clock.now();
        let token = SessionToken::generate();
        let vault = vault.map(|v| self.seal_vault_for_session(&token, v)).transpose()?;
        let session = SessionRecord {
            hash: token.lookup_hash(),
            account_id: account.id.clone(),
            created_at: now,
            last_seen_at: now,
            idle_timeout: self.auth.session_idle_secs,
            expires_at: now + self.auth.session_max_secs,
            second_factor,
            client: client.chars().take(120).collect(),
            vault,
        };
        self.store.create_session(session).await?;
        Ok(SignedIn { token, account })
    }

    /// The password step of signing in. Without two-factor sign-in it opens a new session;
    /// with it, it hands out a ticket for [`AccountService::second_factor`]. Unknown e-mail, no
    /// password set, a wrong password and a disabled account are the same
    /// [`CoreError::Unauthorized`], and cost the same Argon2 work.
    pub async fn sign_in(
        &self,
        email: &str,
        given: Zeroizing<String>,
        client: &str,
    ) -> Result<SignInStep, CoreError> {
        let params = self.auth.password_params;
        let denied = |reason: &'static str, actor: &str| {
            self.audit.event("auth.password", reason, None, actor);
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
            self.kdf.run(move || password::dummy_verify(&given, params)).await?;
            return Err(denied("denied:unknown_or_no_password", "anon"));
        };
        let (pw, stored) = (given.clone(), phc.clone());
        let checked = self.kdf.run(move || password::verify_password(&pw, &stored, params)).await?;
        let mut phc = phc;
        match checked {
            Ok(v) if !account.disabled => {
                if v.needs_rehash {
                    let pw = given.clone();
                    if let Ok(Ok(new)) = self.kdf.run(move || password::hash_password(&pw, params)).await {
                        self.store.set_password_hash(&account.id, &new).await?;
                        phc = new;
                    }
                }
            }
            Ok(_) => return Err(denied("denied:disabled", &account.id.0)),
            Err(PasswordError::Mismatch) => return Err(denied("denied:wrong_password", &account.id.0)),
            Err(_) => return Err(denied("denied:unreadable_hash", &account.id.0)),
        }
        let vault = self.vault_at_sign_in(&account.id, &given, &phc).await?;
        if self.store.totp(&account.id).await?.is_some() {
            self.audit.event("auth.password", "ok:second_factor_next", None, &account.id.0);
            let ticket = self.second_factor_ticket(&account.id, &vault)?;
            return Ok(SignInStep::SecondFactor { ticket });
        }
        self.audit.event("auth.password", "ok", None, &account.id.0);
        Ok(SignInStep::Done(self.open_session(account, false, client, Some(&vault)).await?))
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
        let vault = session.vault.as_deref().and_then(|sealed| self.open_session_vault(&token, sealed));
        Ok(Some(SignedInSession { account, session, vault }))
    }

    /// Ends the session a token names (sign out). Unknown tokens are fine.
    pub async fn sign_out(&self, token: &str) -> Result<(), CoreError> {
        if let Some(token) = SessionToken::parse(token) {
            self.store.end_session(&token.lookup_hash()).await?;
        }
        Ok(())
    }

    /// The service clock's current time (for callers turning a lifetime into an expiry).
    pub fn now(&self) -> UnixTime {
        self.clock.now()
    }

    /// Changes the signed-in account's password: the current one is checked first, the vault is
    /// sealed under the new one, and every session ends; the one returned replaces this browser's.
    pub async fn change_password(
        &self,
        who: &SignedInSession,
        current: Zeroizing<String>,
        new_password: Zeroizing<String>,
        client: &str,
    ) -> Result<SignedIn, CoreError> {
        let account = &who.account;
        self.check_password(account, current.clone()).await?;
        let phc = self.checked_password_hash(&account.email, new_password.clone()).await?;
        let vault = match &who.vault {
            Some(v) => v.clone(),
            None => match self.store.password_vault(&account.id).await? {
                Some(sealed) => self.open_vault_with_password(&account.id, current, sealed).await?,
                None => None,
            }
            .unwrap_or_else(VaultKey::generate),
        };
        let sealed = self.seal_vault_under_password(&account.id, new_password, &vault).await?;
        if !self.store.set_password(&account.id, &phc, &sealed).await? {
            return Err(CoreError::NotFound);
        }
        self.store.end_sessions_of(&account.id).await?;
        self.audit.event("account.password_changed", "ok", None, &account.id.0);
        self.open_session(account.clone(), who.session.second_factor, client, Some(&vault)).await
    }

    /// Who may sign up.
    pub fn signup_mode(&self) -> &crate::policy::SignupMode {
        &self.auth.signup
    }

    /// Checks a signed-in account's password again (before turning off two-factor sign-in, say).
    /// A wrong password is [`CoreError::Unauthorized`].
    pub async fn check_password(&self, account: &Account, given: Zeroizing<String>) -> Result<(), CoreError> {
        let params = self.auth.password_params;
        let Some(phc) = self.store.password_hash(&account.id).await? else {
            self.kdf.run(move || password::dummy_verify(&given, params)).await?;
            return Err(CoreError::Unauthorized);
        };
        match self.kdf.run(move || password::verify_password(&given, &phc, params)).await? {
            Ok(_) => Ok(()),
            Err(_) => {
                self.audit.event("auth.password_recheck", "denied:wrong_password", None, &account.id.0);
                Err(CoreError::Unauthorized)
            }
        }
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
        self.audit.event("auth.sign_out_everywhere", "ok", None, &account.0);
        Ok(n)
    }

    fn wrap_vault(&self, key: &ApiKey, vault: &VaultKey) -> Result<Vec<u8>, CoreError> {
        self.keys
            .seal(&key.lookup_hash(), key.expose().as_bytes(), None, vault.expose())
            .map_err(|e| CoreError::Crypto(e.to_string()))
    }

    /// Adds a user with a first API key (returned once; only its hash is stored). An admin's
    /// first key has every scope; a user's has `share`, `read` and `burn`.
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
            scopes: if role == Role::Admin { Scopes::ALL } else { Scopes::USER },
            expires_at: None,
            revoked_at: None,
        };
        self.store.add_account(account.clone(), Some(record)).await.map_err(|e| match e {
            once_store::StoreError::Conflict(_) => {
                CoreError::Conflict(format!("{} already has an account", account.email))
            }
            other => CoreError::Unavailable(other),
        })?;
        self.audit.event("account.created", "ok", None, &account.id.0);
        Ok(NewUser { account, api_key })
    }

    pub async fn users(&self) -> Result<Vec<Account>, CoreError> {
        Ok(self.store.accounts().await?)
    }

    async fn account_by_email(&self, email: &str) -> Result<Account, CoreError> {
        let email = normalize_email(email)?;
        self.store
            .account_by_email(&email)
            .await?
            .ok_or_else(|| CoreError::Invalid(format!("no user {email}")))
    }

    /// Disables (and signs out everywhere) or re-enables a user. Disabled users can't sign in or
    /// use their API keys; their secrets stay as they are.
    pub async fn set_disabled(&self, email: &str, disabled: bool) -> Result<Account, CoreError> {
        let account = self.account_by_email(email).await?;
        self.store.set_disabled(&account.id, disabled).await?;
        if disabled {
            self.store.end_sessions_of(&account.id).await?;
        }
        self.audit.event(
            if disabled { "account.disabled" } else { "account.enabled" },
            "ok",
            None,
            &account.id.0,
        );
        Ok(Account { disabled, ..account })
    }

    /// Turns off a user's two-factor sign-in (an admin's action, for a lost phone and lost
    /// recovery codes) and clears its lock.
    pub async fn reset_second_factor(&self, email: &str) -> Result<Account, CoreError> {
        let account = self.account_by_email(email).await?;
        self.disable_totp(&account.id).await?;
        self.store.clear_lockout(&crate::second_factor::lock_subject(&account.id)).await?;
        self.audit.event("account.2fa_reset", "ok", None, &account.id.0);
        Ok(account)
    }

    /// Gives a user a role.
    pub async fn set_role(&self, email: &str, role: Role) -> Result<Account, CoreError> {
        let account = self.account_by_email(email).await?;
        self.store.set_role(&account.id, role).await?;
        self.audit.event("account.role_set", role.as_str(), None, &account.id.0);
        Ok(Account { role, ..account })
    }

    /// Creates another API key for a caller who holds one already (the new key gets the same
    /// vault key, so it sees the same recent secrets). `scopes` must be a subset of the caller's,
    /// and `admin` needs the admin role.
    pub async fn create_api_key(
        &self,
        who: &Principal,
        name: &str,
        scopes: Scopes,
        expires_at: Option<UnixTime>,
    ) -> Result<NewApiKey, CoreError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
            return Err(CoreError::Invalid("a key's name is 1 to 64 characters".into()));
        }
        if scopes.is_empty() {
            return Err(CoreError::Invalid("a key needs at least one scope".into()));
        }
        if scopes.iter().any(|s| !who.may(s))
            || (scopes.contains(Scope::Admin) && who.account.role != Role::Admin)
        {
            return Err(CoreError::Invalid("a key can't have scopes its creator lacks".into()));
        }
        let now = self.clock.now();
        if expires_at.is_some_and(|t| t <= now) {
            return Err(CoreError::Invalid("the expiry must be in the future".into()));
        }
        let key = ApiKey::generate();
        let record = ApiKeyRecord {
            hash: key.lookup_hash(),
            account_id: who.account.id.clone(),
            name: name.to_owned(),
            created_at: now,
            last_used_at: None,
            wrapped_vault_key: self.wrap_vault(&key, &who.vault)?,
            scopes,
            expires_at,
            revoked_at: None,
        };
        self.store.add_api_key(record.clone()).await?;
        self.audit.event("apikey.created", "ok", None, &who.account.id.0);
        Ok(NewApiKey { key, record })
    }

    /// An account's API keys (hashes and metadata only), newest first.
    pub async fn api_keys_of(&self, account: &AccountId) -> Result<Vec<ApiKeyRecord>, CoreError> {
        Ok(self.store.api_keys_of(account).await?)
    }

    /// Revokes one of an account's keys, named by its hash; `false` if it has no such live key.
    pub async fn revoke_api_key(&self, account: &AccountId, hash: &[u8; 32]) -> Result<bool, CoreError> {
        let done = self.store.revoke_api_key(account, hash, self.clock.now()).await?;
        if done {
            self.audit.event("apikey.revoked", "ok", None, &account.0);
        }
        Ok(done)
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
            self.audit.event("auth.apikey", reason, None, "anon");
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
        let now = self.clock.now();
        if record.revoked_at.is_some() {
            return Err(denied("denied:revoked"));
        }
        if !record.usable_at(now) {
            return Err(denied("denied:expired"));
        }
        let vault = self
            .keys
            .open(&hash, key.expose().as_bytes(), None, &record.wrapped_vault_key)
            .ok()
            .and_then(|b| VaultKey::from_bytes(&b))
            .ok_or_else(|| denied("denied:vault_unopenable"))?;
        // Last-used time to the minute: a busy key does not cost a write on every request.
        if record.last_used_at.is_none_or(|t| now - t >= LAST_USED_GRANULARITY) {
            self.store.touch_api_key(&hash, now).await?;
            // In the trail too, at the same granularity: not once per request.
            self.audit.event_with("apikey.used", "ok", None, &account.id.0, &record.name);
        }
        Ok(Principal { account, vault, scopes: record.scopes })
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
