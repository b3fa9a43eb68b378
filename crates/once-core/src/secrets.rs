//! Creating, revealing, reporting and burning secrets.

use std::sync::Arc;

use once_crypto::{Envelope, EnvelopeKind, Guard, KeyRing, OpenError, PassphraseParams, Token};
use once_store::{
    BurnOutcome, BurnReason, Claim, Cursor, FailureOutcome, FileInfo, Receipt, ReceiptState, RecordId,
    SecretRecord, Store, Taken, UnixTime, ViewNote,
};
use rand::Rng;
use rand::rngs::OsRng;
use zeroize::Zeroizing;

use crate::access::{AccessPolicy, Conditions, GeoIp};
use crate::accounts::Principal;
use crate::audit::Auditor;
use crate::clock::Clock;
use crate::error::CoreError;
use crate::kdf::KdfPool;
use crate::policy::{Policy, TtlRequest, ViewLimit};
use crate::recipient::{RecipientRule, Visitor};

pub(crate) const SECRET: &str = "secret";
const RECEIPT: &str = "receipt";

/// A secret's state as the sender sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretState {
    New,
    Viewed,
    Received,
    Burned,
    Expired,
}

impl SecretState {
    pub fn as_str(self) -> &'static str {
        match self {
            SecretState::New => "new",
            SecretState::Viewed => "viewed",
            SecretState::Received => "received",
            SecretState::Burned => "burned",
            SecretState::Expired => "expired",
        }
    }
}

/// What the sender asks for.
pub struct CreateSecret {
    /// The secret; for a zero-knowledge secret, the client's ciphertext (`once_crypto::zk`).
    pub plaintext: Zeroizing<Vec<u8>>,
    pub passphrase: Option<Zeroizing<String>>,
    /// Set for a zero-knowledge secret: the key proof the client derived from the link's
    /// fragment key (and its passphrase). Only a caller presenting it gets the ciphertext back.
    pub key_proof: Option<Zeroizing<[u8; 32]>>,
    pub ttl: TtlRequest,
    pub views: ViewLimit,
    pub recipient: Option<String>,
    pub share_domain: String,
    pub owner: Option<Principal>,
    /// Only a signed-in recipient may reveal it.
    pub only_for: Option<RecipientRule>,
    /// From where and when it may be revealed.
    pub access: Option<AccessPolicy>,
}

/// A new secret's two capabilities and its receipt.
#[derive(Debug)]
pub struct Created {
    pub secret_key: Token,
    pub receipt_key: Token,
    pub receipt: ReceiptView,
}

/// A generated password, and the secret that holds it.
#[derive(Debug)]
pub struct Generated {
    pub value: Zeroizing<String>,
    pub created: Created,
}

/// A revealed secret.
pub struct Revealed {
    /// The secret; for a zero-knowledge secret, the client's ciphertext.
    pub plaintext: Zeroizing<Vec<u8>>,
    pub secret_key: Token,
    /// Views left after this one.
    pub views_left: u32,
    pub kind: EnvelopeKind,
    /// A file secret's content, to read with [`SecretService::file_chunk`]; `plaintext` is then
    /// the head of the client's blob.
    pub file: Option<FileContent>,
}

/// Where a revealed file secret's content is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileContent {
    pub id: RecordId,
    pub info: FileInfo,
    /// This reveal took the last view: the content goes once it has been read
    /// ([`SecretService::file_read`]).
    pub last_view: bool,
}

impl std::fmt::Debug for Revealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Revealed")
            .field("views_left", &self.views_left)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// What the sender's receipt keeps of a reveal: the time and the visitor's network, coarsened
/// to an IPv4 /24 or an IPv6 /48 (never the address itself).
fn view_note(visitor: &Visitor, now: UnixTime) -> ViewNote {
    let client = match visitor.ip.map(|ip| ip.to_canonical()) {
        Some(std::net::IpAddr::V4(v4)) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        Some(std::net::IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{}/48", std::net::Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0))
        }
        None => String::new(),
    };
    ViewNote::new(now, &client)
}

/// Why a visitor may not see a secret, with the audit trail's reason.
struct Refusal {
    error: CoreError,
    reason: &'static str,
}

