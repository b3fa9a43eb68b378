//! The account's vault key on the web side. API keys each hold a copy sealed under the key (see
//! `accounts.rs`); for the web, the account keeps a copy sealed under its password *and* the master
//! key ring (Argon2id with the password parameters, so a database dump with the master key still
//! needs the password), and each browser session a copy sealed under its token, which only the
//! cookie holds. A password set by an admin (`once user password`) can't open the old copy, so it
//! starts a new vault: receipt links of earlier secrets then no longer show in the web list (their
//! state still does).

use once_crypto::{Guard, PassphraseParams, SessionToken, VaultKey};
use once_store::AccountId;
use zeroize::Zeroizing;

use crate::accounts::AccountService;
use crate::error::CoreError;

const PASSWORD_VAULT_TOKEN: &[u8] = b"once vault under password";

fn password_vault_id(account: &AccountId) -> [u8; 32] {
    once_crypto::lookup_hash("password-vault", account.0.as_bytes())
}

impl AccountService {
    fn vault_params(&self) -> PassphraseParams {
        let p = self.auth.password_params;
        PassphraseParams { m_cost_kib: p.m_cost_kib, t_cost: p.t_cost, p_cost: p.p_cost }
    }

    /// Seals `vault` under `password` and the master key ring (slow: Argon2id on the KDF pool).
    pub(crate) async fn seal_vault_under_password(
        &self,
        account: &AccountId,
        password: Zeroizing<String>,
        vault: &VaultKey,
    ) -> Result<Vec<u8>, CoreError> {
        let (keys, id, params) = (self.keys.clone(), password_vault_id(account), self.vault_params());
        let vault = Zeroizing::new(*vault.expose());
        self.kdf
            .run(move || {
                keys.seal(
                    &id,
                    PASSWORD_VAULT_TOKEN,
                    Some(Guard::Passphrase(password.as_bytes(), params)),
                    &vault[..],
                )
            })
            .await?
            .map_err(|e| CoreError::Crypto(e.to_string()))
    }

    /// Opens the password's copy of the vault; `None` if it doesn't open (slow: Argon2id;
    /// [`CoreError::Busy`] when too many derivations wait).
    pub(crate) async fn open_vault_with_password(
        &self,
        account: &AccountId,
        password: Zeroizing<String>,
        sealed: Vec<u8>,
    ) -> Result<Option<VaultKey>, CoreError> {
        let (keys, id) = (self.keys.clone(), password_vault_id(account));
        Ok(self
            .kdf
            .run(move || keys.open(&id, PASSWORD_VAULT_TOKEN, Some(password.as_bytes()), &sealed).ok())
            .await?
            .and_then(|b| VaultKey::from_bytes(&b)))
    }

    /// The account's vault after a right password: the password's copy opened, or, when there is
    /// none or it doesn't open (a password an admin set), a new vault stored under `phc`'s
    /// password.
    pub(crate) async fn vault_at_sign_in(
        &self,
        account: &AccountId,
        password: &Zeroizing<String>,
        phc: &str,
    ) -> Result<VaultKey, CoreError> {
        if let Some(sealed) = self.store.password_vault(account).await?
            && let Some(v) = self.open_vault_with_password(account, password.clone(), sealed).await?
        {
            return Ok(v);
        }
        let vault = VaultKey::generate();
        let sealed = self.seal_vault_under_password(account, password.clone(), &vault).await?;
        self.store.set_password(account, phc, &sealed).await?;
        self.audit.event("account.vault_created", "ok", None, &account.0);
        Ok(vault)
    }

    /// The session's copy of the vault, sealed under its token.
    pub(crate) fn seal_vault_for_session(
        &self,
        token: &SessionToken,
        vault: &VaultKey,
    ) -> Result<Vec<u8>, CoreError> {
        self.keys
            .seal(&token.lookup_hash(), token.expose().as_bytes(), None, vault.expose())
            .map_err(|e| CoreError::Crypto(e.to_string()))
    }

    pub(crate) fn open_session_vault(&self, token: &SessionToken, sealed: &[u8]) -> Option<VaultKey> {
        let bytes = self.keys.open(&token.lookup_hash(), token.expose().as_bytes(), None, sealed).ok()?;
        VaultKey::from_bytes(&bytes)
    }
}
