//! Capability tokens (link keys, API keys) and their lookup hashes.

use rand::rngs::OsRng;
use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

const BASE36: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// Length of a link token: 50 base36 characters = 258 bits from the OS RNG.
pub const TOKEN_LEN: usize = 50;

/// `len` uniform base36 characters from the OS RNG, in as few system calls as possible: bytes
/// below 252 (= 7 × 36) map to a character by `% 36`, the rest are rejected, so every character
/// carries log2(36) bits with no bias.
fn random_base36(len: usize) -> Zeroizing<String> {
    let mut s = Zeroizing::new(String::with_capacity(len));
    let mut buf = Zeroizing::new([0u8; 96]);
    while s.len() < len {
        OsRng.fill_bytes(&mut buf[..]);
        for &b in buf.iter().filter(|&&b| b < 252) {
            if s.len() == len {
                break;
            }
            s.push(BASE36[usize::from(b % 36)] as char);
        }
    }
    s
}

/// A link token: the `secret_key` or `metadata_key` of a link. Lower-case base36, 258 bits.
/// Never printed; the store sees only [`Token::lookup_id`].
#[derive(Clone, PartialEq, Eq)]
pub struct Token(Zeroizing<String>);

impl Token {
    pub fn generate() -> Self {
        Token(random_base36(TOKEN_LEN))
    }

    /// Parses a token from a link or API path. Case-insensitive; anything that is not exactly a
    /// token of ours is `None` (callers answer "unknown", the same as for a consumed secret).
    pub fn parse(s: &str) -> Option<Self> {
        if s.len() != TOKEN_LEN || !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return None;
        }
        Some(Token(Zeroizing::new(s.to_ascii_lowercase())))
    }

    /// The token text, for building the link shown to its owner.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The record id the store keys this token's record by. `kind` separates the id spaces of
    /// secrets and receipts.
    pub fn lookup_id(&self, kind: &str) -> [u8; 32] {
        lookup_hash(kind, self.0.as_bytes())
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token([redacted])")
    }
}

/// SHA-256 of a high-entropy value with a domain label, for lookups by hash (tokens, API keys).
/// A plain hash is right here: the inputs carry ≥ 200 random bits, so there is nothing to guess.
pub fn lookup_hash(kind: &str, value: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"once/lookup/v1/");
    h.update(kind.as_bytes());
    h.update([0u8]);
    h.update(value);
    h.finalize().into()
}

/// An API key: `once_` followed by 40 base36 characters (206 bits). Shown once, stored as a hash.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(Zeroizing<String>);

impl ApiKey {
    pub const PREFIX: &'static str = "once_";

    pub fn generate() -> Self {
        let mut s = Zeroizing::new(String::from(Self::PREFIX));
        s.push_str(&random_base36(40));
        ApiKey(s)
    }

    /// Accepts any non-empty printable key (OTS clients send whatever they were given); lookups
    /// by hash decide whether it is real.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        if s.is_empty() || s.len() > 256 || !s.bytes().all(|b| b.is_ascii_graphic()) {
            return None;
        }
        Some(ApiKey(Zeroizing::new(s.to_owned())))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn lookup_hash(&self) -> [u8; 32] {
        lookup_hash("api-key", self.0.as_bytes())
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey([redacted])")
    }
}

/// An account's vault key: 32 random bytes that seal the account's receipt links for its recent
/// list. Stored only sealed under each of the account's API keys.
#[derive(Clone, PartialEq, Eq)]
pub struct VaultKey(Zeroizing<[u8; 32]>);

impl VaultKey {
    pub fn generate() -> Self {
        let mut k = Zeroizing::new([0u8; 32]);
        OsRng.fill(&mut k[..]);
        VaultKey(k)
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if bytes.len() != 32 {
            return None;
        }
        let mut k = Zeroizing::new([0u8; 32]);
        k.copy_from_slice(bytes);
        Some(VaultKey(k))
    }

    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for VaultKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VaultKey([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_base36_and_parse_case_insensitively() {
        let t = Token::generate();
        assert_eq!(t.expose().len(), TOKEN_LEN);
        assert!(t.expose().bytes().all(|b| BASE36.contains(&b)));
        let upper = t.expose().to_ascii_uppercase();
        assert_eq!(Token::parse(&upper), Some(t.clone()));
        assert_ne!(Token::generate(), t);
    }

    #[test]
    fn token_characters_are_roughly_uniform() {
        let mut counts = [0u32; 36];
        for _ in 0..400 {
            for b in Token::generate().expose().bytes() {
                counts[BASE36.iter().position(|&c| c == b).expect("alphabet")] += 1;
            }
        }
        // 20,000 draws, 555.6 expected per character; a biased mapping would skew the low ones.
        assert!(counts.iter().all(|&c| (400..720).contains(&c)), "{counts:?}");
    }

    #[test]
    fn malformed_tokens_are_rejected() {
        let good = Token::generate();
        for bad in [
            "",
            "a",
            &good.expose()[1..],
            &format!("{}a", good.expose()),
            &format!("{}%00", &good.expose()[3..]),
            &format!("..{}", &good.expose()[2..]),
            &format!("{}é", &good.expose()[2..]),
            &"a".repeat(8192),
        ] {
            assert!(Token::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn lookup_ids_separate_kinds_and_never_equal_the_token() {
        let t = Token::generate();
        assert_ne!(t.lookup_id("secret"), t.lookup_id("receipt"));
        assert_ne!(&t.lookup_id("secret")[..], t.expose().as_bytes());
    }

    #[test]
    fn debug_output_is_redacted() {
        let t = Token::generate();
        let k = ApiKey::generate();
        assert!(!format!("{t:?}").contains(t.expose()));
        assert!(!format!("{k:?}").contains(k.expose()));
        assert!(k.expose().starts_with("once_"));
        assert_eq!(format!("{:?}", VaultKey::generate()), "VaultKey([redacted])");
    }
}
