//! Parsing keys and ids from untrusted text: link tokens (`Token::parse`, the base36 secret and
//! receipt keys of every link and API path), API keys, browser session tokens, master-key ids
//! and base64 master keys, the zero-knowledge fragment key and key proof (`zk`), and TOTP input
//! (typed codes, base32 secrets, recovery codes). Nothing may panic, and what parses must print
//! back as the text it came from (in its canonical form), so `parse(print(x)) == x`.
//!
//! Input: the text (invalid UTF-8 replaced with U+FFFD); its first bytes also choose a TOTP
//! policy and a time.

use std::sync::LazyLock;

use once_crypto::totp::{self, Algorithm, TotpError, TotpPolicy, TotpSecret};
use once_crypto::zk::{FragmentKey, KeyProof};
use once_crypto::{ApiKey, KeyId, MasterKey, SessionToken, Token, lookup_hash};

/// RFC 6238's SHA-1 seed.
static TOTP_SECRET: LazyLock<TotpSecret> =
    LazyLock::new(|| TotpSecret::from_bytes(b"12345678901234567890").expect("20 bytes"));

/// One input (the module documentation gives its layout); panics on a broken property.
pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    link_token(&text);
    api_key(&text);
    session_token(&text);
    key_id(&text);
    let _ = MasterKey::from_base64(&text);
    zero_knowledge(&text);
    totp_input(data, &text);
}

fn link_token(s: &str) {
    let Some(t) = Token::parse(s) else {
        assert!(s.len() != 50 || !s.bytes().all(|b| b.is_ascii_alphanumeric()), "{s:?} refused");
        return;
    };
    assert_eq!(t.expose(), s.to_ascii_lowercase());
    assert_eq!(Token::parse(t.expose()).as_ref(), Some(&t));
    assert_eq!(Token::parse(&s.to_ascii_uppercase()).as_ref(), Some(&t));
    // The record id starts with the issue time the first 9 characters carry (base36, < 2^48).
    let issued = u64::from_str_radix(&t.expose()[..9], 36).expect("base36");
    let secret_id = t.lookup_id("secret");
    assert_eq!(secret_id[..6], issued.to_be_bytes()[2..]);
    assert_ne!(secret_id, t.lookup_id("receipt"));
    // A token issued at that time starts with the same 9 characters.
    let again = Token::generate_at(issued);
    assert_eq!(again.expose()[..9], t.expose()[..9]);
    assert_eq!(again.lookup_id("secret")[..6], secret_id[..6]);
}

fn api_key(s: &str) {
    let Some(k) = ApiKey::parse(s) else { return };
    let trimmed = s.trim();
    assert_eq!(k.expose(), trimmed);
    assert!((1..=256).contains(&trimmed.len()) && trimmed.bytes().all(|b| b.is_ascii_graphic()));
    assert_eq!(ApiKey::parse(k.expose()).as_ref(), Some(&k));
    assert_eq!(k.lookup_hash(), lookup_hash("api-key", trimmed.as_bytes()));
    assert_eq!(format!("{k:?}"), "ApiKey([redacted])");
}

fn session_token(s: &str) {
    let Some(t) = SessionToken::parse(s) else { return };
    assert_eq!(t.expose(), s);
    assert_eq!(s.len(), SessionToken::LEN);
    assert_eq!(SessionToken::parse(t.expose()).as_ref(), Some(&t));
}

fn key_id(s: &str) {
    let Some(id) = KeyId::parse(s) else { return };
    assert_eq!(id.as_str(), s);
    assert_eq!(id.to_string(), s);
    assert_eq!(KeyId::parse(&id.to_string()).as_ref(), Some(&id));
}

fn zero_knowledge(s: &str) {
    // Only the canonical text parses, so printing gives back the input exactly.
    if let Ok(k) = FragmentKey::from_fragment(s) {
        assert_eq!(k.to_fragment().as_str(), s);
        assert!(FragmentKey::from_fragment(&k.to_fragment()).is_ok());
    }
    if let Ok(p) = KeyProof::from_base64url(s) {
        assert_eq!(p.to_base64url(), s);
        assert_eq!(KeyProof::from_base64url(&p.to_base64url()).as_ref(), Ok(&p));
    }
}

fn totp_input(data: &[u8], s: &str) {
    let byte = |i: usize| data.get(i).copied().unwrap_or(0);
    let policy = TotpPolicy {
        algorithm: [Algorithm::Sha1, Algorithm::Sha256, Algorithm::Sha512][usize::from(byte(0) % 3)],
        digits: 6 + u32::from(byte(1) % 3),
        step_secs: 1 + u64::from(u16::from_le_bytes([byte(2), byte(3)])),
        skew_steps: byte(4) % (totp::MAX_SKEW_STEPS + 1),
    };
    let now = u64::from_le_bytes(std::array::from_fn(|i| byte(i + 5)));
    let secret = &*TOTP_SECRET;

    // The text as a typed code: whatever is accepted is the code of the step it names.
    match policy.verify(secret, s, now, None) {
        Ok(a) => {
            let typed: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            assert_eq!(policy.code_at(secret, a.step * policy.step_secs).expect("code"), typed);
            assert!(a.drift.unsigned_abs() <= policy.skew_steps);
        }
        Err(e) => assert_eq!(e, TotpError::Invalid),
    }
    // The current code is accepted once, then refused as a replay.
    let code = policy.code_at(secret, now).expect("a valid policy");
    let accepted = policy.verify(secret, &code, now, None).expect("the current code");
    assert_eq!((accepted.step, accepted.drift), (now / policy.step_secs, 0));
    match policy.verify(secret, &code, now, Some(accepted.step)) {
        Ok(a) => assert!(a.step > accepted.step, "replayed code accepted"),
        Err(e) => assert_eq!(e, TotpError::Replayed),
    }

    // Base32 secrets: what parses prints back canonically (upper case, no white space).
    if let Ok(parsed) = TotpSecret::from_base32(s) {
        let canonical: String =
            s.chars().filter(|c| !c.is_ascii_whitespace()).map(|c| c.to_ascii_uppercase()).collect();
        assert_eq!(parsed.to_base32().as_str(), canonical);
        let again = TotpSecret::from_base32(&parsed.to_base32()).expect("round trip");
        assert_eq!(again.expose(), parsed.expose());
    }

    // Recovery codes match however they are typed: case, dashes and white space don't count.
    let hash = totp::recovery_code_hash(s);
    assert_eq!(totp::recovery_code_hash(&s.to_ascii_uppercase()), hash);
    let squeezed: String = s.chars().filter(|&c| c != '-' && !c.is_ascii_whitespace()).collect();
    assert_eq!(totp::recovery_code_hash(&squeezed), hash);
}
