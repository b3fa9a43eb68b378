//! Administration: usage statistics, the users list, disabling and enabling users, the master
//! key ring's status and the current second-factor locks.
//!
//! Every method takes the acting account and refuses ([`CoreError::NotAdmin`]) unless that
//! account, as the store has it now (not as the caller last saw it), has the `admin` role and is
//! enabled: a demotion or a disabled account takes effect at the next call. Refusals and changes
//! are audit events (`admin.denied`, `admin.account_disabled`, `admin.account_enabled`), with
//! the acting account as the actor.

use std::sync::Arc;

use once_crypto::{KeyInfo, KeyRing};
use once_store::{Account, Role, Store, UnixTime, UsageRow, UsageState};

use crate::accounts::{AccountService, normalize_email};
use crate::audit::Auditor;
use crate::clock::Clock;
use crate::error::CoreError;

/// The most users one page lists.
pub const MAX_USERS_PAGE: u32 = 100;

/// Usage statistics at one moment ([`AdminService::usage`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageReport {
    /// When they were computed (states such as `expired` depend on it).
    pub now: UnixTime,
    /// One row per (UTC day of creation, state) with receipts, days ascending.
    pub rows: Vec<UsageRow>,
}

/// One UTC day of a [`UsageReport`] (or all of them: [`UsageReport::totals`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UsageDay {
    /// 00:00 UTC of the day (0 in the totals).
    pub day: UnixTime,
    /// Receipts by state, in [`UsageState::ALL`] order.
    pub receipts: [u64; 5],
    /// Envelope bytes of the live secrets.
    pub secret_bytes: u64,
}

impl UsageDay {
    /// Receipts in `state`.
    pub fn count(&self, state: UsageState) -> u64 {
        self.receipts[state_index(state)]
    }

    /// Receipts in any state.
    pub fn total(&self) -> u64 {
        self.receipts.iter().sum()
    }

    fn add(&mut self, row: &UsageRow) {
        self.receipts[state_index(row.state)] += row.receipts;
        self.secret_bytes += row.secret_bytes;
    }
}

fn state_index(state: UsageState) -> usize {
    // ALL lists every state, so the position is always found.
    UsageState::ALL.iter().position(|s| *s == state).unwrap_or(0)
}

impl UsageReport {
    /// The rows folded into one entry per day, newest day first.
    pub fn days(&self) -> Vec<UsageDay> {
        let mut days: Vec<UsageDay> = Vec::new();
        for row in &self.rows {
            match days.last_mut() {
                Some(d) if d.day == row.day => d.add(row),
                _ => {
                    let mut d = UsageDay { day: row.day, ..UsageDay::default() };
                    d.add(row);
                    days.push(d);
                }
            }
        }
        days.reverse();
        days
    }

    /// Every day added up.
    pub fn totals(&self) -> UsageDay {
        let mut t = UsageDay::default();
        for row in &self.rows {
            t.add(row);
        }
        t
    }
}

/// A user as the admin's list shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserSummary {
    pub account: Account,
    /// Whether two-factor sign-in is on.
    pub second_factor: bool,
}

/// One page of users, by e-mail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsersPage {
    pub users: Vec<UserSummary>,
    /// Where the next page starts (pass it as `after`), if there may be one.
    pub next: Option<String>,
}

/// A subject whose second factor is locked (`2fa:<account>`), and until when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockedSubject {
    pub subject: String,
    pub until: UnixTime,
}

/// The administrator's operations. Reached as `core.admin`.
pub struct AdminService {
    store: Arc<dyn Store>,
    keys: Arc<KeyRing>,
    clock: Arc<dyn Clock>,
    accounts: Arc<AccountService>,
    audit: Auditor,
}

