//! Account passwords: hashing, verification, rehash on sign-in, and the rules a new password must
//! meet.
//!
//! # Scheme
//!
//! ```text
//! salt  = 16 bytes from the OS RNG (password_hash::SaltString::generate)
//! hash  = Argon2id v0x13 (RFC 9106)(password as UTF-8, salt, m, t, p) → 32 bytes
//! store = $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt, B64>$<hash, B64>   (PHC string)
//! ```
//!
//! * **Parameters.** [`PasswordParams::default`] is m = 64 MiB, t = 3, p = 1. OWASP's Password
//!   Storage Cheat Sheet lists equally strong Argon2id minimums (m = 19 MiB, t = 2, p = 1 is the
//!   usual one; m = 46 MiB, t = 1 another); RFC 9106 § 4 recommends m = 64 MiB, t = 3 where its
//!   first choice (2 GiB) is too much memory. We take RFC 9106's: five times the memory × passes
//!   of OWASP's minimum, so five times an attacker's cost per guess, and more memory per guess
//!   hurts GPU and ASIC guessing most. In a release build on the development machine (2 shared
//!   cores) one hash takes about 90 ms (OWASP's minimum: 13 ms; m = 46 MiB, t = 1: 20 ms): not
//!   noticeable when signing in, and one core still serves about ten sign-ins a second. p = 1,
//!   not RFC 9106's 4: the `argon2` crate computes lanes one after another, so more lanes would
//!   cost us the same time and only let an attacker's parallel hardware go faster.
//! * **Rehash on sign-in.** [`verify_password`] reports [`Verified::needs_rehash`] when the stored
//!   hash is weaker than the current parameters: not Argon2id, not version 0x13, any of m, t, p
//!   lower, or a salt or output shorter than ours. The caller then stores
//!   [`hash_password`]`(password, current)`, so raising the parameters upgrades accounts as their
//!   owners sign in. Argon2i and Argon2d hashes (and version 0x10) still verify, to be upgraded.
//!   A hash without a `v=` field is refused as malformed: the reference implementation reads it as
//!   version 0x10 and the `argon2` crate as 0x13, so which one it is can't be known.
//! * **Unknown accounts.** [`dummy_verify`] spends the work of one verification against a hash of
//!   the current parameters (made at first use and cached), so a sign-in for an unknown e-mail
//!   address answers no faster than one with a wrong password. Call it once at start-up to pay the
//!   one-time precomputation outside a request.
//! * **Memory.** Argon2's working memory comes from a small pool of reused buffers, as in the
//!   envelope's `KdfMemory` (many threads each allocating tens of MiB fragment the allocator until
//!   the process holds gigabytes), and is zeroized after every use (the blocks are derived from
//!   the password; `argon2`'s own `PasswordHasher` neither pools nor wipes them). So this module
//!   does what `argon2::PasswordHasher` / `PasswordVerifier` do (the same PHC strings, checked
//!   against them in the tests) with `hash_password_into_with_memory`.
//!
//! **Callers run [`hash_password`], [`verify_password`] and [`dummy_verify`] on the blocking pool
//! (`tokio::task::spawn_blocking`), behind a semaphore** with about half as many permits as cores
//! (the server's default): each call holds one core for the time above and m of memory, and
//! without the semaphore a burst of sign-ins would take all the memory and every core. The pool
//! keeps up to [`POOLED_BUFFERS`] buffers (as many as calls ever ran at once; 64 MiB each with the
//! default), so with that many permits or fewer nothing is allocated after warm-up.
//!
//! # Rules for new passwords
//!
//! [`PasswordRules::check`] runs at sign-up and password change (not at sign-in: a rule added later
//! must not lock anyone out). In this order, a password is refused when it is [`Weak::TooLong`]
//! (more than `max_bytes` of UTF-8), [`Weak::TooShort`] (fewer than `min_chars` characters),
//! [`Weak::ContainsContext`] (it contains, ignoring case, the e-mail address's local part, the
//! instance name or another word the caller passes), [`Weak::Repetitive`] (fewer than 5 distinct
//! characters, at most two runs of a repeated character or a simple sequence such as `abcdef` or
//! `789012`, or one chunk repeated at least three times) or [`Weak::Common`]: Dropbox's `zxcvbn`
//! estimator (the `zxcvbn` crate) scores it below 3 of 4, i.e. it is guessed within about 10^8
//! tries because it is a common password, a dictionary word with small changes, a keyboard row, a
//! date, a name and so on (its lists include the most common leaked passwords).
//!
//! Length is counted in Unicode scalar values (`char`s): a Korean password counts one per
//! syllable. Normalising to NFC is the caller's job, before checking, hashing and verifying alike
//! (a password typed on another device may arrive decomposed).
//!
//! The password is only borrowed here; the copies this module makes (the lower-cased text, the
//! characters, Argon2's blocks, the derived hash) are zeroized. `zxcvbn` makes copies of its own
//! that it does not wipe; that is accepted (the request body it came from is in memory anyway).
//! Errors carry neither the password nor the stored hash: a wrong password is
//! [`PasswordError::Mismatch`], and nothing else about it is told.

