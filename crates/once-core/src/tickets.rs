//! Tickets: short-lived facts the server hands to a browser and takes back later, sealed under the
//! master key ring so they can be neither read nor forged nor moved to another purpose: "this
//! browser passed the password step for account A" (until the second factor is entered), "this
//! is the TOTP secret being enrolled for account A" (until the first code confirms it).
//!
//! A ticket holds its expiry inside the ciphertext. It is not single-use by itself: what it
//! unlocks must be (a TOTP step is accepted once, a recovery code is used once), and failures
//! count against the account, not the ticket.

use once_crypto::KeyRing;
use zeroize::Zeroizing;

use crate::error::CoreError;

/// What a ticket is for; part of what it is sealed to, so one kind never opens as another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// Password accepted; the second factor is next. Payload: the account's vault key (32 bytes),
    /// then the account id.
    SecondFactor,
    /// A TOTP secret shown for enrolment. Payload: account id length (1 byte), account id, secret.
    TotpEnrolment,
}

impl Purpose {
    fn label(self) -> &'static str {
        match self {
            Purpose::SecondFactor => "once ticket: second factor",
            Purpose::TotpEnrolment => "once ticket: totp enrolment",
        }
    }
}

/// Seals `payload` for `purpose`, valid until `now + ttl`. URL-safe text.
pub(crate) fn seal(
    keys: &KeyRing,
    purpose: Purpose,
    now: i64,
    ttl: i64,
    payload: &[u8],
) -> Result<String, CoreError> {
    let mut plain = Zeroizing::new(Vec::with_capacity(8 + payload.len()));
    plain.extend_from_slice(&now.saturating_add(ttl).to_be_bytes());
    plain.extend_from_slice(payload);
    let label = purpose.label().as_bytes();
    let sealed = keys
        .seal(&once_crypto::lookup_hash("ticket", label), label, None, &plain)
        .map_err(|e| CoreError::Crypto(e.to_string()))?;
    Ok(data_encoding::BASE64URL_NOPAD.encode(&sealed))
}

/// Opens a ticket sealed for `purpose` that has not expired at `now`; `None` for anything else
/// (malformed, forged, another purpose, expired, sealed under a key the ring no longer has).
pub(crate) fn open(keys: &KeyRing, purpose: Purpose, now: i64, text: &str) -> Option<Zeroizing<Vec<u8>>> {
    if text.len() > 4096 {
        return None;
    }
    let sealed = data_encoding::BASE64URL_NOPAD.decode(text.trim().as_bytes()).ok()?;
    let label = purpose.label().as_bytes();
    let plain = keys.open(&once_crypto::lookup_hash("ticket", label), label, None, &sealed).ok()?;
    let expires = i64::from_be_bytes(plain.get(..8)?.try_into().ok()?);
    if now >= expires {
        return None;
    }
    Some(Zeroizing::new(plain[8..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_open_only_for_their_purpose_and_lifetime() {
        let keys = KeyRing::generate_new(0);
        let t = seal(&keys, Purpose::SecondFactor, 1000, 300, b"alice@example.com").expect("seal");
        assert_eq!(
            open(&keys, Purpose::SecondFactor, 1299, &t).as_deref().map(|v| &v[..]),
            Some(&b"alice@example.com"[..])
        );
        assert!(open(&keys, Purpose::SecondFactor, 1300, &t).is_none(), "expired");
        assert!(open(&keys, Purpose::TotpEnrolment, 1000, &t).is_none(), "other purpose");
        assert!(open(&KeyRing::generate_new(0), Purpose::SecondFactor, 1000, &t).is_none(), "other ring");
        let mut forged = t.clone().into_bytes();
        let last = forged.len() - 2;
        forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
        assert!(
            open(&keys, Purpose::SecondFactor, 1000, &String::from_utf8(forged).expect("ascii")).is_none()
        );
        assert!(open(&keys, Purpose::SecondFactor, 1000, "not a ticket").is_none());
    }
}
