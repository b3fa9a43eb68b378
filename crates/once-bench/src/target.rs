//! The servers under test: already running (`--url`, one or several instances) or started here
//! (`--spawn`, `--instances`), and the Redis keys that spawned servers leave behind.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hyper::{Method, StatusCode};

use crate::args::{Args, Scenario};
use crate::client::{self, Endpoint};
use crate::file_round_trip;

/// How long a spawned server may take to answer `/healthz`.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a starting server is asked for `GET /healthz`: its start time is measured to
/// within this.
const START_POLL: Duration = Duration::from_millis(1);
/// The expiry sweeper's period in the server's environment.
const SWEEP_INTERVAL_ENV: &str = "ONCE_SWEEPER__INTERVAL_SECS";
/// The server's `secrets.max_file_size` in its environment.
const MAX_FILE_SIZE_ENV: &str = "ONCE_SECRETS__MAX_FILE_SIZE";

pub struct Target {
    /// One per instance; connection `i` of a run goes to `endpoints[i % endpoints.len()]`.
    pub endpoints: Vec<Arc<Endpoint>>,
    /// One per instance, in the same order; empty when unknown (`--url` without `--pid`).
    pub pids: Vec<u32>,
    /// What the instances keep secrets in, for the header line (credentials redacted).
    pub store: String,
    /// Spawned instances only, in instance order: milliseconds from starting the process to its
    /// first `200` to `GET /healthz` (polled every [`START_POLL`]), and its RSS in MiB read
    /// right after that answer.
    pub started: Vec<(f64, Option<f64>)>,
    children: Vec<Child>,
    tmp: Option<PathBuf>,
    /// Keys the spawned servers wrote to Redis, removed at the end.
    redis: Option<RedisKeys>,
}

impl Drop for Target {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
        }
        for child in &mut self.children {
            let _ = child.wait();
        }
        if let Some(tmp) = &self.tmp {
            let _ = std::fs::remove_dir_all(tmp);
        }
        // After the servers are gone, so that nothing writes under the prefix any more.
        if let Some(keys) = &self.redis {
            match keys.delete_all() {
                Ok(n) => eprintln!("removed {n} Redis key(s) under {}", keys.prefix),
                Err(e) => eprintln!(
                    "once-bench: could not remove the Redis keys under {p}: {e:#}\n  remove them with: \
                     redis-cli -u STORE_URL --scan --pattern '{p}*' | xargs -r redis-cli -u STORE_URL del",
                    p = keys.prefix
                ),
            }
        }
    }
}

/// The keys of one run in a Redis shared with others: everything under a prefix of its own.
struct RedisKeys {
    url: String,
    prefix: String,
}

impl RedisKeys {
    /// Deletes every key under the prefix (SCAN + DEL, one batch at a time, so that a big run
    /// never holds all its key names at once); returns how many were removed. SCAN returns
    /// every key that exists for the whole scan, so one pass would do once the servers are
    /// stopped; a second one catches anything a dying server's last command still wrote.
    fn delete_all(&self) -> anyhow::Result<u64> {
        if self.url.starts_with("rediss://") {
            // As the server does: rustls needs one process-wide crypto provider. An error only
            // means one is installed already.
            let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        }
        let client = redis::Client::open(self.url.as_str()).context("bad Redis URL")?;
        let mut conn =
            client.get_connection_with_timeout(Duration::from_secs(5)).context("cannot connect to Redis")?;
        conn.set_read_timeout(Some(Duration::from_secs(30)))?;
        conn.set_write_timeout(Some(Duration::from_secs(30)))?;
        let pattern = format!("{}*", self.prefix);
        let mut removed = 0;
        for _pass in 0..2 {
            let mut removed_now = 0;
            let mut cursor: u64 = 0;
            loop {
                let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(1000)
                    .query(&mut conn)
                    .context("SCAN failed")?;
                if !keys.is_empty() {
                    let n: u64 = redis::cmd("DEL").arg(&keys).query(&mut conn).context("DEL failed")?;
                    removed_now += n;
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
            removed += removed_now;
            if removed_now == 0 {
                break;
            }
        }
        Ok(removed)
    }
}

/// `scheme://user:password@host…` with the user info replaced by `[redacted]`, for printing.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://[redacted]{}", &rest[at..]),
        None => url.to_owned(),
    }
}

fn is_redis(store: &str) -> bool {
    store.starts_with("redis://") || store.starts_with("rediss://")
}

