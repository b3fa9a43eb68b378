//! Two-factor sign-in with time-based one-time codes (TOTP, RFC 6238) and recovery codes.
//!
//! The arithmetic (HMAC, dynamic truncation, the step counter) is `totp-rs`'s; this module is the
//! policy around it: which parameters we allow, how a typed code is read, the time window, replay
//! refusal, the enrolment URI, and recovery codes.
//!
//! # Scheme
//!
//! ```text
//! secret   = 20 random bytes (OS RNG; 160 bits, RFC 4226's recommendation), shown as base32
//! step(t)  = floor(unix_secs / step_secs)                      (T0 = 0)
//! code(s)  = HOTP(secret, counter = s) = truncate(HMAC-alg(secret, s as u64 BE)) mod 10^digits
//! verify   = code typed for one step s in step(now) - skew ..= step(now) + skew,
//!            and s > last accepted step                        (else Replayed)
//! ```
//!
//! * [`TotpPolicy::default`] is SHA-1, 6 digits, 30 s, ±1 step: what Google Authenticator and
//!   nearly every other app assume. Many apps ignore the `algorithm`, `digits` and `period` of the
//!   enrolment URI and use these values anyway, so other policies work only with apps that honour
//!   them; check with the enrolment page's self-check ([`TotpPolicy::verify`] on the first code).
//! * A typed code is exactly `digits` ASCII digits; white space around or inside it is ignored
//!   (apps show "123 456"). Anything else is [`TotpError::Invalid`] without computing a code.
//! * Codes are compared in constant time; every step of the window is computed and compared.
//! * **Replay.** A code is good for its whole step and the window is ±`skew` steps, so a code
//!   seen over a shoulder or in a log would work again for up to a minute and a half. The caller
//!   passes the last step it accepted for the account; a matching code for a step at or before
//!   it is [`TotpError::Replayed`], which callers audit but show the user as the same "wrong
//!   code" as [`TotpError::Invalid`]. [`TotpPolicy::verify`] is pure: the caller stores
//!   [`Accepted::step`], and two sign-ins racing with the same code are settled by the store,
//!   which must update atomically ("set last step = s where last step < s", and treat an update
//!   that changed nothing as a replay).
//! * **Recovery codes** ([`recovery_codes`]) are random, shown once, and stored as
//!   [`recovery_code_hash`]; see there for why a fast hash is enough.
//!
//! The secret lives only in [`TotpSecret`], which zeroizes on drop and prints as `[redacted]`; the
//! enrolment URI carries it too and is returned in a [`Zeroizing`] string. Errors carry nothing
//! from the secret or the code.

use std::fmt::Write as _;

use data_encoding::BASE32_NOPAD;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Bytes of a generated secret (160 bits, RFC 4226 § 4 R6's recommendation).
pub const SECRET_LEN: usize = 20;
/// RFC 4226 § 4 R6: at least 128 bits.
const MIN_SECRET_LEN: usize = 16;
/// A bound on imported secrets (the RFC 6238 SHA-512 seed is 64 bytes).
const MAX_SECRET_LEN: usize = 64;
/// RFC 4226 § 5.3: 6 to 8 digits.
const MIN_DIGITS: u32 = 6;
const MAX_DIGITS: u32 = 8;
/// RFC 6238 § 5.2 recommends at most one step of skew; more widens an online guesser's odds by
/// one code per step on each side.
pub const MAX_SKEW_STEPS: u8 = 5;
/// A typed code longer than this is refused before anything else looks at it.
const MAX_CODE_INPUT: usize = 64;

/// How many recovery codes an account gets.
pub const RECOVERY_CODE_COUNT: usize = 10;
/// Recovery code alphabet: digits and lower-case letters without 0, o, 1, l and i (31 symbols).
const RECOVERY_ALPHABET: &[u8; 31] = b"23456789abcdefghjkmnpqrstuvwxyz";
/// A recovery code is `xxxx-xxxx-xxxx-xxxx`: 16 symbols, 16 × log2(31) ≈ 79.3 bits.
const RECOVERY_GROUPS: usize = 4;
const RECOVERY_GROUP_LEN: usize = 4;
const RECOVERY_SYMBOLS: usize = RECOVERY_GROUPS * RECOVERY_GROUP_LEN;
const RECOVERY_HASH_LABEL: &[u8] = b"once/totp/v1/recovery-code\0";

/// RFC 3986 unreserved characters stay; everything else in a label or a query value is
/// percent-encoded as UTF-8 (so `+` is `%2B` and a space is `%20`, never a `+`).
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Why a TOTP operation was refused. Never carries the secret or the code.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone, Copy)]
pub enum TotpError {
    /// Not a code of this secret for any step of the window, or not `digits` ASCII digits.
    #[error("wrong one-time code")]
    Invalid,
    /// A right code, but for a step at or before the last one accepted: a replay. Tell the user
    /// the same as for [`TotpError::Invalid`]; record it for the audit log.
    #[error("one-time code was already used")]
    Replayed,
    /// Not a base32 secret of 16 to 64 bytes.
    #[error("malformed TOTP secret")]
    MalformedSecret,
    /// The policy is out of range (digits outside 6..=8, a zero step, or skew above
    /// [`MAX_SKEW_STEPS`]): a configuration error.
    #[error("TOTP policy is out of range")]
    Policy,
    /// An empty issuer or account name, or one containing `:`, which the otpauth label format
    /// can't carry.
    #[error("issuer or account name can't be used in an otpauth URI")]
    Label,
}