impl SecretService {
    /// Checks a secret's conditions (access policy first, then the signed-in recipient) against
    /// `visitor` at `now`.
    fn admitted(&self, record: &SecretRecord, visitor: &Visitor, now: UnixTime) -> Result<(), Refusal> {
        let Some(stored) = &record.restricted_to else { return Ok(()) };
        // Conditions this build can't read admit no one.
        let Some(conditions) = Conditions::decode(stored) else {
            return Err(Refusal { error: CoreError::AccessDenied, reason: "denied:unreadable_conditions" });
        };
        if let Some(access) = &conditions.access {
            access
                .check(visitor.ip, now, self.geoip.as_deref())
                .map_err(|d| Refusal { error: CoreError::AccessDenied, reason: d.reason() })?;
        }
        match &conditions.recipient {
            Some(rule) if !rule.admits(visitor.account.as_ref()) => {
                Err(Refusal { error: CoreError::SignInRequired, reason: "denied:not_the_recipient" })
            }
            _ => Ok(()),
        }
    }
}

/// What a recipient presents besides the link to reveal a secret.
pub enum Unlock {
    Nothing,
    Passphrase(Zeroizing<String>),
    /// A zero-knowledge secret's key proof.
    KeyProof(Zeroizing<[u8; 32]>),
}

impl Unlock {
    fn factor(&self) -> Option<&[u8]> {
        match self {
            Unlock::Nothing => None,
            Unlock::Passphrase(p) => Some(p.as_bytes()),
            Unlock::KeyProof(k) => Some(&k[..]),
        }
    }
}

/// What the recipient's link leads to, before anything is consumed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Preview {
    pub kind: EnvelopeKind,
    /// Set for a file secret.
    pub file: Option<FileInfo>,
    pub views_left: u32,
    pub expires_at: UnixTime,
    pub now: UnixTime,
}

/// The sender's view of a secret.
#[derive(Clone, Debug)]
pub struct ReceiptView {
    /// The receipt's own key, when known to this call (create, recent).
    pub receipt_key: Option<Token>,
    /// The secret link's key: shown while the receipt is new (once).
    pub secret_key: Option<Token>,
    pub state: SecretState,
    pub burn_reason: Option<BurnReason>,
    /// The owner's account id (its e-mail), or `None` for anonymous.
    pub owner: Option<String>,
    pub has_passphrase: bool,
    pub max_views: u32,
    pub views: u32,
    pub failures: u32,
    pub recipient: Option<String>,
    pub share_domain: String,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
    pub received_at: Option<UnixTime>,
    pub secret_expires_at: UnixTime,
    pub expires_at: UnixTime,
    /// The reveals so far (oldest first, up to about a hundred): when, and from which network.
    pub view_log: Vec<ViewNote>,
    /// When this view was computed.
    pub now: UnixTime,
}

impl ReceiptView {
    /// The secret's full lifetime in seconds.
    pub fn secret_ttl(&self) -> i64 {
        self.secret_expires_at - self.created_at
    }

    /// The receipt's full lifetime in seconds.
    pub fn receipt_ttl(&self) -> i64 {
        self.expires_at - self.created_at
    }

    /// Seconds until the secret expires (0 once it has).
    pub fn secret_ttl_left(&self) -> i64 {
        (self.secret_expires_at - self.now).max(0)
    }

    /// Seconds until the receipt expires.
    pub fn receipt_ttl_left(&self) -> i64 {
        (self.expires_at - self.now).max(0)
    }

    pub fn views_left(&self) -> u32 {
        match self.state {
            SecretState::New | SecretState::Viewed => self.max_views.saturating_sub(self.views),
            _ => 0,
        }
    }

    /// A cursor for the next page after this receipt.
    fn cursor(&self, id: RecordId) -> Cursor {
        Cursor { created_at: self.created_at, id }
    }
}

/// One page of a user's recent receipts.
#[derive(Debug)]
pub struct RecentPage {
    pub items: Vec<ReceiptView>,
    /// Opaque cursor for the next (older) page, if there may be one.
    pub next: Option<String>,
}

pub struct SecretService {
    store: Arc<dyn Store>,
    keys: Arc<KeyRing>,
    clock: Arc<dyn Clock>,
    policy: Policy,
    kdf: KdfPool,
    audit: Auditor,
    geoip: Option<Arc<dyn GeoIp>>,
}

