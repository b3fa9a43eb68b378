//! Split secrets: a zero-knowledge secret whose key is cut into N shares by Shamir's secret
//! sharing, any K of which rebuild it, while K − 1 of them say nothing about it (`once share
//! --split K-of-N`, `once combine`).
//!
//! # Format v1
//!
//! ```text
//! K0        = 32 random bytes (a fragment key, never shown to anyone)
//! blob      = zk::seal(K0, no passphrase, plaintext)            (zero-knowledge format v1)
//! split_id  = 16 random bytes
//! y_1..y_N  = Shamir's secret sharing over GF(256) of K0, byte by byte (vsss-rs `Gf256`):
//!             for each byte a polynomial of degree K − 1 with that byte as its constant term
//!             and K − 1 uniformly random coefficients, evaluated at x = 1..N (32 bytes each)
//! share_i   = "once/split" ‖ 0x01 (version) ‖ K ‖ N ‖ x_i ‖ split_id(16) ‖ y_i(32) ‖ blob
//! ```
//!
//! Each `share_i` then becomes the plaintext of an ordinary zero-knowledge secret of its own,
//! under its own fragment key (and the passphrase, if there is one): one link per share. The
//! passphrase is applied there, on each link, rather than on `blob`, so that the server checks it
//! (through the key proof) before it hands out a share: a wrong passphrase uses up nothing, as
//! with any other zero-knowledge link.
//!
//! * `blob` (the secret's ciphertext) is repeated in every share, so any K shares hold all that
//!   is needed; hence the limit of [`MAX_PLAINTEXT`] bytes.
//! * `split_id` tells shares of different splits apart before a wrong key is rebuilt from them.
//! * Shares are authenticated by the link they travel in (AES-GCM under its key), and `blob` by
//!   K0: shares that don't belong together rebuild a wrong K0, and `blob` then doesn't open.
//! * Over GF(256) every byte of K0 has its own polynomial, so any K − 1 shares are consistent
//!   with every possible K0: fewer than K reveal nothing about it.
//!
//! K0, the shares' `y` values and the rebuilt key live only in buffers that are wiped on drop.

use std::fmt;
use std::str::FromStr;

use data_encoding::BASE64URL_NOPAD;
use getrandom::SysRng;
use getrandom::rand_core::UnwrapErr;
use rand::RngCore;
use rand::rngs::OsRng;
use vsss_rs::Gf256;
use zeroize::Zeroizing;

use super::{FragmentKey, KEY_LEN, ZkError};

/// The most shares (N) a split may have.
pub const MAX_SHARES: u8 = 16;
/// The largest secret that may be split: every share carries its ciphertext.
pub const MAX_PLAINTEXT: usize = 64 * 1024;

const TAG: &[u8] = b"once/split";
const VERSION: u8 = 1;
const SPLIT_ID_LEN: usize = 16;
/// tag ‖ version ‖ K ‖ N ‖ x
const HEADER_LEN: usize = TAG.len() + 4;
const FIXED_LEN: usize = HEADER_LEN + SPLIT_ID_LEN + KEY_LEN;

/// Why a split, a share or a combination was refused. Never carries key material.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone, Copy)]
pub enum SplitError {
    #[error("expected K-of-N, such as 3-of-5")]
    Syntax,
    #[error("K must be at least 2 (one share alone would be the secret)")]
    ThresholdTooLow,
    #[error("K can't be more than N")]
    ThresholdAboveShares,
    #[error("N can be at most {MAX_SHARES}")]
    TooManyShares,
    #[error("a split secret can be at most 64 KiB (every link holds a copy of its ciphertext)")]
    TooLarge,
    #[error("not a share of a split secret")]
    Malformed,
    #[error("unsupported split-secret format version")]
    UnsupportedVersion,
    #[error("these shares belong to different splits")]
    MixedSplits,
    #[error("the secret needs {needed} shares and {have} were given")]
    NotEnough { needed: u8, have: usize },
    /// The shares rebuilt a key that does not open the secret: they were damaged.
    #[error("the shares do not rebuild the secret's key: they are damaged")]
    Failed,
}

/// K and N of a split: any K of its N shares rebuild it. `2 ≤ K ≤ N ≤ 16`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Threshold {
    needed: u8,
    shares: u8,
}

