//! The fixed factors `envelope_open` opens envelopes with, and its seeds were sealed with
//! (`examples/seeds.rs`).

use once_crypto::PassphraseParams;

pub const MASTER_KEY: [u8; 32] = [0x42; 32];
pub const RECORD_ID: [u8; 32] = [0x07; 32];
pub const TOKEN: &[u8] = b"0loyw3v28abcdefghijklmnopqrstuvwxyz0123456789abcde";
pub const PASSPHRASE: &[u8] = b"correct horse battery staple";
pub const PROOF: [u8; 32] = [0x09; 32];
/// The fragment key of the zero-knowledge seed (bytes 0x2a × 32).
pub const ZK_FRAGMENT: &str = "KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio";
/// The cheapest Argon2id cost an envelope may name, for sealing.
pub const FAST: PassphraseParams = PassphraseParams { m_cost_kib: 8, t_cost: 1, p_cost: 1 };

/// The first input byte of `envelope_open`: open with `RECORD_ID`, `TOKEN` and `guard`
/// (0 none, 1 `PASSPHRASE`, 2 `PROOF`).
pub fn open_choices(guard: u8) -> u8 {
    guard << 3
}

/// The first input byte of `envelope_open`: seal the rest with `RECORD_ID`, `TOKEN` and
/// `guard` under `AeadAlgorithm::ALL[algorithm]` (3: the default), then open it.
pub fn round_trip_choices(guard: u8, algorithm: u8) -> u8 {
    algorithm << 6 | 1 << 5 | guard << 3
}