pub(crate) fn view(
    r: Receipt,
    now: UnixTime,
    secret_key: Option<Token>,
    receipt_key: Option<Token>,
) -> ReceiptView {
    let state = match r.state {
        ReceiptState::New if r.secret_expires_at <= now => SecretState::Expired,
        ReceiptState::Viewed if r.secret_expires_at <= now => SecretState::Expired,
        ReceiptState::New => SecretState::New,
        ReceiptState::Viewed => SecretState::Viewed,
        ReceiptState::Received => SecretState::Received,
        ReceiptState::Burned => SecretState::Burned,
    };
    let secret_key = if matches!(state, SecretState::New | SecretState::Viewed) { secret_key } else { None };
    ReceiptView {
        receipt_key,
        secret_key,
        state,
        burn_reason: r.burn_reason,
        owner: r.owner.map(|o| o.0),
        has_passphrase: r.has_passphrase,
        max_views: r.max_views,
        views: r.views,
        failures: r.failures,
        recipient: r.recipient,
        share_domain: r.share_domain,
        created_at: r.created_at,
        updated_at: r.updated_at,
        received_at: r.received_at,
        secret_expires_at: r.secret_expires_at,
        expires_at: r.expires_at,
        view_log: r.view_log,
        now,
    }
}

fn encode_cursor(c: Cursor) -> String {
    format!("{}.{}", c.created_at, data_encoding::HEXLOWER.encode(&c.id.0))
}

fn decode_cursor(s: &str) -> Result<Cursor, CoreError> {
    let bad = || CoreError::Invalid("invalid page cursor".into());
    let (t, id) = s.split_once('.').ok_or_else(bad)?;
    let created_at = t.parse().map_err(|_| bad())?;
    let bytes = data_encoding::HEXLOWER.decode(id.as_bytes()).map_err(|_| bad())?;
    let id: [u8; 32] = bytes.try_into().map_err(|_| bad())?;
    Ok(Cursor { created_at, id: RecordId(id) })
}

