//! Zero-knowledge ("ZK") mode: the client encrypts a secret before upload, and the key travels only
//! in the link's `#fragment`, which browsers never send to the server.
//!
//! The browser (`crates/once-server/assets/js/zk.js`, WebCrypto) and this module produce and open
//! the exact same bytes; both are pinned by the shared vectors in
//! `crates/once-crypto/tests/zk-vectors.json`.
//!
//! # Format v1
//!
//! ```text
//! K          = 32 random bytes (OS RNG / crypto.getRandomValues); fragment = base64url-no-pad(K) (43 chars)
//! if passphrase (UTF-8 bytes, NFC-normalised by the caller):
//!     salt   = HKDF-SHA256(ikm = K, salt = empty, info = "once/zk/v1/pbkdf2-salt", L = 16)
//!     P      = PBKDF2-HMAC-SHA256(passphrase, salt, iterations = 600_000, dkLen = 32)
//!     ikm    = K ‖ P
//! else
//!     ikm    = K
//! enc_key    = HKDF-SHA256(ikm, salt = empty, info = "once/zk/v1/enc",   L = 32)
//! proof_key  = HKDF-SHA256(ikm, salt = empty, info = "once/zk/v1/proof", L = 32)
//! key_proof  = HMAC-SHA256(proof_key, "once/zk/v1/key-proof")   (32 bytes, base64url-no-pad on the wire)
//! flags      = 1 byte: bit0 = passphrase used; other bits 0 (unknown bits are rejected on open)
//! header     = 0x01 (version) ‖ flags
//! nonce      = 12 random bytes
//! blob       = header ‖ nonce ‖ AES-256-GCM(enc_key, nonce, plaintext, aad = "once/zk/v1" ‖ header)
//!              (ciphertext ‖ 16-byte tag)
//! ```
//!
//! * An empty HKDF salt is RFC 5869's "not provided": HashLen zero bytes. WebCrypto's HKDF with a
//!   zero-length salt and RustCrypto's `Hkdf::new(None, …)` agree on this (the vectors check it).
//! * The passphrase is a key factor, not a gate. Rust takes the `&str` as given (normalise to NFC
//!   before calling if it came from user input); the JavaScript side applies
//!   `passphrase.normalize("NFC")` itself. An empty passphrase is the same as none, on both sides.
//! * The header (version and flags) is authenticated as AAD, so the passphrase flag can't be
//!   flipped without the tag failing.
//! * The key proof lets the server check that a requester holds the key (and the passphrase)
//!   before it hands out (and burns) the blob, without learning anything that opens it: the proof
//!   key is an independent HKDF output.
//!
//! Key material lives only in types that zeroize on drop and print as `[redacted]`. A wrong key,
//! a wrong or missing passphrase and a tampered blob are the same [`ZkError::Failed`].
//!
//! [`split`] builds split secrets on this format: a secret whose key is cut into shares, any K
//! of which rebuild it.
//!
//! [`file`](mod@file) is the format for files (version byte 0x02): the same keys and key proof,
//! the content sealed in chunks so that it can be streamed.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use data_encoding::BASE64URL_NOPAD;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

pub mod file;
pub mod split;

/// PBKDF2-HMAC-SHA256 iterations for the passphrase (OWASP 2023); fixed by format v1.
pub const PBKDF2_ITERATIONS: u32 = 600_000;

const VERSION: u8 = 1;
const FLAG_PASSPHRASE: u8 = 0b0000_0001;
const KNOWN_FLAGS: u8 = FLAG_PASSPHRASE;
const HEADER_LEN: usize = 2;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const KEY_LEN: usize = 32;
/// base64url-no-pad length of 32 bytes.
const B64_KEY_LEN: usize = 43;

const AAD_LABEL: &[u8] = b"once/zk/v1";
const INFO_PBKDF2_SALT: &[u8] = b"once/zk/v1/pbkdf2-salt";
const INFO_ENC: &[u8] = b"once/zk/v1/enc";
const INFO_PROOF: &[u8] = b"once/zk/v1/proof";
const PROOF_MESSAGE: &[u8] = b"once/zk/v1/key-proof";

/// Why a ZK blob, fragment or proof was refused. Never carries key material.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone, Copy)]
pub enum ZkError {
    /// Not a well-formed fragment, proof or blob (bad length, alphabet or flag bits).
    #[error("malformed zero-knowledge data")]
    Malformed,
    /// The blob names a format version this build doesn't know.
    #[error("unsupported zero-knowledge format version")]
    UnsupportedVersion,
    /// Wrong key, wrong or missing passphrase, or a modified blob: indistinguishable.
    #[error("the secret did not open")]
    Failed,
}

