//! The domain of Once: what a secret is, the rules it lives by, and the services that create,
//! reveal, report and burn secrets and manage accounts.
//!
//! This crate does no I/O of its own: storage comes in as a `once_store::Store`, time as a
//! [`Clock`], keys as a `once_crypto::KeyRing`. It decides; backends and the HTTP edge carry out.
//!
//! Invariants kept here:
//! * plaintext, link tokens and passphrases never reach the store (only sealed envelopes and
//!   hashes do);
//! * a caller who is not the sender cannot tell unknown, expired, consumed, burned and
//!   wrong-passphrase apart ([`CoreError::NotFound`]); the audit event carries the real reason;
//! * a reveal hands out plaintext only after the store's atomic claim succeeded.

mod access;
mod accounts;
mod admin;
pub mod audit;
mod clock;
mod error;
mod files;
mod kdf;
mod policy;
mod recipient;
mod second_factor;
mod secrets;
mod tickets;
mod vault;

pub use access::{AccessPolicy, Denial, GeoIp, WeeklyHours, local_time_to_unix};
pub use accounts::{AccountService, NewApiKey, NewUser, Principal, SignInStep, SignedIn, SignedInSession};
pub use admin::{AdminService, LockedSubject, MAX_USERS_PAGE, UsageDay, UsageReport, UserSummary, UsersPage};
pub use clock::{Clock, FakeClock, SystemClock};
pub use error::CoreError;
pub use files::{CHUNK_BYTES, FileUpload, HEAD_BYTES, sealed_allowance};
pub use once_crypto::EnvelopeKind;
pub use once_store::FileInfo;
pub use policy::{AuthPolicy, Policy, SignupMode, TtlRequest, ViewLimit};
pub use recipient::{RecipientRule, Viewer, Visitor};
pub use second_factor::{SecondFactorStatus, TotpEnrolment};
pub use secrets::{
    CreateSecret, Created, FileContent, Generated, Preview, ReceiptView, RecentPage, Revealed, SecretService,
    SecretState, Unlock,
};

/// Everything the services need, shared by all requests.
pub struct Core {
    pub secrets: SecretService,
    pub accounts: std::sync::Arc<AccountService>,
    /// Administration; every call checks that the acting account is an admin.
    pub admin: AdminService,
    auditor: audit::Auditor,
}

impl Core {
    /// The services, with security events going to the log only.
    pub fn new(
        store: std::sync::Arc<dyn once_store::Store>,
        keys: std::sync::Arc<once_crypto::KeyRing>,
        clock: std::sync::Arc<dyn Clock>,
        policy: Policy,
    ) -> Self {
        Core::with_audit(store, keys, clock, policy, std::sync::Arc::new(audit::LogOnly))
    }

    /// The services, with security events going to the log and to `sink`.
    pub fn with_audit(
        store: std::sync::Arc<dyn once_store::Store>,
        keys: std::sync::Arc<once_crypto::KeyRing>,
        clock: std::sync::Arc<dyn Clock>,
        policy: Policy,
        sink: std::sync::Arc<dyn audit::AuditSink>,
    ) -> Self {
        let kdf = kdf::KdfPool::new(policy.kdf_concurrency, policy.kdf_queue);
        let auditor = audit::Auditor::new(sink, clock.clone());
        let accounts = std::sync::Arc::new(AccountService::new(
            store.clone(),
            keys.clone(),
            clock.clone(),
            policy.auth.clone(),
            kdf.clone(),
            auditor.clone(),
        ));
        Core {
            admin: AdminService::new(
                store.clone(),
                keys.clone(),
                clock.clone(),
                accounts.clone(),
                auditor.clone(),
            ),
            accounts,
            secrets: SecretService::new(store, keys, clock, policy, kdf, auditor.clone()),
            auditor,
        }
    }

    /// Country allow-lists look addresses up in `geo` (without one, a secret can't ask for them).
    pub fn with_geoip(mut self, geo: std::sync::Arc<dyn GeoIp>) -> Self {
        self.secrets.set_geoip(geo);
        self
    }

    /// Records a security event decided at the edge (a request refused before any service).
    pub fn audit(&self) -> &audit::Auditor {
        &self.auditor
    }
}
