//! The Redis/Valkey backend (`redis://`, `rediss://`): several stateless Once instances share one
//! Redis, and every guarantee of one instance holds across all of them.
//!
//! # Layout
//! All keys start with a configurable prefix (default `once:`). A secret's keys share the hash
//! tag of its id, so every script touches one Redis Cluster slot:
//!
//! | key | type | what |
//! |---|---|---|
//! | `P{sid}:s` | hash | the secret: envelope `e`, views left `v`, expiry `x`, `m` (receipt id and creation time, packed), and only when set: guard `p`, failures `f`, conditions `rt`, file `fl` (`size:chunks`) |
//! | `P{sid}:rs` | hash | its receipt: the fields that change (state `st`, views `n`, failures `f`, updated `u`: absent while they are a fresh receipt's), plus `m`, the fixed ones packed (it lives with the secret so take/burn/failure update both atomically) |
//! | `P{rid}:r` | string | receipt id → secret id, to find the receipt from the receipt link |
//! | `P{sid}:c` | hash | a file secret's content: expiry `x`, then one field per chunk index |
//! | `Pexp:s`, `Pexp:r`, `Pexp:c` | sorted sets | expiry indexes for the sweeper (score: expires_at) |
//! | `Powner:ID` | sorted set | an account's receipts, for the recent list (score: created_at) |
//! | `P{acct}:…` | hashes, strings, sorted sets | accounts, e-mail index, API keys, sessions (`s:HASH`), each account's sessions (`ss:ID`) and the sessions' end index (`sx`): one slot |
//! | `P{acct}:k:HASH` | hash | an API key: account `a`, name `n`, created `c`, last use `lu`, wrapped vault key `w`, scopes `sc`, and only when set: expiry `x`, revocation `rv` (a key written before scopes existed has no `sc`: it reads as `share read burn`) |
//! | `P{acct}:ks:ID` | sorted set | an account's API keys (member: key hash, score: created_at) |
//! | `P{acct}:t:ID` | hash | an account's second factor: sealed TOTP secret `s`, enabled `e` (the last accepted TOTP step is the account's field `ts`) |
//! | `P{acct}:rc:ID` | set | hashes of an account's unused recovery codes (`SREM` uses one up) |
//! | `P{acct}:em` | sorted set | every account's e-mail (score 0: byte order), for the admin's accounts list; [`RedisStore`] adds the e-mails of accounts written before it existed when it finds it shorter than `P{acct}:all` |
//! | `P{acct}:layout` | string | the version of the `{acct}` layout (2: the `ks:ID` indexes exist; [`RedisStore::open`] builds them for keys written before) |
//! | `P{lock}:l:SUBJECT` | hash | a lockout counter: failures `f`, last failure `t`, lock end `u` (absent unless the round locked); Redis TTL: the longer of window and lock, plus [`EXPIRY_GRACE`] |
//! | `P{lock}:locked` | sorted set | locked subjects (member: subject, score: locked_until); locks that ended over [`EXPIRY_GRACE`] ago are dropped by `locked` |
//! | `P{rl:KEY}` | string | a rate-limit counter: the key's theoretical arrival time in ms ([`once_store::gcra`]); Redis TTL: until that time, after which no key means the same |
//! | `P{audit}:log`, `:head`, `:anchor` | sorted set, strings | the audit trail's hash chain (records scored by sequence number), its last record and where it starts after pruning; no TTL; appended by compare-and-set on the head (the `audit` module) |
//!
//! Ids, hashes, lockout subjects and rate-limit keys appear in key names as lower-case hex (so no
//! caller's bytes, such as a `}`, can move a hash tag) and inside hashes and sorted-set members as
//! raw bytes, so Redis's member order (score, then bytes) is the traits' `(created_at, id)` order.
//!
//! Each rate-limit key has a hash tag of its own (`{rl:KEY}`) rather than one shared `{rl}`: its
//! script touches that one key only, so nothing needs them in one slot, and on a Cluster the
//! counters (checked on every create and reveal) spread over every shard instead of making one
//! of them the hot spot.
//!
//! # Expiry
//! Every check uses the caller's `now` against the stored expiry time, exactly as the other
//! backends do. Each record also carries a Redis TTL of its lifetime plus [`EXPIRY_GRACE`]: the
//! sweeper normally deletes it first (and counts it), and Redis removes whatever the sweeper never
//! reached (e.g. while no instance runs).
//!
//! # Failure
//! Every operation is bounded by [`RedisOptions::op_timeout`]: when Redis is unreachable the caller
//! gets a backend error quickly (the server answers 503), never a hang and never a local fallback.
//! The connection manager reconnects by itself in the background.

mod audit;
mod scripts;
#[cfg(feature = "testing")]
pub mod testing;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use once_store::{
    Account, AccountId, AccountStore, ApiKeyRecord, BurnOutcome, BurnReason, Claim, ContentStore, Cursor,
    FailureOutcome, FileInfo, Lockout, LockoutStore, RateLimitStore, Receipt, ReceiptState, RecordId, Role,
    Scopes, SecretRecord, SecretStore, SessionRecord, SessionStore, StoreError, StoreResult, Taken,
    TotpRecord, UnixTime, UsageRow, UsageState, ViewNote, utc_day,
};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script, Value};

/// How long past its expiry a record may stay in Redis before Redis's own TTL removes it. The
/// sweeper (every minute by default) deletes expired records well before that.
pub const EXPIRY_GRACE: Duration = Duration::from_secs(3600);

/// The version of the `{acct}` key layout this build writes: 2 added each account's API-key index
/// (`ks:ID`), which [`RedisStore::open`] builds for keys written under version 1.
const ACCOUNT_LAYOUT: i64 = 2;

/// Settings of a [`RedisStore`].
#[derive(Clone, Debug)]
pub struct RedisOptions {
    /// Prepended to every key, so several deployments can share one Redis.
    pub key_prefix: String,
    /// Upper bound on any one operation, connection waits included.
    pub op_timeout: Duration,
    /// How long [`RedisStore::open`] keeps trying to reach Redis before giving up.
    pub connect_wait: Duration,
    /// Start even when Redis may evict keys (`maxmemory-policy` other than `noeviction`).
    pub danger_allow_eviction: bool,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            key_prefix: "once:".into(),
            op_timeout: Duration::from_secs(2),
            connect_wait: Duration::from_secs(10),
            danger_allow_eviction: false,
        }
    }
}

/// What [`RedisStore::open`] found out about the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerReport {
    /// `redis_version` (or Valkey's `valkey_version`) from `INFO server`.
    pub version: String,
    /// Whether the append-only file is on. Without it a Redis restart can bring back secrets that
    /// were already revealed or burned.
    pub aof_enabled: bool,
    /// `maxmemory-policy`.
    pub maxmemory_policy: String,
}

/// Why [`RedisStore::open`] refused.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("invalid Redis URL: {0}")]
    Url(String),
    #[error("invalid key prefix {0:?}: it must not contain '{{', '}}', '*', '?' or '['")]
    Prefix(String),
    #[error("cannot reach Redis at {addr} within {secs} s: {source}")]
    Unreachable { addr: String, secs: u64, source: redis::RedisError },
    #[error(
        "Redis at {addr} has maxmemory-policy {policy}: it may evict keys, which loses secrets and \
         receipts and resets limits. Set `maxmemory-policy noeviction`, or accept the risk with \
         redis.danger_allow_eviction = true"
    )]
    Evicting { addr: String, policy: String },
}

/// A store on one Redis or Valkey server.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
    op_timeout: Duration,
}

fn backend(e: redis::RedisError) -> StoreError {
    StoreError::backend(e)
}

fn malformed(what: &str) -> StoreError {
    StoreError::backend(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        format!("malformed {what} in Redis"),
    ))
}

fn hex(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(bytes)
}