impl SecretService {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        keys: Arc<KeyRing>,
        clock: Arc<dyn Clock>,
        policy: Policy,
        kdf: KdfPool,
        audit: Auditor,
    ) -> Self {
        SecretService { store, keys, clock, policy, kdf, audit, geoip: None }
    }

    pub(crate) fn set_geoip(&mut self, geo: Arc<dyn GeoIp>) {
        self.geoip = Some(geo);
    }

    /// Whether country allow-lists can be checked here.
    pub fn has_geoip(&self) -> bool {
        self.geoip.is_some()
    }

    pub(crate) fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn now(&self) -> UnixTime {
        self.clock.now()
    }

    /// Spends the same Argon2id work a real passphrase check would, so that "no such secret"
    /// answers a passphrase-carrying request no faster than "wrong passphrase".
    /// Busy like the real check would be.
    async fn dummy_kdf(&self, passphrase: &Zeroizing<String>) -> Result<(), CoreError> {
        let keys = self.keys.clone();
        let params = self.policy.passphrase_params;
        let pw = passphrase.clone();
        self.kdf
            .run(move || {
                let _ = keys.seal(&[0u8; 32], b"", Some(Guard::Passphrase(pw.as_bytes(), params)), b"");
            })
            .await
    }

    pub async fn create(&self, req: CreateSecret) -> Result<Created, CoreError> {
        if req.plaintext.is_empty() {
            return Err(CoreError::Invalid("secret is empty".into()));
        }
        if req.plaintext.len() > self.policy.max_secret_bytes {
            return Err(CoreError::TooLarge { limit: self.policy.max_secret_bytes });
        }
        self.create_as(req, Token::generate(), None).await
    }

    /// Creates the secret of link token `secret_key`; for a file secret, `file` describes the
    /// content already stored in chunks and `req.plaintext` is the head of the client's blob.
    pub(crate) async fn create_as(
        &self,
        req: CreateSecret,
        secret_key: Token,
        file: Option<FileInfo>,
    ) -> Result<Created, CoreError> {
        let passphrase = req.passphrase.filter(|p| !p.is_empty());
        // A zero-knowledge secret: the client's passphrase (if any) is inside its ciphertext.
        let client_passphrase = match &req.key_proof {
            None => None,
            Some(_) if passphrase.is_some() => {
                return Err(CoreError::Invalid(
                    "a zero-knowledge secret is encrypted with its passphrase by the client; \
                     do not also send the passphrase"
                        .into(),
                ));
            }
            Some(_) => Some(
                if file.is_some() {
                    once_crypto::zk::file::needs_passphrase(&req.plaintext)
                } else {
                    once_crypto::zk::blob_needs_passphrase(&req.plaintext)
                }
                .map_err(|_| {
                    CoreError::Invalid("the ciphertext is not in Once's zero-knowledge format".into())
                })?,
            ),
        };
        let now = self.clock.now();
        let ttl = self.policy.ttl(req.ttl);
        let receipt_key = Token::generate();
        let secret_id = RecordId(secret_key.lookup_id(SECRET));
        let receipt_id = RecordId(receipt_key.lookup_id(RECEIPT));

        // The record is guarded (no claim without a second factor) by a passphrase or a key proof;
        // the receipt tells the sender whether the recipient will need a passphrase.
        if req.access.as_ref().is_some_and(|a| !a.countries.is_empty()) && self.geoip.is_none() {
            return Err(CoreError::Invalid(
                "this server has no GeoIP database, so a secret can't be limited to countries \
                 (the admin can add one: once serve --geoip-db PATH)"
                    .into(),
            ));
        }
        let conditions = Conditions { recipient: req.only_for, access: req.access };
        let restricted_to = conditions.encode();
        let guarded = passphrase.is_some() || req.key_proof.is_some() || restricted_to.is_some();
        let has_passphrase = passphrase.is_some() || client_passphrase == Some(true);
        let envelope = {
            let keys = self.keys.clone();
            let token = secret_key.clone();
            let plaintext = req.plaintext;
            match (passphrase, &req.key_proof) {
                (None, None) => keys.seal(&secret_id.0, token.expose().as_bytes(), None, &plaintext),
                (None, Some(proof)) => {
                    let guard = Guard::KeyProof { proof, client_passphrase: client_passphrase == Some(true) };
                    keys.seal(&secret_id.0, token.expose().as_bytes(), Some(guard), &plaintext)
                }
                (Some(pw), _) => {
                    let params: PassphraseParams = self.policy.passphrase_params;
                    self.kdf
                        .run(move || {
                            keys.seal(
                                &secret_id.0,
                                token.expose().as_bytes(),
                                Some(Guard::Passphrase(pw.as_bytes(), params)),
                                &plaintext,
                            )
                        })
                        .await?
                }
            }
        }
        .map_err(|e| CoreError::Crypto(e.to_string()))?;

        let seal_small = |record: &RecordId, token: &[u8], value: &[u8]| {
            self.keys.seal(&record.0, token, None, value).map_err(|e| CoreError::Crypto(e.to_string()))
        };
        // The receipt shows the secret link once; a zero-knowledge link is useless without the key
        // in its fragment, which only the sender's client has, so none is kept for it.
        let sealed_secret_key = if client_passphrase.is_some() {
            None
        } else {
            Some(seal_small(&receipt_id, receipt_key.expose().as_bytes(), secret_key.expose().as_bytes())?)
        };
        let sealed_receipt_key = match &req.owner {
            Some(p) => Some(seal_small(&receipt_id, p.vault.expose(), receipt_key.expose().as_bytes())?),
            None => None,
        };
        let owner = req.owner.as_ref().map(|p| p.account.id.clone());
        let secret = SecretRecord {
            id: secret_id,
            receipt_id,
            envelope,
            has_passphrase: guarded,
            restricted_to,
            views_left: req.views.get(),
            failures: 0,
            created_at: now,
            expires_at: now + ttl,
            file,
        };
        let receipt = Receipt {
            id: receipt_id,
            secret_id,
            owner,
            sealed_secret_key,
            sealed_receipt_key,
            state: ReceiptState::New,
            burn_reason: None,
            has_passphrase,
            max_views: req.views.get(),
            views: 0,
            failures: 0,
            recipient: req.recipient,
            share_domain: req.share_domain,
            created_at: now,
            updated_at: now,
            received_at: None,
            view_log: Vec::new(),
            secret_expires_at: now + ttl,
            expires_at: now + ttl * self.policy.receipt_ttl_factor,
        };
        let actor = receipt.owner.as_ref().map_or("anon".to_owned(), |o| o.0.clone());
        self.store.create(secret, receipt.clone()).await?;
        self.audit.event("secret.created", "ok", Some(&secret_id), &actor);
        Ok(Created {
            receipt: view(receipt, now, Some(secret_key.clone()), Some(receipt_key.clone())),
            secret_key,
            receipt_key,
        })
    }

    /// Creates a secret holding a fresh random password of `length` characters.
    pub async fn generate(&self, length: usize, mut req: CreateSecret) -> Result<Generated, CoreError> {
        if !(8..=256).contains(&length) {
            return Err(CoreError::Invalid("length must be between 8 and 256".into()));
        }
        // Letters and digits without the look-alikes (0/O, 1/l/I), plus a few safe symbols.
        const CHARS: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789*$!?@%&";
        let mut value = Zeroizing::new(String::with_capacity(length));
        for _ in 0..length {
            value.push(CHARS[OsRng.gen_range(0..CHARS.len())] as char);
        }
        req.plaintext = Zeroizing::new(value.as_bytes().to_vec());
        let created = self.create(req).await?;
        Ok(Generated { value, created })
    }

    /// Reveals a secret. Every way of not getting it is the same [`CoreError::NotFound`].
    pub async fn reveal(
        &self,
        key: &str,
        passphrase: Option<Zeroizing<String>>,
    ) -> Result<Revealed, CoreError> {
        let unlock = match passphrase.filter(|p| !p.is_empty()) {
            Some(p) => Unlock::Passphrase(p),
            None => Unlock::Nothing,
        };
        self.reveal_with(key, unlock, &Visitor::default()).await
    }

    /// What the recipient's link leads to (does it need a passphrase, is it zero-knowledge),
    /// without consuming anything. Gone secrets are [`CoreError::NotFound`] like every other way
    /// of not getting one.
    /// A secret only for a signed-in recipient that `viewer` is not is
    /// [`CoreError::SignInRequired`].
    pub async fn preview(&self, key: &str, visitor: &Visitor) -> Result<Preview, CoreError> {
        let now = self.clock.now();
        let token = Token::parse(key).ok_or(CoreError::NotFound)?;
        let id = RecordId(token.lookup_id(SECRET));
        let record = self.store.peek(&id, now).await?.ok_or(CoreError::NotFound)?;
        self.admitted(&record, visitor, now).map_err(|r| r.error)?;
        let kind = Envelope::parse(&record.envelope).map_err(|_| CoreError::NotFound)?.kind();
        Ok(Preview {
            kind,
            file: record.file,
            views_left: record.views_left,
            expires_at: record.expires_at,
            now,
        })
    }

    /// Reveals a secret with what the recipient presents, as `viewer` (a signed-in account, for
    /// secrets only a signed-in recipient may reveal: [`CoreError::SignInRequired`] for anyone
    /// else, consuming nothing). Every other way of not getting it is the same
    /// [`CoreError::NotFound`].
    pub async fn reveal_with(
        &self,
        key: &str,
        unlock: Unlock,
        visitor: &Visitor,
    ) -> Result<Revealed, CoreError> {
        let unlock = match unlock {
            Unlock::Passphrase(p) if p.is_empty() => Unlock::Nothing,
            other => other,
        };
        let now = self.clock.now();
        // Only a passphrase costs Argon2id when the secret exists; spend the same when it does
        // not, so that timing does not tell the two apart. A key proof is fast either way.
        let passphrase = match &unlock {
            Unlock::Passphrase(p) => Some(p),
            _ => None,
        };
        let Some(token) = Token::parse(key) else {
            if let Some(pw) = passphrase {
                self.dummy_kdf(pw).await?;
            }
            self.audit.event("secret.reveal", "denied:malformed_key", None, "anon");
            return Err(CoreError::NotFound);
        };
        let id = RecordId(token.lookup_id(SECRET));
        if matches!(unlock, Unlock::Nothing) {
            // The common case, in one atomic step: claim unless the secret needs a second factor
            // (a passphrase, a key proof or a signed-in recipient: looked at below).
            match self.store.take_unguarded_noted(&id, now, Some(&view_note(visitor, now))).await? {
                Claim::Taken(taken) => return self.open_taken(&id, token, taken),
                Claim::Guarded => {}
                Claim::Gone => {
                    self.audit.event("secret.reveal", "denied:unknown", Some(&id), "anon");
                    return Err(CoreError::NotFound);
                }
            }
        }
        let Some(record) = self.store.peek(&id, now).await? else {
            if let Some(pw) = passphrase {
                self.dummy_kdf(pw).await?;
            }
            self.audit.event("secret.reveal", "denied:unknown", Some(&id), "anon");
            return Err(CoreError::NotFound);
        };
        if let Err(refusal) = self.admitted(&record, visitor, now) {
            self.audit.event("secret.reveal", refusal.reason, Some(&id), "anon");
            return Err(refusal.error);
        }

        if !record.has_passphrase {
            // A second factor was given but none is needed: reveal as without one.
            let Some(taken) = self.store.take_noted(&id, now, Some(&view_note(visitor, now))).await? else {
                self.audit.event("secret.reveal", "denied:lost_race", Some(&id), "anon");
                return Err(CoreError::NotFound);
            };
            return self.open_taken(&id, token, taken);
        }

        let kind = match Envelope::parse(&record.envelope) {
            Ok(env) => env.kind(),
            Err(e) => {
                self.audit.event("secret.reveal", open_reason(&e), Some(&id), "anon");
                return Err(CoreError::NotFound);
            }
        };
        if kind != EnvelopeKind::Plain && matches!(unlock, Unlock::Nothing) {
            self.audit.event("secret.reveal", "denied:passphrase_missing", Some(&id), "anon");
            return Err(CoreError::NotFound);
        }
        let factor: Zeroizing<Vec<u8>> = Zeroizing::new(unlock.factor().unwrap_or_default().to_vec());
        let opened = if kind == EnvelopeKind::Passphrase {
            // Argon2id: on the blocking pool, bounded.
            let keys = self.keys.clone();
            let token = token.clone();
            let envelope = record.envelope;
            self.kdf
                .run(move || keys.open(&id.0, token.expose().as_bytes(), Some(&factor), &envelope))
                .await?
        } else {
            self.keys.open(&id.0, token.expose().as_bytes(), Some(&factor), &record.envelope)
        };
        match opened {
            Ok(_) if record.file.is_some() && !visitor.takes_files => {
                // Said only to a caller who proved they hold the key; nothing consumed.
                self.audit.event("secret.reveal", "denied:file_as_text", Some(&id), "anon");
                Err(CoreError::IsAFile)
            }
            Ok(plaintext) => match self.store.take_noted(&id, now, Some(&view_note(visitor, now))).await? {
                Some(taken) => {
                    self.audit.event("secret.revealed", "ok", Some(&id), "anon");
                    let file =
                        record.file.map(|info| FileContent { id, info, last_view: taken.views_left == 0 });
                    Ok(Revealed { plaintext, secret_key: token, views_left: taken.views_left, kind, file })
                }
                None => {
                    self.audit.event("secret.reveal", "denied:lost_race", Some(&id), "anon");
                    Err(CoreError::NotFound)
                }
            },
            Err(OpenError::Failed) => {
                let cap = self.policy.max_passphrase_failures;
                let wrong = if kind == EnvelopeKind::Passphrase {
                    "denied:wrong_passphrase"
                } else {
                    "denied:wrong_key_proof"
                };
                match self.store.record_failure(&id, cap, now).await? {
                    FailureOutcome::Burned => {
                        self.audit.event("secret.burned", "passphrase_failures", Some(&id), "anon");
                        if record.file.is_some() {
                            self.store.drop_chunks(&id).await?;
                        }
                    }
                    FailureOutcome::Counted { .. } | FailureOutcome::Gone => {
                        self.audit.event("secret.reveal", wrong, Some(&id), "anon");
                    }
                }
                Err(CoreError::NotFound)
            }
            Err(e) => {
                self.audit.event("secret.reveal", open_reason(&e), Some(&id), "anon");
                Err(CoreError::NotFound)
            }
        }
    }

    /// Opens a claimed envelope of a secret without a second factor.
    fn open_taken(&self, id: &RecordId, token: Token, taken: Taken) -> Result<Revealed, CoreError> {
        match self.keys.open(&id.0, token.expose().as_bytes(), None, &taken.envelope) {
            Ok(plaintext) => {
                self.audit.event("secret.revealed", "ok", Some(id), "anon");
                Ok(Revealed {
                    plaintext,
                    secret_key: token,
                    views_left: taken.views_left,
                    kind: EnvelopeKind::Plain,
                    file: None,
                })
            }
            Err(e) => {
                self.audit.event("secret.reveal", open_reason(&e), Some(id), "anon");
                Err(CoreError::NotFound)
            }
        }
    }

    fn receipt_id(key: &str) -> Result<(Token, RecordId), CoreError> {
        let token = Token::parse(key).ok_or(CoreError::NotFound)?;
        let id = RecordId(token.lookup_id(RECEIPT));
        Ok((token, id))
    }

    /// The receipt. With `open`, this is the sender opening it: the secret link is included the
    /// first time only (state `new` → `viewed`).
    pub async fn receipt(&self, key: &str, open: bool) -> Result<ReceiptView, CoreError> {
        let now = self.clock.now();
        let (token, id) = Self::receipt_id(key)?;
        let r = if open {
            self.store.open_receipt(&id, now).await?
        } else {
            self.store.receipt(&id, now).await?
        };
        let Some(r) = r else {
            self.audit.event("receipt.view", "denied:unknown", Some(&id), "anon");
            return Err(CoreError::NotFound);
        };
        let secret_key = r
            .sealed_secret_key
            .as_ref()
            .and_then(|s| self.keys.open(&id.0, token.expose().as_bytes(), None, s).ok())
            .and_then(|b| std::str::from_utf8(&b).ok().and_then(Token::parse));
        let mut r = r;
        if open && r.state == ReceiptState::New {
            // The store moved it to `viewed` as it handed it over; report it as it now is.
            r.state = ReceiptState::Viewed;
            r.updated_at = now;
        }
        Ok(view(r, now, secret_key, Some(token)))
    }

    /// Burns the secret of a receipt. `Ok` with state `burned` when it was burned now; a secret
    /// already gone leaves the receipt as it was.
    pub async fn burn(&self, key: &str) -> Result<(ReceiptView, bool), CoreError> {
        let now = self.clock.now();
        let (token, id) = Self::receipt_id(key)?;
        match self.store.burn(&id, now).await? {
            None => {
                self.audit.event("secret.burn", "denied:unknown", Some(&id), "anon");
                Err(CoreError::NotFound)
            }
            Some(BurnOutcome::Burned(r)) => {
                self.audit.event("secret.burned", "sender", Some(&r.secret_id), "anon");
                // A file's content goes with it (a text secret has none: nothing to remove).
                self.store.drop_chunks(&r.secret_id).await?;
                Ok((view(r, now, None, Some(token)), true))
            }
            Some(BurnOutcome::AlreadyGone(r)) => Ok((view(r, now, None, Some(token)), false)),
        }
    }

    /// The user's receipts, newest first, `limit` per page.
    pub async fn recent(
        &self,
        who: &Principal,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<RecentPage, CoreError> {
        let now = self.clock.now();
        let before = cursor.map(decode_cursor).transpose()?;
        let limit = limit.clamp(1, 100);
        let rows = self.store.recent(&who.account.id, before, limit, now).await?;
        let full = rows.len() == limit as usize;
        let mut items = Vec::with_capacity(rows.len());
        let mut next = None;
        for r in rows {
            let id = r.id;
            let receipt_key = r
                .sealed_receipt_key
                .as_ref()
                .and_then(|s| self.keys.open(&id.0, who.vault.expose(), None, s).ok())
                .and_then(|b| std::str::from_utf8(&b).ok().and_then(Token::parse));
            let v = view(r, now, None, receipt_key);
            next = Some(encode_cursor(v.cursor(id)));
            items.push(v);
        }
        Ok(RecentPage { items, next: if full { next } else { None } })
    }

    /// Removes expired secrets and receipts, in batches, until none are left. Returns the count.
    pub async fn purge_expired(&self, batch: u32) -> Result<u64, CoreError> {
        let now = self.clock.now();
        let mut total = 0;
        loop {
            let n = self.store.purge_expired(now, batch).await?;
            total += n;
            if n < u64::from(batch) {
                break;
            }
        }
        // What crashes and abandoned uploads left of file contents.
        loop {
            let n = self.store.purge_chunks(now, batch).await?;
            total += n;
            if n < u64::from(batch) {
                return Ok(total);
            }
        }
    }
}

fn open_reason(e: &OpenError) -> &'static str {
    match e {
        OpenError::Malformed => "denied:malformed_envelope",
        OpenError::UnknownKey(_) => "denied:unknown_master_key",
        OpenError::KeyDestroyed(_) => "denied:master_key_destroyed",
        OpenError::Failed => "denied:undecryptable",
    }
}
