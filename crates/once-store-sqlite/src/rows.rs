//! Row ↔ record mapping.

use once_store::{
    Account, AccountId, ApiKeyRecord, AuditAnchor, AuditEntry, AuditRecord, BurnReason, FileInfo, Receipt,
    ReceiptState, RecordId, Role, Scopes, SecretRecord, SessionRecord, ViewNote,
};
use rusqlite::Row;
use rusqlite::types::Type;

pub(crate) const RECEIPT_COLUMNS: &str = "id, secret_id, owner, sealed_secret_key, sealed_receipt_key, state, burn_reason, \
     has_passphrase, max_views, views, failures, recipient, share_domain, created_at, updated_at, received_at, \
     secret_expires_at, expires_at, view_log";

fn bad(i: usize, what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(i, Type::Text, format!("unexpected {what}").into())
}

fn id(r: &Row, i: usize) -> rusqlite::Result<RecordId> {
    let v: Vec<u8> = r.get(i)?;
    v.try_into().map(RecordId).map_err(|_| bad(i, "record id length"))
}

fn hash(r: &Row, i: usize) -> rusqlite::Result<[u8; 32]> {
    let v: Vec<u8> = r.get(i)?;
    v.try_into().map_err(|_| bad(i, "hash length"))
}

pub(crate) fn secret_from_row(r: &Row) -> rusqlite::Result<SecretRecord> {
    Ok(SecretRecord {
        id: id(r, 0)?,
        receipt_id: id(r, 1)?,
        envelope: r.get(2)?,
        has_passphrase: r.get::<_, i64>(3)? != 0,
        views_left: r.get(4)?,
        failures: r.get(5)?,
        created_at: r.get(6)?,
        expires_at: r.get(7)?,
        restricted_to: r.get(8)?,
        file: match r.get::<_, Option<String>>(9)? {
            None => None,
            Some(f) => Some(FileInfo::decode(&f).ok_or_else(|| bad(9, "file info"))?),
        },
    })
}

pub(crate) fn receipt_from_row(r: &Row) -> rusqlite::Result<Receipt> {
    let state: String = r.get(5)?;
    let burn: Option<String> = r.get(6)?;
    Ok(Receipt {
        id: id(r, 0)?,
        secret_id: id(r, 1)?,
        owner: r.get::<_, Option<String>>(2)?.map(AccountId),
        sealed_secret_key: r.get(3)?,
        sealed_receipt_key: r.get(4)?,
        state: ReceiptState::parse(&state).ok_or_else(|| bad(5, "receipt state"))?,
        burn_reason: match burn {
            None => None,
            Some(s) => Some(BurnReason::parse(&s).ok_or_else(|| bad(6, "burn reason"))?),
        },
        has_passphrase: r.get::<_, i64>(7)? != 0,
        max_views: r.get(8)?,
        views: r.get(9)?,
        failures: r.get(10)?,
        recipient: r.get(11)?,
        share_domain: r.get(12)?,
        created_at: r.get(13)?,
        updated_at: r.get(14)?,
        received_at: r.get(15)?,
        secret_expires_at: r.get(16)?,
        expires_at: r.get(17)?,
        view_log: r.get::<_, Option<String>>(18)?.map(|l| ViewNote::decode_log(&l)).unwrap_or_default(),
    })
}

/// An account from the five columns `id, email, role, created_at, disabled` starting at `at`.
pub(crate) fn account_at(r: &Row, at: usize) -> rusqlite::Result<Account> {
    let role: String = r.get(at + 2)?;
    Ok(Account {
        id: AccountId(r.get(at)?),
        email: r.get(at + 1)?,
        role: Role::parse(&role).ok_or_else(|| bad(at + 2, "role"))?,
        created_at: r.get(at + 3)?,
        disabled: r.get::<_, i64>(at + 4)? != 0,
    })
}

/// The columns [`api_key_from_row`] reads, in order ([`API_KEY_COLUMN_COUNT`] of them).
pub(crate) const API_KEY_COLUMNS: &str =
    "hash, account_id, name, created_at, last_used_at, wrapped_vault_key, scopes, expires_at, revoked_at";
pub(crate) const API_KEY_COLUMN_COUNT: usize = 9;

pub(crate) fn api_key_from_row(r: &Row) -> rusqlite::Result<ApiKeyRecord> {
    let scopes: i64 = r.get(6)?;
    Ok(ApiKeyRecord {
        hash: hash(r, 0)?,
        account_id: AccountId(r.get(1)?),
        name: r.get(2)?,
        created_at: r.get(3)?,
        last_used_at: r.get(4)?,
        wrapped_vault_key: r.get(5)?,
        scopes: Scopes::from_bits(u8::try_from(scopes).map_err(|_| bad(6, "scopes"))?),
        expires_at: r.get(7)?,
        revoked_at: r.get(8)?,
    })
}

pub(crate) const SESSION_COLUMNS: &str =
    "hash, account_id, created_at, last_seen_at, idle_timeout, expires_at, second_factor, client, vault";

pub(crate) fn session_from_row(r: &Row) -> rusqlite::Result<SessionRecord> {
    Ok(SessionRecord {
        hash: hash(r, 0)?,
        account_id: AccountId(r.get(1)?),
        created_at: r.get(2)?,
        last_seen_at: r.get(3)?,
        idle_timeout: r.get(4)?,
        expires_at: r.get(5)?,
        second_factor: r.get::<_, i64>(6)? != 0,
        client: r.get(7)?,
        vault: r.get(8)?,
    })
}

/// The columns [`audit_record_from_row`] reads, in order.
pub(crate) const AUDIT_COLUMNS: &str = "seq, time, event, outcome, actor, client, record, detail, prev, hash";

fn audit_seq(r: &Row, i: usize) -> rusqlite::Result<u64> {
    u64::try_from(r.get::<_, i64>(i)?).map_err(|_| bad(i, "audit sequence number"))
}

pub(crate) fn audit_record_from_row(r: &Row) -> rusqlite::Result<AuditRecord> {
    Ok(AuditRecord {
        seq: audit_seq(r, 0)?,
        entry: AuditEntry {
            time: r.get(1)?,
            event: r.get(2)?,
            outcome: r.get(3)?,
            actor: r.get(4)?,
            client: r.get(5)?,
            record: r.get(6)?,
            detail: r.get(7)?,
        },
        prev: hash(r, 8)?,
        hash: hash(r, 9)?,
    })
}

/// A chain position from the columns `seq, hash`.
pub(crate) fn audit_anchor_from_row(r: &Row) -> rusqlite::Result<AuditAnchor> {
    Ok(AuditAnchor { seq: audit_seq(r, 0)?, hash: hash(r, 1)? })
}