use std::sync::Mutex;

use argon2::password_hash::{Output, ParamsString, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, Version};

use crate::envelope::KdfMemory;
use rand::rngs::OsRng;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Bytes of a hash we make (Argon2's default, RFC 9106's recommendation for password hashing).
const OUTPUT_LEN: usize = 32;
/// Bytes of a salt we make (`SaltString::generate`; RFC 9106 recommends 16).
const SALT_LEN: usize = 16;
/// Bounds on the parameters we hash with or accept in a stored hash, so a bad setting or a
/// damaged row can't make one sign-in burn a GiB and minutes of CPU.
const MAX_M_COST_KIB: u32 = 1 << 20;
const MAX_T_COST: u32 = 16;
const MAX_P_COST: u32 = 16;
/// Argon2 working-memory buffers kept for reuse; more concurrent calls allocate and free their own.
pub const POOLED_BUFFERS: usize = 4;

/// Argon2id cost parameters. The default is m = 64 MiB, t = 3, p = 1 (RFC 9106's second
/// recommendation, above OWASP's minimum; see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PasswordParams {
    /// Memory in KiB (8 × `p_cost` ..= 1 GiB).
    pub m_cost_kib: u32,
    /// Passes over the memory (1..=16).
    pub t_cost: u32,
    /// Lanes (1..=16).
    pub p_cost: u32,
}

impl Default for PasswordParams {
    fn default() -> Self {
        PasswordParams { m_cost_kib: 64 * 1024, t_cost: 3, p_cost: 1 }
    }
}

impl PasswordParams {
    /// Checks the ranges (check a configured value at start-up); [`hash_password`] refuses
    /// parameters out of range with [`PasswordError::Params`].
    pub fn validate(&self) -> Result<(), PasswordError> {
        self.argon2_params().map(drop)
    }

    fn argon2_params(&self) -> Result<Params, PasswordError> {
        let in_range = (1..=MAX_P_COST).contains(&self.p_cost)
            && (8 * self.p_cost..=MAX_M_COST_KIB).contains(&self.m_cost_kib)
            && (1..=MAX_T_COST).contains(&self.t_cost);
        if !in_range {
            return Err(PasswordError::Params);
        }
        Params::new(self.m_cost_kib, self.t_cost, self.p_cost, Some(OUTPUT_LEN))
            .map_err(|_| PasswordError::Params)
    }
}

/// Why hashing or verification failed. Carries neither the password nor the hash.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone, Copy)]
pub enum PasswordError {
    /// The password is not the one the hash was made from.
    #[error("wrong password")]
    Mismatch,
    /// The stored string is not an Argon2 PHC string we can verify (or its parameters are out of
    /// range).
    #[error("stored password hash is malformed")]
    Malformed,
    /// The parameters to hash with are out of range: a configuration error.
    #[error("password hashing parameters are out of range")]
    Params,
}

/// A password that matched its stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "a hash weaker than the current parameters should be replaced"]
pub struct Verified {
    /// The stored hash is weaker than the current parameters: store
    /// [`hash_password`]`(password, current)` in its place.
    pub needs_rehash: bool,
}

/// Argon2 working memory, reused across calls (see the module documentation).
static MEMORY: KdfMemory = KdfMemory::new(POOLED_BUFFERS);

/// Runs `f` on `blocks` blocks of pooled memory, and zeroizes them afterwards.
fn with_memory<T>(blocks: usize, f: impl FnOnce(&mut [Block]) -> T) -> T {
    MEMORY.with(blocks, f)
}

