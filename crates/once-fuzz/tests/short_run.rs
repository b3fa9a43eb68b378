//! The fuzz targets' short run, so `cargo test` (and CI) exercises them without cargo-fuzz
//! (docs/FUZZ.md). For each target, in its own test:
//!
//! 1. every file of `fuzz/seeds/TARGET/`, then of `fuzz/corpus/TARGET/` and
//!    `fuzz/artifacts/TARGET/` where a local cargo-fuzz run left them (they are not in git);
//! 2. `ONCE_FUZZ_RUNS` (default [`DEFAULT_RUNS`]) mutations of the seeds, drawn from a small
//!    PRNG seeded with `ONCE_FUZZ_SEED` (default [`DEFAULT_SEED`]): bit flips, interesting byte
//!    values, inserted, deleted and duplicated ranges, splices of two seeds, truncation, and
//!    tokens from the target's dictionary.
//!
//! There is no coverage feedback: this keeps the seeds passing and finds shallow bugs near them,
//! the same on every machine for one seed; the fuzzer proper (`cargo fuzz run`) is what explores.
//!
//! A failing input (the targets panic on a broken property) is written to the temporary
//! directory, and the test panics with the target, that file's path and the input's first bytes
//! in hex. Copied into `fuzz/artifacts/TARGET/`, it is replayed before any mutation next time.

use std::fmt::Write as _;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// Mutations per target when `ONCE_FUZZ_RUNS` is unset: the four tests together take 6–10 s in
/// a debug build on two shared cores (docs/FUZZ.md), well inside CI's budget of a minute.
const DEFAULT_RUNS: u64 = 25_000;

/// The PRNG seed when `ONCE_FUZZ_SEED` is unset, so every run (and CI) tries the same inputs.
const DEFAULT_SEED: u64 = 0x6f6e_6365_6675_7a7a;

/// libFuzzer's default input length limit.
const MAX_LEN: usize = 4096;

/// Most mutations stacked on one seed for one input.
const MAX_STACK: u64 = 6;

/// Byte values that often sit on a boundary: ends of ranges, and the bytes that end or escape
/// strings, lines and percent-encoding.
const INTERESTING: [u8; 10] = [0, 0xff, 0x7f, 0x80, b'"', b'\\', b'\n', b'\r', b'%', b'{'];

/// Tokens every target's dictionary has: JSON punctuation and literals, escapes, percent-encoded
/// bytes, and numbers at and past the limits of the integer and float types.
const COMMON_TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b":",
    b",",
    b"null",
    b"true",
    b"false",
    b"\\u0000",
    b"\\ud800",
    b"\\udc00",
    b"\\\"",
    b"%00",
    b"%ff",
    b"%",
    b"%C3%A9",
    b"0",
    b"-1",
    b"-0",
    b"1e400",
    b"0.5",
    b"4294967296",
    b"9007199254740993",
    b"18446744073709551616",
    b"-9223372036854775809",
    b"99999999999999999999999999999999999999999999999999",
];

#[test]
fn envelope_open() {
    let tokens: &[&[u8]] = &[
        // Envelope header pieces: version and algorithm bytes, guard kinds, Argon2id costs as
        // big-endian u32s, a key id.
        b"\x01",
        b"\x02",
        b"\x03",
        b"\x00\x00\x00\x08",
        b"\x00\x00\x00\x01",
        b"\x00\x01\x00\x00",
        b"\xff\xff\xff\xff",
        b"k1",
        &[0x07; 32],
        &[0x09; 32],
    ];
    short_run("envelope_open", once_fuzz::envelope_open::run, tokens);
}

#[test]
fn token_parse() {
    let tokens: &[&[u8]] = &[
        b"0loyw3v28",
        b"zzzzzzzzz",
        b"abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmn",
        b"-",
        b" ",
        b"\t",
        b"=",
        b"_",
        b"+/",
        b"KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio",
        b"GEZDGNBVGY3TQOJQ",
        b"123456",
        b"\xef\xbf\xbd",
        "Ⅻ".as_bytes(),
    ];
    short_run("token_parse", once_fuzz::token_parse::run, tokens);
}

