//! Opening envelopes: arbitrary bytes given to `Envelope::parse` and `KeyRing::open` (a ring of one
//! fixed master key), with the record id, link token and guard either the ones the seeds were
//! sealed with ([`crate::envelope`], `examples/seeds.rs`) or taken from the input; arbitrary
//! plaintext sealed and opened back (round trip, then one flipped bit must not open); and the
//! zero-knowledge blob, the envelope's client-side twin (`zk::open`). Nothing may panic, and
//! nothing but an untouched envelope with the right factors may open.
//!
//! Input: one byte of choices, the factors it asks for, then the envelope (or the plaintext):
//!
//! ```text
//! bits 0-1  record id: 0 = RECORD_ID, 1 = all zeros, 2 or 3 = the next 32 input bytes
//! bit  2    token: 0 = TOKEN, 1 = a length byte and that many input bytes
//! bits 3-4  guard: 0 = none, 1 = PASSPHRASE, 2 = PROOF, 3 = a length byte and that many bytes
//! bit  5    0 = open the rest as an envelope; 1 = seal the rest as plaintext, then open it
//! bits 6-7  sealing only: the algorithm (`AeadAlgorithm::ALL[i]`; 3 = the default)
//! ```
//!
//! Argon2id costs come from the envelope header; to keep runs fast, a passphrase is given to
//! `open` only when the header asks for at most `MAX_FUZZ_M_COST_KIB` and two passes (above
//! that, `open` still runs, without the passphrase, which refuses before the KDF).

use std::sync::LazyLock;

use once_crypto::zk::{self, FragmentKey};
use once_crypto::{AeadAlgorithm, Envelope, EnvelopeKind, Guard, KeyId, KeyRing, MasterKey, OpenError};

use crate::envelope::{FAST, MASTER_KEY, PASSPHRASE, PROOF, RECORD_ID, TOKEN, ZK_FRAGMENT};

/// The largest Argon2id memory cost `open` is given a passphrase for (KiB).
const MAX_FUZZ_M_COST_KIB: u32 = 64;

/// One ring per algorithm (and the default), all with the same master key.
static RINGS: LazyLock<[KeyRing; 4]> = LazyLock::new(|| {
    let ring = || KeyRing::from_single_key(MasterKey::from_bytes(&MASTER_KEY).expect("32 bytes"));
    [
        ring().with_algorithm(AeadAlgorithm::ALL[0]),
        ring().with_algorithm(AeadAlgorithm::ALL[1]),
        ring().with_algorithm(AeadAlgorithm::ALL[2]),
        ring(),
    ]
});

static ZK_KEY: LazyLock<FragmentKey> =
    LazyLock::new(|| FragmentKey::from_fragment(ZK_FRAGMENT).expect("a valid fragment"));

/// Takes `n` bytes off the front of `data`, or all that is left.
fn take<'a>(data: &mut &'a [u8], n: usize) -> &'a [u8] {
    let (head, tail) = data.split_at(n.min(data.len()));
    *data = tail;
    head
}

/// A length byte, then that many bytes.
fn take_prefixed<'a>(data: &mut &'a [u8]) -> &'a [u8] {
    let n = take(data, 1).first().copied().unwrap_or(0);
    take(data, usize::from(n))
}

/// One input (the module documentation gives its layout); panics on a broken property.
pub fn run(input: &[u8]) {
    let mut data = input;
    let Some(&choices) = take(&mut data, 1).first() else { return };
    let record_id: [u8; 32] = match choices & 0b11 {
        0 => RECORD_ID,
        1 => [0; 32],
        _ => {
            let mut id = [0u8; 32];
            let given = take(&mut data, 32);
            id[..given.len()].copy_from_slice(given);
            id
        }
    };
    let token = if choices & 0b100 == 0 { TOKEN } else { take_prefixed(&mut data) };
    let guard: Option<&[u8]> = match (choices >> 3) & 0b11 {
        0 => None,
        1 => Some(PASSPHRASE),
        2 => Some(&PROOF),
        _ => Some(take_prefixed(&mut data)),
    };
    if choices & 0b10_0000 == 0 {
        open_arbitrary(&record_id, token, guard, data);
    } else {
        let ring = &RINGS[usize::from(choices >> 6)];
        round_trip(ring, &record_id, token, (choices >> 3) & 0b11, guard, data);
    }
}

