use once_crypto::PassphraseParams;

/// Limits and defaults for secrets (from the config).
#[derive(Clone, Debug)]
pub struct Policy {
    /// Shortest TTL; shorter requests are raised to it (OTS: 60 s).
    pub min_ttl: i64,
    /// Longest TTL; longer requests are lowered to it.
    pub max_ttl: i64,
    /// TTL when none is requested.
    pub default_ttl: i64,
    /// Receipts live this many times the secret's TTL.
    pub receipt_ttl_factor: i64,
    /// Largest secret accepted, in bytes.
    pub max_secret_bytes: usize,
    /// Largest file secret accepted, in bytes of the file (its encrypted form may be a little
    /// larger: `files::sealed_allowance`); 0: no file secrets.
    pub max_file_bytes: u64,
    /// Wrong passphrases after which the secret is burned.
    pub max_passphrase_failures: u32,
    /// Most views a secret may allow.
    pub max_views: u32,
    /// Argon2id cost for passphrases.
    pub passphrase_params: PassphraseParams,
    /// Argon2id computations allowed at once (the rest wait).
    pub kdf_concurrency: usize,
    /// Argon2id computations allowed to wait for a turn; past that, [`crate::CoreError::Busy`].
    pub kdf_queue: usize,
    /// Passwords and sessions.
    pub auth: AuthPolicy,
}

/// Account passwords and browser sessions.
#[derive(Clone, Debug)]
pub struct AuthPolicy {
    pub password_params: once_crypto::password::PasswordParams,
    pub password_rules: once_crypto::password::PasswordRules,
    /// A session ends after this many seconds without use.
    pub session_idle_secs: i64,
    /// A session ends this many seconds after sign-in, however much it is used.
    pub session_max_secs: i64,
    /// Who may create an account on the sign-up page.
    pub signup: SignupMode,
    /// TOTP parameters (apps expect the default: SHA-1, 6 digits, 30 s).
    pub totp: once_crypto::totp::TotpPolicy,
    /// The issuer name authenticator apps show next to the account.
    pub totp_issuer: String,
    /// Wrong second-factor codes in a row that lock an account's second factor.
    pub second_factor_max_failures: u32,
    /// How long that lock lasts (seconds); also how long failures are remembered.
    pub second_factor_lock_secs: i64,
    /// Every account must set up two-factor sign-in before using the web UI.
    pub require_second_factor: bool,
}

/// Who may sign up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignupMode {
    /// Nobody: accounts are added by an admin (`once user add`). The default.
    Closed,
    /// Anyone with an e-mail address.
    Open,
    /// Addresses in these domains (lower-case; `example.com` also admits `dept.example.com`).
    Domains(Vec<String>),
}

impl SignupMode {
    /// Whether a normalized (lower-case) address may sign up.
    pub fn admits(&self, email: &str) -> bool {
        match self {
            SignupMode::Closed => false,
            SignupMode::Open => true,
            SignupMode::Domains(domains) => email.rsplit_once('@').is_some_and(|(_, d)| {
                domains.iter().any(|allowed| {
                    d == allowed || d.strip_suffix(allowed.as_str()).is_some_and(|rest| rest.ends_with('.'))
                })
            }),
        }
    }
}

impl Default for AuthPolicy {
    fn default() -> Self {
        AuthPolicy {
            password_params: once_crypto::password::PasswordParams::default(),
            password_rules: once_crypto::password::PasswordRules::default(),
            session_idle_secs: 30 * 60,
            session_max_secs: 12 * 3600,
            signup: SignupMode::Closed,
            totp: once_crypto::totp::TotpPolicy::default(),
            totp_issuer: "Once".into(),
            second_factor_max_failures: 5,
            second_factor_lock_secs: 15 * 60,
            require_second_factor: false,
        }
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            min_ttl: 60,
            max_ttl: 30 * 24 * 3600,
            default_ttl: 7 * 24 * 3600,
            receipt_ttl_factor: 2,
            max_secret_bytes: 1024 * 1024,
            max_file_bytes: 100 * 1024 * 1024,
            max_passphrase_failures: 5,
            max_views: 100,
            passphrase_params: PassphraseParams::default(),
            kdf_concurrency: 4,
            kdf_queue: 256,
            auth: AuthPolicy::default(),
        }
    }
}

