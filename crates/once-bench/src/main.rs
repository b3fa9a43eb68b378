//! `once-bench`: drives Once's API v1 over keep-alive HTTP/1.1 and prints throughput, latency,
//! errors and the server's RSS and CPU. It measures the box's own HTTP ceiling (`/healthz`) in the
//! same run, so figures can be read as ratios.

mod stats;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpStream;

use crate::stats::Latencies;

#[derive(Parser, Debug)]
#[command(
    about = "Load generator for Once: create/reveal throughput and latency over keep-alive HTTP/1.1",
    after_help = "Example: once-bench --spawn target/release/once --concurrency 1,16,64,256 --duration 10"
)]
struct Args {
    /// Base URL of a running server.
    #[arg(long, default_value = "http://127.0.0.1:7143", conflicts_with = "spawn")]
    url: String,
    /// Start this `once` binary (`serve` on a free port, temporary data dir) and measure it.
    #[arg(long, value_name = "ONCE_BINARY")]
    spawn: Option<PathBuf>,
    /// Store URL for --spawn (default: SQLite in the temporary data dir), e.g. memory://.
    #[arg(long, requires = "spawn")]
    store: Option<String>,
    /// PID of the target server, for RSS and CPU, when not using --spawn.
    #[arg(long)]
    pid: Option<u32>,
    /// Scenarios, comma-separated: health, create, reveal, mixed, passphrase.
    #[arg(long, default_value = "health,create,reveal", value_delimiter = ',')]
    scenarios: Vec<Scenario>,
    /// Connection counts, comma-separated.
    #[arg(long, default_value = "64", value_delimiter = ',')]
    concurrency: Vec<usize>,
    /// Secret sizes in bytes, comma-separated.
    #[arg(long, default_value = "64", value_delimiter = ',')]
    size: Vec<usize>,
    /// Measured seconds per run.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Unmeasured seconds at the start of each run.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// TTL of created secrets, seconds.
    #[arg(long, default_value_t = 3600)]
    ttl: u64,
    /// Worker threads of the generator (the rest of the box is left to the server).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Scenario {
    Health,
    Create,
    Reveal,
    Mixed,
    Passphrase,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Health => "health",
            Scenario::Create => "create",
            Scenario::Reveal => "reveal",
            Scenario::Mixed => "mixed",
            Scenario::Passphrase => "passphrase",
        }
    }
}

const PASSPHRASE: &str = "bench-passphrase";

struct Target {
    addr: String,
    host: String,
    pid: Option<u32>,
    child: Option<Child>,
    tmp: Option<PathBuf>,
}

impl Drop for Target {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(t) = &self.tmp {
            let _ = std::fs::remove_dir_all(t);
        }
    }
}

fn host_port(url: &str) -> anyhow::Result<String> {
    let rest = url.strip_prefix("http://").context("only http:// URLs are supported")?;
    let hp = rest.split('/').next().unwrap_or(rest);
    Ok(if hp.contains(':') { hp.to_owned() } else { format!("{hp}:80") })
}

