//! Configuration: compiled defaults < TOML file < `ONCE_*` environment < command-line flags.
//!
//! Nested keys come from the environment with `__` between levels
//! (`ONCE_SECRETS__MAX_TTL=86400`). The master key is not a config value: it comes from the key
//! ring file in the data dir, or from `ONCE_MASTER_KEY` / `ONCE_MASTER_KEY_FILE`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsConfig {
    /// TTL (seconds) when the sender gives none.
    pub default_ttl: i64,
    /// Shortest TTL; shorter requests are raised to it.
    pub min_ttl: i64,
    /// Longest TTL; longer requests are lowered to it.
    pub max_ttl: i64,
    /// Receipts live this many times the secret's TTL.
    pub receipt_ttl_factor: i64,
    /// Largest secret in bytes.
    pub max_size: usize,
    /// Largest file secret in bytes (of the file; its encrypted form is a little larger); 0 turns
    /// file secrets off. File uploads stream to the store in chunks, outside `http.max_body_bytes`.
    pub max_file_size: u64,
    /// Wrong passphrases after which a secret is burned.
    pub max_passphrase_failures: u32,
    /// Most views one secret may allow.
    pub max_views: u32,
}

impl Default for SecretsConfig {
    fn default() -> Self {
        let p = once_core::Policy::default();
        SecretsConfig {
            default_ttl: p.default_ttl,
            min_ttl: p.min_ttl,
            max_ttl: p.max_ttl,
            receipt_ttl_factor: p.receipt_ttl_factor,
            max_size: p.max_secret_bytes,
            max_file_size: p.max_file_bytes,
            max_passphrase_failures: p.max_passphrase_failures,
            max_views: p.max_views,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Largest request body in bytes (413 beyond it). Leave room for encoding overhead above
    /// `secrets.max_size`.
    pub max_body_bytes: usize,
    /// Whole-request timeout in seconds (408 beyond it).
    pub request_timeout_secs: u64,
    /// A connection must send a request's head within this many seconds (slowloris); an idle
    /// keep-alive connection is closed after it too.
    pub header_timeout_secs: u64,
    /// Reverse proxies (CIDR networks or addresses) whose `X-Forwarded-For` names the client.
    /// From any other peer the header is ignored: the peer is the client. Empty: none. They are
    /// also exempt from `max_connections_per_ip`.
    pub trusted_proxies: Vec<String>,
    /// Open connections at most, from everyone together; past it a new connection is answered
    /// 503 and closed. 0: no cap.
    pub max_connections: usize,
    /// Open connections at most from one peer address (an IPv6 peer by its /64), trusted proxies
    /// excepted; past it a new connection is answered 503 and closed. 0: no cap.
    pub max_connections_per_ip: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            max_body_bytes: 4 * 1024 * 1024,
            request_timeout_secs: 30,
            header_timeout_secs: 10,
            trusted_proxies: Vec::new(),
            max_connections: 16_384,
            max_connections_per_ip: 1024,
        }
    }
}