/// Argon2 of `password` into `out` (whose length is the output length in `params`).
fn argon2_into(
    algorithm: Algorithm,
    version: Version,
    params: Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> argon2::Result<()> {
    let blocks = params.block_count();
    let argon = Argon2::new(algorithm, version, params);
    with_memory(blocks, |memory| argon.hash_password_into_with_memory(password, salt, out, memory))
}

/// Hashes `password` with Argon2id v0x13 and a fresh salt; returns the PHC string to store
/// (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`). Slow on purpose: call it on the blocking pool.
pub fn hash_password(password: &str, params: PasswordParams) -> Result<String, PasswordError> {
    let argon_params = params.argon2_params()?;
    let salt = SaltString::generate(&mut OsRng);
    // `generate` makes 16 random bytes in B64, which decode into 64 bytes; `ParamsString` holds
    // m, t and p of any u32 value (at most 38 of its 127 bytes); `Output::new` takes 10..=64 bytes
    // and gets 32; Argon2 accepts 16 bytes of salt, a 32-byte output and any password under
    // 4 GiB (a `&str` from a request is far smaller), and `argon2_params` checked the rest. So
    // nothing below fails: the mappings are for form's sake.
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_buf).map_err(|_| PasswordError::Params)?;
    let params_string = ParamsString::try_from(&argon_params).map_err(|_| PasswordError::Params)?;
    let mut out = Zeroizing::new([0u8; OUTPUT_LEN]);
    argon2_into(
        Algorithm::Argon2id,
        Version::V0x13,
        argon_params,
        password.as_bytes(),
        salt_bytes,
        &mut out[..],
    )
    .map_err(|_| PasswordError::Params)?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: params_string,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out[..]).map_err(|_| PasswordError::Params)?),
    };
    Ok(hash.to_string())
}

/// Checks `password` against the stored PHC string `phc`. Slow on purpose: call it on the blocking
/// pool.
///
/// A wrong password is [`PasswordError::Mismatch`]; a string that is not an Argon2 PHC string with
/// a version, a salt, a hash and parameters within bounds is [`PasswordError::Malformed`]. On a
/// match, [`Verified::needs_rehash`] says whether the hash is weaker than `current`.
pub fn verify_password(
    password: &str,
    phc: &str,
    current: PasswordParams,
) -> Result<Verified, PasswordError> {
    let stored = PasswordHash::new(phc).map_err(|_| PasswordError::Malformed)?;
    let algorithm = Algorithm::try_from(stored.algorithm).map_err(|_| PasswordError::Malformed)?;
    let version = Version::try_from(stored.version.ok_or(PasswordError::Malformed)?)
        .map_err(|_| PasswordError::Malformed)?;
    let (Some(salt), Some(expected)) = (stored.salt, stored.hash) else {
        return Err(PasswordError::Malformed);
    };
    // m, t and p (keyid and data too, and the output length from the stored hash).
    let params = Params::try_from(&stored).map_err(|_| PasswordError::Malformed)?;
    let used =
        PasswordParams { m_cost_kib: params.m_cost(), t_cost: params.t_cost(), p_cost: params.p_cost() };
    used.validate().map_err(|_| PasswordError::Malformed)?;
    let mut salt_buf = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_buf).map_err(|_| PasswordError::Malformed)?;

    let mut out = Zeroizing::new(vec![0u8; expected.len()]);
    argon2_into(algorithm, version, params, password.as_bytes(), salt_bytes, &mut out[..])
        .map_err(|_| PasswordError::Malformed)?;
    if !bool::from(expected.as_bytes().ct_eq(&out[..])) {
        return Err(PasswordError::Mismatch);
    }

    let needs_rehash = algorithm != Algorithm::Argon2id
        || version != Version::V0x13
        || used.m_cost_kib < current.m_cost_kib
        || used.t_cost < current.t_cost
        || used.p_cost < current.p_cost
        || expected.len() < OUTPUT_LEN
        || salt_bytes.len() < SALT_LEN;
    Ok(Verified { needs_rehash })
}

/// The hash [`dummy_verify`] checks against, with the parameters it was made with.
static DUMMY: Mutex<Option<(PasswordParams, String)>> = Mutex::new(None);

