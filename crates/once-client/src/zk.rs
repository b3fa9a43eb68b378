//! The client side of zero-knowledge mode, in the browser's format (`once_crypto::zk`, mirrored
//! by the web UI's `zk.js`): encrypt before upload, with the key only in the link's `#fragment`;
//! prove the key (and passphrase) to reveal; decrypt what the reveal returns.
//!
//! Passphrases are normalised to Unicode NFC first, as `zk.js` does, so a passphrase typed on
//! one system opens a secret made on another. With a passphrase every call here runs PBKDF2
//! (600,000 iterations): call them off async executor threads (`spawn_blocking`).

use std::borrow::Cow;

use data_encoding::BASE64URL_NOPAD;
use once_crypto::zk::{self, FragmentKey};
use zeroize::Zeroizing;

pub use once_crypto::zk::ZkError;

/// A sealed secret: what to upload (`ciphertext`, `key_proof`) and the fragment for the link.
pub struct Sealed {
    /// The key, for after the `#` of the link (43 base64url characters). Never sent.
    pub fragment: Zeroizing<String>,
    /// The blob to upload, base64url without padding.
    pub ciphertext: String,
    /// The key proof to upload, base64url without padding.
    pub key_proof: String,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealed").field("ciphertext_len", &self.ciphertext.len()).finish_non_exhaustive()
    }
}

/// `passphrase` in NFC; an empty passphrase is none.
fn normalised(passphrase: Option<&str>) -> Option<Zeroizing<String>> {
    let p = passphrase.filter(|p| !p.is_empty())?;
    Some(match icu_normalizer::ComposingNormalizerBorrowed::new_nfc().normalize(p) {
        Cow::Borrowed(same) => Zeroizing::new(same.to_owned()),
        Cow::Owned(changed) => Zeroizing::new(changed),
    })
}

/// Encrypts `plaintext` under a fresh key (and `passphrase`, if any).
pub fn seal(plaintext: &[u8], passphrase: Option<&str>) -> Result<Sealed, ZkError> {
    let key = FragmentKey::generate();
    let passphrase = normalised(passphrase);
    let (blob, proof) = zk::seal(&key, passphrase.as_deref().map(String::as_str), plaintext)?;
    Ok(Sealed {
        fragment: key.to_fragment(),
        ciphertext: BASE64URL_NOPAD.encode(&blob),
        key_proof: proof.to_base64url(),
    })
}

/// The key proof a reveal presents, from the link's fragment and the passphrase (if any).
pub fn key_proof(fragment: &str, passphrase: Option<&str>) -> Result<String, ZkError> {
    let key = FragmentKey::from_fragment(fragment)?;
    let passphrase = normalised(passphrase);
    Ok(zk::key_proof(&key, passphrase.as_deref().map(String::as_str)).to_base64url())
}

/// Decrypts the `ciphertext` (base64url) a reveal returned.
pub fn open(
    fragment: &str,
    passphrase: Option<&str>,
    ciphertext: &str,
) -> Result<Zeroizing<Vec<u8>>, ZkError> {
    let key = FragmentKey::from_fragment(fragment)?;
    let blob = BASE64URL_NOPAD.decode(ciphertext.trim().as_bytes()).map_err(|_| ZkError::Malformed)?;
    let passphrase = normalised(passphrase);
    zk::open(&key, passphrase.as_deref().map(String::as_str), &blob)
}

/// Whether a fragment is well formed (43 base64url characters decoding to 32 bytes).
pub fn fragment_is_valid(fragment: &str) -> bool {
    FragmentKey::from_fragment(fragment).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_then_open() {
        let s = seal(b"s3cr3t", None).expect("seal");
        assert!(fragment_is_valid(&s.fragment));
        assert_eq!(&open(&s.fragment, None, &s.ciphertext).expect("open")[..], b"s3cr3t");
        assert_eq!(key_proof(&s.fragment, None).expect("proof"), s.key_proof);
    }

    #[test]
    fn passphrases_are_nfc_normalised() {
        // "é" precomposed (NFC) and as e + combining acute (NFD) are one passphrase.
        let s = seal(b"x", Some("caf\u{e9}")).expect("seal");
        assert_eq!(&open(&s.fragment, Some("cafe\u{301}"), &s.ciphertext).expect("open")[..], b"x");
        assert_eq!(key_proof(&s.fragment, Some("cafe\u{301}")).expect("proof"), s.key_proof);
        assert_eq!(open(&s.fragment, Some("cafe"), &s.ciphertext).err(), Some(ZkError::Failed));
        assert_eq!(open(&s.fragment, None, &s.ciphertext).err(), Some(ZkError::Failed));
    }

    #[test]
    fn empty_passphrase_is_none() {
        let s = seal(b"x", Some("")).expect("seal");
        assert_eq!(key_proof(&s.fragment, None).expect("proof"), s.key_proof);
    }

    #[test]
    fn bad_fragments_are_refused() {
        assert!(!fragment_is_valid("short"));
        assert_eq!(key_proof("short", None).err(), Some(ZkError::Malformed));
    }
}