#[test]
fn v1_params() {
    let tokens: &[&[u8]] = &[
        b"\xff",
        b"secret=",
        b"ttl=",
        b"passphrase=",
        b"recipient=",
        b"share_domain=",
        b"&",
        b"=",
        b"+",
        b"%2B",
        b"%ZZ",
        b"%C3",
        b"\"secret\":",
        b"\"ttl\":",
        b"--B\r\nContent-Disposition: form-data; name=\"secret\"\r\n\r\n",
        b"\r\n--B--\r\n",
        b"application/json",
        b"; charset=utf-8",
        b"multipart/form-data; boundary=",
    ];
    short_run("v1_params", once_fuzz::v1_params::run, tokens);
}

#[test]
fn v2_bodies() {
    let tokens: &[&[u8]] = &[
        b"\"secret\":",
        b"\"ciphertext\":",
        b"\"key_proof\":",
        b"\"passphrase\":",
        b"\"ttl\":",
        b"\"max_views\":",
        b"\"only_for\":",
        b"\"email\":",
        b"\"second_factor\":",
        b"\"access\":",
        b"\"networks\":",
        b"\"countries\":",
        b"\"not_before\":",
        b"\"hours\":",
        b"\"time_zone\":",
        b"\"weekly\":",
        b"\"name\":",
        b"\"scopes\":",
        b"\"expires_in\":",
        b"\"10.0.0.0/8\"",
        b"\"::ffff:10.0.0.0/104\"",
        b"\"KR\"",
        b"\"Asia/Seoul\"",
        b"\"UTC\"",
        b"\"mon-fri 09:00-18:00\"",
        b"24:00",
        b"sat-mon",
        "월-금".as_bytes(),
        b"\"user@example.com\"",
    ];
    short_run("v2_bodies", once_fuzz::v2_bodies::run, tokens);
}

/// Runs `target` on its seeds, saved corpus and artifacts, then on mutations of the seeds.
fn short_run(name: &str, target: fn(&[u8]), tokens: &[&[u8]]) {
    let fuzz_dir = std::fs::canonicalize(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz"))
        .expect("the workspace's fuzz/ directory");
    let seeds = inputs(&fuzz_dir.join("seeds").join(name));
    assert!(!seeds.is_empty(), "no seeds in fuzz/seeds/{name}");
    for (path, bytes) in &seeds {
        check(name, target, bytes, &format!("seed {}", path.display()));
    }
    for saved in ["corpus", "artifacts"] {
        for (path, bytes) in inputs(&fuzz_dir.join(saved).join(name)) {
            check(name, target, &bytes, &format!("saved input {}", path.display()));
        }
    }

    let runs = env_u64("ONCE_FUZZ_RUNS").unwrap_or(DEFAULT_RUNS);
    let seed = env_u64("ONCE_FUZZ_SEED").unwrap_or(DEFAULT_SEED);
    println!("{name}: {} seeds, {runs} mutations, ONCE_FUZZ_SEED={seed:#x}", seeds.len());
    // Each target draws its own sequence, so the tests don't depend on each other's order.
    let mut rng = Rng::new(seed ^ fnv1a(name.as_bytes()));
    let seeds: Vec<Vec<u8>> = seeds.into_iter().map(|(_, bytes)| bytes).collect();
    let dictionary: Vec<&[u8]> = COMMON_TOKENS.iter().chain(tokens).copied().collect();
    for run in 0..runs {
        let input = mutate(&mut rng, &seeds, &dictionary);
        check(name, target, &input, &format!("mutation {run} (ONCE_FUZZ_SEED={seed:#x})"));
    }
}

/// Runs one input; on a panic, saves it and fails the test with where it is.
fn check(name: &str, target: fn(&[u8]), input: &[u8], origin: &str) {
    let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| target(input))) else { return };
    let message = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("(not a string)");
    let path = std::env::temp_dir().join(format!("once-fuzz-{name}-{:016x}", fnv1a(input)));
    let saved = match std::fs::write(&path, input) {
        Ok(()) => path.display().to_string(),
        Err(e) => format!("(could not write {}: {e})", path.display()),
    };
    let head = input.iter().take(64).fold(String::new(), |mut hex, b| {
        let _ = write!(hex, "{b:02x}");
        hex
    });
    panic!(
        "fuzz target {name} failed on {origin}: {message}\n  input ({} bytes) saved to {saved}\n  \
         first 64 bytes: {head}\n  replay: copy it into fuzz/artifacts/{name}/ and run this test again",
        input.len()
    );
}