impl HttpConfig {
    /// The trusted proxies, parsed.
    pub fn proxies(&self) -> Result<Networks, String> {
        Networks::parse(&self.trusted_proxies, "http.trusted_proxies")
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweeperConfig {
    /// Seconds between sweeps of expired secrets and receipts.
    pub interval_secs: u64,
    /// Rows deleted per batch.
    pub batch: u32,
}

impl Default for SweeperConfig {
    fn default() -> Self {
        SweeperConfig { interval_secs: 60, batch: 1000 }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CryptoConfig {
    /// Key ring file; default `<data_dir>/keyring.json`.
    pub keyring: Option<PathBuf>,
    /// The AEAD new envelopes are sealed with: `aes-256-gcm` (default), `aria-256-gcm` (the
    /// Korean standard cipher) or `xchacha20-poly1305`. Envelopes sealed under any of them open
    /// whatever this says, so it can be changed at any time.
    pub algorithm: once_crypto::AeadAlgorithm,
    /// Argon2id memory cost for passphrases, KiB (OWASP: 19456).
    pub passphrase_m_cost_kib: u32,
    /// Argon2id iterations for passphrases (OWASP: 2).
    pub passphrase_t_cost: u32,
    /// Argon2id computations at once [default: half the CPU cores, at least 1].
    pub kdf_concurrency: usize,
    /// Argon2id computations that may wait for a turn; past that, a passphrase or password
    /// check gets 503 with `Retry-After: 1` at once.
    pub kdf_queue: usize,
}

/// Half the CPU cores, at least 1: Argon2id is CPU-bound, and the other half keeps answering
/// everything else promptly while passphrase checks run flat out (docs/BENCHMARKS.md, 23:10 UTC:
/// on two cores, 4 at once doubled plain requests' p99; 1 kept it within 10%).
pub fn default_kdf_concurrency() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}

impl Default for CryptoConfig {
    fn default() -> Self {
        let p = once_crypto::PassphraseParams::default();
        CryptoConfig {
            keyring: None,
            algorithm: once_crypto::AeadAlgorithm::default(),
            passphrase_m_cost_kib: p.m_cost_kib,
            passphrase_t_cost: p.t_cost,
            kdf_concurrency: default_kdf_concurrency(),
            kdf_queue: 256,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Serve Prometheus metrics at `GET /metrics` (without authentication; docs/METRICS.md).
    pub enabled: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig { enabled: true }
    }
}

/// Per-client rate limits (docs/CONFIG.md): requests per minute from one IP address (an IPv6
/// client by its /64), in bursts of up to that many. Shared by every instance on one Redis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    pub enabled: bool,
    /// Secrets created (API v1 share/create/generate, API v2, the web form).
    pub create_per_minute: u32,
    /// Reveal attempts, right or wrong (API v1, API v2, the web page).
    pub reveal_per_minute: u32,
    /// Password sign-ins and sign-ups.
    pub signin_per_minute: u32,
    /// Second-factor codes.
    pub second_factor_per_minute: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            enabled: true,
            create_per_minute: 120,
            reveal_per_minute: 300,
            signin_per_minute: 10,
            second_factor_per_minute: 10,
        }
    }
}

/// The audit trail (docs/CONFIG.md).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// Records older than this many days are pruned (the chain stays verifiable). Korean access-log
    /// rules ask for at least a year (two with more than 50,000 users).
    pub retention_days: i64,
    /// Where each event is also sent as an RFC 5424 syslog message: `udp://HOST:PORT`,
    /// `tcp://HOST:PORT` (octet-counted frames) or `unix:///PATH` (a datagram socket such as
    /// `/dev/log`). Best effort: the store's trail stays the record. `None`: not sent.
    pub syslog: Option<String>,
    /// The syslog facility of those messages (`authpriv`, `auth`, `local0` … `local7`, …).
    pub syslog_facility: crate::audit::syslog::Facility,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            retention_days: 400,
            syslog: None,
            syslog_facility: crate::audit::syslog::Facility::Authpriv,
        }
    }
}

impl AuditConfig {
    /// The syslog destination, parsed; `None` when none is configured.
    pub fn syslog_target(&self) -> Result<Option<crate::audit::syslog::Target>, String> {
        self.syslog.as_deref().map(crate::audit::syslog::Target::parse).transpose()
    }
}

/// Who may sign up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Signup {
    /// Only admins add accounts (`once user add`).
    Closed,
    /// Anyone.
    Open,
    /// Addresses in `auth.signup_domains`.
    Domains,
}