/// The HMAC of the code computation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Algorithm {
    /// HMAC-SHA-1: what authenticator apps support. (HOTP needs only HMAC's PRF property, which
    /// SHA-1's collision weakness does not touch; RFC 4226 Appendix B.2.)
    #[default]
    Sha1,
    Sha256,
    Sha512,
}

impl Algorithm {
    /// The name in an otpauth URI.
    fn uri_name(self) -> &'static str {
        match self {
            Algorithm::Sha1 => "SHA1",
            Algorithm::Sha256 => "SHA256",
            Algorithm::Sha512 => "SHA512",
        }
    }

    fn engine(self) -> totp_rs::Algorithm {
        match self {
            Algorithm::Sha1 => totp_rs::Algorithm::SHA1,
            Algorithm::Sha256 => totp_rs::Algorithm::SHA256,
            Algorithm::Sha512 => totp_rs::Algorithm::SHA512,
        }
    }
}

/// A TOTP shared secret (16 to 64 bytes; generated ones are 20).
pub struct TotpSecret(Zeroizing<Vec<u8>>);

impl TotpSecret {
    /// A fresh 160-bit secret from the OS RNG.
    pub fn generate() -> Self {
        let mut s = Zeroizing::new(vec![0u8; SECRET_LEN]);
        OsRng.fill_bytes(&mut s[..]);
        TotpSecret(s)
    }

    /// A secret from its raw bytes (as unsealed from the store): 16 to 64 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TotpError> {
        if !(MIN_SECRET_LEN..=MAX_SECRET_LEN).contains(&bytes.len()) {
            return Err(TotpError::MalformedSecret);
        }
        Ok(TotpSecret(Zeroizing::new(bytes.to_vec())))
    }

    /// Parses base32 as people type it: RFC 4648 alphabet without padding, either case, with any
    /// white space ignored. Non-canonical trailing bits are refused.
    pub fn from_base32(text: &str) -> Result<Self, TotpError> {
        if text.len() > 4 * MAX_SECRET_LEN {
            return Err(TotpError::MalformedSecret);
        }
        // Capacity is the input's length, so pushing never reallocates (no stray copies).
        let mut canonical = Zeroizing::new(Vec::with_capacity(text.len()));
        for b in text.bytes().filter(|b| !b.is_ascii_whitespace()) {
            canonical.push(b.to_ascii_uppercase());
        }
        let len = BASE32_NOPAD.decode_len(canonical.len()).map_err(|_| TotpError::MalformedSecret)?;
        let mut bytes = Zeroizing::new(vec![0u8; len]);
        let n =
            BASE32_NOPAD.decode_mut(&canonical, &mut bytes[..]).map_err(|_| TotpError::MalformedSecret)?;
        Self::from_bytes(&bytes[..n])
    }

    /// Upper-case RFC 4648 base32 without padding (32 characters for a generated secret), for
    /// people who type the secret into their app instead of scanning the QR code.
    pub fn to_base32(&self) -> Zeroizing<String> {
        Zeroizing::new(BASE32_NOPAD.encode(&self.0))
    }

    /// The raw bytes, to seal for storage.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret([redacted])")
    }
}

/// A code that was accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    /// The step the code belongs to: store it as the account's last accepted step (atomically,
    /// only if it is greater than the stored one).
    pub step: u64,
    /// `step` minus the current step, in `-skew_steps..=skew_steps`: how far the user's clock is
    /// off, in steps.
    pub drift: i8,
}