impl Threshold {
    pub fn new(needed: u8, shares: u8) -> Result<Self, SplitError> {
        if needed < 2 {
            return Err(SplitError::ThresholdTooLow);
        }
        if shares > MAX_SHARES {
            return Err(SplitError::TooManyShares);
        }
        if needed > shares {
            return Err(SplitError::ThresholdAboveShares);
        }
        Ok(Threshold { needed, shares })
    }

    /// K: how many shares rebuild the secret.
    pub fn needed(self) -> u8 {
        self.needed
    }

    /// N: how many shares there are.
    pub fn shares(self) -> u8 {
        self.shares
    }
}

/// `3-of-5`.
impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-of-{}", self.needed, self.shares)
    }
}

/// `K-of-N` (also `KofN`), e.g. `3-of-5`.
impl FromStr for Threshold {
    type Err = SplitError;

    fn from_str(text: &str) -> Result<Self, SplitError> {
        let lower = text.trim().to_ascii_lowercase();
        let (k, n) = lower.split_once("-of-").or_else(|| lower.split_once("of")).ok_or(SplitError::Syntax)?;
        let number = |s: &str| -> Result<u8, SplitError> {
            if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(SplitError::Syntax);
            }
            // At most three digits: `u16` holds it; anything over 255 is over N's limit anyway.
            let v: u16 = s.parse().map_err(|_| SplitError::Syntax)?;
            u8::try_from(v).map_err(|_| SplitError::TooManyShares)
        };
        Threshold::new(number(k)?, number(n)?)
    }
}

/// A split's random identifier: shares of one split all carry it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SplitId([u8; SPLIT_ID_LEN]);

impl SplitId {
    fn generate() -> Self {
        let mut id = [0u8; SPLIT_ID_LEN];
        OsRng.fill_bytes(&mut id);
        SplitId(id)
    }

    /// 22 base64url characters without padding.
    pub fn to_base64url(&self) -> String {
        BASE64URL_NOPAD.encode(&self.0)
    }

    /// Parses exactly 22 base64url characters (canonical, no padding).
    pub fn from_base64url(text: &str) -> Result<Self, SplitError> {
        let mut id = [0u8; SPLIT_ID_LEN];
        if BASE64URL_NOPAD.decode_len(text.len()) != Ok(SPLIT_ID_LEN) {
            return Err(SplitError::Malformed);
        }
        BASE64URL_NOPAD.decode_mut(text.as_bytes(), &mut id).map_err(|_| SplitError::Malformed)?;
        Ok(SplitId(id))
    }
}

impl fmt::Debug for SplitId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SplitId({})", self.to_base64url())
    }
}

/// One share of a split secret, as carried by one link.
#[derive(Clone)]
pub struct Share {
    threshold: Threshold,
    /// The share's x coordinate, 1..=N.
    index: u8,
    split_id: SplitId,
    /// The polynomials' values at `index`, one per byte of the key.
    y: Zeroizing<[u8; KEY_LEN]>,
    /// The secret's ciphertext under the split key (zero-knowledge format v1), the same in
    /// every share.
    blob: Vec<u8>,
}

impl fmt::Debug for Share {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Share")
            .field("threshold", &self.threshold)
            .field("index", &self.index)
            .field("split_id", &self.split_id)
            .finish_non_exhaustive()
    }
}

impl Share {
    pub fn threshold(&self) -> Threshold {
        self.threshold
    }

    /// Which share this is, 1..=N.
    pub fn index(&self) -> u8 {
        self.index
    }

    pub fn split_id(&self) -> SplitId {
        self.split_id
    }

    /// The share's bytes (format v1 above), to seal into a link.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(FIXED_LEN + self.blob.len()));
        out.extend_from_slice(TAG);
        out.extend_from_slice(&[VERSION, self.threshold.needed, self.threshold.shares, self.index]);
        out.extend_from_slice(&self.split_id.0);
        out.extend_from_slice(&self.y[..]);
        out.extend_from_slice(&self.blob);
        out
    }

    /// Parses a share's bytes, as a link revealed them.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SplitError> {
        if bytes.len() < HEADER_LEN || &bytes[..TAG.len()] != TAG {
            return Err(SplitError::Malformed);
        }
        let header = &bytes[TAG.len()..HEADER_LEN];
        if header[0] != VERSION {
            return Err(SplitError::UnsupportedVersion);
        }
        let threshold = Threshold::new(header[1], header[2]).map_err(|_| SplitError::Malformed)?;
        let index = header[3];
        if index == 0 || index > threshold.shares || bytes.len() <= FIXED_LEN {
            return Err(SplitError::Malformed);
        }
        let mut split_id = [0u8; SPLIT_ID_LEN];
        split_id.copy_from_slice(&bytes[HEADER_LEN..HEADER_LEN + SPLIT_ID_LEN]);
        let mut y = Zeroizing::new([0u8; KEY_LEN]);
        y.copy_from_slice(&bytes[HEADER_LEN + SPLIT_ID_LEN..FIXED_LEN]);
        Ok(Share { threshold, index, split_id: SplitId(split_id), y, blob: bytes[FIXED_LEN..].to_vec() })
    }
}

