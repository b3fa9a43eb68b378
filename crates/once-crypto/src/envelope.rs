//! The envelope: the sealed form of a secret (and of the other small values we seal).
//!
//! ```text
//! offset  size  field
//! 0       1     format version (1)
//! 1       1     algorithm (1 = AES-256-GCM)
//! 2       1     key id length L (1..=64)
//! 3       L     key id (ASCII)
//! 3+L     1     guard (0 = none, 1 = Argon2id v0x13 passphrase, 2 = zero-knowledge key proof)
//!               if 1: m_cost u32 BE (KiB), t_cost u32 BE, p_cost u32 BE, salt (16)
//!               if 2: client flags (1; bit 0 = the client sealed it with a passphrase)
//! …       32    HKDF salt
//! …       12    GCM nonce
//! …       n+16  ciphertext ‖ tag
//! ```
//! Everything before the ciphertext is the header; the AAD is `"once/envelope/v1" ‖ header ‖
//! record_id`. The wire format is pinned by `tests::wire_format_is_pinned`.
//!
//! A **guard** is a second key factor beside the link token. A passphrase goes through Argon2id
//! first. A zero-knowledge secret (already encrypted by the browser or the CLI, see [`crate::zk`])
//! is guarded by its 32-byte key proof, which the client derives from the key in the link's
//! fragment (and its passphrase): it is high-entropy, so it enters HKDF directly. The server keeps
//! neither the proof nor a hash of it; the AEAD tag is what checks it, in constant time.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use hkdf::Hkdf;
use rand::Rng;
use rand::rngs::OsRng;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::keyring::{KeyId, KeyRing, MasterKey};

const VERSION: u8 = 1;
const ALG_AES_256_GCM: u8 = 1;
const KDF_NONE: u8 = 0;
const KDF_ARGON2ID: u8 = 1;
const KDF_KEY_PROOF: u8 = 2;
const CLIENT_PASSPHRASE: u8 = 0x01;
const AAD_LABEL: &[u8] = b"once/envelope/v1";
const INFO_LABEL: &[u8] = b"once/v1/aead-key";
const TAG_LEN: usize = 16;

/// Argon2id cost for passphrases. The default is OWASP's (m = 19 MiB, t = 2, p = 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PassphraseParams {
    pub m_cost_kib: u32,
    pub t_cost: u32,
    pub p_cost: u32,
}

impl Default for PassphraseParams {
    fn default() -> Self {
        PassphraseParams { m_cost_kib: 19 * 1024, t_cost: 2, p_cost: 1 }
    }
}

impl PassphraseParams {
    /// Bounds on what an envelope may ask for, so a forged header can't make us burn a GiB.
    fn within_limits(&self) -> bool {
        (8..=1 << 20).contains(&self.m_cost_kib)
            && (1..=16).contains(&self.t_cost)
            && (1..=16).contains(&self.p_cost)
    }
}

/// The second key factor of a sealed secret, beside its link token.
#[derive(Clone, Copy)]
pub enum Guard<'a> {
    /// A passphrase, stretched with Argon2id (slow: call off the async executor).
    Passphrase(&'a [u8], PassphraseParams),
    /// A zero-knowledge secret's key proof; `client_passphrase` records (for the preview) whether
    /// the client also needs a passphrase to decrypt what it gets back.
    KeyProof { proof: &'a [u8; 32], client_passphrase: bool },
}

impl std::fmt::Debug for Guard<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Guard::Passphrase(_, p) => f.debug_tuple("Passphrase").field(&"[redacted]").field(p).finish(),
            Guard::KeyProof { client_passphrase, .. } => f
                .debug_struct("KeyProof")
                .field("client_passphrase", client_passphrase)
                .finish_non_exhaustive(),
        }
    }
}

/// What an envelope needs besides the link token, read from its (authenticated) header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvelopeKind {
    /// The token alone opens it.
    Plain,
    /// Sealed with a passphrase (Argon2id).
    Passphrase,
    /// A zero-knowledge secret: opens with the key proof; what comes out is client ciphertext.
    ZeroKnowledge { client_passphrase: bool },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    #[error("the key ring has no active key (run `once keys generate`)")]
    NoActiveKey,
    #[error("passphrase KDF parameters are out of range")]
    BadParams,
}

