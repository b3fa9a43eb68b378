//! Two-factor sign-in: TOTP enrolment, the code step of signing in, recovery codes, and the lock
//! after too many wrong codes. The arithmetic is `once_crypto::totp`'s; the rules are here.

use once_crypto::VaultKey;
use once_crypto::totp::{self, TotpError, TotpSecret};
use once_store::{AccountId, TotpRecord};
use zeroize::Zeroizing;

use crate::accounts::{AccountService, SignedIn};
use crate::error::CoreError;
use crate::tickets::{self, Purpose};

/// How long the code form may wait after the password step (seconds).
const SECOND_FACTOR_TICKET_SECS: i64 = 5 * 60;
/// How long an enrolment page may wait for its first code (seconds).
const ENROLMENT_TICKET_SECS: i64 = 15 * 60;

/// An enrolment in progress: what the 2FA page shows (the key, and the URI for the QR code) and
/// the ticket its form sends back with the first code. All of it holds the secret: show it to the
/// account's owner, log none of it.
pub struct TotpEnrolment {
    pub secret_base32: Zeroizing<String>,
    pub otpauth_uri: Zeroizing<String>,
    pub ticket: String,
}

impl std::fmt::Debug for TotpEnrolment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpEnrolment([redacted])")
    }
}

/// An account's second factor as its settings page shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SecondFactorStatus {
    pub enabled_at: i64,
    pub recovery_codes_left: u32,
}

/// The record id a TOTP secret is sealed to: the account's, so a sealed secret copied to another
/// account's row does not open.
fn totp_record_id(account: &AccountId) -> [u8; 32] {
    once_crypto::lookup_hash("totp-secret", account.0.as_bytes())
}

const TOTP_SEAL_TOKEN: &[u8] = b"once totp secret";

pub(crate) fn lock_subject(account: &AccountId) -> String {
    format!("2fa:{}", account.0)
}

impl AccountService {
    /// The ticket the code step needs: the account, and its vault for the session to come.
    pub(crate) fn second_factor_ticket(
        &self,
        account: &AccountId,
        vault: &VaultKey,
    ) -> Result<String, CoreError> {
        let mut payload = Zeroizing::new(Vec::with_capacity(32 + account.0.len()));
        payload.extend_from_slice(vault.expose());
        payload.extend_from_slice(account.0.as_bytes());
        tickets::seal(
            &self.keys,
            Purpose::SecondFactor,
            self.clock.now(),
            SECOND_FACTOR_TICKET_SECS,
            &payload,
        )
    }

    /// Whether an account has two-factor sign-in, and how many recovery codes it has left.
    pub async fn second_factor_status(
        &self,
        account: &AccountId,
    ) -> Result<Option<SecondFactorStatus>, CoreError> {
        Ok(self.store.totp(account).await?.map(|t| SecondFactorStatus {
            enabled_at: t.enabled_at,
            recovery_codes_left: t.recovery_codes_left,
        }))
    }

    /// Whether the instance requires every account to have two-factor sign-in.
    pub fn second_factor_required(&self) -> bool {
        self.auth.require_second_factor
    }

    /// Starts enrolling an authenticator app: a fresh 160-bit secret from the OS RNG, its
    /// `otpauth://` URI and a ticket that carries it (sealed) to [`AccountService::confirm_totp`].
    /// Nothing is stored until a code confirms it.
    pub fn begin_totp(&self, account: &AccountId, email: &str) -> Result<TotpEnrolment, CoreError> {
        let secret = TotpSecret::generate();
        let policy = self.auth.totp;
        let otpauth_uri = policy
            .otpauth_uri(&secret, &self.auth.totp_issuer, email)
            .map_err(|e| CoreError::Crypto(e.to_string()))?;
        let id = account.0.as_bytes();
        let id_len = u8::try_from(id.len()).map_err(|_| CoreError::Invalid("account id too long".into()))?;
        let mut payload = Zeroizing::new(Vec::with_capacity(1 + id.len() + secret.expose().len()));
        payload.push(id_len);
        payload.extend_from_slice(id);
        payload.extend_from_slice(secret.expose());
        let ticket = tickets::seal(
            &self.keys,
            Purpose::TotpEnrolment,
            self.clock.now(),
            ENROLMENT_TICKET_SECS,
            &payload,
        )?;
        Ok(TotpEnrolment { secret_base32: secret.to_base32(), otpauth_uri, ticket })
    }