impl AdminService {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        keys: Arc<KeyRing>,
        clock: Arc<dyn Clock>,
        accounts: Arc<AccountService>,
        audit: Auditor,
    ) -> Self {
        AdminService { store, keys, clock, accounts, audit }
    }

    /// The acting account as it is now, if it is an enabled admin; [`CoreError::NotAdmin`]
    /// (audited) if not.
    async fn authorize(&self, acting: &Account, what: &'static str) -> Result<Account, CoreError> {
        match self.store.account(&acting.id).await? {
            Some(a) if a.role == Role::Admin && !a.disabled => Ok(a),
            _ => {
                self.audit.event_with("admin.denied", "denied:not_admin", None, &acting.id.0, what);
                Err(CoreError::NotAdmin)
            }
        }
    }

    /// Whether `acting` may use the admin pages (an enabled admin, as the store has it now).
    pub async fn is_admin(&self, acting: &Account) -> Result<bool, CoreError> {
        Ok(self.store.account(&acting.id).await?.is_some_and(|a| a.role == Role::Admin && !a.disabled))
    }

    /// What the store holds now, by day of creation and state ([`once_store::SecretStore::usage`]
    /// has the exact rules). Reads every receipt.
    pub async fn usage(&self, acting: &Account) -> Result<UsageReport, CoreError> {
        self.authorize(acting, "usage").await?;
        let now = self.clock.now();
        Ok(UsageReport { now, rows: self.store.usage(now).await? })
    }

    /// A page of users by e-mail: after `after` (the previous page's `next`), matching `search`
    /// (part of the e-mail, any case; blank means everyone), `limit` (1 to [`MAX_USERS_PAGE`]) at
    /// most.
    pub async fn users(
        &self,
        acting: &Account,
        search: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<UsersPage, CoreError> {
        self.authorize(acting, "users").await?;
        let limit = limit.clamp(1, MAX_USERS_PAGE);
        let search = search.map(str::trim).filter(|s| !s.is_empty());
        if search.is_some_and(|s| s.chars().count() > 254) || after.is_some_and(|a| a.len() > 254) {
            return Err(CoreError::Invalid(
                "the search and the page cursor are at most 254 characters".into(),
            ));
        }
        let accounts = self.store.accounts_page(search, after, limit).await?;
        let next =
            if accounts.len() == limit as usize { accounts.last().map(|a| a.email.clone()) } else { None };
        let mut users = Vec::with_capacity(accounts.len());
        for account in accounts {
            let second_factor = self.accounts.second_factor_status(&account.id).await?.is_some();
            users.push(UserSummary { account, second_factor });
        }
        Ok(UsersPage { users, next })
    }

    /// Disables (signing the user out everywhere) or enables a user, through
    /// [`AccountService::set_disabled`]. An admin can't disable their own account (nobody might
    /// be left to enable it again).
    pub async fn set_disabled(
        &self,
        acting: &Account,
        email: &str,
        disabled: bool,
    ) -> Result<Account, CoreError> {
        let admin = self.authorize(acting, if disabled { "disable" } else { "enable" }).await?;
        let email = normalize_email(email)?;
        if disabled && email == admin.email {
            return Err(CoreError::Invalid("an administrator can't disable their own account".into()));
        }
        let account = self.accounts.set_disabled(&email, disabled).await?;
        let event = if disabled { "admin.account_disabled" } else { "admin.account_enabled" };
        self.audit.event_with(event, "ok", None, &admin.id.0, &format!("account={}", account.id.0));
        Ok(account)
    }

    /// The master keys: ids, states and creation times (never key material).
    pub async fn key_ring(&self, acting: &Account) -> Result<Vec<KeyInfo>, CoreError> {
        self.authorize(acting, "keys").await?;
        Ok(self.keys.list())
    }

    /// Audit records, newest first: up to `limit` below sequence number `before` (`u64::MAX` for
    /// the newest).
    pub async fn audit(
        &self,
        acting: &Account,
        before: u64,
        limit: u32,
    ) -> Result<Vec<once_store::AuditRecord>, CoreError> {
        self.authorize(acting, "audit").await?;
        Ok(self.store.audit_before(before, limit).await?)
    }

    /// Subjects locked now (too many wrong second-factor codes), soonest unlock first, at most
    /// `limit`.
    pub async fn locked(&self, acting: &Account, limit: u32) -> Result<Vec<LockedSubject>, CoreError> {
        self.authorize(acting, "locks").await?;
        let now = self.clock.now();
        let locked = self.store.locked(now, limit).await?;
        Ok(locked.into_iter().map(|(subject, until)| LockedSubject { subject, until }).collect())
    }
}

#[cfg(test)]
mod tests {
    use once_store::memory::MemoryStore;
    use once_store::{AccountId, ReceiptState, SecretStore};

    use super::*;
    use crate::clock::FakeClock;
    use crate::policy::Policy;
    use crate::{Core, SecretState};

    const NOW: i64 = 1_800_000_000;

    fn core() -> (Core, Arc<MemoryStore>) {
        let store = Arc::new(MemoryStore::new());
        let keys = Arc::new(KeyRing::generate_new(NOW));
        let clock: Arc<dyn Clock> = Arc::new(FakeClock::new(NOW));
        (Core::new(store.clone(), keys, clock, Policy::default()), store)
    }

    #[tokio::test]
    async fn only_enabled_admins_get_anything() {
        let (core, _) = core();
        let admin = core.accounts.add_user("root@example.com", Role::Admin).await.expect("admin").account;
        let user = core.accounts.add_user("user@example.com", Role::User).await.expect("user").account;
        let nobody = Account { id: AccountId("ghost@example.com".into()), role: Role::Admin, ..user.clone() };
        let a = &core.admin;
        for who in [&user, &nobody] {
            assert!(matches!(a.usage(who).await, Err(CoreError::NotAdmin)));
            assert!(matches!(a.users(who, None, None, 10).await, Err(CoreError::NotAdmin)));
            assert!(matches!(a.set_disabled(who, "root@example.com", true).await, Err(CoreError::NotAdmin)));
            assert!(matches!(a.key_ring(who).await, Err(CoreError::NotAdmin)));
            assert!(matches!(a.locked(who, 10).await, Err(CoreError::NotAdmin)));
            assert!(!a.is_admin(who).await.expect("is admin"));
        }
        assert!(a.is_admin(&admin).await.expect("is admin"));
        assert_eq!(a.key_ring(&admin).await.expect("keys").len(), 1);

        // The role is read afresh: a stale `Account` claiming admin does not help, a demotion
        // takes effect at once.
        let claims_admin = Account { role: Role::Admin, ..user.clone() };
        assert!(matches!(a.usage(&claims_admin).await, Err(CoreError::NotAdmin)));
        core.accounts.set_role("root@example.com", Role::User).await.expect("demote");
        assert!(matches!(a.usage(&admin).await, Err(CoreError::NotAdmin)));
    }