async fn target(args: &Args) -> anyhow::Result<Target> {
    let Some(bin) = &args.spawn else {
        let addr = host_port(&args.url)?;
        TcpStream::connect(&addr).await.with_context(|| format!("cannot reach {}", args.url))?;
        return Ok(Target { host: addr.clone(), addr, pid: args.pid, child: None, tmp: None });
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let tmp = std::env::temp_dir().join(format!("once-bench-{}-{port}", std::process::id()));
    let mut cmd = Command::new(bin);
    cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(&tmp)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(store) = &args.store {
        cmd.args(["--store", store]);
    }
    let child = cmd.spawn().with_context(|| format!("cannot start {}", bin.display()))?;
    let addr = format!("127.0.0.1:{port}");
    let t = Target { host: addr.clone(), addr, pid: Some(child.id()), child: Some(child), tmp: Some(tmp) };
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(&t.addr).await.is_err() {
        if Instant::now() > deadline {
            bail!("{} did not start listening within 30 s", bin.display());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(t)
}

type Conn = SendRequest<Full<Bytes>>;

async fn connect(addr: &str) -> anyhow::Result<Conn> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

async fn call(
    conn: &mut Conn,
    host: &str,
    method: Method,
    path: &str,
    body: Option<String>,
) -> anyhow::Result<(StatusCode, Bytes)> {
    conn.ready().await?;
    let mut req = Request::builder().method(method).uri(path).header("host", host);
    if body.is_some() {
        req = req.header("content-type", "application/x-www-form-urlencoded");
    }
    let req = req.body(Full::new(Bytes::from(body.unwrap_or_default())))?;
    let resp = conn.send_request(req).await?;
    let status = resp.status();
    let bytes = resp.into_body().collect().await?.to_bytes();
    Ok((status, bytes))
}

/// A unique secret value of `size` bytes.
fn value(counter: &AtomicU64, size: usize) -> String {
    let mut v = format!("{:016x}", counter.fetch_add(1, Ordering::Relaxed));
    while v.len() < size {
        v.push('x');
    }
    v.truncate(size.max(16));
    v
}

struct Shared {
    host: String,
    ttl: u64,
    size: usize,
    counter: AtomicU64,
    /// Secrets ready to be revealed: (secret_key, value).
    pool: Mutex<VecDeque<(String, String)>>,
    passphrase: bool,
}

enum Outcome {
    Ok,
    Error,
    /// Nothing left to reveal.
    Dry,
}

async fn create(conn: &mut Conn, s: &Shared) -> anyhow::Result<Option<(String, String)>> {
    let v = value(&s.counter, s.size);
    let mut body = format!("secret={v}&ttl={}", s.ttl);
    if s.passphrase {
        body.push_str("&passphrase=");
        body.push_str(PASSPHRASE);
    }
    let (status, bytes) = call(conn, &s.host, Method::POST, "/api/v1/share", Some(body)).await?;
    if status != StatusCode::OK {
        return Ok(None);
    }
    let m: Value = serde_json::from_slice(&bytes)?;
    Ok(m["secret_key"].as_str().map(|k| (k.to_owned(), v)))
}

async fn op(conn: &mut Conn, s: &Shared, scenario: Scenario, n: u64) -> anyhow::Result<Outcome> {
    let reveal = match scenario {
        Scenario::Health => {
            let (status, _) = call(conn, &s.host, Method::GET, "/healthz", None).await?;
            return Ok(if status == StatusCode::OK { Outcome::Ok } else { Outcome::Error });
        }
        Scenario::Create => false,
        Scenario::Reveal => true,
        Scenario::Mixed | Scenario::Passphrase => n % 2 == 1,
    };
    if !reveal {
        let made = create(conn, s).await?;
        let ok = made.is_some();
        if let (Some(m), true) = (made, scenario != Scenario::Create) {
            s.pool.lock().unwrap_or_else(|p| p.into_inner()).push_back(m);
        }
        return Ok(if ok { Outcome::Ok } else { Outcome::Error });
    }
    let next = s.pool.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
    let Some((key, expected)) = next else {
        return Ok(Outcome::Dry);
    };
    let body = if s.passphrase { Some(format!("passphrase={PASSPHRASE}")) } else { None };
    let (status, bytes) = call(conn, &s.host, Method::POST, &format!("/api/v1/secret/{key}"), body).await?;
    if status != StatusCode::OK {
        return Ok(Outcome::Error);
    }
    let got: Value = serde_json::from_slice(&bytes)?;
    Ok(if got["value"].as_str() == Some(expected.as_str()) { Outcome::Ok } else { Outcome::Error })
}

/// Fills the pool with `n` secrets over `conns` connections.
async fn prefill(addr: &str, s: Arc<Shared>, n: usize, conns: usize) -> anyhow::Result<()> {
    let remaining = Arc::new(AtomicU64::new(n as u64));
    let mut tasks = Vec::new();
    for _ in 0..conns.clamp(1, 64) {
        let (s, remaining, addr) = (s.clone(), remaining.clone(), addr.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut conn = connect(&addr).await?;
            while remaining.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |r| r.checked_sub(1)).is_ok() {
                if let Some(m) = create(&mut conn, &s).await? {
                    s.pool.lock().unwrap_or_else(|p| p.into_inner()).push_back(m);
                }
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok(())
}

struct RunResult {
    scenario: Scenario,
    size: usize,
    concurrency: usize,
    ops: u64,
    errors: u64,
    elapsed: f64,
    dry: bool,
    lat: Latencies,
    rss_mib: Option<f64>,
    cpu_pct: Option<f64>,
}

impl RunResult {
    fn rps(&self) -> f64 {
        if self.elapsed > 0.0 { self.ops as f64 / self.elapsed } else { 0.0 }
    }
}

fn proc_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// utime + stime of a process, in seconds (Linux clock ticks are 100 per second on every
/// architecture Once targets; `getconf CLK_TCK` says 100).
fn proc_cpu_secs(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

async fn run(
    t: &Target,
    args: &Args,
    scenario: Scenario,
    size: usize,
    conc: usize,
    probe_rps: f64,
) -> anyhow::Result<RunResult> {
    let shared = Arc::new(Shared {
        host: t.host.clone(),
        ttl: args.ttl,
        size,
        counter: AtomicU64::new(rand_seed()),
        pool: Mutex::new(VecDeque::new()),
        passphrase: scenario == Scenario::Passphrase,
    });
    let total = args.warmup + args.duration;
    let need = match scenario {
        Scenario::Reveal => (probe_rps * 2.5 * total) as usize + 1000,
        Scenario::Mixed => 2000,
        Scenario::Passphrase => 200,
        _ => 0,
    };
    if need > 0 {
        prefill(&t.addr, shared.clone(), need, conc).await?;
    }
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(args.warmup);
    let deadline = measure_from + Duration::from_secs_f64(args.duration);
    let cpu_before = Arc::new(Mutex::new(None::<(Instant, f64)>));
    let mut tasks = Vec::new();
    for w in 0..conc {
        let (shared, addr, cpu_before, pid) = (shared.clone(), t.addr.clone(), cpu_before.clone(), t.pid);
        tasks.push(tokio::spawn(async move {
            let mut conn = connect(&addr).await?;
            let mut lat = Latencies::default();
            let (mut ops, mut errors, mut dry) = (0u64, 0u64, false);
            let mut last = measure_from;
            let mut n = w as u64;
            loop {
                let t0 = Instant::now();
                if t0 >= deadline {
                    break;
                }
                if w == 0 && t0 >= measure_from {
                    let mut c = cpu_before.lock().unwrap_or_else(|p| p.into_inner());
                    if c.is_none() {
                        *c = pid.and_then(proc_cpu_secs).map(|s| (t0, s));
                    }
                }
                let outcome = match op(&mut conn, &shared, scenario, n).await {
                    Ok(o) => o,
                    Err(_) => {
                        conn = connect(&addr).await?;
                        Outcome::Error
                    }
                };
                n += 1;
                let t1 = Instant::now();
                if matches!(outcome, Outcome::Dry) {
                    dry = true;
                    break;
                }
                if t0 >= measure_from {
                    lat.record(t1 - t0);
                    ops += 1;
                    if matches!(outcome, Outcome::Error) {
                        errors += 1;
                    }
                    last = t1;
                }
            }
            anyhow::Ok((lat, ops, errors, dry, last))
        }));
    }
    let mut lat = Latencies::default();
    let (mut ops, mut errors, mut dry) = (0, 0, false);
    let mut end = measure_from;
    for task in tasks {
        let (l, o, e, d, last) = task.await??;
        lat.merge(l);
        ops += o;
        errors += e;
        dry |= d;
        end = end.max(last);
    }
    lat.finish();
    let elapsed = if dry { (end - measure_from).as_secs_f64() } else { args.duration };
    let cpu_pct = match (*cpu_before.lock().unwrap_or_else(|p| p.into_inner()), t.pid.and_then(proc_cpu_secs))
    {
        (Some((at, before)), Some(after)) => Some(100.0 * (after - before) / at.elapsed().as_secs_f64()),
        _ => None,
    };
    Ok(RunResult {
        scenario,
        size,
        concurrency: conc,
        ops,
        errors,
        elapsed,
        dry,
        lat,
        rss_mib: t.pid.and_then(proc_rss_mib),
        cpu_pct,
    })
}

fn rand_seed() -> u64 {
    let nanos = Instant::now().elapsed().as_nanos() as u64;
    (u64::from(std::process::id()) << 40) ^ nanos ^ 0x5eed
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.concurrency.contains(&0) || args.duration <= 0.0 {
        bail!("--concurrency values and --duration must be positive");
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()?;
    rt.block_on(async_main(args))
}

async fn async_main(args: Args) -> anyhow::Result<()> {
    let t = target(&args).await?;
    eprintln!(
        "once-bench: target {} (pid {}), {} s per run after {} s warm-up, {} generator thread(s)",
        t.addr,
        t.pid.map_or("unknown".into(), |p| p.to_string()),
        args.duration,
        args.warmup,
        args.threads
    );
    if let Some(pid) = t.pid {
        eprintln!("server RSS at start: {:.1} MiB", proc_rss_mib(pid).unwrap_or(0.0));
    }
    let mut results: Vec<RunResult> = Vec::new();
    println!(
        "{:<11} {:>6} {:>5} {:>10} {:>8} {:>8} {:>8} {:>8} {:>7} {:>8} {:>6} {:>7}",
        "scenario",
        "size",
        "conc",
        "req/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "max ms",
        "errors",
        "rss MiB",
        "cpu%",
        "vs hlth"
    );
    for &scenario in &args.scenarios {
        let sizes: &[usize] = if scenario == Scenario::Health { &[0] } else { &args.size };
        for &size in sizes {
            for &conc in &args.concurrency {
                let probe = results
                    .iter()
                    .filter(|r| r.scenario == Scenario::Create && r.size == size && r.concurrency == conc)
                    .map(RunResult::rps)
                    .next()
                    .unwrap_or(20_000.0);
                let r = run(&t, &args, scenario, size, conc, probe).await?;
                let health = results
                    .iter()
                    .find(|h| h.scenario == Scenario::Health && h.concurrency == conc)
                    .map(RunResult::rps);
                println!(
                    "{:<11} {:>6} {:>5} {:>10.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>7} {:>8} {:>6} {:>7}{}",
                    scenario.name(),
                    size,
                    conc,
                    r.rps(),
                    r.lat.percentile_ms(50.0),
                    r.lat.percentile_ms(90.0),
                    r.lat.percentile_ms(99.0),
                    r.lat.max_ms(),
                    r.errors,
                    r.rss_mib.map_or("-".into(), |m| format!("{m:.1}")),
                    r.cpu_pct.map_or("-".into(), |c| format!("{c:.0}")),
                    health.map_or("-".into(), |h| format!("{:.0}%", 100.0 * r.rps() / h)),
                    if r.dry { "  (pool ran dry early)" } else { "" }
                );
                results.push(r);
            }
        }
    }
    if let Some(path) = &args.json {
        let rows: Vec<Value> = results
            .iter()
            .map(|r| {
                json!({
                    "scenario": r.scenario.name(), "size": r.size, "concurrency": r.concurrency,
                    "requests": r.ops, "errors": r.errors, "seconds": r.elapsed, "rps": r.rps(),
                    "p50_ms": r.lat.percentile_ms(50.0), "p90_ms": r.lat.percentile_ms(90.0),
                    "p99_ms": r.lat.percentile_ms(99.0), "max_ms": r.lat.max_ms(),
                    "server_rss_mib": r.rss_mib, "server_cpu_pct": r.cpu_pct, "pool_ran_dry": r.dry,
                })
            })
            .collect();
        std::fs::write(path, serde_json::to_string_pretty(&rows)?)?;
    }
    Ok(())
}