/// A random number, different in every process and every call (std's hash keys are seeded from
/// the OS). Good enough for names and value prefixes; not for anything secret.
pub fn random_u64() -> u64 {
    RandomState::new().hash_one(0u8)
}

/// One `GET /healthz`, with a timeout; `Ok` only on 200.
async fn check_health(ep: &Endpoint, timeout: Duration) -> anyhow::Result<()> {
    let res = tokio::time::timeout(timeout, async {
        let mut conn = client::connect(ep).await?;
        client::request(&mut conn, ep, Method::GET, "/healthz", None).await
    })
    .await
    .context("no answer")??;
    if res.status != StatusCode::OK {
        bail!("GET /healthz answered {}", res.status);
    }
    Ok(())
}

pub async fn open(args: &Args) -> anyhow::Result<Target> {
    match &args.spawn {
        Some(bin) => spawn(bin, args).await,
        None => running(args).await,
    }
}

/// Servers that are already running (`--url`, `--pid`).
async fn running(args: &Args) -> anyhow::Result<Target> {
    let mut endpoints = Vec::new();
    for url in &args.url {
        let endpoint = Arc::new(Endpoint::from_url(url, args.auth.as_deref())?);
        check_health(&endpoint, Duration::from_secs(5)).await.with_context(|| {
            format!("cannot reach a Once server at {url} (start one, or use --spawn PATH_TO_ONCE)")
        })?;
        endpoints.push(endpoint);
    }
    for &pid in &args.pid {
        if crate::procfs::cpu_seconds(pid).is_none() {
            bail!("--pid {pid}: no such process readable in /proc");
        }
    }
    Ok(Target {
        endpoints,
        pids: args.pid.clone(),
        store: "as the running servers are configured".into(),
        started: Vec::new(),
        children: Vec::new(),
        tmp: None,
        redis: None,
    })
}