/// Why an envelope did not open. Only the server sees the difference; callers are told "unknown".
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OpenError {
    #[error("envelope is malformed")]
    Malformed,
    #[error("envelope names key {0}, which is not in the key ring")]
    UnknownKey(KeyId),
    #[error("envelope names key {0}, which was destroyed")]
    KeyDestroyed(KeyId),
    /// Wrong token, wrong or missing passphrase, or a modified envelope: indistinguishable.
    #[error("envelope did not open")]
    Failed,
}

#[derive(Debug, Clone, Copy)]
enum ParsedGuard<'a> {
    None,
    Argon2id(PassphraseParams, &'a [u8]),
    KeyProof { client_passphrase: bool },
}

/// A parsed envelope header, borrowed from the envelope bytes.
#[derive(Debug)]
pub struct Envelope<'a> {
    header: &'a [u8],
    key_id: KeyId,
    guard: ParsedGuard<'a>,
    hkdf_salt: &'a [u8],
    nonce: &'a [u8],
    ciphertext: &'a [u8],
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], OpenError> {
        let end = self.pos.checked_add(n).ok_or(OpenError::Malformed)?;
        let s = self.buf.get(self.pos..end).ok_or(OpenError::Malformed)?;
        self.pos = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, OpenError> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32, OpenError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

impl<'a> Envelope<'a> {
    /// Parses the header. Never panics, whatever the input.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, OpenError> {
        let mut r = Reader { buf: bytes, pos: 0 };
        if r.u8()? != VERSION || r.u8()? != ALG_AES_256_GCM {
            return Err(OpenError::Malformed);
        }
        let len = r.u8()? as usize;
        let id = std::str::from_utf8(r.take(len)?).map_err(|_| OpenError::Malformed)?;
        let key_id = KeyId::parse(id).ok_or(OpenError::Malformed)?;
        let guard = match r.u8()? {
            KDF_NONE => ParsedGuard::None,
            KDF_ARGON2ID => {
                let params = PassphraseParams { m_cost_kib: r.u32()?, t_cost: r.u32()?, p_cost: r.u32()? };
                if !params.within_limits() {
                    return Err(OpenError::Malformed);
                }
                ParsedGuard::Argon2id(params, r.take(16)?)
            }
            KDF_KEY_PROOF => match r.u8()? {
                0 => ParsedGuard::KeyProof { client_passphrase: false },
                CLIENT_PASSPHRASE => ParsedGuard::KeyProof { client_passphrase: true },
                _ => return Err(OpenError::Malformed),
            },
            _ => return Err(OpenError::Malformed),
        };
        let hkdf_salt = r.take(32)?;
        let nonce = r.take(12)?;
        let header = &bytes[..r.pos];
        let ciphertext = &bytes[r.pos..];
        if ciphertext.len() < TAG_LEN {
            return Err(OpenError::Malformed);
        }
        Ok(Envelope { header, key_id, guard, hkdf_salt, nonce, ciphertext })
    }

    pub fn key_id(&self) -> &KeyId {
        &self.key_id
    }

    pub fn kind(&self) -> EnvelopeKind {
        match self.guard {
            ParsedGuard::None => EnvelopeKind::Plain,
            ParsedGuard::Argon2id(..) => EnvelopeKind::Passphrase,
            ParsedGuard::KeyProof { client_passphrase } => EnvelopeKind::ZeroKnowledge { client_passphrase },
        }
    }
}

/// Argon2 working memory, reused across derivations (passphrases here, account passwords in
/// [`crate::password`]). Allocating tens of MiB per derivation from many threads fragments the
/// allocator until the process holds gigabytes; a few reused buffers keep memory at (concurrent
/// derivations × m_cost). Buffers are zeroized after every use.
pub(crate) struct KdfMemory {
    pool: std::sync::Mutex<Vec<Vec<Block>>>,
    /// Buffers kept for reuse; more concurrent derivations allocate and free their own.
    keep: usize,
}

