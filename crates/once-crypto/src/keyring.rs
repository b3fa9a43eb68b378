//! The master-key ring and its file.
//!
//! Lifecycle (KISA 암호키 수명주기: 준비 → 운영 → 정지 → 폐기):
//! `pending` → `active` → `decrypt-only` → `destroyed`. Exactly one key is active and seals new
//! records; `decrypt-only` keys still open the records that name them; a destroyed key's material
//! is gone, so its records can never be opened again (crypto-shredding).
//!
//! The file is JSON, written atomically (temp file + rename) with mode 0600. Material is base64.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use data_encoding::{BASE64, HEXLOWER};
use rand::Rng;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use crate::envelope::AeadAlgorithm;

/// A master key's id, as named in every envelope it sealed. `[a-z0-9-]{1,64}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(String);

impl KeyId {
    pub fn parse(s: &str) -> Option<Self> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        ok.then(|| KeyId(s.to_owned()))
    }

    fn random() -> Self {
        let mut b = [0u8; 4];
        OsRng.fill(&mut b);
        KeyId(HEXLOWER.encode(&b))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(&self.0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyState {
    /// Generated, not used yet (준비).
    Pending,
    /// Seals new records (운영). Exactly one.
    Active,
    /// Opens old records only (정지).
    DecryptOnly,
    /// Material erased (폐기).
    Destroyed,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Pending => "pending",
            KeyState::Active => "active",
            KeyState::DecryptOnly => "decrypt-only",
            KeyState::Destroyed => "destroyed",
        }
    }
}

/// 256 bits of master-key material. Zeroized on drop, never printed.
#[derive(Clone)]
pub struct MasterKey(Zeroizing<[u8; 32]>);

impl MasterKey {
    pub fn generate() -> Self {
        let mut k = Zeroizing::new([0u8; 32]);
        OsRng.fill(&mut k[..]);
        MasterKey(k)
    }

    /// From 32 raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let mut k = Zeroizing::new([0u8; 32]);
        if bytes.len() != 32 {
            return None;
        }
        k.copy_from_slice(bytes);
        Some(MasterKey(k))
    }

    /// From base64 text (as in `ONCE_MASTER_KEY`); surrounding whitespace is ignored.
    pub fn from_base64(text: &str) -> Option<Self> {
        let bytes = Zeroizing::new(BASE64.decode(text.trim().as_bytes()).ok()?);
        Self::from_bytes(&bytes)
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

struct Entry {
    id: KeyId,
    state: KeyState,
    created_at: i64,
    material: Option<MasterKey>,
}

/// What `once keys list` shows: never the material.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyInfo {
    pub id: KeyId,
    pub state: KeyState,
    pub created_at: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    #[error("cannot read key ring {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write key ring {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("key ring {path} is not valid: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("key ring {path} can be read by other users (mode {mode:o}); run `chmod 600 {path}` first")]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("no key with id {0}")]
    UnknownKey(String),
    #[error("key {id} is {state}; {hint}")]
    BadTransition { id: KeyId, state: &'static str, hint: &'static str },
}

/// Why a key ring does not fit a store ([`KeyRing::check_registry`]).
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(
        "the store holds records sealed under master key {0}, which this key ring does not have. \
         Every instance sharing a store needs the same keys (one key ring file, or the same \
         ONCE_MASTER_KEY_FILE); if this instance's key ring was lost, restore it from backup"
    )]
    Missing(String),
    #[error(
        "master key {0} in this key ring is not the key of that id the store's records were sealed \
         under; use the key ring (or ONCE_MASTER_KEY_FILE) the other instances use"
    )]
    Different(String),
}

fn fingerprint(key: &MasterKey) -> [u8; 32] {
    crate::lookup_hash("master-key-fingerprint", key.bytes())
}

#[derive(Serialize, Deserialize)]
struct FileEntry {
    id: String,
    state: KeyState,
    created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    material: Option<String>,
}

