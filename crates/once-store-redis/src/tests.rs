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

fn audit_records() -> Vec<once_store::AuditRecord> {
    let entries = [
        once_store::AuditEntry::default(),
        once_store::AuditEntry {
            time: -2,
            event: "auth.login".into(),
            outcome: "denied:wrong_password".into(),
            actor: "계정 🔐".into(),
            client: "2001:db8::1".into(),
            record: "ab12".into(),
            detail: "nul\0 and more".into(),
        },
    ];
    once_store::audit::chain(once_store::AuditAnchor { seq: 41, hash: [7; 32] }, &entries)
}

/// The layout the prune script relies on: seq at bytes 1..9, the time at 9..17 (big-endian),
/// the hash at 49..81.
#[test]
fn audit_records_round_trip_in_the_layout_the_scripts_read() {
    for r in audit_records() {
        let m = crate::audit::encode_record(&r);
        assert_eq!(crate::audit::decode_record(&m), Some(r.clone()));
        assert_eq!(m[0], 1, "version");
        assert_eq!(m[1..9], r.seq.to_be_bytes());
        assert_eq!(m[9..17], r.entry.time.to_be_bytes());
        assert_eq!(m[49..81], r.hash);
        let position = once_store::AuditAnchor { seq: r.seq, hash: r.hash };
        let encoded = crate::audit::encode_position(position);
        assert_eq!(encoded[..], [&m[1..9], &m[49..81]].concat(), "the anchor the prune script builds");
        assert_eq!(crate::audit::decode_position(&encoded), Some(position));
    }
}

#[test]
fn malformed_audit_records_are_refused() {
    let good = crate::audit::encode_record(&audit_records()[1]);
    for cut in 0..good.len() {
        assert!(crate::audit::decode_record(&good[..cut]).is_none(), "truncated at {cut}");
    }
    let mut trailing = good.clone();
    trailing.push(0);
    assert!(crate::audit::decode_record(&trailing).is_none(), "trailing bytes");
    let mut bad_version = good.clone();
    bad_version[0] = 2;
    assert!(crate::audit::decode_record(&bad_version).is_none());
    let mut not_utf8 = good;
    // The event's first byte follows the 81 fixed bytes and its length.
    not_utf8[85] = 0xff;
    assert!(crate::audit::decode_record(&not_utf8).is_none());
    assert!(crate::audit::decode_position(&[0; 39]).is_none());
}

/// An append chained after a head that has moved on changes nothing (the compare-and-set that
/// keeps the chain from forking).
#[tokio::test]
async fn an_append_after_a_stale_head_changes_nothing() {
    use once_store::AuditStore;
    use redis::AsyncCommands;

    let (url, prefix) = (crate::testing::shared_redis_url(), crate::testing::fresh_prefix());
    let _cleanup = crate::testing::Cleanup { url: url.clone(), prefix: prefix.clone() };
    let options = crate::RedisOptions { key_prefix: prefix.clone(), ..crate::RedisOptions::default() };
    let (store, _) = crate::RedisStore::open(&url, options).await.expect("open");
    let first = once_store::AuditEntry { time: NOW, event: "a".into(), ..Default::default() };
    store.append_audit(std::slice::from_ref(&first)).await.expect("append");
    let before = store.audit_after(0, 10).await.expect("read");

    // Another instance chained after "nothing", unaware of the first record.
    let stale = once_store::audit::chain(once_store::AuditAnchor::default(), &[first]);
    let mut conn = store.conn.clone();
    let mut invocation = crate::scripts::APPEND_AUDIT.prepare_invoke();
    invocation
        .key(format!("{prefix}{{audit}}:head"))
        .key(format!("{prefix}{{audit}}:log"))
        .arg("")
        .arg(&crate::audit::encode_position(once_store::AuditAnchor { seq: 1, hash: stale[0].hash })[..])
        .arg(1)
        .arg(crate::audit::encode_record(&stale[0]));
    let appended: i64 = invocation.invoke_async(&mut conn).await.expect("script");
    assert_eq!(appended, 0, "refused");
    assert_eq!(store.audit_after(0, 10).await.expect("read"), before, "nothing changed");
    let head: Vec<u8> = conn.get(format!("{prefix}{{audit}}:head")).await.expect("head");
    assert_eq!(head, crate::audit::encode_position(once_store::AuditAnchor { seq: 1, hash: before[0].hash }));
}