    #[tokio::test]
    async fn users_page_and_disable() {
        let (core, _) = core();
        let admin = core.accounts.add_user("root@example.com", Role::Admin).await.expect("admin").account;
        for i in 0..5 {
            core.accounts.add_user(&format!("u{i}@example.org"), Role::User).await.expect("user");
        }
        let a = &core.admin;
        let first = a.users(&admin, None, None, 4).await.expect("page");
        assert_eq!(first.users.len(), 4);
        let next = first.next.as_deref().expect("a next page");
        assert_eq!(next, "u2@example.org");
        let second = a.users(&admin, Some("  "), Some(next), 4).await.expect("page");
        let emails: Vec<&str> = second.users.iter().map(|u| u.account.email.as_str()).collect();
        assert_eq!((emails, second.next), (vec!["u3@example.org", "u4@example.org"], None));
        let found = a.users(&admin, Some("U4@"), None, 0).await.expect("search");
        assert_eq!(found.users.len(), 1, "a limit of 0 is raised to 1");
        assert!(!found.users[0].second_factor);

        let off = a.set_disabled(&admin, "U1@example.org", true).await.expect("disable");
        assert!(off.disabled);
        assert!(
            core.accounts
                .users()
                .await
                .expect("all")
                .iter()
                .any(|u| u.email == "u1@example.org" && u.disabled)
        );
        assert!(!a.set_disabled(&admin, "u1@example.org", false).await.expect("enable").disabled);
        assert!(matches!(a.set_disabled(&admin, "root@example.com", true).await, Err(CoreError::Invalid(_))));
        assert!(matches!(
            a.set_disabled(&admin, "nobody@example.org", true).await,
            Err(CoreError::Invalid(_))
        ));
    }

    /// The store's `expired` and the receipt view's agree on every stored state, on both sides
    /// of the secret's expiry.
    #[tokio::test]
    async fn usage_states_match_the_receipt_view() {
        for stored in [ReceiptState::New, ReceiptState::Viewed, ReceiptState::Received, ReceiptState::Burned]
        {
            for now in [NOW - 1, NOW, NOW + 1] {
                let (_, mut r) = once_store::conformance::pair(1, 10, None, NOW - 10);
                r.state = stored;
                let view: SecretState = crate::secrets::view(r.clone(), now, None, None).state;
                let usage = UsageState::of(stored, r.secret_expires_at, now);
                assert_eq!(view.as_str(), usage.as_str(), "{stored:?} at {now}");
            }
        }
        let (core, store) = core();
        let admin = core.accounts.add_user("root@example.com", Role::Admin).await.expect("admin").account;
        let (s, r) = once_store::conformance::pair(1, 10, None, NOW - 86_400);
        store.create(s, r).await.expect("create");
        let report = core.admin.usage(&admin).await.expect("usage");
        assert_eq!(report.now, NOW);
        let day = once_store::utc_day(NOW - 86_400);
        assert_eq!(
            report.rows,
            vec![UsageRow { day, state: UsageState::Expired, receipts: 1, secret_bytes: 0 }]
        );
        assert_eq!(report.days().len(), 1);
        assert_eq!(report.totals().count(UsageState::Expired), 1);
    }

    #[test]
    fn days_fold_rows_newest_first_and_totals_add_up() {
        let row = |day, state, receipts, secret_bytes| UsageRow { day, state, receipts, secret_bytes };
        let report = UsageReport {
            now: NOW,
            rows: vec![
                row(0, UsageState::New, 2, 10),
                row(0, UsageState::Burned, 1, 0),
                row(86_400, UsageState::Viewed, 3, 7),
                row(86_400, UsageState::Expired, 4, 0),
            ],
        };
        let days = report.days();
        assert_eq!(days.iter().map(|d| d.day).collect::<Vec<_>>(), [86_400, 0]);
        assert_eq!((days[0].count(UsageState::Viewed), days[0].total(), days[0].secret_bytes), (3, 7, 7));
        assert_eq!((days[1].count(UsageState::New), days[1].total(), days[1].secret_bytes), (2, 3, 10));
        let t = report.totals();
        assert_eq!((t.receipts, t.total(), t.secret_bytes), ([2, 3, 0, 1, 4], 10, 17));
    }
}
