//! Command-line flags, and the parsers for durations, sizes and positive counts.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

const AFTER_HELP: &str = "\
Examples:
  # start a server on a free port with a temporary data dir, measure it, stop it:
  once-bench --spawn target/release/once
  # two instances sharing one Redis (keys under a per-run prefix, removed at the end):
  once-bench --spawn target/release/once --instances 2 --store redis://127.0.0.1:6379/ \\
             --concurrency 64 --scenarios health,create,reveal
  # a running server (give its pid for RSS/CPU), two secret sizes, JSON too:
  once-bench --url http://127.0.0.1:7143 --pid 4242 --size 64,8192 --json bench.json
  # two running instances of one deployment (connections alternate between them):
  once-bench --url http://10.0.0.1:7143,http://10.0.0.2:7143
  # everything, short runs:
  once-bench --spawn target/release/once --scenarios health,create,reveal,mixed,passphrase \\
             --concurrency 16 --duration 3s --warmup 1s
  # plain p99 while passphrase traffic keeps the Argon2id pool busy, next to it alone:
  once-bench --spawn target/release/once --scenarios isolation --concurrency 64
  # create and reveal on an empty store, then again with a million live secrets:
  once-bench --spawn target/release/once --scenarios create,reveal --concurrency 64 \
             --prefill 1000000
  # the expiry sweeper's CPU for 100k and 400k expired secrets (and their receipts):
  once-bench --spawn target/release/once --scenarios health --concurrency 1 --sweep 100000,400000
  # one 100 MiB file secret up and down, streamed, with the server's RSS sampled every 20 ms:
  once-bench --spawn target/release/once --scenarios file --file-size 100MiB \\
             --store redis://127.0.0.1:6379/

req/s counts successful (2xx and, for reveals, verified) requests only; failures are in the
non2xx / xport (connect, I/O, timeout) / bad (wrong value or unparsable 200) columns.";