    /// The secret an enrolment ticket carries, if it is this account's and still valid.
    fn enrolment_secret(&self, account: &AccountId, ticket: &str) -> Option<TotpSecret> {
        let payload = tickets::open(&self.keys, Purpose::TotpEnrolment, self.clock.now(), ticket)?;
        let (&len, rest) = payload.split_first()?;
        let (id, secret) = rest.split_at_checked(usize::from(len))?;
        (id == account.0.as_bytes()).then_some(())?;
        TotpSecret::from_bytes(secret).ok()
    }

    /// The enrolment page's secret again (to show the same QR code after a wrong first code).
    pub fn resume_totp(&self, account: &AccountId, email: &str, ticket: &str) -> Option<TotpEnrolment> {
        let secret = self.enrolment_secret(account, ticket)?;
        let otpauth_uri = self.auth.totp.otpauth_uri(&secret, &self.auth.totp_issuer, email).ok()?;
        Some(TotpEnrolment { secret_base32: secret.to_base32(), otpauth_uri, ticket: ticket.to_owned() })
    }

    /// Finishes enrolment with the first code from the app: stores the secret (sealed under the
    /// master key ring) and ten fresh recovery codes (hashed), replacing any earlier second factor,
    /// and returns the codes, to be shown this once. The confirming code is used up: it can't sign
    /// in afterwards. A wrong code is [`CoreError::Invalid`]; an expired or foreign ticket too.
    pub async fn confirm_totp(
        &self,
        account: &AccountId,
        ticket: &str,
        code: &str,
    ) -> Result<Vec<Zeroizing<String>>, CoreError> {
        let secret = self
            .enrolment_secret(account, ticket)
            .ok_or_else(|| CoreError::Invalid("this enrolment page has expired; start again".into()))?;
        let now = self.clock.now();
        let accepted = match self.auth.totp.verify(&secret, code, unix(now), None) {
            Ok(a) => a,
            Err(TotpError::Policy) => return Err(CoreError::Crypto("TOTP policy is invalid".into())),
            Err(_) => {
                self.audit.event("account.2fa_enrol", "denied:wrong_code", None, &account.0);
                return Err(CoreError::Invalid("that code is not right".into()));
            }
        };
        let sealed = self
            .keys
            .seal(&totp_record_id(account), TOTP_SEAL_TOKEN, None, secret.expose())
            .map_err(|e| CoreError::Crypto(e.to_string()))?;
        let codes = totp::recovery_codes(totp::RECOVERY_CODE_COUNT);
        let hashes: Vec<[u8; 32]> = codes.iter().map(|c| totp::recovery_code_hash(c)).collect();
        let record = TotpRecord { sealed_secret: sealed, enabled_at: now, recovery_codes_left: 0 };
        if !self.store.set_totp(account, Some(record), &hashes).await? {
            return Err(CoreError::NotFound);
        }
        // The confirming code's step is spent; an earlier, later-stored step makes this a no-op.
        self.store.use_totp_step(account, accepted.step).await?;
        self.store.clear_lockout(&lock_subject(account)).await?;
        self.audit.event_with(
            "account.2fa_enabled",
            "ok",
            None,
            &account.0,
            &format!("drift={}", accepted.drift),
        );
        Ok(codes)
    }

    /// Replaces an account's recovery codes with ten new ones (shown once), keeping its TOTP
    /// secret. [`CoreError::NotFound`] if it has no second factor.
    pub async fn new_recovery_codes(&self, account: &AccountId) -> Result<Vec<Zeroizing<String>>, CoreError> {
        let current = self.store.totp(account).await?.ok_or(CoreError::NotFound)?;
        let codes = totp::recovery_codes(totp::RECOVERY_CODE_COUNT);
        let hashes: Vec<[u8; 32]> = codes.iter().map(|c| totp::recovery_code_hash(c)).collect();
        self.store.set_totp(account, Some(current), &hashes).await?;
        self.audit.event("account.2fa_recovery_codes", "ok", None, &account.0);
        Ok(codes)
    }

    /// Turns two-factor sign-in off (the caller has checked the password again).
    pub async fn disable_totp(&self, account: &AccountId) -> Result<(), CoreError> {
        self.store.set_totp(account, None, &[]).await?;
        self.audit.event("account.2fa_disabled", "ok", None, &account.0);
        Ok(())
    }

