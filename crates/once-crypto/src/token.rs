//! Capability tokens (link keys, API keys) and their lookup hashes.

use rand::rngs::OsRng;
use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

const BASE36: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// Length of a link token: 50 base36 characters.
pub const TOKEN_LEN: usize = 50;

/// A link token starts with its issue time in milliseconds (9 base36 characters, good until the
/// year 5188); the other 41 characters (211 bits) come from the OS RNG. The time leads the record
/// id too, so the records made in one write batch sit next to each other in the store's B-trees:
/// a batch of inserts rewrites a few pages instead of one random page per record. It tells the
/// link's holder when the link was made, nothing more.
const TIME_CHARS: usize = 9;

/// Bytes of the issue time at the start of a record id (48 bits of milliseconds).
const TIME_BYTES: usize = 6;

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
        Self::generate_at(now_ms())
    }

    /// A token issued at `ms` milliseconds since the Unix epoch.
    pub fn generate_at(ms: u64) -> Self {
        let mut s = Zeroizing::new(String::with_capacity(TOKEN_LEN));
        let mut time = [0u8; TIME_CHARS];
        let mut rest = ms;
        for c in time.iter_mut().rev() {
            // `rest % 36` < 36, so the index is in bounds.
            *c = BASE36[(rest % 36) as usize];
            rest /= 36;
        }
        s.extend(time.iter().map(|&b| b as char));
        s.push_str(&random_base36(TOKEN_LEN - TIME_CHARS));
        Token(s)
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

    /// The record id the store keys this token's record by: the issue time (6 bytes, big-endian,
    /// so ids sort by time) and then 26 bytes of the token's lookup hash. `kind` separates the id
    /// spaces of secrets and receipts.
    pub fn lookup_id(&self, kind: &str) -> [u8; 32] {
        let mut id = [0u8; 32];
        id[..TIME_BYTES].copy_from_slice(&self.issued_ms().to_be_bytes()[8 - TIME_BYTES..]);
        id[TIME_BYTES..].copy_from_slice(&lookup_hash(kind, self.0.as_bytes())[..32 - TIME_BYTES]);
        id
    }

    /// The issue time the token's first characters carry (any base36 text decodes; 36^9 < 2^48).
    fn issued_ms(&self) -> u64 {
        self.0.bytes().take(TIME_CHARS).fold(0u64, |acc, b| {
            let digit = BASE36.iter().position(|&c| c == b).unwrap_or(0) as u64;
            acc * 36 + digit
        })
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token([redacted])")
    }
}

/// Milliseconds since the Unix epoch, for a token's issue time. Only a storage-locality hint (no
/// rule reads it back), so it takes the system time directly rather than the core's `Clock`.
#[allow(clippy::disallowed_methods)]
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
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

/// A browser session's token: 43 base36 characters (~222 bits), held only by the browser's
/// cookie; the store keeps its [`lookup_hash`](SessionToken::lookup_hash).
#[derive(Clone, PartialEq, Eq)]
pub struct SessionToken(Zeroizing<String>);

impl SessionToken {
    pub const LEN: usize = 43;

    pub fn generate() -> Self {
        SessionToken(random_base36(Self::LEN))
    }

    /// Exactly [`LEN`](Self::LEN) lower-case base36 characters, or nothing.
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == Self::LEN && s.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase()))
            .then(|| SessionToken(Zeroizing::new(s.to_owned())))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn lookup_hash(&self) -> [u8; 32] {
        lookup_hash("session", self.0.as_bytes())
    }
}

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken([redacted])")
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
    fn ids_of_tokens_sort_by_issue_time() {
        let early = Token::generate_at(1_700_000_000_000);
        let late = Token::generate_at(1_700_000_000_001);
        assert!(early.expose().starts_with("0loyw3v28") && late.expose().starts_with("0loyw3v29"));
        assert_eq!(early.lookup_id("secret")[..6], 1_700_000_000_000u64.to_be_bytes()[2..]);
        assert!(early.lookup_id("secret") < late.lookup_id("secret"));
        // The largest issue time 9 characters can hold still fits the id's 6 bytes.
        let max = Token::parse(&format!("zzzzzzzzz{}", &early.expose()[9..])).expect("token");
        assert_eq!(max.lookup_id("secret")[..6], (36u64.pow(9) - 1).to_be_bytes()[2..]);
        let now = Token::generate();
        assert!(now.lookup_id("secret")[..6] > early.lookup_id("secret")[..6]);
    }

    #[test]
    fn token_characters_are_roughly_uniform() {
        let mut counts = [0u32; 36];
        for _ in 0..400 {
            for b in Token::generate().expose().bytes().skip(TIME_CHARS) {
                counts[BASE36.iter().position(|&c| c == b).expect("alphabet")] += 1;
            }
        }
        // 16,400 draws, 455.6 expected per character; a biased mapping would skew the low ones.
        assert!(counts.iter().all(|&c| (320..600).contains(&c)), "{counts:?}");
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