impl Default for KdfMemory {
    fn default() -> Self {
        KdfMemory::new(8)
    }
}

impl KdfMemory {
    pub(crate) const fn new(keep: usize) -> Self {
        KdfMemory { pool: std::sync::Mutex::new(Vec::new()), keep }
    }

    pub(crate) fn with<T>(&self, blocks: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
        // A panic while holding the lock leaves only a Vec of plain buffers behind: still valid.
        let mut buf = self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop().unwrap_or_default();
        if buf.len() < blocks {
            buf.resize(blocks, Block::default());
        }
        let out = f(&mut buf[..blocks]);
        // The blocks hold values derived from the passphrase or password.
        buf[..blocks].iter_mut().for_each(zeroize::Zeroize::zeroize);
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < self.keep {
            pool.push(buf);
        }
        out
    }
}

fn passphrase_key(
    memory: &KdfMemory,
    passphrase: &[u8],
    salt: &[u8],
    params: PassphraseParams,
) -> Result<Zeroizing<[u8; 32]>, SealError> {
    let p = Params::new(params.m_cost_kib, params.t_cost, params.p_cost, Some(32))
        .map_err(|_| SealError::BadParams)?;
    let mut out = Zeroizing::new([0u8; 32]);
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, p.clone());
    memory
        .with(p.block_count(), |blocks| {
            argon.hash_password_into_with_memory(passphrase, salt, &mut out[..], blocks)
        })
        .map_err(|_| SealError::BadParams)?;
    Ok(out)
}

fn aead_key(
    master: &MasterKey,
    token: &[u8],
    pw_key: Option<&[u8; 32]>,
    hkdf_salt: &[u8],
    key_id: &KeyId,
) -> Zeroizing<[u8; 32]> {
    let mut ikm = Zeroizing::new(Vec::with_capacity(32 + token.len() + 32));
    ikm.extend_from_slice(master.bytes());
    ikm.extend_from_slice(token);
    if let Some(k) = pw_key {
        ikm.extend_from_slice(k);
    }
    let hk = Hkdf::<Sha256>::new(Some(hkdf_salt), &ikm);
    let mut okm = Zeroizing::new([0u8; 32]);
    let info = [INFO_LABEL, &[ALG_AES_256_GCM], key_id.as_str().as_bytes()];
    // 32 bytes is far below HKDF-SHA256's 255 × 32 output limit, so expand cannot fail.
    hk.expand_multi_info(&info, &mut okm[..]).unwrap_or_else(|_| unreachable!("32 ≤ 8160"));
    okm
}

fn aad(header: &[u8], record_id: &[u8; 32]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_LABEL.len() + header.len() + 32);
    aad.extend_from_slice(AAD_LABEL);
    aad.extend_from_slice(header);
    aad.extend_from_slice(record_id);
    aad
}

/// Random inputs of one seal; fixed in the wire-format test.
struct SealRandom {
    hkdf_salt: [u8; 32],
    pw_salt: [u8; 16],
    nonce: [u8; 12],
}

impl SealRandom {
    /// One system call for all of a seal's randomness.
    fn fresh() -> Self {
        let mut buf = [0u8; 60];
        OsRng.fill(&mut buf[..]);
        let mut r = SealRandom { hkdf_salt: [0; 32], pw_salt: [0; 16], nonce: [0; 12] };
        r.hkdf_salt.copy_from_slice(&buf[..32]);
        r.pw_salt.copy_from_slice(&buf[32..48]);
        r.nonce.copy_from_slice(&buf[48..]);
        r
    }
}

impl KeyRing {
    /// Seals `plaintext` for the record `record_id` under the active key, the record's link
    /// `token` and, if given, a guard (a passphrase runs Argon2id: slow; call it off the async
    /// executor).
    pub fn seal(
        &self,
        record_id: &[u8; 32],
        token: &[u8],
        guard: Option<Guard<'_>>,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, SealError> {
        self.seal_with(record_id, token, guard, plaintext, SealRandom::fresh())
    }