    /// The code step of signing in, with the ticket from the password step: a TOTP code (accepted
    /// once: the same code again, even concurrently, fails) or a recovery code (each works once).
    /// Wrong codes count against the account; the one that reaches the limit locks its second
    /// factor for a while ([`CoreError::Locked`], also for right codes until it ends). An expired
    /// ticket, a disabled account and a wrong code are [`CoreError::Unauthorized`].
    pub async fn second_factor(&self, ticket: &str, code: &str, client: &str) -> Result<SignedIn, CoreError> {
        let now = self.clock.now();
        let opened = tickets::open(&self.keys, Purpose::SecondFactor, now, ticket);
        let Some((vault, id)) = opened.as_ref().and_then(|p| {
            let (vault, id) = p.split_at_checked(32)?;
            Some((VaultKey::from_bytes(vault)?, AccountId(String::from_utf8(id.to_vec()).ok()?)))
        }) else {
            self.audit.event("auth.2fa", "denied:ticket", None, "anon");
            return Err(CoreError::Unauthorized);
        };
        let Some(account) = self.store.account(&id).await?.filter(|a| !a.disabled) else {
            self.audit.event("auth.2fa", "denied:disabled", None, &id.0);
            return Err(CoreError::Unauthorized);
        };
        let subject = lock_subject(&id);
        let (limit, lock_secs) = (self.auth.second_factor_max_failures, self.auth.second_factor_lock_secs);
        if let Some(until) = self.store.lockout(&subject, lock_secs, now).await?.locked_until {
            self.audit.event("auth.2fa", "denied:locked", None, &id.0);
            return Err(CoreError::Locked { until });
        }
        let Some(record) = self.store.totp(&id).await? else {
            // Second factor removed since the password step: the password step again.
            self.audit.event("auth.2fa", "denied:not_enrolled", None, &id.0);
            return Err(CoreError::Unauthorized);
        };
        let outcome = if looks_like_totp(code) {
            self.check_totp(&id, &record, code, now).await?
        } else if self.store.use_recovery_code(&id, &totp::recovery_code_hash(code)).await? {
            Ok("ok:recovery_code".to_owned())
        } else {
            Err("denied:wrong_recovery_code")
        };
        match outcome {
            Ok(detail) => {
                self.store.clear_lockout(&subject).await?;
                self.audit.event_with("auth.2fa", "ok", None, &id.0, &detail);
                self.open_session(account, true, client, Some(&vault)).await
            }
            Err(reason) => {
                self.audit.event("auth.2fa", reason, None, &id.0);
                let state = self.store.lockout_failure(&subject, limit, lock_secs, lock_secs, now).await?;
                match state.locked_until {
                    Some(until) if state.failures >= limit => {
                        self.audit.event("auth.2fa_locked", "locked", None, &id.0);
                        Err(CoreError::Locked { until })
                    }
                    _ => Err(CoreError::Unauthorized),
                }
            }
        }
    }

    /// Checks a TOTP code and spends its step. `Ok(detail)` when accepted, `Err(reason)` for the
    /// audit log when not.
    async fn check_totp(
        &self,
        id: &AccountId,
        record: &TotpRecord,
        code: &str,
        now: i64,
    ) -> Result<Result<String, &'static str>, CoreError> {
        let secret = self
            .keys
            .open(&totp_record_id(id), TOTP_SEAL_TOKEN, None, &record.sealed_secret)
            .ok()
            .and_then(|b| TotpSecret::from_bytes(&b).ok())
            .ok_or_else(|| CoreError::Crypto("an account's TOTP secret can't be opened".into()))?;
        Ok(match self.auth.totp.verify(&secret, code, unix(now), None) {
            Ok(a) if self.store.use_totp_step(id, a.step).await? => Ok(format!("drift={}", a.drift)),
            Ok(_) | Err(TotpError::Replayed) => Err("denied:replayed_code"),
            Err(TotpError::Policy) => return Err(CoreError::Crypto("TOTP policy is invalid".into())),
            Err(_) => Err("denied:wrong_code"),
        })
    }
}

/// A TOTP code is digits (and spaces); a recovery code has letters or dashes.
fn looks_like_totp(code: &str) -> bool {
    let digits = code.bytes().filter(u8::is_ascii_digit).count();
    digits > 0 && code.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_whitespace())
}

fn unix(now: i64) -> u64 {
    u64::try_from(now).unwrap_or(0)
}