/// Encrypts `plaintext` under a fresh key and splits that key into `threshold.shares()` shares,
/// any `threshold.needed()` of which rebuild it.
pub fn split(plaintext: &[u8], threshold: Threshold) -> Result<Vec<Share>, SplitError> {
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(SplitError::TooLarge);
    }
    let key = FragmentKey::generate();
    let (blob, _proof) = super::seal(&key, None, plaintext).map_err(|_| SplitError::TooLarge)?;
    // vsss-rs reuses one polynomial for every byte and does not wipe it: a last byte that is
    // not part of the key leaves only that byte's polynomial behind in freed memory. Its shares
    // are dropped.
    let mut input = Zeroizing::new([0u8; KEY_LEN + 1]);
    input[..KEY_LEN].copy_from_slice(&key.0);
    // The OS random source. `UnwrapErr` panics only if the OS has no randomness to give, as
    // `OsRng` (which made `key` above) does: then no key could be made at all.
    let rng = UnwrapErr(SysRng);
    let points =
        Gf256::split_bytes(usize::from(threshold.needed), usize::from(threshold.shares), &input[..], rng)
            .map(Zeroizing::new)
            // `Threshold` guarantees 2 ≤ K ≤ N ≤ 16 and the input is 33 bytes: what vsss-rs asks for.
            .map_err(|_| SplitError::Failed)?;
    let split_id = SplitId::generate();
    points
        .iter()
        .map(|point| {
            // Each point is x ‖ y (1 + 33 bytes), x counting up from 1; y's last byte is the
            // padding's.
            let (&index, values) = point.split_first().ok_or(SplitError::Failed)?;
            let mut y = Zeroizing::new([0u8; KEY_LEN]);
            if values.len() != KEY_LEN + 1 {
                return Err(SplitError::Failed);
            }
            y.copy_from_slice(&values[..KEY_LEN]);
            Ok(Share { threshold, index, split_id, y, blob: blob.clone() })
        })
        .collect()
}

/// Rebuilds the secret from shares of one split: at least K different ones (repeats are
/// ignored; only K of them are used).
pub fn combine(shares: &[Share]) -> Result<Zeroizing<Vec<u8>>, SplitError> {
    let first = shares.first().ok_or(SplitError::NotEnough { needed: 2, have: 0 })?;
    let mut distinct: Vec<&Share> = Vec::with_capacity(shares.len());
    for share in shares {
        if share.split_id != first.split_id {
            return Err(SplitError::MixedSplits);
        }
        if share.threshold != first.threshold || share.blob != first.blob {
            // One split id, different contents: not what `split` made.
            return Err(SplitError::Failed);
        }
        match distinct.iter().find(|s| s.index == share.index) {
            Some(same) if same.y[..] == share.y[..] => {}
            Some(_) => return Err(SplitError::Failed),
            None => distinct.push(share),
        }
    }
    let needed = first.threshold.needed;
    if distinct.len() < usize::from(needed) {
        return Err(SplitError::NotEnough { needed, have: distinct.len() });
    }
    let key = combine_key(&distinct[..usize::from(needed)])?;
    super::open(&key, None, &first.blob).map_err(|e| match e {
        ZkError::Failed => SplitError::Failed,
        ZkError::Malformed | ZkError::UnsupportedVersion => SplitError::Malformed,
    })
}

