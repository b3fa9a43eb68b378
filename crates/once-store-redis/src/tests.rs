//! The packed receipt fields round-trip, and malformed ones are refused.

use once_store::conformance::{NOW, pair};

use crate::{decode_meta, encode_meta};

#[test]
fn receipt_meta_round_trips() {
    for owner in [None, Some("owner@example.com")] {
        let (_, mut r) = pair(3, 600, owner, NOW);
        r.recipient = Some("카카오 recipient".into());
        r.has_passphrase = true;
        let m = decode_meta(&encode_meta(&r)).expect("decodes");
        assert_eq!(m.secret_id, r.secret_id);
        assert!(m.has_passphrase);
        assert_eq!((m.max_views, m.created_at, m.secret_expires_at), (3, NOW, r.secret_expires_at));
        assert_eq!(m.owner.as_deref(), owner);
        assert_eq!(m.sealed_receipt_key, r.sealed_receipt_key);
        assert_eq!(m.recipient, r.recipient);
        assert_eq!(m.share_domain, r.share_domain);
    }
}

#[test]
fn malformed_meta_is_refused() {
    let (_, r) = pair(1, 600, Some("o"), NOW);
    let good = encode_meta(&r);
    for cut in 0..good.len() {
        assert!(decode_meta(&good[..cut]).is_none(), "truncated at {cut}");
    }
    let mut bad_version = good.clone();
    bad_version[0] = 2;
    assert!(decode_meta(&bad_version).is_none());
    let mut huge_len = good;
    // The owner's length field follows the 62 fixed bytes.
    huge_len[62..66].copy_from_slice(&0x7fff_ffffu32.to_be_bytes());
    assert!(decode_meta(&huge_len).is_none());
}

fn hash(fields: &[(&str, Vec<u8>)]) -> crate::Hash {
    crate::Hash(fields.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect())
}

/// Records written before fields were packed or implied (explicit `r`, `c`, `p`; explicit
/// receipt state) still read the same.
#[test]
fn records_in_the_earlier_layout_still_read() {
    let (s, r) = pair(2, 600, Some("o"), NOW);
    let old_secret = hash(&[
        ("e", s.envelope.clone()),
        ("r", s.receipt_id.0.to_vec()),
        ("p", b"0".to_vec()),
        ("v", b"2".to_vec()),
        ("c", NOW.to_string().into_bytes()),
        ("x", s.expires_at.to_string().into_bytes()),
    ]);
    assert_eq!(crate::secret_from(s.id, &old_secret), Some(s.clone()));
    let mut packed = s.receipt_id.0.to_vec();
    packed.extend_from_slice(&NOW.to_be_bytes());
    let new_secret = hash(&[
        ("e", s.envelope.clone()),
        ("m", packed),
        ("v", b"2".to_vec()),
        ("x", s.expires_at.to_string().into_bytes()),
    ]);
    assert_eq!(crate::secret_from(s.id, &new_secret), Some(s.clone()));

    let mut fields =
        vec![("i", r.id.0.to_vec()), ("m", encode_meta(&r)), ("x", r.expires_at.to_string().into_bytes())];
    if let Some(k) = &r.sealed_secret_key {
        fields.push(("k", k.clone()));
    }
    let implied = crate::receipt_from(&hash(&fields)).expect("implied fields");
    fields.extend([
        ("st", b"new".to_vec()),
        ("n", b"0".to_vec()),
        ("f", b"0".to_vec()),
        ("u", NOW.to_string().into_bytes()),
    ]);
    let explicit = crate::receipt_from(&hash(&fields)).expect("explicit fields");
    assert_eq!(implied, r);
    assert_eq!(explicit, r);
}

/// A key hash from before scopes, expiry and revocation reads as a `share read burn` key that
/// never expires and is not revoked; malformed new fields are refused.
#[test]
fn api_keys_without_the_newer_fields_read_with_defaults() {
    let (_, k) = once_store::conformance::account("alice@example.com", NOW);
    let old = hash(&[
        ("a", k.account_id.0.as_bytes().to_vec()),
        ("n", k.name.as_bytes().to_vec()),
        ("c", NOW.to_string().into_bytes()),
        ("w", k.wrapped_vault_key.clone()),
    ]);
    let read = crate::api_key_from(k.hash, &old).expect("reads");
    assert_eq!(read, k);
    assert_eq!((read.scopes, read.expires_at, read.revoked_at), (once_store::Scopes::USER, None, None));
    let mut bad = old.0.clone();
    bad.insert("rv".into(), b"soon".to_vec());
    assert!(crate::api_key_from(k.hash, &crate::Hash(bad)).is_none());
}

#[test]
fn scan_patterns_match_the_prefix_literally() {
    assert_eq!(crate::glob_escape("once:{acct}:k:"), "once:{acct}:k:");
    assert_eq!(crate::glob_escape(r"a\b]c"), r"a\\b\]c");
}