#[derive(Parser, Debug)]
#[command(
    name = "once-bench",
    version,
    about = "Load generator for Once: throughput and latency of API v1 over keep-alive HTTP/1.1",
    long_about = "Load generator for Once: throughput and latency of API v1 over keep-alive HTTP/1.1.\n\n\
        Each of --concurrency clients owns one keep-alive connection and sends requests back to \
        back for --warmup (not measured) then --duration (measured), for every scenario × size × \
        concurrency. The `health` scenario (GET /healthz) measures the box's HTTP ceiling in the \
        same run; the other rows are also shown as a fraction of it.",
    after_help = AFTER_HELP
)]
pub struct Args {
    /// Base URL of a running Once server (http:// only); several instances of one deployment
    /// comma-separated (connection i goes to instance i % N).
    #[arg(
        long,
        value_name = "URL[,URL…]",
        value_delimiter = ',',
        default_value = "http://127.0.0.1:7143",
        conflicts_with = "spawn"
    )]
    pub url: Vec<String>,

    /// Start this `once` binary (`serve --listen 127.0.0.1:<free port> --data-dir <temp dir>`),
    /// measure it and stop it at the end.
    #[arg(long, value_name = "ONCE_BINARY")]
    pub spawn: Option<PathBuf>,

    /// Number of `once serve` processes to spawn, each on its own port and data dir, with one
    /// master key; more than 1 needs a shared --store (redis://… or sqlite://PATH).
    #[arg(long, value_name = "N", default_value = "1", value_parser = parse_positive, requires = "spawn")]
    pub instances: usize,

    /// Store URL passed to the spawned servers (e.g. memory://, redis://127.0.0.1:6379/)
    /// [default: a SQLite file in each one's data dir].
    #[arg(long, value_name = "URL", requires = "spawn")]
    pub store: Option<String>,

    /// PID of the server behind --url, to report its RSS and CPU (Linux /proc); with several
    /// URLs, one pid per URL, comma-separated and in the same order.
    #[arg(long, value_name = "PID[,PID…]", value_delimiter = ',', conflicts_with = "spawn")]
    pub pid: Vec<u32>,

    /// Scenarios to run, comma-separated; `health` always runs first when listed.
    #[arg(long, value_name = "LIST", value_delimiter = ',', default_value = "health,create,reveal")]
    pub scenarios: Vec<Scenario>,

    /// Numbers of concurrent connections, comma-separated; one run per value.
    #[arg(long, value_name = "LIST", value_delimiter = ',', default_value = "1,16,64,256", value_parser = parse_positive)]
    pub concurrency: Vec<usize>,

    /// Measured time per run, e.g. 10s, 500ms, 2m (a bare number is seconds).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,

    /// Unmeasured time at the start of each run (same syntax as --duration; 0 for none).
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse_duration)]
    pub warmup: Duration,

    /// Secret sizes in bytes, comma-separated (k = 1024, e.g. 64,8k); one run per value.
    #[arg(long, value_name = "LIST", value_delimiter = ',', default_value = "64", value_parser = parse_size)]
    pub size: Vec<usize>,

    /// Size of the file the `file` scenario uploads and downloads (k = KiB, m = MiB): the
    /// file's own length; the blob sent is slightly larger (256 KiB segments, 16-byte tags).
    #[arg(long, value_name = "SIZE", default_value = "100m", value_parser = parse_size)]
    pub file_size: usize,

    /// TTL of created secrets, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    pub ttl: u64,

    /// Secrets to create before each `reveal` run, instead of estimating it from a short probe
    /// (use it if a row says it ran out of secrets).
    #[arg(long, value_name = "N", value_parser = parse_positive)]
    pub reveal_pool: Option<usize>,

    /// Create this many live secrets (TTL --ttl) through the API before the load runs, to
    /// measure them on a full store: every load scenario but `health` runs twice, on the store
    /// as it is, then again after the fill (rows say how many were pre-filled).
    #[arg(long, value_name = "N", value_parser = parse_positive)]
    pub prefill: Option<usize>,

    /// Measure the expiry sweeper after the load runs: for each N, create N secrets with a TTL
    /// of --sweep-ttl, wait until they and their receipts (which expire at twice the TTL) are
    /// purged, per the server's `once_expired_rows_purged_total`, and count the server CPU of
    /// the sweeps. Spawned servers then get ONCE_SWEEPER__INTERVAL_SECS=1 (unless the
    /// environment sets it).
    #[arg(long, value_name = "N[,N…]", value_delimiter = ',', value_parser = parse_positive)]
    pub sweep: Vec<usize>,

    /// TTL in seconds of the secrets --sweep creates; at least the server's `secrets.min_ttl`
    /// (60 by default), and longer than creating the largest N takes.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub sweep_ttl: u64,

    /// Connections that send passphrase creates and reveals (Argon2id) during the `isolation`
    /// scenario, besides its --concurrency plain ones.
    #[arg(long, value_name = "N", default_value = "32", value_parser = parse_positive)]
    pub kdf_connections: usize,

    /// Give up on one request after this long (counted as a transport error).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Worker threads of the generator's runtime (keep it small: the server needs the cores).
    #[arg(long, value_name = "N", default_value = "1", value_parser = parse_positive)]
    pub threads: usize,

    /// Send HTTP basic auth `USER:APIKEY` (only needed if the server refuses anonymous secrets).
    #[arg(long, value_name = "USER:APIKEY")]
    pub auth: Option<String>,

    /// Also write the results to this file as a JSON array of objects.
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// GET /healthz: the HTTP ceiling of the box.
    Health,
    /// POST /api/v1/share.
    Create,
    /// POST /api/v1/secret/{key} of secrets created beforehand, each revealed once.
    Reveal,
    /// Half creates, half reveals.
    Mixed,
    /// Half creates, half reveals, both with a passphrase.
    Passphrase,
    /// `mixed` alone, then `mixed` again while --kdf-connections other connections keep the
    /// server's Argon2id pool busy with `passphrase` traffic: the plain requests' p99 under
    /// that load next to their p99 alone.
    Isolation,
    /// One file secret of --file-size: POST /api/v2/files, then its reveal, both streamed and
    /// verified, with the server's RSS sampled every 20 ms (not a load run: no --concurrency).
    File,
}

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Health => "health",
            Scenario::Create => "create",
            Scenario::Reveal => "reveal",
            Scenario::Mixed => "mixed",
            Scenario::Passphrase => "passphrase",
            Scenario::Isolation => "isolation",
            Scenario::File => "file",
        }
    }

    /// Whether the secret size (--size) matters: everything but `health`, and `file`, which
    /// has --file-size.
    pub fn sized(self) -> bool {
        !matches!(self, Scenario::Health | Scenario::File)
    }

    /// Whether it is a timed load run over --concurrency connections (all but `file`).
    pub fn is_load(self) -> bool {
        self != Scenario::File
    }
}