/// The 32-byte key that travels in the link's `#fragment`.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct FragmentKey([u8; KEY_LEN]);

impl FragmentKey {
    /// A fresh key from the OS RNG.
    pub fn generate() -> Self {
        let mut k = FragmentKey([0u8; KEY_LEN]);
        OsRng.fill_bytes(&mut k.0);
        k
    }

    /// Parses a fragment: exactly 43 base64url characters, no padding, canonical trailing bits.
    pub fn from_fragment(fragment: &str) -> Result<Self, ZkError> {
        decode_32(fragment).map(FragmentKey)
    }

    /// The fragment text (43 base64url-no-pad characters) to put after `#` in the link.
    pub fn to_fragment(&self) -> Zeroizing<String> {
        Zeroizing::new(BASE64URL_NOPAD.encode(&self.0))
    }
}

impl std::fmt::Debug for FragmentKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FragmentKey([redacted])")
    }
}

/// Proof of holding the fragment key (and the passphrase, if any), sent at create and at reveal.
/// Compares in constant time.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct KeyProof([u8; 32]);

impl KeyProof {
    /// 43 base64url-no-pad characters.
    pub fn to_base64url(&self) -> String {
        BASE64URL_NOPAD.encode(&self.0)
    }

    /// Parses exactly 43 base64url-no-pad characters.
    pub fn from_base64url(text: &str) -> Result<Self, ZkError> {
        decode_32(text).map(KeyProof)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl PartialEq for KeyProof {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for KeyProof {}

impl std::fmt::Debug for KeyProof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyProof([redacted])")
    }
}

/// Decodes exactly 43 base64url-no-pad characters into 32 bytes, without leaving copies behind.
fn decode_32(text: &str) -> Result<[u8; 32], ZkError> {
    if text.len() != B64_KEY_LEN {
        return Err(ZkError::Malformed);
    }
    let mut out = Zeroizing::new([0u8; 32]);
    // 43 characters decode to exactly 32 bytes, so `out` has the length `decode_mut` wants;
    // an invalid character or non-canonical trailing bits are an error.
    let n = BASE64URL_NOPAD.decode_mut(text.as_bytes(), &mut out[..]).map_err(|_| ZkError::Malformed)?;
    if n != 32 {
        return Err(ZkError::Malformed);
    }
    Ok(*out)
}

/// The keys derived from the fragment key and the passphrase.
struct Derived {
    enc_key: Zeroizing<[u8; 32]>,
    proof: KeyProof,
}

/// An empty passphrase is no passphrase.
fn effective(passphrase: Option<&str>) -> Option<&str> {
    passphrase.filter(|p| !p.is_empty())
}

fn hkdf(ikm: &[u8], info: &[u8], out: &mut [u8]) {
    // Every output here is ≤ 32 bytes, far below HKDF-SHA256's 255 × 32 limit: expand can't fail.
    Hkdf::<Sha256>::new(None, ikm).expand(info, out).unwrap_or_else(|_| unreachable!("L ≤ 8160"));
}

fn derive(key: &FragmentKey, passphrase: Option<&str>) -> Derived {
    let mut ikm = Zeroizing::new([0u8; 2 * KEY_LEN]);
    ikm[..KEY_LEN].copy_from_slice(&key.0);
    let ikm_len = match effective(passphrase) {
        None => KEY_LEN,
        Some(pw) => {
            let mut salt = [0u8; 16];
            hkdf(&key.0, INFO_PBKDF2_SALT, &mut salt);
            pbkdf2::pbkdf2_hmac::<Sha256>(pw.as_bytes(), &salt, PBKDF2_ITERATIONS, &mut ikm[KEY_LEN..]);
            2 * KEY_LEN
        }
    };
    let ikm = &ikm[..ikm_len];

    let mut enc_key = Zeroizing::new([0u8; 32]);
    hkdf(ikm, INFO_ENC, &mut enc_key[..]);
    let mut proof_key = Zeroizing::new([0u8; 32]);
    hkdf(ikm, INFO_PROOF, &mut proof_key[..]);

    // HMAC takes keys of any length, so `new_from_slice` can't fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&proof_key[..])
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(PROOF_MESSAGE);
    let proof = KeyProof(mac.finalize().into_bytes().into());
    Derived { enc_key, proof }
}

fn cipher(enc_key: &[u8; 32]) -> Aes256Gcm {
    Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(enc_key))
}