/// Spends the work of one [`verify_password`] with `current` and forgets the result: call it when
/// the e-mail address is unknown, so the answer comes no faster than for a wrong password.
///
/// The hash it checks against (of a random password, made with `current`) is made at first use
/// and again whenever `current` changes; that first call costs two hashes. If `current` is out of
/// range (see [`PasswordParams::validate`]) it does nothing. Call it on the blocking pool, behind
/// the same semaphore as [`verify_password`].
pub fn dummy_verify(password: &str, current: PasswordParams) {
    let Some(phc) = dummy_phc(current) else { return };
    // Always `Err(Mismatch)`: nobody knows the random password.
    let _ = verify_password(password, &phc, current);
}

fn dummy_phc(current: PasswordParams) -> Option<String> {
    if let Some((params, phc)) = DUMMY.lock().unwrap_or_else(|p| p.into_inner()).as_ref()
        && *params == current
    {
        return Some(phc.clone());
    }
    // Made outside the lock, so concurrent first calls don't queue behind it; one of the results
    // is kept, and either serves.
    let random = SaltString::generate(&mut OsRng);
    let phc = hash_password(random.as_str(), current).ok()?;
    *DUMMY.lock().unwrap_or_else(|p| p.into_inner()) = Some((current, phc.clone()));
    Some(phc)
}

/// Why a new password was refused. The messages are English; the UI localises by variant.
/// Nothing here carries the password.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone, Copy)]
pub enum Weak {
    /// Fewer than `min` characters.
    #[error("the password must have at least {min} characters")]
    TooShort { min: usize },
    /// More than `max` bytes of UTF-8.
    #[error("the password must not be longer than {max} bytes")]
    TooLong { max: usize },
    /// Contains the e-mail address's name, the instance name or another word of the context.
    #[error("the password must not contain your e-mail address or the name of this site")]
    ContainsContext,
    /// A repeated character, a simple sequence or a repeated chunk.
    #[error("the password is too repetitive (like \"aaaa\", \"abcd\" or \"1234\")")]
    Repetitive,
    /// A common password, or nearly as easy to guess.
    #[error("the password is too common or too easy to guess")]
    Common,
}

/// What a new password must meet (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordRules {
    /// At least this many characters (Unicode scalar values). Default 12.
    pub min_chars: usize,
    /// At most this many bytes of UTF-8. Default 1024.
    pub max_bytes: usize,
}

impl Default for PasswordRules {
    fn default() -> Self {
        PasswordRules { min_chars: 12, max_bytes: 1024 }
    }
}

/// Context words shorter than this (in characters) are ignored: too many passwords would contain
/// them by chance.
const MIN_CONTEXT_CHARS: usize = 4;
/// A password with fewer distinct characters than this is [`Weak::Repetitive`].
const MIN_DISTINCT_CHARS: usize = 5;
/// `zxcvbn` scores below this are [`Weak::Common`] (3: more than 10^8 guesses needed).
const MIN_ZXCVBN_SCORE: zxcvbn::Score = zxcvbn::Score::Three;

impl PasswordRules {
    /// Checks a new password. `context` holds what the password must not contain: the account's
    /// e-mail address (its local part and the other words in it count), the instance name, and so
    /// on. Each entry, and each run of letters and digits in it, of at least 4 characters is looked
    /// for ignoring case. The password should be NFC-normalised by the caller.
    ///
    /// The first rule broken is returned (see the module documentation for the order). Takes
    /// about 0.1 ms in a release build; the first call also builds `zxcvbn`'s dictionaries (about
    /// 10 ms).
    pub fn check(&self, password: &str, context: &[&str]) -> Result<(), Weak> {
        // Bytes first: nothing below looks at a too-long input.
        if password.len() > self.max_bytes {
            return Err(Weak::TooLong { max: self.max_bytes });
        }
        if password.chars().count() < self.min_chars {
            return Err(Weak::TooShort { min: self.min_chars });
        }
        let words = context_words(context);
        let lower = Zeroizing::new(password.to_lowercase());
        if words.iter().any(|w| lower.contains(w.as_str())) {
            return Err(Weak::ContainsContext);
        }
        if is_repetitive(password) {
            return Err(Weak::Repetitive);
        }
        let inputs: Vec<&str> = words.iter().map(String::as_str).collect();
        // `zxcvbn` looks at the first 100 characters only, so its time is bounded.
        if zxcvbn::zxcvbn(password, &inputs).score() < MIN_ZXCVBN_SCORE {
            return Err(Weak::Common);
        }
        Ok(())
    }
}