/// `--instances` servers started here, each on its own port and data dir, all with one master
/// key and `--store`: one deployment.
async fn spawn(bin: &Path, args: &Args) -> anyhow::Result<Target> {
    let count = args.instances;
    // Free ports: bind to 0 and note the port, holding every listener until all are known so
    // that no two instances get the same one, then let them go. Another process could grab one
    // in between; that server would then fail to start, and that is reported below.
    let listeners = (0..count)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<Result<Vec<_>, _>>()
        .context("cannot find a free local port")?;
    let ports = listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<Result<Vec<_>, _>>()
        .context("cannot find a free local port")?;
    drop(listeners);

    let tmp = std::env::temp_dir().join(format!("once-bench-{}-{:016x}", std::process::id(), random_u64()));
    std::fs::create_dir(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    // A Redis may hold other data (other deployments, other runs): this run's keys get a
    // prefix of their own, and are all deleted at the end. As short as the default `once:`:
    // Redis hashes every key on every command, so a longer prefix would cost it measurably.
    let redis = args
        .store
        .as_deref()
        .filter(|s| is_redis(s))
        .map(|url| RedisKeys { url: url.to_owned(), prefix: format!("b{:04x}:", random_u64() & 0xffff) });
    let store = match (&args.store, &redis) {
        (Some(url), Some(keys)) => format!("{}, key prefix {}", redact_url(url), keys.prefix),
        (Some(url), None) => redact_url(url),
        (None, _) if count == 1 => "SQLite in its temp data dir".into(),
        (None, _) => "SQLite in each instance's temp data dir".into(),
    };
    // From here on, dropping the target stops what was started and cleans up after it.
    let mut target = Target {
        endpoints: Vec::new(),
        pids: Vec::new(),
        store,
        started: Vec::new(),
        children: Vec::new(),
        tmp: Some(tmp.clone()),
        redis,
    };
    // The `file` scenario's file must fit the server's limit (which counts the file; its sealed
    // form may be a little larger): above the default, raise the limit to the file's size,
    // unless the environment sets it already (which the servers inherit).
    let max_file_size = (args.scenarios.contains(&Scenario::File)
        && std::env::var_os(MAX_FILE_SIZE_ENV).is_none()
        && args.file_size as u64 > file_round_trip::DEFAULT_MAX_FILE_SIZE)
        .then_some(args.file_size as u64);
    if let Some(n) = max_file_size {
        eprintln!(
            "spawned servers get {MAX_FILE_SIZE_ENV}={n}: the file is larger than the default \
             secrets.max_file_size of {}",
            file_round_trip::DEFAULT_MAX_FILE_SIZE
        );
    }
    // `--sweep` times purges: a sweep every second instead of every minute, so that the wait
    // for one is short, unless the environment says otherwise.
    let sweep_every = (!args.sweep.is_empty() && std::env::var_os(SWEEP_INTERVAL_ENV).is_none()).then_some(1);
    if let Some(n) = sweep_every {
        eprintln!("spawned servers get {SWEEP_INTERVAL_ENV}={n} for --sweep");
    }
    // Every instance of a deployment must open what the others sealed: one master key, new
    // in every run.
    let master_key = client::base64(&rand::random::<[u8; 32]>());
    let mut logs = Vec::new();
    let mut spawned_at = Vec::new();
    for (i, &port) in ports.iter().enumerate() {
        let dir = tmp.join(format!("instance-{i}"));
        std::fs::create_dir(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let log_path = dir.join("server.log");
        let log = std::fs::File::create(&log_path).context("cannot create the server log")?;
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(dir.join("data"))
            .env("ONCE_MASTER_KEY", &master_key)
            // The server refuses both at once.
            .env_remove("ONCE_MASTER_KEY_FILE")
            // The load comes from one address: per-client rate limits would measure themselves,
            // and the per-address connection cap would refuse a --concurrency above it.
            .env("ONCE_LIMITS__ENABLED", "false")
            .env("ONCE_HTTP__MAX_CONNECTIONS_PER_IP", "0")
            .stdin(Stdio::null())
            .stdout(log.try_clone().context("cannot share the server log")?)
            .stderr(log);
        if let Some(store) = &args.store {
            cmd.arg("--store").arg(store);
        }
        if let Some(keys) = &target.redis {
            cmd.env("ONCE_REDIS__KEY_PREFIX", &keys.prefix);
        }
        if let Some(n) = max_file_size {
            cmd.env(MAX_FILE_SIZE_ENV, n.to_string());
        }
        if let Some(n) = sweep_every {
            cmd.env(SWEEP_INTERVAL_ENV, n.to_string());
        }
        let endpoint =
            Arc::new(Endpoint::from_url(&format!("http://127.0.0.1:{port}"), args.auth.as_deref())?);
        let child = cmd.spawn().with_context(|| format!("cannot start {}", bin.display()))?;
        spawned_at.push(Instant::now());
        target.pids.push(child.id());
        target.children.push(child);
        target.endpoints.push(endpoint);
        logs.push(log_path);
    }

    // They start side by side; wait for each in turn.
    let started = Instant::now();
    let instances = target.children.iter_mut().zip(&target.endpoints).zip(&logs).zip(spawned_at);
    for (i, (((child, endpoint), log_path), spawned_at)) in instances.enumerate() {
        let name = if count == 1 {
            format!("{} serve", bin.display())
        } else {
            format!("{} serve (instance {} of {count}, {})", bin.display(), i + 1, endpoint.url())
        };
        loop {
            if let Some(status) = child.try_wait()? {
                bail!("{name} exited ({status}) before answering:\n{}", log_tail(log_path));
            }
            match check_health(endpoint, Duration::from_secs(1)).await {
                Ok(()) => {
                    let ms = spawned_at.elapsed().as_secs_f64() * 1000.0;
                    target.started.push((ms, crate::procfs::rss_mib(child.id())));
                    break;
                }
                Err(e) if started.elapsed() > START_TIMEOUT => bail!(
                    "{name} did not answer GET /healthz within {} s ({e:#}):\n{}",
                    START_TIMEOUT.as_secs(),
                    log_tail(log_path)
                ),
                Err(_) => tokio::time::sleep(START_POLL).await,
            }
        }
    }
    Ok(target)
}

/// The end of the spawned server's output, for error messages.
fn log_tail(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(20)..].join("\n");
    if tail.is_empty() { "(no output)".into() } else { tail }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_credentials() {
        assert_eq!(redact_url("redis://127.0.0.1:6379/"), "redis://127.0.0.1:6379/");
        assert_eq!(redact_url("rediss://user:pw@redis.test:6380/0"), "rediss://[redacted]@redis.test:6380/0");
        assert_eq!(redact_url("redis://:p@ss@host"), "redis://[redacted]@host");
        assert_eq!(redact_url("sqlite:///tmp/a@b.db"), "sqlite:///tmp/a@b.db");
        assert_eq!(redact_url("memory://"), "memory://");
    }
}