impl Drop for FileEntry {
    fn drop(&mut self) {
        if let Some(m) = self.material.as_mut() {
            m.zeroize();
        }
    }
}

#[derive(Serialize, Deserialize)]
struct FileRing {
    version: u32,
    keys: Vec<FileEntry>,
}

/// The set of master keys. Cheap to share behind an `Arc`; read-only while serving.
///
/// The ring also names the AEAD that new envelopes are sealed with (AES-256-GCM unless
/// [`KeyRing::with_algorithm`] says otherwise). It is a setting of the running ring, not stored
/// in the key ring file: opening follows each envelope's own header.
pub struct KeyRing {
    entries: Vec<Entry>,
    algorithm: AeadAlgorithm,
    pub(crate) kdf_memory: crate::envelope::KdfMemory,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing").field("algorithm", &self.algorithm).field("keys", &self.list()).finish()
    }
}

impl KeyRing {
    fn with_entries(entries: Vec<Entry>) -> Self {
        KeyRing { entries, algorithm: AeadAlgorithm::default(), kdf_memory: Default::default() }
    }

    /// The same ring, sealing new envelopes with `algorithm` (`crypto.algorithm`). Envelopes
    /// sealed under any algorithm still open.
    pub fn with_algorithm(mut self, algorithm: AeadAlgorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// The AEAD new envelopes are sealed with.
    pub fn algorithm(&self) -> AeadAlgorithm {
        self.algorithm
    }

    /// A new ring holding one fresh active key.
    pub fn generate_new(now: i64) -> Self {
        KeyRing::with_entries(vec![Entry {
            id: KeyId::random(),
            state: KeyState::Active,
            created_at: now,
            material: Some(MasterKey::generate()),
        }])
    }

    /// A ring of one active key given from outside (env or `*_FILE`). Its id is derived from the
    /// key, so every instance given the same key names it the same way.
    pub fn from_single_key(key: MasterKey) -> Self {
        let digest = crate::lookup_hash("master-key-id", key.bytes());
        let id = KeyId(format!("env-{}", HEXLOWER.encode(&digest[..4])));
        KeyRing::with_entries(vec![Entry { id, state: KeyState::Active, created_at: 0, material: Some(key) }])
    }

    /// Loads the ring from `path`, or creates it (one active key, mode 0600) if the file does not
    /// exist. Returns whether it was created.
    pub fn load_or_create(path: &Path, now: i64) -> Result<(Self, bool), KeyRingError> {
        match fs::metadata(path) {
            Ok(_) => Ok((Self::load(path)?, false)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let ring = Self::generate_new(now);
                ring.save(path)?;
                Ok((ring, true))
            }
            Err(source) => Err(KeyRingError::Read { path: path.to_owned(), source }),
        }
    }

    pub fn load(path: &Path) -> Result<Self, KeyRingError> {
        let read_err = |source| KeyRingError::Read { path: path.to_owned(), source };
        let meta = fs::metadata(path).map_err(read_err)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(KeyRingError::TooOpen { path: path.to_owned(), mode });
            }
        }
        let _ = meta;
        let text = Zeroizing::new(fs::read_to_string(path).map_err(read_err)?);
        let invalid = |reason: String| KeyRingError::Invalid { path: path.to_owned(), reason };
        let file: FileRing = serde_json::from_str(&text)
            // Position only: serde_json's own message can quote the offending value, and in this
            // file a value may be key material.
            .map_err(|e| invalid(format!("malformed JSON at line {} column {}", e.line(), e.column())))?;
        if file.version != 1 {
            return Err(invalid(format!("unsupported version {}", file.version)));
        }
        let mut entries = Vec::with_capacity(file.keys.len());
        for fe in &file.keys {
            let id = KeyId::parse(&fe.id).ok_or_else(|| invalid(format!("bad key id {:?}", fe.id)))?;
            let material = match (&fe.material, fe.state) {
                (None, KeyState::Destroyed) => None,
                (Some(_), KeyState::Destroyed) => {
                    return Err(invalid(format!("destroyed key {id} still has material")));
                }
                (None, _) => return Err(invalid(format!("key {id} has no material"))),
                (Some(m), _) => Some(
                    MasterKey::from_base64(m)
                        .ok_or_else(|| invalid(format!("key {id}: material is not 32 bytes of base64")))?,
                ),
            };
            if entries.iter().any(|e: &Entry| e.id == id) {
                return Err(invalid(format!("duplicate key id {id}")));
            }
            entries.push(Entry { id, state: fe.state, created_at: fe.created_at, material });
        }
        let active = entries.iter().filter(|e| e.state == KeyState::Active).count();
        if active > 1 {
            return Err(invalid(format!("{active} keys are active; exactly one may be")));
        }
        Ok(KeyRing::with_entries(entries))
    }

    /// Writes the ring atomically: a 0600 temp file beside it, fsync, rename, fsync the directory.
    pub fn save(&self, path: &Path) -> Result<(), KeyRingError> {
        let write_err = |source| KeyRingError::Write { path: path.to_owned(), source };
        let file = FileRing {
            version: 1,
            keys: self
                .entries
                .iter()
                .map(|e| FileEntry {
                    id: e.id.0.clone(),
                    state: e.state,
                    created_at: e.created_at,
                    material: e.material.as_ref().map(|m| BASE64.encode(m.bytes())),
                })
                .collect(),
        };
        let text = Zeroizing::new(
            serde_json::to_string_pretty(&file)
                .map_err(|e| write_err(std::io::Error::other(e.to_string())))?,
        );
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(write_err)?;
        let tmp = dir.join(format!(
            ".{}.tmp-{}",
            path.file_name().and_then(|n| n.to_str()).unwrap_or("keyring"),
            std::process::id()
        ));
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let result = (|| {
            let mut f = opts.open(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.write_all(b"\n")?;
            f.sync_all()?;
            fs::rename(&tmp, path)?;
            if let Ok(d) = fs::File::open(dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result.map_err(write_err)
    }

    pub fn list(&self) -> Vec<KeyInfo> {
        self.entries
            .iter()
            .map(|e| KeyInfo { id: e.id.clone(), state: e.state, created_at: e.created_at })
            .collect()
    }

    /// Adds a new key in state `pending` (or `active` if the ring has no active key).
    pub fn generate(&mut self, now: i64) -> KeyId {
        let mut id = KeyId::random();
        while self.entries.iter().any(|e| e.id == id) {
            id = KeyId::random();
        }
        let state = if self.active_entry().is_some() { KeyState::Pending } else { KeyState::Active };
        self.entries.push(Entry {
            id: id.clone(),
            state,
            created_at: now,
            material: Some(MasterKey::generate()),
        });
        id
    }

    fn entry_mut(&mut self, id: &str) -> Result<&mut Entry, KeyRingError> {
        self.entries.iter_mut().find(|e| e.id.0 == id).ok_or_else(|| KeyRingError::UnknownKey(id.to_owned()))
    }

    /// Makes a pending key the active one; the previously active key becomes decrypt-only.
    pub fn activate(&mut self, id: &str) -> Result<(), KeyRingError> {
        let e = self.entry_mut(id)?;
        match e.state {
            KeyState::Active => return Ok(()),
            KeyState::Pending => {}
            state => {
                return Err(KeyRingError::BadTransition {
                    id: e.id.clone(),
                    state: state.as_str(),
                    hint: "only a pending key can be activated; generate a new one",
                });
            }
        }
        for other in &mut self.entries {
            if other.state == KeyState::Active {
                other.state = KeyState::DecryptOnly;
            }
        }
        self.entry_mut(id)?.state = KeyState::Active;
        Ok(())
    }

    /// Stops a key from sealing: pending → decrypt-only (never used) or active → decrypt-only.
    /// Retiring the active key leaves the ring without one; activate another first.
    pub fn retire(&mut self, id: &str) -> Result<(), KeyRingError> {
        let e = self.entry_mut(id)?;
        match e.state {
            KeyState::DecryptOnly => Ok(()),
            KeyState::Pending => {
                e.state = KeyState::DecryptOnly;
                Ok(())
            }
            KeyState::Active => Err(KeyRingError::BadTransition {
                id: e.id.clone(),
                state: "active",
                hint: "generate and activate another key first (that retires this one)",
            }),
            KeyState::Destroyed => Err(KeyRingError::BadTransition {
                id: e.id.clone(),
                state: "destroyed",
                hint: "it can no longer change state",
            }),
        }
    }

    /// Erases a key's material. Records sealed under it can never be opened again.
    pub fn destroy(&mut self, id: &str) -> Result<(), KeyRingError> {
        let e = self.entry_mut(id)?;
        match e.state {
            KeyState::Destroyed => Ok(()),
            KeyState::Active => Err(KeyRingError::BadTransition {
                id: e.id.clone(),
                state: "active",
                hint: "activate another key first, then retire and destroy this one",
            }),
            KeyState::Pending | KeyState::DecryptOnly => {
                e.state = KeyState::Destroyed;
                e.material = None; // MasterKey zeroizes on drop
                Ok(())
            }
        }
    }

    fn active_entry(&self) -> Option<&Entry> {
        self.entries.iter().find(|e| e.state == KeyState::Active)
    }

    /// The active key, for sealing.
    pub(crate) fn active(&self) -> Option<(&KeyId, &MasterKey)> {
        let e = self.active_entry()?;
        e.material.as_ref().map(|m| (&e.id, m))
    }

    /// The id of the active key, if any.
    pub fn active_id(&self) -> Option<&KeyId> {
        self.active().map(|(id, _)| id)
    }

    /// `(id, fingerprint)` of the active key, the one new records are sealed under, for the
    /// store's key registry. The fingerprint identifies the key material without revealing it.
    pub fn sealing_fingerprint(&self) -> Option<(String, [u8; 32])> {
        self.active().map(|(id, key)| (id.0.clone(), fingerprint(key)))
    }

    /// Checks a store's key registry (the keys its records were sealed under, recorded by every
    /// instance that used it) against this ring: each must be in this ring (a destroyed key
    /// counts: its records are meant to stay shut) and, where the ring still holds its material,
    /// be the same key.
    pub fn check_registry(&self, registered: &[(String, [u8; 32])]) -> Result<(), RegistryError> {
        for (id, recorded) in registered {
            match self.entries.iter().find(|e| &e.id.0 == id) {
                None => return Err(RegistryError::Missing(id.clone())),
                Some(Entry { material: Some(key), .. }) if fingerprint(key) != *recorded => {
                    return Err(RegistryError::Different(id.clone()));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// A key for opening: `Ok(None)` if it was destroyed.
    pub(crate) fn for_open(&self, id: &str) -> Option<Option<&MasterKey>> {
        self.entries.iter().find(|e| e.id.0 == id).map(|e| e.material.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_check_wants_every_recorded_key_with_the_same_material() {
        let mut ring = KeyRing::generate_new(1);
        let (first, print) = ring.sealing_fingerprint().expect("active key");
        assert_ne!(&print[..], ring.active().expect("active").1.bytes(), "a hash, not the key");
        assert!(ring.check_registry(&[]).is_ok());
        assert!(ring.check_registry(&[(first.clone(), print)]).is_ok());

        let stranger = KeyRing::generate_new(1).sealing_fingerprint().expect("active");
        assert!(
            matches!(ring.check_registry(std::slice::from_ref(&stranger)), Err(RegistryError::Missing(id)) if id == stranger.0)
        );
        assert!(matches!(
            ring.check_registry(&[(first.clone(), stranger.1)]),
            Err(RegistryError::Different(id)) if id == first
        ));

        // Rotated: the old key, now decrypt-only and then destroyed, still satisfies the registry.
        let second = ring.generate(2);
        ring.activate(second.as_str()).expect("activate");
        assert_eq!(ring.sealing_fingerprint().map(|(id, _)| id), Some(second.as_str().to_owned()));
        assert!(ring.check_registry(&[(first.clone(), print)]).is_ok());
        ring.destroy(&first).expect("destroy");
        assert!(ring.check_registry(&[(first, print)]).is_ok());

        // ONCE_MASTER_KEY on two instances: same key, same id, same fingerprint.
        let key = || MasterKey::from_bytes(&[7u8; 32]).expect("key");
        let (a, b) = (KeyRing::from_single_key(key()), KeyRing::from_single_key(key()));
        assert!(b.check_registry(&[a.sealing_fingerprint().expect("active")]).is_ok());
    }

    #[test]
    fn lifecycle_transitions() {
        let mut ring = KeyRing::generate_new(1);
        let first = ring.active_id().cloned().expect("active");
        let second = ring.generate(2);
        assert_eq!(ring.list()[1].state, KeyState::Pending);
        assert!(matches!(ring.destroy(first.as_str()), Err(KeyRingError::BadTransition { .. })));
        assert!(matches!(ring.retire(first.as_str()), Err(KeyRingError::BadTransition { .. })));
        ring.activate(second.as_str()).expect("activate");
        assert_eq!(ring.active_id(), Some(&second));
        assert_eq!(ring.list()[0].state, KeyState::DecryptOnly);
        assert!(matches!(ring.activate(first.as_str()), Err(KeyRingError::BadTransition { .. })));
        ring.destroy(first.as_str()).expect("destroy");
        assert_eq!(ring.list()[0].state, KeyState::Destroyed);
        assert!(matches!(ring.for_open(first.as_str()), Some(None)));
        assert!(matches!(ring.activate("nope"), Err(KeyRingError::UnknownKey(_))));
    }

    #[test]
    fn file_round_trip_is_0600_and_keeps_no_destroyed_material() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keyring.json");
        let (mut ring, created) = KeyRing::load_or_create(&path, 10).expect("create");
        assert!(created);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let old = ring.active_id().cloned().expect("active");
        let new = ring.generate(11);
        ring.activate(new.as_str()).expect("activate");
        ring.destroy(old.as_str()).expect("destroy");
        ring.save(&path).expect("save");
        let (again, created) = KeyRing::load_or_create(&path, 12).expect("load");
        assert!(!created);
        assert_eq!(again.list(), ring.list());
        let text = fs::read_to_string(&path).expect("read");
        assert_eq!(text.matches("\"material\"").count(), 1);
    }

    #[test]
    fn world_readable_ring_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keyring.json");
        KeyRing::generate_new(1).save(&path).expect("save");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
            assert!(matches!(KeyRing::load(&path), Err(KeyRingError::TooOpen { .. })));
        }
    }

    #[test]
    fn parse_errors_never_quote_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("keyring.json");
        let secret = "c2VjcmV0LWtleS1tYXRlcmlhbC10aGF0LW11c3Qtbm90LWxlYWs=";
        let text =
            format!(r#"{{"version":1,"keys":[{{"id":"k1","state":"active","created_at":"{secret}"}}]}}"#);
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        opts.open(&path).and_then(|mut f| f.write_all(text.as_bytes())).expect("write");
        let err = KeyRing::load(&path).expect_err("malformed").to_string();
        assert!(!err.contains(secret), "{err}");
        assert!(err.contains("line 1"), "{err}");
    }

    #[test]
    fn debug_never_shows_material() {
        let ring = KeyRing::generate_new(1);
        let (_, key) = ring.active().expect("active");
        let b64 = BASE64.encode(key.bytes());
        assert!(!format!("{ring:?}").contains(&b64));
        assert_eq!(format!("{key:?}"), "MasterKey([redacted])");
    }
}