/// The files of `dir`, by name; none if it does not exist.
fn inputs(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut paths: Vec<PathBuf> =
        entries.map(|e| e.expect("a readable directory entry").path()).filter(|p| p.is_file()).collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
            (p, bytes)
        })
        .collect()
}

/// A whole number from the environment, decimal or `0x` hex.
fn env_u64(var: &str) -> Option<u64> {
    let text = std::env::var(var).ok()?;
    let text = text.trim();
    let parsed = match text.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => text.parse(),
    };
    Some(parsed.unwrap_or_else(|e| panic!("{var}={text:?}: {e}")))
}

/// One input: a seed with 1 to `MAX_STACK` mutations applied in turn.
fn mutate(rng: &mut Rng, seeds: &[Vec<u8>], dictionary: &[&[u8]]) -> Vec<u8> {
    let mut data = seeds[rng.below(seeds.len())].clone();
    for _ in 0..=rng.below_u64(MAX_STACK) {
        mutate_once(rng, &mut data, seeds, dictionary);
    }
    data.truncate(MAX_LEN);
    data
}

fn mutate_once(rng: &mut Rng, data: &mut Vec<u8>, seeds: &[Vec<u8>], dictionary: &[&[u8]]) {
    if data.is_empty() {
        data.push(rng.byte());
        return;
    }
    let len = data.len();
    match rng.below(9) {
        // Flip one bit.
        0 => {
            let at = rng.below(len);
            data[at] ^= 1 << rng.below(8);
        }
        // Set one byte to a boundary value.
        1 => {
            let at = rng.below(len);
            data[at] = INTERESTING[rng.below(INTERESTING.len())];
        }
        // Insert a few random bytes.
        2 => {
            let at = rng.below(len + 1);
            let n = 1 + rng.below(8);
            let bytes: Vec<u8> = (0..n).map(|_| rng.byte()).collect();
            data.splice(at..at, bytes);
        }
        // Delete a range.
        3 => {
            let at = rng.below(len);
            let n = 1 + rng.below((len - at).min(16));
            data.drain(at..at + n);
        }
        // Copy a range somewhere else (a repeated field, a doubled escape).
        4 => {
            let from = rng.below(len);
            let n = 1 + rng.below((len - from).min(32));
            let range = data[from..from + n].to_vec();
            let at = rng.below(len + 1);
            data.splice(at..at, range);
        }
        // The front of this input, the back of another seed.
        5 => {
            let other = &seeds[rng.below(seeds.len())];
            let cut = rng.below(len + 1);
            let from = rng.below(other.len() + 1);
            data.truncate(cut);
            data.extend_from_slice(&other[from..]);
        }
        // Cut it short.
        6 => data.truncate(rng.below(len)),
        // Insert a dictionary token.
        7 => {
            let token = dictionary[rng.below(dictionary.len())];
            let at = rng.below(len + 1);
            data.splice(at..at, token.iter().copied());
        }
        // Write a dictionary token over what is there.
        _ => {
            let token = dictionary[rng.below(dictionary.len())];
            let at = rng.below(len);
            let end = (at + token.len()).min(len);
            data.splice(at..end, token.iter().copied());
        }
    }
}

/// SplitMix64: small, fast, and the same sequence everywhere for one seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0); the modulo bias is irrelevant here.
    fn below_u64(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn below(&mut self, n: usize) -> usize {
        let n64 = u64::try_from(n).expect("a length fits in u64");
        usize::try_from(self.below_u64(n64)).expect("below a usize")
    }

    fn byte(&mut self) -> u8 {
        self.next().to_le_bytes()[0]
    }
}

/// FNV-1a, to name saved inputs by content and to give each target its own sequence.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}