/// The lower-cased context entries and their alphanumeric words, of at least
/// [`MIN_CONTEXT_CHARS`] characters each.
fn context_words(context: &[&str]) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for entry in context {
        let entry = entry.trim().to_lowercase();
        let parts = entry.split(|c: char| !c.is_alphanumeric()).map(str::to_owned);
        for word in std::iter::once(entry.clone()).chain(parts) {
            if word.chars().count() >= MIN_CONTEXT_CHARS && !words.contains(&word) {
                words.push(word);
            }
        }
    }
    words
}

/// Few distinct characters, at most two runs of "same character" or "next character" steps, or a
/// chunk repeated three times or more (ASCII letters compared without case).
fn is_repetitive(password: &str) -> bool {
    let chars: Zeroizing<Vec<char>> =
        Zeroizing::new(password.chars().map(|c| c.to_ascii_lowercase()).collect());
    few_distinct(&chars) || few_runs(&chars) || short_period(&chars)
}

fn few_distinct(chars: &[char]) -> bool {
    let mut seen: Zeroizing<Vec<char>> = Zeroizing::new(Vec::with_capacity(MIN_DISTINCT_CHARS));
    for &c in chars {
        if !seen.contains(&c) {
            if seen.len() + 1 == MIN_DISTINCT_CHARS {
                return false;
            }
            seen.push(c);
        }
    }
    true
}

/// Whether `b` is `a` moved by `step` (-1, 0 or 1): digits wrap 9 → 0, lower-case ASCII letters
/// z → a, anything else steps by code point.
fn follows(a: char, b: char, step: i8) -> bool {
    fn cyclic(a: char, b: char, base: u8, len: u8, step: i8) -> bool {
        let (a, b) = (u32::from(a) - u32::from(base), u32::from(b) - u32::from(base));
        let len = u32::from(len);
        (a + len).wrapping_add_signed(i32::from(step)) % len == b
    }
    if a.is_ascii_digit() && b.is_ascii_digit() {
        cyclic(a, b, b'0', 10, step)
    } else if a.is_ascii_lowercase() && b.is_ascii_lowercase() {
        cyclic(a, b, b'a', 26, step)
    } else {
        u32::from(a).checked_add_signed(i32::from(step)) == Some(u32::from(b))
    }
}

/// Splits the password, left to right, into runs in which every character follows the one before
/// by the same step (0: `aaaa`; 1: `abcd`, `7890`; -1: `dcba`); true if there are at most two.
fn few_runs(chars: &[char]) -> bool {
    let mut runs = 1;
    let mut step: Option<i8> = None;
    for pair in chars.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        match step {
            Some(s) if follows(a, b, s) => {}
            Some(_) => {
                // `b` starts a new run.
                runs += 1;
                step = None;
            }
            None => match [0, 1, -1].into_iter().find(|&s| follows(a, b, s)) {
                Some(s) => step = Some(s),
                None => {
                    // `a` was a run of one; `b` starts a new run.
                    runs += 1;
                }
            },
        }
        if runs > 2 {
            return false;
        }
    }
    true
}

