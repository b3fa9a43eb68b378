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