/// Lagrange interpolation at 0 of the given shares, whatever their number: with fewer than K of
/// them the result is a key unrelated to the secret's.
fn combine_key(shares: &[&Share]) -> Result<FragmentKey, SplitError> {
    let points: Zeroizing<Vec<Vec<u8>>> = Zeroizing::new(
        shares
            .iter()
            .map(|s| {
                let mut point = Vec::with_capacity(1 + KEY_LEN);
                point.push(s.index);
                point.extend_from_slice(&s.y[..]);
                point
            })
            .collect(),
    );
    let bytes = Zeroizing::new(Gf256::combine_bytes(points.as_slice()).map_err(|_| SplitError::Failed)?);
    let mut key = FragmentKey([0u8; KEY_LEN]);
    if bytes.len() != KEY_LEN {
        return Err(SplitError::Failed);
    }
    key.0.copy_from_slice(&bytes);
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(k: u8, n: u8) -> Threshold {
        Threshold::new(k, n).expect("valid threshold")
    }

    /// Every `size`-element subset of `0..n`.
    fn subsets(n: usize, size: usize) -> Vec<Vec<usize>> {
        (0u32..1 << n)
            .filter(|m| m.count_ones() as usize == size)
            .map(|m| (0..n).filter(|i| m & (1 << i) != 0).collect())
            .collect()
    }

    #[test]
    fn any_three_of_five_rebuild_and_no_two_do() {
        let shares = split(b"root token", t(3, 5)).expect("split");
        assert_eq!(shares.len(), 5);
        let triples = subsets(5, 3);
        assert_eq!(triples.len(), 10);
        for triple in triples {
            let chosen: Vec<Share> = triple.iter().map(|&i| shares[i].clone()).collect();
            assert_eq!(&combine(&chosen).expect("three shares rebuild")[..], b"root token", "{triple:?}");
        }
        let pairs = subsets(5, 2);
        assert_eq!(pairs.len(), 10);
        for pair in pairs {
            let chosen: Vec<Share> = pair.iter().map(|&i| shares[i].clone()).collect();
            assert_eq!(
                combine(&chosen).err(),
                Some(SplitError::NotEnough { needed: 3, have: 2 }),
                "refused before interpolating"
            );
            // Interpolated anyway, two shares give a key that does not open the secret.
            let refs: Vec<&Share> = chosen.iter().collect();
            let key = combine_key(&refs).expect("interpolates");
            assert_eq!(
                super::super::open(&key, None, &shares[0].blob).err(),
                Some(ZkError::Failed),
                "{pair:?}"
            );
        }
        // More than K: any K of them are used.
        assert_eq!(&combine(&shares).expect("all five")[..], b"root token");
    }

    /// Pins the arithmetic another implementation (a web page) must match: GF(2^8) modulo
    /// x^8 + x^4 + x^3 + x + 1 (AES's), shares at x = 1, 2, …, the key at x = 0.
    #[test]
    fn the_field_is_aes_gf256() {
        fn mul(mut a: u8, mut b: u8) -> u8 {
            let mut p = 0;
            while b != 0 {
                if b & 1 != 0 {
                    p ^= a;
                }
                let carry = a & 0x80 != 0;
                a <<= 1;
                if carry {
                    a ^= 0x1b;
                }
                b >>= 1;
            }
            p
        }
        // f(x) = key + c·x + d·x², evaluated by hand at x = 1, 2, 3.
        let key: [u8; KEY_LEN] = std::array::from_fn(|i| i as u8);
        let (c, d) = (0xa5u8, 0x3cu8);
        let share = |x: u8| {
            let y = Zeroizing::new(std::array::from_fn(|i| key[i] ^ mul(c, x) ^ mul(d, mul(x, x))));
            Share { threshold: t(3, 3), index: x, split_id: SplitId([7; SPLIT_ID_LEN]), y, blob: vec![] }
        };
        let (s1, s2, s3) = (share(1), share(2), share(3));
        assert_eq!(combine_key(&[&s1, &s2, &s3]).expect("interpolates").0, key);
        assert_eq!(combine_key(&[&s3, &s1, &s2]).expect("in any order").0, key);
    }

    #[test]
    fn two_shares_are_consistent_with_every_key() {
        // For a 3-of-5 split, shares 1 and 2 plus any value of share 3 interpolate to some key:
        // changing share 3 alone reaches 256 different values of each key byte, so two shares
        // pin down nothing about the key.
        let shares = split(b"x", t(3, 5)).expect("split");
        let mut first_bytes = std::collections::BTreeSet::new();
        for v in 0..=255u8 {
            let mut third = shares[2].clone();
            third.y[0] = v;
            let key = combine_key(&[&shares[0], &shares[1], &third]).expect("interpolates");
            first_bytes.insert(key.0[0]);
        }
        assert_eq!(first_bytes.len(), 256);
    }

    #[test]
    fn repeats_are_ignored_and_mixtures_refused() {
        let a = split(b"a", t(2, 3)).expect("split");
        let b = split(b"b", t(2, 3)).expect("split");
        let twice = [a[0].clone(), a[0].clone()];
        assert_eq!(combine(&twice).err(), Some(SplitError::NotEnough { needed: 2, have: 1 }));
        let with_repeat = [a[0].clone(), a[0].clone(), a[2].clone()];
        assert_eq!(&combine(&with_repeat).expect("rebuilds")[..], b"a");
        assert_eq!(combine(&[a[0].clone(), b[1].clone()]).err(), Some(SplitError::MixedSplits));
        assert_eq!(combine(&[]).err(), Some(SplitError::NotEnough { needed: 2, have: 0 }));

        // A share whose values were changed rebuilds a wrong key: refused, not garbage.
        let mut damaged = a[1].clone();
        damaged.y[5] ^= 1;
        assert_eq!(combine(&[a[0].clone(), damaged]).err(), Some(SplitError::Failed));
    }

    #[test]
    fn shares_round_trip_through_bytes() {
        let shares = split(b"bytes", t(2, 2)).expect("split");
        let bytes = shares[1].to_bytes();
        assert!(bytes.starts_with(b"once/split\x01\x02\x02\x02"), "tag, version, K, N, x");
        let back = Share::from_bytes(&bytes).expect("parses");
        assert_eq!((back.index(), back.threshold(), back.split_id()), (2, t(2, 2), shares[1].split_id()));
        assert_eq!(&combine(&[shares[0].clone(), back]).expect("rebuilds")[..], b"bytes");

        let mut bad = bytes.to_vec();
        bad[10] = 2;
        assert_eq!(Share::from_bytes(&bad).err(), Some(SplitError::UnsupportedVersion));
        for (at, value) in [(0, b'x'), (11, 1), (12, 17), (13, 0), (13, 3)] {
            let mut bad = bytes.to_vec();
            bad[at] = value;
            assert_eq!(Share::from_bytes(&bad).err(), Some(SplitError::Malformed), "byte {at} = {value}");
        }
        assert_eq!(Share::from_bytes(&bytes[..FIXED_LEN]).err(), Some(SplitError::Malformed));
        assert_eq!(Share::from_bytes(b"s3cr3t").err(), Some(SplitError::Malformed));
    }

    #[test]
    fn thresholds() {
        assert_eq!("3-of-5".parse(), Ok(t(3, 5)));
        assert_eq!("3of5".parse(), Ok(t(3, 5)));
        assert_eq!(" 2-OF-2 ".parse(), Ok(t(2, 2)));
        assert_eq!("16-of-16".parse(), Ok(t(16, 16)));
        assert_eq!(t(3, 5).to_string(), "3-of-5");
        assert_eq!("1-of-5".parse::<Threshold>(), Err(SplitError::ThresholdTooLow));
        assert_eq!("0-of-5".parse::<Threshold>(), Err(SplitError::ThresholdTooLow));
        assert_eq!("4-of-3".parse::<Threshold>(), Err(SplitError::ThresholdAboveShares));
        assert_eq!("3-of-17".parse::<Threshold>(), Err(SplitError::TooManyShares));
        assert_eq!("3-of-300".parse::<Threshold>(), Err(SplitError::TooManyShares));
        for bad in ["", "3", "3-5", "3/5", "-3-of-5", "3-of-", "of", "3-of-5x", "3.0-of-5", "1234-of-5"] {
            assert_eq!(bad.parse::<Threshold>(), Err(SplitError::Syntax), "{bad:?}");
        }
    }

    #[test]
    fn split_ids() {
        let id = SplitId::generate();
        assert_eq!(id.to_base64url().len(), 22);
        assert_eq!(SplitId::from_base64url(&id.to_base64url()), Ok(id));
        assert_ne!(SplitId::generate(), id);
        for bad in ["", "abc", &"A".repeat(23), &"!".repeat(22)] {
            assert_eq!(SplitId::from_base64url(bad), Err(SplitError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn limits() {
        assert_eq!(split(&vec![b'x'; MAX_PLAINTEXT + 1], t(2, 3)).err(), Some(SplitError::TooLarge));
        let big = split(&vec![b'x'; MAX_PLAINTEXT], t(2, 16)).expect("the largest secret");
        assert_eq!(big.len(), 16);
        assert_eq!(combine(&big[14..]).expect("rebuilds").len(), MAX_PLAINTEXT);
    }
}
