//! Times one account-password hash with the default Argon2id parameters and with OWASP's
//! alternatives, and the password rules, for the `password` module's documentation:
//!
//! ```sh
//! cargo run --release -p once-crypto --example password_timing
//! ```

use std::time::Instant;

use once_crypto::password::{PasswordParams, PasswordRules, dummy_verify, hash_password, verify_password};

fn main() {
    let candidates = [
        ("default (64 MiB, t=3, p=1)", PasswordParams::default()),
        ("OWASP minimum (19 MiB, t=2, p=1)", PasswordParams { m_cost_kib: 19 * 1024, t_cost: 2, p_cost: 1 }),
        ("OWASP (46 MiB, t=1, p=1)", PasswordParams { m_cost_kib: 46 * 1024, t_cost: 1, p_cost: 1 }),
    ];
    let pw = "correct horse battery staple";
    for (name, params) in candidates {
        // Warm the pool first, as a running server would have.
        let Ok(phc) = hash_password(pw, params) else {
            eprintln!("{name}: parameters refused");
            continue;
        };
        let runs = 10;
        let start = Instant::now();
        for _ in 0..runs {
            let _ = hash_password(pw, params);
        }
        let hash = start.elapsed() / runs;
        let start = Instant::now();
        for _ in 0..runs {
            let _ = verify_password(pw, &phc, params);
        }
        let verify = start.elapsed() / runs;
        let start = Instant::now();
        for _ in 0..runs {
            dummy_verify(pw, params);
        }
        let dummy = start.elapsed() / runs;
        println!("{name}: hash {hash:?}, verify {verify:?}, dummy_verify {dummy:?}");
    }
    let rules = PasswordRules::default();
    let start = Instant::now();
    let _ = rules.check("warm-up-Tq8#vLz!", &[]);
    println!("rules, first call: {:?}", start.elapsed());
    let start = Instant::now();
    for _ in 0..100 {
        let _ = rules.check("gU7$kd93!xPq-ZmR0", &[]);
    }
    println!("rules, later calls: {:?}", start.elapsed() / 100);
}
