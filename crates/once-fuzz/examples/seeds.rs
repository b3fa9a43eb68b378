//! Writes the seeds of `envelope_open` that are sealed bytes, to `fuzz/seeds/envelope_open/`: an
//! envelope per algorithm and guard under the target's fixed factors, round-trip inputs, and a
//! zero-knowledge blob. Run it whenever the envelope or blob format changes:
//!
//! ```sh
//! cargo run -p once-fuzz --example seeds
//! ```
//!
//! The other targets' seeds are plain text files, written by hand.

use std::path::Path;

use once_crypto::zk::{self, FragmentKey};
use once_crypto::{AeadAlgorithm, Guard, KeyRing, MasterKey};
use once_fuzz::envelope::{
    FAST, MASTER_KEY, PASSPHRASE, PROOF, RECORD_ID, TOKEN, ZK_FRAGMENT, open_choices, round_trip_choices,
};

fn write(dir: &Path, name: &str, first: u8, rest: &[u8]) -> std::io::Result<()> {
    let mut bytes = vec![first];
    bytes.extend_from_slice(rest);
    std::fs::write(dir.join(name), bytes)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/envelope_open");
    std::fs::create_dir_all(dir)?;
    let master = || MasterKey::from_bytes(&MASTER_KEY).ok_or("a 32-byte master key");
    for alg in AeadAlgorithm::ALL {
        let ring = KeyRing::from_single_key(master()?).with_algorithm(alg);
        let plain = ring.seal(&RECORD_ID, TOKEN, None, b"the launch code is 0000")?;
        write(dir, &format!("{alg}-plain"), open_choices(0), &plain)?;
        let guard = Guard::Passphrase(PASSPHRASE, FAST);
        let passphrase = ring.seal(&RECORD_ID, TOKEN, Some(guard), b"hunter2")?;
        write(dir, &format!("{alg}-passphrase"), open_choices(1), &passphrase)?;
        let guard = Guard::KeyProof { proof: &PROOF, client_passphrase: true };
        let key_proof = ring.seal(&RECORD_ID, TOKEN, Some(guard), b"\x01\x01client blob")?;
        write(dir, &format!("{alg}-key-proof"), open_choices(2), &key_proof)?;
    }
    write(dir, "round-trip-aes-plain", round_trip_choices(0, 0), b"plaintext to seal")?;
    write(dir, "round-trip-aria-passphrase", round_trip_choices(1, 1), b"plaintext to seal")?;
    write(dir, "round-trip-xchacha-key-proof", round_trip_choices(2, 2), b"plaintext to seal")?;
    // Every factor from the input: a record id (32 bytes), a token and a passphrase (each a
    // length byte and the bytes), then the plaintext.
    let mut given: Vec<u8> = (1..=32).collect();
    given.extend_from_slice(b"\x05token\x02pwplaintext");
    write(dir, "round-trip-given-factors", 0b0011_1111, &given)?;
    let key = FragmentKey::from_fragment(ZK_FRAGMENT)?;
    let (blob, _) = zk::seal_with_nonce(&key, None, b"zero-knowledge plaintext", [5; 12])?;
    write(dir, "zk-blob", open_choices(0), &blob)?;
    Ok(())
}