impl Args {
    /// Checks what clap cannot, and puts the scenarios in run order: duplicates removed,
    /// `health` first so that the others can be compared with it.
    pub fn validate(mut self) -> Result<Self, String> {
        if self.duration.is_zero() {
            return Err("--duration must be more than 0".into());
        }
        if self.timeout.is_zero() {
            return Err("--timeout must be more than 0".into());
        }
        if !self.sweep.is_empty() && self.sweep_ttl == 0 {
            return Err("--sweep-ttl must be at least 1 second".into());
        }
        if self.ttl == 0 {
            return Err("--ttl must be at least 1 second".into());
        }
        if let Some(auth) = &self.auth
            && !auth.contains(':')
        {
            return Err("--auth must be USER:APIKEY".into());
        }
        for url in &mut self.url {
            *url = url.trim().to_owned();
            if url.is_empty() {
                return Err("--url has an empty entry".into());
            }
        }
        if !self.pid.is_empty() && self.pid.len() != self.url.len() {
            return Err(format!(
                "--pid needs one pid per --url, in the same order ({} pid(s) for {} URL(s))",
                self.pid.len(),
                self.url.len()
            ));
        }
        if self.instances > 1 {
            check_shared_store(self.instances, self.store.as_deref())?;
        }
        let mut order = Vec::new();
        if self.scenarios.contains(&Scenario::Health) {
            order.push(Scenario::Health);
        }
        for s in &self.scenarios {
            if !order.contains(s) {
                order.push(*s);
            }
        }
        self.scenarios = order;
        dedup_keep_order(&mut self.concurrency);
        dedup_keep_order(&mut self.size);
        Ok(self)
    }
}

/// Several instances must share one store: Redis, or one SQLite file named explicitly. The
/// default store is a SQLite file in each instance's own data dir, and `memory://` lives inside
/// one process, so either would give every instance its own secrets.
fn check_shared_store(instances: usize, store: Option<&str>) -> Result<(), String> {
    let hint = "use --store redis://HOST:PORT/ (or rediss://…), or sqlite://PATH for one SQLite file";
    match store.map(str::trim) {
        None => Err(format!(
            "--instances {instances} needs a store the instances share: without --store each one has \
             its own SQLite file; {hint}"
        )),
        Some(s) if s.starts_with("redis://") || s.starts_with("rediss://") => Ok(()),
        Some(s) if s.strip_prefix("sqlite://").is_some_and(|path| !path.is_empty()) => Ok(()),
        Some(s) if s.starts_with("memory:") => Err(format!(
            "--instances {instances} cannot share a memory:// store: it lives inside one process; {hint}"
        )),
        Some(s) => {
            Err(format!("--instances {instances}: `{s}` is not a store the instances can share; {hint}"))
        }
    }
}

fn dedup_keep_order(v: &mut Vec<usize>) {
    let mut seen = Vec::with_capacity(v.len());
    v.retain(|x| {
        let new = !seen.contains(x);
        seen.push(*x);
        new
    });
}