/// Accounts, sign-in and two-factor sign-in (docs/CONFIG.md).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Who may create an account on the sign-up page.
    pub signup: Signup,
    /// With `signup = "domains"`: the e-mail domains that may sign up (subdomains included).
    pub signup_domains: Vec<String>,
    /// Shortest password, in characters.
    pub password_min_length: usize,
    /// A browser session ends after this many minutes without use.
    pub session_idle_minutes: i64,
    /// A browser session ends this many hours after sign-in.
    pub session_max_hours: i64,
    /// Every account must set up two-factor sign-in before using its account pages.
    pub require_two_factor: bool,
    /// Wrong two-factor codes in a row that lock an account's two-factor sign-in.
    pub two_factor_max_failures: u32,
    /// How long that lock lasts, in minutes.
    pub two_factor_lock_minutes: i64,
    /// The name authenticator apps show for this instance.
    pub totp_issuer: String,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            signup: Signup::Closed,
            signup_domains: Vec::new(),
            password_min_length: 12,
            session_idle_minutes: 30,
            session_max_hours: 12,
            require_two_factor: false,
            two_factor_max_failures: 5,
            two_factor_lock_minutes: 15,
            totp_issuer: "Once".into(),
        }
    }
}

/// The admin pages (docs/CONFIG.md).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Networks (CIDR, e.g. `10.0.0.0/8`, or single addresses) the admin pages answer; others
    /// get 403. Empty: anywhere. Checked against the connection's peer address, so behind a
    /// reverse proxy list the proxy's address.
    pub allow_cidrs: Vec<String>,
}

impl AdminConfig {
    /// The allow-list, parsed.
    pub fn allow_list(&self) -> Result<CidrAllowList, String> {
        Networks::parse(&self.allow_cidrs, "admin.allow_cidrs").map(CidrAllowList)
    }
}

/// A set of networks (CIDR, or single addresses as a /32 or /128).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Networks(Vec<ipnet::IpNet>);

impl Networks {
    /// Parses CIDR networks (`192.168.0.0/16`, `fd00::/8`) and single addresses; `key` names the
    /// setting in errors.
    pub fn parse(entries: &[String], key: &str) -> Result<Self, String> {
        let nets = entries
            .iter()
            .map(|e| {
                let e = e.trim();
                e.parse::<ipnet::IpNet>()
                    .or_else(|_| e.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| format!("{key}: {e:?} is not a network like \"10.0.0.0/8\" or an address"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Networks(nets))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` is in one of the networks. An IPv4 address seen on an IPv6 socket
    /// (`::ffff:10.1.2.3`) is matched as the IPv4 address it is.
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|n| n.contains(&ip))
    }
}

/// Networks a client address must be in; empty allows every address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CidrAllowList(Networks);

impl CidrAllowList {
    /// Parses CIDR networks and single addresses.
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        Networks::parse(entries, "admin.allow_cidrs").map(CidrAllowList)
    }

    /// Whether the list allows every address.
    pub fn allows_anywhere(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `client` may reach what the list guards.
    pub fn permits(&self, client: std::net::IpAddr) -> bool {
        self.0.is_empty() || self.0.contains(client)
    }
}

/// Settings for `redis://` and `rediss://` stores (docs/DEPLOY.md).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// Prefix of every key, so several deployments can share one Redis.
    pub key_prefix: String,
    /// Longest wait for any one Redis operation, in milliseconds; past it the request gets a 503.
    pub timeout_ms: u64,
    /// How long startup waits for Redis to answer, in seconds.
    pub connect_wait_secs: u64,
    /// Start even if Redis's `maxmemory-policy` may evict keys. Evicted keys are lost secrets,
    /// receipts and accounts; keep this `false` and set `maxmemory-policy noeviction`.
    pub danger_allow_eviction: bool,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            key_prefix: "once:".into(),
            timeout_ms: 2000,
            connect_wait_secs: 10,
            danger_allow_eviction: false,
        }
    }
}

impl RedisConfig {
    pub fn options(&self) -> once_store_redis::RedisOptions {
        once_store_redis::RedisOptions {
            key_prefix: self.key_prefix.clone(),
            op_timeout: std::time::Duration::from_millis(self.timeout_ms),
            connect_wait: std::time::Duration::from_secs(self.connect_wait_secs),
            danger_allow_eviction: self.danger_allow_eviction,
        }
    }
}

/// Secrets' access policies (docs/CONFIG.md).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessConfig {
    /// A MaxMind-format country (or city) database (`GeoLite2-Country.mmdb`, DB-IP's lite
    /// `.mmdb`, …). Without one, secrets can't be limited to countries.
    pub geoip_db: Option<PathBuf>,
}

/// Everything `once serve` can be told.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Directory for the embedded database and the key ring.
    pub data_dir: PathBuf,
    /// Store URL: `sqlite://PATH`, `redis://[USER:PASSWORD@]HOST[:PORT][/DB]` (also Valkey; or
    /// `rediss://` for TLS) or `memory://`; default `sqlite://<data_dir>/once.db`.
    pub store: Option<String>,
    /// Public base URL used in links (`metadata_url`, …); default `http://<listen>`.
    pub base_url: Option<String>,
    pub log_format: LogFormat,
    /// Log filter (`RUST_LOG` syntax), e.g. `info` or `once=debug,tower_http=info`.
    pub log_level: String,
    pub secrets: SecretsConfig,
    pub http: HttpConfig,
    pub sweeper: SweeperConfig,
    pub crypto: CryptoConfig,
    pub metrics: MetricsConfig,
    pub redis: RedisConfig,
    pub auth: AuthConfig,
    pub audit: AuditConfig,
    pub limits: LimitsConfig,
    pub admin: AdminConfig,
    pub access: AccessConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 7143)),
            data_dir: PathBuf::from("./once-data"),
            store: None,
            base_url: None,
            log_format: LogFormat::Pretty,
            log_level: "info".into(),
            secrets: SecretsConfig::default(),
            http: HttpConfig::default(),
            sweeper: SweeperConfig::default(),
            crypto: CryptoConfig::default(),
            metrics: MetricsConfig::default(),
            redis: RedisConfig::default(),
            auth: AuthConfig::default(),
            audit: AuditConfig::default(),
            limits: LimitsConfig::default(),
            admin: AdminConfig::default(),
            access: AccessConfig::default(),
        }
    }
}