impl RedisStore {
    /// Connects to the Redis named by `url`, checks its settings and returns the store with what
    /// it found. Refuses an evicting `maxmemory-policy` unless the options allow it.
    pub async fn open(url: &str, options: RedisOptions) -> Result<(RedisStore, ServerReport), OpenError> {
        if options.key_prefix.contains(['{', '}', '*', '?', '[']) {
            return Err(OpenError::Prefix(options.key_prefix));
        }
        // `rediss://` runs on rustls, which needs the process's crypto provider; another part of
        // the process may have installed it already, which is just as good.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let client = redis::Client::open(url).map_err(|e| OpenError::Url(e.to_string()))?;
        let addr = client.get_connection_info().addr().to_string();
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.op_timeout))
            .set_response_timeout(Some(options.op_timeout))
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500))
            .set_number_of_retries(3);
        let deadline = tokio::time::Instant::now() + options.connect_wait;
        let conn = loop {
            match ConnectionManager::new_with_config(client.clone(), config.clone()).await {
                Ok(conn) => break conn,
                Err(e) if tokio::time::Instant::now() >= deadline => {
                    return Err(OpenError::Unreachable {
                        addr,
                        secs: options.connect_wait.as_secs(),
                        source: e,
                    });
                }
                Err(e) => {
                    tracing::warn!(%addr, error = %e, "waiting for Redis");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        };
        let store = RedisStore { conn, prefix: options.key_prefix, op_timeout: options.op_timeout };
        let report = store.server_report().await.map_err(|e| OpenError::Unreachable {
            addr: addr.clone(),
            secs: options.connect_wait.as_secs(),
            source: e,
        })?;
        if report.maxmemory_policy != "noeviction" && !options.danger_allow_eviction {
            return Err(OpenError::Evicting { addr, policy: report.maxmemory_policy });
        }
        store.upgrade_layout().await.map_err(|e| OpenError::Unreachable {
            addr,
            secs: options.connect_wait.as_secs(),
            source: e,
        })?;
        Ok((store, report))
    }

    /// Reads version, persistence and eviction settings from `INFO` (works where `CONFIG` is
    /// disabled, as on most managed Redis services).
    pub async fn server_report(&self) -> redis::RedisResult<ServerReport> {
        let mut conn = self.conn.clone();
        let info: String =
            redis::cmd("INFO").arg("server").arg("persistence").arg("memory").query_async(&mut conn).await?;
        let field = |name: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(':')))
                .map(|v| v.trim().to_owned())
        };
        Ok(ServerReport {
            version: field("valkey_version").or_else(|| field("redis_version")).unwrap_or_default(),
            aof_enabled: field("aof_enabled").as_deref() == Some("1"),
            maxmemory_policy: field("maxmemory_policy").unwrap_or_else(|| "noeviction".into()),
        })
    }

    /// Brings the `{acct}` keys to [`ACCOUNT_LAYOUT`]: indexes the API keys written before each
    /// account had a key index. Idempotent (several instances may run it at once); a store with
    /// no accounts has nothing to index.
    async fn upgrade_layout(&self) -> redis::RedisResult<()> {
        let mut c = self.conn.clone();
        let layout = self.layout_key();
        let version: Option<i64> = c.get(&layout).await?;
        if version.unwrap_or(1) >= ACCOUNT_LAYOUT {
            return Ok(());
        }
        let has_accounts: bool = c.exists(self.accounts_key()).await?;
        if has_accounts {
            let key_prefix = self.api_key_prefix();
            let key_prefix = key_prefix.as_str();
            let pattern = format!("{}*", glob_escape(key_prefix));
            let mut cursor = 0u64;
            let mut indexed = 0usize;
            loop {
                let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(1000)
                    .query_async(&mut c)
                    .await?;
                let keys: Vec<(String, [u8; 32])> = keys
                    .into_iter()
                    .filter_map(|k| {
                        let hash =
                            data_encoding::HEXLOWER.decode(k.strip_prefix(key_prefix)?.as_bytes()).ok()?;
                        Some((k, <[u8; 32]>::try_from(hash).ok()?))
                    })
                    .collect();
                if !keys.is_empty() {
                    let mut read = redis::pipe();
                    for (k, _) in &keys {
                        read.cmd("HMGET").arg(k).arg("a").arg("c");
                    }
                    let owners: Vec<(Option<String>, Option<i64>)> = read.query_async(&mut c).await?;
                    let mut index = redis::pipe();
                    for ((_, hash), (account, created_at)) in keys.iter().zip(owners) {
                        let (Some(account), Some(created_at)) = (account, created_at) else { continue };
                        index
                            .cmd("ZADD")
                            .arg(self.account_keys_key(&AccountId(account)))
                            .arg(created_at)
                            .arg(&hash[..])
                            .ignore();
                        indexed += 1;
                    }
                    index.query_async::<()>(&mut c).await?;
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
            tracing::info!(keys = indexed, "indexed API keys by account (Redis layout 2)");
        }
        c.set(&layout, ACCOUNT_LAYOUT).await
    }

    /// Runs `op` on a connection, bounded by the operation timeout.
    async fn run<T, F, Fut>(&self, op: F) -> StoreResult<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        match tokio::time::timeout(self.op_timeout, op(self.conn.clone())).await {
            Ok(result) => result.map_err(backend),
            Err(_) => Err(StoreError::backend(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("Redis did not answer within {} ms", self.op_timeout.as_millis()),
            ))),
        }
    }

    fn secret_key(&self, sid: &RecordId) -> String {
        format!("{}{{{}}}:s", self.prefix, hex(&sid.0))
    }

    fn receipt_state_key(&self, sid: &RecordId) -> String {
        format!("{}{{{}}}:rs", self.prefix, hex(&sid.0))
    }

    fn receipt_pointer_key(&self, rid: &RecordId) -> String {
        format!("{}{{{}}}:r", self.prefix, hex(&rid.0))
    }

    fn chunks_key(&self, sid: &RecordId) -> String {
        format!("{}{{{}}}:c", self.prefix, hex(&sid.0))
    }

    fn chunk_expiry_key(&self) -> String {
        format!("{}exp:c", self.prefix)
    }

    fn secret_expiry_key(&self) -> String {
        format!("{}exp:s", self.prefix)
    }

    fn receipt_expiry_key(&self) -> String {
        format!("{}exp:r", self.prefix)
    }

    fn owner_key(&self, owner: &[u8]) -> String {
        format!("{}owner:{}", self.prefix, hex(owner))
    }

    fn account_key(&self, id: &AccountId) -> String {
        format!("{}{{acct}}:a:{}", self.prefix, hex(id.0.as_bytes()))
    }

    fn email_key(&self, email: &str) -> String {
        format!("{}{{acct}}:e:{}", self.prefix, hex(email.as_bytes()))
    }

    /// What every API key's key starts with (the key hash in hex follows).
    fn api_key_prefix(&self) -> String {
        format!("{}{{acct}}:k:", self.prefix)
    }

    fn api_key_key(&self, hash: &[u8; 32]) -> String {
        format!("{}{}", self.api_key_prefix(), hex(hash))
    }

    fn session_key(&self, hash: &[u8; 32]) -> String {
        format!("{}{{acct}}:s:{}", self.prefix, hex(hash))
    }

    fn account_sessions_key(&self, id: &AccountId) -> String {
        format!("{}{{acct}}:ss:{}", self.prefix, hex(id.0.as_bytes()))
    }

    fn session_ends_key(&self) -> String {
        format!("{}{{acct}}:sx", self.prefix)
    }

    fn accounts_key(&self) -> String {
        format!("{}{{acct}}:all", self.prefix)
    }

    /// Every account's e-mail, for listing accounts by e-mail (a sorted set, all scores 0, so
    /// members are in byte order).
    fn accounts_by_email_key(&self) -> String {
        format!("{}{{acct}}:em", self.prefix)
    }

    fn account_keys_key(&self, id: &AccountId) -> String {
        format!("{}{{acct}}:ks:{}", self.prefix, hex(id.0.as_bytes()))
    }

    fn totp_key(&self, id: &AccountId) -> String {
        format!("{}{{acct}}:t:{}", self.prefix, hex(id.0.as_bytes()))
    }

    fn recovery_key(&self, id: &AccountId) -> String {
        format!("{}{{acct}}:rc:{}", self.prefix, hex(id.0.as_bytes()))
    }

    fn layout_key(&self) -> String {
        format!("{}{{acct}}:layout", self.prefix)
    }

    fn lockout_key(&self, subject: &str) -> String {
        format!("{}{{lock}}:l:{}", self.prefix, hex(subject.as_bytes()))
    }

    fn locked_key(&self) -> String {
        format!("{}{{lock}}:locked", self.prefix)
    }

    /// A rate-limit counter, in a slot of its own (see "Layout" in the crate documentation).
    fn rate_key(&self, key: &str) -> String {
        format!("{}{{rl:{}}}", self.prefix, hex(key.as_bytes()))
    }

    /// The secret id in a receipt-state key's name (`P{sid}:rs`), if it is one.
    fn sid_of_receipt_state_key(&self, key: &str) -> Option<RecordId> {
        let hex = key.strip_prefix(self.prefix.as_str())?.strip_prefix('{')?.strip_suffix("}:rs")?;
        let bytes = data_encoding::HEXLOWER.decode(hex.as_bytes()).ok()?;
        Some(RecordId(bytes.try_into().ok()?))
    }

    /// Adds the e-mails of accounts missing from the accounts-by-e-mail index (written before
    /// the index existed, or by an older instance): when it has fewer members than the account
    /// list, every account's e-mail is added again (`ZADD` of a member present changes nothing).
    /// Accounts are never deleted, so equal counts mean a complete index.
    async fn complete_email_index(&self) -> StoreResult<()> {
        let (all, by_email) = (self.accounts_key(), self.accounts_by_email_key());
        let (a, e) = (all.clone(), by_email.clone());
        let (accounts, indexed): (u64, u64) = self
            .run(|mut c| async move { redis::pipe().zcard(a).zcard(e).query_async(&mut c).await })
            .await?;
        if indexed >= accounts {
            return Ok(());
        }
        let ids: Vec<String> = self.run(|mut c| async move { c.zrange(all, 0, -1).await }).await?;
        let mut read = redis::pipe();
        for id in &ids {
            read.cmd("HGET").arg(self.account_key(&AccountId(id.clone()))).arg("email");
        }
        let emails: Vec<Option<Vec<u8>>> =
            self.run(|mut c| async move { read.query_async(&mut c).await }).await?;
        let mut index = redis::pipe();
        for email in emails.iter().flatten() {
            index.cmd("ZADD").arg(&by_email).arg(0).arg(&email[..]).ignore();
        }
        self.run(|mut c| async move { index.query_async::<()>(&mut c).await }).await?;
        tracing::info!(accounts, indexed, "indexed accounts by e-mail");
        Ok(())
    }

    /// The secret id a receipt id points to.
    async fn secret_of(&self, rid: &RecordId) -> StoreResult<Option<RecordId>> {
        let key = self.receipt_pointer_key(rid);
        let raw: Option<Vec<u8>> = self.run(|mut c| async move { c.get(key).await }).await?;
        Ok(raw.and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok()).map(RecordId))
    }
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

