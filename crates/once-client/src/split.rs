//! Split secrets as links (`once share --split K-of-N`, `once combine`): the secret is encrypted
//! once under a key that is cut into N shares ([`once_crypto::zk::split`]), and each share
//! becomes an ordinary zero-knowledge secret with a link of its own. Any K of the N links
//! rebuild the secret; fewer reveal nothing about it.
//!
//! A share link's `#fragment` is the link's own key followed by what a client needs to know
//! before it uses any link up: `KEY.{K}of{N}.{split id}` (the split id is 22 base64url
//! characters). Like the key, it never reaches a server. So a client can tell, from the links
//! alone, whether it was given K links of one split, and refuse before revealing anything. A
//! link's share repeats K, N and the split id, and [`ShareFragment::open`] checks that they match.
//!
//! The passphrase, if any, protects each link (as in [`crate::zk`]): the server checks it through
//! the key proof before it hands out a share, so a wrong passphrase uses nothing up.

use once_crypto::zk::split as core;
use zeroize::Zeroizing;

use crate::zk::{self, Sealed, ZkError};

pub use core::{MAX_PLAINTEXT, MAX_SHARES, Share, SplitError, SplitId, Threshold, combine};

/// Why a link's `#fragment` is not a usable share fragment. Never quotes it.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone, Copy)]
pub enum FragmentError {
    /// A plain key: an ordinary secret, not a share of a split one.
    #[error("not a link of a split secret")]
    NotAShare,
    #[error("the part after # is damaged")]
    Damaged,
}

/// Why a revealed share was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone, Copy)]
pub enum OpenError {
    /// The link's key (and passphrase) did not decrypt what the server returned.
    #[error("the share does not decrypt with the link's key")]
    Undecryptable,
    #[error("the link holds no share of a split secret")]
    NotAShare,
    /// The share is not the one the link's `#fragment` announced (K, N or split id differ).
    #[error("the share does not match the link's #part")]
    Mismatch,
}

/// A share link's `#fragment`, parsed: the link's key, K and N, and the split id.
#[derive(Clone)]
pub struct ShareFragment {
    key: Zeroizing<String>,
    threshold: Threshold,
    split_id: SplitId,
}

impl std::fmt::Debug for ShareFragment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShareFragment")
            .field("threshold", &self.threshold)
            .field("split_id", &self.split_id)
            .finish_non_exhaustive()
    }
}

impl ShareFragment {
    /// Parses `KEY.{K}of{N}.{split id}`. A plain key is [`FragmentError::NotAShare`].
    pub fn parse(fragment: &str) -> Result<Self, FragmentError> {
        let mut parts = fragment.split('.');
        let key = parts.next().unwrap_or_default();
        let Some(tag) = parts.next() else {
            return Err(FragmentError::NotAShare);
        };
        let (Some(id), None) = (parts.next(), parts.next()) else {
            return Err(FragmentError::Damaged);
        };
        if !zk::fragment_is_valid(key) {
            return Err(FragmentError::Damaged);
        }
        let threshold = tag.parse::<Threshold>().map_err(|_| FragmentError::Damaged)?;
        let split_id = SplitId::from_base64url(id).map_err(|_| FragmentError::Damaged)?;
        Ok(ShareFragment { key: Zeroizing::new(key.to_owned()), threshold, split_id })
    }

    /// K and N of the split this link belongs to.
    pub fn threshold(&self) -> Threshold {
        self.threshold
    }

    pub fn split_id(&self) -> SplitId {
        self.split_id
    }

    /// The key proof that reveals this link (see [`zk::key_proof`]).
    pub fn key_proof(&self, passphrase: Option<&str>) -> Result<String, ZkError> {
        zk::key_proof(&self.key, passphrase)
    }

    /// Decrypts what revealing this link returned into its share, and checks it is the share
    /// this fragment announced.
    pub fn open(&self, passphrase: Option<&str>, ciphertext: &str) -> Result<Share, OpenError> {
        let bytes = zk::open(&self.key, passphrase, ciphertext).map_err(|_| OpenError::Undecryptable)?;
        let share = Share::from_bytes(&bytes).map_err(|_| OpenError::NotAShare)?;
        if share.threshold() != self.threshold || share.split_id() != self.split_id {
            return Err(OpenError::Mismatch);
        }
        Ok(share)
    }
}

/// The `#fragment` of a share link: its key, then K, N and the split id.
fn fragment(key: &str, threshold: Threshold, split_id: SplitId) -> Zeroizing<String> {
    Zeroizing::new(format!(
        "{key}.{}of{}.{}",
        threshold.needed(),
        threshold.shares(),
        split_id.to_base64url()
    ))
}