/// TOTP parameters. [`TotpPolicy::default`] is the Google Authenticator-compatible SHA-1, 6 digits,
/// 30 s, ±1 step; change them only for apps known to honour the URI's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TotpPolicy {
    pub algorithm: Algorithm,
    /// Digits of a code, 6..=8.
    pub digits: u32,
    /// Length of a step in seconds (≥ 1; 30 is what apps expect).
    pub step_secs: u64,
    /// Steps accepted on each side of the current one, 0..=[`MAX_SKEW_STEPS`].
    pub skew_steps: u8,
}

impl Default for TotpPolicy {
    fn default() -> Self {
        TotpPolicy { algorithm: Algorithm::Sha1, digits: 6, step_secs: 30, skew_steps: 1 }
    }
}

impl TotpPolicy {
    /// Checks the ranges; every other method does this first and returns [`TotpError::Policy`].
    pub fn validate(&self) -> Result<(), TotpError> {
        let ok = (MIN_DIGITS..=MAX_DIGITS).contains(&self.digits)
            && self.step_secs >= 1
            && self.skew_steps <= MAX_SKEW_STEPS;
        if ok { Ok(()) } else { Err(TotpError::Policy) }
    }

    /// The `totp-rs` engine for this policy and secret. The copy of the secret it holds is zeroized
    /// when it drops (`totp-rs`'s `zeroize` feature); nothing prints it (its `Debug` would).
    fn engine(&self, secret: &TotpSecret) -> Result<totp_rs::TOTP, TotpError> {
        self.validate()?;
        // `validate` bounded `digits` to 6..=8; the secret is 16..=64 bytes by construction and
        // the empty account name has no `:`, so `new` accepts these: the mapping is for form's sake.
        totp_rs::TOTP::new(
            self.algorithm.engine(),
            self.digits as usize,
            self.skew_steps,
            self.step_secs,
            secret.0.to_vec(),
            None,
            String::new(),
        )
        .map_err(|_| TotpError::Policy)
    }

    /// The code for the step containing `unix_secs`, for tests and the enrolment page's
    /// self-check. Never send it anywhere.
    pub fn code_at(&self, secret: &TotpSecret, unix_secs: u64) -> Result<String, TotpError> {
        Ok(self.engine(secret)?.generate(unix_secs))
    }

    /// Checks `code` at `unix_secs` against the steps `current - skew ..= current + skew`.
    ///
    /// `last_accepted_step` is the account's stored [`Accepted::step`] (`None` before the first
    /// code, at enrolment). A right code for a step at or before it is [`TotpError::Replayed`].
    ///
    /// This is a pure function: it does not remember anything. The caller must store the returned
    /// step atomically with a compare ("set last step = s where last step < s"); if that update
    /// changes nothing, another sign-in used the code first: treat it as [`TotpError::Replayed`].
    pub fn verify(
        &self,
        secret: &TotpSecret,
        code: &str,
        unix_secs: u64,
        last_accepted_step: Option<u64>,
    ) -> Result<Accepted, TotpError> {
        let engine = self.engine(secret)?;
        let (typed, len) = read_code(code)?;
        if len != self.digits as usize {
            return Err(TotpError::Invalid);
        }
        let typed = &typed[..len];
        // `validate` (in `engine`) bounded the skew to MAX_SKEW_STEPS, so it fits an i8.
        let skew = i8::try_from(self.skew_steps).map_err(|_| TotpError::Policy)?;
        let current = unix_secs / self.step_secs;

        // Every step of the window is computed and compared in constant time; among matching
        // steps (two steps share a code once in 10^digits) the one nearest the current step that
        // is not a replay wins.
        let mut accepted: Option<Accepted> = None;
        let mut replayed = false;
        for drift in std::iter::once(0).chain((1..=skew).flat_map(|k| [-k, k])) {
            // Steps before the epoch or past u64 don't exist.
            let Some(step) = current.checked_add_signed(i64::from(drift)) else { continue };
            let Some(start) = step.checked_mul(self.step_secs) else { continue };
            let expected = Zeroizing::new(engine.generate(start));
            let matched: bool = expected.as_bytes().ct_eq(typed).into();
            if !matched {
                continue;
            }
            if last_accepted_step.is_some_and(|last| step <= last) {
                replayed = true;
            } else if accepted.is_none() {
                accepted = Some(Accepted { step, drift });
            }
        }
        match accepted {
            Some(a) => Ok(a),
            None if replayed => Err(TotpError::Replayed),
            None => Err(TotpError::Invalid),
        }
    }