/// Field/value arguments for `HSET`.
#[derive(Default)]
struct Fields(Vec<(&'static str, Vec<u8>)>);

impl Fields {
    fn bytes(mut self, name: &'static str, value: &[u8]) -> Self {
        self.0.push((name, value.to_vec()));
        self
    }

    fn num(self, name: &'static str, value: impl std::fmt::Display) -> Self {
        let text = value.to_string();
        self.bytes(name, text.as_bytes())
    }

    fn opt_bytes(self, name: &'static str, value: Option<&[u8]>) -> Self {
        match value {
            Some(v) => self.bytes(name, v),
            None => self,
        }
    }

    fn flat(&self) -> Vec<Vec<u8>> {
        self.0.iter().flat_map(|(k, v)| [k.as_bytes().to_vec(), v.clone()]).collect()
    }
}

/// The receipt fields that never change after create, packed into the one hash field `m`
/// (fewer fields: less work for Redis on every create). Layout: version 1; secret id (32);
/// flags (bit 0: passphrase); max views (u32); created_at, secret_expires_at (i64); then owner,
/// sealed receipt key, recipient and share domain, each a u32 length (`u32::MAX`: none) and bytes.
/// All integers big-endian.
fn encode_meta(r: &Receipt) -> Vec<u8> {
    let strings = [
        r.owner.as_ref().map(|o| o.0.as_bytes()),
        r.sealed_receipt_key.as_deref(),
        r.recipient.as_deref().map(str::as_bytes),
        Some(r.share_domain.as_bytes()),
    ];
    let mut m = Vec::with_capacity(62 + strings.iter().flatten().map(|s| s.len() + 4).sum::<usize>());
    m.push(1);
    m.extend_from_slice(&r.secret_id.0);
    m.push(u8::from(r.has_passphrase));
    m.extend_from_slice(&r.max_views.to_be_bytes());
    m.extend_from_slice(&r.created_at.to_be_bytes());
    m.extend_from_slice(&r.secret_expires_at.to_be_bytes());
    for s in strings {
        match s {
            // Lengths come from values the store was given (at most a few KiB), far below u32::MAX.
            Some(s) => {
                m.extend_from_slice(&u32::try_from(s.len()).unwrap_or(u32::MAX - 1).to_be_bytes());
                m.extend_from_slice(s);
            }
            None => m.extend_from_slice(&u32::MAX.to_be_bytes()),
        }
    }
    m
}

/// What [`encode_meta`] packed.
struct Meta {
    secret_id: RecordId,
    has_passphrase: bool,
    max_views: u32,
    created_at: UnixTime,
    secret_expires_at: UnixTime,
    owner: Option<String>,
    sealed_receipt_key: Option<Vec<u8>>,
    recipient: Option<String>,
    share_domain: String,
}

fn decode_meta(m: &[u8]) -> Option<Meta> {
    let mut rest = m.strip_prefix(&[1u8])?;
    let mut take = |n: usize| -> Option<&[u8]> {
        let (head, tail) = rest.split_at_checked(n)?;
        rest = tail;
        Some(head)
    };
    let secret_id = RecordId(take(32)?.try_into().ok()?);
    let has_passphrase = take(1)?[0] & 1 == 1;
    let max_views = u32::from_be_bytes(take(4)?.try_into().ok()?);
    let created_at = i64::from_be_bytes(take(8)?.try_into().ok()?);
    let secret_expires_at = i64::from_be_bytes(take(8)?.try_into().ok()?);
    let mut strings: [Option<Vec<u8>>; 4] = Default::default();
    for slot in &mut strings {
        let len = u32::from_be_bytes(take(4)?.try_into().ok()?);
        if len != u32::MAX {
            *slot = Some(take(usize::try_from(len).ok()?)?.to_vec());
        }
    }
    let [owner, sealed_receipt_key, recipient, share_domain] = strings;
    let text = |b: Option<Vec<u8>>| b.map(String::from_utf8).transpose().ok();
    Some(Meta {
        secret_id,
        has_passphrase,
        max_views,
        created_at,
        secret_expires_at,
        owner: text(owner)?,
        sealed_receipt_key,
        recipient: text(recipient)?,
        share_domain: text(share_domain)??,
    })
}

/// A hash as returned by `HGETALL` (from a command or a script).
struct Hash(HashMap<String, Vec<u8>>);

impl Hash {
    fn from_flat(items: Vec<Vec<u8>>) -> Option<Self> {
        if !items.len().is_multiple_of(2) {
            return None;
        }
        let mut map = HashMap::with_capacity(items.len() / 2);
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            map.insert(String::from_utf8(k).ok()?, v);
        }
        Some(Hash(map))
    }

    fn from_value(v: Value) -> Option<Self> {
        match v {
            Value::Array(items) => {
                Hash::from_flat(items.into_iter().map(bytes_of).collect::<Option<Vec<_>>>()?)
            }
            Value::Map(pairs) => {
                let mut map = HashMap::with_capacity(pairs.len());
                for (k, v) in pairs {
                    map.insert(String::from_utf8(bytes_of(k)?).ok()?, bytes_of(v)?);
                }
                Some(Hash(map))
            }
            _ => None,
        }
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn bytes(&self, name: &str) -> Option<&[u8]> {
        self.0.get(name).map(Vec::as_slice)
    }

    fn text(&self, name: &str) -> Option<&str> {
        self.bytes(name).and_then(|b| std::str::from_utf8(b).ok())
    }

    fn num<T: std::str::FromStr>(&self, name: &str) -> Option<T> {
        self.text(name).and_then(|t| t.parse().ok())
    }

    /// An optional number field: `Some(None)` when absent, `None` only if it is malformed.
    fn opt_num<T: std::str::FromStr>(&self, name: &str) -> Option<Option<T>> {
        match self.text(name) {
            None => Some(None),
            Some(t) => t.parse().ok().map(Some),
        }
    }

    /// A number field, or `default` when the field is absent (`None` only if it is malformed).
    fn num_or<T: std::str::FromStr>(&self, name: &str, default: T) -> Option<T> {
        match self.text(name) {
            None => Some(default),
            Some(t) => t.parse().ok(),
        }
    }

    fn id(&self, name: &str) -> Option<RecordId> {
        self.bytes(name).and_then(|b| <[u8; 32]>::try_from(b).ok()).map(RecordId)
    }
}

fn bytes_of(v: Value) -> Option<Vec<u8>> {
    match v {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.into_bytes()),
        Value::Int(i) => Some(i.to_string().into_bytes()),
        _ => None,
    }
}

fn int_of(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::BulkString(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        _ => None,
    }
}

fn receipt_from(h: &Hash) -> Option<Receipt> {
    let m = decode_meta(h.bytes("m")?)?;
    Some(Receipt {
        id: h.id("i")?,
        secret_id: m.secret_id,
        owner: m.owner.map(AccountId),
        sealed_secret_key: h.bytes("k").map(<[u8]>::to_vec),
        sealed_receipt_key: m.sealed_receipt_key,
        // Absent fields are a fresh receipt's (see `create`).
        state: match h.text("st") {
            Some(st) => ReceiptState::parse(st)?,
            None => ReceiptState::New,
        },
        burn_reason: match h.text("br") {
            Some(b) => Some(BurnReason::parse(b)?),
            None => None,
        },
        has_passphrase: m.has_passphrase,
        max_views: m.max_views,
        views: h.num_or("n", 0)?,
        failures: h.num_or("f", 0)?,
        recipient: m.recipient,
        share_domain: m.share_domain,
        created_at: m.created_at,
        updated_at: h.num_or("u", m.created_at)?,
        received_at: match h.text("ra") {
            Some(t) => Some(t.parse().ok()?),
            None => None,
        },
        secret_expires_at: m.secret_expires_at,
        expires_at: h.num("x")?,
        view_log: h.text("vl").map(ViewNote::decode_log).unwrap_or_default(),
    })
}

fn secret_from(id: RecordId, h: &Hash) -> Option<SecretRecord> {
    // The receipt id and creation time: packed in `m` (receipt id ‖ created_at i64 BE), or as
    // `r` and `c` in records written before that.
    let (receipt_id, created_at) = match h.bytes("m") {
        Some(m) => {
            let m: &[u8; 40] = m.try_into().ok()?;
            let mut t = [0u8; 8];
            t.copy_from_slice(&m[32..]);
            (RecordId(m[..32].try_into().ok()?), i64::from_be_bytes(t))
        }
        None => (h.id("r")?, h.num("c")?),
    };
    Some(SecretRecord {
        id,
        receipt_id,
        envelope: h.bytes("e")?.to_vec(),
        // Absent unless the secret is guarded (a passphrase or a key proof).
        has_passphrase: h.text("p") == Some("1"),
        views_left: h.num("v")?,
        // Absent until the first wrong passphrase.
        failures: match h.text("f") {
            Some(t) => t.parse().ok()?,
            None => 0,
        },
        created_at,
        expires_at: h.num("x")?,
        // Absent unless only a signed-in recipient may reveal it.
        restricted_to: h.text("rt").map(str::to_owned),
        // Absent unless it is a file secret.
        file: match h.text("fl") {
            Some(f) => Some(FileInfo::decode(f)?),
            None => None,
        },
    })
}

fn account_from(h: &Hash) -> Option<Account> {
    Some(Account {
        id: AccountId(h.text("id")?.to_owned()),
        email: h.text("email")?.to_owned(),
        role: Role::parse(h.text("role")?)?,
        created_at: h.num("c")?,
        disabled: h.text("d")? == "1",
    })
}

fn api_key_from(hash: [u8; 32], h: &Hash) -> Option<ApiKeyRecord> {
    Some(ApiKeyRecord {
        hash,
        account_id: AccountId(h.text("a")?.to_owned()),
        name: h.text("n")?.to_owned(),
        created_at: h.num("c")?,
        last_used_at: h.opt_num("lu")?,
        wrapped_vault_key: h.bytes("w")?.to_vec(),
        // Keys written before scopes existed could do everything but administration.
        scopes: Scopes::from_bits(h.num_or("sc", Scopes::USER.bits())?),
        expires_at: h.opt_num("x")?,
        revoked_at: h.opt_num("rv")?,
    })
}

fn api_key_fields(k: &ApiKeyRecord) -> Fields {
    let text = |t: Option<UnixTime>| t.map(|t| t.to_string());
    Fields::default()
        .bytes("a", k.account_id.0.as_bytes())
        .bytes("n", k.name.as_bytes())
        .num("c", k.created_at)
        .opt_bytes("lu", text(k.last_used_at).as_deref().map(str::as_bytes))
        .bytes("w", &k.wrapped_vault_key)
        .num("sc", k.scopes.bits())
        .opt_bytes("x", text(k.expires_at).as_deref().map(str::as_bytes))
        .opt_bytes("rv", text(k.revoked_at).as_deref().map(str::as_bytes))
}

/// A pattern for `SCAN MATCH` that matches `literal` exactly.
fn glob_escape(literal: &str) -> String {
    let mut out = String::with_capacity(literal.len());
    for ch in literal.chars() {
        if matches!(ch, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// Redis TTL in milliseconds for a record living from `from` to `until` (logical seconds).
fn ttl_ms(from: UnixTime, until: UnixTime) -> u64 {
    let lifetime = u64::try_from(until.saturating_sub(from)).unwrap_or(0);
    lifetime.saturating_add(EXPIRY_GRACE.as_secs()).saturating_mul(1000)
}

/// The member of `Pexp:r`: receipt id, secret id, owner (possibly empty).
fn receipt_expiry_member(r: &Receipt) -> Vec<u8> {
    let owner = r.owner.as_ref().map_or(&[][..], |o| o.0.as_bytes());
    [&r.id.0[..], &r.secret_id.0[..], owner].concat()
}

/// The member of `Powner:ID`: receipt id then secret id.
fn owner_member(rid: &RecordId, sid: &RecordId) -> Vec<u8> {
    [&rid.0[..], &sid.0[..]].concat()
}

fn split_ids(member: &[u8]) -> Option<(RecordId, RecordId, &[u8])> {
    if member.len() < 64 {
        return None;
    }
    let rid = RecordId(member[..32].try_into().ok()?);
    let sid = RecordId(member[32..64].try_into().ok()?);
    Some((rid, sid, &member[64..]))
}

// ---------------------------------------------------------------------------------------------
// Secrets and receipts
// ---------------------------------------------------------------------------------------------

#[async_trait]
impl SecretStore for RedisStore {
    async fn create(&self, secret: SecretRecord, receipt: Receipt) -> StoreResult<()> {
        let (s_key, rs_key) = (self.secret_key(&secret.id), self.receipt_state_key(&secret.id));
        let ptr_key = self.receipt_pointer_key(&receipt.id);
        let s_ttl = ttl_ms(secret.created_at, secret.expires_at);
        let r_ttl = ttl_ms(receipt.created_at, receipt.expires_at);
        // EVALSHA built by hand: every argument goes straight into one buffer.
        let mut create = redis::cmd("EVALSHA");
        // Secret fields first (their count), then the receipt's. Absent fields are the common
        // case's values: no passphrase guard, no failures yet.
        let secret_args = 8
            + if secret.has_passphrase { 2 } else { 0 }
            + if secret.failures == 0 { 0 } else { 2 }
            + if secret.restricted_to.is_some() { 2 } else { 0 }
            + if secret.file.is_some() { 2 } else { 0 };
        create
            .arg(scripts::CREATE.get_hash())
            .arg(2)
            .arg(&s_key)
            .arg(&rs_key)
            .arg(s_ttl)
            .arg(r_ttl)
            .arg(secret_args);
        let mut meta = [0u8; 40];
        meta[..32].copy_from_slice(&secret.receipt_id.0);
        meta[32..].copy_from_slice(&secret.created_at.to_be_bytes());
        create
            .arg("e")
            .arg(&secret.envelope[..])
            .arg("m")
            .arg(&meta[..])
            .arg("v")
            .arg(secret.views_left)
            .arg("x")
            .arg(secret.expires_at);
        if secret.has_passphrase {
            create.arg("p").arg(1);
        }
        if secret.failures != 0 {
            create.arg("f").arg(secret.failures);
        }
        if let Some(r) = &secret.restricted_to {
            create.arg("rt").arg(r.as_str());
        }
        if let Some(f) = &secret.file {
            create.arg("fl").arg(f.encode());
        }
        // A fresh receipt's state (`new`, no views, no failures, updated when created) is implied
        // by absent fields: fewer arguments for the script and smaller hashes for Redis.
        create
            .arg("i")
            .arg(&receipt.id.0[..])
            .arg("m")
            .arg(encode_meta(&receipt))
            .arg("x")
            .arg(receipt.expires_at);
        if receipt.state != ReceiptState::New {
            create.arg("st").arg(receipt.state.as_str());
        }
        if receipt.views != 0 {
            create.arg("n").arg(receipt.views);
        }
        if receipt.failures != 0 {
            create.arg("f").arg(receipt.failures);
        }
        if receipt.updated_at != receipt.created_at {
            create.arg("u").arg(receipt.updated_at);
        }
        if let Some(k) = &receipt.sealed_secret_key {
            create.arg("k").arg(&k[..]);
        }
        if let Some(b) = receipt.burn_reason {
            create.arg("br").arg(b.as_str());
        }
        if let Some(t) = receipt.received_at {
            create.arg("ra").arg(t);
        }
        if !receipt.view_log.is_empty() {
            create.arg("vl").arg(ViewNote::encode_log(&receipt.view_log));
        }
        // Pointer first (NX: a taken receipt id is a conflict), then the records.
        let mut pipe = redis::pipe();
        pipe.cmd("SET").arg(&ptr_key).arg(&secret.id.0[..]).arg("NX").arg("PX").arg(r_ttl);
        pipe.add_command(create);
        // Then the indexes for the sweeper and the recent list, in the same round trip. Not
        // atomic with the records (they live in other slots): a missing entry only leaves a
        // record to its Redis TTL, and an entry without its record (after a conflict) is skipped
        // by the sweeper and the recent list, which check the record itself.
        pipe.cmd("ZADD")
            .arg(self.secret_expiry_key())
            .arg("NX")
            .arg(secret.expires_at)
            .arg(&secret.id.0[..])
            .ignore();
        pipe.cmd("ZADD")
            .arg(self.receipt_expiry_key())
            .arg("NX")
            .arg(receipt.expires_at)
            .arg(receipt_expiry_member(&receipt))
            .ignore();
        if let Some(owner) = &receipt.owner {
            pipe.cmd("ZADD")
                .arg(self.owner_key(owner.0.as_bytes()))
                .arg("NX")
                .arg(receipt.created_at)
                .arg(owner_member(&receipt.id, &secret.id))
                .ignore();
        }
        let sid = secret.id;
        let (retried, (pointer_set, created)): (bool, (Option<String>, i64)) = self
            .run(|mut c| async move {
                match pipe.query_async(&mut c).await {
                    Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
                        scripts::CREATE.prepare_invoke().load_async(&mut c).await?;
                        Ok((true, pipe.query_async(&mut c).await?))
                    }
                    other => Ok((false, other?)),
                }
            })
            .await?;
        // After a retry (the script was not loaded yet, e.g. Redis restarted) the pointer may be
        // ours from the first try.
        let pointer_ours = pointer_set.is_some()
            || retried && {
                let key = ptr_key.clone();
                let current: Option<Vec<u8>> = self.run(|mut c| async move { c.get(key).await }).await?;
                current.as_deref() == Some(&sid.0[..])
            };
        match (pointer_ours, created == 1) {
            (true, true) => {}
            (true, false) => {
                // The secret id was taken: take our pointer back.
                let key = ptr_key.clone();
                self.run(|mut c| async move { c.del::<_, ()>(key).await }).await?;
                return Err(StoreError::Conflict("secret"));
            }
            (false, true) => {
                // The receipt id was taken: remove the records we just wrote.
                let (a, b) = (s_key.clone(), rs_key.clone());
                self.run(|mut c| async move { c.del::<_, ()>(&[a, b]).await }).await?;
                return Err(StoreError::Conflict("secret"));
            }
            (false, false) => return Err(StoreError::Conflict("secret")),
        }
        Ok(())
    }

    async fn peek(&self, id: &RecordId, now: UnixTime) -> StoreResult<Option<SecretRecord>> {
        let Some(h) = self.hgetall(self.secret_key(id), "secret").await? else {
            return Ok(None);
        };
        let s = secret_from(*id, &h).ok_or_else(|| malformed("secret"))?;
        Ok((s.expires_at > now && s.views_left > 0).then_some(s))
    }

    async fn take_noted(
        &self,
        id: &RecordId,
        now: UnixTime,
        note: Option<&ViewNote>,
    ) -> StoreResult<Option<Taken>> {
        Ok(match self.claim(id, now, false, note).await? {
            Claim::Taken(t) => Some(t),
            Claim::Guarded | Claim::Gone => None,
        })
    }

    async fn take_unguarded_noted(
        &self,
        id: &RecordId,
        now: UnixTime,
        note: Option<&ViewNote>,
    ) -> StoreResult<Claim> {
        self.claim(id, now, true, note).await
    }

    async fn record_failure(&self, id: &RecordId, cap: u32, now: UnixTime) -> StoreResult<FailureOutcome> {
        let (s, rs) = (self.secret_key(id), self.receipt_state_key(id));
        let out: Vec<Value> = self
            .run(|mut c| async move {
                scripts::FAILURE.key(s).key(rs).arg(now).arg(cap).invoke_async(&mut c).await
            })
            .await?;
        match out.first().and_then(int_of) {
            Some(0) => Ok(FailureOutcome::Gone),
            Some(1) => {
                let failures = out.get(1).and_then(int_of).and_then(|n| u32::try_from(n).ok());
                failures
                    .map(|failures| FailureOutcome::Counted { failures })
                    .ok_or_else(|| malformed("reply"))
            }
            Some(2) => Ok(FailureOutcome::Burned),
            _ => Err(malformed("reply")),
        }
    }

    async fn burn(&self, receipt_id: &RecordId, now: UnixTime) -> StoreResult<Option<BurnOutcome>> {
        let Some(sid) = self.secret_of(receipt_id).await? else {
            return Ok(None);
        };
        let (s, rs, rid) = (self.secret_key(&sid), self.receipt_state_key(&sid), receipt_id.0);
        let out: Vec<Value> = self
            .run(|mut c| async move {
                scripts::BURN.key(s).key(rs).arg(now).arg(&rid[..]).invoke_async(&mut c).await
            })
            .await?;
        let mut it = out.into_iter();
        let code = it.next().as_ref().and_then(int_of);
        let receipt = it.next().and_then(Hash::from_value).as_ref().and_then(receipt_from);
        match (code, receipt) {
            (Some(0), _) => Ok(None),
            (Some(1), Some(r)) => Ok(Some(BurnOutcome::AlreadyGone(r))),
            (Some(2), Some(r)) => Ok(Some(BurnOutcome::Burned(r))),
            _ => Err(malformed("reply")),
        }
    }

    async fn receipt(&self, receipt_id: &RecordId, now: UnixTime) -> StoreResult<Option<Receipt>> {
        let Some(sid) = self.secret_of(receipt_id).await? else {
            return Ok(None);
        };
        let Some(h) = self.hgetall(self.receipt_state_key(&sid), "receipt").await? else {
            return Ok(None);
        };
        let r = receipt_from(&h).ok_or_else(|| malformed("receipt"))?;
        Ok((r.id == *receipt_id && r.expires_at > now).then_some(r))
    }

    async fn open_receipt(&self, receipt_id: &RecordId, now: UnixTime) -> StoreResult<Option<Receipt>> {
        let Some(sid) = self.secret_of(receipt_id).await? else {
            return Ok(None);
        };
        let (rs, rid) = (self.receipt_state_key(&sid), receipt_id.0);
        let out: Value = self
            .run(|mut c| async move {
                scripts::OPEN_RECEIPT.key(rs).arg(now).arg(&rid[..]).invoke_async(&mut c).await
            })
            .await?;
        let h = Hash::from_value(out).ok_or_else(|| malformed("receipt"))?;
        if h.is_empty() {
            return Ok(None);
        }
        receipt_from(&h).map(Some).ok_or_else(|| malformed("receipt"))
    }

    async fn recent(
        &self,
        owner: &AccountId,
        before: Option<Cursor>,
        limit: u32,
        now: UnixTime,
    ) -> StoreResult<Vec<Receipt>> {
        let limit = limit as usize;
        let mut out = Vec::with_capacity(limit.min(1000));
        if limit == 0 {
            return Ok(out);
        }
        let key = self.owner_key(owner.0.as_bytes());
        let max = before.map_or_else(|| "+inf".to_owned(), |c| c.created_at.to_string());
        let chunk = limit + 16;
        let mut offset = 0usize;
        let mut stale: Vec<Vec<u8>> = Vec::new();
        while out.len() < limit {
            let (k, m) = (key.clone(), max.clone());
            let page: Vec<(Vec<u8>, i64)> = self
                .run(|mut c| async move {
                    redis::cmd("ZREVRANGEBYSCORE")
                        .arg(k)
                        .arg(m)
                        .arg("-inf")
                        .arg("WITHSCORES")
                        .arg("LIMIT")
                        .arg(offset)
                        .arg(chunk)
                        .query_async(&mut c)
                        .await
                })
                .await?;
            if page.is_empty() {
                break;
            }
            offset += page.len();
            let candidates: Vec<(Vec<u8>, RecordId, RecordId)> = page
                .into_iter()
                .filter_map(|(member, created_at)| {
                    let (rid, sid, _) = split_ids(&member)?;
                    let after_cursor = before.is_some_and(|c| created_at == c.created_at && rid >= c.id);
                    (!after_cursor).then_some((member, rid, sid))
                })
                .collect();
            let mut pipe = redis::pipe();
            for (_, _, sid) in &candidates {
                pipe.cmd("HGETALL").arg(self.receipt_state_key(sid));
            }
            let hashes: Vec<Vec<Vec<u8>>> =
                self.run(|mut c| async move { pipe.query_async(&mut c).await }).await?;
            for ((member, rid, _), raw) in candidates.into_iter().zip(hashes) {
                let h = Hash::from_flat(raw).ok_or_else(|| malformed("receipt"))?;
                match receipt_from(&h) {
                    Some(r) if r.id == rid && r.owner.as_ref() == Some(owner) => {
                        if r.expires_at > now && out.len() < limit {
                            out.push(r);
                        }
                    }
                    // Gone (Redis's TTL beat the sweeper): drop it from the index.
                    _ => stale.push(member),
                }
            }
        }
        if !stale.is_empty() {
            self.run(|mut c| async move { c.zrem::<_, _, ()>(key, stale).await }).await?;
        }
        Ok(out)
    }

    async fn purge_expired(&self, now: UnixTime, batch: u32) -> StoreResult<u64> {
        let secrets = self.purge_index(now, batch, Purge::Secrets).await?;
        let receipts = self.purge_index(now, batch, Purge::Receipts).await?;
        Ok(secrets + receipts)
    }

    async fn register_keys(&self, keys: &[(String, [u8; 32])]) -> StoreResult<Vec<(String, [u8; 32])>> {
        let key = format!("{}keys", self.prefix);
        let mut pipe = redis::pipe();
        for (id, fingerprint) in keys {
            pipe.cmd("HSETNX").arg(&key).arg(id).arg(&fingerprint[..]).ignore();
        }
        pipe.cmd("HGETALL").arg(&key);
        let (all,): (Vec<(String, Vec<u8>)>,) =
            self.run(|mut c| async move { pipe.query_async(&mut c).await }).await?;
        all.into_iter()
            .map(|(id, f)| {
                <[u8; 32]>::try_from(f.as_slice()).map(|f| (id, f)).map_err(|_| malformed("key registry"))
            })
            .collect()
    }

    async fn ping(&self) -> StoreResult<()> {
        self.run(|mut c| async move { redis::cmd("PING").query_async::<String>(&mut c).await })
            .await
            .map(drop)
    }

    /// `SCAN`s every receipt-state key (`P{sid}:rs`) and reads each receipt's packed fields and
    /// state, with its secret's expiry, views left and envelope length, pipelined per batch:
    /// O(records) round trips' worth of work on Redis, for the admin page only. `SCAN` may return
    /// a key twice, so keys seen are remembered (O(records) memory too); a key deleted between
    /// the scan and the read is skipped.
    async fn usage(&self, now: UnixTime) -> StoreResult<Vec<UsageRow>> {
        let pattern = format!("{}{{*}}:rs", glob_escape(&self.prefix));
        let mut seen: HashSet<RecordId> = HashSet::new();
        let mut rows: BTreeMap<(UnixTime, UsageState), (u64, u64)> = BTreeMap::new();
        let mut cursor = 0u64;
        loop {
            let p = pattern.clone();
            let (next, keys): (u64, Vec<String>) = self
                .run(|mut c| async move {
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(p)
                        .arg("COUNT")
                        .arg(1000)
                        .query_async(&mut c)
                        .await
                })
                .await?;
            let fresh: Vec<RecordId> = keys
                .iter()
                .filter_map(|k| self.sid_of_receipt_state_key(k))
                .filter(|sid| seen.insert(*sid))
                .collect();
            if !fresh.is_empty() {
                let mut pipe = redis::pipe();
                for sid in &fresh {
                    pipe.cmd("HMGET").arg(self.receipt_state_key(sid)).arg("m").arg("st");
                    pipe.cmd("HMGET").arg(self.secret_key(sid)).arg("x").arg("v");
                    pipe.cmd("HSTRLEN").arg(self.secret_key(sid)).arg("e");
                }
                let out: Vec<Value> = self.run(|mut c| async move { pipe.query_async(&mut c).await }).await?;
                if out.len() != 3 * fresh.len() {
                    return Err(malformed("reply"));
                }
                for reply in out.chunks_exact(3) {
                    let [Value::Array(receipt), Value::Array(secret), envelope_len] = reply else {
                        return Err(malformed("reply"));
                    };
                    // Purged (or removed by its TTL) since the scan.
                    let Some(meta) = receipt.first().cloned().and_then(bytes_of) else { continue };
                    let meta = decode_meta(&meta).ok_or_else(|| malformed("receipt"))?;
                    // Absent: a fresh receipt's `new` (see `create`).
                    let state = match receipt.get(1).cloned().and_then(bytes_of) {
                        None => ReceiptState::New,
                        Some(st) => std::str::from_utf8(&st)
                            .ok()
                            .and_then(ReceiptState::parse)
                            .ok_or_else(|| malformed("receipt"))?,
                    };
                    let live = matches!(
                        (secret.first().and_then(int_of), secret.get(1).and_then(int_of)),
                        (Some(x), Some(v)) if x > now && v > 0
                    );
                    let bytes = if live {
                        int_of(envelope_len).and_then(|n| u64::try_from(n).ok()).unwrap_or(0)
                    } else {
                        0
                    };
                    let row = rows
                        .entry((utc_day(meta.created_at), UsageState::of(state, meta.secret_expires_at, now)))
                        .or_default();
                    row.0 += 1;
                    row.1 += bytes;
                }
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        Ok(rows
            .into_iter()
            .map(|((day, state), (receipts, secret_bytes))| UsageRow { day, state, receipts, secret_bytes })
            .collect())
    }
}

#[derive(Clone, Copy)]
enum Purge {
    Secrets,
    Receipts,
}

impl RedisStore {
    async fn claim(
        &self,
        id: &RecordId,
        now: UnixTime,
        unguarded: bool,
        note: Option<&ViewNote>,
    ) -> StoreResult<Claim> {
        let (s, rs) = (self.secret_key(id), self.receipt_state_key(id));
        let flag = if unguarded { "1" } else { "0" };
        let note = note.map(ViewNote::encode).unwrap_or_default();
        let out: Vec<Value> = self
            .run(|mut c| async move {
                scripts::TAKE.key(s).key(rs).arg(now).arg(flag).arg(note).invoke_async(&mut c).await
            })
            .await?;
        let mut it = out.into_iter();
        match it.next().as_ref().and_then(int_of) {
            Some(0) => Ok(Claim::Gone),
            Some(1) => Ok(Claim::Guarded),
            Some(2) => {
                let envelope = it.next().and_then(bytes_of).ok_or_else(|| malformed("secret"))?;
                let views_left = it
                    .next()
                    .as_ref()
                    .and_then(int_of)
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| malformed("reply"))?;
                Ok(Claim::Taken(Taken { envelope, views_left }))
            }
            _ => Err(malformed("reply")),
        }
    }

    /// Works through due entries of one expiry index until `batch` records were deleted or no
    /// due entry is left. Entries of records already gone (revealed, burned, or removed by
    /// Redis's TTL) are dropped without counting.
    async fn purge_index(&self, now: UnixTime, batch: u32, which: Purge) -> StoreResult<u64> {
        let index = match which {
            Purge::Secrets => self.secret_expiry_key(),
            Purge::Receipts => self.receipt_expiry_key(),
        };
        // The pipeline below calls the scripts by hash: make sure Redis has them (once per call).
        let needed: &[&Script] = match which {
            Purge::Secrets => &[&scripts::PURGE_SECRET],
            Purge::Receipts => &[&scripts::PURGE_RECEIPT, &scripts::DEL_IF_EQUAL],
        };
        self.run(|mut c| async move {
            for script in needed {
                script.prepare_invoke().load_async(&mut c).await?;
            }
            Ok(())
        })
        .await?;
        let mut deleted = 0u64;
        while deleted < u64::from(batch) {
            let want = u64::from(batch) - deleted;
            let due = self.due(index.clone(), now, want).await?;
            if due.is_empty() {
                break;
            }
            let mut pipe = redis::pipe();
            for member in &due {
                match which {
                    Purge::Secrets => {
                        let Ok(sid) = <[u8; 32]>::try_from(member.as_slice()) else { continue };
                        pipe.invoke_script(
                            scripts::PURGE_SECRET.key(self.secret_key(&RecordId(sid))).arg(now),
                        );
                    }
                    Purge::Receipts => {
                        let Some((rid, sid, owner)) = split_ids(member) else { continue };
                        pipe.invoke_script(
                            scripts::PURGE_RECEIPT.key(self.receipt_state_key(&sid)).arg(now).arg(&rid.0[..]),
                        );
                        // Only if it still points to this secret (it is the receipt's own key).
                        pipe.invoke_script(
                            scripts::DEL_IF_EQUAL.key(self.receipt_pointer_key(&rid)).arg(&sid.0[..]),
                        )
                        .ignore();
                        if !owner.is_empty() {
                            pipe.cmd("ZREM")
                                .arg(self.owner_key(owner))
                                .arg(owner_member(&rid, &sid))
                                .ignore();
                        }
                    }
                }
            }
            pipe.cmd("ZREM").arg(&index).arg(&due).ignore();
            let counts: Vec<i64> = self.run(|mut c| async move { pipe.query_async(&mut c).await }).await?;
            deleted += counts.iter().map(|&n| u64::try_from(n).unwrap_or(0)).sum::<u64>();
        }
        Ok(deleted)
    }
}

// ---------------------------------------------------------------------------------------------
// Accounts and API keys
// ---------------------------------------------------------------------------------------------

fn session_fields(s: &SessionRecord) -> Fields {
    Fields::default()
        .bytes("a", s.account_id.0.as_bytes())
        .num("c", s.created_at)
        .num("l", s.last_seen_at)
        .num("i", s.idle_timeout)
        .num("x", s.expires_at)
        .num("f", u8::from(s.second_factor))
        .bytes("u", s.client.as_bytes())
        .bytes("v", s.vault.as_deref().unwrap_or_default())
}

fn session_from(hash: [u8; 32], h: &Hash) -> Option<SessionRecord> {
    Some(SessionRecord {
        hash,
        account_id: AccountId(h.text("a")?.to_owned()),
        created_at: h.num("c")?,
        last_seen_at: h.num("l")?,
        idle_timeout: h.num("i")?,
        expires_at: h.num("x")?,
        second_factor: h.text("f")? == "1",
        client: h.text("u")?.to_owned(),
        // Absent (sessions from before vaults) or empty: no vault.
        vault: h.bytes("v").filter(|v| !v.is_empty()).map(<[u8]>::to_vec),
    })
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn create_session(&self, session: SessionRecord) -> StoreResult<()> {
        let fields = session_fields(&session).flat();
        let mut invocation = scripts::CREATE_SESSION.prepare_invoke();
        invocation
            .key(self.account_key(&session.account_id))
            .key(self.session_key(&session.hash))
            .key(self.account_sessions_key(&session.account_id))
            .key(self.session_ends_key())
            .arg(&session.hash[..])
            .arg(session.created_at)
            .arg(session.ends_at())
            .arg(ttl_ms(session.created_at, session.expires_at));
        for f in &fields {
            invocation.arg(f.as_slice());
        }
        let out: i64 = self.run(|mut c| async move { invocation.invoke_async(&mut c).await }).await?;
        match out {
            1 => Ok(()),
            0 => Err(StoreError::Conflict("unknown account")),
            _ => Err(StoreError::Conflict("session")),
        }
    }

    async fn session(&self, hash: &[u8; 32], now: UnixTime) -> StoreResult<Option<SessionRecord>> {
        let Some(h) = self.hgetall(self.session_key(hash), "session").await? else {
            return Ok(None);
        };
        let s = session_from(*hash, &h).ok_or_else(|| malformed("session"))?;
        Ok(s.live_at(now).then_some(s))
    }

    async fn touch_session(&self, hash: &[u8; 32], now: UnixTime) -> StoreResult<()> {
        let (key, ends) = (self.session_key(hash), self.session_ends_key());
        let member = hash.to_vec();
        let _: i64 = self
            .run(|mut c| async move {
                scripts::TOUCH_SESSION.key(key).key(ends).arg(now).arg(member).invoke_async(&mut c).await
            })
            .await?;
        Ok(())
    }

    async fn end_session(&self, hash: &[u8; 32]) -> StoreResult<bool> {
        let Some(h) = self.hgetall(self.session_key(hash), "session").await? else {
            return Ok(false);
        };
        let account = AccountId(h.text("a").ok_or_else(|| malformed("session"))?.to_owned());
        let mut pipe = redis::pipe();
        pipe.cmd("DEL").arg(self.session_key(hash));
        pipe.cmd("ZREM").arg(self.account_sessions_key(&account)).arg(&hash[..]).ignore();
        pipe.cmd("ZREM").arg(self.session_ends_key()).arg(&hash[..]).ignore();
        let (deleted,): (i64,) = self.run(|mut c| async move { pipe.query_async(&mut c).await }).await?;
        Ok(deleted == 1)
    }

    async fn end_sessions_of(&self, account: &AccountId) -> StoreResult<u64> {
        let list = self.account_sessions_key(account);
        let key = list.clone();
        let members: Vec<Vec<u8>> = self.run(|mut c| async move { c.zrange(key, 0, -1).await }).await?;
        if members.is_empty() {
            return Ok(0);
        }
        let mut pipe = redis::pipe();
        for m in &members {
            let Ok(hash) = <[u8; 32]>::try_from(m.as_slice()) else { continue };
            pipe.cmd("DEL").arg(self.session_key(&hash));
            pipe.cmd("ZREM").arg(self.session_ends_key()).arg(&m[..]).ignore();
        }
        pipe.cmd("ZREM").arg(&list).arg(&members).ignore();
        let deleted: Vec<i64> = self.run(|mut c| async move { pipe.query_async(&mut c).await }).await?;
        Ok(deleted.iter().filter(|&&d| d == 1).count() as u64)
    }

    async fn sessions_of(&self, account: &AccountId, now: UnixTime) -> StoreResult<Vec<SessionRecord>> {
        let records =
            self.indexed(self.account_sessions_key(account), |h| self.session_key(h), "session").await?;
        let mut out = Vec::new();
        // Gone (ended, or removed by Redis's TTL) sessions were skipped.
        for (hash, h) in records {
            let s = session_from(hash, &h).ok_or_else(|| malformed("session"))?;
            if s.live_at(now) {
                out.push(s);
            }
        }
        Ok(out)
    }

    async fn purge_sessions(&self, now: UnixTime, batch: u32) -> StoreResult<u64> {
        let ends = self.session_ends_key();
        let due = self.due(ends.clone(), now, u64::from(batch)).await?;
        let mut deleted = 0u64;
        for member in due {
            let Ok(hash) = <[u8; 32]>::try_from(member.as_slice()) else { continue };
            match self.hgetall(self.session_key(&hash), "session").await? {
                Some(h) => {
                    let s = session_from(hash, &h).ok_or_else(|| malformed("session"))?;
                    if s.live_at(now) {
                        continue;
                    }
                    let mut pipe = redis::pipe();
                    pipe.cmd("DEL").arg(self.session_key(&hash));
                    pipe.cmd("ZREM").arg(self.account_sessions_key(&s.account_id)).arg(&member[..]).ignore();
                    pipe.cmd("ZREM").arg(&ends).arg(&member[..]).ignore();
                    let (n,): (i64,) =
                        self.run(|mut c| async move { pipe.query_async(&mut c).await }).await?;
                    deleted += u64::try_from(n).unwrap_or(0);
                }
                None => {
                    // Removed by Redis's TTL already: drop the index entry without counting it.
                    let (e, m) = (ends.clone(), member.clone());
                    self.run(|mut c| async move { c.zrem::<_, _, ()>(e, m).await }).await?;
                }
            }
        }
        Ok(deleted)
    }
}

fn account_fields(a: &Account) -> Fields {
    Fields::default()
        .bytes("id", a.id.0.as_bytes())
        .bytes("email", a.email.as_bytes())
        .bytes("role", a.role.as_str().as_bytes())
        .num("c", a.created_at)
        .num("d", u8::from(a.disabled))
}

#[async_trait]
impl AccountStore for RedisStore {
    async fn add_account(&self, account: Account, key: Option<ApiKeyRecord>) -> StoreResult<()> {
        let a_fields = account_fields(&account).flat();
        let k_fields = key.as_ref().map(|k| api_key_fields(k).flat()).unwrap_or_default();
        let mut invocation = scripts::ADD_ACCOUNT.prepare_invoke();
        invocation
            .key(self.account_key(&account.id))
            .key(self.email_key(&account.email))
            .key(self.accounts_key())
            .key(self.accounts_by_email_key())
            .arg(account.id.0.as_bytes())
            .arg(account.created_at)
            .arg(a_fields.len());
        match &key {
            Some(k) => {
                invocation.key(self.api_key_key(&k.hash)).key(self.account_keys_key(&account.id));
                invocation.arg(&k.hash[..]).arg(k.created_at);
            }
            None => {
                invocation.arg("").arg("");
            }
        }
        invocation.arg(account.email.as_bytes());
        for a in a_fields.iter().chain(k_fields.iter()) {
            invocation.arg(a.as_slice());
        }
        let out: i64 = self.run(|mut c| async move { invocation.invoke_async(&mut c).await }).await?;
        match out {
            1 => Ok(()),
            0 => Err(StoreError::Conflict("account")),
            _ => Err(StoreError::Conflict("api key")),
        }
    }

    async fn set_disabled(&self, account: &AccountId, disabled: bool) -> StoreResult<bool> {
        self.set_account_field(account, "d", if disabled { "1" } else { "0" }).await
    }

    async fn set_role(&self, account: &AccountId, role: Role) -> StoreResult<bool> {
        self.set_account_field(account, "role", role.as_str()).await
    }

    async fn account(&self, id: &AccountId) -> StoreResult<Option<Account>> {
        let Some(h) = self.hgetall(self.account_key(id), "account").await? else {
            return Ok(None);
        };
        account_from(&h).map(Some).ok_or_else(|| malformed("account"))
    }

    async fn account_by_email(&self, email: &str) -> StoreResult<Option<Account>> {
        let key = self.email_key(email);
        let id: Option<String> = self.run(|mut c| async move { c.get(key).await }).await?;
        let Some(id) = id else { return Ok(None) };
        self.account(&AccountId(id)).await
    }

    async fn accounts(&self) -> StoreResult<Vec<Account>> {
        let key = self.accounts_key();
        let ids: Vec<String> = self.run(|mut c| async move { c.zrange(key, 0, -1).await }).await?;
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.cmd("HGETALL").arg(self.account_key(&AccountId(id.clone())));
        }
        let raw: Vec<Vec<Vec<u8>>> = self.run(|mut c| async move { pipe.query_async(&mut c).await }).await?;
        raw.into_iter()
            .filter_map(|r| Hash::from_flat(r).filter(|h| !h.is_empty()))
            .map(|h| account_from(&h).ok_or_else(|| malformed("account")))
            .collect()
    }

    /// Walks the accounts-by-e-mail index from `after` (`ZRANGEBYLEX`), filtering by `search`
    /// on the e-mails alone, then reads the page's accounts: a search reads the index until a
    /// page is full (O(accounts) when few match), but only the accounts shown.
    async fn accounts_page(
        &self,
        search: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> StoreResult<Vec<Account>> {
        let limit = limit as usize;
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.complete_email_index().await?;
        let search = search.map(str::to_lowercase);
        let key = self.accounts_by_email_key();
        let chunk = if search.is_some() { 1000 } else { limit };
        let mut start: Vec<u8> = after.map_or_else(|| b"-".to_vec(), |a| [b"(", a.as_bytes()].concat());
        let mut emails: Vec<String> = Vec::with_capacity(limit.min(1000));
        'scan: loop {
            let (k, s) = (key.clone(), start.clone());
            let batch: Vec<Vec<u8>> = self
                .run(|mut c| async move {
                    redis::cmd("ZRANGEBYLEX")
                        .arg(k)
                        .arg(s)
                        .arg("+")
                        .arg("LIMIT")
                        .arg(0)
                        .arg(chunk)
                        .query_async(&mut c)
                        .await
                })
                .await?;
            let full = batch.len() == chunk;
            if let Some(last) = batch.last() {
                start = [b"(", &last[..]].concat();
            }
            for member in batch {
                let email = String::from_utf8(member).map_err(|_| malformed("account index"))?;
                if search.as_deref().is_none_or(|s| email.contains(s)) {
                    emails.push(email);
                    if emails.len() == limit {
                        break 'scan;
                    }
                }
            }
            if !full {
                break;
            }
        }
        if emails.is_empty() {
            return Ok(Vec::new());
        }
        let mut ids = redis::pipe();
        for e in &emails {
            ids.cmd("GET").arg(self.email_key(e));
        }
        let ids: Vec<Option<String>> = self.run(|mut c| async move { ids.query_async(&mut c).await }).await?;
        let mut read = redis::pipe();
        for id in ids.into_iter().flatten() {
            read.cmd("HGETALL").arg(self.account_key(&AccountId(id)));
        }
        let raw: Vec<Vec<Vec<u8>>> = self.run(|mut c| async move { read.query_async(&mut c).await }).await?;
        raw.into_iter()
            .filter_map(|r| Hash::from_flat(r).filter(|h| !h.is_empty()))
            .map(|h| account_from(&h).ok_or_else(|| malformed("account")))
            .collect()
    }

    async fn add_api_key(&self, key: ApiKeyRecord) -> StoreResult<()> {
        let fields = api_key_fields(&key).flat();
        let mut invocation = scripts::ADD_API_KEY.prepare_invoke();
        invocation
            .key(self.account_key(&key.account_id))
            .key(self.api_key_key(&key.hash))
            .key(self.account_keys_key(&key.account_id))
            .arg(&key.hash[..])
            .arg(key.created_at);
        for a in &fields {
            invocation.arg(a.as_slice());
        }
        let out: i64 = self.run(|mut c| async move { invocation.invoke_async(&mut c).await }).await?;
        match out {
            1 => Ok(()),
            0 => Err(StoreError::Conflict("unknown account")),
            _ => Err(StoreError::Conflict("api key")),
        }
    }

    async fn api_key(&self, hash: &[u8; 32]) -> StoreResult<Option<(ApiKeyRecord, Account)>> {
        let Some(h) = self.hgetall(self.api_key_key(hash), "api key").await? else {
            return Ok(None);
        };
        let record = api_key_from(*hash, &h).ok_or_else(|| malformed("api key"))?;
        Ok(self.account(&record.account_id).await?.map(|a| (record, a)))
    }

    async fn touch_api_key(&self, hash: &[u8; 32], now: UnixTime) -> StoreResult<()> {
        let key = self.api_key_key(hash);
        self.run(
            |mut c| async move { scripts::TOUCH_API_KEY.key(key).arg(now).invoke_async::<i64>(&mut c).await },
        )
        .await
        .map(drop)
    }

    async fn api_keys_of(&self, account: &AccountId) -> StoreResult<Vec<ApiKeyRecord>> {
        // Keys are never deleted; an index entry without its key is skipped all the same.
        let records =
            self.indexed(self.account_keys_key(account), |h| self.api_key_key(h), "api key").await?;
        records.iter().map(|(hash, h)| api_key_from(*hash, h).ok_or_else(|| malformed("api key"))).collect()
    }

    async fn revoke_api_key(&self, account: &AccountId, hash: &[u8; 32], now: UnixTime) -> StoreResult<bool> {
        let (key, account) = (self.api_key_key(hash), account.0.clone());
        let out: i64 = self
            .run(|mut c| async move {
                scripts::REVOKE_API_KEY.key(key).arg(account).arg(now).invoke_async(&mut c).await
            })
            .await?;
        Ok(out == 1)
    }

    async fn set_totp(
        &self,
        account: &AccountId,
        totp: Option<TotpRecord>,
        recovery_hashes: &[[u8; 32]],
    ) -> StoreResult<bool> {
        let mut invocation = scripts::SET_TOTP.prepare_invoke();
        invocation.key(self.account_key(account)).key(self.totp_key(account)).key(self.recovery_key(account));
        if let Some(t) = &totp {
            invocation.arg(t.sealed_secret.as_slice()).arg(t.enabled_at);
            for h in recovery_hashes {
                invocation.arg(&h[..]);
            }
        }
        let out: i64 = self.run(|mut c| async move { invocation.invoke_async(&mut c).await }).await?;
        Ok(out == 1)
    }

    async fn totp(&self, account: &AccountId) -> StoreResult<Option<TotpRecord>> {
        let mut pipe = redis::pipe();
        // MULTI/EXEC: the secret and the count of codes from one moment (both keys share a slot).
        pipe.atomic().cmd("HGETALL").arg(self.totp_key(account)).cmd("SCARD").arg(self.recovery_key(account));
        let (raw, left): (Vec<Vec<u8>>, u32) =
            self.run(|mut c| async move { pipe.query_async(&mut c).await }).await?;
        let h = Hash::from_flat(raw).ok_or_else(|| malformed("second factor"))?;
        if h.is_empty() {
            return Ok(None);
        }
        let record = (|| {
            Some(TotpRecord {
                sealed_secret: h.bytes("s")?.to_vec(),
                enabled_at: h.num("e")?,
                recovery_codes_left: left,
            })
        })();
        record.map(Some).ok_or_else(|| malformed("second factor"))
    }

    async fn use_recovery_code(&self, account: &AccountId, hash: &[u8; 32]) -> StoreResult<bool> {
        // One SREM: of any number of concurrent calls, exactly one removes the member.
        let (key, member) = (self.recovery_key(account), hash.to_vec());
        let removed: i64 = self.run(|mut c| async move { c.srem(key, member).await }).await?;
        Ok(removed == 1)
    }

    async fn use_totp_step(&self, account: &AccountId, step: u64) -> StoreResult<bool> {
        if step == 0 {
            return Ok(false);
        }
        let key = self.account_key(account);
        let out: i64 = self
            .run(|mut c| async move { scripts::USE_TOTP_STEP.key(key).arg(step).invoke_async(&mut c).await })
            .await?;
        Ok(out == 1)
    }

    async fn set_password_hash(&self, account: &AccountId, phc: &str) -> StoreResult<bool> {
        self.set_account_field(account, "pw", phc).await
    }

    async fn set_password(&self, account: &AccountId, phc: &str, vault: &[u8]) -> StoreResult<bool> {
        self.set_account_fields(account, &[("pw", phc.as_bytes()), ("pv", vault)]).await
    }

    async fn password_vault(&self, account: &AccountId) -> StoreResult<Option<Vec<u8>>> {
        let key = self.account_key(account);
        self.run(|mut c| async move { c.hget(key, "pv").await }).await
    }

    async fn password_hash(&self, account: &AccountId) -> StoreResult<Option<String>> {
        let key = self.account_key(account);
        self.run(|mut c| async move { c.hget(key, "pw").await }).await
    }
}

/// The lockout state at `now` of a counter (failures, last failure, lock end or 0); the same rule
/// as the `at` function of the lockout scripts.
fn lockout_at(
    failures: u32,
    last_failure: UnixTime,
    locked_until: UnixTime,
    window: i64,
    now: UnixTime,
) -> Lockout {
    if locked_until > now {
        Lockout { failures, locked_until: Some(locked_until) }
    } else if locked_until != 0 || now.saturating_sub(last_failure) >= window {
        Lockout::default()
    } else {
        Lockout { failures, locked_until: None }
    }
}

#[async_trait]
impl LockoutStore for RedisStore {
    async fn lockout_failure(
        &self,
        subject: &str,
        limit: u32,
        window: i64,
        lock_secs: i64,
        now: UnixTime,
    ) -> StoreResult<Lockout> {
        let (key, locked) = (self.lockout_key(subject), self.locked_key());
        let subject = subject.as_bytes().to_vec();
        let (failures, until): (i64, i64) = self
            .run(|mut c| async move {
                scripts::LOCKOUT_FAILURE
                    .key(key)
                    .key(locked)
                    .arg(subject)
                    .arg(limit)
                    .arg(window)
                    .arg(lock_secs)
                    .arg(now)
                    .arg(EXPIRY_GRACE.as_secs())
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        Ok(Lockout {
            failures: u32::try_from(failures).map_err(|_| malformed("lockout"))?,
            locked_until: (until != 0).then_some(until),
        })
    }

    async fn lockout(&self, subject: &str, window: i64, now: UnixTime) -> StoreResult<Lockout> {
        let key = self.lockout_key(subject);
        let (f, t, u): (Option<u32>, Option<i64>, Option<i64>) = self
            .run(|mut c| async move {
                redis::cmd("HMGET").arg(key).arg("f").arg("t").arg("u").query_async(&mut c).await
            })
            .await?;
        Ok(lockout_at(f.unwrap_or(0), t.unwrap_or(0), u.unwrap_or(0), window, now))
    }

    async fn clear_lockout(&self, subject: &str) -> StoreResult<()> {
        let mut pipe = redis::pipe();
        // MULTI/EXEC: the counter and its index entry go together (one slot, `{lock}`).
        pipe.atomic()
            .cmd("DEL")
            .arg(self.lockout_key(subject))
            .ignore()
            .cmd("ZREM")
            .arg(self.locked_key())
            .arg(subject.as_bytes())
            .ignore();
        self.run(|mut c| async move { pipe.query_async::<()>(&mut c).await }).await
    }

    async fn locked(&self, now: UnixTime, limit: u32) -> StoreResult<Vec<(String, UnixTime)>> {
        let key = self.locked_key();
        let pairs: Vec<(Vec<u8>, i64)> = self
            .run(|mut c| async move {
                scripts::LOCKED
                    .key(key)
                    .arg(now)
                    .arg(limit)
                    .arg(EXPIRY_GRACE.as_secs())
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        pairs
            .into_iter()
            .map(|(subject, until)| {
                Ok((String::from_utf8(subject).map_err(|_| malformed("lockout"))?, until))
            })
            .collect()
    }
}

/// The times and periods (ms) [`scripts::RATE_HIT`] computes exactly with Lua's doubles: within
/// ±2^51 ms (about 71,000 years), every value it derives stays below 2^53.
const RATE_HIT_RANGE: std::ops::RangeInclusive<i64> = -(1 << 51)..=(1 << 51);

/// One script per hit on the key's own slot (`P{rl:KEY}`), with the caller's `now`: the counters
/// are shared by every instance on this Redis, and exact under any concurrency.
/// A file secret's chunks are one hash beside its record (`P{sid}:c`: field `x` the expiry, then
/// one field per chunk index), with the record's Redis TTL, and a member in the `Pexp:c` index
/// for the sweeper.
#[async_trait]
impl ContentStore for RedisStore {
    async fn put_chunk(
        &self,
        id: &RecordId,
        index: u32,
        bytes: Vec<u8>,
        now: UnixTime,
        expires_at: UnixTime,
    ) -> StoreResult<()> {
        let mut pipe = redis::pipe();
        let key = self.chunks_key(id);
        pipe.cmd("HSET").arg(&key).arg("x").arg(expires_at).arg(index).arg(bytes).ignore();
        pipe.cmd("PEXPIRE").arg(&key).arg(ttl_ms(now, expires_at)).ignore();
        pipe.cmd("ZADD").arg(self.chunk_expiry_key()).arg(expires_at).arg(&id.0[..]).ignore();
        self.run(|mut c| async move { pipe.query_async::<()>(&mut c).await }).await
    }

    async fn chunk(&self, id: &RecordId, index: u32, now: UnixTime) -> StoreResult<Option<Vec<u8>>> {
        let key = self.chunks_key(id);
        let (x, bytes): (Option<i64>, Option<Vec<u8>>) =
            self.run(|mut c| async move {
                redis::cmd("HMGET").arg(key).arg("x").arg(index).query_async(&mut c).await
            })
            .await?;
        Ok(bytes.filter(|_| x.is_some_and(|x| x > now)))
    }

    async fn drop_chunks(&self, id: &RecordId) -> StoreResult<()> {
        let mut pipe = redis::pipe();
        pipe.cmd("DEL").arg(self.chunks_key(id)).ignore();
        pipe.cmd("ZREM").arg(self.chunk_expiry_key()).arg(&id.0[..]).ignore();
        self.run(|mut c| async move { pipe.query_async::<()>(&mut c).await }).await
    }

    /// Counts secrets whose chunks went, not chunks.
    async fn purge_chunks(&self, now: UnixTime, batch: u32) -> StoreResult<u64> {
        let due = self.due(self.chunk_expiry_key(), now, u64::from(batch)).await?;
        if due.is_empty() {
            return Ok(0);
        }
        let mut pipe = redis::pipe();
        for member in &due {
            let Ok(sid) = <[u8; 32]>::try_from(member.as_slice()) else { continue };
            pipe.cmd("DEL").arg(self.chunks_key(&RecordId(sid))).ignore();
        }
        pipe.cmd("ZREM").arg(self.chunk_expiry_key()).arg(&due).ignore();
        self.run(|mut c| async move { pipe.query_async::<()>(&mut c).await }).await?;
        Ok(due.len() as u64)
    }
}

#[async_trait]
impl RateLimitStore for RedisStore {
    async fn rate_hit(&self, key: &str, limit: u32, period_ms: i64, now_ms: i64) -> StoreResult<Option<i64>> {
        if !RATE_HIT_RANGE.contains(&now_ms) || !RATE_HIT_RANGE.contains(&period_ms) {
            return Err(StoreError::backend(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "rate-limit time or period beyond ±2^51 ms",
            )));
        }
        let rate_key = self.rate_key(key);
        let wait: i64 = self
            .run(|mut c| async move {
                scripts::RATE_HIT
                    .key(rate_key)
                    .arg(limit)
                    .arg(period_ms)
                    .arg(now_ms)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        match wait {
            0 => Ok(None),
            w if w > 0 => Ok(Some(w)),
            _ => Err(malformed("rate-limit reply")),
        }
    }
}

impl RedisStore {
    /// Sets one field of an existing account; `false` if there is no such account.
    async fn set_account_field(
        &self,
        account: &AccountId,
        field: &'static str,
        value: &str,
    ) -> StoreResult<bool> {
        self.set_account_fields(account, &[(field, value.as_bytes())]).await
    }

    /// Sets fields of an existing account, all at once; `false` if there is no such account.
    async fn set_account_fields(
        &self,
        account: &AccountId,
        fields: &[(&'static str, &[u8])],
    ) -> StoreResult<bool> {
        let key = self.account_key(account);
        let mut invocation = scripts::SET_ACCOUNT_FIELD.prepare_invoke();
        invocation.key(key);
        for (name, value) in fields {
            invocation.arg(*name).arg(*value);
        }
        let out: i64 = self.run(|mut c| async move { invocation.invoke_async(&mut c).await }).await?;
        Ok(out == 1)
    }

    /// Up to `limit` members of an index (a sorted set scored by a time) due at `now`.
    async fn due(&self, index: String, now: UnixTime, limit: u64) -> StoreResult<Vec<Vec<u8>>> {
        self.run(|mut c| async move {
            redis::cmd("ZRANGEBYSCORE")
                .arg(index)
                .arg("-inf")
                .arg(now)
                .arg("LIMIT")
                .arg(0)
                .arg(limit)
                .query_async(&mut c)
                .await
        })
        .await
    }

    /// The hash at `key`, `None` if there is none; `what` names it in errors.
    /// The records an index (a sorted set of 32-byte hashes) names, newest first, read in one
    /// pipelined round trip; entries whose record is gone are skipped.
    async fn indexed(
        &self,
        index: String,
        record_key: impl Fn(&[u8; 32]) -> String,
        what: &str,
    ) -> StoreResult<Vec<([u8; 32], Hash)>> {
        let members: Vec<Vec<u8>> = self.run(|mut c| async move { c.zrevrange(index, 0, -1).await }).await?;
        let hashes: Vec<[u8; 32]> =
            members.iter().filter_map(|m| <[u8; 32]>::try_from(m.as_slice()).ok()).collect();
        if hashes.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for h in &hashes {
            pipe.cmd("HGETALL").arg(record_key(h));
        }
        let raw: Vec<Vec<Vec<u8>>> = self.run(|mut c| async move { pipe.query_async(&mut c).await }).await?;
        let mut out = Vec::with_capacity(hashes.len());
        for (hash, r) in hashes.into_iter().zip(raw) {
            let h = Hash::from_flat(r).ok_or_else(|| malformed(what))?;
            if !h.is_empty() {
                out.push((hash, h));
            }
        }
        Ok(out)
    }

    async fn hgetall(&self, key: String, what: &str) -> StoreResult<Option<Hash>> {
        let raw: Vec<Vec<u8>> =
            self.run(|mut c| async move { redis::cmd("HGETALL").arg(key).query_async(&mut c).await }).await?;
        let h = Hash::from_flat(raw).ok_or_else(|| malformed(what))?;
        Ok((!h.is_empty()).then_some(h))
    }
}