/// Splits `plaintext` into `threshold.shares()` sealed shares (each under a fresh key and the
/// passphrase, if any), ready to upload as zero-knowledge secrets; each [`Sealed::fragment`] is
/// a share fragment. With a passphrase this runs PBKDF2 once per share: call it off async
/// executor threads.
pub fn seal(
    plaintext: &[u8],
    threshold: Threshold,
    passphrase: Option<&str>,
) -> Result<Vec<Sealed>, SplitError> {
    core::split(plaintext, threshold)?
        .iter()
        .map(|share| {
            let sealed = zk::seal(&share.to_bytes(), passphrase).map_err(|_| SplitError::TooLarge)?;
            Ok(Sealed {
                fragment: fragment(&sealed.fragment, threshold, share.split_id()),
                ciphertext: sealed.ciphertext,
                key_proof: sealed.key_proof,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(k: u8, n: u8) -> Threshold {
        Threshold::new(k, n).expect("valid threshold")
    }

    #[test]
    fn sealed_shares_open_and_combine() {
        let sealed = seal(b"root token", t(3, 5), None).expect("seal");
        assert_eq!(sealed.len(), 5);
        let fragments: Vec<ShareFragment> =
            sealed.iter().map(|s| ShareFragment::parse(&s.fragment).expect("a share fragment")).collect();
        let id = fragments[0].split_id();
        for (f, s) in fragments.iter().zip(&sealed) {
            assert_eq!((f.threshold(), f.split_id()), (t(3, 5), id));
            assert_eq!(f.key_proof(None).expect("proof"), s.key_proof, "the proof of the link's own key");
            let key = s.fragment.split('.').next().expect("key");
            assert_eq!(key.len(), 43);
            assert_eq!(s.fragment.split('.').nth(1), Some("3of5"));
        }
        let shares: Vec<Share> = [4, 0, 2]
            .iter()
            .map(|&i| fragments[i].open(None, &sealed[i].ciphertext).expect("opens"))
            .collect();
        assert_eq!(&combine(&shares).expect("rebuilds")[..], b"root token");
        assert_eq!(
            combine(&shares[..2]).err(),
            Some(SplitError::NotEnough { needed: 3, have: 2 }),
            "two of three are not enough"
        );
    }

    #[test]
    fn the_passphrase_protects_each_link() {
        let sealed = seal(b"s", t(2, 2), Some("caf\u{e9}")).expect("seal");
        let f = ShareFragment::parse(&sealed[0].fragment).expect("parse");
        assert_ne!(f.key_proof(None).expect("proof"), sealed[0].key_proof);
        // NFC-normalised, as everywhere in zero-knowledge mode.
        assert_eq!(f.key_proof(Some("cafe\u{301}")).expect("proof"), sealed[0].key_proof);
        assert_eq!(f.open(Some("cafe"), &sealed[0].ciphertext).err(), Some(OpenError::Undecryptable));
        assert_eq!(f.open(None, &sealed[0].ciphertext).err(), Some(OpenError::Undecryptable));
        let g = ShareFragment::parse(&sealed[1].fragment).expect("parse");
        let shares = [
            f.open(Some("caf\u{e9}"), &sealed[0].ciphertext).expect("opens"),
            g.open(Some("caf\u{e9}"), &sealed[1].ciphertext).expect("opens"),
        ];
        assert_eq!(&combine(&shares).expect("rebuilds")[..], b"s");
    }

    #[test]
    fn fragments_of_ordinary_and_damaged_links() {
        let plain = zk::seal(b"x", None).expect("seal");
        assert_eq!(ShareFragment::parse(&plain.fragment).err(), Some(FragmentError::NotAShare));
        let sealed = seal(b"x", t(2, 3), None).expect("seal");
        let good = sealed[0].fragment.as_str();
        let (key, rest) = good.split_once('.').expect("dot");
        let (tag, id) = rest.split_once('.').expect("dot");
        for bad in [
            format!("{key}.{tag}"),
            format!("{key}.{tag}.{id}.more"),
            format!("{}.{tag}.{id}", &key[1..]),
            format!("{key}.1of3.{id}"),
            format!("{key}.3of17.{id}"),
            format!("{key}.x.{id}"),
            format!("{key}.{tag}.{}", &id[1..]),
        ] {
            assert_eq!(ShareFragment::parse(&bad).err(), Some(FragmentError::Damaged), "{bad}");
        }
        // The fragment's K, N and split id must be the share's.
        let other = seal(b"y", t(2, 3), None).expect("seal");
        let other_id = other[0].fragment.rsplit('.').next().expect("id");
        let forged = ShareFragment::parse(&format!("{key}.{tag}.{other_id}")).expect("well formed");
        assert_eq!(forged.open(None, &sealed[0].ciphertext).err(), Some(OpenError::Mismatch));
        let forged = ShareFragment::parse(&format!("{key}.3of3.{id}")).expect("well formed");
        assert_eq!(forged.open(None, &sealed[0].ciphertext).err(), Some(OpenError::Mismatch));
        // An ordinary secret opened as a share.
        let f = ShareFragment::parse(&format!("{}.{tag}.{id}", plain.fragment.as_str())).expect("parse");
        assert_eq!(f.open(None, &plain.ciphertext).err(), Some(OpenError::NotAShare));
    }

    #[test]
    fn too_large_secrets_are_refused() {
        assert_eq!(seal(&vec![0; MAX_PLAINTEXT + 1], t(2, 2), None).err(), Some(SplitError::TooLarge));
    }
}