fn aad(header: &[u8; HEADER_LEN]) -> [u8; AAD_LABEL.len() + HEADER_LEN] {
    let mut aad = [0u8; AAD_LABEL.len() + HEADER_LEN];
    aad[..AAD_LABEL.len()].copy_from_slice(AAD_LABEL);
    aad[AAD_LABEL.len()..].copy_from_slice(header);
    aad
}

/// Encrypts `plaintext` under `key` (and `passphrase`, if any) with a fresh random nonce.
/// Returns the blob to upload and the key proof to register with it.
///
/// With a passphrase this runs PBKDF2 with [`PBKDF2_ITERATIONS`] iterations (a fraction of a
/// second): call it off any async executor thread.
pub fn seal(
    key: &FragmentKey,
    passphrase: Option<&str>,
    plaintext: &[u8],
) -> Result<(Vec<u8>, KeyProof), ZkError> {
    let mut nonce = [0u8; NONCE_LEN];
    OsRng.fill_bytes(&mut nonce);
    seal_with_nonce(key, passphrase, plaintext, nonce)
}

/// [`seal`] with a caller-chosen nonce, for the test vectors only. Reusing a nonce under one key
/// breaks AES-GCM: never call this with anything but a fresh random nonce outside tests.
#[doc(hidden)]
pub fn seal_with_nonce(
    key: &FragmentKey,
    passphrase: Option<&str>,
    plaintext: &[u8],
    nonce: [u8; NONCE_LEN],
) -> Result<(Vec<u8>, KeyProof), ZkError> {
    let flags = if effective(passphrase).is_some() { FLAG_PASSPHRASE } else { 0 };
    let header = [VERSION, flags];
    let d = derive(key, passphrase);
    let ciphertext = cipher(&d.enc_key)
        .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad: &aad(&header) })
        // AES-GCM refuses only plaintexts over 2^36 - 32 bytes (64 GiB), which we never hold.
        .map_err(|_| ZkError::Malformed)?;
    let mut blob = Vec::with_capacity(HEADER_LEN + NONCE_LEN + ciphertext.len());
    blob.extend_from_slice(&header);
    blob.extend_from_slice(&nonce);
    blob.extend_from_slice(&ciphertext);
    Ok((blob, d.proof))
}

/// The key proof for `key` and `passphrase`: what a recipient sends before the server releases the
/// blob. Equal to the proof [`seal`] returned for the same key and passphrase.
pub fn key_proof(key: &FragmentKey, passphrase: Option<&str>) -> KeyProof {
    derive(key, passphrase).proof
}

/// Parses the header: `Ok(flags)` for a blob of a version we know, with no unknown flag bits and
/// room for a nonce and a tag.
fn parse_header(blob: &[u8]) -> Result<[u8; HEADER_LEN], ZkError> {
    match blob.first() {
        None => return Err(ZkError::Malformed),
        Some(&VERSION) => {}
        Some(_) => return Err(ZkError::UnsupportedVersion),
    }
    if blob.len() < HEADER_LEN + NONCE_LEN + TAG_LEN {
        return Err(ZkError::Malformed);
    }
    let flags = blob[1];
    if flags & !KNOWN_FLAGS != 0 {
        return Err(ZkError::Malformed);
    }
    Ok([VERSION, flags])
}

/// Whether opening `blob` needs a passphrase (its flag is authenticated, so a lie here only makes
/// [`open`] fail).
///
/// Text blobs (format v1) only: a file blob is [`ZkError::UnsupportedVersion`] here, so a file
/// can't pass for a text secret. For files, call [`file::needs_passphrase`].
pub fn blob_needs_passphrase(blob: &[u8]) -> Result<bool, ZkError> {
    Ok(parse_header(blob)?[1] & FLAG_PASSPHRASE != 0)
}

