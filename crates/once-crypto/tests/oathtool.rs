//! Interop: our TOTP codes equal those of OATH Toolkit's `oathtool` (Debian package `oathtool`),
//! an independent C implementation, for random secrets and times.
//!
//! These tests need `oathtool` on the PATH and fail (never skip) without it; `.ci/run` installs it.

use std::io::ErrorKind;
use std::process::Command;

use once_crypto::totp::{Accepted, Algorithm, TotpPolicy, TotpSecret};
use rand::Rng;

/// Runs `oathtool` with `args` and returns its one line of output.
fn oathtool(args: &[&str]) -> String {
    let out = match Command::new("oathtool").args(args).output() {
        Ok(out) => out,
        Err(e) if e.kind() == ErrorKind::NotFound => panic!(
            "`oathtool` is not installed, and the TOTP interop tests need it: \
             run `apt-get install oathtool` (.ci/run installs it)"
        ),
        Err(e) => panic!("could not run oathtool: {e}"),
    };
    assert!(out.status.success(), "oathtool {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("oathtool prints UTF-8").trim().to_owned()
}

/// `unix_secs` as the date string `oathtool --now` takes, e.g. `2009-02-13 23:31:30 UTC`
/// (days to a civil date: Howard Hinnant's `civil_from_days`).
fn utc(unix_secs: u64) -> String {
    let days = i64::try_from(unix_secs / 86_400).expect("days fit i64");
    let secs = unix_secs % 86_400;
    let (hour, minute, second) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02}:{second:02} UTC")
}

fn mode(algorithm: Algorithm) -> &'static str {
    match algorithm {
        Algorithm::Sha1 => "--totp=sha1",
        Algorithm::Sha256 => "--totp=sha256",
        Algorithm::Sha512 => "--totp=sha512",
    }
}

/// oathtool's code for `secret` at `unix_secs` under `policy`.
fn oath_code(policy: &TotpPolicy, secret: &TotpSecret, unix_secs: u64) -> String {
    let now = utc(unix_secs);
    let digits = format!("--digits={}", policy.digits);
    let step = format!("--time-step-size={}s", policy.step_secs);
    let b32 = secret.to_base32();
    oathtool(&[mode(policy.algorithm), "-b", &digits, &step, "--now", &now, &b32])
}

/// A time between 1970 and 2100.
fn random_time() -> u64 {
    rand::thread_rng().gen_range(0..4_102_444_800)
}

/// The harness itself: the RFC 6238 Appendix B table's UTC column, through our date formatter and
/// oathtool, gives the RFC's codes (and ours).
#[test]
fn rfc6238_table_through_oathtool() {
    let rows: [(u64, &str, &str); 6] = [
        (59, "1970-01-01 00:00:59 UTC", "94287082"),
        (1_111_111_109, "2005-03-18 01:58:29 UTC", "07081804"),
        (1_111_111_111, "2005-03-18 01:58:31 UTC", "14050471"),
        (1_234_567_890, "2009-02-13 23:31:30 UTC", "89005924"),
        (2_000_000_000, "2033-05-18 03:33:20 UTC", "69279037"),
        (20_000_000_000, "2603-10-11 11:33:20 UTC", "65353130"),
    ];
    let secret = TotpSecret::from_bytes(b"12345678901234567890").expect("RFC seed");
    let policy = TotpPolicy { digits: 8, ..TotpPolicy::default() };
    for (t, date, code) in rows {
        assert_eq!(utc(t), date);
        assert_eq!(oath_code(&policy, &secret, t), code, "oathtool at {date}");
        assert_eq!(policy.code_at(&secret, t).expect("code"), code, "code_at at {date}");
    }
}

/// Default policy (SHA-1, 6 digits, 30 s): random secrets and times; oathtool's code verifies with
/// the drift the time difference implies.
#[test]
fn default_policy_matches_oathtool() {
    let policy = TotpPolicy::default();
    for _ in 0..16 {
        let secret = TotpSecret::generate();
        let t = random_time();
        let theirs = oath_code(&policy, &secret, t);
        let ours = policy.code_at(&secret, t).expect("code");
        assert_eq!(ours, theirs, "secret {} at {}", &*secret.to_base32(), utc(t));
        assert_eq!(policy.verify(&secret, &theirs, t, None), Ok(Accepted { step: t / 30, drift: 0 }));
        // The same code, typed one step later: accepted as the previous step.
        assert_eq!(policy.verify(&secret, &theirs, t + 30, None), Ok(Accepted { step: t / 30, drift: -1 }));
    }
}

/// SHA-256 and SHA-512 with 8 digits, with 20-byte secrets and with secrets of the hash's own
/// length (as RFC 6238's vectors use), and a 60-second step.
#[test]
fn other_algorithms_digits_and_steps_match_oathtool() {
    let mut rng = rand::thread_rng();
    for (algorithm, key_len) in
        [(Algorithm::Sha256, 20), (Algorithm::Sha256, 32), (Algorithm::Sha512, 20), (Algorithm::Sha512, 64)]
    {
        for digits in [8, 7] {
            let policy = TotpPolicy { algorithm, digits, ..TotpPolicy::default() };
            let mut bytes = vec![0u8; key_len];
            rng.fill(&mut bytes[..]);
            let secret = TotpSecret::from_bytes(&bytes).expect("secret");
            let t = random_time();
            let ours = policy.code_at(&secret, t).expect("code");
            assert_eq!(ours.len(), digits as usize);
            assert_eq!(
                ours,
                oath_code(&policy, &secret, t),
                "{algorithm:?}/{digits} secret {} at {}",
                &*secret.to_base32(),
                utc(t)
            );
        }
    }
    let policy = TotpPolicy { step_secs: 60, ..TotpPolicy::default() };
    for _ in 0..3 {
        let secret = TotpSecret::generate();
        let t = random_time();
        assert_eq!(
            policy.code_at(&secret, t).expect("code"),
            oath_code(&policy, &secret, t),
            "60 s step, secret {} at {}",
            &*secret.to_base32(),
            utc(t)
        );
    }
}