    fn seal_with(
        &self,
        record_id: &[u8; 32],
        token: &[u8],
        guard: Option<Guard<'_>>,
        plaintext: &[u8],
        rnd: SealRandom,
    ) -> Result<Vec<u8>, SealError> {
        let (key_id, master) = self.active().ok_or(SealError::NoActiveKey)?;
        let id = key_id.as_str().as_bytes();
        let mut out = Vec::with_capacity(3 + id.len() + 1 + 28 + 32 + 12 + plaintext.len() + TAG_LEN);
        out.extend_from_slice(&[VERSION, ALG_AES_256_GCM, id.len() as u8]);
        out.extend_from_slice(id);
        let guard_key = match guard {
            None => {
                out.push(KDF_NONE);
                None
            }
            Some(Guard::Passphrase(pw, params)) => {
                if !params.within_limits() {
                    return Err(SealError::BadParams);
                }
                out.push(KDF_ARGON2ID);
                out.extend_from_slice(&params.m_cost_kib.to_be_bytes());
                out.extend_from_slice(&params.t_cost.to_be_bytes());
                out.extend_from_slice(&params.p_cost.to_be_bytes());
                out.extend_from_slice(&rnd.pw_salt);
                Some(passphrase_key(&self.kdf_memory, pw, &rnd.pw_salt, params)?)
            }
            Some(Guard::KeyProof { proof, client_passphrase }) => {
                out.extend_from_slice(&[
                    KDF_KEY_PROOF,
                    if client_passphrase { CLIENT_PASSPHRASE } else { 0 },
                ]);
                Some(Zeroizing::new(*proof))
            }
        };
        out.extend_from_slice(&rnd.hkdf_salt);
        out.extend_from_slice(&rnd.nonce);
        let key = aead_key(master, token, guard_key.as_deref(), &rnd.hkdf_salt, key_id);
        let cipher = Aes256Gcm::new_from_slice(&key[..]).map_err(|_| SealError::BadParams)?;
        let aad = aad(&out, record_id);
        let ct = cipher
            .encrypt(Nonce::from_slice(&rnd.nonce), Payload { msg: plaintext, aad: &aad })
            // AES-GCM encryption fails only for messages over 64 GiB, far above any size cap.
            .map_err(|_| SealError::BadParams)?;
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Opens an envelope sealed for `record_id` with `token` and `guard`: the passphrase of an
    /// envelope sealed with one (Argon2id runs here, so call it off the async executor for such
    /// envelopes), or the 32-byte key proof of a zero-knowledge one.
    pub fn open(
        &self,
        record_id: &[u8; 32],
        token: &[u8],
        guard: Option<&[u8]>,
        envelope: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, OpenError> {
        let env = Envelope::parse(envelope)?;
        let master = match self.for_open(env.key_id.as_str()) {
            None => return Err(OpenError::UnknownKey(env.key_id.clone())),
            Some(None) => return Err(OpenError::KeyDestroyed(env.key_id.clone())),
            Some(Some(m)) => m,
        };
        let guard_key = match (env.guard, guard) {
            (ParsedGuard::None, _) => None,
            (_, None) => return Err(OpenError::Failed),
            (ParsedGuard::Argon2id(params, salt), Some(pw)) => {
                Some(passphrase_key(&self.kdf_memory, pw, salt, params).map_err(|_| OpenError::Malformed)?)
            }
            (ParsedGuard::KeyProof { .. }, Some(proof)) => {
                // Anything but 32 bytes is a wrong proof, answered like any other.
                Some(Zeroizing::new(<[u8; 32]>::try_from(proof).map_err(|_| OpenError::Failed)?))
            }
        };
        let key = aead_key(master, token, guard_key.as_deref(), env.hkdf_salt, &env.key_id);
        let cipher = Aes256Gcm::new_from_slice(&key[..]).map_err(|_| OpenError::Malformed)?;
        let aad = aad(env.header, record_id);
        cipher
            .decrypt(Nonce::from_slice(env.nonce), Payload { msg: env.ciphertext, aad: &aad })
            .map(Zeroizing::new)
            .map_err(|_| OpenError::Failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use data_encoding::HEXLOWER;

    const RID: [u8; 32] = [7u8; 32];
    const TOKEN: &[u8] = b"k3jtoken";
    const FAST: PassphraseParams = PassphraseParams { m_cost_kib: 64, t_cost: 1, p_cost: 1 };

    fn ring() -> KeyRing {
        KeyRing::generate_new(0)
    }

    fn fixed_ring() -> KeyRing {
        KeyRing::from_single_key(MasterKey::from_bytes(&[0x42; 32]).expect("32 bytes"))
    }

    fn fixed_random() -> SealRandom {
        SealRandom { hkdf_salt: [1; 32], pw_salt: [2; 16], nonce: [3; 12] }
    }

    #[test]
    fn round_trip_with_and_without_passphrase() {
        let r = ring();
        let e = r.seal(&RID, TOKEN, None, b"hi").expect("seal");
        assert_eq!(&r.open(&RID, TOKEN, None, &e).expect("open")[..], b"hi");
        let e = r.seal(&RID, TOKEN, Some(Guard::Passphrase(b"pw", FAST)), b"hi").expect("seal");
        assert_eq!(Envelope::parse(&e).expect("parse").kind(), EnvelopeKind::Passphrase);
        assert_eq!(&r.open(&RID, TOKEN, Some(b"pw"), &e).expect("open")[..], b"hi");
        assert_eq!(r.open(&RID, TOKEN, Some(b"pW"), &e), Err(OpenError::Failed));
        assert_eq!(r.open(&RID, TOKEN, None, &e), Err(OpenError::Failed));
    }

    #[test]
    fn record_row_and_master_key_do_not_open_without_the_token() {
        let r = ring();
        let e = r.seal(&RID, TOKEN, None, b"secret").expect("seal");
        // Everything the database and the key file hold: the row (id + envelope) and the ring.
        assert_eq!(r.open(&RID, b"", None, &e), Err(OpenError::Failed));
        assert_eq!(r.open(&RID, b"k3jtokem", None, &e), Err(OpenError::Failed));
        assert_eq!(r.open(&RID, &RID, None, &e), Err(OpenError::Failed));
    }

    #[test]
    fn envelope_is_bound_to_its_record_and_header() {
        let r = ring();
        let e = r.seal(&RID, TOKEN, None, b"secret").expect("seal");
        assert_eq!(r.open(&[8u8; 32], TOKEN, None, &e), Err(OpenError::Failed));
        for i in 0..e.len() {
            let mut bad = e.clone();
            bad[i] ^= 0x01;
            assert!(r.open(&RID, TOKEN, None, &bad).is_err(), "flip at {i} opened");
        }
        for n in 0..e.len() {
            assert!(r.open(&RID, TOKEN, None, &e[..n]).is_err(), "truncated to {n} opened");
        }
    }

    #[test]
    fn parse_never_panics_on_garbage() {
        let mut x: u32 = 12345;
        for len in 0..300 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    (x >> 16) as u8
                })
                .collect();
            let _ = Envelope::parse(&bytes);
            let mut v = bytes.clone();
            if v.len() > 3 {
                v[0] = 1;
                v[1] = 1;
                v[2] = 1;
            }
            let _ = Envelope::parse(&v);
        }
    }

    #[test]
    fn rotation_keeps_old_records_open_until_the_key_is_destroyed() {
        let mut r = ring();
        let old = r.active_id().cloned().expect("active");
        let e_old = r.seal(&RID, TOKEN, None, b"old").expect("seal");
        let new = r.generate(1);
        r.activate(new.as_str()).expect("activate");
        let e_new = r.seal(&RID, TOKEN, None, b"new").expect("seal");
        assert_eq!(Envelope::parse(&e_new).expect("parse").key_id(), &new);
        assert_eq!(&r.open(&RID, TOKEN, None, &e_old).expect("old opens")[..], b"old");
        r.destroy(old.as_str()).expect("destroy");
        assert_eq!(r.open(&RID, TOKEN, None, &e_old), Err(OpenError::KeyDestroyed(old)));
        assert_eq!(&r.open(&RID, TOKEN, None, &e_new).expect("new opens")[..], b"new");
        let other = ring();
        assert!(matches!(other.open(&RID, TOKEN, None, &e_new), Err(OpenError::UnknownKey(_))));
    }

    /// Reproduced independently with Python's `cryptography` (HKDF-SHA256 + AESGCM) from the
    /// layout in the module docs.
    #[test]
    fn wire_format_is_pinned() {
        let r = fixed_ring();
        let e = r.seal_with(&RID, TOKEN, None, b"hi", fixed_random()).expect("seal");
        assert_eq!(
            HEXLOWER.encode(&e),
            concat!(
                "01", // version 1
                "01", // AES-256-GCM
                "0c",
                "656e762d6364386235313735", // key id "env-cd8b5175"
                "00",                       // no passphrase
                "0101010101010101010101010101010101010101010101010101010101010101", // HKDF salt
                "030303030303030303030303", // nonce
                "99195ca2484aa63b922357b49fe4ce3aa6f4", // ciphertext ‖ tag
            )
        );
    }

    #[test]
    fn wire_format_with_passphrase_is_pinned() {
        let r = fixed_ring();
        let e = r
            .seal_with(&RID, TOKEN, Some(Guard::Passphrase(b"pw", FAST)), b"hi", fixed_random())
            .expect("seal");
        assert_eq!(
            HEXLOWER.encode(&e),
            concat!(
                "0101",
                "0c",
                "656e762d6364386235313735",
                "01",
                "00000040",
                "00000001",
                "00000001",                         // Argon2id m, t, p
                "02020202020202020202020202020202", // Argon2 salt
                "0101010101010101010101010101010101010101010101010101010101010101", // HKDF salt
                "030303030303030303030303",         // nonce
                "e6ccf3b89750c32dec76f54d9e9fd8bd86de", // ciphertext ‖ tag
            )
        );
        assert_eq!(&r.open(&RID, TOKEN, Some(b"pw"), &e).expect("open")[..], b"hi");
    }

    #[test]
    fn key_proof_guards_a_zero_knowledge_envelope() {
        let r = ring();
        let proof = [9u8; 32];
        let guard = Guard::KeyProof { proof: &proof, client_passphrase: true };
        let e = r.seal(&RID, TOKEN, Some(guard), b"client ciphertext").expect("seal");
        let kind = Envelope::parse(&e).expect("parse").kind();
        assert_eq!(kind, EnvelopeKind::ZeroKnowledge { client_passphrase: true });
        assert_eq!(&r.open(&RID, TOKEN, Some(&proof), &e).expect("open")[..], b"client ciphertext");
        let mut wrong = proof;
        wrong[31] ^= 1;
        assert_eq!(r.open(&RID, TOKEN, Some(&wrong), &e), Err(OpenError::Failed));
        assert_eq!(r.open(&RID, TOKEN, None, &e), Err(OpenError::Failed));
        assert_eq!(r.open(&RID, TOKEN, Some(b"short"), &e), Err(OpenError::Failed));
        // The proof alone (a guessed token) opens nothing either.
        assert_eq!(r.open(&RID, b"k3jtokem", Some(&proof), &e), Err(OpenError::Failed));
    }

    #[test]
    fn wire_format_with_key_proof_is_pinned() {
        let r = fixed_ring();
        let guard = Guard::KeyProof { proof: &[4u8; 32], client_passphrase: false };
        let e = r.seal_with(&RID, TOKEN, Some(guard), b"hi", fixed_random()).expect("seal");
        let hex = HEXLOWER.encode(&e);
        assert_eq!(
            &hex[..hex.len() - 36],
            concat!(
                "0101",
                "0c",
                "656e762d6364386235313735",
                "02",                                                               // key proof
                "00",                                                               // no client passphrase
                "0101010101010101010101010101010101010101010101010101010101010101", // HKDF salt
                "030303030303030303030303",                                         // nonce
            )
        );
        // Ciphertext ‖ tag, reproduced with Python's `cryptography` from the layout above.
        assert_eq!(&hex[hex.len() - 36..], "a1403d5c78cb3c22744561f8a20b89cb4b28");
    }
}