/// `10s`, `1.5s`, `500ms`, `2m`, `1h`, or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: f64 = number.parse().map_err(|_| format!("`{s}` is not a duration (try 10s, 500ms, 2m)"))?;
    let secs = match unit.trim() {
        "" | "s" | "sec" | "secs" => n,
        "ms" => n / 1000.0,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        other => return Err(format!("unknown unit `{other}` in `{s}` (use ms, s, m or h)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|_| format!("`{s}` is out of range"))
}

/// A whole number of at least 1.
pub fn parse_positive(s: &str) -> Result<usize, String> {
    let n: usize = s.trim().parse().map_err(|_| format!("`{s}` is not a whole number"))?;
    if n == 0 {
        return Err("must be at least 1".into());
    }
    Ok(n)
}

/// Bytes, with an optional `k` (×1024) or `m` (×1024²) suffix; at least 1.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix("ib").or_else(|| t.strip_suffix('b')).unwrap_or(&t);
    let (number, factor) = if let Some(n) = t.strip_suffix('k') {
        (n, 1024)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 1024 * 1024)
    } else {
        (t, 1)
    };
    let n = parse_positive(number).map_err(|e| format!("size `{s}`: {e}"))?;
    n.checked_mul(factor).ok_or_else(|| format!("size `{s}` is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, String> {
        let argv = std::iter::once("once-bench").chain(args.iter().copied());
        Args::try_parse_from(argv).map_err(|e| e.to_string())?.validate()
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration(" 3 s "), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        for bad in ["", "s", "ten", "10x", "-1s", "1.2.3s", "10 parsecs"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn sizes_and_counts() {
        assert_eq!(parse_size("64"), Ok(64));
        assert_eq!(parse_size("8k"), Ok(8192));
        assert_eq!(parse_size("8KiB"), Ok(8192));
        assert_eq!(parse_size("1m"), Ok(1024 * 1024));
        assert!(parse_size("0").is_err());
        assert!(parse_size("k").is_err());
        assert_eq!(parse_positive("16"), Ok(16));
        assert!(parse_positive("0").is_err());
        assert!(parse_positive("-3").is_err());
        assert!(parse_positive("1.5").is_err());
    }

    #[test]
    fn defaults() {
        let a = parse(&[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.url, vec!["http://127.0.0.1:7143"]);
        assert_eq!(a.instances, 1);
        assert_eq!(a.concurrency, vec![1, 16, 64, 256]);
        assert_eq!(a.size, vec![64]);
        assert_eq!(a.scenarios, vec![Scenario::Health, Scenario::Create, Scenario::Reveal]);
        assert_eq!(a.duration, Duration::from_secs(10));
        assert_eq!(a.warmup, Duration::from_secs(2));
        assert_eq!(a.threads, 1);
        assert_eq!(a.ttl, 3600);
        assert_eq!(a.file_size, 100 * 1024 * 1024);
        assert!(a.spawn.is_none() && a.json.is_none() && a.pid.is_empty());
        assert!(a.prefill.is_none() && a.sweep.is_empty());
        assert_eq!((a.sweep_ttl, a.kdf_connections), (60, 32));
    }

    #[test]
    fn lists() {
        let a = parse(&[
            "--concurrency",
            "1,16,64,256,16",
            "--size",
            "64,8k",
            "--scenarios",
            "reveal,mixed,health,passphrase,reveal",
            "--duration",
            "3s",
            "--warmup",
            "0",
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.concurrency, vec![1, 16, 64, 256]);
        assert_eq!(a.size, vec![64, 8192]);
        assert_eq!(
            a.scenarios,
            vec![Scenario::Health, Scenario::Reveal, Scenario::Mixed, Scenario::Passphrase]
        );
        assert_eq!(a.duration, Duration::from_secs(3));
        assert_eq!(a.warmup, Duration::ZERO);
        // Repeating the flag adds to the list.
        let a = parse(&["--concurrency", "1", "--concurrency", "2,3"]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.concurrency, vec![1, 2, 3]);
    }

    #[test]
    fn file_scenario() {
        let a =
            parse(&["--scenarios", "file,health", "--file-size", "100MiB"]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.scenarios, vec![Scenario::Health, Scenario::File]);
        assert_eq!(a.file_size, 100 * 1024 * 1024);
        assert!(!Scenario::File.sized() && !Scenario::File.is_load());
        assert!(Scenario::Create.sized() && Scenario::Create.is_load());
    }

    #[test]
    fn rejects_bad_values() {
        for bad in [
            &["--concurrency", "1,0"][..],
            &["--concurrency", "1,,2"],
            &["--scenarios", "health,nope"],
            &["--duration", "0s"],
            &["--duration", "fast"],
            &["--size", "0"],
            &["--file-size", "0"],
            &["--threads", "0"],
            &["--prefill", "0"],
            &["--sweep", "1000,0"],
            &["--sweep", "1000", "--sweep-ttl", "0"],
            &["--kdf-connections", "0"],
            &["--auth", "nocolon"],
            &["--spawn", "once", "--url", "http://x"],
            &["--spawn", "once", "--pid", "1"],
            &["--store", "memory://"],
            &["--instances", "2"],
            &["--instances", "0", "--spawn", "once"],
            &["--instances", "2", "--spawn", "once"],
            &["--instances", "2", "--spawn", "once", "--store", "memory://"],
            &["--instances", "2", "--spawn", "once", "--store", "sqlite://"],
            &["--instances", "2", "--spawn", "once", "--store", "postgres://db"],
            &["--url", "http://a:1,http://b:2", "--pid", "1"],
            &["--url", "http://a:1", "--pid", "1,2"],
            &["--url", "http://a:1,,http://b:2"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn spawn_with_default_url_is_fine() {
        let a = parse(&["--spawn", "target/release/once", "--store", "memory://"])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.spawn, Some(PathBuf::from("target/release/once")));
        assert_eq!(a.store.as_deref(), Some("memory://"));
    }

    #[test]
    fn several_instances() {
        for store in ["redis://127.0.0.1:6379/", "rediss://u:p@redis.test/0", "sqlite:///tmp/bench.db"] {
            let a = parse(&["--spawn", "once", "--instances", "3", "--store", store])
                .unwrap_or_else(|e| panic!("{store}: {e}"));
            assert_eq!(a.instances, 3);
        }
        // One instance may keep a store of its own.
        let a = parse(&["--spawn", "once", "--instances", "1", "--store", "memory://"])
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.instances, 1);
        let a =
            parse(&["--url", "http://a:1, http://b:2", "--pid", "11,22"]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(a.url, vec!["http://a:1", "http://b:2"]);
        assert_eq!(a.pid, vec![11, 22]);
        let a = parse(&["--url", "http://a:1", "--pid", "7"]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((a.url.len(), a.pid.as_slice()), (1, &[7][..]));
    }
}