/// Decrypts a blob made by [`seal`] (or by `zk.js`). A passphrase given for a blob sealed without
/// one, or missing for a blob that needs one, is [`ZkError::Failed`] like any wrong key.
pub fn open(key: &FragmentKey, passphrase: Option<&str>, blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, ZkError> {
    let header = parse_header(blob)?;
    let needs = header[1] & FLAG_PASSPHRASE != 0;
    if needs != effective(passphrase).is_some() {
        return Err(ZkError::Failed);
    }
    let nonce = &blob[HEADER_LEN..HEADER_LEN + NONCE_LEN];
    let ciphertext = &blob[HEADER_LEN + NONCE_LEN..];
    let d = derive(key, passphrase);
    cipher(&d.enc_key)
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad: &aad(&header) })
        .map(Zeroizing::new)
        .map_err(|_| ZkError::Failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> FragmentKey {
        FragmentKey([byte; 32])
    }

    #[test]
    fn round_trip_without_passphrase() {
        let k = FragmentKey::generate();
        let (blob, proof) = seal(&k, None, b"hello").expect("seal");
        assert_eq!(blob.len(), HEADER_LEN + NONCE_LEN + 5 + TAG_LEN);
        assert_eq!(&blob[..2], &[1, 0]);
        assert!(!blob_needs_passphrase(&blob).expect("header parses"));
        assert_eq!(&open(&k, None, &blob).expect("open")[..], b"hello");
        assert_eq!(key_proof(&k, None), proof);
        // An empty passphrase is no passphrase.
        assert_eq!(&open(&k, Some(""), &blob).expect("open")[..], b"hello");
        assert_eq!(key_proof(&k, Some("")), proof);
    }

    #[test]
    fn round_trip_with_passphrase() {
        let k = FragmentKey::generate();
        let (blob, proof) = seal(&k, Some("hunter2"), b"hello").expect("seal");
        assert_eq!(&blob[..2], &[1, 1]);
        assert!(blob_needs_passphrase(&blob).expect("header parses"));
        assert_eq!(&open(&k, Some("hunter2"), &blob).expect("open")[..], b"hello");
        assert_eq!(key_proof(&k, Some("hunter2")), proof);
    }

    #[test]
    fn fresh_nonces_and_keys() {
        let k = FragmentKey::generate();
        let (a, _) = seal(&k, None, b"x").expect("seal");
        let (b, _) = seal(&k, None, b"x").expect("seal");
        assert_ne!(a, b);
        assert_ne!(FragmentKey::generate().0, k.0);
    }

    #[test]
    fn wrong_key_or_passphrase_fails() {
        let k = key(7);
        let (blob, _) = seal(&k, Some("right"), b"secret").expect("seal");
        assert_eq!(open(&k, Some("wrong"), &blob), Err(ZkError::Failed));
        assert_eq!(open(&k, None, &blob), Err(ZkError::Failed));
        assert_eq!(open(&key(8), Some("right"), &blob), Err(ZkError::Failed));

        let (plain, _) = seal(&k, None, b"secret").expect("seal");
        assert_eq!(open(&k, Some("unneeded"), &plain), Err(ZkError::Failed));
        assert_eq!(open(&key(8), None, &plain), Err(ZkError::Failed));
    }

    #[test]
    fn tampering_fails() {
        let k = key(1);
        let (blob, _) = seal(&k, None, b"secret").expect("seal");
        for i in 0..blob.len() {
            let mut t = blob.clone();
            t[i] ^= 0x01;
            let r = open(&k, None, &t);
            assert!(matches!(r, Err(ZkError::Failed | ZkError::UnsupportedVersion)), "byte {i}: {r:?}");
        }
        // Flipping the passphrase flag off a passphrase blob: the flag is in the AAD.
        let (pw_blob, _) = seal(&k, Some("pw"), b"secret").expect("seal");
        let mut t = pw_blob.clone();
        t[1] = 0;
        assert_eq!(open(&k, None, &t), Err(ZkError::Failed));
        // Truncation and extension.
        assert_eq!(open(&k, None, &blob[..blob.len() - 1]), Err(ZkError::Failed));
        let mut longer = blob.clone();
        longer.push(0);
        assert_eq!(open(&k, None, &longer), Err(ZkError::Failed));
    }

    #[test]
    fn malformed_and_unknown_versions_and_flags_are_rejected() {
        let k = key(1);
        let (blob, _) = seal(&k, None, b"").expect("seal");
        assert_eq!(blob.len(), HEADER_LEN + NONCE_LEN + TAG_LEN);
        assert!(open(&k, None, &blob).expect("open").is_empty());
        assert_eq!(open(&k, None, &[]), Err(ZkError::Malformed));
        assert_eq!(blob_needs_passphrase(&[]), Err(ZkError::Malformed));
        assert_eq!(open(&k, None, &blob[..blob.len() - 1]), Err(ZkError::Malformed));
        assert_eq!(blob_needs_passphrase(&[1, 0]), Err(ZkError::Malformed));

        let mut v2 = blob.clone();
        v2[0] = 2;
        assert_eq!(open(&k, None, &v2), Err(ZkError::UnsupportedVersion));
        assert_eq!(blob_needs_passphrase(&v2), Err(ZkError::UnsupportedVersion));
        for bit in 1..8 {
            let mut f = blob.clone();
            f[1] |= 1 << bit;
            assert_eq!(open(&k, None, &f), Err(ZkError::Malformed), "bit {bit}");
            assert_eq!(blob_needs_passphrase(&f), Err(ZkError::Malformed), "bit {bit}");
        }
    }

    #[test]
    fn proofs_depend_on_key_and_passphrase() {
        let k = key(3);
        let none = key_proof(&k, None);
        let a = key_proof(&k, Some("a"));
        let b = key_proof(&k, Some("b"));
        assert_ne!(none, a);
        assert_ne!(a, b);
        assert_ne!(none, key_proof(&key(4), None));
        assert_eq!(a, key_proof(&k, Some("a")));
    }

    #[test]
    fn fragment_and_proof_encoding() {
        let k = FragmentKey::generate();
        let f = k.to_fragment();
        assert_eq!(f.len(), 43);
        assert_eq!(FragmentKey::from_fragment(&f).expect("valid fragment").0, k.0);

        let ok = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
        assert_eq!(
            FragmentKey::from_fragment(ok).expect("valid fragment").0,
            std::array::from_fn(|i| i as u8)
        );
        for bad in [
            "",
            &ok[..42],
            &format!("{ok}A"),
            &format!("{ok}="),
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh+", // standard alphabet
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9", // non-canonical trailing bits
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh.", // not base64
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdH\u{e9}", // 43 bytes, non-ASCII
        ] {
            assert_eq!(FragmentKey::from_fragment(bad).err(), Some(ZkError::Malformed), "{bad:?}");
            assert_eq!(KeyProof::from_base64url(bad).err(), Some(ZkError::Malformed), "{bad:?}");
        }

        let p = key_proof(&k, None);
        let text = p.to_base64url();
        assert_eq!(text.len(), 43);
        let back = KeyProof::from_base64url(&text).expect("valid proof");
        assert_eq!(back, p);
        assert_eq!(back.as_bytes(), p.as_bytes());
    }

    #[test]
    fn debug_output_is_redacted() {
        let k = key(0x41);
        assert_eq!(format!("{k:?}"), "FragmentKey([redacted])");
        assert_eq!(format!("{:?}", key_proof(&k, None)), "KeyProof([redacted])");
        assert!(!format!("{:?}", ZkError::Failed).contains("41"));
    }

    #[derive(serde::Deserialize)]
    struct VectorFile {
        format: String,
        pbkdf2_iterations: u32,
        vectors: Vec<Vector>,
    }

    #[derive(serde::Deserialize)]
    struct Vector {
        name: String,
        fragment: String,
        passphrase: Option<String>,
        nonce_hex: String,
        plaintext_utf8: String,
        blob_b64url: String,
        key_proof_b64url: String,
    }

    #[test]
    fn vectors() {
        let file: VectorFile =
            serde_json::from_str(include_str!("../tests/zk-vectors.json")).expect("vector file parses");
        assert_eq!(file.format, "once-zk-v1");
        assert_eq!(file.pbkdf2_iterations, PBKDF2_ITERATIONS);
        assert!(file.vectors.len() >= 4);
        for v in &file.vectors {
            let name = &v.name;
            let k = FragmentKey::from_fragment(&v.fragment).expect("valid fragment");
            assert_eq!(&*k.to_fragment(), &v.fragment, "{name}");
            let nonce: [u8; 12] = data_encoding::HEXLOWER_PERMISSIVE
                .decode(v.nonce_hex.as_bytes())
                .expect("nonce_hex is hex")
                .try_into()
                .expect("nonce_hex is 12 bytes");
            let pw = v.passphrase.as_deref();
            let plaintext = v.plaintext_utf8.as_bytes();

            let (blob, proof) = seal_with_nonce(&k, pw, plaintext, nonce).expect("seal");
            assert_eq!(BASE64URL_NOPAD.encode(&blob), v.blob_b64url, "{name}: blob");
            assert_eq!(proof.to_base64url(), v.key_proof_b64url, "{name}: proof from seal");
            assert_eq!(key_proof(&k, pw).to_base64url(), v.key_proof_b64url, "{name}: key_proof");

            let expected = BASE64URL_NOPAD.decode(v.blob_b64url.as_bytes()).expect("valid encoding");
            assert_eq!(blob_needs_passphrase(&expected).expect("header parses"), pw.is_some(), "{name}");
            assert_eq!(&open(&k, pw, &expected).expect("open")[..], plaintext, "{name}: open");
        }
    }
}