/// Values given as command-line flags; `None` = not given.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FlagOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_format: Option<LogFormat>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access: Option<AccessFlags>,
}

/// `once serve --geoip-db`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AccessFlags {
    pub geoip_db: PathBuf,
}

/// Environment variables that are not config keys: the server's own, and the command-line
/// client's (`once share` … read `ONCE_SERVER`, `ONCE_API_KEY`, `ONCE_PROFILE`, `ONCE_USER`), which
/// may be set in the same shell.
const NOT_CONFIG: &[&str] =
    &["config", "master_key", "master_key_file", "server", "api_key", "profile", "user"];

impl Config {
    /// Layers the sources. `file` is the TOML file (`--config` / `ONCE_CONFIG`); a named file that
    /// does not exist is an error.
    pub fn load(file: Option<&Path>, flags: &FlagOverrides) -> Result<Config, String> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.is_file() {
                return Err(format!("config file {} does not exist", path.display()));
            }
            fig = fig.merge(Toml::file(path));
        }
        fig = fig
            .merge(Env::prefixed("ONCE_").split("__").ignore(NOT_CONFIG))
            .merge(Serialized::defaults(flags));
        let config: Config = fig.extract().map_err(|e| {
            // figment names the key and the source (file or env var) of a bad value.
            e.into_iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ")
        })?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), String> {
        let s = &self.secrets;
        if !(1..=s.max_ttl).contains(&s.min_ttl) {
            return Err("secrets.min_ttl must be between 1 and secrets.max_ttl".into());
        }
        if s.max_ttl > 10 * 365 * 24 * 3600 {
            return Err("secrets.max_ttl must be at most ten years".into());
        }
        if !(1..=1000).contains(&s.receipt_ttl_factor) {
            return Err("secrets.receipt_ttl_factor must be between 1 and 1000".into());
        }
        if s.max_size == 0 || s.max_size > self.http.max_body_bytes {
            return Err("secrets.max_size must be between 1 and http.max_body_bytes".into());
        }
        if s.max_views == 0 || s.max_passphrase_failures == 0 {
            return Err("secrets.max_views and secrets.max_passphrase_failures must be at least 1".into());
        }
        if self.sweeper.interval_secs == 0 || self.sweeper.batch == 0 {
            return Err("sweeper.interval_secs and sweeper.batch must be at least 1".into());
        }
        // Out of these bounds every passphrase secret would fail to seal (and to open).
        if !self.policy().passphrase_params.within_limits() {
            return Err(
                "crypto.passphrase_m_cost_kib must be between 8 and 1048576 and crypto.passphrase_t_cost \
                 between 1 and 16"
                    .into(),
            );
        }
        if self.redis.timeout_ms == 0 {
            return Err("redis.timeout_ms must be at least 1".into());
        }
        if self.redis.key_prefix.contains(['{', '}', '*', '?', '[']) {
            return Err("redis.key_prefix must not contain '{', '}', '*', '?' or '['".into());
        }
        let l = &self.limits;
        if [l.create_per_minute, l.reveal_per_minute, l.signin_per_minute, l.second_factor_per_minute]
            .contains(&0)
        {
            return Err(
                "limits.*_per_minute must be at least 1 (set limits.enabled = false to turn limits off)"
                    .into(),
            );
        }
        if !(1..=100 * 365).contains(&self.audit.retention_days) {
            return Err("audit.retention_days must be between 1 and 36500".into());
        }
        self.audit.syslog_target()?;
        let a = &self.auth;
        if !(8..=256).contains(&a.password_min_length) {
            return Err("auth.password_min_length must be between 8 and 256".into());
        }
        if a.session_idle_minutes < 1 || a.session_max_hours < 1 || a.session_max_hours > 24 * 90 {
            return Err(
                "auth.session_idle_minutes must be at least 1 and auth.session_max_hours 1 to 2160".into()
            );
        }
        if a.two_factor_max_failures == 0 || a.two_factor_lock_minutes < 1 {
            return Err(
                "auth.two_factor_max_failures and auth.two_factor_lock_minutes must be at least 1".into()
            );
        }
        if a.totp_issuer.trim().is_empty() || a.totp_issuer.contains(':') || a.totp_issuer.len() > 64 {
            return Err("auth.totp_issuer must be 1 to 64 characters without ':'".into());
        }
        if a.signup == Signup::Domains && a.signup_domains.is_empty() {
            return Err("auth.signup = \"domains\" needs at least one entry in auth.signup_domains".into());
        }
        if a.signup_domains.iter().any(|d| d.trim().is_empty() || d.contains(['@', ' ']) || !d.contains('.'))
        {
            return Err("auth.signup_domains must be domain names like \"example.com\"".into());
        }
        if self.http.header_timeout_secs == 0 {
            return Err("http.header_timeout_secs must be at least 1".into());
        }
        if self.http.request_timeout_secs == 0 {
            return Err("http.request_timeout_secs must be at least 1".into());
        }
        self.admin.allow_list()?;
        self.http.proxies()?;
        Ok(())
    }

    /// The store URL in effect.
    pub fn store_url(&self) -> String {
        self.store.clone().unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("once.db").display()))
    }

    /// The key ring file in effect.
    pub fn keyring_path(&self) -> PathBuf {
        self.crypto.keyring.clone().unwrap_or_else(|| self.data_dir.join("keyring.json"))
    }

    /// The public base URL, without a trailing slash.
    pub fn base_url(&self) -> String {
        let url = self.base_url.clone().unwrap_or_else(|| format!("http://{}", self.listen));
        url.trim_end_matches('/').to_owned()
    }

    pub fn policy(&self) -> once_core::Policy {
        let s = &self.secrets;
        once_core::Policy {
            min_ttl: s.min_ttl,
            max_ttl: s.max_ttl,
            default_ttl: s.default_ttl,
            receipt_ttl_factor: s.receipt_ttl_factor,
            max_secret_bytes: s.max_size,
            max_file_bytes: s.max_file_size,
            max_passphrase_failures: s.max_passphrase_failures,
            max_views: s.max_views,
            passphrase_params: once_crypto::PassphraseParams {
                m_cost_kib: self.crypto.passphrase_m_cost_kib,
                t_cost: self.crypto.passphrase_t_cost,
                p_cost: 1,
            },
            kdf_concurrency: self.crypto.kdf_concurrency.max(1),
            kdf_queue: self.crypto.kdf_queue,
            auth: self.auth_policy(),
        }
    }

    fn auth_policy(&self) -> once_core::AuthPolicy {
        let a = &self.auth;
        let defaults = once_core::AuthPolicy::default();
        once_core::AuthPolicy {
            password_rules: once_crypto::password::PasswordRules {
                min_chars: a.password_min_length,
                ..defaults.password_rules
            },
            session_idle_secs: a.session_idle_minutes * 60,
            session_max_secs: a.session_max_hours * 3600,
            signup: match a.signup {
                Signup::Closed => once_core::SignupMode::Closed,
                Signup::Open => once_core::SignupMode::Open,
                Signup::Domains => once_core::SignupMode::Domains(
                    a.signup_domains
                        .iter()
                        .map(|d| d.trim().trim_start_matches('.').to_lowercase())
                        .collect(),
                ),
            },
            totp_issuer: a.totp_issuer.trim().to_owned(),
            second_factor_max_failures: a.two_factor_max_failures,
            second_factor_lock_secs: a.two_factor_lock_minutes * 60,
            require_second_factor: a.require_two_factor,
            ..defaults
        }
    }

    /// A commented example file with every key at its default.
    pub fn example_toml() -> &'static str {
        include_str!("../config.example.toml")
    }
}