/// Whether the smallest period p of the password (`chars[i] == chars[i + p]` for all i) is at
/// most a third of its length: a chunk repeated at least three times, the last one maybe cut.
fn short_period(chars: &[char]) -> bool {
    let n = chars.len();
    if n == 0 {
        return true;
    }
    // Knuth–Morris–Pratt prefix function: border[i] is the length of the longest proper prefix
    // of chars[..=i] that is also its suffix. The smallest period is n - border[n - 1].
    let mut border = vec![0usize; n];
    for i in 1..n {
        let mut k = border[i - 1];
        while k > 0 && chars[i] != chars[k] {
            k = border[k - 1];
        }
        if chars[i] == chars[k] {
            k += 1;
        }
        border[i] = k;
    }
    3 * (n - border[n - 1]) <= n
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use argon2::{PasswordHasher, PasswordVerifier};

    /// Cheap parameters, so the tests don't spend seconds in Argon2.
    const CHEAP: PasswordParams = PasswordParams { m_cost_kib: 256, t_cost: 1, p_cost: 1 };

    #[test]
    fn round_trip() {
        for pw in ["correct horse battery staple", "비밀번호는여기에있어요", ""] {
            let phc = hash_password(pw, CHEAP).unwrap();
            assert_eq!(verify_password(pw, &phc, CHEAP), Ok(Verified { needs_rehash: false }));
        }
    }

    #[test]
    fn salts_are_fresh() {
        let a = hash_password("same password", CHEAP).unwrap();
        let b = hash_password("same password", CHEAP).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn wrong_password_is_mismatch() {
        let phc = hash_password("correct horse battery staple", CHEAP).unwrap();
        for wrong in ["correct horse battery stapl", "Correct horse battery staple", "", "x"] {
            assert_eq!(verify_password(wrong, &phc, CHEAP), Err(PasswordError::Mismatch));
        }
    }

    #[test]
    fn malformed_is_malformed() {
        let good = hash_password("pw", CHEAP).unwrap();
        let no_version = good.replace("$v=19", "");
        let bad_version = good.replace("$v=19", "$v=18");
        let huge_m = good.replace("m=256", "m=4194304");
        let huge_t = good.replace("t=1", "t=100");
        let unknown_param = good.replace("p=1", "p=1,x=2");
        let (head, _) = good.rsplit_once('$').unwrap();
        let no_hash = head.to_owned();
        let scrypt = good.replace("argon2id", "scrypt");
        let bcrypt = "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW";
        for phc in [
            "",
            "password",
            "$argon2id$",
            bcrypt,
            &no_version,
            &bad_version,
            &huge_m,
            &huge_t,
            &unknown_param,
            &no_hash,
            &scrypt,
        ] {
            assert_eq!(verify_password("pw", phc, CHEAP), Err(PasswordError::Malformed), "{phc}");
        }
    }

    #[test]
    fn phc_format() {
        let phc = hash_password("pw", CHEAP).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=256,t=1,p=1$"), "{phc}");
        let parts: Vec<&str> = phc.split('$').collect();
        // "", alg, version, params, salt (16 bytes → 22 chars), hash (32 bytes → 43 chars)
        assert_eq!(parts.len(), 6);
        assert_eq!(parts[4].len(), 22);
        assert_eq!(parts[5].len(), 43);
    }

    #[test]
    fn default_params() {
        let params = PasswordParams::default();
        assert_eq!(params, PasswordParams { m_cost_kib: 65536, t_cost: 3, p_cost: 1 });
        assert_eq!(params.validate(), Ok(()));
        let phc = hash_password("correct horse battery staple", params).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=65536,t=3,p=1$"), "{phc}");
        assert_eq!(
            verify_password("correct horse battery staple", &phc, params),
            Ok(Verified { needs_rehash: false })
        );
    }

    #[test]
    fn params_out_of_range() {
        for p in [
            PasswordParams { m_cost_kib: 7, ..CHEAP },
            PasswordParams { m_cost_kib: MAX_M_COST_KIB + 1, ..CHEAP },
            PasswordParams { t_cost: 0, ..CHEAP },
            PasswordParams { t_cost: 17, ..CHEAP },
            PasswordParams { p_cost: 0, ..CHEAP },
            PasswordParams { p_cost: 17, ..CHEAP },
            PasswordParams { m_cost_kib: 31, t_cost: 1, p_cost: 4 },
        ] {
            assert_eq!(p.validate(), Err(PasswordError::Params), "{p:?}");
            assert_eq!(hash_password("pw", p), Err(PasswordError::Params), "{p:?}");
        }
    }

    #[test]
    fn needs_rehash_when_current_params_rise() {
        let phc = hash_password("pw", CHEAP).unwrap();
        let check = |current| verify_password("pw", &phc, current).unwrap().needs_rehash;
        assert!(!check(CHEAP));
        assert!(check(PasswordParams { m_cost_kib: 512, ..CHEAP }));
        assert!(check(PasswordParams { t_cost: 2, ..CHEAP }));
        assert!(check(PasswordParams { p_cost: 2, ..CHEAP }));
        assert!(check(PasswordParams::default()));
        // Lower current parameters are no reason to rehash.
        let strong = PasswordParams { m_cost_kib: 512, t_cost: 2, p_cost: 2 };
        let phc = hash_password("pw", strong).unwrap();
        assert!(!verify_password("pw", &phc, CHEAP).unwrap().needs_rehash);
        assert!(!verify_password("pw", &phc, strong).unwrap().needs_rehash);
    }

    /// Hashes with the `argon2` crate's own `PasswordHasher`.
    fn reference_hash(
        algorithm: Algorithm,
        version: Version,
        params: PasswordParams,
        output_len: usize,
    ) -> String {
        let p = Params::new(params.m_cost_kib, params.t_cost, params.p_cost, Some(output_len)).unwrap();
        let salt = SaltString::generate(&mut OsRng);
        Argon2::new(algorithm, version, p).hash_password(b"pw", &salt).unwrap().to_string()
    }

    #[test]
    fn needs_rehash_for_other_algorithms_and_versions() {
        let argon2i = reference_hash(Algorithm::Argon2i, Version::V0x13, CHEAP, 32);
        let argon2d = reference_hash(Algorithm::Argon2d, Version::V0x13, CHEAP, 32);
        let v10 = reference_hash(Algorithm::Argon2id, Version::V0x10, CHEAP, 32);
        let short = reference_hash(Algorithm::Argon2id, Version::V0x13, CHEAP, 16);
        for phc in [argon2i, argon2d, v10, short] {
            assert_eq!(verify_password("pw", &phc, CHEAP), Ok(Verified { needs_rehash: true }), "{phc}");
            assert_eq!(verify_password("wrong", &phc, CHEAP), Err(PasswordError::Mismatch), "{phc}");
        }
    }

    #[test]
    fn interoperates_with_the_argon2_traits() {
        // Theirs → ours.
        let theirs = reference_hash(Algorithm::Argon2id, Version::V0x13, CHEAP, 32);
        assert_eq!(verify_password("pw", &theirs, CHEAP), Ok(Verified { needs_rehash: false }));
        // Ours → theirs.
        let ours = hash_password("pw", CHEAP).unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default().verify_password(b"pw", &parsed).is_ok());
        assert!(Argon2::default().verify_password(b"pW", &parsed).is_err());
    }

    #[test]
    fn dummy_verify_uses_current_params() {
        let params = PasswordParams { m_cost_kib: 264, t_cost: 1, p_cost: 1 };
        dummy_verify("anything", params);
        let cached = DUMMY.lock().unwrap().clone().unwrap();
        assert_eq!(cached.0, params);
        assert!(cached.1.starts_with("$argon2id$v=19$m=264,t=1,p=1$"));
        // Reused while the parameters stay; remade when they change.
        dummy_verify("anything", params);
        assert_eq!(DUMMY.lock().unwrap().as_ref().unwrap().1, cached.1);
        let raised = PasswordParams { t_cost: 2, ..params };
        dummy_verify("anything", raised);
        assert!(DUMMY.lock().unwrap().as_ref().unwrap().1.starts_with("$argon2id$v=19$m=264,t=2,p=1$"));
        // Out of range: does nothing, doesn't panic.
        dummy_verify("anything", PasswordParams { t_cost: 0, ..params });
    }

    #[test]
    fn debug_and_errors_print_nothing_secret() {
        let pw = "alice-secret-2026!";
        let phc = hash_password(pw, CHEAP).unwrap();
        let salt_and_hash = phc.rsplit('$').take(2).collect::<Vec<_>>();
        let printed = [
            format!("{:?} {}", verify_password("wrong", &phc, CHEAP), PasswordError::Mismatch),
            format!("{:?}", verify_password(pw, &phc, CHEAP)),
            format!("{:?}", verify_password(pw, "$argon2id$garbage", CHEAP)),
            format!("{:?} {}", PasswordError::Malformed, PasswordError::Malformed),
            format!("{:?}", PasswordRules::default().check(pw, &["alice@example.com"])),
            format!("{}", PasswordRules::default().check(pw, &["alice@example.com"]).unwrap_err()),
        ];
        for p in printed {
            assert!(!p.contains("secret") && !p.contains("alice"), "{p}");
            for part in &salt_and_hash {
                assert!(!p.contains(part), "{p}");
            }
        }
    }

    // Rules.

    fn check(pw: &str) -> Result<(), Weak> {
        PasswordRules::default().check(pw, &[])
    }

    #[test]
    fn length_boundaries() {
        assert_eq!(check("Tq8#vLz!m2R"), Err(Weak::TooShort { min: 12 }));
        assert_eq!(check("Tq8#vLz!m2Rw"), Ok(()));
        // Korean counts per syllable (36 bytes of UTF-8, 12 characters).
        let korean = "하늘바다구름별빛노을숲길";
        assert_eq!(korean.chars().count(), 12);
        assert_eq!(check(korean), Ok(()));
        assert_eq!(check("하늘바다구름별빛노을숲"), Err(Weak::TooShort { min: 12 }));
    }

    #[test]
    fn too_long() {
        let rules = PasswordRules::default();
        let base = "Tq8#vLz!m2Rw";
        let at_limit: String = base.chars().cycle().take(1024).collect();
        let over: String = base.chars().cycle().take(1025).collect();
        // At the limit the length is fine (it is repetitive: the next rule says so).
        assert_eq!(rules.check(&at_limit, &[]), Err(Weak::Repetitive));
        assert_eq!(rules.check(&over, &[]), Err(Weak::TooLong { max: 1024 }));
        // Bytes, not characters: 342 syllables are 1026 bytes.
        let korean: String = "하늘바다구름별빛노을숲길".chars().cycle().take(342).collect();
        assert_eq!(rules.check(&korean, &[]), Err(Weak::TooLong { max: 1024 }));
        let custom = PasswordRules { min_chars: 4, max_bytes: 8 };
        assert_eq!(custom.check("Tq8#vLz!m", &[]), Err(Weak::TooLong { max: 8 }));
    }

    #[test]
    fn common_passwords() {
        for pw in [
            "password1234",
            "qwertyuiop12",
            "iloveyou1234",
            "Password123!",
            "letmein12345",
            "trustno1trustno1",
        ] {
            let got = check(pw);
            assert!(matches!(got, Err(Weak::Common | Weak::Repetitive)), "{pw}: {got:?}");
        }
    }

    #[test]
    fn repetitive_passwords() {
        for pw in [
            "aaaaaaaaaaaa",
            "abcdefghijkl",
            "ABCDEFGHIJKL",
            "lkjihgfedcba",
            "123456789012",
            "098765432109",
            "abcdef123456",
            "aaaaaabbbbbb",
            "aaaaaaaaaaab",
            "abababababab",
            "abcabcabcabc",
            "xyzabcdefghi",
            "ab1!ab1!ab1!",
            "pass1pass1pass1",
            "가가가가가가가가가가가가",
        ] {
            assert_eq!(check(pw), Err(Weak::Repetitive), "{pw}");
        }
    }

    #[test]
    fn context_words_are_refused() {
        let rules = PasswordRules::default();
        let ctx = ["alice@example.com", "Once at ACME"];
        assert_eq!(rules.check("alice-secret-2026!", &ctx), Err(Weak::ContainsContext));
        assert_eq!(rules.check("xx-ALICE-xx-Tq8#vLz", &ctx), Err(Weak::ContainsContext));
        assert_eq!(rules.check("my-example-Tq8#vLz!", &ctx), Err(Weak::ContainsContext));
        assert_eq!(rules.check("Tq8#vLz!m2Rw-acme", &ctx), Err(Weak::ContainsContext));
        // Words of fewer than 4 characters ("com", "at") don't count.
        assert_eq!(rules.check("Tq8#vLz!m2Rw.com", &ctx), Ok(()));
        // Without the context the same password is fine.
        assert_eq!(rules.check("xx-ALICE-xx-Tq8#vLz", &[]), Ok(()));
        // Short or empty context entries are ignored.
        assert_eq!(rules.check("Tq8#vLz!m2Rw", &["", "bob", "a@b.c"]), Ok(()));
        // Case-insensitive beyond ASCII.
        assert_eq!(rules.check("xx-ÉLODIE-xx-Tq8#vLz", &["élodie@example.fr"]), Err(Weak::ContainsContext));
    }

    #[test]
    fn strong_passwords_pass() {
        for pw in [
            "Tq8#vLz!m2Rw",
            "r0sebudmaelstrom11/20/91aaaa",
            "correct horse battery staple",
            "gU7$kd93!xPq-ZmR0",
            "하늘바다구름별빛노을숲길",
        ] {
            assert_eq!(check(pw), Ok(()), "{pw}");
        }
    }

    #[test]
    fn repetition_helpers() {
        assert!(follows('9', '0', 1));
        assert!(follows('a', 'z', -1));
        assert!(follows('가', '각', 1));
        assert!(!follows('a', 'c', 1));
        assert!(short_period(&['a', 'b', 'a', 'b', 'a', 'b']));
        assert!(!short_period(&['a', 'b', 'c', 'a', 'b', 'c', 'd']));
        assert!(few_runs(&['1', '2', '3', 'x', 'x', 'x']));
        assert!(!few_runs(&['1', '2', '3', 'x', 'x', 'q']));
    }
}