fn open_arbitrary(record_id: &[u8; 32], token: &[u8], guard: Option<&[u8]>, envelope: &[u8]) {
    let parsed = Envelope::parse(envelope);
    if let Ok(env) = &parsed {
        // The key id an envelope names is one `KeyId::parse` accepts, as it reads.
        let id = env.key_id().as_str();
        assert_eq!(KeyId::parse(id).as_ref(), Some(env.key_id()));
        assert_eq!(env.algorithm().as_str().parse::<AeadAlgorithm>(), Ok(env.algorithm()));
    }
    let guard = match &parsed {
        Ok(env) if env.kind() == EnvelopeKind::Passphrase && !cheap_argon2(envelope) => None,
        _ => guard,
    };
    let ring = &RINGS[3];
    match ring.open(record_id, token, guard, envelope) {
        Ok(plaintext) => {
            // Only a well-formed envelope opens, and a changed tag or record id makes it fail.
            assert!(parsed.is_ok(), "an envelope that does not parse opened");
            let mut forged = envelope.to_vec();
            let last = forged.len() - 1;
            forged[last] ^= 0x80;
            assert_eq!(ring.open(record_id, token, guard, &forged), Err(OpenError::Failed));
            let mut other_id = *record_id;
            other_id[31] ^= 1;
            assert_eq!(ring.open(&other_id, token, guard, envelope), Err(OpenError::Failed));
            // Any ring with the same master key opens it, whatever it seals with.
            for other in &RINGS[..3] {
                let again = other.open(record_id, token, guard, envelope).expect("opens with any ring");
                assert_eq!(&again[..], &plaintext[..]);
            }
        }
        Err(e) => {
            if parsed.is_err() {
                assert_eq!(e, OpenError::Malformed);
            }
        }
    }
    open_zk_blob(envelope);
}

/// Whether the Argon2id cost a parsed passphrase envelope names is small enough for fuzzing.
/// Layout (module docs of `envelope.rs`): version, algorithm, id length L, id, guard byte, then
/// m, t, p as big-endian u32s.
fn cheap_argon2(envelope: &[u8]) -> bool {
    let l = usize::from(envelope[2]);
    let u32_at = |at: usize| {
        let b: [u8; 4] = envelope[at..at + 4].try_into().expect("a parsed header has its costs");
        u32::from_be_bytes(b)
    };
    let (m, t) = (u32_at(4 + l), u32_at(8 + l));
    m <= MAX_FUZZ_M_COST_KIB && t <= 2
}

/// The client-side format: open with the seeds' fragment key (never with a passphrase: that runs
/// 600,000 PBKDF2 rounds). What opens must seal back to the same bytes under its own nonce.
fn open_zk_blob(blob: &[u8]) {
    let needs = zk::blob_needs_passphrase(blob);
    if let Ok(plaintext) = zk::open(&ZK_KEY, None, blob) {
        assert_eq!(needs, Ok(false));
        let nonce: [u8; 12] = blob[2..14].try_into().expect("an opened blob has a nonce");
        let (again, _) = zk::seal_with_nonce(&ZK_KEY, None, &plaintext, nonce).expect("seal");
        assert_eq!(again, blob);
    }
}

fn round_trip(
    ring: &KeyRing,
    record_id: &[u8; 32],
    token: &[u8],
    guard_choice: u8,
    guard: Option<&[u8]>,
    plaintext: &[u8],
) {
    let seal_guard = match (guard_choice, guard) {
        (2, _) => Some(Guard::KeyProof { proof: &PROOF, client_passphrase: plaintext.len() % 2 == 1 }),
        (_, Some(pw)) => Some(Guard::Passphrase(pw, FAST)),
        (_, None) => None,
    };
    let envelope = ring.seal(record_id, token, seal_guard, plaintext).expect("sealing never fails here");
    let env = Envelope::parse(&envelope).expect("a sealed envelope parses");
    assert_eq!(env.algorithm(), ring.algorithm());
    let expected_kind = match seal_guard {
        None => EnvelopeKind::Plain,
        Some(Guard::Passphrase(..)) => EnvelopeKind::Passphrase,
        Some(Guard::KeyProof { client_passphrase, .. }) => EnvelopeKind::ZeroKnowledge { client_passphrase },
    };
    assert_eq!(env.kind(), expected_kind);
    let opened = RINGS[3].open(record_id, token, guard, &envelope).expect("a sealed envelope opens");
    assert_eq!(&opened[..], plaintext);

    // One flipped bit anywhere (except in the Argon2id costs, which would only cost time) and
    // it no longer opens.
    let l = usize::from(envelope[2]);
    let costs =
        if seal_guard.is_some_and(|g| matches!(g, Guard::Passphrase(..))) { 4 + l..16 + l } else { 0..0 };
    let seed =
        plaintext.iter().fold(plaintext.len(), |acc, &b| acc.wrapping_mul(31).wrapping_add(usize::from(b)));
    let mut at = seed % envelope.len();
    if costs.contains(&at) {
        at = envelope.len() - 1;
    }
    let mut forged = envelope.clone();
    forged[at] ^= 1 << (seed % 8);
    assert!(
        RINGS[3].open(record_id, token, guard, &forged).is_err(),
        "bit {} of byte {at} flipped",
        seed % 8
    );
    // A wrong guard or token does not open it either.
    if seal_guard.is_some() {
        assert_eq!(RINGS[3].open(record_id, token, None, &envelope), Err(OpenError::Failed));
    }
    let mut wrong_token = token.to_vec();
    wrong_token.push(b'x');
    assert_eq!(RINGS[3].open(record_id, &wrong_token, guard, &envelope), Err(OpenError::Failed));
}
