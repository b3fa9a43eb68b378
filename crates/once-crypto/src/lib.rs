//! Cryptography of Once: link tokens, the master-key ring, and the envelope that seals every secret.
//!
//! # Scheme (server-side mode)
//! A secret is sealed with an AEAD (AES-256-GCM by default; ARIA-256-GCM or XChaCha20-Poly1305 by
//! choice, see [`AeadAlgorithm`]) under a key used for that one record only:
//!
//! ```text
//! ikm       = master_key(32) ‖ token ‖ [Argon2id(passphrase, salt16, m,t,p)(32)]
//! aead_key  = HKDF-SHA256(salt = random 32 bytes, ikm, info = "once/v1/aead-key" ‖ alg ‖ key_id)
//! aad       = "once/envelope/v1" ‖ header ‖ record_id(32)
//! envelope  = header ‖ AEAD[alg](aead_key, nonce, plaintext, aad)
//! ```
//!
//! * The **link token** (the `secret_key` in the link) is a key factor: the store keeps only
//!   `record_id = SHA-256(domain ‖ token)`, so a database dump plus the master key opens nothing.
//! * The **passphrase** is a key factor too (not a gate): without it, the AEAD tag fails.
//! * The **header** names the format version, the algorithm, the master-key id and the KDF
//!   parameters, and is authenticated together with the record id: an envelope can't be moved to
//!   another record, downgraded, or pointed at another key.
//! * Master keys have a lifecycle ([`KeyState`]): new records use the one active key; older records
//!   name theirs, so rotation needs no re-encryption; destroying a key crypto-shreds its records.
//!
//! Key material lives only in types that zeroize on drop and print as `[redacted]`. Errors say
//! nothing useful to an attacker: a wrong token, a wrong passphrase and a tampered envelope are the
//! same [`OpenError::Failed`].

mod envelope;
mod keyring;
pub mod password;
mod token;
pub mod totp;
pub mod zk;

pub use envelope::{AeadAlgorithm, Envelope, EnvelopeKind, Guard, OpenError, PassphraseParams, SealError};
pub use keyring::{KeyId, KeyInfo, KeyRing, KeyRingError, KeyState, MasterKey, RegistryError};
pub use token::{ApiKey, SessionToken, Token, VaultKey, lookup_hash};