    /// The enrolment URI for the QR code (Google Authenticator's Key URI format):
    ///
    /// ```text
    /// otpauth://totp/ISSUER:ACCOUNT?secret=BASE32&issuer=ISSUER&algorithm=SHA1&digits=6&period=30
    /// ```
    ///
    /// `issuer` and `account` are percent-encoded as UTF-8 (RFC 3986 unreserved characters stay);
    /// every parameter is written out, defaults too. Neither name may be empty or contain `:`
    /// ([`TotpError::Label`]). The URI holds the secret: show it once, log it never.
    pub fn otpauth_uri(
        &self,
        secret: &TotpSecret,
        issuer: &str,
        account: &str,
    ) -> Result<Zeroizing<String>, TotpError> {
        self.validate()?;
        if issuer.is_empty() || account.is_empty() || issuer.contains(':') || account.contains(':') {
            return Err(TotpError::Label);
        }
        let issuer = utf8_percent_encode(issuer, URI_COMPONENT).to_string();
        let account = utf8_percent_encode(account, URI_COMPONENT).to_string();
        let secret = secret.to_base32();
        // Room for everything, so the string never reallocates and leaves no copy of the secret.
        let capacity = 128 + 2 * issuer.len() + account.len() + secret.len();
        let mut uri = Zeroizing::new(String::with_capacity(capacity));
        // Writing to a String can't fail.
        let _ = write!(
            uri,
            "otpauth://totp/{issuer}:{account}?secret={}&issuer={issuer}&algorithm={}&digits={}&period={}",
            secret.as_str(),
            self.algorithm.uri_name(),
            self.digits,
            self.step_secs,
        );
        Ok(uri)
    }
}

/// Reads a typed code: ASCII digits, white space anywhere ignored, at most [`MAX_DIGITS`] digits.
/// Returns the digits and their count; anything else is [`TotpError::Invalid`].
fn read_code(code: &str) -> Result<(Zeroizing<[u8; MAX_DIGITS as usize]>, usize), TotpError> {
    if code.len() > MAX_CODE_INPUT {
        return Err(TotpError::Invalid);
    }
    let mut digits = Zeroizing::new([0u8; MAX_DIGITS as usize]);
    let mut len = 0;
    for b in code.bytes().filter(|b| !b.is_ascii_whitespace()) {
        if !b.is_ascii_digit() || len == digits.len() {
            return Err(TotpError::Invalid);
        }
        digits[len] = b;
        len += 1;
    }
    Ok((digits, len))
}

/// `n` fresh recovery codes (use [`RECOVERY_CODE_COUNT`]), formatted `xxxx-xxxx-xxxx-xxxx`.
///
/// Each has 16 symbols drawn uniformly from 31 (digits and lower-case letters without 0, o, 1, l
/// and i, so nothing reads as something else), about 79 bits from the OS RNG. Show them once;
/// store only [`recovery_code_hash`] of each, and delete a hash when its code is used.
pub fn recovery_codes(n: usize) -> Vec<Zeroizing<String>> {
    (0..n).map(|_| recovery_code()).collect()
}

fn recovery_code() -> Zeroizing<String> {
    let mut symbols = Zeroizing::new([0u8; RECOVERY_SYMBOLS]);
    let mut filled = 0;
    let mut buf = Zeroizing::new([0u8; 32]);
    while filled < RECOVERY_SYMBOLS {
        OsRng.fill_bytes(&mut buf[..]);
        // Bytes below 248 (= 8 × 31) map to a symbol by `% 31`; the rest are rejected, so every
        // symbol is uniform.
        for &b in buf.iter().filter(|&&b| b < 248) {
            if filled == RECOVERY_SYMBOLS {
                break;
            }
            symbols[filled] = RECOVERY_ALPHABET[usize::from(b % 31)];
            filled += 1;
        }
    }
    let mut code = Zeroizing::new(String::with_capacity(RECOVERY_SYMBOLS + RECOVERY_GROUPS - 1));
    for (i, group) in symbols.chunks(RECOVERY_GROUP_LEN).enumerate() {
        if i > 0 {
            code.push('-');
        }
        code.extend(group.iter().map(|&b| char::from(b)));
    }
    code
}