/// A TTL as the caller asked for it, already parsed as a number of seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TtlRequest {
    Default,
    Seconds(i64),
}

impl TtlRequest {
    /// Parses a TTL parameter: a positive whole number of seconds. Anything else — negative,
    /// zero, fractional, exponent notation, beyond 64 bits, text — is an error the caller can fix.
    pub fn parse(text: &str) -> Result<Self, String> {
        let t = text.trim();
        if t.is_empty() {
            return Ok(TtlRequest::Default);
        }
        let bad = || format!("ttl must be a positive whole number of seconds, not {:?}", truncate(t));
        if !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        match t.parse::<i64>() {
            Ok(0) | Err(_) => Err(bad()),
            Ok(n) => Ok(TtlRequest::Seconds(n)),
        }
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(32).collect()
}

impl Policy {
    /// The TTL to use: the request clamped silently into `[min_ttl, max_ttl]` (as OTS does).
    pub fn ttl(&self, req: TtlRequest) -> i64 {
        match req {
            TtlRequest::Default => self.default_ttl.clamp(self.min_ttl, self.max_ttl),
            TtlRequest::Seconds(n) => n.clamp(self.min_ttl, self.max_ttl),
        }
    }
}

/// How many times a secret may be revealed (≥ 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ViewLimit(u32);

impl ViewLimit {
    pub const ONCE: ViewLimit = ViewLimit(1);

    pub fn new(n: u32, policy: &Policy) -> Result<Self, String> {
        if n == 0 || n > policy.max_views {
            return Err(format!("views must be between 1 and {}", policy.max_views));
        }
        Ok(ViewLimit(n))
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_parsing_rejects_hostile_values() {
        for bad in [
            "-1",
            "0",
            "1e309",
            "abc",
            "1.5",
            "9223372036854775808",
            "18446744073709551616",
            " -5",
            "0x10",
            "+60",
        ] {
            assert!(TtlRequest::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(TtlRequest::parse("3600"), Ok(TtlRequest::Seconds(3600)));
        assert_eq!(TtlRequest::parse(""), Ok(TtlRequest::Default));
        assert_eq!(TtlRequest::parse("9223372036854775807"), Ok(TtlRequest::Seconds(i64::MAX)));
    }

    #[test]
    fn ttl_is_clamped_silently() {
        let p = Policy::default();
        assert_eq!(p.ttl(TtlRequest::Seconds(1)), 60);
        assert_eq!(p.ttl(TtlRequest::Seconds(3600)), 3600);
        assert_eq!(p.ttl(TtlRequest::Seconds(i64::MAX)), p.max_ttl);
        assert_eq!(p.ttl(TtlRequest::Default), p.default_ttl);
    }

    #[test]
    fn signup_modes() {
        let domains = SignupMode::Domains(vec!["example.com".into()]);
        assert!(domains.admits("a@example.com"));
        assert!(domains.admits("a@dept.example.com"));
        assert!(!domains.admits("a@badexample.com"));
        assert!(!domains.admits("a@example.com.evil.org"));
        assert!(SignupMode::Open.admits("a@anything.org"));
        assert!(!SignupMode::Closed.admits("a@example.com"));
    }

    #[test]
    fn view_limits() {
        let p = Policy::default();
        assert!(ViewLimit::new(0, &p).is_err());
        assert!(ViewLimit::new(101, &p).is_err());
        assert_eq!(ViewLimit::new(3, &p).map(ViewLimit::get), Ok(3));
    }
}