#[cfg(test)]
#[allow(clippy::result_large_err, reason = "figment::Jail's closure signature is figment's, not ours")]
mod tests {
    use super::*;

    #[test]
    fn layers_defaults_file_env_flags_in_that_order() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "once.toml",
                r#"
                    listen = "127.0.0.1:1001"
                    data_dir = "/from/file"
                    base_url = "https://file.example"
                    [secrets]
                    max_ttl = 1000
                    default_ttl = 500
                "#,
            )?;
            let file = Some(Path::new("once.toml"));
            let c = Config::load(file, &FlagOverrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(c.listen.port(), 1001);
            assert_eq!(c.secrets.max_ttl, 1000);
            assert_eq!(c.secrets.min_ttl, 60, "untouched keys keep their defaults");

            jail.set_env("ONCE_LISTEN", "127.0.0.1:1002");
            jail.set_env("ONCE_SECRETS__MAX_TTL", "2000");
            jail.set_env("ONCE_DATA_DIR", "/from/env");
            // A list, as deploy/docker-compose.yml sets it.
            jail.set_env("ONCE_HTTP__TRUSTED_PROXIES", r#"["10.0.0.0/8", "172.16.0.0/12"]"#);
            let c = Config::load(file, &FlagOverrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(c.http.trusted_proxies, ["10.0.0.0/8", "172.16.0.0/12"]);
            assert_eq!(c.listen.port(), 1002);
            assert_eq!(c.secrets.max_ttl, 2000);
            assert_eq!(c.data_dir, PathBuf::from("/from/env"));
            assert_eq!(c.base_url(), "https://file.example");

            let flags = FlagOverrides {
                listen: Some("127.0.0.1:1003".parse().map_err(|_| "addr")?),
                ..FlagOverrides::default()
            };
            let c = Config::load(file, &flags).map_err(|e| e.to_string())?;
            assert_eq!(c.listen.port(), 1003);
            assert_eq!(c.data_dir, PathBuf::from("/from/env"));
            assert_eq!(c.store_url(), "sqlite:///from/env/once.db");
            Ok(())
        });
    }

    #[test]
    fn bad_values_are_named() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("ONCE_SECRETS__MAX_TTL", "soon");
            let err = Config::load(None, &FlagOverrides::default()).expect_err("bad ttl");
            assert!(err.to_lowercase().contains("max_ttl"), "{err}");
            jail.set_env("ONCE_SECRETS__MAX_TTL", "100");
            jail.set_env("ONCE_SECRETS__MIN_TTL", "200");
            assert!(Config::load(None, &FlagOverrides::default()).is_err());
            Ok(())
        });
        assert!(Config::load(Some(Path::new("/nonexistent/once.toml")), &FlagOverrides::default()).is_err());
    }

    #[test]
    fn example_file_parses_to_the_defaults() {
        let c: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string(Config::example_toml()))
            .extract()
            .expect("example parses");
        assert_eq!(c, Config::default());
    }

    #[test]
    fn the_admin_allow_list_parses_networks_and_addresses() {
        let list = |entries: &[&str]| {
            CidrAllowList::parse(&entries.iter().map(|e| (*e).to_owned()).collect::<Vec<_>>())
        };
        let ip = |s: &str| s.parse::<std::net::IpAddr>().expect("ip");
        let anywhere = list(&[]).expect("empty");
        assert!(
            anywhere.allows_anywhere() && anywhere.permits(ip("203.0.113.9")) && anywhere.permits(ip("::1"))
        );
        let l = list(&["10.0.0.0/8", " 192.0.2.7 ", "fd00::/8"]).expect("parses");
        assert!(!l.allows_anywhere());
        for (addr, allowed) in [
            ("10.1.2.3", true),
            ("11.0.0.1", false),
            ("192.0.2.7", true),
            ("192.0.2.8", false),
            ("::ffff:10.9.9.9", true),
            ("::ffff:127.0.0.1", false),
            ("fd12::1", true),
            ("::1", false),
            ("127.0.0.1", false),
        ] {
            assert_eq!(l.permits(ip(addr)), allowed, "{addr}");
        }
        for bad in ["10.0.0.0/33", "localhost", "", "10.0.0/8"] {
            let err = list(&[bad]).expect_err(bad);
            assert!(err.contains("admin.allow_cidrs"), "{err}");
        }
        figment::Jail::expect_with(|jail| {
            jail.create_file("once.toml", "[admin]\nallow_cidrs = [\"10.0.0.0/8\", \"nonsense\"]\n")?;
            let err =
                Config::load(Some(Path::new("once.toml")), &FlagOverrides::default()).expect_err("bad cidr");
            assert!(err.contains("nonsense"), "{err}");
            jail.create_file("once.toml", "[admin]\nallow_cidrs = [\"127.0.0.0/8\"]\n")?;
            let c = Config::load(Some(Path::new("once.toml")), &FlagOverrides::default())
                .map_err(|e| e.to_string())?;
            assert!(c.admin.allow_list().map_err(|e| e.to_string())?.permits(ip("127.0.0.1")));
            Ok(())
        });
    }

    #[test]
    fn metrics_are_on_by_default_and_can_be_turned_off() {
        assert!(Config::default().metrics.enabled);
        figment::Jail::expect_with(|jail| {
            jail.set_env("ONCE_METRICS__ENABLED", "false");
            let c = Config::load(None, &FlagOverrides::default()).map_err(|e| e.to_string())?;
            assert!(!c.metrics.enabled);
            Ok(())
        });
    }

    #[test]
    fn the_crypto_algorithm_is_chosen_by_name_and_checked() {
        use once_crypto::AeadAlgorithm;
        assert_eq!(Config::default().crypto.algorithm, AeadAlgorithm::Aes256Gcm);
        figment::Jail::expect_with(|jail| {
            jail.create_file("once.toml", "[crypto]\nalgorithm = \"aria-256-gcm\"\n")?;
            let file = Some(Path::new("once.toml"));
            let c = Config::load(file, &FlagOverrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(c.crypto.algorithm, AeadAlgorithm::Aria256Gcm);
            jail.set_env("ONCE_CRYPTO__ALGORITHM", "xchacha20-poly1305");
            let c = Config::load(file, &FlagOverrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(c.crypto.algorithm, AeadAlgorithm::XChaCha20Poly1305);
            jail.set_env("ONCE_CRYPTO__ALGORITHM", "seed-128-cbc");
            let err = Config::load(file, &FlagOverrides::default()).expect_err("unknown algorithm");
            assert!(err.to_lowercase().contains("crypto.algorithm") && err.contains("aria-256-gcm"), "{err}");
            jail.set_env("ONCE_CRYPTO__ALGORITHM", "aes-256-gcm");
            jail.set_env("ONCE_CRYPTO__PASSPHRASE_T_COST", "0");
            let err = Config::load(file, &FlagOverrides::default()).expect_err("t_cost 0");
            assert!(err.contains("crypto.passphrase_t_cost"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn connection_caps_and_the_syslog_copy_are_configured_and_checked() {
        use crate::audit::syslog::{Facility, Target};
        let d = Config::default();
        assert_eq!((d.http.max_connections, d.http.max_connections_per_ip), (16_384, 1024));
        assert_eq!((d.audit.syslog_target(), d.audit.syslog_facility), (Ok(None), Facility::Authpriv));
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "once.toml",
                "[http]\nmax_connections_per_ip = 0\n[audit]\nsyslog = \"tcp://[::1]:6514\"\n\
                 syslog_facility = \"local3\"\n",
            )?;
            let file = Some(Path::new("once.toml"));
            let c = Config::load(file, &FlagOverrides::default()).map_err(|e| e.to_string())?;
            assert_eq!((c.http.max_connections, c.http.max_connections_per_ip), (16_384, 0));
            assert_eq!(c.audit.syslog_target(), Ok(Some(Target::Tcp { host: "::1".into(), port: 6514 })));
            assert_eq!(c.audit.syslog_facility, Facility::Local3);

            jail.set_env("ONCE_HTTP__MAX_CONNECTIONS", "64");
            jail.set_env("ONCE_AUDIT__SYSLOG", "unix:///dev/log");
            let c = Config::load(file, &FlagOverrides::default()).map_err(|e| e.to_string())?;
            assert_eq!(c.http.max_connections, 64);
            assert_eq!(c.audit.syslog_target(), Ok(Some(Target::Unix("/dev/log".into()))));

            jail.set_env("ONCE_HTTP__MAX_CONNECTIONS", "-1");
            let err = Config::load(file, &FlagOverrides::default()).expect_err("negative cap");
            assert!(err.to_lowercase().contains("http.max_connections"), "{err}");
            jail.set_env("ONCE_HTTP__MAX_CONNECTIONS", "64");
            jail.set_env("ONCE_AUDIT__SYSLOG", "syslog.example:514");
            let err = Config::load(file, &FlagOverrides::default()).expect_err("no scheme");
            assert!(
                err.contains("audit.syslog must be udp://HOST:PORT, tcp://HOST:PORT or unix:///PATH"),
                "{err}"
            );
            jail.set_env("ONCE_AUDIT__SYSLOG", "udp://127.0.0.1:514");
            jail.set_env("ONCE_AUDIT__SYSLOG_FACILITY", "local9");
            let err = Config::load(file, &FlagOverrides::default()).expect_err("unknown facility");
            assert!(
                err.to_lowercase().contains("audit.syslog_facility") && err.contains("authpriv"),
                "{err}"
            );
            Ok(())
        });
    }
}