/// The stored form of a recovery code: SHA-256 over a domain label and the code normalised the
/// way people type it (ASCII lower-cased, spaces and dashes removed), so `ABCD EFGH…` and
/// `abcd-efgh-…` match. Look a typed code up by this hash among the account's hashes.
///
/// A fast hash is right here, unlike for passwords: the codes are not chosen by people but drawn
/// at random, ~79 bits each, so there is no dictionary to try first and a slow hash would add
/// little. Online, the sign-in rate limit keeps guessing hopeless. Offline, from a database dump,
/// one account's ten codes take ~2^75 SHA-256 evaluations on average, tens of thousands of
/// GPU-years (at ~2 × 10^10 per second). The hash is unsalted, so that lookups by hash work; a
/// dump's hashes can then be attacked all at once, but even a million stored codes leave months
/// of GPU time for *some* account's code, which replaces only that account's second factor.
/// (This is also why a code has 16 symbols: 10 of 31 would be under 50 bits, hours of one GPU.)
pub fn recovery_code_hash(code: &str) -> [u8; 32] {
    // Capacity is the input's length, so pushing never reallocates (no stray copies).
    let mut normalised = Zeroizing::new(Vec::with_capacity(code.len()));
    for b in code.bytes().filter(|&b| b != b'-' && !b.is_ascii_whitespace()) {
        normalised.push(b.to_ascii_lowercase());
    }
    let mut h = Sha256::new();
    h.update(RECOVERY_HASH_LABEL);
    h.update(&normalised[..]);
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED_SHA1: &[u8] = b"12345678901234567890";
    const SEED_SHA256: &[u8] = b"12345678901234567890123456789012";
    const SEED_SHA512: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

    fn secret(bytes: &[u8]) -> TotpSecret {
        TotpSecret::from_bytes(bytes).expect("valid secret")
    }

    fn policy(algorithm: Algorithm, digits: u32) -> TotpPolicy {
        TotpPolicy { algorithm, digits, ..TotpPolicy::default() }
    }

    /// RFC 6238 Appendix B: every row of the table (8 digits, 30 s steps, T0 = 0).
    #[test]
    fn rfc6238_appendix_b() {
        #[rustfmt::skip]
        let table: [(u64, &str, &str, &str); 6] = [
            //  T            SHA-1       SHA-256     SHA-512
            (59,          "94287082", "46119246", "90693936"),
            (1111111109,  "07081804", "68084774", "25091201"),
            (1111111111,  "14050471", "67062674", "99943326"),
            (1234567890,  "89005924", "91819424", "93441116"),
            (2000000000,  "69279037", "90698825", "38618901"),
            (20000000000, "65353130", "77737706", "47863826"),
        ];
        let cases = [
            (Algorithm::Sha1, SEED_SHA1),
            (Algorithm::Sha256, SEED_SHA256),
            (Algorithm::Sha512, SEED_SHA512),
        ];
        for (t, sha1, sha256, sha512) in table {
            for ((alg, seed), expected) in cases.iter().zip([sha1, sha256, sha512]) {
                let p = policy(*alg, 8);
                let s = secret(seed);
                assert_eq!(p.code_at(&s, t).expect("code"), expected, "{alg:?} at T = {t}");
                let ok = p.verify(&s, expected, t, None).expect("the RFC code verifies");
                assert_eq!(ok, Accepted { step: t / 30, drift: 0 }, "{alg:?} at T = {t}");
            }
        }
    }

    /// RFC 4226 Appendix D: HOTP is TOTP with 1-second steps at time = counter (T0 = 0).
    #[test]
    fn rfc4226_appendix_d() {
        let expected = [
            "755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871",
            "520489",
        ];
        let p = TotpPolicy { step_secs: 1, ..TotpPolicy::default() };
        let s = secret(SEED_SHA1);
        for (counter, code) in expected.iter().enumerate() {
            assert_eq!(p.code_at(&s, counter as u64).expect("code"), *code, "counter {counter}");
        }
    }

    #[test]
    fn window_drift_and_replay() {
        let p = TotpPolicy::default();
        let s = TotpSecret::generate();
        let now = 1_790_000_015; // the middle of a step
        let step = now / 30;
        let at = |d: i64| p.code_at(&s, (now as i64 + 30 * d) as u64).expect("code");

        assert_eq!(p.verify(&s, &at(0), now, None), Ok(Accepted { step, drift: 0 }));
        assert_eq!(p.verify(&s, &at(-1), now, None), Ok(Accepted { step: step - 1, drift: -1 }));
        assert_eq!(p.verify(&s, &at(1), now, None), Ok(Accepted { step: step + 1, drift: 1 }));
        // Codes two steps away are refused (unless they happen to equal a code in the window).
        for d in [-2, 2, -3, 3] {
            if ![at(-1), at(0), at(1)].contains(&at(d)) {
                assert_eq!(p.verify(&s, &at(d), now, None), Err(TotpError::Invalid), "drift {d}");
            }
        }
        // The window follows the step boundaries: the first and last second of a step.
        assert_eq!(p.verify(&s, &at(0), step * 30, None).map(|a| a.drift), Ok(0));
        assert_eq!(p.verify(&s, &at(0), step * 30 + 29, None).map(|a| a.drift), Ok(0));
        assert_eq!(p.verify(&s, &at(0), step * 30 + 30, None).map(|a| a.drift), Ok(-1));

        // Replay: the same step again, or an earlier one, after a step was accepted.
        assert_eq!(p.verify(&s, &at(0), now, Some(step)), Err(TotpError::Replayed));
        assert_eq!(p.verify(&s, &at(-1), now, Some(step)), Err(TotpError::Replayed));
        assert_eq!(p.verify(&s, &at(-1), now, Some(step - 1)), Err(TotpError::Replayed));
        assert_eq!(p.verify(&s, &at(0), now, Some(step - 1)), Ok(Accepted { step, drift: 0 }));
        assert_eq!(p.verify(&s, &at(1), now, Some(step)), Ok(Accepted { step: step + 1, drift: 1 }));
        assert_eq!(p.verify(&s, &at(1), now, Some(step + 1)), Err(TotpError::Replayed));
        // A wrong code stays Invalid whatever the last step.
        let wrong = if at(0) == "000000" { "000001" } else { "000000" };
        if ![at(-1), at(1)].contains(&wrong.to_string()) {
            assert_eq!(p.verify(&s, wrong, now, Some(step)), Err(TotpError::Invalid));
        }
    }

    #[test]
    fn skew_zero_and_wider_windows() {
        let s = TotpSecret::generate();
        let now = 1_790_000_015;
        let code = |d: i64| TotpPolicy::default().code_at(&s, (now as i64 + 30 * d) as u64).expect("code");
        let strict = TotpPolicy { skew_steps: 0, ..TotpPolicy::default() };
        assert!(strict.verify(&s, &code(0), now, None).is_ok());
        if code(1) != code(0) {
            assert_eq!(strict.verify(&s, &code(1), now, None), Err(TotpError::Invalid));
        }
        let wide = TotpPolicy { skew_steps: 2, ..TotpPolicy::default() };
        assert_eq!(wide.verify(&s, &code(-2), now, None).map(|a| a.drift), Ok(-2));
        assert_eq!(wide.verify(&s, &code(2), now, None).map(|a| a.drift), Ok(2));
    }

    #[test]
    fn near_the_ends_of_time() {
        let p = TotpPolicy::default();
        let s = TotpSecret::generate();
        // Step 0 has no step before it; the window just has fewer steps.
        assert_eq!(
            p.verify(&s, &p.code_at(&s, 0).expect("code"), 5, None),
            Ok(Accepted { step: 0, drift: 0 })
        );
        // A step whose start would pass u64::MAX is skipped, not wrapped.
        let code = p.code_at(&s, u64::MAX).expect("code");
        assert_eq!(p.verify(&s, &code, u64::MAX, None), Ok(Accepted { step: u64::MAX / 30, drift: 0 }));
    }

    #[test]
    fn malformed_codes_are_invalid() {
        let p = TotpPolicy::default();
        let s = secret(SEED_SHA1);
        let t = 1_111_111_109;
        let good = p.code_at(&s, t).expect("code");
        assert_eq!(good, "081804");
        for ok in ["081804", " 081804 ", "081 804", "\t081804\n"] {
            assert!(p.verify(&s, ok, t, None).is_ok(), "{ok:?}");
        }
        for bad in [
            "",
            "   ",
            "81804",
            "0081804",
            "07081804", // the 8-digit code for the same step
            "081804a",
            "08180x",
            "-81804",
            "+081804",
            "081-804",
            "０８１８０４", // full-width digits
            "٠٨١٨٠٤",       // Arabic-Indic digits
            &"0".repeat(100),
        ] {
            assert_eq!(p.verify(&s, bad, t, None), Err(TotpError::Invalid), "{bad:?}");
        }
        let eight = policy(Algorithm::Sha1, 8);
        assert!(eight.verify(&s, "07081804", t, None).is_ok());
        assert_eq!(eight.verify(&s, "081804", t, None), Err(TotpError::Invalid));
    }

    #[test]
    fn policy_ranges() {
        let s = TotpSecret::generate();
        assert_eq!(TotpPolicy::default().validate(), Ok(()));
        for bad in [
            TotpPolicy { digits: 5, ..TotpPolicy::default() },
            TotpPolicy { digits: 9, ..TotpPolicy::default() },
            TotpPolicy { digits: 10, ..TotpPolicy::default() },
            TotpPolicy { step_secs: 0, ..TotpPolicy::default() },
            TotpPolicy { skew_steps: MAX_SKEW_STEPS + 1, ..TotpPolicy::default() },
            TotpPolicy { skew_steps: u8::MAX, ..TotpPolicy::default() },
        ] {
            assert_eq!(bad.validate(), Err(TotpError::Policy), "{bad:?}");
            assert_eq!(bad.code_at(&s, 0), Err(TotpError::Policy), "{bad:?}");
            assert_eq!(bad.verify(&s, "123456", 0, None), Err(TotpError::Policy), "{bad:?}");
            assert_eq!(bad.otpauth_uri(&s, "Once", "a").err(), Some(TotpError::Policy), "{bad:?}");
        }
        for digits in 6..=8 {
            let p = policy(Algorithm::Sha512, digits);
            assert_eq!(p.code_at(&s, 0).expect("code").len(), digits as usize);
        }
    }

    #[test]
    fn secrets_base32_and_lengths() {
        let s = TotpSecret::generate();
        assert_eq!(s.expose().len(), 20);
        assert_ne!(TotpSecret::generate().expose(), s.expose());
        let b32 = s.to_base32();
        assert_eq!(b32.len(), 32);
        assert!(b32.bytes().all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)));
        assert_eq!(TotpSecret::from_base32(&b32).expect("parses").expose(), s.expose());

        // What people type: lower case, groups of four, stray white space.
        let seed = secret(SEED_SHA1);
        assert_eq!(&*seed.to_base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        for typed in [
            "gezdgnbvgy3tqojqgezdgnbvgy3tqojq",
            "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ",
            " gEzDgNbVgY3tQoJq\tGEZDGNBVGY3TQOJQ\n",
        ] {
            assert_eq!(TotpSecret::from_base32(typed).expect("parses").expose(), SEED_SHA1, "{typed:?}");
        }
        // 16 bytes (26 characters, 2 trailing bits) is the smallest secret accepted.
        let sixteen = TotpSecret::from_bytes(&[0xa5; 16]).expect("16 bytes");
        assert_eq!(TotpSecret::from_base32(&sixteen.to_base32()).expect("parses").expose(), &[0xa5; 16]);

        for bad in [
            "",
            "GEZDGNBVGY3TQOJQ",                     // 10 bytes: too short
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ====", // padding
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ1",     // not base32
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQO",       // impossible length (30)
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ",      // 31: non-canonical trailing bits
            "UUUUUUUUUUUUUUUUUUUUUUUUUV",           // non-canonical trailing bits
            "GEZDGNBVGY3TQOJQ-GEZDGNBVGY3TQOJQ",
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ\u{c9}",
            &BASE32_NOPAD.encode(&[0u8; MAX_SECRET_LEN + 1]),
            &"A".repeat(10_000),
        ] {
            assert_eq!(TotpSecret::from_base32(bad).err(), Some(TotpError::MalformedSecret), "{bad:?}");
        }
        let longest = BASE32_NOPAD.encode(&[7u8; MAX_SECRET_LEN]);
        assert_eq!(TotpSecret::from_base32(&longest).expect("64 bytes").expose(), &[7u8; MAX_SECRET_LEN]);
        assert_eq!(TotpSecret::from_bytes(&[1; 15]).err(), Some(TotpError::MalformedSecret));
        assert_eq!(TotpSecret::from_bytes(&[1; 65]).err(), Some(TotpError::MalformedSecret));
        assert!(TotpSecret::from_bytes(&[1; 64]).is_ok());
    }

    #[test]
    fn debug_output_is_redacted() {
        let s = TotpSecret::from_bytes(&[0x41; 20]).expect("secret");
        let printed = format!("{s:?}");
        assert_eq!(printed, "TotpSecret([redacted])");
        assert!(!printed.contains("41") && !printed.contains("65") && !printed.contains(&*s.to_base32()));
        for e in [TotpError::Invalid, TotpError::Replayed, TotpError::MalformedSecret] {
            assert!(!format!("{e:?} {e}").contains(&*s.to_base32()));
        }
    }

    #[test]
    fn otpauth_uri_shape() {
        let s = secret(SEED_SHA1);
        let uri = TotpPolicy::default().otpauth_uri(&s, "Once", "alice@example.com").expect("uri");
        assert_eq!(
            &*uri,
            "otpauth://totp/Once:alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Once&algorithm=SHA1&digits=6&period=30"
        );
        let p = TotpPolicy { algorithm: Algorithm::Sha512, digits: 8, step_secs: 60, skew_steps: 1 };
        let uri = p.otpauth_uri(&s, "Once (staging)", "alice+ops@example.com").expect("uri");
        assert_eq!(
            &*uri,
            "otpauth://totp/Once%20%28staging%29:alice%2Bops%40example.com\
             ?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Once%20%28staging%29\
             &algorithm=SHA512&digits=8&period=60"
        );
        let uri = TotpPolicy::default().otpauth_uri(&s, "원스", "bob").expect("uri");
        assert!(uri.starts_with("otpauth://totp/%EC%9B%90%EC%8A%A4:bob?"), "{}", &*uri);
        assert!(uri.contains("&issuer=%EC%9B%90%EC%8A%A4&"), "{}", &*uri);

        for (issuer, account) in [("", "a"), ("Once", ""), ("On:ce", "a"), ("Once", "a:b")] {
            assert_eq!(
                TotpPolicy::default().otpauth_uri(&s, issuer, account).err(),
                Some(TotpError::Label),
                "{issuer:?} {account:?}"
            );
        }
    }

    #[test]
    fn recovery_codes_format_and_entropy() {
        // 16 symbols of 31: ≈ 79.3 bits, well over the 50 bits asked for.
        let bits = RECOVERY_SYMBOLS as f64 * (RECOVERY_ALPHABET.len() as f64).log2();
        assert!(bits > 79.0, "{bits}");
        assert_eq!(RECOVERY_ALPHABET.len(), 31);
        for ambiguous in b"0o1li" {
            assert!(!RECOVERY_ALPHABET.contains(ambiguous));
        }
        let codes = recovery_codes(RECOVERY_CODE_COUNT);
        assert_eq!(codes.len(), 10);
        for code in &codes {
            let groups: Vec<&str> = code.split('-').collect();
            assert_eq!(groups.len(), RECOVERY_GROUPS, "{}", code.as_str());
            for g in groups {
                assert_eq!(g.len(), RECOVERY_GROUP_LEN, "{}", code.as_str());
                assert!(g.bytes().all(|b| RECOVERY_ALPHABET.contains(&b)), "{}", code.as_str());
            }
        }
        let mut distinct: Vec<&str> = codes.iter().map(|c| c.as_str()).collect();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 10);
        assert!(recovery_codes(0).is_empty());

        // Every symbol of the alphabet turns up, roughly evenly (a biased mapping would skew them).
        let mut counts = [0u32; 31];
        for code in recovery_codes(400) {
            for b in code.bytes().filter(|&b| b != b'-') {
                counts[RECOVERY_ALPHABET.iter().position(|&c| c == b).expect("alphabet")] += 1;
            }
        }
        // 6,400 draws, 206.5 expected per symbol.
        assert!(counts.iter().all(|&c| (130..300).contains(&c)), "{counts:?}");
    }

    #[test]
    fn recovery_code_hashes_match_typing_variants() {
        let codes = recovery_codes(2);
        let code = codes[0].as_str();
        let h = recovery_code_hash(code);
        let compact: String = code.chars().filter(|&c| c != '-').collect();
        let spaced = code.replace('-', " ");
        for variant in [
            code.to_string(),
            code.to_ascii_uppercase(),
            compact.clone(),
            compact.to_ascii_uppercase(),
            spaced.clone(),
            format!("  {spaced}\n"),
            code.replacen('-', "", 1),
            format!("{}-{}", &compact[..8], &compact[8..]),
        ] {
            assert_eq!(recovery_code_hash(&variant), h, "{variant:?}");
        }
        assert_ne!(recovery_code_hash(codes[1].as_str()), h);
        // One symbol changed, a symbol dropped, or a symbol added: different hashes.
        let mut changed = compact.clone().into_bytes();
        changed[0] = if changed[0] == b'a' { b'b' } else { b'a' };
        assert_ne!(recovery_code_hash(std::str::from_utf8(&changed).expect("ascii")), h);
        assert_ne!(recovery_code_hash(&compact[1..]), h);
        assert_ne!(recovery_code_hash(&format!("{compact}a")), h);
        // Domain-separated: not the plain SHA-256 of the code.
        let plain: [u8; 32] = Sha256::digest(compact.as_bytes()).into();
        assert_ne!(plain, h);
    }
}
